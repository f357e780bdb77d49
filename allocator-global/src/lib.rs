//! A locked, growable global allocator over any [`ByteAllocator`]: the memory
//! subsystem of a kernel, or a host program's `#[global_allocator]`.
//!
//! [`GlobalAllocator<B, S, R>`](GlobalAllocator) puts a byte allocator `B`
//! behind a lock `R` (any [`lock_api::RawMutex`]; a spin lock by default, so a
//! kernel can pass its interrupt-disabling lock) and implements
//! [`GlobalAlloc`] and [`allocator_api2::alloc::Allocator`] on top. When `B`
//! runs out of memory, the allocator takes a chunk from its [`PageSource`]
//! `S`, hands it to `B` with `add_memory` and retries (the pattern of ArceOS's
//! `axalloc`):
//!
//! - [`NoSource`]: a fixed heap; what does not fit fails.
//! - [`PageAllocatorSource`]: chunks of pages from any [`PageAllocator`] (a
//!   frame allocator), which also stays reachable through
//!   [`alloc_pages`](GlobalAllocator::alloc_pages) and
//!   [`dealloc_pages`](GlobalAllocator::dealloc_pages) of the same object.
//! - `SystemSource` (feature `std`): chunks from `std::alloc::System`.
//!
//! A host program's global allocator: a slab heap growing from the system.
//!
//! ```
//! use allocator_global::{GlobalAllocator, SystemSource};
//! use allocator_slab::SlabByteAllocator;
//!
//! #[global_allocator]
//! static ALLOCATOR: GlobalAllocator<SlabByteAllocator, SystemSource> =
//!     GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());
//!
//! fn main() {
//!     let words: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
//!     let stats = ALLOCATOR.statistics();
//!     assert!(stats.used_bytes > 0 && stats.grow_count > 0);
//!     drop(words);
//! }
//! ```
//!
//! A fixed heap over a static arena (a kernel's early heap, or a benchmark's
//! pool): no page source, so what does not fit fails.
//!
//! ```
//! use core::alloc::{GlobalAlloc, Layout};
//! use allocator_global::{AllocError, GlobalAllocator, NoSource};
//! use allocator_tlsf::TlsfByteAllocator;
//!
//! static HEAP: GlobalAllocator<TlsfByteAllocator> = GlobalAllocator::new(TlsfByteAllocator::new(), NoSource);
//!
//! let arena: &'static mut [u8] = Vec::leak(vec![0u8; 1 << 20]);
//! // SAFETY: the leaked arena is ours alone, forever; its address is exposed.
//! unsafe { HEAP.init(arena.as_mut_ptr().expose_provenance(), arena.len()) }.unwrap();
//!
//! let layout = Layout::from_size_align(4096, 64).unwrap();
//! // SAFETY: a non-zero-size layout; the block is freed with it.
//! unsafe {
//!     let block = HEAP.alloc(layout);
//!     assert!(!block.is_null());
//!     HEAP.dealloc(block, layout);
//! }
//! assert_eq!(HEAP.alloc_block(Layout::from_size_align(2 << 20, 8).unwrap()), Err(AllocError::NoMemory));
//! assert_eq!(HEAP.statistics().failed_allocs, 1);
//! ```
//!
//! # Growth
//!
//! The chunk asked of the source is the larger of what the failed request
//! needs and the policy's next chunk size ([`GrowthPolicy`]: 64 KiB first,
//! doubling after every growth up to 16 MiB by default), rounded up to the
//! source's granule. If the source cannot give that much, smaller chunks are
//! tried, halving down to what the request needs. What a request needs is
//! first estimated tightly (size + alignment + 1/8 + 4 KiB for the byte
//! allocator's metadata); if the retry still fails (a buddy backend, for
//! example, needs a power-of-two block aligned to its size), the heap grows
//! once more by twice the power of two above the request (and 1/32 of that
//! for metadata), and retries a last time. Memory taken from the source is
//! never returned.
//!
//! Every growth is one more region of the byte allocator, and backends keep
//! a bounded table of regions (32 for the buddy and TLSF engines): a heap
//! expected to grow large should start with a big [`init`](GlobalAllocator::init)
//! region or use a larger [`GrowthPolicy`]. The default cap suits kernels,
//! where a bigger chunk would take frames the rest of the system may need.
//!
//! # Locking
//!
//! Every operation takes the lock once. Nothing allocates while it is held
//! except the byte allocator and the page source themselves, so the source
//! must not allocate through the same allocator.
//!
//! [`statistics`](GlobalAllocator::statistics) takes the lock for the time of
//! a few loads. Keeping lock-free statistics instead (atomics published after
//! every operation) cost 15-20 % of single-thread throughput in the
//! benchmark's `threads` suite, a price every allocation would pay for a
//! figure read rarely.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(feature = "nightly", feature(allocator_api))]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod emergency;
mod irq;
mod source;
mod stats;

use core::{
    alloc::{GlobalAlloc, Layout},
    fmt,
    ptr::{self, NonNull},
};

pub use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator, PageAllocator};
#[cfg(any(target_arch = "riscv64", target_arch = "aarch64", target_arch = "x86_64"))]
pub use irq::ArchInterrupts;
pub use irq::{Aarch64Daif, InterruptControl, IrqSafeSpin, Riscv64Sie, X86_64InterruptFlag};
#[cfg(feature = "std")]
pub use source::SystemSource;
pub use source::{NoSource, PageAllocatorSource, PageSource};
pub use stats::Statistics;

use allocator_traits::region::align_up;

/// The default lock: a spin lock from the `spin` crate, as a
/// [`lock_api::RawMutex`]. It does not disable interrupts: a kernel that
/// allocates in interrupt handlers passes its own lock type instead.
pub type DefaultRawMutex = spin::mutex::SpinMutex<()>;

/// The bytes added to every growth request for the byte allocator's own
/// metadata in a new region (headers, sentinels, bitmaps).
const METADATA_SLACK: usize = 4096;

/// How a [`GlobalAllocator`] grows: the size of the first chunk it takes from
/// its [`PageSource`], doubling after every growth up to a cap.
///
/// A request larger than the next chunk gets a chunk of its own size; the
/// cap only bounds the doubling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrowthPolicy {
    first_chunk: usize,
    max_chunk: usize,
}

impl GrowthPolicy {
    /// 64 KiB first, doubling up to 16 MiB.
    pub const DEFAULT: Self = Self::new(64 << 10, 16 << 20);

    /// Chunks of `first_chunk` bytes first, doubling after every growth up to
    /// `max_chunk` bytes (a `max_chunk` below `first_chunk` keeps every chunk
    /// at `first_chunk`). Both are rounded up to the source's granule when
    /// used.
    pub const fn new(first_chunk: usize, max_chunk: usize) -> Self {
        let max_chunk = if max_chunk < first_chunk { first_chunk } else { max_chunk };
        Self { first_chunk, max_chunk }
    }

    /// The size of the first chunk.
    pub const fn first_chunk(&self) -> usize {
        self.first_chunk
    }

    /// The cap of the doubling.
    pub const fn max_chunk(&self) -> usize {
        self.max_chunk
    }
}

impl Default for GrowthPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The state behind the lock.
struct Heap<B, S> {
    bytes: B,
    source: S,
    /// Whether `bytes` has been `init`ialised (by `init`, `add_memory` or a
    /// first growth); until then it is never asked for memory.
    ready: bool,
    /// The size of the next chunk the policy asks for.
    next_chunk: usize,
    /// The counters kept here (grow count, grown and failed); the byte
    /// counts are read from `bytes` when asked for.
    stats: Statistics,
}

/// A `Sync` allocator over the byte allocator `B`, growing from the page
/// source `S`, locked by `R`. See the [crate documentation](crate).
pub struct GlobalAllocator<B, S = NoSource, R = DefaultRawMutex> {
    heap: lock_api::Mutex<R, Heap<B, S>>,
    policy: GrowthPolicy,
}

impl<B, S, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// An allocator over `byte_allocator` (usually fresh, uninitialised),
    /// growing from `source` with [`GrowthPolicy::DEFAULT`].
    ///
    /// `const`, so it can be a `static` and a `#[global_allocator]`.
    pub const fn new(byte_allocator: B, source: S) -> Self {
        Self::with_policy(byte_allocator, source, GrowthPolicy::DEFAULT)
    }

    /// As [`new`](Self::new), with the growth policy `policy`.
    pub const fn with_policy(byte_allocator: B, source: S, policy: GrowthPolicy) -> Self {
        Self {
            heap: lock_api::Mutex::const_new(
                R::INIT,
                Heap {
                    bytes: byte_allocator,
                    source,
                    ready: false,
                    next_chunk: policy.first_chunk,
                    stats: Statistics {
                        total_bytes: 0,
                        used_bytes: 0,
                        available_bytes: 0,
                        grow_count: 0,
                        grown_bytes: 0,
                        failed_allocs: 0,
                    },
                },
            ),
            policy,
        }
    }

    /// The growth policy.
    pub const fn policy(&self) -> GrowthPolicy {
        self.policy
    }
}

impl<B: ByteAllocator, S, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// The heap, locked; `None` if the lock is held and an engine has
    /// reported a caller bug (the panic runtime of the thread that holds the
    /// lock is allocating: waiting would deadlock). See `emergency`.
    #[inline]
    fn lock_heap(&self) -> Option<lock_api::MutexGuard<'_, R, Heap<B, S>>> {
        match self.heap.try_lock() {
            Some(heap) => Some(heap),
            None if allocator_traits::bug::reported() => None,
            None => Some(self.heap.lock()),
        }
    }

    /// A consistent snapshot of the statistics, taken under the lock (held
    /// for a few loads). Do not call it from a [`PageSource`] (the lock is
    /// held there).
    pub fn statistics(&self) -> Statistics {
        let heap = self.heap.lock();
        let mut stats = heap.stats;
        if heap.ready {
            stats.total_bytes = heap.bytes.total_bytes();
            stats.used_bytes = heap.bytes.used_bytes();
            stats.available_bytes = heap.bytes.available_bytes();
        }
        stats
    }

    /// The bytes the byte allocator manages.
    pub fn total_bytes(&self) -> usize {
        self.statistics().total_bytes
    }

    /// The bytes of live blocks.
    pub fn used_bytes(&self) -> usize {
        self.statistics().used_bytes
    }

    /// The bytes still free.
    pub fn available_bytes(&self) -> usize {
        self.statistics().available_bytes
    }

    /// How many times the heap grew from its page source.
    pub fn grow_count(&self) -> usize {
        self.heap.lock().stats.grow_count
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// Gives the heap its first region `[start, start + size)` (a static
    /// arena, for example), through the byte allocator's `init`.
    ///
    /// Errors are the byte allocator's; [`AllocError::InvalidParam`] if the
    /// heap already has memory (from `init`, `add_memory` or growth): add
    /// more with [`add_memory`](Self::add_memory).
    ///
    /// # Safety
    ///
    /// `[start, start + size)` is valid, writable memory, used by nothing
    /// else, that outlives the allocator and every block it hands out; the
    /// address carries exposed provenance (see [`BaseAllocator::init`]).
    pub unsafe fn init(&self, start: usize, size: usize) -> AllocResult {
        let mut heap = self.heap.lock();
        if heap.ready {
            return Err(AllocError::InvalidParam);
        }
        // SAFETY: the caller's contract is `init`'s.
        unsafe { heap.bytes.init(start, size) }?;
        heap.ready = true;
        Ok(())
    }

    /// Adds the region `[start, start + size)` to the heap (through `init`
    /// if the heap has no memory yet).
    ///
    /// Errors are the byte allocator's ([`AllocError::MemoryOverlap`] for a
    /// region overlapping one it manages, ...).
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    pub unsafe fn add_memory(&self, start: usize, size: usize) -> AllocResult {
        let mut heap = self.heap.lock();
        // SAFETY: the caller's contract is `init`'s and `add_memory`'s.
        unsafe { Self::give_region(&mut heap, start, size) }?;
        Ok(())
    }

    /// Allocates a block for `layout`, growing the heap from the page source
    /// if the byte allocator is out of memory.
    ///
    /// The byte allocator's errors: [`AllocError::NoMemory`] when neither the
    /// heap nor the source has room, [`AllocError::InvalidParam`] for an
    /// alignment it cannot give (as it documents).
    pub fn alloc_block(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let Some(mut heap) = self.lock_heap() else {
            return emergency::alloc(layout).ok_or(AllocError::NoMemory);
        };
        let mut result = if heap.ready { heap.bytes.alloc(layout) } else { Err(AllocError::NoMemory) };
        for estimate in [Need::Tight, Need::PowerOfTwo] {
            if result != Err(AllocError::NoMemory) || self.grow_heap(&mut heap, layout, estimate).is_err() {
                break;
            }
            result = heap.bytes.alloc(layout);
        }
        if result.is_err() {
            heap.stats.failed_allocs += 1;
        }
        result
    }

    /// Frees the block at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by [`alloc_block`](Self::alloc_block) or
    /// [`realloc_block`](Self::realloc_block) of this allocator (or by its
    /// `GlobalAlloc` or `Allocator` methods) with this `layout` (for a
    /// reallocation: the old alignment and the new size), and is not freed
    /// yet.
    pub unsafe fn dealloc_block(&self, ptr: NonNull<u8>, layout: Layout) {
        if emergency::holds(ptr) {
            return;
        }
        // With the lock held by a thread reporting a caller bug, the block
        // leaks: the process is about to abort.
        let Some(mut heap) = self.lock_heap() else { return };
        // SAFETY: the caller's contract is `dealloc`'s: every block of this
        // allocator comes from `heap.bytes`.
        unsafe { heap.bytes.dealloc(ptr, layout) };
    }

    /// Resizes the block at `ptr` from `layout` to `new_size` bytes (same
    /// alignment), through [`ByteAllocator::realloc`] (in place where the
    /// byte allocator can), growing the heap if needed.
    ///
    /// On error the old block is untouched and still owned by the caller.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator allocated with `layout` (as
    /// for [`dealloc_block`](Self::dealloc_block)).
    pub unsafe fn realloc_block(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> AllocResult<NonNull<u8>> {
        let new_layout =
            Layout::from_size_align(new_size, layout.align()).map_err(|_| AllocError::NoMemory)?;
        let heap = if emergency::holds(ptr) { None } else { self.lock_heap() };
        let Some(mut heap) = heap else {
            // An emergency block (or the lock held by a thread reporting a
            // caller bug): a new block, the contents copied, nothing freed.
            let block = self.alloc_block(new_layout)?;
            // SAFETY: `block` is fresh, `ptr` holds `layout.size()` bytes
            // (caller's contract); they do not overlap.
            unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), block.as_ptr(), layout.size().min(new_size)) };
            return Ok(block);
        };
        // SAFETY: `ptr` is a live block of `heap.bytes` with `layout`
        // (caller's contract); a failed `realloc` leaves it so.
        let mut result = unsafe { heap.bytes.realloc(ptr, layout, new_size) };
        for estimate in [Need::Tight, Need::PowerOfTwo] {
            if result != Err(AllocError::NoMemory) || self.grow_heap(&mut heap, new_layout, estimate).is_err()
            {
                break;
            }
            // SAFETY: as above: the failed attempt left the block live.
            result = unsafe { heap.bytes.realloc(ptr, layout, new_size) };
        }
        if result.is_err() {
            heap.stats.failed_allocs += 1;
        }
        result
    }

    /// Hands `[start, start + size)` to the byte allocator: `init` the first
    /// time, `add_memory` after.
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    unsafe fn give_region(heap: &mut Heap<B, S>, start: usize, size: usize) -> AllocResult {
        if heap.ready {
            // SAFETY: the caller's contract is `add_memory`'s.
            unsafe { heap.bytes.add_memory(start, size) }
        } else {
            // SAFETY: the caller's contract is `init`'s.
            unsafe { heap.bytes.init(start, size) }?;
            heap.ready = true;
            Ok(())
        }
    }

    /// Takes a chunk from the source big enough for `layout` (as `estimate`
    /// says) and gives it to the byte allocator.
    fn grow_heap(&self, heap: &mut Heap<B, S>, layout: Layout, estimate: Need) -> AllocResult {
        let granule = heap.source.granule();
        let need =
            estimate.bytes(layout).and_then(|need| align_up(need, granule)).ok_or(AllocError::NoMemory)?;
        let policy = align_up(heap.next_chunk, granule).ok_or(AllocError::NoMemory)?;
        let mut size = need.max(policy);
        let start = loop {
            match heap.source.alloc_chunk(size) {
                Ok(start) => break start,
                Err(_) if size > need => {
                    size = align_up(size / 2, granule).map_or(need, |half| half.max(need));
                }
                Err(error) => return Err(error),
            }
        };
        // SAFETY: the chunk is fresh memory from the source, valid, unused
        // and outliving the allocator (the `PageSource` contract).
        if let Err(error) = unsafe { Self::give_region(heap, start, size) } {
            // SAFETY: the chunk came from `alloc_chunk(size)` and the byte
            // allocator refused it, so nothing uses it.
            unsafe { heap.source.dealloc_chunk(start, size) };
            return Err(error);
        }
        heap.next_chunk = heap.next_chunk.saturating_mul(2).min(self.policy.max_chunk);
        heap.stats.grow_count += 1;
        heap.stats.grown_bytes = heap.stats.grown_bytes.saturating_add(size);
        Ok(())
    }
}

/// How generously a growth estimates what a failed request needs.
#[derive(Clone, Copy)]
enum Need {
    /// The size, its alignment, an eighth more and [`METADATA_SLACK`]: enough
    /// for a first-fit or TLSF-like byte allocator.
    Tight,
    /// Twice the power of two above the size and alignment, 1/32 of that
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

/// Page allocation passthrough: with a [`PageAllocatorSource`], the page
/// allocator the heap grows from also serves page frames directly, under the
/// same lock, so one `static` is the whole memory subsystem.
impl<B: ByteAllocator, P: PageAllocator, R: lock_api::RawMutex>
    GlobalAllocator<B, PageAllocatorSource<P>, R>
{
    /// Initialises the page allocator with `[start, start + size)` (through
    /// its `init`); the heap grows from it from then on.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::init`] of a memory allocator:
    /// `[start, start + size)` is valid, writable memory, used by nothing
    /// else, outliving the allocator, with exposed provenance.
    pub unsafe fn init_pages(&self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is `init`'s.
        unsafe { self.heap.lock().source.page_allocator_mut().init(start, size) }
    }

    /// Adds `[start, start + size)` to the page allocator (through its
    /// `add_memory`).
    ///
    /// # Safety
    ///
    /// As for [`init_pages`](Self::init_pages).
    pub unsafe fn add_page_memory(&self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is `add_memory`'s.
        unsafe { self.heap.lock().source.page_allocator_mut().add_memory(start, size) }
    }

    /// Allocates `num_pages` contiguous pages aligned to `align` bytes from
    /// the page allocator (see [`PageAllocator::alloc_pages`]).
    pub fn alloc_pages(&self, num_pages: usize, align: usize) -> AllocResult<usize> {
        self.heap.lock().source.page_allocator_mut().alloc_pages(num_pages, align)
    }

    /// Allocates `num_pages` pages at exactly `base` (see
    /// [`PageAllocator::alloc_pages_at`]).
    pub fn alloc_pages_at(&self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        self.heap.lock().source.page_allocator_mut().alloc_pages_at(base, num_pages, align)
    }

    /// Frees `num_pages` pages at `pos`.
    ///
    /// # Safety
    ///
    /// `[pos, pos + num_pages * P::PAGE_SIZE)` was allocated by
    /// [`alloc_pages`](Self::alloc_pages) or
    /// [`alloc_pages_at`](Self::alloc_pages_at) of this allocator (never the
    /// pages the heap grew by) and is not used any more.
    pub unsafe fn dealloc_pages(&self, pos: usize, num_pages: usize) {
        // SAFETY: the caller's contract is `dealloc_pages`'s.
        unsafe { self.heap.lock().source.page_allocator_mut().dealloc_pages(pos, num_pages) }
    }

    /// The number of pages the page allocator manages.
    pub fn total_pages(&self) -> usize {
        self.heap.lock().source.page_allocator().total_pages()
    }

    /// The number of pages allocated (the heap's included).
    pub fn used_pages(&self) -> usize {
        self.heap.lock().source.page_allocator().used_pages()
    }

    /// The number of pages free.
    pub fn available_pages(&self) -> usize {
        self.heap.lock().source.page_allocator().available_pages()
    }
}

impl<B: ByteAllocator, S, R: lock_api::RawMutex> fmt::Debug for GlobalAllocator<B, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalAllocator")
            .field("policy", &self.policy)
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

// SAFETY: blocks come from the byte allocator, whose contract gives aligned,
// non-overlapping blocks of the requested size inside valid memory (or, while
// a caller bug is being reported, from the emergency arena, which hands every
// byte out once); failures return null; a panic never unwinds out (it aborts); `dealloc`/`realloc` pass the caller's pointer
// and layout on, as `GlobalAlloc` requires of the caller.
unsafe impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAlloc for GlobalAllocator<B, S, R> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let guard = emergency::AbortOnUnwind;
        let block = self.alloc_block(layout).map_or(ptr::null_mut(), NonNull::as_ptr);
        core::mem::forget(guard);
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let guard = emergency::AbortOnUnwind;
        let block = match self.alloc_block(layout) {
            Ok(block) => {
                // SAFETY: `block` is a fresh block of `layout.size()` bytes.
                unsafe { block.as_ptr().write_bytes(0, layout.size()) };
                block.as_ptr()
            }
            Err(_) => ptr::null_mut(),
        };
        core::mem::forget(guard);
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let guard = emergency::AbortOnUnwind;
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc::dealloc`'s contract: `ptr` was allocated
            // by this allocator with `layout`.
            unsafe { self.dealloc_block(block, layout) }
        }
        core::mem::forget(guard);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(block) = NonNull::new(ptr) else {
            return ptr::null_mut();
        };
        let guard = emergency::AbortOnUnwind;
        // SAFETY: `GlobalAlloc::realloc`'s contract: `ptr` is a live block of
        // this allocator with `layout`.
        let block =
            unsafe { self.realloc_block(block, layout, new_size) }.map_or(ptr::null_mut(), NonNull::as_ptr);
        core::mem::forget(guard);
        block
    }
}

// SAFETY: as for `GlobalAlloc`: blocks are valid, aligned, non-overlapping
// and stay valid until deallocated (the allocator, borrowed by every
// `&GlobalAllocator` user, outlives them); `grow`/`shrink` preserve contents
// (through `ByteAllocator::realloc` or a copy) and leave the old block
// allocated on failure.
unsafe impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> allocator_api2::alloc::Allocator
    for GlobalAllocator<B, S, R>
{
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        self.alloc_block(layout)
            .map(|block| NonNull::slice_from_raw_parts(block, layout.size()))
            .map_err(|_| allocator_api2::alloc::AllocError)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `Allocator::deallocate`'s contract: `ptr` is a block of
        // this allocator that `layout` fits.
        unsafe { self.dealloc_block(ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        // SAFETY: forwarded contract of `Allocator::grow`.
        unsafe { self.resize(ptr, old_layout, new_layout) }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        // SAFETY: forwarded contract of `Allocator::grow_zeroed`.
        let block = unsafe { self.resize(ptr, old_layout, new_layout) }?;
        let tail = new_layout.size().saturating_sub(old_layout.size());
        // SAFETY: the block holds `new_layout.size()` bytes, of which the
        // tail after `old_layout.size()` is zeroed.
        unsafe { block.cast::<u8>().add(old_layout.size()).write_bytes(0, tail) };
        Ok(block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        // SAFETY: forwarded contract of `Allocator::shrink`.
        unsafe { self.resize(ptr, old_layout, new_layout) }
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// `grow`/`shrink` of `Allocator`: `realloc` when the alignment stays,
    /// else allocate, copy and free.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator that `old_layout` fits.
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        let block = if new_layout.align() == old_layout.align() {
            // SAFETY: the caller's contract.
            unsafe { self.realloc_block(ptr, old_layout, new_layout.size()) }
        } else {
            self.alloc_block(new_layout).inspect(|&block| {
                // SAFETY: `block` is fresh and holds `new_layout.size()`
                // bytes, `ptr` holds `old_layout.size()` (caller's contract);
                // they do not overlap. `ptr` is freed with its layout after
                // its contents moved.
                unsafe {
                    ptr::copy_nonoverlapping(
                        ptr.as_ptr(),
                        block.as_ptr(),
                        old_layout.size().min(new_layout.size()),
                    );
                    self.dealloc_block(ptr, old_layout);
                }
            })
        };
        block
            .map(|block| NonNull::slice_from_raw_parts(block, new_layout.size()))
            .map_err(|_| allocator_api2::alloc::AllocError)
    }
}

#[cfg(test)]
mod tests;
