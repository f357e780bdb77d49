//! What the `Allocator` bridges share: `AllocatorRc` (one allocator behind a
//! reference-counted cell) and `GlobalAllocator` (one behind a lock) both
//! implement [`SharedByteAllocator`], and [`impl_allocator_api2!`] writes
//! their `allocator_api2::alloc::Allocator` impl (core's `Allocator` on
//! nightly, through allocator-api2's `nightly` feature) from it, once.
//!
//! [`impl_allocator_api2!`]: crate::impl_allocator_api2

use core::{alloc::Layout, ptr::NonNull};

use crate::{AllocResult, move_block};

/// A byte allocator used through a shared reference: the three calls a
/// bridge makes, each taking whatever lock or cell guards the allocator.
///
/// # Safety
///
/// As for [`ByteAllocator`](crate::ByteAllocator): a block returned by
/// [`allocate_block`](Self::allocate_block) or
/// [`reallocate_block`](Self::reallocate_block) is valid for reads and
/// writes of its size, aligned as asked, and overlaps no other live block
/// until it is passed to [`deallocate_block`](Self::deallocate_block) (or
/// reallocated); `reallocate_block` keeps the first `min(old, new)` bytes
/// and leaves the old block allocated when it fails. Safe code (the
/// `Allocator` impl) hands these blocks to collections, so an
/// implementation must be `unsafe impl`:
///
/// ```compile_fail,E0200
/// use allocator_traits::{AllocResult, bridge::SharedByteAllocator};
/// use core::{alloc::Layout, ptr::NonNull};
///
/// struct Liar;
/// impl SharedByteAllocator for Liar {
///     fn allocate_block(&self, _: Layout) -> AllocResult<NonNull<u8>> {
///         Ok(NonNull::dangling())
///     }
///     unsafe fn deallocate_block(&self, _: NonNull<u8>, _: Layout) {}
///     unsafe fn reallocate_block(&self, p: NonNull<u8>, _: Layout, _: usize) -> AllocResult<NonNull<u8>> {
///         Ok(p)
///     }
/// }
/// ```
pub unsafe trait SharedByteAllocator {
    /// Allocates a block for `layout`.
    fn allocate_block(&self, layout: Layout) -> AllocResult<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator allocated for `layout` (or
    /// reallocated to its size with its alignment).
    unsafe fn deallocate_block(&self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a block to `new_size` bytes, keeping `old.align()`.
    ///
    /// # Safety
    ///
    /// As for [`deallocate_block`](Self::deallocate_block), with `old`.
    unsafe fn reallocate_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> AllocResult<NonNull<u8>>;

    /// `grow` and `shrink` of `Allocator`: [`reallocate_block`](Self::reallocate_block)
    /// when the alignment stays (in place where the engine can), else
    /// allocate, copy ([`move_block`]) and free. On error the old block is
    /// untouched.
    ///
    /// # Safety
    ///
    /// As for [`deallocate_block`](Self::deallocate_block), with `old`.
    #[inline]
    unsafe fn resize_block(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> AllocResult<NonNull<u8>> {
        if new.align() == old.align() {
            // SAFETY: the caller's contract; the alignment is kept.
            return unsafe { self.reallocate_block(ptr, old, new.size()) };
        }
        let fresh = self.allocate_block(new)?;
        // SAFETY: `fresh` is a new block of `new.size()` bytes, disjoint from
        // the live block `ptr` of `old.size()` bytes (caller's contract),
        // which is freed with its layout once its contents moved.
        unsafe {
            move_block(ptr, old.size(), fresh, new.size());
            self.deallocate_block(ptr, old);
        }
        Ok(fresh)
    }

    /// `grow_zeroed` of `Allocator`: [`resize_block`](Self::resize_block),
    /// then the bytes past `old.size()` zeroed.
    ///
    /// # Safety
    ///
    /// As for [`resize_block`](Self::resize_block).
    #[inline]
    unsafe fn resize_block_zeroed(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> AllocResult<NonNull<u8>> {
        // SAFETY: the caller's contract.
        let block = unsafe { self.resize_block(ptr, old, new) }?;
        // A shrink has no tail to zero.
        let tail = new.size().saturating_sub(old.size());
        // SAFETY: the block holds `new.size()` bytes; the tail lies after the
        // first `old.size()` of them.
        unsafe { block.add(old.size()).write_bytes(0, tail) };
        Ok(block)
    }
}

/// A block as `Allocator` returns it, a slice of `size` bytes, or `None`
/// for an error (the caller maps it to its `AllocError`).
#[inline]
pub fn block_slice(block: AllocResult<NonNull<u8>>, size: usize) -> Option<NonNull<[u8]>> {
    block.ok().map(|block| NonNull::slice_from_raw_parts(block, size))
}

/// Implements `allocator_api2::alloc::Allocator` for a type that implements
/// [`SharedByteAllocator`]: `impl_allocator_api2!([A: ByteAllocator] AllocatorRc<A>);`
/// (generic parameters in brackets, then the type). The invoking crate
/// depends on `allocator_api2`. Every method is `#[inline]`, so a
/// collection's calls reach the engine without a call through the bridge.
#[macro_export]
macro_rules! impl_allocator_api2 {
    ([$($generics:tt)*] $ty:ty) => {
        // SAFETY: the blocks are `SharedByteAllocator`'s, whose `unsafe`
        // contract is `Allocator`'s: valid, aligned, disjoint blocks that
        // stay valid until deallocated, contents kept by `grow`/`shrink`,
        // the old block kept when they fail.
        unsafe impl<$($generics)*> allocator_api2::alloc::Allocator for $ty {
            #[inline]
            fn allocate(
                &self,
                layout: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, allocator_api2::alloc::AllocError> {
                let block = $crate::bridge::SharedByteAllocator::allocate_block(self, layout);
                $crate::bridge::block_slice(block, layout.size()).ok_or(allocator_api2::alloc::AllocError)
            }

            #[inline]
            unsafe fn deallocate(&self, ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) {
                // SAFETY: `Allocator::deallocate`'s contract is
                // `deallocate_block`'s.
                unsafe { $crate::bridge::SharedByteAllocator::deallocate_block(self, ptr, layout) }
            }

            #[inline]
            unsafe fn grow(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, allocator_api2::alloc::AllocError> {
                // SAFETY: `Allocator::grow`'s contract is `resize_block`'s.
                let block = unsafe { $crate::bridge::SharedByteAllocator::resize_block(self, ptr, old, new) };
                $crate::bridge::block_slice(block, new.size()).ok_or(allocator_api2::alloc::AllocError)
            }

            #[inline]
            unsafe fn grow_zeroed(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, allocator_api2::alloc::AllocError> {
                // SAFETY: `Allocator::grow_zeroed`'s contract is
                // `resize_block_zeroed`'s.
                let block = unsafe { $crate::bridge::SharedByteAllocator::resize_block_zeroed(self, ptr, old, new) };
                $crate::bridge::block_slice(block, new.size()).ok_or(allocator_api2::alloc::AllocError)
            }

            #[inline]
            unsafe fn shrink(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> ::core::result::Result<::core::ptr::NonNull<[u8]>, allocator_api2::alloc::AllocError> {
                // SAFETY: `Allocator::shrink`'s contract is `resize_block`'s.
                let block = unsafe { $crate::bridge::SharedByteAllocator::resize_block(self, ptr, old, new) };
                $crate::bridge::block_slice(block, new.size()).ok_or(allocator_api2::alloc::AllocError)
            }
        }
    };
}
