//! Property tests: generated page and ID operation sequences checked against
//! the testkit's bitmap models on every step, shrunk to a minimal case on
//! failure (proptest keeps failing cases in `proptest-regressions/` beside
//! this file, to be committed as regression tests).
#![cfg(not(miri))]

use allocator_bitmap::{BitmapFrameAllocator, BitmapIdAllocator, BitmapPageAllocator};
use allocator_testkit::props::{id_ops, page_ops, run_id_ops, run_page_ops};
use allocator_testkit::{IdConfig, PageConfig};
use proptest::prelude::*;

const PAGES: PageConfig = PageConfig::new().with_pages(256);
const IDS: IdConfig = IdConfig::new().with_size(256);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // The inline type is megabytes by value with the larger capacity
    // features: too large for a test thread's stack.
    #[cfg(not(any(feature = "page-alloc-64g", feature = "page-alloc-1t")))]
    #[test]
    fn bitmap_pages_follow_the_model(ops in page_ops(200)) {
        run_page_ops(&BitmapPageAllocator::<4096>::new, &PAGES, &ops);
    }

    #[test]
    fn frame_pages_follow_the_model(ops in page_ops(200)) {
        let make = || BitmapFrameAllocator::<4096>::with_bitmap(vec![0; BitmapFrameAllocator::<4096>::bitmap_words(1 << 18)].leak());
        run_page_ops(&make, &PAGES, &ops);
    }

    #[test]
    fn bitmap_ids_follow_the_model(ops in id_ops(200)) {
        run_id_ops(&BitmapIdAllocator::new, &IDS, &ops);
    }
}
