//! The workspace's conformance suites, run against `BitmapPageAllocator` and
//! `BitmapIdAllocator`.
//!
//! Under Miri only the tiny configurations run
//! (`cargo +nightly miri test -p allocator-bitmap --test conformance`).

use allocator_bitmap::{BitAlloc256, BitmapIdAllocator, BitmapPageAllocator};
use allocator_testkit::{IdConfig, PageConfig};

// 4 KiB pages; the bitmap searches every page, so a refusal must be real.
#[cfg(not(miri))]
allocator_testkit::page_allocator_tests!(BitmapPageAllocator::<4096>::new(), PageConfig::new());
// 16 KiB pages in regions aligned to just one page.
#[cfg(not(miri))]
allocator_testkit::page_allocator_tests!(
    mod page_16k,
    BitmapPageAllocator::<16384>::new(),
    PageConfig::new().with_region_align(16384).with_pages(512)
);

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
allocator_testkit::page_allocator_tests!(mod page_tiny, BitmapPageAllocator::<4096>::new(), PageConfig::tiny());
#[cfg(miri)]
allocator_testkit::id_allocator_tests!(
    mod id_tiny,
    BitmapIdAllocator::<BitAlloc256>::with_bitmap(),
    IdConfig::tiny().with_start(3).with_capacity(256)
);
