//! The adapters of the allocators ours are measured against: ax-allocator's
//! backends, talc, raw rlsf, buddy_system_allocator, linked_list_allocator,
//! the system allocator and the bump floor.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    ptr::NonNull,
};

use super::{Contestant, realloc_by_copy};

/// An `ax-allocator` backend, through its own `ByteAllocator` trait (safe
/// `init` that panics on bad input, safe `dealloc`, no `realloc`).
pub struct Ax<A>(A);

impl<A: ax_allocator::ByteAllocator + Default + 'static> Ax<A> {
    /// A fresh `A`, initialised over the region (the direct suite wraps it
    /// as ax's own `AllocatorRc` does).
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub unsafe fn engine(base: NonNull<u8>, size: usize) -> A {
        let mut allocator = A::default();
        // The pool is page-aligned and a multiple of 32 KiB (checked by the
        // CLI), which is all ax's `init` asserts.
        allocator.init(base.as_ptr().expose_provenance(), size);
        allocator
    }

    /// A fresh `A`, initialised over the region.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        // SAFETY: forwarded contract.
        Ok(Box::new(Self(unsafe { Self::engine(base, size) })))
    }
}

impl<A: ax_allocator::ByteAllocator> Contestant for Ax<A> {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.alloc(layout).ok()
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        self.0.dealloc(ptr, layout);
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        unsafe { realloc_by_copy(self, ptr, layout, new_size) }
    }
}

/// talc 5's base allocator over one claimed span (no lock, no source).
pub struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);

impl Talc {
    /// talc, having claimed the region (boxed first: talc's free lists
    /// point back into it).
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub unsafe fn boxed(base: NonNull<u8>, size: usize) -> Result<Box<Self>, String> {
        let mut talc = Box::new(Self(talc::base::Talc::new(talc::source::Manual)));
        // SAFETY: the region is ours alone while talc lives.
        unsafe { talc.0.claim(base.as_ptr(), size) }.ok_or("claim failed")?;
        Ok(talc)
    }

    /// As [`boxed`](Self::boxed), as a `dyn Contestant`.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        // SAFETY: forwarded contract.
        Ok(unsafe { Self::boxed(base, size) }?)
    }
}

impl Contestant for Talc {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: contestants never see zero-size layouts.
        unsafe { self.0.allocate(layout) }
    }
    #[inline]
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.deallocate(ptr.as_ptr(), layout) }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // What `TalcCell`'s `GlobalAlloc::realloc` does: in place if it can.
        // SAFETY: forwarded contract; `new_size` is non-zero.
        if unsafe { self.0.try_realloc_in_place(ptr.as_ptr(), layout, new_size) } {
            return Some(ptr);
        }
        // SAFETY: forwarded contract.
        unsafe { realloc_by_copy(self, ptr, layout, new_size) }
    }
}

/// The rlsf configuration used raw: the same as our TLSF's (u32 bitmaps,
/// 32 first-level by 32 second-level lists).
type RawTlsf = rlsf::Tlsf<'static, u32, u32, 32, 32>;

/// rlsf's `Tlsf`, raw.
pub struct Rlsf(RawTlsf);

impl Rlsf {
    /// rlsf, with the region inserted.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub unsafe fn boxed(base: NonNull<u8>, size: usize) -> Result<Box<Self>, String> {
        let mut tlsf = Box::new(Self(RawTlsf::new()));
        let block = NonNull::slice_from_raw_parts(base, size);
        // SAFETY: the region is ours alone while the allocator lives; its
        // `'static` lifetime is kept by `Instance` borrowing the pool.
        unsafe { tlsf.0.insert_free_block_ptr(block) }.ok_or("pool too small")?;
        Ok(tlsf)
    }

    /// As [`boxed`](Self::boxed), as a `dyn Contestant`.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        // SAFETY: forwarded contract.
        Ok(unsafe { Self::boxed(base, size) }?)
    }
}

impl Contestant for Rlsf {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout)
    }
    #[inline]
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.deallocate(ptr, layout.align()) }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        let new_layout = Layout::from_size_align(new_size, layout.align()).ok()?;
        // SAFETY: forwarded contract.
        unsafe { self.0.reallocate(ptr, new_layout) }
    }
}

/// `buddy_system_allocator::Heap<32>` 0.13, raw.
pub struct BuddySystem(buddy_system_allocator::Heap<32>);

impl BuddySystem {
    /// The heap over the region.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        let mut heap = Box::new(Self(buddy_system_allocator::Heap::new()));
        // SAFETY: the region is ours alone while the heap lives.
        unsafe { heap.0.init(base.as_ptr().expose_provenance(), size) };
        Ok(heap)
    }
}

impl Contestant for BuddySystem {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.alloc(layout).ok()
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        unsafe { realloc_by_copy(self, ptr, layout, new_size) }
    }
}

/// `linked_list_allocator::Heap` 0.10, raw (first fit).
pub struct LinkedList(linked_list_allocator::Heap);

impl LinkedList {
    /// The heap over the region.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        let mut heap = Box::new(Self(linked_list_allocator::Heap::empty()));
        // SAFETY: the region is ours alone while the heap lives.
        unsafe { heap.0.init(base.as_ptr(), size) };
        Ok(heap)
    }
}

impl Contestant for LinkedList {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate_first_fit(layout).ok()
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.deallocate(ptr, layout) }
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        unsafe { realloc_by_copy(self, ptr, layout, new_size) }
    }
}

/// The system allocator (no pool).
pub struct SystemAlloc;

impl SystemAlloc {
    /// The system allocator; the pool is left alone.
    ///
    /// # Safety
    ///
    /// None needed; the signature is [`MakeFn`](super::MakeFn)'s.
    pub(crate) unsafe fn make(_: NonNull<u8>, _: usize) -> Result<Box<dyn Contestant>, String> {
        Ok(Box::new(Self))
    }
}

impl Contestant for SystemAlloc {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { System.alloc(layout) })
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract: `ptr` came from `System.alloc`.
        unsafe { System.dealloc(ptr.as_ptr(), layout) }
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        NonNull::new(unsafe { System.realloc(ptr.as_ptr(), layout, new_size) })
    }
}

/// A bump allocator: hands out memory front to back and never reuses it,
/// except that freeing or resizing the newest block rewinds or moves the top
/// (so probing for the largest block with alloc + free is not destructive,
/// and a growing `Vec` on top grows in place). The cheapest allocator there
/// is: the floor of every time figure.
#[derive(Debug)]
pub struct Bump {
    base: NonNull<u8>,
    size: usize,
    /// Offset of the first free byte.
    next: usize,
    /// Offset of the newest block.
    last: usize,
}

impl Bump {
    /// A bump allocator over `[base, base + size)`.
    pub fn new(base: NonNull<u8>, size: usize) -> Self {
        Self { base, size, next: 0, last: usize::MAX }
    }

    /// The bump allocator over the region.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`](super::MakeFn).
    pub(crate) unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        Ok(Box::new(Self::new(base, size)))
    }

    /// Bytes handed out so far, padding included.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.next
    }
}

impl Contestant for Bump {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let base = self.base.addr().get();
        let start =
            (base.checked_add(self.next)?.checked_add(layout.align() - 1)? & !(layout.align() - 1)) - base;
        let end = start.checked_add(layout.size())?;
        if end > self.size {
            return None;
        }
        self.last = start;
        self.next = end;
        // SAFETY: `start < end <= size`: inside the region.
        Some(unsafe { self.base.add(start) })
    }
    #[inline]
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, _: Layout) {
        if ptr.addr().get().wrapping_sub(self.base.addr().get()) == self.last {
            self.next = self.last;
            self.last = usize::MAX;
        }
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        let offset = ptr.addr().get().wrapping_sub(self.base.addr().get());
        if offset == self.last && offset.checked_add(new_size).is_some_and(|end| end <= self.size) {
            self.next = offset + new_size;
            return Some(ptr);
        }
        // SAFETY: forwarded contract.
        unsafe { realloc_by_copy(self, ptr, layout, new_size) }
    }
}
