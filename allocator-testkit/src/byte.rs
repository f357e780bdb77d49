//! The conformance checks of [`ByteAllocator`]s.
//!
//! Each `pub fn` here is one check: it takes `make`, which returns a fresh,
//! *uninitialised* allocator, and a [`ByteConfig`], builds the heaps it needs
//! from [`Pool`]s, and panics (naming the seed and the step) when the
//! allocator breaks the contract of `allocator-traits`.
//! [`byte_allocator_tests!`](crate::byte_allocator_tests) turns them into
//! one `#[test]` each.

pub use crate::provenance::{neighbour_frees, padded_values, realloc_chains};
use std::alloc::Layout;

use allocator_traits::{AllocError, ByteAllocator, Region};

use crate::{Pool, Rng};

mod config;
mod model;

pub use config::{ByteConfig, random_layout};
pub use model::{Block, ByteHarness, Model};

/// Seeded random alloc/realloc/free against the model: every pointer
/// aligned, inside a region, overlapping no live block; patterns verified
/// before every free and after every realloc; the statistics invariants after
/// every operation; `used_bytes() == 0` once everything is freed.
pub fn random_churn<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = ByteHarness::new(make, cfg, format!("random_churn seed {seed:#x}"));
        let mut rng = Rng::new(seed);
        let served = heap.churn(&mut rng, cfg, cfg.ops);
        assert!(served > 0 || cfg.ops == 0, "random_churn seed {seed:#x}: no allocation succeeded");
        heap.model.verify_all();
        heap.free_all();
    }
}

/// Allocates blocks of random layouts until `cfg.ops` (at most 400) or the
/// first failure; for each, `claimed` says how many bytes the allocator says
/// are the caller's (`None`: nothing claimed), which must be at least the
/// layout's size, and the bytes past the layout up to that are written: a
/// claim reaching into another block corrupts that block's pattern, which
/// the caller's `verify_all` finds.
fn fill_claiming<A: ByteAllocator>(
    heap: &mut ByteHarness<A>,
    rng: &mut Rng,
    cfg: &ByteConfig,
    what: &str,
    claimed: impl Fn(&A, Block) -> Option<usize>,
) {
    for _ in 0..cfg.ops.min(400) {
        let layout = random_layout(rng, cfg.max_size, cfg.churn_align());
        let Ok(index) = heap.alloc(layout, &[AllocError::NoMemory]) else { break };
        let block = heap.model.blocks()[index];
        let Some(claim) = claimed(&heap.alloc, block) else { continue };
        assert!(claim >= layout.size(), "{what}: {layout:?} claims only {claim} bytes");
        // SAFETY: the claimed bytes are the caller's (what is checked): the
        // ones past the layout's size, which the model's pattern leaves.
        unsafe { block.ptr.add(layout.size()).write_bytes(0xA5, claim - layout.size()) };
    }
}

/// `usable_size` hands the caller only bytes of its own block: blocks of
/// random layouts (zero sizes, odd sizes, large alignments) are allocated,
/// each reports a usable size of at least its layout's, and the bytes past
/// the layout up to that size are written; every block's own pattern must
/// survive (a usable range that reached into another block would overwrite
/// it) and the frees must find the engine intact.
pub fn usable_sizes<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = ByteHarness::new(make, cfg, format!("usable_sizes seed {seed:#x}"));
        let mut rng = Rng::new(seed);
        fill_claiming(&mut heap, &mut rng, cfg, "usable_sizes", |alloc, block| {
            // SAFETY: `block` is live in this allocator with its layout.
            Some(unsafe { alloc.usable_size(block.ptr, block.layout) })
        });
        heap.model.verify_all();
        heap.free_all();
    }
}

/// `block_size` tells the truth where the engine says it finds sizes
/// (`finds_block_sizes`), and says `None` where it does not: blocks of random
/// layouts are allocated; each found size is at least the layout's, and
/// its bytes past the layout are written (they are
/// the caller's); a third of the blocks are then resized, and every block is
/// freed in a random order, each with the layout `(found size, alignment)`
/// alone, as a C `free` does; the engine must be intact and empty after.
pub fn found_sizes<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = ByteHarness::new(make, cfg, format!("found_sizes seed {seed:#x}"));
        let mut rng = Rng::new(seed);
        fill_claiming(&mut heap, &mut rng, cfg, "found_sizes", |alloc, block| {
            // SAFETY: `block` is live in this allocator with its layout.
            let found = unsafe { alloc.block_size(block.ptr, block.layout.align()) };
            if !A::finds_block_sizes() {
                assert_eq!(
                    found, None,
                    "found_sizes seed {seed:#x}: a size found though finds_block_sizes() is false"
                );
                return None;
            }
            Some(found.unwrap_or_else(|| {
                panic!("found_sizes seed {seed:#x}: no size found for {:?}", block.layout)
            }))
        });
        heap.model.verify_all();
        if !A::finds_block_sizes() {
            heap.free_all();
            continue;
        }
        // Resize a third of the blocks through their found layouts.
        for index in (0..heap.model.len()).step_by(3) {
            let block = heap.model.blocks()[index];
            // SAFETY: `block` is live with its layout's alignment.
            let found = unsafe { heap.alloc.block_size(block.ptr, block.layout.align()) }.unwrap();
            let stand_in = Layout::from_size_align(found, block.layout.align()).unwrap();
            let new_size = rng.below(cfg.max_size + 1);
            // SAFETY: `(found, align)` stands for the live block's layout
            // (`block_size`'s promise).
            if let Ok(moved) = unsafe { heap.alloc.realloc(block.ptr, stand_in, new_size) } {
                // SAFETY: `moved` was just returned by `realloc` of the
                // block to `new_size` bytes.
                unsafe { heap.model.reallocated(index, moved, new_size) };
            }
        }
        heap.model.verify_all();
        while !heap.model.is_empty() {
            let block = heap.model.remove(rng.below(heap.model.len()));
            // SAFETY: the block is live with this alignment; it is freed once
            // (forgotten by the model just above).
            let found = unsafe { heap.alloc.block_size(block.ptr, block.layout.align()) }.unwrap();
            let stand_in = Layout::from_size_align(found, block.layout.align()).unwrap();
            // SAFETY: `block_size`'s promise: `stand_in` stands for its layout.
            unsafe { heap.alloc.dealloc(block.ptr, stand_in) };
        }
        assert_eq!(
            heap.alloc.used_bytes(),
            0,
            "found_sizes seed {seed:#x}: used_bytes after freeing every block"
        );
        heap.alloc.assert_valid();
    }
}

/// Measures the largest block and the available bytes on a fresh heap, and
/// again after churn and freeing everything: they must be equal (nothing
/// leaks, nothing stays pinned).
pub fn recovery<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = ByteHarness::new(make, cfg, format!("recovery seed {seed:#x}"));
        let aligns = [cfg.probe_align, cfg.churn_align()];
        let fresh: Vec<usize> = aligns.iter().map(|&a| heap.largest_block(a)).collect();
        let available = heap.alloc.available_bytes();
        // A lower bound: what one block can take is available.
        assert!(
            available >= fresh[0],
            "recovery seed {seed:#x}: available_bytes {available} is less than the {} bytes one block just took",
            fresh[0]
        );
        assert!(
            fresh[0] >= cfg.region_size / 4,
            "recovery: a fresh heap of {} bytes serves at most {} bytes in one block",
            cfg.region_size,
            fresh[0]
        );
        heap.churn(&mut Rng::new(seed), cfg, cfg.ops / 2);
        heap.free_all();
        let after: Vec<usize> = aligns.iter().map(|&a| heap.largest_block(a)).collect();
        assert_eq!(
            after, fresh,
            "recovery seed {seed:#x}: the largest blocks (alignments {aligns:?}) after churn and freeing everything \
             differ from a fresh heap's"
        );
        assert_eq!(
            heap.alloc.available_bytes(),
            available,
            "recovery seed {seed:#x}: available_bytes after freeing all"
        );
    }
}

/// Allocates until [`AllocError::NoMemory`] (exactly that error), verifies
/// every block, frees half, allocates again, frees all, and checks recovery.
pub fn out_of_memory<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = ByteHarness::new(make, cfg, format!("out_of_memory seed {seed:#x}"));
        let fresh = heap.largest_block(cfg.probe_align);
        let mut rng = Rng::new(seed);
        // Random layouts until the first refusal, then smaller and smaller.
        loop {
            let layout = random_layout(&mut rng, cfg.max_size, cfg.churn_align());
            if heap.alloc(layout, &[AllocError::NoMemory]).is_err() {
                break;
            }
        }
        heap.fill(cfg.max_size);
        heap.check_stats();
        heap.model.verify_all();
        // Free about half, remembering the layouts.
        let mut freed = Vec::new();
        for _ in 0..heap.model.len() / 2 {
            let index = rng.below(heap.model.len());
            freed.push(heap.model.blocks()[index].layout);
            heap.free(index);
        }
        heap.check_stats();
        // The freed blocks' own places fit their layouts again: an allocator
        // may place them elsewhere, but not lose most of that room.
        let again =
            freed.iter().rev().filter(|&&layout| heap.alloc(layout, &[AllocError::NoMemory]).is_ok()).count();
        assert!(
            again * 10 >= freed.len() * 9,
            "out_of_memory seed {seed:#x}: only {again} of the {} layouts just freed could be allocated again",
            freed.len()
        );
        heap.model.verify_all();
        heap.free_all();
        assert_eq!(
            heap.largest_block(cfg.probe_align),
            fresh,
            "out_of_memory seed {seed:#x}: largest block after freeing all"
        );
    }
}

/// Zero-size layouts of several alignments get aligned, in-region, unique
/// pointers, which are freed (and reallocated) normally.
pub fn zero_size<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "zero_size");
    let mut align = 1;
    while align <= cfg.churn_align() {
        for _ in 0..3 {
            let layout = Layout::from_size_align(0, align).expect("power of two");
            heap.alloc(layout, &[]).expect("checked above");
            heap.alloc(Layout::new::<u8>(), &[]).expect("checked above");
        }
        heap.check_stats();
        align *= 2;
    }
    // Grow a zero-size block and shrink a block to zero.
    let zero =
        heap.model.blocks().iter().position(|b| b.layout.size() == 0).expect("zero-size blocks are live");
    let grown = heap.realloc(zero, 100).expect("realloc of a zero-size block to 100 bytes");
    heap.realloc(grown, 0).expect("realloc to zero bytes");
    heap.check_stats();
    heap.free_all();
}

/// Grow and shrink preserve contents and alignment; a realloc larger than the
/// heap is [`AllocError::NoMemory`] and leaves the old block intact.
pub fn realloc<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "realloc");
    let small = |size| Layout::from_size_align(size, 8).expect("small layout");
    // Neighbours on both sides, so growth in place is not always possible.
    heap.alloc(small(48), &[]).expect("fresh heap");
    let mut index = heap.alloc(small(24), &[]).expect("fresh heap");
    heap.alloc(small(48), &[]).expect("fresh heap");
    for new_size in [100, 1000, cfg.max_size, 5000, 16, 0, 64, 24] {
        index =
            heap.realloc(index, new_size).unwrap_or_else(|e| panic!("realloc to {new_size} failed: {e:?}"));
        heap.check_stats();
    }
    heap.model.verify_all();
    // Alignment is kept.
    let mut align = 16;
    while align <= cfg.churn_align() {
        let mut index =
            heap.alloc(Layout::from_size_align(100, align).expect("layout"), &[]).expect("fresh heap");
        for new_size in [cfg.max_size, 10, 300] {
            index = heap
                .realloc(index, new_size)
                .unwrap_or_else(|e| panic!("realloc (align {align}) failed: {e:?}"));
        }
        align *= 8;
    }
    // Too large: NoMemory, old block intact and still freeable. The block
    // reallocated last is the last one recorded.
    let index = heap.model.len() - 1;
    let total = heap.alloc.total_bytes();
    for new_size in [total + 1, cfg.region_size * 2, isize::MAX as usize - 7, isize::MAX as usize, usize::MAX]
    {
        assert_eq!(heap.realloc(index, new_size), Err(AllocError::NoMemory), "realloc to {new_size} bytes");
    }
    heap.check_stats();
    heap.free_all();
}

/// `count` regions of `cfg.region_size` bytes carved with random gaps from
/// one pool the heap keeps, in descending address order (`descending`) or
/// shuffled; returns the pool's start and the regions.
fn carve_regions<A: ByteAllocator>(
    heap: &mut ByteHarness<A>,
    cfg: &ByteConfig,
    rng: &mut Rng,
    count: usize,
    descending: bool,
) -> (usize, Vec<Region>) {
    let gaps: Vec<usize> = (0..count).map(|_| cfg.region_align * rng.range(1, 4)).collect();
    let pool = heap.keep(Pool::new(count * cfg.region_size + gaps.iter().sum::<usize>(), cfg.region_align));
    let pool_start = pool.start();
    let mut slots = Vec::new();
    let mut start = pool_start;
    for gap in gaps {
        slots.push(Region { start, end: start + cfg.region_size });
        start += cfg.region_size + gap;
    }
    if descending {
        slots.reverse();
    } else {
        rng.shuffle(&mut slots);
    }
    (pool_start, slots)
}

/// Several regions (`max_regions`), carved with gaps from one pool, added in
/// random address order (and once in descending order): `total_bytes` grows
/// with each, and a heap filled to the brim has blocks in every region.
pub fn regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let count = cfg.max_regions.max(1);
    for (round, seed) in cfg.seed_list().enumerate() {
        let mut rng = Rng::new(seed);
        let mut heap = ByteHarness::uninit(make, format!("regions seed {seed:#x}"));
        let (_, slots) = carve_regions(&mut heap, cfg, &mut rng, count, round == 0);
        let mut total = 0;
        for (i, &region) in slots.iter().enumerate() {
            heap.add(region, i == 0).unwrap_or_else(|e| panic!("adding region {i} {region:?} failed: {e:?}"));
            let now = heap.alloc.total_bytes();
            assert!(
                now > total,
                "regions: total_bytes did not grow ({total} -> {now}) when region {i} was added"
            );
            total = now;
            heap.check_stats();
        }
        heap.fill(cfg.region_size);
        heap.check_stats();
        for region in &slots {
            assert!(
                heap.model.blocks().iter().any(|b| region.contains_range(b.ptr.as_ptr().addr(), 1)),
                "regions seed {seed:#x}: a full heap has no block in {region:?}"
            );
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        heap.free_all();
    }
}

/// What [`remove_regions`] writes over the memory of a removed region: the
/// allocator must never touch it again.
const REMOVED: u8 = 0xD3;

/// Ranges that were never handed to the allocator, near `region` (which
/// was): parts of it, shifted copies, a superset, an empty and an
/// overflowing range.
fn never_added(region: Region, align: usize) -> Vec<(&'static str, usize, usize)> {
    let (start, size) = (region.start, region.size());
    vec![
        ("its first part", start, size - align),
        ("its last part", start + align, size - align),
        ("a part one byte shorter", start, size - 1),
        ("a part starting one byte in", start + 1, size - 1),
        ("a copy shifted by the alignment", start + align, size),
        ("a superset", start, size + align),
        ("an empty range at its start", start, 0),
        ("an overflowing range", usize::MAX - 15, 64),
    ]
}

/// Each of [`never_added`]'s ranges for each region is
/// [`AllocError::NotAllocated`], and changes nothing.
fn remove_never_added<A: ByteAllocator>(
    heap: &mut ByteHarness<A>,
    regions: &[Region],
    cfg: &ByteConfig,
    when: &str,
) {
    for &region in regions {
        for (what, start, size) in never_added(region, cfg.region_align) {
            let stats = heap.stats();
            let result = heap.alloc.remove_memory(start, size);
            let at = heap.model.at();
            assert_eq!(
                result,
                Err(AllocError::NotAllocated),
                "{at} remove_memory({start:#x}, {size:#x}), {what} of the region {region:?} ({when})"
            );
            assert_eq!(
                heap.stats(),
                stats,
                "{at} statistics (total, used, available) after a refused remove_memory of {what}"
            );
        }
    }
}

/// Gives regions back ([`ByteAllocator::remove_memory`]): `init` and
/// `add_memory` with `max_regions` regions carved with gaps from one pool,
/// random churn, then:
///
/// - a region holding a live block is [`AllocError::MemoryOverlap`]: the
///   blocks stay intact, `total_bytes` and `used_bytes` do not change
///   (`available_bytes` may only grow: a layer may return cached memory
///   first);
/// - a range never added (a part of a region, a shifted copy, a superset,
///   an empty or overflowing range) is [`AllocError::NotAllocated`] and
///   changes nothing, with live blocks and without;
/// - once everything is freed, every region added with `add_memory` is
///   removed, in random order, with churn in between: `total_bytes` drops by
///   exactly what it rose when the region was added, and a second removal is
///   `NotAllocated`;
/// - the memory of a removed region is never written again (it is filled
///   with a sentinel and checked at the end) and no block is placed in it;
/// - with only the first region left, the largest block is what it was on
///   the fresh heap of that region alone;
/// - the first region goes too: `total_bytes` is 0, `alloc` is
///   [`AllocError::NoMemory`], and the region can be added again and serves
///   as before.
pub fn remove_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let count = cfg.max_regions.max(2);
    for (round, seed) in cfg.seed_list().enumerate() {
        let mut rng = Rng::new(seed);
        let context = format!("remove_regions seed {seed:#x}");
        let mut heap = ByteHarness::uninit(make, context.clone());
        heap.exact_stats = cfg.exact_stats;
        let (pool_start, slots) = carve_regions(&mut heap, cfg, &mut rng, count, round == 0);
        let mut rises = Vec::new();
        let mut fresh = 0;
        for (i, &region) in slots.iter().enumerate() {
            let before = heap.alloc.total_bytes();
            heap.add(region, i == 0)
                .unwrap_or_else(|e| panic!("{context}: adding region {i} {region:?}: {e:?}"));
            let now = heap.alloc.total_bytes();
            assert!(now > before, "{context}: total_bytes did not grow when region {i} was added");
            rises.push(now - before);
            if i == 0 {
                fresh = heap.largest_block(cfg.probe_align);
            }
            heap.check_stats();
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        // A full heap has blocks in every region: none can go.
        heap.fill(cfg.region_size);
        for (i, &region) in slots.iter().enumerate() {
            if !heap.model.blocks().iter().any(|b| region.contains_range(b.ptr.as_ptr().addr(), 1)) {
                continue;
            }
            let (total, used, available) = heap.stats();
            let result = heap.remove(region);
            let at = heap.model.at();
            assert_eq!(
                result,
                Err(AllocError::MemoryOverlap),
                "{at} remove_memory of region {i} {region:?}, which holds a live block"
            );
            let (total_now, used_now, available_now) = heap.stats();
            assert_eq!(
                (total_now, used_now),
                (total, used),
                "{at} total and used bytes after a refused remove_memory of region {i}"
            );
            assert!(
                available_now >= available,
                "{at} available_bytes fell from {available} to {available_now} in a refused remove_memory"
            );
            heap.check_stats();
        }
        heap.model.verify_all();
        remove_never_added(&mut heap, &slots, cfg, "with live blocks");
        heap.free_all();
        remove_never_added(&mut heap, &slots, cfg, "all free");
        // Every region but the first, in random order.
        let mut order: Vec<usize> = (1..count).collect();
        rng.shuffle(&mut order);
        for &i in &order {
            let region = slots[i];
            let total = heap.alloc.total_bytes();
            let result = heap.remove(region);
            let at = heap.model.at().to_string();
            assert_eq!(result, Ok(()), "{at} remove_memory of region {i} {region:?}, all free");
            let dropped = total - heap.alloc.total_bytes();
            assert_eq!(
                dropped, rises[i],
                "{at} total_bytes dropped by {dropped} when region {i} was removed, but rose by {} when it was added",
                rises[i]
            );
            heap.check_stats();
            assert_eq!(
                heap.remove(region),
                Err(AllocError::NotAllocated),
                "{at} a second remove_memory of region {i}"
            );
            heap.pools[0].fill(region.start - pool_start, region.size(), REMOVED);
            heap.churn(&mut rng, cfg, cfg.ops / 16);
            heap.free_all();
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        heap.model.verify_all();
        heap.free_all();
        assert_eq!(
            heap.largest_block(cfg.probe_align),
            fresh,
            "{context}: the largest block with only the first region left differs from the fresh heap's of that \
             region"
        );
        // The first region too: nothing left.
        let first = slots[0];
        assert_eq!(heap.remove(first), Ok(()), "{context}: remove_memory of the first region, all free");
        heap.check_stats();
        assert_eq!(heap.alloc.total_bytes(), 0, "{context}: total_bytes with every region removed");
        assert_eq!(
            heap.alloc(Layout::new::<u64>(), &[AllocError::NoMemory]),
            Err(AllocError::NoMemory),
            "{context}: alloc with every region removed"
        );
        heap.pools[0].fill(first.start - pool_start, first.size(), 0);
        heap.add(first, false).unwrap_or_else(|e| panic!("{context}: adding the first region again: {e:?}"));
        assert_eq!(
            heap.alloc.total_bytes(),
            rises[0],
            "{context}: total_bytes with the first region added again"
        );
        heap.churn(&mut rng, cfg, cfg.ops / 16);
        heap.free_all();
        assert_eq!(heap.largest_block(cfg.probe_align), fresh, "{context}: the first region added again");
        for &i in &order {
            let region = slots[i];
            heap.pools[0].assert_filled(
                region.start - pool_start,
                region.size(),
                REMOVED,
                &format!("{context}: the memory of removed region {i} {region:?}"),
            );
        }
    }
}

/// [`ByteAllocator::max_layout_size`] is an upper bound that holds: on a
/// fresh heap, a layout one byte above it is [`AllocError::NoMemory`], and
/// it is at least the largest block the heap serves, for alignments from 1
/// to `churn_align`. It answers any alignment without panicking.
pub fn max_layout<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let uninit = make();
    for align in [0, 1, 3, 4096, 1 << (usize::BITS - 1), usize::MAX] {
        let _ = uninit.max_layout_size(align);
    }
    drop(uninit);
    let mut heap = ByteHarness::new(make, cfg, "max_layout");
    let mut aligns = vec![1, 8, cfg.probe_align, cfg.churn_align()];
    aligns.sort_unstable();
    aligns.dedup();
    for align in aligns {
        let max = heap.alloc.max_layout_size(align);
        let largest = heap.largest_block(align);
        assert!(
            max >= largest,
            "max_layout_size({align}) is {max}, but a block of {largest} bytes was served"
        );
        if let Some(layout) = max.checked_add(1).and_then(|size| Layout::from_size_align(size, align).ok()) {
            assert_eq!(
                heap.alloc.alloc(layout).err(),
                Some(AllocError::NoMemory),
                "alloc({layout:?}), one byte above max_layout_size({align})"
            );
        }
        heap.check_stats();
    }
    heap.alloc(Layout::new::<u64>(), &[]).expect("the heap still works");
    heap.free_all();
}

/// Bad input before `init`: `alloc` is [`AllocError::NoMemory`], the
/// statistics are 0.
pub fn before_init<A: ByteAllocator>(make: &dyn Fn() -> A, _cfg: &ByteConfig) {
    let mut heap = ByteHarness::uninit(make, "before_init");
    for layout in
        [Layout::new::<u64>(), Layout::new::<()>(), Layout::from_size_align(4096, 4096).expect("layout")]
    {
        assert_eq!(
            heap.alloc.alloc(layout).err(),
            Some(AllocError::NoMemory),
            "alloc({layout:?}) before init"
        );
    }
    assert_eq!(
        (heap.alloc.total_bytes(), heap.alloc.used_bytes(), heap.alloc.available_bytes()),
        (0, 0, 0),
        "statistics (total, used, available) before init"
    );
}

const SENTINEL: u8 = 0xE7;

/// Regions of 0, 1, 4095 bytes and just under `min_region_size`:
/// [`AllocError::InvalidParam`] (sizes from `min_region_size` on may be
/// accepted), nothing written past them, and the allocator still takes a
/// good region afterwards.
pub fn tiny_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut sizes = vec![0, 1, 4095, cfg.min_region_size.saturating_sub(1)];
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        let mut heap = ByteHarness::uninit(make, format!("tiny_regions size {size}"));
        let pool = heap.keep(Pool::new(cfg.region_size.max(2 * size), cfg.region_align));
        pool.fill(0, pool.size(), SENTINEL);
        let (start, pool_size) = (pool.start(), pool.size());
        let tiny = Region { start, end: start + size };
        let result = heap.add(tiny, true);
        if size < 2 || size < cfg.min_region_size {
            assert_eq!(result, Err(AllocError::InvalidParam), "init with a region of {size} bytes");
        } else {
            assert!(
                matches!(result, Ok(()) | Err(AllocError::InvalidParam)),
                "init with {size} bytes: {result:?}"
            );
        }
        heap.pools[0].assert_filled(size, pool_size - size, SENTINEL, &format!("init with {size} bytes"));
        if result.is_ok() {
            heap.fill(size);
            heap.free_all();
        } else {
            let whole = Region { start, end: start + pool_size };
            heap.add(whole, true)
                .unwrap_or_else(|e| panic!("init after a refused {size}-byte region: {e:?}"));
            heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
            heap.free_all();
        }
    }
    // A region of exactly `min_region_size`, at an aligned start, is accepted
    // and serves a block.
    {
        let offset = 0;
        let size = cfg.min_region_size.max(2);
        let mut heap = ByteHarness::uninit(make, format!("tiny_regions: {size} bytes at +{offset}"));
        let start = heap.keep(Pool::new(size + offset, cfg.region_align)).start() + offset;
        heap.add(Region { start, end: start + size }, true).unwrap_or_else(|e| {
            panic!("init with a region of min_region_size ({size}) bytes at +{offset}: {e:?}")
        });
        heap.alloc(Layout::new::<u8>(), &[]).unwrap_or_else(|e| {
            panic!("a region of min_region_size ({size}) bytes at +{offset} serves no 1-byte block: {e:?}")
        });
        heap.free_all();
    }
}

/// Regions whose start (or end) is not aligned: trimmed inwards or
/// [`AllocError::InvalidParam`]; never a write outside the range passed.
pub fn unaligned_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut offsets = vec![1, 3, 8, 15, cfg.region_align / 2 + 1, cfg.region_align - 1];
    if cfg!(miri) {
        // Each case fills a heap: under Miri, one small offset with an
        // aligned end, one with an unaligned end, and the largest offset.
        offsets = vec![1, 3, cfg.region_align - 1];
    }
    offsets.retain(|&o| o > 0 && o < cfg.region_align);
    offsets.dedup();
    for (i, offset) in offsets.into_iter().enumerate() {
        for add in [false, true] {
            let mut heap =
                ByteHarness::uninit(make, format!("unaligned_regions offset {offset} add_memory {add}"));
            if add {
                let base = Pool::new(cfg.region_size, cfg.region_align);
                let region = base.region();
                heap.keep(base);
                heap.add(region, true).unwrap_or_else(|e| panic!("init with a good region: {e:?}"));
            }
            let pool = heap.keep(Pool::new(cfg.region_size + cfg.region_align, cfg.region_align));
            pool.fill(0, pool.size(), SENTINEL);
            // Alternate between an aligned and an unaligned end.
            let size = cfg.region_size - if i % 2 == 0 { 0 } else { 5 };
            let (start, pool_size) = (pool.start() + offset, pool.size());
            let result = heap.add(Region { start, end: start + size }, !add);
            assert!(matches!(result, Ok(()) | Err(AllocError::InvalidParam)), "unaligned region: {result:?}");
            if result.is_ok() {
                heap.fill(cfg.max_size);
                heap.model.verify_all();
                heap.free_all();
            }
            let pool = heap.pools.last().expect("kept");
            let what = format!("region at offset {offset} of {size} bytes");
            pool.assert_filled(0, offset, SENTINEL, &what);
            pool.assert_filled(offset + size, pool_size - offset - size, SENTINEL, &what);
        }
    }
}

/// Ranges whose end overflows the address space are
/// [`AllocError::InvalidParam`], for `init` and for `add_memory`.
pub fn overflowing_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let bad =
        [(usize::MAX - 100, 4096), (usize::MAX - 4095, 4096), (usize::MAX & !4095, 8192), (4096, usize::MAX)];
    let mut alloc = make();
    for (start, size) in bad {
        // SAFETY: deliberately not memory: the contract under test is that the
        // allocator rejects an overflowing range before touching it.
        let result = unsafe { alloc.init(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "init({start:#x}, {size:#x})");
    }
    drop(alloc);
    let mut heap = ByteHarness::new(make, cfg, "overflowing_regions");
    for (start, size) in bad {
        // SAFETY: as above, for `add_memory`.
        let result = unsafe { heap.alloc.add_memory(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "add_memory({start:#x}, {size:#x})");
    }
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
    heap.free_all();
}

/// Overlapping and duplicate `add_memory` is [`AllocError::MemoryOverlap`],
/// refused before anything is written; an adjacent region is accepted.
pub fn overlapping_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    // The smallest range below ("inside it") is a quarter unit: it must be a
    // region the allocator would take but for the overlap.
    let unit = (cfg.region_size / 4 / cfg.region_align * cfg.region_align)
        .max(4 * cfg.min_region_size.next_multiple_of(cfg.region_align));
    let mut heap = ByteHarness::uninit(make, "overlapping_regions");
    let pool = heap.keep(Pool::new(4 * unit, cfg.region_align));
    pool.fill(0, pool.size(), SENTINEL);
    let s = pool.start();
    let managed = Region { start: s + unit, end: s + 2 * unit };
    heap.add(managed, true).unwrap_or_else(|e| panic!("init with a good region: {e:?}"));
    let half = unit / 2;
    let overlapping = [
        ("duplicate", managed),
        ("overlapping its start", Region { start: s + half, end: s + unit + half }),
        ("overlapping its end", Region { start: s + unit + half, end: s + 2 * unit + half }),
        ("containing it", Region { start: s, end: s + 4 * unit }),
        ("inside it", Region { start: s + unit + half / 2, end: s + unit + half }),
        // By one byte, at each end: the rule is the caller's untrimmed range,
        // not what the allocator kept of it after trimming.
        ("overlapping its last byte", Region { start: s + 2 * unit - 1, end: s + 3 * unit }),
        ("overlapping its first byte", Region { start: s, end: s + unit + 1 }),
    ];
    for (what, region) in overlapping {
        assert_eq!(heap.add(region, false), Err(AllocError::MemoryOverlap), "add_memory of a region {what}");
        let pool = &heap.pools[0];
        pool.assert_filled(0, unit, SENTINEL, &format!("after add_memory of a region {what}"));
        pool.assert_filled(2 * unit, 2 * unit, SENTINEL, &format!("after add_memory of a region {what}"));
    }
    heap.fill(cfg.max_size);
    heap.free_all();
    let adjacent = Region { start: s + 2 * unit, end: s + 3 * unit };
    heap.add(adjacent, false).unwrap_or_else(|e| panic!("add_memory of an adjacent region: {e:?}"));
    heap.fill(cfg.max_size);
    heap.free_all();
}

/// `init` on an initialised allocator is an error, with the same region or
/// another one, and writes nothing to the other one.
pub fn init_twice<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "init_twice");
    let first = heap.model.regions()[0];
    let other = heap.keep(Pool::new(cfg.region_size, cfg.region_align));
    other.fill(0, other.size(), SENTINEL);
    let other_region = other.region();
    let allowed = [AllocError::MemoryOverlap, AllocError::InvalidParam];
    for region in [first, other_region] {
        let result = heap.add(region, true);
        assert!(result.is_err_and(|e| allowed.contains(&e)), "a second init with {region:?}: {result:?}");
    }
    heap.pools[1].assert_filled(0, cfg.region_size, SENTINEL, "a refused second init");
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
    heap.free_all();
}

/// Layouts larger than the heap, up to `isize::MAX`, are
/// [`AllocError::NoMemory`]; the heap works afterwards.
pub fn huge_layouts<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "huge_layouts");
    let total = heap.alloc.total_bytes();
    let max = isize::MAX as usize;
    let huge = [
        (total + 1, 1),
        (cfg.region_size + 1, 8),
        (cfg.region_size * 2, 4096),
        (max, 1),
        (max - 7, 8),
        (max - 4095, 4096),
    ];
    for (size, align) in huge {
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        assert_eq!(heap.alloc.alloc(layout).err(), Some(AllocError::NoMemory), "alloc({layout:?})");
        heap.check_stats();
    }
    heap.alloc(Layout::new::<u64>(), &[]).expect("the heap still works");
    heap.free_all();
}

/// Alignments from 1 to 1 GiB: each either served (aligned, inside the heap)
/// or refused with [`AllocError::NoMemory`] or [`AllocError::InvalidParam`];
/// those up to `max_align` must be served. The heap works afterwards.
pub fn alignments<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "alignments");
    for shift in 0..=30 {
        let align = 1usize << shift;
        for size in [1, align.min(cfg.max_size)] {
            let layout = Layout::from_size_align(size, align).expect("valid layout");
            let allowed: &[AllocError] = if align <= cfg.churn_align() {
                &[]
            } else {
                &[AllocError::NoMemory, AllocError::InvalidParam]
            };
            let _ = heap.alloc(layout, allowed);
            heap.check_stats();
        }
    }
    heap.model.verify_all();
    heap.free_all();
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}

/// Every bad-input check in turn (each is also its own test in
/// [`byte_allocator_tests!`](crate::byte_allocator_tests)).
pub fn bad_input<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    before_init(make, cfg);
    tiny_regions(make, cfg);
    unaligned_regions(make, cfg);
    overflowing_regions(make, cfg);
    overlapping_regions(make, cfg);
    init_twice(make, cfg);
    huge_layouts(make, cfg);
    alignments(make, cfg);
}
