//! `BitmapPageAllocator<4096>` driven by an operation tape (alloc_pages of
//! any count and alignment, also absurd ones; alloc_pages_at in, before and
//! after each region; dealloc_pages whole or in two parts; add_memory),
//! every step checked against the testkit's page model: alignment, bounds,
//! no overlap, page contents, exact statistics, and no false refusal.
//! `run_page_ops` carves every region from one host pool, so they all lie
//! inside the bitmap's window.
#![no_main]

use allocator_bitmap::BitmapPageAllocator;
use allocator_testkit::PageConfig;
use allocator_testkit::props::{page_ops_from_tape, run_page_ops};
use libfuzzer_sys::fuzz_target;

/// Regions of up to 256 pages, up to three.
const CONFIG: PageConfig = PageConfig::new().with_pages(256);

fuzz_target!(|tape: &[u8]| {
    run_page_ops(&BitmapPageAllocator::<4096>::new, &CONFIG, &page_ops_from_tape(tape));
});
