//! The growth layer: a byte allocator that takes chunks from a [`PageSource`]
//! when its engine runs dry and gives wholly free chunks back.

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator, region::align_up};

use crate::{GrowthPolicy, PageSource};

/// The bytes added to every growth request for the engine's own metadata in
/// a new region (headers, sentinels, bitmaps).
const METADATA_SLACK: usize = 4096;

/// How many chunks a [`Growing`] heap holds at once: fewer than the engines'
/// region tables (32 for buddy), so a few regions stay for the owner's own
/// `init`/`add_memory`.
pub const MAX_CHUNKS: usize = 28;

/// Past this many chunks held, a growth takes at least as much as the heap
/// holds already (the chunk size doubles past the policy's cap), so the
/// chunk table does not bound the heap: with the default policy, 16 chunks
/// hold at least 144 MiB and the 12 after them reach past 500 GiB.
const UNCAPPED_AFTER: usize = 16;

/// What a [`Growing`] heap did with its source (`#[non_exhaustive]`, as
/// [`Statistics`](crate::Statistics)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct GrowthStatistics {
    /// How many chunks were taken from the source.
    pub grow_count: usize,
    /// The bytes taken from the source, in all.
    pub grown_bytes: usize,
    /// How many chunks were given back to the source.
    pub return_count: usize,
    /// The bytes given back to the source, in all.
    pub returned_bytes: usize,
    /// The chunks held now.
    pub held_chunks: usize,
    /// The bytes of the chunks held now (`grown_bytes - returned_bytes`).
    pub held_bytes: usize,
    /// Requests no amount of memory could serve (above the engine's
    /// [`max_layout_size`](ByteAllocator::max_layout_size)): they took
    /// nothing from the source.
    pub impossible_requests: usize,
    /// Allocations (and reallocations) that failed.
    pub failed_allocs: usize,
}

/// A chunk taken from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    start: usize,
    size: usize,
}

/// A heap that grows: the engine `B` serves every block; when it reports
/// [`AllocError::NoMemory`], a chunk is taken from the source `S`, handed to
/// `B` with `add_memory` (or `init`, the first time) and the request retried.
/// A chunk that becomes wholly free goes back to the source, keeping at most
/// [`GrowthPolicy::keep_free`] bytes available for the next burst
/// (hysteresis); [`trim`](Self::trim) gives back every wholly free chunk.
///
/// It is itself a [`ByteAllocator`]: single-threaded under `AllocatorRc`,
/// behind the lock of [`GlobalAllocator`](crate::GlobalAllocator), or under
/// a per-CPU layer. Regions handed to [`init`](BaseAllocator::init) or
/// [`add_memory`](BaseAllocator::add_memory) are the owner's and never go to
/// the source.
///
/// # Invariants
///
/// - `chunks[..chunk_count]` are exactly the chunks taken from `source` and
///   not given back; each was accepted by `inner` (`add_memory`/`init`) with
///   exactly its range, and `stats.held_chunks == chunk_count`,
///   `stats.held_bytes` is their total size `== grown_bytes -
///   returned_bytes`.
/// - `ready` is true once `inner` manages any memory (`init` succeeded).
/// - A chunk is given back only after `inner.remove_memory` accepted it, so
///   no live block and no engine metadata lies in memory the source has.
///
/// # Growth
///
/// The chunk asked for is the larger of what the failed request needs and
/// the policy's next chunk (doubling after every growth up to the policy's
/// cap, and past it once 16 chunks are held), rounded up to
/// the source's granule; if the source cannot give that much, smaller chunks
/// are tried, halving down to what the request needs. The need is first
/// estimated tightly (size + alignment + 1/8 + 4 KiB for metadata); if the
/// retry still fails (a buddy engine needs a naturally aligned power of two),
/// it grows once more by twice the power of two above the request and retries
/// a last time. Chunks taken for a request that still failed are given back
/// at once. A request above the engine's
/// [`max_layout_size`](ByteAllocator::max_layout_size) takes nothing.
///
/// # Lock rules
///
/// The source is called from inside `alloc`, `realloc` and `dealloc` (the
/// latter to give chunks back), with the engine in a consistent state: a
/// source must not allocate through this heap (under a `GlobalAllocator` it
/// would deadlock on the heap's lock); a source that needs memory for its own
/// bookkeeping keeps it in itself (as `PageAllocatorSource` does: its bitmap
/// lives in the page allocator) or gets it from elsewhere (`MmapSource` asks
/// the kernel).
pub struct Growing<B, S> {
    inner: B,
    source: S,
    policy: GrowthPolicy,
    ready: bool,
    /// The size of the next chunk the policy asks for.
    next_chunk: usize,
    chunks: [Chunk; MAX_CHUNKS],
    chunk_count: usize,
    /// Give chunks back once `inner.available_bytes()` reaches this: set
    /// after each growth and each attempt, so that a free costs one compare
    /// until a chunk's worth more memory is free.
    trim_at: usize,
    stats: GrowthStatistics,
}

impl<B, S> Growing<B, S> {
    /// A heap over `inner` (usually fresh, uninitialised), growing from
    /// `source` with [`GrowthPolicy::DEFAULT`].
    pub const fn new(inner: B, source: S) -> Self {
        Self::with_policy(inner, source, GrowthPolicy::DEFAULT)
    }

    /// As [`new`](Self::new), with the growth policy `policy`.
    pub const fn with_policy(inner: B, source: S, policy: GrowthPolicy) -> Self {
        Self {
            inner,
            source,
            policy,
            ready: false,
            next_chunk: policy.first_chunk(),
            chunks: [Chunk { start: 0, size: 0 }; MAX_CHUNKS],
            chunk_count: 0,
            trim_at: usize::MAX,
            stats: GrowthStatistics {
                grow_count: 0,
                grown_bytes: 0,
                return_count: 0,
                returned_bytes: 0,
                held_chunks: 0,
                held_bytes: 0,
                impossible_requests: 0,
                failed_allocs: 0,
            },
        }
    }

    /// The growth policy.
    pub const fn policy(&self) -> GrowthPolicy {
        self.policy
    }

    /// The engine.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The source, mutably (a page allocator behind it serves page runs
    /// too). Chunks the heap holds stay allocated in it.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// What the heap did with its source.
    pub fn growth_statistics(&self) -> GrowthStatistics {
        self.stats
    }

    /// Whether the engine manages any memory yet.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Panics unless the invariants stated on [`Growing`] hold for the
    /// bookkeeping of chunks (the engine's own are
    /// [`ByteAllocator::assert_valid`], which checks both).
    pub fn assert_chunks_valid(&self) {
        assert!(self.chunk_count <= MAX_CHUNKS, "more chunks than the table holds");
        assert_eq!(self.stats.held_chunks, self.chunk_count, "held_chunks is the chunk count");
        let held: usize = self.chunks[..self.chunk_count].iter().map(|c| c.size).sum();
        assert_eq!(self.stats.held_bytes, held, "held_bytes is the chunks' total size");
        assert_eq!(self.stats.grown_bytes - self.stats.returned_bytes, held, "grown - returned = held");
        assert!(self.chunk_count == 0 || self.ready, "chunks are held only by a ready engine");
    }
}

impl<B: ByteAllocator, S: PageSource> Growing<B, S> {
    /// Gives every wholly free chunk back to the source, and returns the
    /// bytes given back. The heap does this by itself (keeping
    /// [`GrowthPolicy::keep_free`] bytes) after frees, and
    /// `GlobalAllocator` before it reports that a page request failed.
    ///
    /// # Complexity
    ///
    /// One `remove_memory` of the engine per chunk held (at most
    /// [`MAX_CHUNKS`]).
    pub fn trim(&mut self) -> usize {
        self.give_back(0)
    }

    /// Gives wholly free chunks back, newest first, while at least `keep`
    /// bytes stay available; returns the bytes given back.
    fn give_back(&mut self, keep: usize) -> usize {
        let mut returned = 0;
        let mut index = self.chunk_count;
        while index > 0 {
            index -= 1;
            let chunk = self.chunks[index];
            if self.inner.available_bytes().saturating_sub(chunk.size) < keep {
                continue;
            }
            if self.inner.remove_memory(chunk.start, chunk.size).is_ok() {
                self.forget_chunk(index);
                // SAFETY: the chunk came from `alloc_chunk(chunk.size)` of
                // this source, and the engine just gave it up: nothing uses it.
                unsafe { self.source.dealloc_chunk(chunk.start, chunk.size) };
                self.stats.return_count += 1;
                self.stats.returned_bytes += chunk.size;
                returned += chunk.size;
            }
        }
        self.trim_at = self.inner.available_bytes().saturating_add(self.smallest_chunk());
        returned
    }

    /// Drops chunk `index` from the table (order is not kept).
    fn forget_chunk(&mut self, index: usize) {
        self.stats.held_bytes -= self.chunks[index].size;
        self.chunk_count -= 1;
        self.chunks[index] = self.chunks[self.chunk_count];
        self.stats.held_chunks = self.chunk_count;
    }

    /// The smallest chunk a growth takes, in bytes.
    fn smallest_chunk(&self) -> usize {
        self.policy.first_chunk().max(self.source.granule())
    }

    /// After a free: give chunks back if a chunk's worth more memory is free
    /// than at the last attempt, or if nothing is used any more (the frees
    /// of a burst's last blocks make many chunks free at once).
    #[inline]
    fn after_free(&mut self) {
        if self.chunk_count > 0
            && (self.inner.available_bytes() >= self.trim_at || self.inner.used_bytes() == 0)
        {
            self.give_back_cold();
        }
    }

    #[cold]
    #[inline(never)]
    fn give_back_cold(&mut self) {
        self.give_back(self.policy.keep_free());
    }

    /// Whether no amount of memory could serve `layout`.
    fn impossible(&self, layout: Layout) -> bool {
        layout.size() > self.inner.max_layout_size(layout.align())
    }

    /// Runs `attempt` and, while it fails with [`AllocError::NoMemory`],
    /// grows for `layout` (tightly, then generously) and runs it again.
    /// Chunks taken for a request that still failed go back at once.
    /// `first` is the result of the first attempt (a `NoMemory` before the
    /// engine has memory).
    fn with_growth<T>(
        &mut self,
        layout: Layout,
        first: AllocResult<T>,
        mut attempt: impl FnMut(&mut B) -> AllocResult<T>,
    ) -> AllocResult<T> {
        let mut result = first;
        if result.is_ok() {
            return result;
        }
        if matches!(result, Err(AllocError::NoMemory)) && self.impossible(layout) {
            self.stats.impossible_requests += 1;
        } else {
            let held_before = self.chunk_count;
            for estimate in [Need::Tight, Need::PowerOfTwo] {
                if !matches!(result, Err(AllocError::NoMemory)) || self.grow(layout, estimate).is_err() {
                    break;
                }
                result = attempt(&mut self.inner);
            }
            if result.is_err() {
                self.give_back_since(held_before);
            }
        }
        if result.is_err() {
            self.stats.failed_allocs += 1;
        }
        result
    }

    /// Gives back the chunks taken after the table held `held_before` (the
    /// newest are at the end: growth appends).
    fn give_back_since(&mut self, held_before: usize) {
        while self.chunk_count > held_before {
            let chunk = self.chunks[self.chunk_count - 1];
            if self.inner.remove_memory(chunk.start, chunk.size).is_err() {
                break;
            }
            self.forget_chunk(self.chunk_count - 1);
            // SAFETY: the chunk came from `alloc_chunk(chunk.size)` and the
            // engine gave it up.
            unsafe { self.source.dealloc_chunk(chunk.start, chunk.size) };
            self.stats.return_count += 1;
            self.stats.returned_bytes += chunk.size;
        }
    }

    /// Takes a chunk big enough for `layout` (as `estimate` says) and gives
    /// it to the engine.
    fn grow(&mut self, layout: Layout, estimate: Need) -> AllocResult {
        if self.chunk_count == MAX_CHUNKS {
            return Err(AllocError::NoMemory);
        }
        let granule = self.source.granule();
        let need =
            estimate.bytes(layout).and_then(|need| align_up(need, granule)).ok_or(AllocError::NoMemory)?;
        let mut policy = self.next_chunk;
        if self.chunk_count >= UNCAPPED_AFTER {
            policy = policy.max(self.stats.held_bytes);
        }
        let policy = align_up(policy, granule).ok_or(AllocError::NoMemory)?;
        let mut size = need.max(policy);
        let start = loop {
            match self.source.alloc_chunk(size) {
                Ok(start) => break start,
                Err(_) if size > need => {
                    size = align_up(size / 2, granule).map_or(need, |half| half.max(need));
                }
                Err(error) => return Err(error),
            }
        };
        // SAFETY: the chunk is fresh memory from the source, valid, unused
        // and outliving the heap (the `PageSource` contract).
        let given = unsafe {
            if self.ready { self.inner.add_memory(start, size) } else { self.inner.init(start, size) }
        };
        if let Err(error) = given {
            // SAFETY: the chunk came from `alloc_chunk(size)` and the engine
            // refused it, so nothing uses it.
            unsafe { self.source.dealloc_chunk(start, size) };
            return Err(error);
        }
        self.ready = true;
        self.chunks[self.chunk_count] = Chunk { start, size };
        self.chunk_count += 1;
        self.next_chunk = self.next_chunk.saturating_mul(2).min(self.policy.max_chunk());
        self.stats.grow_count += 1;
        self.stats.grown_bytes = self.stats.grown_bytes.saturating_add(size);
        self.stats.held_chunks = self.chunk_count;
        self.stats.held_bytes += size;
        self.trim_at = self.policy.keep_free().saturating_add(size);
        Ok(())
    }
}

/// How generously a growth estimates what a failed request needs.
#[derive(Clone, Copy)]
enum Need {
    /// The size, its alignment, an eighth more and [`METADATA_SLACK`]: enough
    /// for a first-fit or TLSF-like engine.
    Tight,
    /// Twice the power of two above the size and alignment, 1/16 of that
    /// for metadata and [`METADATA_SLACK`]: a size-aligned power-of-two block
    /// (buddy) fits.
    PowerOfTwo,
}

impl Need {
    /// The estimate, or `None` if it exceeds `isize::MAX` (no chunk can be
    /// that large).
    fn bytes(self, layout: Layout) -> Option<usize> {
        let size = layout.size().max(1);
        let need = match self {
            Self::Tight => {
                size.checked_add(layout.align())?.checked_add(size / 8)?.checked_add(METADATA_SLACK)
            }
            Self::PowerOfTwo => {
                let block = size.max(layout.align()).checked_next_power_of_two()?;
                block.checked_mul(2)?.checked_add(block / 16)?.checked_add(METADATA_SLACK)
            }
        }?;
        (need <= isize::MAX as usize).then_some(need)
    }
}

impl<B: ByteAllocator, S: PageSource> BaseAllocator for Growing<B, S> {
    /// Hands the engine its first region through its `init` (the engine's
    /// answer, a second `init` included). The region is the owner's: it is
    /// never given to the source.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::init`].
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract.
        unsafe { self.inner.init(start, size) }?;
        self.ready = true;
        Ok(())
    }

    /// Adds a region of the owner's (through `init` while the engine has no
    /// memory).
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::add_memory`].
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.ready {
            // SAFETY: the caller's contract.
            return unsafe { self.init(start, size) };
        }
        // SAFETY: the caller's contract.
        unsafe { self.inner.add_memory(start, size) }
    }
}

// SAFETY: every block comes from `inner`, whose `unsafe impl` promises valid,
// disjoint blocks inside the memory it manages; that memory is the owner's
// regions and chunks of the source (valid by the `PageSource` contract),
// and a chunk leaves the engine (`remove_memory`) before it goes back.
unsafe impl<B: ByteAllocator, S: PageSource> ByteAllocator for Growing<B, S> {
    /// Allocates from the engine, growing from the source when it is out of
    /// memory (see [Growth](Growing#growth)).
    ///
    /// # Errors
    ///
    /// The engine's: [`AllocError::NoMemory`] when neither the engine nor
    /// the source has room (or no memory could ever serve `layout`).
    #[inline]
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let first = if self.ready { self.inner.alloc(layout) } else { Err(AllocError::NoMemory) };
        match first {
            Ok(block) => Ok(block),
            Err(_) => self.alloc_slow(layout, first),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract; every block came from `inner`.
        unsafe { self.inner.dealloc(pos, layout) };
        self.after_free();
    }

    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        let first = if self.ready {
            // SAFETY: the caller's contract.
            unsafe { self.inner.realloc(pos, old, new_size) }
        } else {
            Err(AllocError::NoMemory)
        };
        // SAFETY: the caller's contract; a failed `realloc` leaves the block
        // live, so trying again after a growth is sound.
        let result = self.with_growth(new, first, |inner| unsafe { inner.realloc(pos, old, new_size) });
        if result.is_ok() && new_size < old.size() {
            self.after_free();
        }
        result
    }

    fn total_bytes(&self) -> usize {
        self.inner.total_bytes()
    }

    fn used_bytes(&self) -> usize {
        self.inner.used_bytes()
    }

    fn peak_used_bytes(&self) -> Option<usize> {
        self.inner.peak_used_bytes()
    }

    fn available_bytes(&self) -> usize {
        self.inner.available_bytes()
    }

    /// The chunk bookkeeping ([`assert_chunks_valid`](Growing::assert_chunks_valid)),
    /// then the engine's invariants.
    fn assert_valid(&self) {
        self.assert_chunks_valid();
        self.inner.assert_valid();
    }

    /// Removes a region of the owner's (chunks of the source are the heap's
    /// own: [`AllocError::NotAllocated`]).
    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        if self.chunks[..self.chunk_count].iter().any(|c| c.start == start && c.size == size) {
            return Err(AllocError::NotAllocated);
        }
        self.inner.remove_memory(start, size)
    }

    fn max_layout_size(&self, align: usize) -> usize {
        self.inner.max_layout_size(align)
    }

    /// The engine's answer: every block comes from it.
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::usable_size`].
    unsafe fn usable_size(&self, pos: NonNull<u8>, layout: Layout) -> usize {
        // SAFETY: the caller's contract; every block came from `inner`.
        unsafe { self.inner.usable_size(pos, layout) }
    }

    fn finds_block_sizes() -> bool {
        B::finds_block_sizes()
    }

    /// As for [`ByteAllocator::block_size`]: the engine's.
    #[inline]
    unsafe fn block_size(&self, pos: NonNull<u8>, align: usize) -> Option<usize> {
        // SAFETY: the caller's contract; every block came from `inner`.
        unsafe { self.inner.block_size(pos, align) }
    }
}

impl<B: ByteAllocator, S: PageSource> Growing<B, S> {
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, layout: Layout, first: AllocResult<NonNull<u8>>) -> AllocResult<NonNull<u8>> {
        self.with_growth(layout, first, |inner| inner.alloc(layout))
    }
}

impl<B: ByteAllocator + core::fmt::Debug, S: core::fmt::Debug> core::fmt::Debug for Growing<B, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Growing")
            .field("inner", &self.inner)
            .field("source", &self.source)
            .field("policy", &self.policy)
            .field("statistics", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn need_estimates_never_overflow() {
        for estimate in [Need::Tight, Need::PowerOfTwo] {
            assert_eq!(estimate.bytes(layout(isize::MAX as usize - 4096, 4096)), None);
            assert!(estimate.bytes(layout(0, 1)).is_some_and(|n| n > 0));
        }
        assert_eq!(Need::PowerOfTwo.bytes(layout(100, 4096)), Some(2 * 4096 + 256 + METADATA_SLACK));
    }
}
