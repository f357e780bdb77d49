//! The suites fail for broken allocators: each test feeds a reference
//! allocator with one deliberate bug to the check that must catch it.

mod reference;

use allocator_testkit::{ByteConfig, IdConfig, PageConfig, byte, id, page};
use reference::{BitmapIds, BitmapPages, Bug, FreeList, SetBug};

const BYTES: ByteConfig = ByteConfig::new().with_ops(3000).with_seeds(1);
const PAGES: PageConfig = PageConfig::new().with_ops(2000).with_seeds(1);
const IDS: IdConfig = IdConfig::new().with_ops(2000).with_seeds(1);

fn buggy(bug: Bug) -> impl Fn() -> FreeList {
    move || FreeList::with_bug(bug)
}

#[test]
fn the_reference_passes_with_these_configs() {
    byte::random_churn(&buggy(Bug::None), &BYTES);
    byte::recovery(&buggy(Bug::None), &BYTES);
    byte::realloc(&buggy(Bug::None), &BYTES);
    byte::overlapping_regions(&buggy(Bug::None), &BYTES);
    byte::overflowing_regions(&buggy(Bug::None), &BYTES);
    byte::remove_regions(&buggy(Bug::None), &BYTES);
    byte::max_layout(&buggy(Bug::None), &BYTES);
    byte::usable_sizes(&buggy(Bug::None), &BYTES);
    byte::found_sizes(&buggy(Bug::None), &BYTES);
    page::random_churn(&|| BitmapPages::with_bug(SetBug::None), &PAGES);
    page::huge_requests(&|| BitmapPages::with_bug(SetBug::None), &PAGES);
    id::random_churn(&|| BitmapIds::with_bug(SetBug::None), &IDS);
}

#[test]
#[should_panic(expected = "was corrupted")]
fn usable_sizes_past_the_block() {
    byte::usable_sizes(&buggy(Bug::UsableLies), &BYTES);
}

#[test]
#[should_panic(expected = "was corrupted")]
fn found_sizes_past_the_block() {
    byte::found_sizes(&buggy(Bug::FoundTooLarge), &BYTES);
}

#[test]
#[should_panic(expected = "claims only")]
fn found_sizes_short_of_the_layout() {
    byte::found_sizes(&buggy(Bug::FoundTooSmall), &BYTES);
}

#[test]
#[should_panic(expected = "is not aligned to")]
fn misaligned_blocks() {
    byte::random_churn(&buggy(Bug::Misalign), &BYTES);
}

#[test]
#[should_panic(expected = "overlaps live block")]
fn overlapping_blocks() {
    byte::random_churn(&buggy(Bug::Overlap), &BYTES);
}

#[test]
#[should_panic(expected = "is not inside a managed region")]
fn blocks_outside_the_region() {
    byte::random_churn(&buggy(Bug::OutOfRegion), &BYTES);
}

#[test]
#[should_panic(expected = "was corrupted")]
fn a_free_that_scribbles_on_a_neighbour() {
    byte::random_churn(&buggy(Bug::Scribble), &BYTES);
}

#[test]
#[should_panic(expected = "failed with InvalidParam")]
fn out_of_memory_with_the_wrong_error() {
    byte::out_of_memory(&buggy(Bug::WrongError), &BYTES);
}

#[test]
#[should_panic(expected = "used_bytes")]
fn statistics_that_lie() {
    byte::random_churn(&buggy(Bug::StatsLie), &BYTES);
}

#[test]
#[should_panic(expected = "[recovery seed")]
fn leaked_blocks() {
    byte::recovery(&buggy(Bug::Leak), &BYTES);
}

#[test]
#[should_panic(expected = "was corrupted")]
fn realloc_that_loses_contents() {
    byte::realloc(&buggy(Bug::ReallocForgets), &BYTES);
}

#[test]
#[should_panic(expected = "add_memory of a region duplicate")]
fn overlapping_add_memory_accepted() {
    byte::overlapping_regions(&buggy(Bug::AcceptOverlap), &BYTES);
}

#[test]
#[should_panic(expected = "before the pool region")]
fn a_write_before_the_region() {
    byte::zero_size(&buggy(Bug::WriteBefore), &BYTES);
}

#[test]
#[should_panic(expected = "overflow")]
fn an_unchecked_region_end() {
    byte::overflowing_regions(&buggy(Bug::UncheckedEnd), &BYTES);
}

#[test]
#[should_panic(expected = "not aligned to")]
fn pages_ignoring_alignment() {
    page::random_churn(&|| BitmapPages::with_bug(SetBug::IgnoreAlign), &PAGES);
}

#[test]
#[should_panic(expected = "pages in use")]
fn alloc_pages_at_over_used_pages() {
    page::random_churn(&|| BitmapPages::with_bug(SetBug::NoUsedCheck), &PAGES);
}

#[test]
#[should_panic(expected = "used_pages")]
fn pages_handed_out_twice() {
    page::random_churn(&|| BitmapPages::with_bug(SetBug::ShortMark), &PAGES);
}

#[test]
#[should_panic(expected = "overflow")]
fn an_unchecked_page_count() {
    page::huge_requests(&|| BitmapPages::with_bug(SetBug::UncheckedCount), &PAGES);
}

#[test]
#[should_panic(expected = "not aligned")]
fn ids_ignoring_alignment() {
    id::random_churn(&|| BitmapIds::with_bug(SetBug::IgnoreAlign), &IDS);
}

#[test]
#[should_panic(expected = "of an allocated ID")]
fn fixed_ids_handed_out_twice() {
    id::random_churn(&|| BitmapIds::with_bug(SetBug::NoUsedCheck), &IDS);
}

#[test]
#[should_panic(expected = "right after alloc_id")]
fn ids_not_marked() {
    id::random_churn(&|| BitmapIds::with_bug(SetBug::ShortMark), &IDS);
}

#[test]
#[should_panic(expected = "add_memory of a region overlapping its last byte")]
fn overlap_checked_after_trimming() {
    byte::overlapping_regions(&buggy(Bug::TrimmedOverlap), &BYTES);
}

#[test]
#[should_panic(expected = "is less than the")]
fn available_bytes_without_a_lower_bound() {
    byte::recovery(&buggy(Bug::AvailableZero), &BYTES);
}

#[test]
#[should_panic(expected = "exact statistics")]
fn inexact_statistics_where_exact_ones_are_promised() {
    byte::random_churn(&buggy(Bug::InexactStats), &BYTES.with_exact_stats(true));
}

#[test]
fn inexact_statistics_pass_where_none_are_promised() {
    byte::random_churn(&buggy(Bug::InexactStats), &BYTES);
}

#[test]
#[should_panic(expected = "layouts just freed could be allocated again")]
fn freed_room_lost_after_out_of_memory() {
    byte::out_of_memory(&buggy(Bug::HoardsFrees), &BYTES);
}

#[test]
#[should_panic(expected = "min_region_size (16) bytes")]
fn a_minimum_region_that_serves_nothing() {
    byte::tiny_regions(&buggy(Bug::None), &BYTES.with_min_region_size(16));
}

#[test]
#[should_panic(expected = "is not inside a managed region")]
fn a_removed_region_still_used() {
    byte::remove_regions(&buggy(Bug::RemoveKeepsUsing), &BYTES);
}

#[test]
#[should_panic(expected = "succeeded while live block")]
fn a_region_with_live_blocks_removed() {
    byte::remove_regions(&buggy(Bug::RemoveLive), &BYTES);
}
