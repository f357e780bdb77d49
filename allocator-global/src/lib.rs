//! A locked, growable global allocator over any [`ByteAllocator`]: the memory
//! subsystem of a kernel, or a host program's `#[global_allocator]`.
//!
//! [`GlobalAllocator<B, S, R>`](GlobalAllocator) puts a byte allocator `B`
//! behind a lock `R` (any [`lock_api::RawMutex`]; a spin lock by default, so a
//! kernel can pass its interrupt-disabling lock) and implements
//! [`GlobalAlloc`](core::alloc::GlobalAlloc) and [`allocator_api2::alloc::Allocator`] on top. When `B`
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
//! # Layers
//!
//! ```text
//!   GlobalAlloc / Allocator          GlobalAllocator<B, S, R>
//!   lock                             R: any lock_api::RawMutex (IrqSafeSpin for interrupt handlers)
//!   growth and memory return         Growing<B, S>: itself a ByteAllocator
//!   engine                           B: TLSF, buddy, slab over either
//!   page source                      S: PageAllocatorSource (frames), MmapSource, SystemSource, NoSource
//! ```
//!
//! The lock only locks; [`Growing`] grows the engine from the source and
//! gives wholly free chunks back (see its docs for the policy and the lock
//! rules of a source), and can be used without a lock (under `AllocatorRc`)
//! too. A request no amount of memory could serve takes nothing from the
//! source, and a growth that did not make its request succeed is given back.
//! The heap has no ceiling: past 16 chunks every growth takes at least
//! as much as the heap holds.
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

mod bridges;
mod emergency;
mod growing;
mod irq;
mod percpu;
mod policy;
mod source;
mod stats;

use core::{
    alloc::Layout,
    fmt,
    ptr::{self, NonNull},
};

pub use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator, PageAllocator};
pub use growing::{Growing, GrowthStatistics, MAX_CHUNKS};
#[cfg(any(target_arch = "riscv64", target_arch = "aarch64", target_arch = "x86_64"))]
pub use irq::ArchInterrupts;
pub use irq::{Aarch64Daif, InterruptControl, IrqSafeSpin, Riscv64Sie, X86_64InterruptFlag};
#[cfg(feature = "std")]
pub use percpu::ThreadSlots;
pub use percpu::{CLASS_ALIGN, CpuId, DEPOT_BATCHES, MAGAZINE, MAX_CACHED_SIZE, PerCpu, SingleCpu};
pub use policy::GrowthPolicy;
#[cfg(all(feature = "std", unix))]
pub use source::MmapSource;
#[cfg(feature = "std")]
pub use source::SystemSource;
pub use source::{NoSource, PageAllocatorSource, PageSource};
pub use stats::Statistics;

/// The default lock: a spin lock from the `spin` crate, as a
/// [`lock_api::RawMutex`]. It does not disable interrupts: a kernel that
/// allocates in interrupt handlers passes its own lock type instead.
pub type DefaultRawMutex = spin::mutex::SpinMutex<()>;

/// A `Sync` allocator over the byte allocator `B`, growing from the page
/// source `S`, locked by `R`. See the [crate documentation](crate).
pub struct GlobalAllocator<B, S = NoSource, R = DefaultRawMutex> {
    heap: lock_api::Mutex<R, Growing<B, S>>,
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
            heap: lock_api::Mutex::const_new(R::INIT, Growing::with_policy(byte_allocator, source, policy)),
        }
    }

    /// The growth policy.
    pub fn policy(&self) -> GrowthPolicy {
        self.heap.lock().policy()
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// The heap, locked; `None` if the lock is held and an engine has
    /// reported a caller bug (the panic runtime of the thread that holds the
    /// lock is allocating: waiting would deadlock). See `emergency`.
    #[inline]
    fn lock_heap(&self) -> Option<lock_api::MutexGuard<'_, R, Growing<B, S>>> {
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
        let growth = heap.growth_statistics();
        Statistics {
            total_bytes: heap.total_bytes(),
            used_bytes: heap.used_bytes(),
            available_bytes: heap.available_bytes(),
            peak_used_bytes: heap.peak_used_bytes(),
            grow_count: growth.grow_count,
            grown_bytes: growth.grown_bytes,
            return_count: growth.return_count,
            returned_bytes: growth.returned_bytes,
            held_chunks: growth.held_chunks,
            held_bytes: growth.held_bytes,
            impossible_requests: growth.impossible_requests,
            failed_allocs: growth.failed_allocs,
        }
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
        self.heap.lock().growth_statistics().grow_count
    }

    /// Gives every wholly free chunk back to the page source and returns the
    /// bytes given back (see [`Growing::trim`]).
    pub fn trim(&self) -> usize {
        self.heap.lock().trim()
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// Gives the heap its first region `[start, start + size)` (a static
    /// arena, for example), through the byte allocator's `init`.
    ///
    /// # Errors
    ///
    /// The byte allocator's, a second `init` included (TLSF and buddy:
    /// [`AllocError::MemoryOverlap`] for a region they manage,
    /// [`AllocError::InvalidParam`] for another): add more with
    /// [`add_memory`](Self::add_memory).
    ///
    /// # Safety
    ///
    /// `[start, start + size)` is valid, writable memory, used by nothing
    /// else, that outlives the allocator and every block it hands out; the
    /// address carries exposed provenance (see [`BaseAllocator::init`]).
    pub unsafe fn init(&self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is `init`'s.
        unsafe { self.heap.lock().init(start, size) }
    }

    /// Adds the region `[start, start + size)` to the heap (through `init`
    /// if the heap has no memory yet). Such regions are the caller's: they
    /// never go to the page source.
    ///
    /// # Errors
    ///
    /// The byte allocator's ([`AllocError::MemoryOverlap`] for a region
    /// overlapping one it manages, ...).
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    pub unsafe fn add_memory(&self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is `init`'s and `add_memory`'s.
        unsafe { self.heap.lock().add_memory(start, size) }
    }

    /// Allocates a block for `layout`, growing the heap from the page source
    /// if the byte allocator is out of memory.
    ///
    /// # Errors
    ///
    /// The byte allocator's: [`AllocError::NoMemory`] when neither the
    /// heap nor the source has room, [`AllocError::InvalidParam`] for an
    /// alignment it cannot give (as it documents).
    ///
    /// # Complexity
    ///
    /// The lock, then the engine's `alloc`. When that fails: one growth
    /// (one call of the source and one `add_memory`, O([`MAX_CHUNKS`]) to
    /// record the chunk) and the engine's `alloc` again; a growth that did
    /// not help is given back (one `remove_memory`).
    pub fn alloc_block(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let Some(mut heap) = self.lock_heap() else {
            return emergency::alloc(layout).ok_or(AllocError::NoMemory);
        };
        heap.alloc(layout)
    }

    /// Allocates up to `out.len()` blocks of `layout` under one lock (a
    /// per-CPU cache refilling), and returns how many it wrote to `out`
    /// (fewer when memory runs out; 0 with `NoMemory` as the first error).
    ///
    /// # Errors
    ///
    /// The first block's error, if not even one block was allocated.
    pub fn alloc_batch(&self, layout: Layout, out: &mut [NonNull<u8>]) -> AllocResult<usize> {
        let Some(mut heap) = self.lock_heap() else {
            return Err(AllocError::NoMemory);
        };
        for (filled, slot) in out.iter_mut().enumerate() {
            match heap.alloc(layout) {
                Ok(block) => *slot = block,
                Err(error) if filled == 0 => return Err(error),
                Err(_) => return Ok(filled),
            }
        }
        Ok(out.len())
    }

    /// Frees every block of `blocks` (all of `layout`) under one lock (a
    /// per-CPU cache flushing).
    ///
    /// # Safety
    ///
    /// Each block is a live block of this allocator allocated with `layout`,
    /// freed once, as for [`dealloc_block`](Self::dealloc_block).
    pub unsafe fn dealloc_batch(&self, blocks: &[NonNull<u8>], layout: Layout) {
        let Some(mut heap) = self.lock_heap() else { return };
        for &block in blocks {
            // SAFETY: the caller's contract, block by block.
            unsafe { heap.dealloc(block, layout) };
        }
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
        // allocator comes from the growing heap.
        unsafe { heap.dealloc(ptr, layout) };
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
            unsafe { allocator_traits::move_block(ptr, layout.size(), block, new_size) };
            return Ok(block);
        };
        // SAFETY: `ptr` is a live block of the heap with `layout` (caller's
        // contract).
        unsafe { heap.realloc(ptr, layout, new_size) }
    }
}

/// What a C library over the heap needs: the usable size of a block, chunks
/// straight from the source for huge blocks, and the fork protocol.
impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> GlobalAllocator<B, S, R> {
    /// The bytes the live block at `ptr` really holds (at least
    /// `layout.size()`; see [`ByteAllocator::usable_size`]), under the lock.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator allocated with `layout` (as
    /// for [`dealloc_block`](Self::dealloc_block)).
    pub unsafe fn usable_size(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        if emergency::holds(ptr) {
            return layout.size();
        }
        let Some(heap) = self.lock_heap() else { return layout.size() };
        // SAFETY: the caller's contract; every block comes from the heap.
        unsafe { heap.usable_size(ptr, layout) }
    }

    /// The size of the live block at `ptr` found by the engine from its
    /// address and alignment ([`ByteAllocator::block_size`]), under the
    /// lock; `None` when the engine cannot find sizes, or for a block of the
    /// emergency arena (which exists only while a reported caller bug aborts
    /// the process).
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator allocated with alignment
    /// `align`.
    pub unsafe fn block_size(&self, ptr: NonNull<u8>, align: usize) -> Option<usize> {
        if !B::finds_block_sizes() || emergency::holds(ptr) {
            return None;
        }
        let heap = self.lock_heap()?;
        // SAFETY: the caller's contract; every block comes from the heap.
        unsafe { heap.block_size(ptr, align) }
    }

    /// Frees the live block at `ptr` without its size, under one lock: the
    /// engine finds it ([`ByteAllocator::block_size`]). Returns `false`, and
    /// frees nothing, when the engine cannot find sizes (the block stays
    /// live: the caller must free it with its layout); an emergency block
    /// is never freed and counts as done.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator allocated with alignment
    /// `align`; when this returns `true` it is freed.
    #[inline]
    pub unsafe fn dealloc_unsized(&self, ptr: NonNull<u8>, align: usize) -> bool {
        if emergency::holds(ptr) {
            return true;
        }
        if !B::finds_block_sizes() {
            return false;
        }
        // With the lock held by a thread reporting a caller bug, the block
        // leaks: the process is about to abort.
        let Some(mut heap) = self.lock_heap() else { return true };
        // SAFETY: the caller's contract; every block comes from the heap.
        let Some(size) = (unsafe { heap.block_size(ptr, align) }) else { return false };
        let Ok(layout) = Layout::from_size_align(size, align) else { return false };
        // SAFETY: by `block_size`'s promise, `(size, align)` stands for the
        // live block's layout.
        unsafe { heap.dealloc(ptr, layout) };
        true
    }

    /// Takes a chunk of at least `size` bytes straight from the page source,
    /// bypassing the engine (a C library maps huge blocks so, as glibc does
    /// above its mmap threshold: they go back to the source the moment they
    /// are freed). Returns the chunk and its size (`size` rounded up to the
    /// source's granule). The chunk is the caller's until it passes it to
    /// [`dealloc_chunk`](Self::dealloc_chunk); it is not counted in
    /// [`statistics`](Self::statistics). The lock is held for the source's
    /// call.
    ///
    /// If [`PageSource::zeroed`] (see [`source_zeroed`](Self::source_zeroed))
    /// the chunk is zero-filled: a `calloc` served from it writes nothing.
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when the source has no room (or `size`
    /// rounded up overflows), [`AllocError::InvalidParam`] for `size == 0`.
    pub fn alloc_chunk(&self, size: usize) -> AllocResult<(NonNull<u8>, usize)> {
        if size == 0 {
            return Err(AllocError::InvalidParam);
        }
        let mut heap = self.heap.lock();
        let size = allocator_traits::region::align_up(size, heap.source().granule())
            .filter(|&size| size <= isize::MAX as usize)
            .ok_or(AllocError::NoMemory)?;
        let start = heap.source_mut().alloc_chunk(size)?;
        // The source's `unsafe` contract: the chunk is valid memory with
        // exposed provenance at `start`.
        let chunk =
            NonNull::new(ptr::with_exposed_provenance_mut::<u8>(start)).ok_or(AllocError::NoMemory)?;
        Ok((chunk, size))
    }

    /// Gives a chunk of [`alloc_chunk`](Self::alloc_chunk) back to the source.
    ///
    /// # Safety
    ///
    /// `(chunk, size)` is exactly what `alloc_chunk` of this allocator
    /// returned, not given back yet, and nothing uses it any more.
    pub unsafe fn dealloc_chunk(&self, chunk: NonNull<u8>, size: usize) {
        // SAFETY: the caller's contract: the source's own chunk of `size`.
        unsafe { self.heap.lock().source_mut().dealloc_chunk(chunk.as_ptr().expose_provenance(), size) }
    }

    /// Whether the chunks of [`alloc_chunk`](Self::alloc_chunk) come
    /// zero-filled ([`PageSource::zeroed`]: `MmapSource` says yes).
    pub fn source_zeroed(&self) -> bool {
        self.heap.lock().source().zeroed()
    }

    /// The fork protocol, step 1 (a `pthread_atfork` *prepare* handler):
    /// takes the heap's lock and keeps it, so no other thread is inside the
    /// heap when the process forks and the child's copy of the heap is
    /// consistent.
    ///
    /// Until [`fork_parent`](Self::fork_parent) or
    /// [`fork_child`](Self::fork_child), every other use of this allocator
    /// waits (by this thread too: it would deadlock).
    ///
    /// # Safety
    ///
    /// The calling thread does not hold the lock already, allocates nothing
    /// through this allocator until it calls `fork_parent` (in the parent) or
    /// `fork_child` (in the child), and calls exactly one of them, once, in
    /// each process after the fork (or `fork_parent` if the fork failed).
    pub unsafe fn fork_prepare(&self) {
        // SAFETY: locking the raw mutex is what `lock` does; the guard's job
        // (the unlock) is done by `fork_parent`/`fork_child` (caller's
        // contract).
        unsafe { self.heap.raw() }.lock();
    }

    /// The fork protocol, step 2 in the parent (a `pthread_atfork` *parent*
    /// handler): releases the lock [`fork_prepare`](Self::fork_prepare)
    /// took.
    ///
    /// # Safety
    ///
    /// This thread called `fork_prepare` and has not released the lock since.
    pub unsafe fn fork_parent(&self) {
        // SAFETY: the lock is held by this thread's `fork_prepare` (caller's
        // contract) and no guard exists for it.
        unsafe { self.heap.force_unlock() }
    }

    /// The fork protocol, step 2 in the child (a `pthread_atfork` *child*
    /// handler): releases the lock the parent's
    /// [`fork_prepare`](Self::fork_prepare) took before the fork. The child
    /// has one thread, the forking one, and the heap as it was when the lock
    /// was taken: consistent, no operation half done.
    ///
    /// A lock whose state names its owner thread must accept this unlock
    /// from the same thread in the child (spin locks and `IrqSafeSpin` do:
    /// they hold one flag).
    ///
    /// # Safety
    ///
    /// Called in the child of a fork made after `fork_prepare`, once, before
    /// anything else uses this allocator there.
    pub unsafe fn fork_child(&self) {
        // SAFETY: the lock was taken by `fork_prepare` before the fork and
        // copied held into the child, where no guard exists for it.
        unsafe { self.heap.force_unlock() }
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
        unsafe { self.heap.lock().source_mut().page_allocator_mut().init(start, size) }
    }

    /// Adds `[start, start + size)` to the page allocator (through its
    /// `add_memory`).
    ///
    /// # Safety
    ///
    /// As for [`init_pages`](Self::init_pages).
    pub unsafe fn add_page_memory(&self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is `add_memory`'s.
        unsafe { self.heap.lock().source_mut().page_allocator_mut().add_memory(start, size) }
    }

    /// Allocates `num_pages` contiguous pages aligned to `align` bytes from
    /// the page allocator (see [`PageAllocator::alloc_pages`]).
    pub fn alloc_pages(&self, num_pages: usize, align: usize) -> AllocResult<usize> {
        let mut heap = self.heap.lock();
        match heap.source_mut().page_allocator_mut().alloc_pages(num_pages, align) {
            // Before a page request fails, the heap gives its free chunks back.
            Err(AllocError::NoMemory) if heap.trim() > 0 => {
                heap.source_mut().page_allocator_mut().alloc_pages(num_pages, align)
            }
            result => result,
        }
    }

    /// Allocates `num_pages` pages at exactly `base` (see
    /// [`PageAllocator::alloc_pages_at`]).
    pub fn alloc_pages_at(&self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        let mut heap = self.heap.lock();
        match heap.source_mut().page_allocator_mut().alloc_pages_at(base, num_pages, align) {
            Err(AllocError::NoMemory) if heap.trim() > 0 => {
                heap.source_mut().page_allocator_mut().alloc_pages_at(base, num_pages, align)
            }
            result => result,
        }
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
        unsafe { self.heap.lock().source_mut().page_allocator_mut().dealloc_pages(pos, num_pages) }
    }

    /// The number of pages the page allocator manages.
    pub fn total_pages(&self) -> usize {
        self.heap.lock().source().page_allocator().total_pages()
    }

    /// The number of pages allocated (the heap's included).
    pub fn used_pages(&self) -> usize {
        self.heap.lock().source().page_allocator().used_pages()
    }

    /// The number of pages free.
    pub fn available_pages(&self) -> usize {
        self.heap.lock().source().page_allocator().available_pages()
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> fmt::Debug for GlobalAllocator<B, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalAllocator")
            .field("policy", &self.policy())
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
