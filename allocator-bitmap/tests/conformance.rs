//! The workspace's conformance suites, run against `BitmapFrameAllocator`
//! (checked with `assert_valid` after every call), `BitmapPageAllocator` and
//! `BitmapIdAllocator`.
//!
//! Under Miri only the tiny configurations run
//! (`cargo +nightly miri test -p allocator-bitmap --test conformance`).

use allocator_bitmap::{BitAlloc256, BitmapFrameAllocator, BitmapIdAllocator, BitmapPageAllocator};
use allocator_testkit::{IdConfig, PageConfig};
use allocator_traits::{AllocResult, BaseAllocator, PageAllocator};

/// Leaks `v` for a `&'static mut`, where Miri's leak check does not look:
/// the memory stays reachable from a static.
fn leak<T: 'static>(v: Vec<T>) -> &'static mut [T] {
    struct Kept(#[allow(dead_code)] *mut u8);
    // SAFETY: the pointer is only kept, never used.
    unsafe impl Send for Kept {}
    static KEPT: std::sync::Mutex<Vec<Kept>> = std::sync::Mutex::new(Vec::new());
    let slice = v.leak();
    KEPT.lock().unwrap().push(Kept(slice.as_mut_ptr().cast()));
    slice
}

/// A frame allocator that checks its invariants after every call.
struct Checked<const PAGE_SIZE: usize>(BitmapFrameAllocator<PAGE_SIZE>);

impl<const PAGE_SIZE: usize> Checked<PAGE_SIZE> {
    /// Over a fresh, leaked bitmap of `pages` pages' span, filled with junk
    /// (the allocator must clear it).
    fn new(pages: usize) -> Self {
        let words = BitmapFrameAllocator::<PAGE_SIZE>::bitmap_words(pages);
        Self(BitmapFrameAllocator::with_bitmap(leak(vec![0xA5A5_A5A5_A5A5_A5A5; words])))
    }

    fn checked<T>(&mut self, f: impl FnOnce(&mut BitmapFrameAllocator<PAGE_SIZE>) -> T) -> T {
        let r = f(&mut self.0);
        self.0.assert_valid();
        r
    }
}

impl<const PAGE_SIZE: usize> BaseAllocator for Checked<PAGE_SIZE> {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded.
        self.checked(|a| unsafe { a.init(start, size) })
    }
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded.
        self.checked(|a| unsafe { a.add_memory(start, size) })
    }
}

// SAFETY: forwards to a `PageAllocator`.
unsafe impl<const PAGE_SIZE: usize> PageAllocator for Checked<PAGE_SIZE> {
    const PAGE_SIZE: usize = PAGE_SIZE;
    fn alloc_pages(&mut self, num_pages: usize, align: usize) -> AllocResult<usize> {
        self.checked(|a| a.alloc_pages(num_pages, align))
    }
    fn alloc_pages_at(&mut self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        self.checked(|a| a.alloc_pages_at(base, num_pages, align))
    }
    unsafe fn dealloc_pages(&mut self, pos: usize, num_pages: usize) {
        // SAFETY: forwarded.
        self.checked(|a| unsafe { a.dealloc_pages(pos, num_pages) })
    }
    fn total_pages(&self) -> usize {
        self.0.total_pages()
    }
    fn used_pages(&self) -> usize {
        self.0.used_pages()
    }
    fn available_pages(&self) -> usize {
        self.0.available_pages()
    }
}

// 4 KiB pages over a buffer for 1 GiB of span (regions are placed anywhere
// in the address space, so the span must be large); every call checked.
#[cfg(not(miri))]
allocator_testkit::page_allocator_tests!(mod frames, Checked::<4096>::new(1 << 18), PageConfig::new());
// 16 KiB pages in regions aligned to just one page.
#[cfg(not(miri))]
allocator_testkit::page_allocator_tests!(
    mod frames_16k,
    Checked::<16384>::new(1 << 16),
    PageConfig::new().with_region_align(16384).with_pages(512)
);

// The inline compatibility type; with `page-alloc-64g` or `-1t` it is
// megabytes by value, too large for a test thread's stack.
#[cfg(not(any(miri, feature = "page-alloc-64g", feature = "page-alloc-1t")))]
allocator_testkit::page_allocator_tests!(BitmapPageAllocator::<4096>::new(), PageConfig::new());

#[cfg(not(miri))]
allocator_testkit::id_allocator_tests!(BitmapIdAllocator::new(), IdConfig::new());
// A small bitmap, filled to capacity, starting at an unaligned ID.
#[cfg(not(miri))]
allocator_testkit::id_allocator_tests!(
    mod id_small,
    BitmapIdAllocator::<BitAlloc256>::with_bitmap(),
    IdConfig::new().with_start(3).with_size(256).with_capacity(256)
);

// Few operations on few pages and IDs, for Miri.
#[cfg(miri)]
allocator_testkit::page_allocator_tests!(mod page_tiny, Checked::<4096>::new(1 << 12), PageConfig::tiny());
#[cfg(miri)]
allocator_testkit::id_allocator_tests!(
    mod id_tiny,
    BitmapIdAllocator::<BitAlloc256>::with_bitmap(),
    IdConfig::tiny().with_start(3).with_capacity(256)
);
