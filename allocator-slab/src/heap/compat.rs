//! The constructors and calls of the original `slab_allocator` crate's
//! heap, kept with its shape (`Heap::new`, `allocate`, `deallocate`) over
//! the same engine.

use core::alloc::Layout;

use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{
    AllocError, AllocResult, ByteAllocator,
    region::{addr_to_ptr, align_down, align_up, region_end},
};

use super::{HEAP_ALIGN, Heap, MIN_HEAP_SIZE};
use crate::classes::SizeClasses;

/// Checks a region against the rules of [`Heap::new`] after trimming it:
/// start rounded up to [`HEAP_ALIGN`], size rounded down to a multiple of
/// [`MIN_HEAP_SIZE`].
pub(super) fn trimmed_heap_region(start: usize, size: usize) -> AllocResult<(usize, usize)> {
    let end = region_end(start, size)?;
    let start = align_up(start, HEAP_ALIGN).ok_or(AllocError::InvalidParam)?;
    if start == 0 || end <= start {
        return Err(AllocError::InvalidParam);
    }
    let size = align_down(end - start, MIN_HEAP_SIZE);
    if size < MIN_HEAP_SIZE {
        return Err(AllocError::InvalidParam);
    }
    Ok((start, size))
}

impl Heap<TlsfByteAllocator> {
    /// A heap over `[start, start + size)`, with the default backing
    /// allocator, [`TlsfByteAllocator`].
    ///
    /// # Panics
    ///
    /// As documented by the original crate: if `start` is not aligned to
    /// [`HEAP_ALIGN`] (4096), if `size` is smaller than [`MIN_HEAP_SIZE`]
    /// or not a multiple of it, or if the region wraps around the address
    /// space. [`try_new`](Self::try_new) returns an error instead.
    ///
    /// # Safety
    ///
    /// `[start, start + size)` is valid, writable memory, used by nothing
    /// else, that outlives the heap and every block it hands out; `start`
    /// carries exposed provenance (for example
    /// `slice.as_mut_ptr().expose_provenance()`).
    pub unsafe fn new(start: usize, size: usize) -> Self {
        assert!(
            start % HEAP_ALIGN == 0,
            "Heap::new: the start address {start:#x} is not aligned to 4096 bytes"
        );
        assert!(
            size >= MIN_HEAP_SIZE,
            "Heap::new: the size {size:#x} is below the minimum heap size {MIN_HEAP_SIZE:#x}"
        );
        assert!(
            size % MIN_HEAP_SIZE == 0,
            "Heap::new: the size {size:#x} is not a multiple of the minimum heap size {MIN_HEAP_SIZE:#x}"
        );
        assert!(start.checked_add(size).is_some(), "Heap::new: the region {start:#x} + {size:#x} overflows");
        // SAFETY: the caller's contract.
        match unsafe { Self::try_new(start, size) } {
            Ok(heap) => heap,
            Err(err) => {
                panic!("Heap::new: the backing allocator refused the region {start:#x} + {size:#x}: {err}")
            }
        }
    }

    /// A heap over `[start, start + size)` trimmed to the rules of
    /// [`new`](Self::new): the start rounded up to [`HEAP_ALIGN`], the size
    /// rounded down to a multiple of [`MIN_HEAP_SIZE`]. The default backing
    /// allocator, [`TlsfByteAllocator`], manages the trimmed region.
    ///
    /// [`AllocError::InvalidParam`] if the region wraps around the address
    /// space, starts at address 0, or is too small once trimmed; otherwise
    /// the backing allocator's error, if it refuses the region.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new).
    pub unsafe fn try_new(start: usize, size: usize) -> AllocResult<Self> {
        // SAFETY: the caller's contract.
        unsafe { Self::try_new_in(start, size, TlsfByteAllocator::new()) }
    }
}

impl<B: ByteAllocator> Heap<B> {
    /// A heap of the default size classes, [`FineClasses`](crate::FineClasses), in front of
    /// `backing`, which may already manage memory; more is added with
    /// [`add_memory`](Self::add_memory). Other tables:
    /// [`with_classes`](Heap::with_classes).
    pub const fn with_backing(backing: B) -> Self {
        Self::with_classes(backing)
    }

    /// A heap of the default size classes over `[start, start + size)`,
    /// trimmed as by [`try_new`](Heap::try_new), managed by `backing` (which
    /// is handed the trimmed region through [`BaseAllocator::init`]). Other
    /// tables: [`try_new_with_classes`](Heap::try_new_with_classes).
    ///
    /// Errors as for [`try_new`](Heap::try_new).
    ///
    /// # Safety
    ///
    /// As for [`new`](Heap::new).
    ///
    /// [`BaseAllocator::init`]: allocator_traits::BaseAllocator::init
    pub unsafe fn try_new_in(start: usize, size: usize, backing: B) -> AllocResult<Self> {
        // SAFETY: the caller's contract.
        unsafe { Self::try_new_with_classes(start, size, backing) }
    }
}

impl<B: ByteAllocator, C: SizeClasses> Heap<B, C> {
    /// Allocates a block for `layout` and returns its address (with its
    /// provenance exposed); the shape of the original crate.
    /// [`alloc`](Self::alloc) returns a pointer.
    pub fn allocate(&mut self, layout: Layout) -> AllocResult<usize> {
        self.alloc(layout).map(|block| block.as_ptr().expose_provenance())
    }

    /// Frees the block at address `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by [`allocate`](Self::allocate) of this heap with
    /// this `layout` and has not been freed since.
    pub unsafe fn deallocate(&mut self, ptr: usize, layout: Layout) {
        if let Some(block) = addr_to_ptr(ptr) {
            // SAFETY: the caller's contract; `allocate` exposed the block's
            // provenance, which `addr_to_ptr` picks up.
            unsafe { self.dealloc(block, layout) }
        }
    }
}
