//! [`BitmapIdAllocator`]: unique integer IDs from a bitmap.

use allocator_traits::{AllocError, AllocResult, BaseAllocator, IdAllocator, Region};
use bitmap_allocator::{BitAlloc, BitAlloc64K};

use crate::window::{Seg, Window};

/// An ID allocator (thread IDs, ASIDs, IRQ numbers, ...) over a
/// `bitmap-allocator` bitmap: contiguous and aligned ranges, fixed IDs.
///
/// [`init`](BaseAllocator::init)`(start, size)` manages the IDs `[start,
/// start + size)`; [`add_memory`](BaseAllocator::add_memory) adds more ranges
/// in any order. The capacity is the bitmap type `B` ([`BitAlloc64K`], 65,536
/// IDs, by default; [`BitAlloc256`](bitmap_allocator::BitAlloc256),
/// [`BitAlloc4K`](bitmap_allocator::BitAlloc4K) and
/// [`BitAlloc1M`](bitmap_allocator::BitAlloc1M) are the other usual choices,
/// through [`with_bitmap`](Self::with_bitmap)): the span from the lowest to the
/// highest managed ID must fit in `B::CAP` IDs; a range that would make it
/// larger is [`AllocError::InvalidParam`].
///
/// A range of IDs never spans two of the managed ranges, even adjacent ones.
/// Alignment is absolute: `alloc_id(n, align)` returns a multiple of
/// `align`, wherever the managed range starts.
///
/// ```
/// use allocator_bitmap::BitmapIdAllocator;
/// use allocator_traits::{BaseAllocator, IdAllocator};
///
/// let mut asids = BitmapIdAllocator::new();
/// // SAFETY: an ID range has no memory-safety requirement.
/// unsafe { asids.init(1, 255) }.unwrap(); // ASID 0 is the kernel's
/// assert_eq!(asids.alloc_id(1, 1), Ok(1));
/// assert_eq!(asids.alloc_id(4, 4), Ok(4));
/// assert_eq!(asids.alloc_fixed_id(200), Ok(()));
/// assert!(asids.is_allocated(200));
/// asids.dealloc_id(4, 4);
/// assert_eq!(asids.used(), 2);
/// ```
pub struct BitmapIdAllocator<B: BitAlloc = BitAlloc64K> {
    window: Window<Seg<B>>,
}

impl BitmapIdAllocator {
    /// An allocator of up to 65,536 IDs, managing none yet; give it a range
    /// with [`init`](BaseAllocator::init).
    pub const fn new() -> Self {
        Self::with_bitmap()
    }
}

impl Default for BitmapIdAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: BitAlloc> BitmapIdAllocator<B> {
    /// An allocator of up to `B::CAP` IDs, managing none yet.
    pub const fn with_bitmap() -> Self {
        Self { window: Window::new() }
    }

    /// The most IDs this allocator can manage (`B::CAP`).
    pub const CAPACITY: usize = B::CAP;

    /// The managed ID ranges, in the order they were added.
    pub fn ranges(&self) -> impl Iterator<Item = &Region> + '_ {
        self.window.regions()
    }

    fn add_range(&mut self, start: usize, size: usize) -> AllocResult {
        let range = Region::new(start, size)?;
        if range.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        self.window.check_new(&range)?;
        self.window.add(range)
    }
}

impl<B: BitAlloc> core::fmt::Debug for BitmapIdAllocator<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BitmapIdAllocator")
            .field("capacity", &B::CAP)
            .field("size", &self.window.total())
            .field("used", &self.window.used())
            .finish()
    }
}

impl<B: BitAlloc> BaseAllocator for BitmapIdAllocator<B> {
    /// Manages the IDs `[start, start + size)`.
    ///
    /// [`AllocError::InvalidParam`] for `size == 0`, an overflowing end, or
    /// more than `B::CAP` IDs. Calling `init` on an allocator that already
    /// manages IDs is [`AllocError::MemoryOverlap`] if the ranges overlap,
    /// [`AllocError::InvalidParam`] otherwise.
    ///
    /// # Safety
    ///
    /// None: IDs are not memory. (The trait method is `unsafe` for memory
    /// allocators.)
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.window.is_empty() {
            self.window.check_new(&Region::new(start, size)?)?;
            return Err(AllocError::InvalidParam);
        }
        self.add_range(start, size)
    }

    /// Adds the IDs `[start, start + size)`, in any order.
    ///
    /// [`AllocError::MemoryOverlap`] if they overlap managed IDs;
    /// [`AllocError::InvalidParam`] for `size == 0`, an overflowing end, or a
    /// span from the lowest to the highest managed ID above `B::CAP`;
    /// [`AllocError::NoMemory`] if [`MAX_REGIONS`](crate::MAX_REGIONS) ranges
    /// are already managed.
    ///
    /// # Safety
    ///
    /// None, as for [`init`](Self::init).
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.add_range(start, size)
    }
}

impl<B: BitAlloc> IdAllocator for BitmapIdAllocator<B> {
    /// Allocates `count` contiguous free IDs, the first a multiple of
    /// `align_pow2`: the lowest such range.
    ///
    /// [`AllocError::InvalidParam`] for `count == 0` or an `align_pow2` that
    /// is not a power of two; [`AllocError::NoMemory`] if no range fits.
    fn alloc_id(&mut self, count: usize, align_pow2: usize) -> AllocResult<usize> {
        if count == 0 || !align_pow2.is_power_of_two() {
            return Err(AllocError::InvalidParam);
        }
        self.window.alloc(count, align_pow2)
    }

    /// Frees the allocated IDs of `[start_id, start_id + count)`; IDs that
    /// are free or not managed are ignored.
    fn dealloc_id(&mut self, start_id: usize, count: usize) {
        self.window.dealloc_each(start_id, count);
    }

    fn is_allocated(&self, id: usize) -> bool {
        self.window.is_allocated(id)
    }

    /// Marks `id` allocated: [`AllocError::InvalidParam`] if it is not
    /// managed, [`AllocError::NoMemory`] if it is already allocated.
    fn alloc_fixed_id(&mut self, id: usize) -> AllocResult {
        self.window.alloc_at(id, 1).map(|_| ())
    }

    fn size(&self) -> usize {
        self.window.total()
    }

    fn used(&self) -> usize {
        self.window.used()
    }

    fn available(&self) -> usize {
        self.window.total() - self.window.used()
    }
}
