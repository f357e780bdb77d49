//! Tests of the bitmap-specific behaviour: the window and its anchoring,
//! absolute alignment, several regions, and every error path. The page
//! allocator never touches its memory, so the addresses are made up.

extern crate std;

use std::{boxed::Box, vec::Vec};

use bitmap_allocator::BitAlloc256;

use allocator_testkit::scaled;
use allocator_traits::Region;

use super::*;

const PAGE: usize = 4096;
const GIB: usize = 1 << 30;
const MIB: usize = 1 << 20;

type Pages = BitmapPageAllocator<PAGE>;

/// Leaks `v` for a `&'static mut`, where Miri's leak check does not look:
/// the memory stays reachable from a static.
pub(crate) fn leak<T: 'static>(v: Vec<T>) -> &'static mut [T] {
    struct Kept(#[allow(dead_code)] *mut u8);
    // SAFETY: the pointer is only kept, never used.
    unsafe impl Send for Kept {}
    static KEPT: std::sync::Mutex<Vec<Kept>> = std::sync::Mutex::new(Vec::new());
    let slice = v.leak();
    KEPT.lock().unwrap().push(Kept(slice.as_mut_ptr().cast()));
    slice
}

/// A fresh page allocator on the heap, built on a thread with a stack large
/// enough for the biggest capacity feature.
fn fresh() -> Box<Pages> {
    std::thread::Builder::new()
        .stack_size(8 * size_of::<Pages>() + MIB)
        .spawn(|| Box::new(Pages::new()))
        .unwrap()
        .join()
        .unwrap()
}

fn pages_on(start: usize, size: usize) -> Box<Pages> {
    let mut a = fresh();
    // SAFETY: the page allocator never touches the memory it manages.
    unsafe { a.init(start, size) }.unwrap();
    a
}

#[test]
fn a_small_region_far_from_a_gib_boundary_fits_the_smallest_capacity() {
    // Upstream anchors at 1 GiB and needs 300 MiB + 4 MiB of window here.
    let start = GIB + 300 * MIB;
    let size = scaled(4 * MIB, 256 * 1024);
    let mut a = pages_on(start, size);
    assert_eq!(a.total_pages(), size / PAGE);
    assert_eq!(a.window_start(), Some(start));
    let mut got = Vec::new();
    while let Ok(p) = a.alloc_pages(1, PAGE) {
        assert!((start..start + size).contains(&p));
        got.push(p);
    }
    assert_eq!(got.len(), size / PAGE);
    assert_eq!(a.alloc_pages(1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.available_pages(), 0);
    for p in got {
        // SAFETY: allocated above.
        unsafe { a.dealloc_pages(p, 1) };
    }
    assert_eq!(a.used_pages(), 0);
}

#[test]
fn alignment_is_absolute_whatever_the_anchor() {
    // The window starts at an odd page.
    let start = GIB + 300 * MIB + 3 * PAGE;
    // Under Miri 8 MiB: it still holds a 16 MiB boundary (at 1 GiB + 304 MiB).
    let size = scaled(64 * MIB, 8 * MIB);
    let mut a = pages_on(start, size);
    for align in [PAGE, 2 * PAGE, 32 * 1024, 64 * 1024, 2 * MIB, 16 * MIB] {
        let p = a.alloc_pages(8, align).unwrap();
        assert_eq!(p % align, 0, "align {align:#x}");
        assert_eq!(p, start.next_multiple_of(align).max(start), "first fit");
        // SAFETY: allocated just now.
        unsafe { a.dealloc_pages(p, 8) };
    }
    // 8 pages at 32 KiB alignment, many times: all aligned, disjoint, inside.
    let mut runs = Vec::new();
    while let Ok(p) = a.alloc_pages(8, 32 * 1024) {
        assert_eq!(p % (32 * 1024), 0);
        assert!(p >= start && p + 8 * PAGE <= start + size);
        runs.push(p);
    }
    assert_eq!(runs.len(), (size - 32 * 1024) / (32 * 1024), "every aligned run but the cut first one");
    assert_eq!(a.used_pages(), runs.len() * 8);
    // The unaligned head pages are still free for unaligned requests.
    assert_eq!(a.alloc_pages(5, PAGE), Ok(start));
}

#[test]
fn alignments_above_one_gib_are_served() {
    let mut a = pages_on(GIB - 4 * MIB, 8 * MIB);
    assert_eq!(a.alloc_pages(1, GIB), Ok(GIB));
    assert_eq!(a.alloc_pages(1, GIB), Err(AllocError::NoMemory), "the only 1 GiB boundary is taken");
    assert_eq!(a.alloc_pages(1, 2 * GIB), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(1, 1 << (usize::BITS - 1)), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(2, 4 * MIB), Ok(GIB - 4 * MIB));
}

#[test]
fn high_addresses_do_not_overflow() {
    let start = usize::MAX - 2 * PAGE_CAPACITY * PAGE + 2; // one byte past a page: trimmed
    let mut a = pages_on(start, PAGE_CAPACITY * PAGE);
    assert_eq!(a.total_pages(), PAGE_CAPACITY - 1);
    assert_eq!(a.alloc_pages(1, 1 << (usize::BITS - 1)), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(PAGE_CAPACITY, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(usize::MAX, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(usize::MAX & !(PAGE - 1), 2, PAGE), Err(AllocError::InvalidParam));
    let p = a.alloc_pages(4, 4 * PAGE).unwrap();
    assert_eq!(p % (4 * PAGE), 0);
}

#[test]
fn capacity_is_the_span_of_the_regions() {
    let start = 7 * GIB + 5 * PAGE;
    let mut a = fresh();
    // SAFETY: made-up memory, never touched.
    unsafe {
        assert_eq!(a.init(start, (PAGE_CAPACITY + 1) * PAGE), Err(AllocError::InvalidParam));
        a.init(start, PAGE_CAPACITY * PAGE).unwrap();
    }
    assert_eq!(a.total_pages(), PAGE_CAPACITY);
    let mut b = fresh();
    // SAFETY: as above.
    unsafe {
        b.init(start, 16 * PAGE).unwrap();
        // The span from the lowest to the highest page must fit, either way.
        let last = start + (PAGE_CAPACITY - 1) * PAGE;
        b.add_memory(last, PAGE).unwrap();
        assert_eq!(b.add_memory(last + PAGE, PAGE), Err(AllocError::InvalidParam));
        assert_eq!(b.add_memory(start - PAGE, PAGE), Err(AllocError::InvalidParam));
    }
    assert_eq!(b.total_pages(), 17);
    assert_eq!(b.alloc_pages(17, PAGE), Err(AllocError::NoMemory), "the pages between regions stay used");
}

#[test]
fn regions_in_any_order_with_holes_never_handed_out() {
    let base = 3 * GIB;
    // The regions' sizes in units of `unit`; their places stay.
    let unit = scaled(MIB, 16 * PAGE);
    let regions =
        [(base + 40 * MIB, 2 * unit), (base + 10 * MIB, unit), (base + 90 * MIB, 3 * unit), (base, unit)];
    let mut a = fresh();
    for (start, size) in regions {
        // SAFETY: made-up memory, never touched.
        unsafe { a.add_memory(start, size) }.unwrap();
    }
    assert_eq!(a.window_start(), Some(base));
    assert_eq!(a.total_pages(), 7 * unit / PAGE);
    let mut got = Vec::new();
    while let Ok(p) = a.alloc_pages(1, PAGE) {
        assert!(regions.iter().any(|&(s, n)| (s..s + n).contains(&p)), "{p:#x} is in a region");
        got.push(p);
    }
    assert_eq!(got.len(), a.total_pages());
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), a.total_pages(), "no page twice");
    assert_eq!(a.alloc_pages_at(base + 20 * MIB, 1, PAGE), Err(AllocError::InvalidParam), "a hole");
}

#[test]
fn a_region_below_the_window_after_allocations_keeps_them() {
    let high = 5 * GIB;
    let (size, low_size) = (scaled(4 * MIB, 256 * 1024), scaled(MIB, 64 * 1024));
    let mut a = pages_on(high, size);
    let kept = a.alloc_pages(3, PAGE).unwrap();
    let at = a.alloc_pages_at(high + size / 4, 2, PAGE).unwrap();
    // SAFETY: made-up memory, never touched.
    unsafe { a.add_memory(high - 100 * MIB, low_size) }.unwrap();
    assert_eq!(a.window_start(), Some(high - 100 * MIB));
    assert_eq!(a.used_pages(), 5);
    assert_eq!(a.alloc_pages_at(kept, 1, PAGE), Err(AllocError::NoMemory), "still allocated");
    assert_eq!(a.alloc_pages_at(high + size / 4 + PAGE, 1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(kept + 3 * PAGE, 1, PAGE), Ok(kept + 3 * PAGE), "still free");
    assert_eq!(a.alloc_pages(1, PAGE), Ok(high - 100 * MIB), "the new region is first in address order");
    // SAFETY: all allocated above.
    unsafe {
        a.dealloc_pages(kept, 3);
        a.dealloc_pages(at, 2);
        a.dealloc_pages(kept + 3 * PAGE, 1);
        a.dealloc_pages(high - 100 * MIB, 1);
    }
    assert_eq!(a.used_pages(), 0);
    let (pages, low_pages) = (size / PAGE, low_size / PAGE);
    assert_eq!(a.alloc_pages(pages + low_pages, PAGE), Err(AllocError::NoMemory), "regions do not join");
    assert_eq!(a.alloc_pages(pages, PAGE), Ok(high));
}

#[test]
fn bad_regions_are_errors() {
    let mut a = fresh();
    // SAFETY: made-up memory, never touched.
    unsafe {
        assert_eq!(a.init(GIB, 0), Err(AllocError::InvalidParam));
        assert_eq!(a.init(GIB + 1, PAGE), Err(AllocError::InvalidParam), "no whole page once trimmed");
        assert_eq!(a.init(usize::MAX - PAGE, 2 * PAGE), Err(AllocError::InvalidParam), "overflowing end");
        assert_eq!(a.total_pages(), 0);
        a.init(GIB + 1, 4 * PAGE).unwrap();
        assert_eq!(a.total_pages(), 3, "trimmed inwards");
        assert_eq!(a.init(GIB + 2 * PAGE, PAGE), Err(AllocError::MemoryOverlap), "init twice, overlapping");
        assert_eq!(a.init(2 * GIB, PAGE), Err(AllocError::InvalidParam), "init twice");
        assert_eq!(a.add_memory(GIB + 3 * PAGE, PAGE), Err(AllocError::MemoryOverlap));
        assert_eq!(
            a.add_memory(GIB + 4 * PAGE - 1, 2 * PAGE),
            Err(AllocError::MemoryOverlap),
            "untrimmed overlap"
        );
        a.add_memory(GIB + 4 * PAGE, PAGE).unwrap();
        a.add_memory(GIB, PAGE).unwrap();
    }
    assert_eq!(a.total_pages(), 5);
    assert_eq!(a.alloc_pages(2, PAGE), Ok(GIB + PAGE), "runs never span regions, even adjacent ones");
    assert_eq!(a.alloc_pages(2, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(GIB, 2, PAGE), Err(AllocError::InvalidParam), "across a region boundary");
    assert_eq!(a.alloc_pages(1, PAGE), Ok(GIB));
    assert_eq!(a.alloc_pages(1, PAGE), Ok(GIB + 3 * PAGE));
    assert_eq!(a.alloc_pages(1, PAGE), Ok(GIB + 4 * PAGE));
    // SAFETY: allocated above, by several calls, freed as one range.
    unsafe { a.dealloc_pages(GIB, 5) };
    assert_eq!(a.used_pages(), 0);
}

#[test]
fn region_table_full_is_no_memory() {
    let mut a = fresh();
    for i in 0..MAX_REGIONS {
        // SAFETY: made-up memory, never touched.
        unsafe { a.add_memory(GIB + 2 * i * PAGE, PAGE) }.unwrap();
    }
    // SAFETY: as above.
    assert_eq!(unsafe { a.add_memory(GIB + 2 * MAX_REGIONS * PAGE, PAGE) }, Err(AllocError::NoMemory));
    assert_eq!(a.total_pages(), MAX_REGIONS);
}

#[test]
fn bad_requests_are_errors() {
    let mut empty = fresh();
    assert_eq!(empty.alloc_pages(1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(empty.alloc_pages_at(GIB, 1, PAGE), Err(AllocError::InvalidParam));

    let mut a = pages_on(GIB, 16 * PAGE);
    assert_eq!(a.alloc_pages(0, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages(1, 0), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages(1, PAGE / 2), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages(1, 3 * PAGE), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages(17, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(GIB, 0, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages_at(GIB + PAGE, 1, 2 * PAGE), Err(AllocError::InvalidParam), "base not aligned");
    assert_eq!(a.alloc_pages_at(GIB + 1, 1, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(
        a.alloc_pages_at(GIB + 15 * PAGE, 2, PAGE),
        Err(AllocError::InvalidParam),
        "runs past the end"
    );
    assert_eq!(a.alloc_pages_at(GIB - PAGE, 1, PAGE), Err(AllocError::InvalidParam), "below");
    assert_eq!(a.alloc_pages_at(usize::MAX & !(PAGE - 1), usize::MAX, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages_at(GIB + 2 * PAGE, 2, 2 * PAGE), Ok(GIB + 2 * PAGE));
    assert_eq!(a.alloc_pages_at(GIB + 3 * PAGE, 1, PAGE), Err(AllocError::NoMemory), "in use");
    assert_eq!(a.used_pages(), 2);
}

#[test]
fn freeing_what_is_not_allocated_changes_nothing() {
    let mut a = pages_on(GIB, 16 * PAGE);
    let p = a.alloc_pages(4, PAGE).unwrap();
    // SAFETY: each call breaks the contract on purpose; the allocator must
    // ignore it (it never touches the memory).
    unsafe {
        a.dealloc_pages(p, 0);
        a.dealloc_pages(p + 1, 1);
        a.dealloc_pages(2 * GIB, 1);
        a.dealloc_pages(GIB - PAGE, 2);
        a.dealloc_pages(p, 5); // one page too many: the fifth is free
        a.dealloc_pages(p + 4 * PAGE, 1); // a free page
        a.dealloc_pages(usize::MAX & !(PAGE - 1), usize::MAX);
    }
    assert_eq!(a.used_pages(), 4);
    // SAFETY: allocated above, in two parts.
    unsafe {
        a.dealloc_pages(p, 2);
        a.dealloc_pages(p + 2 * PAGE, 2);
        a.dealloc_pages(p, 2); // a double free: ignored
    }
    assert_eq!(a.used_pages(), 0);
    assert_eq!(a.alloc_pages(16, PAGE), Ok(GIB));
}

#[test]
fn ids_align_absolutely_and_fill_exactly() {
    let mut ids = BitmapIdAllocator::new();
    // SAFETY: IDs carry no memory-safety requirement.
    unsafe { ids.init(3, 100) }.unwrap();
    assert_eq!((ids.size(), ids.used(), ids.available()), (100, 0, 100));
    assert_eq!(ids.alloc_id(1, 1), Ok(3));
    assert_eq!(ids.alloc_id(4, 4), Ok(4));
    assert_eq!(ids.alloc_id(3, 16), Ok(16));
    assert_eq!(ids.alloc_id(1, 64), Ok(64));
    assert_eq!(ids.alloc_id(1, 128), Err(AllocError::NoMemory), "no multiple of 128 in 3..103");
    assert_eq!(ids.alloc_id(2, 1), Ok(8));
    assert_eq!(ids.used(), 11);
    assert!(ids.is_allocated(3) && ids.is_allocated(18) && !ids.is_allocated(19));
    assert!(!ids.is_allocated(2) && !ids.is_allocated(103) && !ids.is_allocated(usize::MAX));
    let mut n = 0;
    while ids.alloc_id(1, 1).is_ok() {
        n += 1;
    }
    assert_eq!(n, 89);
    assert_eq!(ids.available(), 0);
}

#[test]
fn id_errors_and_fixed_ids() {
    let mut ids = BitmapIdAllocator::new();
    assert_eq!(ids.alloc_id(1, 1), Err(AllocError::NoMemory));
    assert_eq!(ids.alloc_fixed_id(0), Err(AllocError::InvalidParam));
    // SAFETY: IDs carry no memory-safety requirement.
    unsafe {
        assert_eq!(ids.init(5, 0), Err(AllocError::InvalidParam));
        assert_eq!(ids.init(usize::MAX, 2), Err(AllocError::InvalidParam));
        ids.init(10, 10).unwrap();
        assert_eq!(ids.init(15, 10), Err(AllocError::MemoryOverlap));
        assert_eq!(ids.init(100, 10), Err(AllocError::InvalidParam), "init twice");
        assert_eq!(ids.add_memory(0, 11), Err(AllocError::MemoryOverlap));
        ids.add_memory(0, 5).unwrap();
    }
    assert_eq!(ids.size(), 15);
    assert_eq!(ids.alloc_id(0, 1), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_id(1, 0), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_id(1, 3), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_id(16, 1), Err(AllocError::NoMemory));
    assert_eq!(ids.alloc_fixed_id(7), Err(AllocError::InvalidParam), "in the gap");
    assert_eq!(ids.alloc_fixed_id(20), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_fixed_id(12), Ok(()));
    assert_eq!(ids.alloc_fixed_id(12), Err(AllocError::NoMemory));
    assert_eq!(ids.alloc_id(8, 1), Err(AllocError::NoMemory), "runs do not cross the gap or the fixed ID");
    assert_eq!(ids.alloc_id(3, 1), Ok(0));
    assert_eq!(ids.alloc_id(3, 1), Ok(13));
    assert_eq!(ids.used(), 7);
}

#[test]
fn dealloc_id_frees_only_allocated_managed_ids() {
    let mut ids = BitmapIdAllocator::new();
    // SAFETY: IDs carry no memory-safety requirement.
    unsafe {
        ids.init(0, 8).unwrap();
        ids.add_memory(16, 8).unwrap();
    }
    assert_eq!(ids.alloc_id(8, 8), Ok(0));
    assert_eq!(ids.alloc_id(8, 8), Ok(16));
    ids.dealloc_id(2, 2);
    ids.dealloc_id(2, 2); // again: ignored
    ids.dealloc_id(6, 12); // 6, 7, 16, 17; the gap is ignored
    ids.dealloc_id(100, usize::MAX); // overflowing, nothing managed in it: ignored
    ids.dealloc_id(30, 5); // not managed: ignored
    assert_eq!(ids.used(), 10);
    // An overflowing range still frees the managed IDs in it.
    ids.dealloc_id(22, usize::MAX);
    assert_eq!(ids.used(), 8);
    assert!(!ids.is_allocated(22) && !ids.is_allocated(23) && ids.is_allocated(21));
    assert_eq!(ids.alloc_id(2, 2), Ok(2));
    assert_eq!(ids.alloc_fixed_id(22), Ok(()));
    assert_eq!(ids.alloc_fixed_id(23), Ok(()));
    ids.dealloc_id(2, 2);
    assert_eq!(ids.used(), 10);
    assert!(!ids.is_allocated(2) && !ids.is_allocated(7) && !ids.is_allocated(17));
    assert!(ids.is_allocated(1) && ids.is_allocated(4) && ids.is_allocated(18));
    ids.dealloc_id(0, usize::MAX);
    assert_eq!(ids.used(), 0);
    assert_eq!(ids.alloc_id(8, 1), Ok(0));
}

#[test]
fn id_capacity_is_the_bitmap() {
    let mut ids = BitmapIdAllocator::<BitAlloc256>::with_bitmap();
    assert_eq!(BitmapIdAllocator::<BitAlloc256>::CAPACITY, 256);
    // SAFETY: IDs carry no memory-safety requirement.
    unsafe {
        assert_eq!(ids.init(1000, 257), Err(AllocError::InvalidParam));
        ids.init(1000, 200).unwrap();
        assert_eq!(ids.add_memory(1256, 1), Err(AllocError::InvalidParam), "span 257");
        ids.add_memory(1200, 56).unwrap();
        assert_eq!(ids.add_memory(999, 1), Err(AllocError::InvalidParam), "span 257");
    }
    assert_eq!(ids.alloc_id(201, 8), Err(AllocError::NoMemory), "not across the two ranges");
    assert_eq!(ids.alloc_id(200, 8), Ok(1000));
    assert_eq!(ids.alloc_id(56, 8), Ok(1200));
    assert_eq!(ids.alloc_id(1, 1), Err(AllocError::NoMemory));
}

#[test]
fn capacity_features_pick_the_largest() {
    let expected = if cfg!(feature = "page-alloc-1t") {
        1 << 28
    } else if cfg!(feature = "page-alloc-64g") {
        1 << 24
    } else if cfg!(feature = "page-alloc-4g") {
        1 << 20
    } else {
        1 << 16
    };
    assert_eq!(PAGE_CAPACITY, expected);
    std::println!("size_of::<BitmapPageAllocator<4096>>() = {}", size_of::<Pages>());
}

// The frame allocator over a caller's buffer: any scale, no capacity feature.

type Frames = BitmapFrameAllocator<PAGE>;

/// A frame allocator over a leaked buffer for a span of `span` bytes.
fn frames(span: usize) -> Frames {
    Frames::with_bitmap(leak(std::vec![u64::MAX; Frames::bitmap_words_for_bytes(span)]))
}

/// Single frames and 2 MiB runs over a frame space of `span` bytes at
/// `start` (page numbers only: no memory behind them), checked throughout.
fn exercise_frame_space(start: usize, span: usize) {
    let mut a = frames(span);
    assert_eq!(a.capacity(), span / PAGE);
    // SAFETY: page numbers only; the allocator never touches them.
    unsafe {
        assert_eq!(a.init(start, span + PAGE), Err(AllocError::InvalidParam), "one page past the span");
        a.init(start, span).unwrap();
    }
    a.assert_valid();
    assert_eq!(a.total_pages(), span / PAGE);
    let huge = 2 * MIB;
    // Single frames come first fit from the bottom, in O(levels).
    let singles: Vec<usize> = (0..100).map(|_| a.alloc_pages(1, PAGE).unwrap()).collect();
    assert_eq!(singles, (0..100).map(|i| start + i * PAGE).collect::<Vec<_>>());
    // 2 MiB runs skip the partly used first 2 MiB and are aligned.
    let runs: Vec<usize> = (0..8).map(|_| a.alloc_pages(huge / PAGE, huge).unwrap()).collect();
    for (i, &r) in runs.iter().enumerate() {
        assert_eq!(r, start.next_multiple_of(huge) + (i + 1) * huge, "run {i}");
    }
    // A run at the very top, placed exactly.
    let top = start + span - huge;
    assert_eq!(a.alloc_pages_at(top, huge / PAGE, huge), Ok(top));
    assert_eq!(a.alloc_pages_at(top + PAGE, 1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(top + huge, 1, PAGE), Err(AllocError::InvalidParam), "past the end");
    // One large aligned run of a quarter of the space.
    let quarter = a.alloc_pages(span / 4 / PAGE, span / 4).unwrap();
    assert_eq!(quarter % (span / 4), 0);
    a.assert_valid();
    assert_eq!(a.used_pages(), 100 + 8 * 512 + 512 + span / 4 / PAGE);
    // Bad arguments and exhaustion are exact errors, at any scale.
    assert_eq!(a.alloc_pages(span / PAGE, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(1, 3 * PAGE), Err(AllocError::InvalidParam));
    assert_eq!(a.alloc_pages(0, PAGE), Err(AllocError::InvalidParam));
    // SAFETY: all allocated above; frees in another order than allocations.
    unsafe {
        a.dealloc_pages(quarter, span / 4 / PAGE);
        a.dealloc_pages(top, huge / PAGE);
        for r in runs.into_iter().rev() {
            a.dealloc_pages(r, huge / PAGE);
        }
        a.dealloc_pages(singles[0], 100); // freed as one range
        a.dealloc_pages(singles[0], 1); // a double free: ignored
    }
    a.assert_valid();
    assert_eq!(a.used_pages(), 0);
    assert_eq!(a.alloc_pages(span / PAGE, PAGE), Ok(start), "everything at once again");
}

#[test]
fn a_64_gib_frame_space_without_capacity_features() {
    // Under Miri 64 MiB: the same paths on a shallower tree.
    exercise_frame_space(4 * GIB, scaled(64 * GIB, 64 * MIB));
}

#[cfg(not(miri))]
#[test]
fn a_1_tib_frame_space_without_capacity_features() {
    // Far up the address space, at an odd 2 MiB boundary.
    exercise_frame_space((1 << 46) + 6 * MIB, 1 << 40);
}

#[test]
fn frames_by_value_cost_no_bitmap() {
    // The struct holds a slice, its shape and the region table: nothing
    // that grows with the span.
    assert!(size_of::<Frames>() < 2048, "{}", size_of::<Frames>());
    assert!(size_of::<Pages>() >= PAGE_CAPACITY / 8, "the inline type holds its bitmap");
    std::println!("size_of::<BitmapFrameAllocator<4096>>() = {}", size_of::<Frames>());
}

#[test]
fn frame_capacity_is_the_buffer() {
    let mut a = Frames::with_bitmap(leak(std::vec![0; 4]));
    assert_eq!(a.capacity(), 65 + 63); // 2 leaf words, one summary level
    assert_eq!(Frames::pages_for_words(4), 128);
    assert_eq!(Frames::bitmap_words(128), 4);
    assert_eq!(Frames::bitmap_words_for_bytes(128 * PAGE - 1), 4);
    // SAFETY: page numbers only.
    unsafe {
        assert_eq!(a.init(GIB, 129 * PAGE), Err(AllocError::InvalidParam));
        a.init(GIB, 16 * PAGE).unwrap();
        assert_eq!(a.add_memory(GIB + 128 * PAGE, PAGE), Err(AllocError::InvalidParam), "span 129");
        a.add_memory(GIB + 127 * PAGE, PAGE).unwrap();
        assert_eq!(a.add_memory(GIB - PAGE, PAGE), Err(AllocError::InvalidParam), "span 129 below");
    }
    a.assert_valid();
    let mut none = Frames::with_bitmap(&mut []);
    assert_eq!(none.capacity(), 0);
    // SAFETY: page numbers only.
    assert_eq!(unsafe { none.init(GIB, PAGE) }, Err(AllocError::InvalidParam));
    assert_eq!(none.alloc_pages(1, PAGE), Err(AllocError::NoMemory));
}

#[test]
fn a_region_below_after_allocations_shifts_the_frame_bitmap() {
    let high = 5 * GIB;
    let mut a = frames(256 * MIB);
    // SAFETY: page numbers only.
    unsafe { a.init(high, scaled(4 * MIB, 256 * 1024)) }.unwrap();
    let kept = a.alloc_pages(3, PAGE).unwrap();
    let run = a.alloc_pages(16, 16 * PAGE).unwrap();
    // 200 pages + 1 below: not a multiple of 64, so words shift by bits.
    let low = high - 201 * PAGE;
    // SAFETY: page numbers only.
    unsafe { a.add_memory(low, 5 * PAGE) }.unwrap();
    a.assert_valid();
    assert_eq!(a.window_start(), Some(low));
    assert_eq!(a.alloc_pages_at(kept, 1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages_at(run + 15 * PAGE, 1, PAGE), Err(AllocError::NoMemory));
    assert_eq!(a.alloc_pages(1, PAGE), Ok(low));
    assert_eq!(a.alloc_pages(4, PAGE), Ok(low + PAGE));
    assert_eq!(a.alloc_pages(1, PAGE), Ok(kept + 3 * PAGE));
    a.assert_valid();
    assert_eq!(a.used_pages(), 3 + 16 + 5 + 1);
}

#[test]
fn from_region_carves_its_bitmap_from_mapped_memory() {
    let pages = scaled(4096, 256);
    let memory: &'static mut [u8] = leak(std::vec![0xEEu8; (pages + 1) * PAGE]);
    let start = memory.as_mut_ptr().expose_provenance().next_multiple_of(PAGE);
    // SAFETY: leaked, exposed, unused; one page of slack covers the rounding.
    let mut a = unsafe { Frames::from_region(start, pages * PAGE) }.unwrap();
    let meta = Frames::bitmap_words(pages).div_ceil(PAGE / 8);
    assert_eq!(a.total_pages(), pages - meta);
    assert_eq!(a.regions().next(), Some(Region { start: start + meta * PAGE, end: start + pages * PAGE }));
    assert!(a.capacity() >= pages - meta);
    let p = a.alloc_pages(8, 8 * PAGE).unwrap();
    assert!(p >= start + meta * PAGE);
    a.assert_valid();
    // SAFETY: too small for a bitmap and a page / overflowing.
    unsafe {
        assert_eq!(Frames::from_region(start, PAGE).map(|_| ()), Err(AllocError::InvalidParam));
        assert_eq!(
            Frames::from_region(usize::MAX - PAGE, 2 * PAGE).map(|_| ()),
            Err(AllocError::InvalidParam)
        );
    }
}
