//! The size-class tables: selection, waste, geometry, statistics, colours.

use super::*;
use std::{format, string::ToString};

/// A table defined outside the crate's own: odd sizes, every block 8-aligned
/// only.
pub(crate) struct Odd;

impl SizeClasses for Odd {
    const SIZES: &'static [usize] = &[24, 40, 200, 1000, 3000];
}

#[path = "../../tests/common/oracle.rs"]
mod oracle;
use oracle::expected_class;

fn selection_is_the_smallest_fitting_class<C: SizeClasses>() {
    let sizes: Vec<usize> = if cfg!(miri) { (0..=4100).step_by(37).collect() } else { (0..=4100).collect() };
    for size in sizes {
        for shift in 0..=13 {
            let align = 1 << shift;
            let Ok(l) = Layout::from_size_align(size, align) else { continue };
            let class = C::size_class(l);
            assert_eq!(class, expected_class::<C>(size, align), "size {size} align {align}");
            if let Some(class) = class {
                assert!(C::class_size(class).unwrap() >= size);
                assert!(C::block_align(class).unwrap() >= align);
            }
        }
    }
}

#[test]
fn every_table_picks_the_smallest_fitting_class() {
    selection_is_the_smallest_fitting_class::<FineClasses>();
    selection_is_the_smallest_fitting_class::<crate::FineClassesTo4096>();
    selection_is_the_smallest_fitting_class::<P2>();
    selection_is_the_smallest_fitting_class::<Odd>();
    assert_eq!(Odd::size_class(layout(16, 16)), None, "no class of Odd is 16-aligned: the backing serves it");
    assert_eq!(Odd::size_class(layout(3001, 8)), None);
    assert_eq!(FineClasses::size_class(layout(4097, 8)), None);
    assert_eq!(FineClasses::size_class(layout(8, 8192)), None);
}

/// The documented worst case of the fine tables, over every size and every
/// alignment up to 8 (larger alignments round to the first class so
/// aligned, which the selection test checks is the smallest).
fn waste_within_the_bound<C: SizeClasses>() -> (usize, usize, usize) {
    let mut worst = (0, 0, 1);
    // Under Miri, one size past each multiple of 16 (the worst cases are one
    // byte past a class) and the multiples of 64.
    let sizes = (1..=MAX_CLASS_SIZE).filter(|size| !cfg!(miri) || size % 16 == 1 || size % 64 == 0);
    for size in sizes {
        for align in [1, 2, 4, 8] {
            let Some(class) = C::size_class(layout(size, align)) else {
                assert!(
                    size > *C::SIZES.last().unwrap() || size > C::EXACT_FIT_ABOVE,
                    "size {size}: only sizes above the last class or fitted exactly go to the backing"
                );
                continue;
            };
            let block = C::class_size(class).unwrap();
            let waste = block - size;
            if size <= 64 {
                assert!(waste <= 15, "size {size}: {block}");
            } else if size > C::EXACT_FIT_ABOVE {
                assert!(
                    waste <= block / 8 + 7,
                    "size {size}: {block}: at most an eighth (and the rounding to 8)"
                );
            } else {
                assert!(waste * 100 < block * crate::FINE_WORST_WASTE_PERCENT, "size {size}: {block}");
                if waste * worst.2 > worst.1 * block {
                    worst = (size, waste, block);
                }
            }
        }
    }
    worst
}

#[test]
fn the_fine_tables_waste_at_most_the_stated_bound() {
    // The bound is tight: 513 bytes take 640, 127 bytes (19.8 %) wasted.
    assert_eq!(waste_within_the_bound::<FineClasses>(), (513, 127, 640));
    assert_eq!(FineClasses::count(), 25);
    assert_eq!(FineClasses::size_class(layout(2049, 8)), None);
    assert_eq!(waste_within_the_bound::<crate::FineClassesTo4096>(), (513, 127, 640));
    assert_eq!(crate::FineClassesTo4096::count(), 29);
    // Above 1024 bytes a size the next class would fit with more than an
    // eighth of its block unused goes to the backing allocator: 1025..=1112
    // bytes (1113 rounds to 1120, and 1280 - 1120 = 160 = 1280 / 8).
    for (size, class) in [(1024, Some(1024)), (1025, None), (1032, None), (1112, None), (1113, Some(1280))] {
        assert_eq!(FineClasses::size_class(layout(size, 8)).map(|c| FineClasses::SIZES[c]), class, "{size}");
    }
    // 2048 / 8 = 256: every size from 1792 + 1 fits the 2048-byte class.
    assert_eq!(FineClasses::size_class(layout(1793, 8)).map(|c| FineClasses::SIZES[c]), Some(2048));
    assert_eq!(FineClasses::size_class(layout(1537, 8)), None, "1544 in 1792: 248 > 224 unused");
    assert_eq!(crate::FineClassesTo4096::size_class(layout(2100, 8)), None, "2100 in 2560 wastes 18 %");
    // A table without the rule keeps every size its class fits.
    assert_eq!(P2::size_class(layout(1032, 8)).map(|c| P2::SIZES[c]), Some(2048));
}

#[test]
fn heaps_of_every_table_serve_each_class_aligned() {
    fn serve<C: SizeClasses>() {
        let arena = Pool::new(2 << 20, 4096);
        let mut heap: Heap<TlsfByteAllocator, C> = Heap::with_classes(TlsfByteAllocator::new());
        // SAFETY: host memory used by nothing else; it outlives the heap.
        unsafe { heap.add_memory(arena.start(), arena.size()) }.unwrap();
        let mut live = Vec::new();
        for class in 0..C::count() {
            let size = C::class_size(class).unwrap();
            let align = C::block_align(class).unwrap();
            for l in [layout(size, align), layout(size - 7, 1)] {
                let block = heap.alloc(l).unwrap();
                assert_eq!(block.as_ptr().addr() % align, 0);
                fill(block, l.size(), class as u8);
                live.push((block, l, class as u8));
            }
        }
        assert_eq!(heap.used_bytes(), C::SIZES.iter().sum::<usize>() * 2);
        for (block, l, tag) in live {
            check_fill(block, l.size(), tag);
            // SAFETY: allocated with `l`.
            unsafe { heap.dealloc(block, l) };
        }
        assert_eq!(heap.used_bytes(), 0);
        heap.release_cached_slabs();
        assert_eq!(heap.backing().used_bytes(), 0);
    }
    serve::<FineClasses>();
    serve::<crate::FineClassesTo4096>();
    serve::<P2>();
    serve::<Odd>();
}

#[test]
fn class_statistics_count_blocks_and_slabs() {
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = heap_over(&arena, TlsfByteAllocator::new());
    let l = layout(64, 8);
    let class = size_class(l).unwrap();
    let per_slab = slab_capacity(class);
    let blocks: Vec<_> = (0..2 * per_slab + 1).map(|_| heap.alloc(l).unwrap()).collect();
    let stats = heap.class_stats().classes()[class];
    assert_eq!((stats.size, stats.slab_size), (64, slab_size(class)));
    assert_eq!(
        (stats.live, stats.peak_live, stats.allocs, stats.frees),
        (2 * per_slab + 1, 2 * per_slab + 1, 2 * per_slab as u64 + 1, 0)
    );
    assert_eq!((stats.full_slabs, stats.partial_slabs, stats.cached_slabs), (2, 1, 0));
    // Free the last slab's block and one of a full slab.
    // SAFETY: allocated with `l`, each freed once.
    unsafe {
        heap.dealloc(blocks[2 * per_slab], l);
        heap.dealloc(blocks[0], l);
    }
    let stats = heap.class_stats().classes()[class];
    assert_eq!((stats.live, stats.peak_live, stats.frees), (2 * per_slab - 1, 2 * per_slab + 1, 2));
    assert_eq!((stats.full_slabs, stats.partial_slabs, stats.cached_slabs), (1, 1, 1));
    let peak = heap.peak_used_bytes();
    assert_eq!(peak, (2 * per_slab + 1) * 64);
    for &block in &blocks[1..2 * per_slab] {
        // SAFETY: as above.
        unsafe { heap.dealloc(block, l) };
    }
    let all = heap.class_stats();
    let stats = all.classes()[class];
    assert_eq!((stats.live, stats.full_slabs, stats.partial_slabs, stats.cached_slabs), (0, 0, 0, 1));
    assert_eq!(stats.allocs, stats.frees);
    assert_eq!(heap.peak_used_bytes(), peak, "the peak stays");
    assert_eq!(all.classes().len(), NUM_CLASSES);
    let text = all.to_string();
    assert_eq!(text.lines().count(), NUM_CLASSES);
    assert!(
        text.contains(&format!(
            "  64 B: live 0 (peak {}), slabs 0 full / 0 partial / 1 cached (4 KiB)",
            2 * per_slab + 1
        )),
        "{text}"
    );
    // A large block counts in the peak too.
    let big = layout(100_000, 8);
    let block = heap.alloc(big).unwrap();
    assert!(heap.peak_used_bytes() >= 100_000);
    // SAFETY: allocated with `big`.
    unsafe { heap.dealloc(block, big) };
}

#[test]
fn successive_slabs_take_successive_colours() {
    let (class, colours) = (0..FineClasses::count())
        .map(|class| (class, FineClasses::colours(class).unwrap()))
        .find(|&(_, colours)| colours >= 3)
        .expect("a class with room for three colours");
    let size = FineClasses::class_size(class).unwrap();
    let slab = FineClasses::slab_size(class).unwrap();
    let per_slab = FineClasses::slab_capacity(class).unwrap();
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = Heap::with_backing(TlsfByteAllocator::new());
    // SAFETY: host memory used by nothing else; it outlives the heap.
    unsafe { heap.add_memory(arena.start(), arena.size()) }.unwrap();
    let l = layout(size, 8);
    let blocks: Vec<_> = (0..(colours + 1) * per_slab).map(|_| heap.alloc(l).unwrap()).collect();
    let offsets: Vec<usize> =
        blocks.chunks(per_slab).map(|slab_blocks| slab_blocks[0].as_ptr().addr() % slab).collect();
    let step = 64.max(FineClasses::block_align(class).unwrap());
    let expected: Vec<usize> = (0..=colours).map(|i| (i % colours) * step).collect();
    assert_eq!(offsets, expected, "{size}-byte class, {colours} colours");
    for block in blocks {
        assert_eq!(block.as_ptr().addr() % FineClasses::block_align(class).unwrap(), 0);
        // SAFETY: allocated with `l`.
        unsafe { heap.dealloc(block, l) };
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn class_statistics_count_rounding_and_free_bytes() {
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = heap_over(&arena, TlsfByteAllocator::new());
    // 40-byte layouts take the 64-byte class of the power-of-two table.
    let l = layout(40, 8);
    let class = size_class(l).unwrap();
    let per_slab = slab_capacity(class);
    let blocks: Vec<_> = (0..per_slab + 2).map(|_| heap.alloc(l).unwrap()).collect();
    let stats = heap.class_stats().classes()[class];
    assert_eq!(stats.blocks_per_slab, per_slab);
    assert_eq!(stats.requested_bytes, (per_slab + 2) * 40);
    assert_eq!(stats.rounding_bytes(), (per_slab + 2) * 24);
    // One full slab, one partial with 2 of its blocks live.
    assert_eq!(stats.free_in_slabs_bytes(), (per_slab - 2) * 64);
    let held = 2 * slab_size(class);
    let expected = 1.0 - ((per_slab + 2) * 40) as f64 / held as f64;
    assert!((stats.fragmentation() - expected).abs() < 1e-9, "{}", stats.fragmentation());
    // Growing in place within the class counts the new size; moving to
    // another class moves the count.
    // SAFETY: `blocks[0]` is live for `l`.
    let grown = unsafe { heap.realloc(blocks[0], l, 60) }.unwrap();
    assert_eq!(grown, blocks[0]);
    assert_eq!(heap.class_stats().classes()[class].requested_bytes, (per_slab + 2) * 40 + 20);
    // SAFETY: `grown` is live for (60, 8).
    let moved = unsafe { heap.realloc(grown, layout(60, 8), 100) }.unwrap();
    assert_eq!(heap.class_stats().classes()[class].requested_bytes, (per_slab + 1) * 40);
    assert_eq!(heap.class_stats().classes()[size_class(layout(100, 8)).unwrap()].requested_bytes, 100);
    // SAFETY: each block is live for its layout, freed once.
    unsafe {
        heap.dealloc(moved, layout(100, 8));
        for &block in &blocks[1..] {
            heap.dealloc(block, l);
        }
    }
    let stats = heap.class_stats().classes()[class];
    assert_eq!((stats.requested_bytes, stats.rounding_bytes(), stats.free_in_slabs_bytes()), (0, 0, 0));
    assert!(stats.to_string().contains("rounding 0 B, free in slabs 0 B"), "{stats}");
}

#[test]
fn assert_valid_finds_corruption() {
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = heap_over(&arena, TlsfByteAllocator::new());
    let l = layout(64, 8);
    let blocks: Vec<_> = (0..100).map(|_| heap.alloc(l).unwrap()).collect();
    for &block in blocks.iter().step_by(3) {
        // SAFETY: allocated with `l`, freed once.
        unsafe { heap.dealloc(block, l) };
    }
    heap.assert_valid();
    let caught = |heap: &Heap<TlsfByteAllocator, P2>| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.assert_valid())).is_err()
    };
    let class = size_class(l).unwrap();
    *heap.counters_mut(class).0 += 64;
    assert!(caught(&heap), "a wrong small_used passed");
    *heap.counters_mut(class).0 -= 64;
    *heap.counters_mut(class).1 += 1;
    assert!(caught(&heap), "a wrong live count passed");
    *heap.counters_mut(class).1 -= 1;
    heap.assert_valid();
    for (i, &block) in blocks.iter().enumerate() {
        if i % 3 != 0 {
            // SAFETY: allocated with `l`, not freed above.
            unsafe { heap.dealloc(block, l) };
        }
    }
    heap.assert_valid();
}
