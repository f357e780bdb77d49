//! The heap behind the C functions: the [`CHeap`] trait and its
//! implementation for [`GlobalAllocator`].

use core::{
    alloc::{GlobalAlloc, Layout},
    ptr::NonNull,
};

use allocator_global::{ByteAllocator, CpuId, GlobalAllocator, PageSource, PerCpu};

use crate::Registry;

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

    /// Whether [`block_size`](Self::block_size) finds the size of every
    /// block of [`alloc`](Self::alloc) and [`realloc`](Self::realloc) from
    /// its address and alignment (the engine's
    /// [`finds_block_sizes`](allocator_traits::ByteAllocator::finds_block_sizes)).
    /// The provided implementation says `false`.
    fn finds_block_sizes(&self) -> bool {
        false
    }

    /// The size of a live block found from its address and the alignment
    /// it was allocated with: at least the size asked for, every byte the
    /// caller's, and `(size, align)` may stand for its layout in
    /// [`dealloc`](Self::dealloc), [`realloc`](Self::realloc) and
    /// [`usable_size`](Self::usable_size). `None` where the heap cannot
    /// find it (the provided implementation).
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this heap, allocated with alignment
    /// `align`.
    unsafe fn block_size(&self, ptr: NonNull<u8>, align: usize) -> Option<usize> {
        let _ = (ptr, align);
        None
    }

    /// Frees a live block without its size, the heap finding it; `false`
    /// (nothing freed) when it cannot. The provided implementation is
    /// [`block_size`](Self::block_size) then [`dealloc`](Self::dealloc).
    ///
    /// # Safety
    ///
    /// As for [`block_size`](Self::block_size); when this returns `true`,
    /// the block is freed.
    unsafe fn dealloc_unsized(&self, ptr: NonNull<u8>, align: usize) -> bool {
        // SAFETY: the caller's contract.
        let Some(size) = (unsafe { self.block_size(ptr, align) }) else { return false };
        let Ok(layout) = Layout::from_size_align(size, align) else { return false };
        // SAFETY: `(size, align)` stands for the block's layout
        // (`block_size`'s promise).
        unsafe { self.dealloc(ptr, layout) };
        true
    }

    /// The registry of the blocks [`block_size`](Self::block_size) cannot
    /// size (huge chunks, blocks aligned beyond 16), with which the C
    /// functions keep no header before any block when
    /// [`finds_block_sizes`](Self::finds_block_sizes) too; `None` (the
    /// provided implementation) puts a 16-byte header before every block.
    /// [`CMalloc`] provides one.
    fn registry(&self) -> Option<&Registry> {
        None
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

    fn finds_block_sizes(&self) -> bool {
        B::finds_block_sizes()
    }

    unsafe fn block_size(&self, ptr: NonNull<u8>, align: usize) -> Option<usize> {
        // SAFETY: the caller's contract is `GlobalAllocator::block_size`'s.
        unsafe { GlobalAllocator::block_size(self, ptr, align) }
    }

    #[inline]
    unsafe fn dealloc_unsized(&self, ptr: NonNull<u8>, align: usize) -> bool {
        // SAFETY: the caller's contract is `GlobalAllocator::dealloc_unsized`'s.
        unsafe { GlobalAllocator::dealloc_unsized(self, ptr, align) }
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

/// A heap for the C functions with no header before any block: `H`, whose
/// engine finds a block's size from its address
/// ([`CHeap::finds_block_sizes`]), and the [`Registry`] of the blocks it
/// cannot size (huge chunks, blocks aligned beyond 16). Over a heap that
/// does not find sizes, the functions keep their 16-byte header, as over
/// `H` alone.
///
/// It dereferences to `H` and forwards [`GlobalAlloc`] to it, so one
/// `static` serves Rust (as the `#[global_allocator]`) and C.
pub struct CMalloc<H> {
    heap: H,
    registry: Registry,
}

impl<H> CMalloc<H> {
    /// The C heap over `heap`.
    pub const fn new(heap: H) -> Self {
        Self { heap, registry: Registry::new() }
    }

    /// The heap.
    pub fn heap(&self) -> &H {
        &self.heap
    }
}

impl<H> core::ops::Deref for CMalloc<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.heap
    }
}

impl<H: core::fmt::Debug> core::fmt::Debug for CMalloc<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CMalloc").field("heap", &self.heap).field("registry", &self.registry).finish()
    }
}

/// The fork protocol over a [`GlobalAllocator`]: the registry's lock, then
/// the heap's.
impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex> CMalloc<GlobalAllocator<B, S, R>> {
    /// Before `fork`: takes the registry's lock, then the heap's
    /// ([`GlobalAllocator::fork_prepare`]).
    ///
    /// # Safety
    ///
    /// As for [`GlobalAllocator::fork_prepare`]: followed, in this thread,
    /// by [`fork_parent`](Self::fork_parent) (and, in the child,
    /// [`fork_child`](Self::fork_child)).
    pub unsafe fn fork_prepare(&self) {
        self.registry.lock_for_fork();
        // SAFETY: the caller's contract.
        unsafe { self.heap.fork_prepare() };
    }

    /// After `fork`, in the parent: releases both locks.
    ///
    /// # Safety
    ///
    /// [`fork_prepare`](Self::fork_prepare) ran in this thread before the
    /// `fork`.
    pub unsafe fn fork_parent(&self) {
        // SAFETY: the caller's contract: both locks are held by this thread.
        unsafe {
            self.heap.fork_parent();
            self.registry.unlock_after_fork();
        }
    }

    /// After `fork`, in the child: releases both locks (the child's copies).
    ///
    /// # Safety
    ///
    /// As for [`fork_parent`](Self::fork_parent), in the child.
    pub unsafe fn fork_child(&self) {
        // SAFETY: the caller's contract: the child's copies of both locks
        // are held by its only thread.
        unsafe {
            self.heap.fork_child();
            self.registry.unlock_after_fork();
        }
    }
}

// SAFETY: every method but `registry` is `H`'s, whose promise this repeats;
// the registry only decides which of `H`'s methods the C functions call.
unsafe impl<H: CHeap> CHeap for CMalloc<H> {
    #[inline]
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.alloc(layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { self.heap.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller's contract.
        unsafe { self.heap.realloc(ptr, layout, new_size) }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, layout: Layout) -> usize {
        // SAFETY: the caller's contract.
        unsafe { self.heap.usable_size(ptr, layout) }
    }

    #[inline]
    fn finds_block_sizes(&self) -> bool {
        self.heap.finds_block_sizes()
    }

    unsafe fn block_size(&self, ptr: NonNull<u8>, align: usize) -> Option<usize> {
        // SAFETY: the caller's contract.
        unsafe { self.heap.block_size(ptr, align) }
    }

    #[inline]
    unsafe fn dealloc_unsized(&self, ptr: NonNull<u8>, align: usize) -> bool {
        // SAFETY: the caller's contract.
        unsafe { self.heap.dealloc_unsized(ptr, align) }
    }

    #[inline]
    fn registry(&self) -> Option<&Registry> {
        Some(&self.registry)
    }

    fn direct_threshold(&self) -> usize {
        self.heap.direct_threshold()
    }

    fn alloc_chunk(&self, size: usize, align: usize) -> Option<Chunk> {
        self.heap.alloc_chunk(size, align)
    }

    unsafe fn dealloc_chunk(&self, start: NonNull<u8>, size: usize) {
        // SAFETY: the caller's contract.
        unsafe { self.heap.dealloc_chunk(start, size) }
    }
}

// SAFETY: every method is `H`'s, whose `GlobalAlloc` promise this repeats.
unsafe impl<H: GlobalAlloc> GlobalAlloc for CMalloc<H> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { self.heap.alloc(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { self.heap.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { self.heap.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { self.heap.realloc(ptr, layout, new_size) }
    }
}
