//! The heap behind the C functions: the [`CHeap`] trait and its
//! implementation for [`GlobalAllocator`].

use core::{
    alloc::{GlobalAlloc, Layout},
    ptr::NonNull,
};

use allocator_global::{ByteAllocator, CpuId, GlobalAllocator, PageSource, PerCpu};

/// Blocks of at least this many bytes are chunks of their own straight from
/// a [`GlobalAllocator`]'s page source (when it has room): 256 KiB, twice
/// glibc's initial mmap threshold (glibc raises its own up to 32 MiB as
/// such blocks are freed; this one stays).
pub const DEFAULT_DIRECT_THRESHOLD: usize = 256 << 10;

/// A chunk taken straight from the page source for one huge block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Its start.
    pub start: NonNull<u8>,
    /// Its size in bytes (what [`CHeap::dealloc_chunk`] gets back).
    pub size: usize,
    /// Whether every byte of it is zero (fresh from a zero-filling source):
    /// `calloc` then writes nothing.
    pub zeroed: bool,
}

/// A heap the C functions of [`c`](crate::c) (and [`c_malloc!`](crate::c_malloc))
/// allocate from: a shared (`Sync`) allocator with layouts, as
/// [`GlobalAlloc`](core::alloc::GlobalAlloc), plus what a C library needs
/// besides (a block's usable size, huge blocks straight from a page source).
///
/// Implemented for every [`GlobalAllocator`] and every [`PerCpu`] cache
/// layer over one; a kernel may implement it for its own heap.
///
/// # Safety
///
/// An implementation promises what the C functions hand to C code: a block
/// of [`alloc`](Self::alloc) or [`realloc`](Self::realloc) is aligned to its
/// layout's alignment and is valid, writable memory of at least
/// [`usable_size`](Self::usable_size) bytes that overlaps no other live block
/// or chunk, until it is freed; `realloc` keeps the contents as
/// [`ByteAllocator::realloc`] does; a [`Chunk`] of
/// [`alloc_chunk`](Self::alloc_chunk) is valid, writable memory of `size`
/// bytes, overlapping nothing live, zero-filled if `zeroed` says so. Every
/// method may be called from several threads at once.
pub unsafe trait CHeap: Sync {
    /// Allocates a block for `layout` (`None` when out of memory).
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this heap with `layout` (for `realloc`:
    /// the old alignment and the new size).
    unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a block to `new_size` bytes, same alignment; `None` leaves the
    /// block untouched and live.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    unsafe fn realloc(&self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>>;

    /// The bytes the block really holds, at least `layout.size()` (the
    /// provided implementation says exactly that).
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    unsafe fn usable_size(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        let _ = ptr;
        layout.size()
    }

    /// Blocks of this many bytes or more are asked of
    /// [`alloc_chunk`](Self::alloc_chunk) first. The provided implementation
    /// says `usize::MAX` (never).
    fn direct_threshold(&self) -> usize {
        usize::MAX
    }

    /// A chunk of at least `size` bytes aligned to at least `align` for one
    /// huge block, or `None` (the provided implementation: the block then
    /// comes from [`alloc`](Self::alloc)).
    fn alloc_chunk(&self, size: usize, align: usize) -> Option<Chunk> {
        let _ = (size, align);
        None
    }

    /// Gives a chunk back.
    ///
    /// # Safety
    ///
    /// `(start, size)` is a live chunk of [`alloc_chunk`](Self::alloc_chunk)
    /// of this heap (its `start` and `size`), given back once.
    unsafe fn dealloc_chunk(&self, start: NonNull<u8>, size: usize) {
        let _ = (start, size);
    }
}

// SAFETY: blocks come from the `GlobalAllocator`, whose `ByteAllocator`
// engine promises aligned, valid, disjoint blocks of `usable_size` bytes;
// chunks come straight from its `PageSource` (valid memory nobody else uses,
// zero-filled when `zeroed()` says so, by that `unsafe trait`'s promise),
// never handed to the engine, and their alignment is checked here.
unsafe impl<B, S, R> CHeap for GlobalAllocator<B, S, R>
where
    B: ByteAllocator + Send,
    S: PageSource + Send,
    R: lock_api::RawMutex + Sync,
{
    #[inline]
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.alloc_block(layout).ok()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract is `dealloc_block`'s.
        unsafe { self.dealloc_block(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller's contract is `realloc_block`'s.
        unsafe { self.realloc_block(ptr, layout, new_size) }.ok()
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        // SAFETY: the caller's contract.
        unsafe { GlobalAllocator::usable_size(self, ptr, layout) }
    }

    fn direct_threshold(&self) -> usize {
        DEFAULT_DIRECT_THRESHOLD
    }

    fn alloc_chunk(&self, size: usize, align: usize) -> Option<Chunk> {
        let (start, size) = GlobalAllocator::alloc_chunk(self, size).ok()?;
        if start.as_ptr().addr() % align != 0 {
            // SAFETY: the chunk just taken, given back unused.
            unsafe { GlobalAllocator::dealloc_chunk(self, start, size) };
            return None;
        }
        Some(Chunk { start, size, zeroed: self.source_zeroed() })
    }

    unsafe fn dealloc_chunk(&self, start: NonNull<u8>, size: usize) {
        // SAFETY: the caller's contract: a chunk of `alloc_chunk` above,
        // which is `GlobalAllocator::alloc_chunk`'s.
        unsafe { GlobalAllocator::dealloc_chunk(self, start, size) }
    }
}

// SAFETY: blocks come from the per-CPU layer, whose `GlobalAlloc` promise is
// aligned, valid, disjoint blocks (from its shared heap directly or through
// a magazine), with `realloc` keeping the contents; chunks come from its
// shared heap as above. `usable_size` is the provided, exact one.
unsafe impl<B, S, R, C, const CPUS: usize> CHeap for PerCpu<B, S, R, C, CPUS>
where
    B: ByteAllocator + Send,
    S: PageSource + Send,
    R: lock_api::RawMutex + Sync,
    C: CpuId,
{
    #[inline]
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.alloc_block(layout).ok()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract is `dealloc_block`'s.
        unsafe { self.dealloc_block(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller's contract is `GlobalAlloc::realloc`'s (a live
        // block with `layout`; `new_size` forms a layout, else null).
        NonNull::new(unsafe { GlobalAlloc::realloc(self, ptr.as_ptr(), layout, new_size) })
    }

    fn direct_threshold(&self) -> usize {
        DEFAULT_DIRECT_THRESHOLD
    }

    fn alloc_chunk(&self, size: usize, align: usize) -> Option<Chunk> {
        CHeap::alloc_chunk(self.heap(), size, align)
    }

    unsafe fn dealloc_chunk(&self, start: NonNull<u8>, size: usize) {
        // SAFETY: the caller's contract: a chunk of `alloc_chunk` above,
        // which is the shared heap's.
        unsafe { CHeap::dealloc_chunk(self.heap(), start, size) }
    }
}
