//! `BitmapPageAllocator<4096>` driven by an operation tape (alloc_pages of
//! any count and alignment, also absurd ones; alloc_pages_at in, before and
//! after each region; dealloc_pages whole or in two parts; add_memory),
//! every step checked against the testkit's page model: alignment, bounds,
//! no overlap, page contents, exact statistics, and no false refusal.
//!
//! The steps are those of `allocator_testkit::props::run_page_ops`, except
//! that every region is carved from one host pool made up front: the bitmap
//! covers a bounded span of pages (256 MiB by default) from its lowest to its
//! highest region and refuses a region beyond it (`InvalidParam`, as
//! documented), while separate host allocations (under ASan above all) may
//! lie terabytes apart.
#![no_main]

use allocator_bitmap::BitmapPageAllocator;
use allocator_testkit::page::PageHeap;
use allocator_testkit::props::{PageOp, page_ops_from_tape};
use allocator_testkit::{PageConfig, Pool};
use allocator_traits::region::align_down;
use allocator_traits::{AllocError, Region};
use libfuzzer_sys::fuzz_target;

const PAGE: usize = 4096;
/// Regions of up to 256 pages, up to three.
const CONFIG: PageConfig = PageConfig::new().with_pages(256);
/// Each region's slot in the pool: its largest size and a page of gap, so
/// regions never touch.
const SLOT: usize = (CONFIG.pages + 1) * PAGE;

fuzz_target!(|tape: &[u8]| {
    let ops = page_ops_from_tape(tape);
    let cfg = &CONFIG;
    let mut heap = PageHeap::uninit(&BitmapPageAllocator::<PAGE>::new, "fuzz bitmap_pages");
    let pool = heap.keep(Pool::new(cfg.max_regions * SLOT, PAGE));
    let base = pool.start();
    let first = Region { start: base, end: base + cfg.pages * PAGE };
    heap.add(first, true).unwrap_or_else(|e| panic!("init with {first:?}: {e:?}"));
    for (step, &op) in ops.iter().enumerate() {
        heap.model.step = step;
        match op {
            PageOp::Alloc { pages, align_log2 } => {
                let Some(align) = PAGE.checked_shl(u32::from(align_log2)) else { continue };
                let _ = heap.alloc(pages, align, &[AllocError::NoMemory], cfg.exhaustive);
            }
            PageOp::AllocAt { region, page, pages, align_log2 } => {
                let region = heap.model.regions()[region % heap.model.regions().len()];
                let align = PAGE << align_log2.min(8);
                let offset = (page % (region.size() / PAGE + 8)) as isize - 4;
                let at = align_down(region.start.wrapping_add_signed(offset * PAGE as isize), align);
                let _ = heap.alloc_at(at, pages, align);
            }
            PageOp::Free { index, split } => {
                let used = heap.model.used();
                if !used.is_empty() {
                    let (start, end, _) = used.iter().nth(index % used.len()).expect("index in range");
                    let pages = (end - start) / PAGE;
                    let split = split % pages;
                    if split == 0 {
                        heap.free(start, pages);
                    } else {
                        heap.free(start + split * PAGE, pages - split);
                        heap.free(start, split);
                    }
                }
            }
            PageOp::AddRegion { pages } => {
                let slot = heap.model.regions().len();
                if slot < cfg.max_regions {
                    let start = base + slot * SLOT;
                    let region = Region { start, end: start + pages.clamp(1, cfg.pages) * PAGE };
                    heap.add(region, false)
                        .unwrap_or_else(|e| panic!("[step {step}] add_memory of {region:?}: {e:?}"));
                }
            }
        }
        heap.check_stats();
    }
    heap.model.verify_all();
    heap.free_all();
});
