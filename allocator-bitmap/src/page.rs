//! [`BitmapPageAllocator`]: page frames from a bitmap.

use allocator_traits::{AllocError, AllocResult, BaseAllocator, PageAllocator, Region};

use crate::{PageBitmap, window::Window};

/// A page-frame allocator over a `bitmap-allocator` bitmap of
/// [`PAGE_CAPACITY`](crate::PAGE_CAPACITY) pages (chosen by the
/// `page-alloc-*` features).
///
/// - **Window.** Bit 0 is the lowest managed page, so the capacity is spent
///   on the span from the lowest to the highest managed page, wherever that
///   lies: every set of regions whose span is at most `PAGE_CAPACITY` pages
///   fits, in any order. A region that would make the span larger is
///   [`AllocError::InvalidParam`]. Pages between regions stay marked used.
/// - **Alignment is absolute.** `alloc_pages(n, align)` returns an address
///   that is a multiple of `align`, whatever the anchor: the search looks for
///   page numbers that are multiples of `align / PAGE_SIZE`. Any power-of-two
///   alignment of at least `PAGE_SIZE` is served (upstream refuses those
///   above 1 GiB); one no free run satisfies is [`AllocError::NoMemory`].
/// - **Regions stay apart.** A run of pages never spans two regions, even
///   adjacent ones: each region is a pool of its own, as in the byte
///   allocators.
/// - **Placement.** Single pages come from the bitmap's own first-free
///   search (O(log n)); runs and aligned pages are the first fit in address
///   order, found by a scan of the bitmap.
/// - **Freeing** a range that is not wholly managed and allocated (a foreign
///   address, a double free) changes nothing: see
///   [`dealloc_pages`](PageAllocator::dealloc_pages).
///
/// `PAGE_SIZE` must be a power of two (checked at compile time). The
/// allocator never reads or writes the memory it manages.
pub struct BitmapPageAllocator<const PAGE_SIZE: usize> {
    window: Window<PageBitmap>,
}

impl<const PAGE_SIZE: usize> BitmapPageAllocator<PAGE_SIZE> {
    const PAGE_SIZE_IS_POWER_OF_TWO: () =
        assert!(PAGE_SIZE.is_power_of_two(), "PAGE_SIZE must be a power of two");

    /// An allocator managing no pages yet; give it memory with
    /// [`init`](BaseAllocator::init).
    pub const fn new() -> Self {
        let () = Self::PAGE_SIZE_IS_POWER_OF_TWO;
        Self { window: Window::new() }
    }

    /// The managed regions as byte ranges (page-aligned), in the order they
    /// were added.
    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        self.window.regions().map(|r| Region { start: r.start * PAGE_SIZE, end: r.end * PAGE_SIZE })
    }

    /// The address of the bitmap's first page (the lowest managed page), if
    /// any memory is managed.
    pub fn window_start(&self) -> Option<usize> {
        self.window.anchor().map(|page| page * PAGE_SIZE)
    }

    /// The regions' pages: `[start, start + size)` trimmed inwards to pages.
    fn add_region(&mut self, start: usize, size: usize) -> AllocResult {
        let raw = Region::new(start, size)?;
        // Overlap is judged on the pages the caller's range touches, before
        // trimming: a range overlapping managed memory is a caller bug.
        let touched = Region { start: raw.start / PAGE_SIZE, end: raw.end.div_ceil(PAGE_SIZE) };
        self.window.check_new(&touched)?;
        let bytes = Region::trimmed(start, size, PAGE_SIZE, PAGE_SIZE)?;
        self.window.add(Region { start: bytes.start / PAGE_SIZE, end: bytes.end / PAGE_SIZE })
    }

    /// Checks `align` (bytes) and returns it in pages.
    fn align_in_pages(align: usize) -> AllocResult<usize> {
        if !align.is_power_of_two() || align < PAGE_SIZE {
            return Err(AllocError::InvalidParam);
        }
        Ok(align / PAGE_SIZE)
    }
}

impl<const PAGE_SIZE: usize> Default for BitmapPageAllocator<PAGE_SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGE_SIZE: usize> core::fmt::Debug for BitmapPageAllocator<PAGE_SIZE> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BitmapPageAllocator")
            .field("page_size", &PAGE_SIZE)
            .field("window_start", &self.window_start())
            .field("total_pages", &self.window.total())
            .field("used_pages", &self.window.used())
            .finish()
    }
}

impl<const PAGE_SIZE: usize> BaseAllocator for BitmapPageAllocator<PAGE_SIZE> {
    /// Manages `[start, start + size)`, trimmed inwards to pages.
    ///
    /// [`AllocError::InvalidParam`] if the end overflows, no whole page is
    /// left, or the region holds more than
    /// [`PAGE_CAPACITY`](crate::PAGE_CAPACITY) pages. Calling `init` on an
    /// allocator that already manages memory is [`AllocError::MemoryOverlap`]
    /// if the region overlaps it, [`AllocError::InvalidParam`] otherwise (use
    /// [`add_memory`](Self::add_memory) for more regions).
    ///
    /// # Safety
    ///
    /// The pages are memory nobody else uses, for as long as the allocator
    /// hands them out. The allocator itself never touches them.
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.window.is_empty() {
            let raw = Region::new(start, size)?;
            self.window
                .check_new(&Region { start: raw.start / PAGE_SIZE, end: raw.end.div_ceil(PAGE_SIZE) })?;
            return Err(AllocError::InvalidParam);
        }
        self.add_region(start, size)
    }

    /// Adds `[start, start + size)`, trimmed inwards to pages, in any address
    /// order (on an empty allocator it is the same as `init`).
    ///
    /// [`AllocError::MemoryOverlap`] if it overlaps managed memory;
    /// [`AllocError::InvalidParam`] if the end overflows, no whole page is
    /// left, or the span from the lowest to the highest managed page would
    /// exceed [`PAGE_CAPACITY`](crate::PAGE_CAPACITY);
    /// [`AllocError::NoMemory`] if [`MAX_REGIONS`](crate::MAX_REGIONS)
    /// regions are already managed.
    ///
    /// A region below every managed one moves the bitmap: O(regions) while
    /// no page is allocated, O(span) bit copies otherwise.
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.add_region(start, size)
    }
}

// SAFETY: a run is handed out only when every one of its pages is clear in
// the bitmap, which covers exactly the managed pages; it is set until
// `dealloc_pages`, so live runs never overlap; alignment is checked on the
// absolute page address.
unsafe impl<const PAGE_SIZE: usize> PageAllocator for BitmapPageAllocator<PAGE_SIZE> {
    const PAGE_SIZE: usize = PAGE_SIZE;

    /// Allocates `num_pages` contiguous pages whose address is a multiple of
    /// `align` bytes.
    ///
    /// [`AllocError::InvalidParam`] for `num_pages == 0` or an `align` that
    /// is not a power of two of at least `PAGE_SIZE`;
    /// [`AllocError::NoMemory`] if no free run fits.
    fn alloc_pages(&mut self, num_pages: usize, align: usize) -> AllocResult<usize> {
        let align_pages = Self::align_in_pages(align)?;
        if num_pages == 0 {
            return Err(AllocError::InvalidParam);
        }
        self.window.alloc(num_pages, align_pages).map(|page| page * PAGE_SIZE)
    }

    /// Allocates the `num_pages` pages starting at `base`.
    ///
    /// [`AllocError::InvalidParam`] for `num_pages == 0`, a bad `align`, a
    /// `base` that is not a multiple of `align`, or a range that is not
    /// wholly inside one managed region; [`AllocError::NoMemory`] if a page
    /// of it is in use.
    fn alloc_pages_at(&mut self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        Self::align_in_pages(align)?;
        if num_pages == 0 || base % align != 0 {
            return Err(AllocError::InvalidParam);
        }
        self.window.alloc_at(base / PAGE_SIZE, num_pages).map(|page| page * PAGE_SIZE)
    }

    /// Frees `num_pages` pages starting at `pos`.
    ///
    /// The trait gives this no way to fail, so a range this allocator cannot
    /// have handed out (`num_pages == 0`, `pos` not page-aligned, a page
    /// outside the managed regions, a page already free) is ignored as a
    /// whole: nothing changes, nothing panics, also in debug builds.
    ///
    /// # Safety
    ///
    /// `[pos, pos + num_pages * PAGE_SIZE)` was allocated by this allocator
    /// (by one or several calls) and is not used any more.
    unsafe fn dealloc_pages(&mut self, pos: usize, num_pages: usize) {
        if pos % PAGE_SIZE == 0 {
            self.window.dealloc_all_or_nothing(pos / PAGE_SIZE, num_pages);
        }
    }

    fn total_pages(&self) -> usize {
        self.window.total()
    }

    fn used_pages(&self) -> usize {
        self.window.used()
    }

    fn available_pages(&self) -> usize {
        self.window.total() - self.window.used()
    }
}
