//! `GlobalAllocator` as `GlobalAlloc` (a `#[global_allocator]`) and as
//! `allocator_api2`'s `Allocator` (through the shared bridge of
//! `allocator-traits`).

use core::{
    alloc::{GlobalAlloc, Layout},
    ptr::{self, NonNull},
};

use allocator_traits::{AllocResult, ByteAllocator};

use crate::{GlobalAllocator, PageSource, emergency};

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
// `&GlobalAllocator` user, outlives them); `realloc_block` preserves contents
// and leaves the old block allocated on failure.
unsafe impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex>
    allocator_traits::bridge::SharedByteAllocator for GlobalAllocator<B, S, R>
{
    #[inline]
    fn allocate_block(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        self.alloc_block(layout)
    }

    #[inline]
    unsafe fn deallocate_block(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract is `dealloc_block`'s.
        unsafe { self.dealloc_block(ptr, layout) }
    }

    #[inline]
    unsafe fn reallocate_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> AllocResult<NonNull<u8>> {
        // SAFETY: the caller's contract is `realloc_block`'s.
        unsafe { self.realloc_block(ptr, old, new_size) }
    }
}

allocator_traits::impl_allocator_api2!(
    [B: ByteAllocator, S: PageSource, R: lock_api::RawMutex] GlobalAllocator<B, S, R>
);
