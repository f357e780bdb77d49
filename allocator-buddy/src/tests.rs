extern crate std;

use std::{vec, vec::Vec};

use allocator_testkit::{ByteConfig, Pool};

use super::*;

use allocator_testkit::layout;

/// A region of `len` bytes starting at `pool.start() + offset` whose blocks are
/// exactly `[pool.start() + offset + metadata, pool.start() + offset + len)`.
fn heap_over<const ORDER: usize>(pool: &Pool, offset: usize, len: usize) -> BuddyByteAllocator<ORDER> {
    let mut heap = BuddyByteAllocator::<ORDER>::empty();
    // SAFETY: the pool is ours and outlives the heap in every test.
    unsafe { heap.init(pool.start() + offset, len) }.unwrap();
    heap
}

impl<const ORDER: usize> BuddyByteAllocator<ORDER> {
    /// Every free block as `(addr, order)`, sorted, after checking every
    /// invariant ([`ByteAllocator::assert_valid`]).
    fn free_blocks(&self) -> Vec<(usize, usize)> {
        self.assert_valid();
        let mut blocks = Vec::new();
        for order in 0..ORDER {
            let mut block = self.free_lists[order];
            while !block.is_null() {
                blocks.push((block.addr(), order));
                // SAFETY: listed blocks hold headers.
                block = unsafe { (*block).next };
            }
        }
        blocks.sort_unstable();
        blocks
    }
}

impl<const ORDER: usize> BuddyByteAllocator<ORDER> {
    /// The length of the free list of `order`.
    fn list_len(&self, order: usize) -> usize {
        let mut len = 0;
        let mut block = self.free_lists[order];
        while !block.is_null() {
            len += 1;
            // SAFETY: listed blocks hold headers.
            block = unsafe { (*block).next };
        }
        len
    }
}

#[test]
fn order_for_rounds_to_powers_of_two() {
    assert_eq!(order_for(0, 1, 32), Some(MIN_ORDER));
    assert_eq!(order_for(1, 1, 32), Some(MIN_ORDER));
    assert_eq!(order_for(MIN_BLOCK_SIZE, 1, 32), Some(MIN_ORDER));
    assert_eq!(order_for(MIN_BLOCK_SIZE + 1, 1, 32), Some(MIN_ORDER + 1));
    assert_eq!(order_for(100, 8, 32), Some(7));
    assert_eq!(order_for(8, 4096, 32), Some(12));
    assert_eq!(order_for((1 << 31) + 1, 1, 32), None);
    assert_eq!(order_for(1 << 31, 1, 32), Some(31));
    assert_eq!(order_for(1, 1 << 31, 32), Some(31));
    assert_eq!(order_for(1, 1 << 32, 32), None);
    assert_eq!(order_for(isize::MAX as usize, 1, 64), Some(63));
}

#[test]
fn metadata_is_one_bit_per_minimum_block() {
    assert_eq!(metadata_bytes(0), 0);
    assert_eq!(metadata_bytes(MIN_BLOCK_SIZE), MIN_BLOCK_SIZE);
    let len = 1 << 20;
    let bits = len / MIN_BLOCK_SIZE;
    assert_eq!(metadata_bytes(len), bits / 8);
    assert_eq!(metadata_bytes(usize::MAX) % MIN_BLOCK_SIZE, 0, "no overflow at the top");
}

#[test]
fn init_splits_into_naturally_aligned_blocks() {
    let pool = Pool::new(1 << 16, 1 << 16);
    // 16 KiB + metadata from offset 4096 - metadata: blocks start at 4096
    // (aligned to 4 KiB only) and end at 20480.
    let meta = metadata_bytes_managing(16 << 10);
    let heap = heap_over::<32>(&pool, 4096 - meta, (16 << 10) + meta);
    let base = pool.start();
    assert_eq!(heap.total_bytes(), 16 << 10);
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.free_blocks(), vec![(base + 4096, 12), (base + 8192, 13), (base + 16384, 12)]);
}

#[test]
fn splitting_and_coalescing_restore_the_initial_blocks() {
    // Miri reads the whole region at each `free_blocks`: a smaller one,
    // which the same workload fills, so allocations fail too.
    let len = if cfg!(miri) { 1 << 16 } else { 1 << 20 };
    let pool = Pool::new(len, 4096);
    let mut heap = heap_over::<32>(&pool, 24, len - 100);
    let initial = heap.free_blocks();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    for round in 0..if cfg!(miri) { 300 } else { 3000 } {
        if live.is_empty() || next() % 3 != 0 {
            let l = layout((next() % 3000) as usize, 1 << (next() % 8));
            if let Ok(p) = heap.alloc(l) {
                assert_eq!(p.as_ptr().addr() % l.align(), 0);
                // SAFETY: `p` is a fresh block of at least `l.size()` bytes.
                unsafe { p.as_ptr().write_bytes(0xa5, l.size()) };
                live.push((p, l));
            }
        } else {
            let (p, l) = live.swap_remove((next() as usize) % live.len());
            // SAFETY: `p` is live with layout `l`.
            unsafe { heap.dealloc(p, l) };
        }
        if round % 500 == 0 {
            heap.free_blocks();
        }
    }
    let used: usize = live.iter().map(|(_, l)| 1usize << order_for(l.size(), l.align(), 32).unwrap()).sum();
    assert_eq!(heap.used_bytes(), used);
    for (p, l) in live.drain(..) {
        // SAFETY: `p` is live with layout `l`.
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.free_blocks(), initial);
}

#[test]
fn blocks_split_lower_half_first_and_merge_back() {
    let pool = Pool::new(1 << 13, 1 << 13);
    let meta = metadata_bytes_managing(4096);
    let base = pool.start() + 4096;
    let mut heap = heap_over::<32>(&pool, 4096 - meta, 4096 + meta);
    assert_eq!(heap.free_blocks(), vec![(base, 12)]);
    let a = heap.alloc(layout(16, 1)).unwrap();
    assert_eq!(a.as_ptr().addr(), base);
    let expected: Vec<_> = (4..12).map(|k| (base + (1 << k), k)).collect();
    assert_eq!(heap.free_blocks(), expected);
    let b = heap.alloc(layout(16, 1)).unwrap();
    assert_eq!(b.as_ptr().addr(), base + 16, "the buddy of `a`");
    let c = heap.alloc(layout(1024, 1024)).unwrap();
    assert_eq!(c.as_ptr().addr(), base + 1024);
    assert_eq!(heap.used_bytes(), 1024 + 32);
    // SAFETY: each block is live with the layout it was allocated with.
    unsafe {
        heap.dealloc(a, layout(16, 1));
        assert!(heap.free_blocks().contains(&(base, 4)), "`a` cannot merge while `b` is live");
        heap.dealloc(c, layout(1024, 1024));
        heap.dealloc(b, layout(16, 1));
    }
    assert_eq!(heap.free_blocks(), vec![(base, 12)]);
}

#[test]
fn alignment_above_the_size_is_served() {
    let pool = Pool::new(1 << 20, 4096);
    let mut heap = heap_over::<32>(&pool, 8, (1 << 20) - 8);
    let mut live = Vec::new();
    for shift in 0..16 {
        let l = layout(8, 1 << shift);
        let p = heap.alloc(l).unwrap();
        assert_eq!(p.as_ptr().addr() % (1 << shift), 0, "align {}", 1 << shift);
        live.push((p, l));
    }
    let used: usize = (0..16).map(|s| (1usize << s).max(MIN_BLOCK_SIZE)).sum();
    assert_eq!(heap.used_bytes(), used);
    assert_eq!(heap.alloc(layout(8, 1 << 20)), Err(AllocError::NoMemory), "no block that large");
    for (p, l) in live {
        // SAFETY: `p` is live with layout `l`.
        unsafe { heap.dealloc(p, l) };
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn zero_size_layouts_get_distinct_minimum_blocks() {
    let pool = Pool::new(4096, 4096);
    let mut heap = heap_over::<32>(&pool, 0, 4096);
    let a = heap.alloc(layout(0, 1)).unwrap();
    let b = heap.alloc(layout(0, 1)).unwrap();
    assert_ne!(a, b);
    assert_eq!(heap.used_bytes(), 2 * MIN_BLOCK_SIZE);
    // SAFETY: both are live zero-size blocks.
    unsafe {
        heap.dealloc(a, layout(0, 1));
        heap.dealloc(b, layout(0, 1));
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn impossible_requests_are_no_memory() {
    let mut heap = BuddyByteAllocator::new();
    assert_eq!(heap.alloc(layout(8, 8)), Err(AllocError::NoMemory), "before init");
    let pool = Pool::new(1 << 16, 4096);
    // SAFETY: the pool outlives the heap.
    unsafe { heap.init(pool.start(), 1 << 16) }.unwrap();
    assert_eq!(heap.alloc(layout(1 << 16, 8)), Err(AllocError::NoMemory), "larger than any block");
    assert_eq!(heap.alloc(layout(1 << 31, 8)), Err(AllocError::NoMemory), "beyond the largest order");
    assert_eq!(heap.alloc(layout(isize::MAX as usize, 1)), Err(AllocError::NoMemory));
    assert_eq!(heap.alloc(layout(1, 1 << 40)), Err(AllocError::NoMemory));
    assert_eq!(heap.used_bytes(), 0);
    let big = heap.alloc(layout(1 << 15, 8)).unwrap();
    assert_eq!(heap.alloc(layout(1 << 15, 8)), Err(AllocError::NoMemory), "the other half has the bitmap");
    // SAFETY: `big` is live with this layout.
    unsafe { heap.dealloc(big, layout(1 << 15, 8)) };
}

#[test]
fn bad_regions_are_errors() {
    let pool = Pool::new(1 << 16, 4096);
    let mut heap = BuddyByteAllocator::new();
    // SAFETY: every accepted region lies in the pool,
    // which outlives the heap; rejected ones are never touched.
    unsafe {
        assert_eq!(heap.init(usize::MAX - 64, 128), Err(AllocError::InvalidParam), "end overflows");
        assert_eq!(
            heap.init(pool.start() + 1, MIN_BLOCK_SIZE),
            Err(AllocError::InvalidParam),
            "nothing after trimming"
        );
        assert_eq!(
            heap.init(pool.start(), MIN_BLOCK_SIZE),
            Err(AllocError::InvalidParam),
            "only the bitmap fits"
        );
        assert_eq!(heap.init(pool.start(), 0), Err(AllocError::InvalidParam));
        assert_eq!(heap.total_bytes(), 0);
        heap.init(pool.start(), 4096).unwrap();
        assert_eq!(heap.init(pool.start() + 8192, 4096), Err(AllocError::InvalidParam), "init twice");
        assert_eq!(
            heap.init(pool.start() + 100, 4096),
            Err(AllocError::MemoryOverlap),
            "init twice, overlapping"
        );
        assert_eq!(heap.add_memory(pool.start() + 4000, 200), Err(AllocError::MemoryOverlap));
        assert_eq!(
            heap.add_memory(pool.start() + 4095, 17),
            Err(AllocError::InvalidParam),
            "trims to nothing"
        );
        assert_eq!(heap.add_memory(pool.start(), 16), Err(AllocError::InvalidParam), "too small first");
        assert_eq!(heap.add_memory(pool.start(), 4096), Err(AllocError::MemoryOverlap), "the same region");
        heap.add_memory(pool.start() + 4096, 4096).unwrap();
        assert_eq!(heap.total_bytes(), 2 * (4096 - metadata_bytes(4096)));
    }
}

#[test]
fn region_table_has_a_fixed_capacity() {
    let pool = Pool::new((MAX_REGIONS + 1) * 256, 4096);
    let mut heap = BuddyByteAllocator::new();
    for i in 0..MAX_REGIONS {
        // SAFETY: disjoint slices of the pool, which outlives the heap.
        unsafe { heap.add_memory(pool.start() + i * 256, 256) }.unwrap();
    }
    // SAFETY: as above.
    assert_eq!(unsafe { heap.add_memory(pool.start() + MAX_REGIONS * 256, 256) }, Err(AllocError::NoMemory));
    assert_eq!(heap.total_bytes(), MAX_REGIONS * (256 - metadata_bytes(256)));
    heap.free_blocks();
}

#[test]
fn regions_in_any_order_never_merge_across() {
    let pool = Pool::new(1 << 16, 1 << 16);
    let mut heap = BuddyByteAllocator::new();
    let chunk = 1 << 13;
    // Adjacent regions, added out of order.
    for i in [3, 1, 6, 0, 2, 7, 5, 4] {
        // SAFETY: disjoint slices of the pool, which outlives the heap.
        unsafe { heap.add_memory(pool.start() + i * chunk, chunk) }.unwrap();
    }
    let regions: Vec<usize> = heap.regions[..heap.region_count].iter().map(|r| r.start).collect();
    assert!(regions.windows(2).all(|w| w[0] < w[1]), "kept sorted");
    let initial = heap.free_blocks();
    let mut live = Vec::new();
    while let Ok(p) = heap.alloc(layout(1024, 8)) {
        live.push(p);
    }
    let per_region = (chunk - metadata_bytes(chunk)) / 1024;
    assert_eq!(live.len(), 8 * per_region);
    assert_eq!(heap.available_bytes(), heap.total_bytes() - live.len() * 1024);
    for p in live.iter().rev() {
        // SAFETY: live with this layout.
        unsafe { heap.dealloc(*p, layout(1024, 8)) };
    }
    assert_eq!(heap.free_blocks(), initial);
    assert!(heap.free_blocks().iter().all(|&(_, order)| 1 << order < chunk), "no block spans two regions");
}

#[test]
fn the_largest_order_caps_blocks() {
    let pool = Pool::new(1 << 16, 1 << 16);
    let meta = metadata_bytes_managing(1 << 15);
    let mut heap = heap_over::<11>(&pool, (1 << 15) - meta, (1 << 15) + meta);
    assert_eq!(BuddyByteAllocator::<11>::MAX_BLOCK_SIZE, 1024);
    let blocks = heap.free_blocks();
    assert_eq!(blocks.len(), 32);
    assert!(blocks.iter().all(|&(_, order)| order == 10));
    assert_eq!(heap.alloc(layout(1025, 1)), Err(AllocError::NoMemory));
    let a = heap.alloc(layout(1024, 1)).unwrap();
    let b = heap.alloc(layout(1024, 1)).unwrap();
    // SAFETY: live with this layout.
    unsafe {
        heap.dealloc(a, layout(1024, 1));
        heap.dealloc(b, layout(1024, 1));
    }
    assert_eq!(heap.free_blocks(), blocks, "largest blocks never merge");
}

#[test]
fn realloc_shrinks_in_place_and_grows_into_free_buddies() {
    let pool = Pool::new(1 << 14, 1 << 14);
    let meta = metadata_bytes_managing(4096);
    let base = pool.start() + 4096;
    let mut heap = heap_over::<32>(&pool, 4096 - meta, 4096 + meta);
    let p = heap.alloc(layout(64, 8)).unwrap();
    assert_eq!(p.as_ptr().addr(), base);
    // SAFETY: `p` is live (64 bytes).
    unsafe { p.as_ptr().copy_from_nonoverlapping([7u8; 64].as_ptr(), 64) };
    // SAFETY: `p` is live with this layout.
    let q = unsafe { heap.realloc(p, layout(64, 8), 1000) }.unwrap();
    assert_eq!(q, p, "grown in place");
    assert_eq!(heap.used_bytes(), 1024);
    // SAFETY: `q` holds 1000 bytes, the first 64 kept.
    assert_eq!(unsafe { core::slice::from_raw_parts(q.as_ptr(), 64) }, &[7u8; 64]);
    // SAFETY: `q` is live with this layout.
    let r = unsafe { heap.realloc(q, layout(1000, 8), 20) }.unwrap();
    assert_eq!(r, p, "shrunk in place");
    assert_eq!(heap.used_bytes(), 32);
    let expected: Vec<_> = (5..12).map(|k| (base + (1 << k), k)).collect();
    assert_eq!(heap.free_blocks(), expected);
    // SAFETY: `r` is live with this layout.
    let same = unsafe { heap.realloc(r, layout(20, 8), 30) }.unwrap();
    assert_eq!(same, r, "same block size");

    // A live upper buddy forces a move.
    let blocker = heap.alloc(layout(32, 8)).unwrap();
    assert_eq!(blocker.as_ptr().addr(), base + 32);
    // SAFETY: `same` is live with this layout.
    let moved = unsafe { heap.realloc(same, layout(30, 8), 64) }.unwrap();
    assert_ne!(moved, same);
    assert_eq!(moved.as_ptr().addr(), base + 64);
    // SAFETY: `moved` holds 64 bytes, the first 30 copied.
    assert_eq!(unsafe { core::slice::from_raw_parts(moved.as_ptr(), 30) }, &[7u8; 30]);
    assert_eq!(heap.used_bytes(), 64 + 32);

    // An upper-half block cannot grow in place even with free space above.
    // SAFETY: `blocker` is live with this layout.
    let grown = unsafe { heap.realloc(blocker, layout(32, 8), 64) }.unwrap();
    assert_ne!(grown, blocker);
    assert_eq!(heap.used_bytes(), 128);

    // Errors keep the block.
    // SAFETY: `grown` is live with this layout (and stays so on error).
    assert_eq!(unsafe { heap.realloc(grown, layout(64, 8), 1 << 12) }, Err(AllocError::NoMemory));
    // SAFETY: as above.
    assert_eq!(unsafe { heap.realloc(grown, layout(64, 8), usize::MAX) }, Err(AllocError::NoMemory));
    assert_eq!(heap.used_bytes(), 128);
    // SAFETY: both live with these layouts.
    unsafe {
        heap.dealloc(grown, layout(64, 8));
        heap.dealloc(moved, layout(64, 8));
    }
    assert_eq!(heap.free_blocks(), vec![(base, 12)]);
}

/// Builds a heap over `pool` holding `scattered` free 64-byte blocks that
/// cannot merge (their buddies are live), then a live 128-byte block `q`
/// and, just above it, its buddy `p`, shrunk to 64 bytes so that the upper
/// half of `p` is free. Returns the heap and `p`.
fn heap_with_free_blocks(pool: &Pool, scattered: usize) -> (BuddyByteAllocator, NonNull<u8>) {
    let mut heap = BuddyByteAllocator::new();
    // SAFETY: the pool outlives the heap.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let small = layout(64, 8);
    let blocks: Vec<_> = (0..2 * scattered).map(|_| heap.alloc(small).unwrap()).collect();
    for pair in blocks.chunks(2) {
        // SAFETY: live with this layout.
        unsafe { heap.dealloc(pair[1], small) };
    }
    let q = heap.alloc(layout(128, 8)).unwrap();
    let p = heap.alloc(layout(128, 8)).unwrap();
    assert_eq!(p.as_ptr().addr(), q.as_ptr().addr() ^ 128, "p is q's buddy");
    // SAFETY: `p` is live with this layout.
    let p = unsafe { heap.realloc(p, layout(128, 8), 64) }.unwrap();
    assert_eq!(heap.list_len(6), scattered + 1);
    (heap, p)
}

#[test]
fn free_cost_does_not_depend_on_the_number_of_free_blocks() {
    // 10,000 under Miri too would take minutes; 250 is still 25x, in a pool
    // of 64 KiB, which `free_blocks` reads whole.
    let pool = Pool::new(if cfg!(miri) { 64 << 10 } else { 2 << 20 }, 4096);
    let mut steps = Vec::new();
    for scattered in [10, if cfg!(miri) { 250 } else { 10_000 }] {
        let (mut heap, p) = heap_with_free_blocks(&pool, scattered);
        let before = (heap.list_len(6), heap.list_len(7));
        heap.steps = 0;
        // SAFETY: `p` is live with this layout.
        unsafe { heap.dealloc(p, layout(64, 8)) };
        steps.push(heap.steps);
        assert_eq!((heap.list_len(6), heap.list_len(7)), (before.0 - 1, before.1 + 1), "merged once");
        if scattered == 10 {
            heap.free_blocks();
        }
    }
    // Check the buddy at 64 (free), unlink it, check the buddy at 128
    // (live), push the merged block.
    assert_eq!(steps, [4, 4]);
}

#[test]
fn debug_shows_the_statistics() {
    let heap = BuddyByteAllocator::new();
    let text = std::format!("{heap:?}");
    assert!(text.contains("total_bytes: 0") && text.contains("orders: 32"), "{text}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a 16 MiB pool takes minutes under Miri; realloc_shrinks_in_place_and_grows_into_free_buddies runs the same paths"
)]
fn a_moved_growing_block_gets_room_to_grow_in_place() {
    const MIB: usize = 1 << 20;
    let pool = Pool::new(16 * MIB, 16 * MIB);
    let mut heap = BuddyByteAllocator::new();
    // SAFETY: the pool outlives the heap.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let initial = heap.free_blocks();
    // Neighbours below make each growing block an upper half: it must move.
    let small = heap.alloc(layout(16, 8)).unwrap();
    let big = heap.alloc(layout(1 << GROWTH_HEADROOM_MIN_ORDER, 8)).unwrap();
    let mut blocks =
        [(heap.alloc(layout(16, 8)).unwrap(), 16), (heap.alloc(layout(256 * 1024, 8)).unwrap(), 256 * 1024)];
    let mut moves = [0usize; 2];
    for (i, (block, size)) in blocks.iter_mut().enumerate() {
        let mut doublings = 0u8;
        while doublings < 5 {
            // Only the ends are written: Miri runs this test too.
            // SAFETY: `block` holds `size` bytes.
            unsafe {
                block.as_ptr().write(doublings);
                block.as_ptr().add(*size - 1).write(doublings);
            }
            // SAFETY: `block` is live with this layout.
            let grown = unsafe { heap.realloc(*block, layout(*size, 8), *size * 2) }.unwrap();
            // SAFETY: `grown` holds at least `size` bytes, the first `size` kept.
            unsafe {
                assert_eq!(grown.as_ptr().read(), doublings);
                assert_eq!(grown.as_ptr().add(*size - 1).read(), doublings);
            }
            moves[i] += usize::from(grown != *block);
            (*block, *size, doublings) = (grown, *size * 2, doublings + 1);
        }
    }
    // Below GROWTH_HEADROOM_MIN_ORDER each new block is cut from the
    // smallest free block that fits (an upper half again): every doubling
    // moves. From there a move cuts the block from a free block 8x its size,
    // and it then doubles in place.
    assert_eq!(moves[0], 5, "small blocks: no headroom");
    assert!(moves[1] <= 2, "large blocks: {} moves in 5 doublings", moves[1]);
    // SAFETY: all live with these layouts.
    unsafe {
        for (block, size) in blocks {
            heap.dealloc(block, layout(size, 8));
        }
        heap.dealloc(big, layout(1 << GROWTH_HEADROOM_MIN_ORDER, 8));
        heap.dealloc(small, layout(16, 8));
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.free_blocks(), initial, "everything coalesced");
}

/// The `debug-checks` feature, on in this crate's tests (through the
/// dev-dependency on the crate itself).
mod debug_checks {
    use super::*;

    // The tests below would pass vacuously without the checks.
    const _: () = assert!(cfg!(feature = "debug-checks"), "the dev-dependency turns debug-checks on");

    fn heap(pool: &Pool) -> BuddyByteAllocator {
        let mut heap = BuddyByteAllocator::new();
        // SAFETY: the pool is ours and outlives the heap in every test.
        unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
        heap
    }

    #[test]
    #[should_panic(expected = "allocator-buddy: double free of")]
    fn double_free() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let l = layout(100, 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: freed once, then again (the bug under test).
        unsafe {
            heap.dealloc(block, l);
            heap.dealloc(block, l);
        }
    }

    /// The freed block merges with its lower buddy, so no free block starts
    /// at its address any more: the check looks for the block holding it.
    #[test]
    #[should_panic(expected = "(order 5)")]
    fn double_free_after_merging_with_the_lower_buddy() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let l = layout(32, 32);
        let lower = heap.alloc(l).unwrap();
        let upper = heap.alloc(l).unwrap();
        assert_eq!(upper.as_ptr().addr(), lower.as_ptr().addr() + 32, "buddies");
        // SAFETY: both freed once, then `upper` again (the bug under test).
        unsafe {
            heap.dealloc(lower, l);
            heap.dealloc(upper, l);
            heap.dealloc(upper, l);
        }
    }

    #[test]
    #[should_panic(expected = "which lies outside every region")]
    fn free_of_a_pointer_outside_every_region() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let mut elsewhere = [0u64; 4];
        let foreign = NonNull::from(&mut elsewhere).cast::<u8>();
        // SAFETY: the bug under test: caught before anything is read.
        unsafe { heap.dealloc(foreign, layout(16, 8)) };
    }

    /// The bitmap at the front of a region is inside the region but holds no
    /// block.
    #[test]
    #[should_panic(expected = "which lies outside every region")]
    fn free_of_a_pointer_into_the_bitmap() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let bitmap = pool.ptr();
        // SAFETY: the bug under test.
        unsafe { heap.dealloc(bitmap, layout(16, 8)) };
    }

    #[test]
    #[should_panic(expected = "misaligned for its layout (align 64)")]
    fn free_of_a_pointer_misaligned_for_its_layout() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let block = heap.alloc(layout(128, 64)).unwrap();
        // SAFETY: the bug under test: 16 bytes into a live block.
        unsafe { heap.dealloc(block.add(16), layout(16, 64)) };
    }

    #[test]
    #[should_panic(expected = "which is not the start of a block of order 7")]
    fn free_of_a_pointer_not_at_a_block_start() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let block = heap.alloc(layout(256, 8)).unwrap();
        // SAFETY: the bug under test: 64 bytes into a live block, freed as a
        // 128-byte one.
        unsafe { heap.dealloc(block.add(64), layout(128, 8)) };
    }

    #[test]
    #[should_panic(expected = "with a layout no block can have")]
    fn free_with_a_layout_larger_than_any_block() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let block = heap.alloc(layout(16, 8)).unwrap();
        // SAFETY: the bug under test.
        unsafe { heap.dealloc(block, layout(BuddyByteAllocator::<32>::MAX_BLOCK_SIZE + 1, 8)) };
    }

    #[test]
    #[should_panic(expected = "allocator-buddy: realloc of")]
    fn realloc_of_a_freed_block() {
        let pool = Pool::new(64 * 1024, 4096);
        let mut heap = heap(&pool);
        let l = layout(100, 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: freed once, then resized (the bug under test).
        unsafe {
            heap.dealloc(block, l);
            let _ = heap.realloc(block, l, 300);
        }
    }

    /// The conformance suite's random churn (every size, alignment, resize
    /// and free, checked against the model) never trips the checks.
    #[test]
    fn a_correct_workload_passes() {
        // Under Miri each operation of the suite costs some 80 ms: 100 of
        // them, in a region small enough that they run out of memory.
        let cfg = if cfg!(miri) {
            ByteConfig::tiny().with_ops(100).with_region_size(16 << 10)
        } else {
            ByteConfig::new()
        };
        allocator_testkit::byte::random_churn(&BuddyByteAllocator::new, &cfg.with_max_size(6000));
    }
}

/// `heap`'s regions as `(claimed start, blocks start, blocks end)`.
fn region_spans<const ORDER: usize>(heap: &BuddyByteAllocator<ORDER>) -> Vec<(usize, usize, usize)> {
    heap.regions[..heap.region_count].iter().map(|r| (r.claimed.start, r.start, r.end)).collect()
}

#[test]
fn remove_memory_takes_back_wholly_free_regions_between_neighbours() {
    // Three adjacent regions (no gap), added out of order, of unaligned
    // sizes so that each is cut into blocks of several orders.
    let chunk = (1 << 12) + 3 * MIN_BLOCK_SIZE;
    let pool = Pool::new(3 * chunk, 4096);
    let start = |i: usize| pool.start() + i * chunk;
    let mut heap = BuddyByteAllocator::new();
    let mut rise = [0; 3];
    for i in [1, 0, 2] {
        let before = heap.total_bytes();
        // SAFETY: disjoint slices of the pool, which outlives the heap.
        unsafe { heap.add_memory(start(i), chunk) }.unwrap();
        rise[i] = heap.total_bytes() - before;
    }
    let regions = region_spans(&heap);
    let region_of =
        |p: NonNull<u8>| regions.iter().position(|r| (r.1..r.2).contains(&p.as_ptr().addr())).unwrap();
    // A live block in every region: each refuses, and nothing changes.
    let mut live: Vec<(NonNull<u8>, usize)> = Vec::new();
    while let Ok(p) = heap.alloc(layout(256, 8)) {
        live.push((p, region_of(p)));
    }
    assert!((0..3).all(|r| live.iter().any(|l| l.1 == r)));
    let full = (heap.free_blocks(), heap.total_bytes(), heap.used_bytes(), heap.available_bytes());
    for i in 0..3 {
        assert_eq!(heap.remove_memory(start(i), chunk), Err(AllocError::MemoryOverlap), "region {i} in use");
    }
    assert_eq!((heap.free_blocks(), heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), full);
    // Ranges never handed over, in use or not.
    for (s, len) in [
        (start(1), chunk - MIN_BLOCK_SIZE),
        (start(1) + MIN_BLOCK_SIZE, chunk - MIN_BLOCK_SIZE),
        (start(1) + 1, chunk),
        (start(1), 2 * chunk),
        (start(1), 0),
        (usize::MAX - 16, 64),
    ] {
        assert_eq!(heap.remove_memory(s, len), Err(AllocError::NotAllocated), "{s:#x} + {len}");
    }
    // Free the middle region's blocks only (in two steps: one live block
    // keeps it), then remove it between its live neighbours.
    let middle = regions.iter().position(|r| r.0 == start(1)).unwrap();
    let mut in_middle: Vec<NonNull<u8>> = live.iter().filter(|l| l.1 == middle).map(|l| l.0).collect();
    live.retain(|l| l.1 != middle);
    let last = in_middle.pop().unwrap();
    for p in in_middle {
        // SAFETY: live with this layout.
        unsafe { heap.dealloc(p, layout(256, 8)) };
    }
    assert_eq!(heap.remove_memory(start(1), chunk), Err(AllocError::MemoryOverlap), "one block left");
    // SAFETY: as above.
    unsafe { heap.dealloc(last, layout(256, 8)) };
    let (total, used) = (heap.total_bytes(), heap.used_bytes());
    assert_eq!(heap.remove_memory(start(1), chunk), Ok(()));
    assert_eq!(heap.total_bytes(), total - rise[1]);
    assert_eq!(heap.used_bytes(), used);
    assert_eq!(heap.remove_memory(start(1), chunk), Err(AllocError::NotAllocated), "removed twice");
    assert!(
        heap.free_blocks().iter().all(|b| !(start(1)..start(2)).contains(&b.0)),
        "no free block left in the middle"
    );
    assert_eq!(region_spans(&heap).iter().map(|r| r.0).collect::<Vec<_>>(), [start(0), start(2)]);
    // The memory is ours again: nothing the heap does touches it.
    pool.fill(chunk, chunk, 0xEE);
    for (p, _) in live.drain(..) {
        // SAFETY: as above.
        unsafe { heap.dealloc(p, layout(256, 8)) };
    }
    while let Ok(p) = heap.alloc(layout(16, 1)) {
        assert!(!(start(1)..start(2)).contains(&p.as_ptr().addr()), "a block in a removed region");
        live.push((p, 0));
    }
    for (p, _) in live.drain(..) {
        // SAFETY: live with this layout.
        unsafe { heap.dealloc(p, layout(16, 1)) };
    }
    pool.assert_filled(chunk, chunk, 0xEE, "a removed region");
    // The other two go too; then the heap is empty and takes the middle back.
    assert_eq!(heap.remove_memory(start(2), chunk), Ok(()));
    assert_eq!(heap.remove_memory(start(0), chunk), Ok(()));
    assert_eq!((heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), (0, 0, 0));
    assert_eq!(heap.alloc(layout(1, 1)), Err(AllocError::NoMemory));
    // SAFETY: the middle slice is the pool's and no allocator uses it now.
    unsafe { heap.init(start(1), chunk) }.unwrap();
    assert_eq!(heap.total_bytes(), rise[1]);
    heap.free_blocks();
}

#[test]
fn regions_are_removed_in_any_order() {
    let chunk = 1 << 12;
    let pool = Pool::new(4 * chunk, 4096);
    let orders: &[[usize; 3]] = &[[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for order in orders {
        // Regions with a gap after each, added in address order descending.
        let mut heap = BuddyByteAllocator::new();
        let mut rise = [0; 3];
        for i in [2, 1, 0] {
            let before = heap.total_bytes();
            // SAFETY: disjoint slices of the pool, which outlives the heap.
            unsafe { heap.add_memory(pool.start() + i * (chunk + chunk / 3), chunk) }.unwrap();
            rise[i] = heap.total_bytes() - before;
        }
        let a = heap.alloc(layout(100, 8)).unwrap();
        // SAFETY: live with this layout.
        unsafe { heap.dealloc(a, layout(100, 8)) };
        let mut total = heap.total_bytes();
        for &i in order {
            assert_eq!(
                heap.remove_memory(pool.start() + i * (chunk + chunk / 3), chunk),
                Ok(()),
                "{order:?}"
            );
            total -= rise[i];
            assert_eq!(heap.total_bytes(), total);
            let blocks = heap.free_blocks();
            let spans = region_spans(&heap);
            assert!(spans.windows(2).all(|w| w[0].1 < w[1].1), "still sorted");
            assert!(blocks.iter().all(|b| spans.iter().any(|r| (r.1..r.2).contains(&b.0))));
            if total > 0 {
                let p = heap.alloc(layout(64, 64)).unwrap();
                assert!(spans.iter().any(|r| (r.1..r.2).contains(&p.as_ptr().addr())));
                // SAFETY: live with this layout.
                unsafe { heap.dealloc(p, layout(64, 64)) };
            }
        }
        assert_eq!(heap.total_bytes(), 0);
        assert_eq!(heap.region_count, 0);
    }
}

#[test]
fn regions_of_many_largest_blocks_are_removed_whole() {
    // Blocks of at most 1 KiB: a 32 KiB region is 32 largest blocks (and a
    // few below the bitmap).
    let pool = Pool::new(1 << 16, 1 << 16);
    let mut heap = heap_over::<11>(&pool, 0, 1 << 15);
    // SAFETY: the other half of the pool.
    unsafe { heap.add_memory(pool.start() + (1 << 15), 1 << 15) }.unwrap();
    let second = heap.total_bytes() / 2;
    let p = heap.alloc(layout(1024, 1)).unwrap();
    let in_first = p.as_ptr().addr() < pool.start() + (1 << 15);
    let (busy, idle) = if in_first { (0, 1 << 15) } else { (1 << 15, 0) };
    assert_eq!(heap.remove_memory(pool.start() + busy, 1 << 15), Err(AllocError::MemoryOverlap));
    assert_eq!(heap.remove_memory(pool.start() + idle, 1 << 15), Ok(()));
    assert_eq!(heap.total_bytes(), second);
    // SAFETY: live with this layout.
    unsafe { heap.dealloc(p, layout(1024, 1)) };
    assert_eq!(heap.remove_memory(pool.start() + busy, 1 << 15), Ok(()));
    assert_eq!(heap.total_bytes(), 0);
}

#[test]
fn max_layout_size_is_the_largest_block() {
    let heap = BuddyByteAllocator::<11>::empty();
    assert_eq!(heap.max_layout_size(1), 1024);
    assert_eq!(heap.max_layout_size(1024), 1024);
    assert_eq!(heap.max_layout_size(2048), 0);
    assert_eq!(BuddyByteAllocator::new().max_layout_size(8), 1 << 31);
    let widest = BuddyByteAllocator::<{ usize::BITS as usize }>::empty();
    assert_eq!(widest.max_layout_size(1), isize::MAX as usize, "capped at what a Layout can be");
    assert_eq!(widest.max_layout_size(4096), isize::MAX as usize - 4095);
    assert_eq!(widest.max_layout_size(usize::MAX), 0, "no panic on any input");
    assert_eq!(widest.max_layout_size(0), isize::MAX as usize);
    // Just above it: no block, whatever the memory.
    let pool = Pool::new(1 << 13, 4096);
    let mut heap = heap_over::<11>(&pool, 0, 1 << 13);
    assert_eq!(heap.alloc(layout(1025, 1)), Err(AllocError::NoMemory));
    assert!(heap.alloc(layout(1024, 1)).is_ok());
}

#[test]
fn assert_valid_finds_corruption() {
    let pool = Pool::new(1 << 16, 1 << 16);
    let mut heap: BuddyByteAllocator = heap_over(&pool, 0, 1 << 16);
    let a = heap.alloc(layout(100, 8)).unwrap();
    let b = heap.alloc(layout(100, 8)).unwrap();
    heap.assert_valid();
    let caught = |heap: &BuddyByteAllocator| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.assert_valid())).is_err()
    };
    heap.used += MIN_BLOCK_SIZE;
    assert!(caught(&heap), "a wrong used count passed");
    heap.used -= MIN_BLOCK_SIZE;
    // SAFETY: `a` was allocated with this layout; it is now a free block
    // whose buddy `b` is live.
    unsafe { heap.dealloc(a, layout(100, 8)) };
    heap.assert_valid();
    // A free block whose order word lies.
    let block = heap.free_lists[7];
    assert_eq!(block.addr(), a.as_ptr().addr());
    // SAFETY: a listed free block above the minimum order holds its order.
    unsafe { (*block).order = 6 };
    assert!(caught(&heap), "a wrong order word passed");
    // SAFETY: as above: restore it.
    unsafe { (*block).order = 7 };
    // SAFETY: `b` was allocated with this layout.
    unsafe { heap.dealloc(b, layout(100, 8)) };
    heap.assert_valid();
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn peak_used_bytes_keeps_the_most_live() {
    let pool = Pool::new(1 << 16, 1 << 16);
    let mut heap: BuddyByteAllocator = heap_over(&pool, 0, 1 << 16);
    assert_eq!(heap.peak_used_bytes(), Some(0));
    let a = heap.alloc(layout(100, 8)).unwrap();
    let b = heap.alloc(layout(1000, 8)).unwrap();
    assert_eq!(heap.peak_used_bytes(), Some(128 + 1024));
    // SAFETY: allocated above with these layouts, freed once.
    unsafe {
        heap.dealloc(a, layout(100, 8));
        heap.dealloc(b, layout(1000, 8));
    }
    assert_eq!((heap.used_bytes(), heap.peak_used_bytes()), (0, Some(128 + 1024)));
}
