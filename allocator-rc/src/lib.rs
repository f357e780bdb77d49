//! [`AllocatorRc`]: any [`ByteAllocator`] as an
//! [`Allocator`](allocator_api2::alloc::Allocator), so collections can live
//! in it.
//!
//! On stable the trait is `allocator_api2::alloc::Allocator` (allocator-api2
//! 0.2, the version hashbrown uses), so `allocator_api2::vec::Vec::new_in` and
//! `hashbrown::HashMap::new_in` work. With the `nightly` feature
//! allocator-api2 re-exports `core::alloc::Allocator`, so the very same impl
//! makes `Vec::new_in(rc.clone())` and `BTreeMap::new_in(rc.clone())` of the
//! standard library work.
//!
//! ```
//! # #![cfg_attr(feature = "nightly", feature(allocator_api))]
//! use allocator_api2::vec::Vec;
//! use allocator_rc::AllocatorRc;
//! use allocator_tlsf::TlsfByteAllocator;
//!
//! let pool: &'static mut [u8] = std::vec![0u8; 1 << 20].leak();
//! let rc = AllocatorRc::new(TlsfByteAllocator::new(), pool).unwrap();
//! let mut v = Vec::new_in(rc.clone());
//! v.extend(0..1000u32);
//! assert!(rc.used_bytes() >= 4000);
//! drop(v);
//! assert_eq!(rc.used_bytes(), 0);
//! ```
//!
//! `grow` and `shrink` go through [`ByteAllocator::realloc`], so a backend that
//! resizes in place does so for a growing `Vec` too.
//!
//! A collection can also borrow the handle: allocator-api2 implements
//! `Allocator` for `&A`, so `Vec::new_in(&rc)` works for a collection that
//! does not outlive `rc`, and spares the reference count that every
//! `rc.clone()` and every drop of a collection updates.
#![no_std]
#![cfg_attr(feature = "nightly", feature(allocator_api))]
#![deny(missing_docs)]

extern crate alloc;

use alloc::rc::Rc;
use core::{alloc::Layout, cell::RefCell, mem::ManuallyDrop, ptr::NonNull};

use allocator_traits::{AllocError, bridge::SharedByteAllocator};
use allocator_traits::{AllocResult, ByteAllocator};

/// A byte allocator shared by reference counting, usable as an
/// [`Allocator`](allocator_api2::alloc::Allocator). Cloning it clones the handle, not the heap.
///
/// It is single-threaded (`Rc<RefCell<_>>`), like the collections it serves;
/// for a heap shared between threads use `allocator-global`.
pub struct AllocatorRc<A: ByteAllocator>(ManuallyDrop<Rc<RefCell<A>>>);

/// A snapshot of the inner allocator's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// [`ByteAllocator::total_bytes`].
    pub total_bytes: usize,
    /// [`ByteAllocator::used_bytes`].
    pub used_bytes: usize,
    /// [`ByteAllocator::available_bytes`].
    pub available_bytes: usize,
}

impl<A: ByteAllocator> AllocatorRc<A> {
    /// Initialises `inner` with `pool` and wraps it.
    ///
    /// The pool is `'static` because blocks handed out may outlive any shorter
    /// borrow (a leaked `Vec`, a `static` array). Errors from
    /// [`BaseAllocator::init`](allocator_traits::BaseAllocator::init) (a pool
    /// too small or already managed) are returned.
    ///
    /// # Errors
    ///
    /// The inner allocator's `init` errors.
    ///
    /// # Examples
    ///
    /// A `Vec` in a TLSF heap: the [crate] documentation.
    ///
    /// A pool that does not live forever is refused at compile time: blocks
    /// could outlive it.
    ///
    /// ```compile_fail,E0597
    /// use allocator_rc::AllocatorRc;
    /// use allocator_tlsf::TlsfByteAllocator;
    ///
    /// let mut buffer = [0u8; 4096];
    /// let heap = AllocatorRc::new(TlsfByteAllocator::new(), &mut buffer);
    /// ```
    pub fn new(mut inner: A, pool: &'static mut [u8]) -> AllocResult<Self> {
        let start = pool.as_mut_ptr().expose_provenance();
        // SAFETY: `pool` is an exclusive `'static` borrow: valid, writable,
        // used by nothing else, and it outlives the allocator; its address is
        // exposed just above.
        unsafe { inner.init(start, pool.len())? };
        Ok(Self::from(inner))
    }

    /// The inner allocator's statistics.
    pub fn stats(&self) -> Stats {
        let inner = self.0.borrow();
        Stats {
            total_bytes: inner.total_bytes(),
            used_bytes: inner.used_bytes(),
            available_bytes: inner.available_bytes(),
        }
    }

    /// [`ByteAllocator::total_bytes`] of the inner allocator.
    pub fn total_bytes(&self) -> usize {
        self.0.borrow().total_bytes()
    }

    /// [`ByteAllocator::used_bytes`] of the inner allocator.
    pub fn used_bytes(&self) -> usize {
        self.0.borrow().used_bytes()
    }

    /// [`ByteAllocator::available_bytes`] of the inner allocator.
    pub fn available_bytes(&self) -> usize {
        self.0.borrow().available_bytes()
    }

    /// The inner allocator, if this is the last handle; otherwise the handle
    /// back.
    pub fn try_into_inner(self) -> Result<A, Self> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the `Rc` is
        // taken out exactly once.
        let rc = unsafe { ManuallyDrop::take(&mut this.0) };
        Rc::try_unwrap(rc).map(RefCell::into_inner).map_err(|rc| Self(ManuallyDrop::new(rc)))
    }
}

impl<A: ByteAllocator> From<A> for AllocatorRc<A> {
    /// Wraps an allocator the caller has already initialised.
    fn from(inner: A) -> Self {
        Self(ManuallyDrop::new(Rc::new(RefCell::new(inner))))
    }
}

impl<A: ByteAllocator> Clone for AllocatorRc<A> {
    fn clone(&self) -> Self {
        Self(ManuallyDrop::new(Rc::clone(&self.0)))
    }
}

impl<A: ByteAllocator> Drop for AllocatorRc<A> {
    /// Drops the handle's `Rc` after moving it out: `Rc`'s drop hands its
    /// rare last-reference path a pointer to the `Rc`, and pointing into the
    /// handle (a field of every collection in it) would make the compiler
    /// keep the collection's fields in memory in its hot loops (a `Vec`
    /// push loop reloaded its length each push).
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once; the field is not used again.
        drop(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

impl<A: ByteAllocator> core::fmt::Debug for AllocatorRc<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("AllocatorRc").field(&self.stats()).finish()
    }
}

// SAFETY: blocks come from the shared inner allocator (an `unsafe trait
// ByteAllocator`, whose contract is this trait's), which hands out aligned,
// disjoint blocks that stay valid until freed through it; clones share that
// allocator, so a block may be freed through any clone.
unsafe impl<A: ByteAllocator> SharedByteAllocator for AllocatorRc<A> {
    #[inline]
    fn allocate_block(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        // No borrow of the cell outlives a method of this type, so this only
        // fails if the inner allocator itself re-enters: an error, not a panic.
        let mut inner = self.0.try_borrow_mut().map_err(|_| AllocError::NoMemory)?;
        inner.alloc(layout)
    }

    #[inline]
    unsafe fn deallocate_block(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { deallocate_in(&self.0, ptr, layout) }
    }

    #[inline]
    unsafe fn reallocate_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> AllocResult<NonNull<u8>> {
        let mut inner = self.0.try_borrow_mut().map_err(|_| AllocError::NoMemory)?;
        // SAFETY: the caller's contract is `realloc`'s.
        unsafe { inner.realloc(ptr, old, new_size) }
    }
}

/// Frees a block of the allocator in `cell`: out of line, and given the
/// cell (in the `Rc`'s allocation) rather than the handle (inside the
/// collection), so a collection's drop stays a few instructions that the
/// compiler inlines even into an unwinding path, and the collection's
/// fields stay in registers in its hot loops (a `Vec` push loop kept its
/// length in memory otherwise).
///
/// # Safety
///
/// `ptr` is a live block of the allocator in `cell`, allocated for `layout`.
#[inline(never)]
unsafe fn deallocate_in<A: ByteAllocator>(cell: &RefCell<A>, ptr: NonNull<u8>, layout: Layout) {
    // Only a re-entering inner allocator finds the cell borrowed; the block
    // then leaks (safe) instead of the free panicking.
    if let Ok(mut inner) = cell.try_borrow_mut() {
        // SAFETY: the caller's contract is `dealloc`'s.
        unsafe { inner.dealloc(ptr, layout) }
    }
}

allocator_traits::impl_allocator_api2!([A: ByteAllocator] AllocatorRc<A>);
