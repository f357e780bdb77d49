//! [`BitmapFrameAllocator`]: page frames from a summarised bitmap, at any
//! scale; [`BitmapPageAllocator`]: the same with the bitmap inline.

use allocator_traits::{AllocError, AllocResult, BaseAllocator, PageAllocator, Region, region::addr_to_ptr};

use crate::{
    PAGE_CAPACITY,
    tree::{BitmapStorage, Tree, pages_for, words_for},
    window::Window,
};

/// The `u64` words of [`BitmapPageAllocator`]'s inline bitmap.
const INLINE_WORDS: usize = words_for(PAGE_CAPACITY);
const _: () = assert!(pages_for(INLINE_WORDS) == PAGE_CAPACITY);

/// A page-frame allocator over a summarised bitmap of page *numbers*: it
/// never reads or writes the memory it manages, and its bitmap lives in a
/// buffer of `u64` words it is given (`S = &'static mut [u64]`, the default)
/// or, for [`BitmapPageAllocator`], inline (`S = [u64; N]`).
///
/// # Scale and cost
///
/// One type serves 16 MiB and 16 TiB: the bitmap is sized from the frame
/// span with [`bitmap_words`](Self::bitmap_words) and handed over with
/// [`with_bitmap`](Self::with_bitmap) (a `static`, a boot-time carve-out, a
/// leaked `Vec`), or carved from the front of mapped memory with
/// [`from_region`](Self::from_region). No capacity feature. By value the
/// allocator is a few words plus its region table (about 1.1 KiB for
/// [`MAX_REGIONS`](crate::MAX_REGIONS) regions), whatever the span.
///
/// - **Metadata:** 1 bit per page plus two summary bits per 64 words below,
///   level after level: about 1.03 bits per page (64 GiB of 4 KiB pages:
///   2.06 MiB; 1 TiB: 33 MiB; 16 TiB: 528 MiB).
/// - **One page:** O(levels) = O(log64 pages): the first free page is found
///   by climbing "any free below" summary words and descending along their
///   lowest set bits (5 levels at 1 TiB).
/// - **A run** of `n` pages aligned to `a` pages: first fit in address order.
///   A candidate is the first free page rounded up to `a`; it is checked by
///   looking for the first *used* page in it through "all free below"
///   summary words, O(levels), which skips wholly free ranges of 64, 4096,
///   ... pages; on a used page the search resumes at the next free page,
///   O(levels), skipping wholly used ranges. So a search costs
///   O(levels x candidates), where the candidates are at most the free
///   fragments before the fit and at most span / `a` (each candidate is
///   `a` past the last); never O(pages) per candidate. Marking the run costs
///   O(n / 64 + levels).
/// - **Freeing** checks the range is wholly allocated (O(levels)) and marks
///   it: O(n / 64 + levels).
///
/// # Invariants
///
/// These hold between any two calls, and
/// `assert_valid` (with the `debug-checks` feature, and in this crate's
/// tests) checks every one of them:
///
/// - Bit `i` of the leaves stands for page `anchor + i`, set when the page is
///   free; the anchor is the lowest managed page, so the bitmap's capacity
///   (the pages [`capacity`](Self::capacity) reports) is spent on the span
///   from the lowest to the highest managed page.
/// - Every region lies inside `[anchor, anchor + capacity)`; regions are
///   disjoint; `total_pages` is the sum of their sizes.
/// - Only pages inside a region are ever set: the pages between regions
///   and past the capacity read as used, so they are never handed out.
/// - Exactly `total_pages - used_pages` bits are set.
/// - Summary level `k` holds, for each word `j` of level `k - 1`, an "any"
///   bit (word `j` has a free page under it) and a "full" bit (every page
///   under word `j` is free); padding bits past a level's end are clear.
///
/// # Behaviour kept from the bitmap allocator it replaces
///
/// - **Window.** A region that would make the span larger than the capacity
///   is [`AllocError::InvalidParam`].
/// - **Alignment is absolute.** `alloc_pages(n, align)` returns an address
///   that is a multiple of `align`, whatever the anchor. Any power-of-two
///   alignment of at least `PAGE_SIZE` is served; one no free run satisfies
///   is [`AllocError::NoMemory`].
/// - **Regions stay apart.** A run of pages never spans two regions, even
///   adjacent ones: each region is a pool of its own.
/// - **Freeing** a range that is not wholly managed and allocated (a foreign
///   address, a double free) changes nothing: see
///   [`dealloc_pages`](PageAllocator::dealloc_pages).
///
/// `PAGE_SIZE` must be a power of two (checked at compile time).
///
/// ```
/// use allocator_bitmap::BitmapFrameAllocator;
/// use allocator_traits::{BaseAllocator, PageAllocator};
///
/// type Frames = BitmapFrameAllocator<4096>;
/// // 1 GiB of physical frames at 4 GiB: 33 KiB of bitmap, from anywhere.
/// const SPAN: usize = 1 << 30;
/// const WORDS: usize = Frames::bitmap_words_for_bytes(SPAN);
/// static mut BITMAP: [u64; WORDS] = [0; WORDS];
/// // SAFETY: the only reference to the static, taken once.
/// let mut frames = Frames::with_bitmap(unsafe { &mut *core::ptr::addr_of_mut!(BITMAP) });
/// // SAFETY: in a kernel: these frames are free RAM that nothing else uses.
/// unsafe { frames.init(4 << 30, SPAN) }.unwrap();
/// let huge = frames.alloc_pages(512, 2 << 20).unwrap(); // a 2 MiB page
/// assert_eq!(huge % (2 << 20), 0);
/// // SAFETY: came from this allocator, no longer used.
/// unsafe { frames.dealloc_pages(huge, 512) };
/// assert_eq!(frames.used_pages(), 0);
/// ```
pub struct BitmapFrameAllocator<const PAGE_SIZE: usize, S = &'static mut [u64]> {
    window: Window<Tree<S>>,
}

/// The page-frame allocator with its bitmap inline, sized by the
/// `page-alloc-*` features ([`PAGE_CAPACITY`](crate::PAGE_CAPACITY) pages;
/// 256 MiB of 4 KiB pages in 8.3 KiB by default): `new()` needs no buffer,
/// as before this crate had [`BitmapFrameAllocator`], whose engine it now
/// is.
///
/// Kept for existing users. It holds its bitmap by value, so with the larger
/// capacity features (2 MiB at `page-alloc-64g`, 33 MiB at `page-alloc-1t`)
/// keep it in a `static`, never on a stack; for a large or unknown span use
/// [`BitmapFrameAllocator`] with a buffer instead.
///
/// ```
/// use allocator_bitmap::BitmapPageAllocator;
/// use allocator_traits::{BaseAllocator, PageAllocator};
///
/// const PAGE: usize = 4096;
/// // In a `static`: with the larger `page-alloc-*` features it is megabytes.
/// static mut FRAMES: BitmapPageAllocator<PAGE> = BitmapPageAllocator::new();
/// // SAFETY: the only reference to the static, taken once.
/// let frames = unsafe { &mut *core::ptr::addr_of_mut!(FRAMES) };
/// // Physical memory 1 GiB + 300 MiB .. + 4 MiB (the allocator never touches it).
/// let start = (1 << 30) + (300 << 20);
/// // SAFETY: in a kernel: these frames are free RAM that nothing else uses.
/// unsafe { frames.init(start, 4 << 20) }.unwrap();
/// assert_eq!(frames.total_pages(), 1024);
/// let run = frames.alloc_pages(8, 32 * 1024).unwrap();
/// assert_eq!(run % (32 * 1024), 0);
/// ```
pub type BitmapPageAllocator<const PAGE_SIZE: usize> = BitmapFrameAllocator<PAGE_SIZE, [u64; INLINE_WORDS]>;

impl<const PAGE_SIZE: usize> BitmapFrameAllocator<PAGE_SIZE> {
    /// An allocator whose bitmap is `bitmap`, managing no pages yet; give it
    /// memory with [`init`](BaseAllocator::init).
    ///
    /// It can manage any set of regions whose span (lowest to highest page)
    /// is at most [`pages_for_words`](Self::pages_for_words)`(bitmap.len())`
    /// pages; size the buffer with [`bitmap_words`](Self::bitmap_words). The
    /// buffer's contents do not matter: it is cleared when the first region
    /// is added (O(words), once).
    pub const fn with_bitmap(bitmap: &'static mut [u64]) -> Self {
        let () = Self::PAGE_SIZE_IS_POWER_OF_TWO;
        let cap = pages_for(bitmap.len());
        Self { window: Window::with_bits(Tree::new(bitmap, cap)) }
    }

    /// An allocator over the mapped memory `[start, start + size)` (trimmed
    /// inwards to pages) that keeps its bitmap in the first pages of it and
    /// manages the rest: one call for a boot allocator over one big region.
    ///
    /// Its capacity is the region's own span, so later
    /// [`add_memory`](BaseAllocator::add_memory) calls must fall inside that
    /// span (use [`with_bitmap`](Self::with_bitmap) with a larger buffer to
    /// add regions elsewhere). [`AllocError::InvalidParam`] if the end
    /// overflows, the start is not mapped at a `u64`-aligned address, or the
    /// region is too small for its bitmap and one page.
    ///
    /// # Safety
    ///
    /// `[start, start + size)` is mapped, writable memory nothing else uses,
    /// valid for as long as the allocator (the bitmap's pages are written
    /// through it) and as the pages handed out are used; its address was
    /// exposed (`expose_provenance`) by whoever owns it.
    pub unsafe fn from_region(start: usize, size: usize) -> AllocResult<Self> {
        let bytes = Region::trimmed(start, size, PAGE_SIZE.max(8), PAGE_SIZE)?;
        let pages = bytes.size() / PAGE_SIZE;
        let words = words_for(pages);
        let meta_pages = (words * 8).div_ceil(PAGE_SIZE);
        if meta_pages >= pages {
            return Err(AllocError::InvalidParam);
        }
        let ptr = addr_to_ptr(bytes.start).ok_or(AllocError::InvalidParam)?.cast::<u64>();
        // SAFETY: the first `meta_pages` pages of the region are mapped,
        // writable, unused and live long enough (the caller's contract), and
        // hold `words` `u64`s at an aligned start (trimmed to 8 bytes at
        // least); nothing else will reach them: the allocator manages only
        // the pages after them. Any bit pattern is a valid `u64`, and the
        // bitmap is cleared before use.
        let bitmap = unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), words) };
        let mut frames = Self::with_bitmap(bitmap);
        let rest = bytes.start + meta_pages * PAGE_SIZE;
        // SAFETY: the rest of the region, as the caller promised.
        unsafe { frames.init(rest, (pages - meta_pages) * PAGE_SIZE) }?;
        Ok(frames)
    }

    /// The `u64` words a bitmap needs for a span of `pages` pages: about
    /// 1.03 bits per page (`ceil(pages / 64)` leaf words and two summary
    /// words per 64 words below, level after level).
    pub const fn bitmap_words(pages: usize) -> usize {
        words_for(pages)
    }

    /// The `u64` words a bitmap needs for a span of `bytes` bytes (rounded up
    /// to pages).
    pub const fn bitmap_words_for_bytes(bytes: usize) -> usize {
        words_for(bytes.div_ceil(PAGE_SIZE))
    }

    /// The span in pages a bitmap of `words` words covers.
    pub const fn pages_for_words(words: usize) -> usize {
        pages_for(words)
    }
}

impl<const PAGE_SIZE: usize, const N: usize> BitmapFrameAllocator<PAGE_SIZE, [u64; N]> {
    /// An allocator with an inline bitmap of `N` words
    /// ([`pages_for_words`](BitmapFrameAllocator::pages_for_words)`(N)` pages;
    /// [`PAGE_CAPACITY`](crate::PAGE_CAPACITY) for [`BitmapPageAllocator`]),
    /// managing no pages yet; give it memory with
    /// [`init`](BaseAllocator::init).
    pub const fn new() -> Self {
        let () = Self::PAGE_SIZE_IS_POWER_OF_TWO;
        Self { window: Window::with_bits(Tree::new([0; N], pages_for(N))) }
    }
}

impl<const PAGE_SIZE: usize, const N: usize> Default for BitmapFrameAllocator<PAGE_SIZE, [u64; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGE_SIZE: usize, S> BitmapFrameAllocator<PAGE_SIZE, S> {
    const PAGE_SIZE_IS_POWER_OF_TWO: () =
        assert!(PAGE_SIZE.is_power_of_two(), "PAGE_SIZE must be a power of two");
}

impl<const PAGE_SIZE: usize, S: BitmapStorage> BitmapFrameAllocator<PAGE_SIZE, S> {
    /// The most pages the bitmap spans: every set of regions whose span
    /// (lowest to highest page) is at most this many pages fits.
    pub fn capacity(&self) -> usize {
        self.window.cap()
    }

    /// Panics unless every invariant listed on [`BitmapFrameAllocator`]
    /// holds. O(bitmap words + regions). With the `debug-checks` feature (on
    /// in this crate's tests); tests and fuzz targets call it after each
    /// step.
    #[cfg(any(test, feature = "debug-checks"))]
    pub fn assert_valid(&self) {
        self.window.assert_valid();
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

impl<const PAGE_SIZE: usize, S: BitmapStorage> core::fmt::Debug for BitmapFrameAllocator<PAGE_SIZE, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BitmapFrameAllocator")
            .field("page_size", &PAGE_SIZE)
            .field("capacity", &self.capacity())
            .field("window_start", &self.window_start())
            .field("total_pages", &self.window.total())
            .field("used_pages", &self.window.used())
            .finish()
    }
}

impl<const PAGE_SIZE: usize, S: BitmapStorage> BaseAllocator for BitmapFrameAllocator<PAGE_SIZE, S> {
    /// Manages `[start, start + size)`, trimmed inwards to pages.
    ///
    /// [`AllocError::InvalidParam`] if the end overflows, no whole page is
    /// left, or the region holds more than [`capacity`](Self::capacity)
    /// pages. Calling `init` on an
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
            return Err(allocator_traits::region::second_init(start, size, |raw| {
                let pages = Region { start: raw.start / PAGE_SIZE, end: raw.end.div_ceil(PAGE_SIZE) };
                self.window.check_new(&pages) == Err(AllocError::MemoryOverlap)
            }));
        }
        self.add_region(start, size)
    }

    /// Adds `[start, start + size)`, trimmed inwards to pages, in any address
    /// order (on an empty allocator it is the same as `init`).
    ///
    /// [`AllocError::MemoryOverlap`] if it overlaps managed memory;
    /// [`AllocError::InvalidParam`] if the end overflows, no whole page is
    /// left, or the span from the lowest to the highest managed page would
    /// exceed [`capacity`](Self::capacity);
    /// [`AllocError::NoMemory`] if [`MAX_REGIONS`](crate::MAX_REGIONS)
    /// regions are already managed.
    ///
    /// A region below every managed one moves the bitmap: O(regions) while
    /// no page is allocated, O(bitmap words) otherwise.
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
unsafe impl<const PAGE_SIZE: usize, S: BitmapStorage> PageAllocator for BitmapFrameAllocator<PAGE_SIZE, S> {
    const PAGE_SIZE: usize = PAGE_SIZE;

    /// Allocates `num_pages` contiguous pages whose address is a multiple of
    /// `align` bytes: first fit in address order.
    ///
    /// # Errors
    ///
    /// [`AllocError::InvalidParam`] for `num_pages == 0` or an `align` that
    /// is not a power of two of at least `PAGE_SIZE`;
    /// [`AllocError::NoMemory`] if no free run fits.
    ///
    /// # Complexity
    ///
    /// One page: O(levels) = O(log64 pages). A run of `n` pages aligned to
    /// `a`: O(levels) per candidate start, and the candidates are at most
    /// the free fragments before the fit and at most (managed pages) / `a`,
    /// so the worst case is O(levels x min(fragments, pages / a)), never
    /// O(pages) per candidate; then O(n / 64 + levels) to mark the run.
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
