//! Tests of the TLSF-specific behaviour: exact statistics against the blocks
//! rlsf really holds, in-place realloc, pools, and every error path.

extern crate std;

use std::vec::Vec;

use allocator_testkit::{ByteConfig, Pool, scaled};

use super::*;

/// Whether `[ptr, ptr + size)` lies inside `pool` (a zero-size block may
/// sit at its end).
fn in_pool(pool: &Pool, ptr: NonNull<u8>, size: usize) -> bool {
    let region = pool.region();
    ptr.addr().get() >= region.start && ptr.addr().get() + size <= region.end
}

use allocator_testkit::layout;

fn heap_on(pool: &Pool) -> TlsfByteAllocator {
    let mut heap = TlsfByteAllocator::new();
    // SAFETY: the pool is exposed, unused, and outlives the allocator (it is
    // declared first in every test).
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    heap
}

/// The sum of the sizes of the occupied and of the free blocks rlsf holds in
/// every managed region (each chunk of each).
fn block_sums(heap: &TlsfByteAllocator) -> (usize, usize) {
    let (mut used, mut free) = (0, 0);
    for region in heap.regions() {
        for (offset, len) in heap.chunks(region.size()) {
            let start = addr_to_ptr(region.start + offset).unwrap();
            let pool = NonNull::slice_from_raw_parts(start, len);
            // SAFETY: `pool` is exactly a range handed to
            // `insert_free_block_ptr` (the chunks of `add_pool`).
            for block in unsafe { heap.engine.iter_blocks(pool) } {
                if block.is_occupied() {
                    used += block.size();
                } else {
                    free += block.size();
                }
            }
        }
    }
    (used, free)
}

fn assert_stats_exact(heap: &TlsfByteAllocator) {
    let (used, free) = block_sums(heap);
    assert_eq!(heap.used_bytes(), used, "used_bytes is the sum of rlsf's occupied blocks");
    assert_eq!(heap.available_bytes(), free, "available_bytes is the sum of rlsf's free blocks");
    assert!(heap.used_bytes() + heap.available_bytes() <= heap.total_bytes());
}

/// The largest layout with alignment 8 that `heap` can allocate now (found
/// by bisection; the block is freed again).
fn largest_alloc(heap: &mut TlsfByteAllocator) -> Layout {
    let (mut fits, mut fails) = (0, heap.total_bytes());
    while fails - fits > 1 {
        let mid = (fits + fails) / 2;
        match heap.alloc(layout(mid, 8)) {
            Ok(p) => {
                // SAFETY: allocated just now with this layout.
                unsafe { heap.dealloc(p, layout(mid, 8)) };
                fits = mid;
            }
            Err(e) => {
                assert_eq!(e, AllocError::NoMemory);
                fails = mid;
            }
        }
    }
    layout(fits, 8)
}

#[test]
fn init_manages_the_trimmed_region() {
    let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
    let mut heap = TlsfByteAllocator::new();
    // Start one byte in, end one byte short: trimmed to granules inwards.
    // SAFETY: inside the pool, which outlives the heap.
    unsafe { heap.init(pool.start() + 1, pool.size() - 2) }.unwrap();
    assert_eq!(heap.total_bytes(), pool.size() - 2 * GRANULARITY);
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.available_bytes(), heap.total_bytes() - GRANULARITY, "one end marker");
    assert_eq!(
        heap.regions().next(),
        Some(&Region { start: pool.start() + GRANULARITY, end: pool.region().end - GRANULARITY })
    );
    assert_stats_exact(&heap);
}

#[test]
fn statistics_are_the_real_block_sizes() {
    let pool = Pool::new(scaled(256 * 1024, 16 * 1024), 4096);
    let mut heap = heap_on(&pool);
    let mut live = Vec::new();
    let cases = [(1, 1), (0, 1), (16, 8), (17, 8), (100, 16), (100, 32), (5, 64), (3000, 4096), (0, 256)];
    for (size, align) in cases {
        let l = layout(size, align);
        let before = heap.used_bytes();
        let p = heap.alloc(l).unwrap();
        assert_eq!(p.addr().get() % align, 0);
        assert!(in_pool(&pool, p, size));
        let grew = heap.used_bytes() - before;
        assert!(grew >= size + HEADER_SIZE, "a block holds header and payload");
        assert_eq!(grew % GRANULARITY, 0);
        assert_stats_exact(&heap);
        live.push((p, l));
    }
    // Small alignments have no padding: exactly the header and the payload,
    // rounded up.
    let before = heap.used_bytes();
    let p = heap.alloc(layout(17, 8)).unwrap();
    assert_eq!(heap.used_bytes() - before, (17 + HEADER_SIZE).next_multiple_of(GRANULARITY));
    live.push((p, layout(17, 8)));
    for (p, l) in live {
        // SAFETY: allocated above with `l`.
        unsafe { heap.dealloc(p, l) };
        assert_stats_exact(&heap);
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.available_bytes(), heap.total_bytes() - GRANULARITY);
}

#[test]
fn zero_size_layouts_get_unique_minimum_blocks() {
    let pool = Pool::new(4096, 4096);
    let mut heap = heap_on(&pool);
    let a = heap.alloc(layout(0, 1)).unwrap();
    let b = heap.alloc(layout(0, 1)).unwrap();
    let c = heap.alloc(layout(0, 128)).unwrap();
    assert_ne!(a, b);
    assert_ne!(b, c);
    assert_eq!(c.addr().get() % 128, 0);
    assert!(heap.used_bytes() >= 3 * GRANULARITY);
    assert_stats_exact(&heap);
    // SAFETY: each allocated above with the layout given here.
    unsafe {
        heap.dealloc(a, layout(0, 1));
        heap.dealloc(b, layout(0, 1));
        heap.dealloc(c, layout(0, 128));
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn fill_to_exhaustion_then_recover() {
    let pool = Pool::new(scaled(16 * 1024, 4 * 1024), 4096);
    let mut heap = heap_on(&pool);
    // TLSF's good-fit search rounds a request up to its size class, so the
    // largest block that succeeds is a little below the free bytes.
    let largest = largest_alloc(&mut heap);
    assert!(largest.size() >= heap.available_bytes() * 31 / 32 - GRANULARITY, "{largest:?}");
    assert!(largest.size() < heap.available_bytes());

    let mut live = Vec::new();
    while let Ok(p) = heap.alloc(layout(8, 8)) {
        live.push(p);
    }
    assert_eq!(heap.available_bytes(), 0);
    assert_eq!(heap.used_bytes() + GRANULARITY, heap.total_bytes());
    assert_stats_exact(&heap);
    for p in live {
        // SAFETY: allocated above with `layout(8, 8)`.
        unsafe { heap.dealloc(p, layout(8, 8)) };
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(largest_alloc(&mut heap), largest, "everything coalesced back into one block");
}

#[test]
fn realloc_grows_and_shrinks_in_place() {
    let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
    let mut heap = heap_on(&pool);
    let old = layout(64, 8);
    let p = heap.alloc(old).unwrap();
    // SAFETY: `p` is a live 64-byte block.
    unsafe { p.as_ptr().write_bytes(0xA5, 64) };

    // The rest of the pool is free right after `p`: growing stays in place.
    // SAFETY: `p` was allocated with `old`.
    let grown = unsafe { heap.realloc(p, old, 4000) }.unwrap();
    assert_eq!(grown, p, "grown in place");
    // SAFETY: the first 64 bytes were preserved.
    assert!(unsafe { core::slice::from_raw_parts(grown.as_ptr(), 64) }.iter().all(|&b| b == 0xA5));
    assert_eq!(heap.used_bytes(), (4000 + HEADER_SIZE).next_multiple_of(GRANULARITY));
    assert_stats_exact(&heap);

    // A shrink by less than half stays in place.
    // SAFETY: `grown` has the layout (4000, 8).
    let trimmed = unsafe { heap.realloc(grown, layout(4000, 8), 3000) }.unwrap();
    assert_eq!(trimmed, p, "shrunk in place");
    assert_eq!(heap.used_bytes(), (3000 + HEADER_SIZE).next_multiple_of(GRANULARITY));
    assert_stats_exact(&heap);

    // A shrink to half or less moves to a fitting free block when there is
    // one, and the old block is free again in one piece.
    // SAFETY: `trimmed` has the layout (3000, 8).
    let shrunk = unsafe { heap.realloc(trimmed, layout(3000, 8), 10) }.unwrap();
    assert_ne!(shrunk, p, "moved to a fitting block");
    // SAFETY: the first 10 bytes were preserved.
    assert!(unsafe { core::slice::from_raw_parts(shrunk.as_ptr(), 10) }.iter().all(|&b| b == 0xA5));
    assert_eq!(heap.used_bytes(), GRANULARITY);
    assert_stats_exact(&heap);
    let refill = heap.alloc(layout(2900, 8)).unwrap();
    assert_eq!(refill, p, "the old block is whole and first in line");
    // SAFETY: allocated just above with this layout.
    unsafe { heap.dealloc(refill, layout(2900, 8)) };

    // A neighbour in the way: the block moves, and the data with it. The
    // pool's first bytes are free again, so `low` lands there and `blocker`
    // right after it.
    let low = heap.alloc(layout(10, 8)).unwrap();
    assert_eq!(low, p);
    // SAFETY: `low` is a live 10-byte block.
    unsafe { low.as_ptr().write_bytes(0x5A, 10) };
    let blocker = heap.alloc(layout(8, 8)).unwrap();
    assert_eq!(blocker.as_ptr().addr(), p.as_ptr().addr() + GRANULARITY);
    // SAFETY: `low` has the layout (10, 8).
    let moved = unsafe { heap.realloc(low, layout(10, 8), 2000) }.unwrap();
    assert_ne!(moved, low);
    // SAFETY: the first 10 bytes were preserved.
    assert!(unsafe { core::slice::from_raw_parts(moved.as_ptr(), 10) }.iter().all(|&b| b == 0x5A));
    assert_stats_exact(&heap);
    // SAFETY: live blocks with these layouts.
    unsafe {
        heap.dealloc(moved, layout(2000, 8));
        heap.dealloc(blocker, layout(8, 8));
        heap.dealloc(shrunk, layout(10, 8));
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn failed_realloc_keeps_the_old_block() {
    let pool = Pool::new(8 * 1024, 4096);
    let mut heap = heap_on(&pool);
    let old = layout(32, 64);
    let p = heap.alloc(old).unwrap();
    // SAFETY: `p` is a live 32-byte block.
    unsafe { p.as_ptr().write_bytes(7, 32) };
    let used = heap.used_bytes();
    // SAFETY: `p` was allocated with `old`.
    assert_eq!(unsafe { heap.realloc(p, old, 1 << 20) }, Err(AllocError::NoMemory));
    // SAFETY: as above; this size cannot form a layout.
    assert_eq!(unsafe { heap.realloc(p, old, usize::MAX) }, Err(AllocError::NoMemory));
    assert_eq!(heap.used_bytes(), used);
    // SAFETY: the block is still live and untouched.
    assert!(unsafe { core::slice::from_raw_parts(p.as_ptr(), 32) }.iter().all(|&b| b == 7));
    assert_stats_exact(&heap);
    // SAFETY: `p` is still allocated with `old`.
    unsafe { heap.dealloc(p, old) };
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn layouts_no_pool_can_hold_are_no_memory() {
    let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
    let mut heap = heap_on(&pool);
    for l in [
        layout(pool.size(), 1),
        layout(isize::MAX as usize - 4096, 1),
        layout(1, 1 << 20),
        layout(0, 1 << 40),
        layout(0, 1 << (usize::BITS - 1)),
        layout(isize::MAX as usize / 2, 1 << 30),
    ] {
        assert_eq!(heap.alloc(l), Err(AllocError::NoMemory), "{l:?}");
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(TlsfByteAllocator::new().alloc(layout(1, 1)), Err(AllocError::NoMemory), "no pool yet");
}

#[test]
fn bad_regions_are_errors() {
    let pool = Pool::new(scaled(64 * 1024, 32 * 1024), 4096);
    let mut heap = TlsfByteAllocator::new();
    let s = pool.start();
    // SAFETY: every range lies in the pool, which outlives the heap, or is
    // rejected before anything is written.
    unsafe {
        assert_eq!(heap.init(s, MIN_POOL_SIZE - 1), Err(AllocError::InvalidParam), "too small");
        assert_eq!(heap.init(s + 1, MIN_POOL_SIZE), Err(AllocError::InvalidParam), "too small once trimmed");
        assert_eq!(heap.init(s, 0), Err(AllocError::InvalidParam));
        assert_eq!(heap.init(usize::MAX - 100, 200), Err(AllocError::InvalidParam), "overflowing end");
        assert_eq!(heap.init(0, MIN_POOL_SIZE), Err(AllocError::InvalidParam), "null start, too small");
        assert_eq!(heap.total_bytes(), 0, "nothing was taken");

        heap.init(s + 4096, 8192).unwrap();
        assert_eq!(heap.add_memory(s + 8192, 8192), Err(AllocError::MemoryOverlap));
        assert_eq!(heap.add_memory(s, 4096 + 1), Err(AllocError::MemoryOverlap));
        assert_eq!(heap.init(s + 4096, 8192), Err(AllocError::MemoryOverlap), "init twice, overlapping");
        assert_eq!(heap.init(s + 16384, 8192), Err(AllocError::InvalidParam), "init twice");
        // Touching but not overlapping is fine, on both sides.
        heap.add_memory(s, 4096).unwrap();
        heap.add_memory(s + 12288, 4096).unwrap();
    }
    assert_eq!(heap.total_bytes(), 16384);
    assert_eq!(heap.available_bytes(), 16384 - 3 * GRANULARITY);
    assert_stats_exact(&heap);
}

#[test]
fn region_table_full_is_no_memory() {
    let pool = Pool::new((MAX_REGIONS + 1) * MIN_POOL_SIZE, 4096);
    let mut heap = TlsfByteAllocator::new();
    for i in 0..MAX_REGIONS {
        // SAFETY: disjoint slices of the pool, which outlives the heap.
        unsafe { heap.add_memory(pool.start() + i * MIN_POOL_SIZE, MIN_POOL_SIZE) }.unwrap();
    }
    // SAFETY: the last slice of the pool; rejected before it is touched.
    let last = unsafe { heap.add_memory(pool.start() + MAX_REGIONS * MIN_POOL_SIZE, MIN_POOL_SIZE) };
    assert_eq!(last, Err(AllocError::NoMemory));
    assert_eq!(heap.total_bytes(), MAX_REGIONS * MIN_POOL_SIZE);
    // Each minimal pool holds exactly one minimal block.
    let blocks: Vec<_> = (0..MAX_REGIONS).map(|_| heap.alloc(layout(HEADER_SIZE, 8)).unwrap()).collect();
    assert_eq!(heap.alloc(layout(0, 1)), Err(AllocError::NoMemory));
    assert_stats_exact(&heap);
    for p in blocks {
        // SAFETY: allocated above with this layout.
        unsafe { heap.dealloc(p, layout(HEADER_SIZE, 8)) };
    }
}

#[test]
fn several_pools_serve_blocks_from_each() {
    let size = scaled(16 * 1024, 4 * 1024);
    let high = Pool::new(size, 4096);
    let low = Pool::new(size, 4096);
    let mut heap = TlsfByteAllocator::new();
    // SAFETY: whole pools, which outlive the heap.
    unsafe {
        heap.init(high.start(), size).unwrap();
        heap.add_memory(low.start(), size).unwrap();
    }
    let big = layout(size / 4 * 3, 8);
    let a = heap.alloc(big).unwrap();
    let b = heap.alloc(big).unwrap();
    assert!(in_pool(&high, a, big.size()) != in_pool(&high, b, big.size()), "one in each pool");
    assert!(in_pool(&low, a, big.size()) || in_pool(&low, b, big.size()));
    assert_eq!(heap.alloc(big), Err(AllocError::NoMemory));
    assert_eq!(heap.alloc(layout(size / 4 * 5, 8)), Err(AllocError::NoMemory), "pools do not join");
    assert_stats_exact(&heap);
    // SAFETY: allocated above with `big`.
    unsafe {
        heap.dealloc(a, big);
        heap.dealloc(b, big);
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn large_regions_are_split_into_chunks_rlsf_can_hold() {
    let max = MAX_CHUNK.unwrap_or(usize::MAX);
    assert_eq!(next_chunk(0, MAX_CHUNK), None);
    assert_eq!(next_chunk(MIN_POOL_SIZE - GRANULARITY, MAX_CHUNK), None);
    assert_eq!(next_chunk(MIN_POOL_SIZE, MAX_CHUNK), Some(MIN_POOL_SIZE));
    if let Some(max) = MAX_CHUNK {
        assert_eq!(next_chunk(max, MAX_CHUNK), Some(max));
        assert_eq!(next_chunk(max + GRANULARITY, MAX_CHUNK), Some(max));
        assert_eq!(next_chunk(usize::MAX & !(GRANULARITY - 1), MAX_CHUNK), Some(max));
        // The biggest block of a chunk maps to the last first-level class.
        assert!(max.trailing_zeros() as usize - GRANULARITY.trailing_zeros() as usize == FLLEN);
    }
    assert!(max >= 1 << 37 || usize::BITS < 64, "128 GiB chunks on 64-bit targets");
}

#[test]
fn block_size_matches_rlsf_layout_rules() {
    // Cross-check the header reading against rlsf's rule: a used block is
    // its header, the padding up to the alignment, and the payload, rounded
    // up to granules.
    let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
    let mut heap = heap_on(&pool);
    let mut live = Vec::new();
    for (i, align) in [1, 8, 16, 32, 64, 512, 4096].into_iter().enumerate() {
        let l = layout(i * 37, align);
        let p = heap.alloc(l).unwrap();
        // SAFETY: live allocation with `l.align()`.
        let size = unsafe { TlsfByteAllocator::block_size(p, l.align()) };
        assert_eq!(size % GRANULARITY, 0);
        assert!(
            size >= l.size() + HEADER_SIZE
                && size < l.size() + HEADER_SIZE + align.max(GRANULARITY) + GRANULARITY
        );
        live.push((p, l));
    }
    assert_stats_exact(&heap);
    for (p, l) in live {
        // SAFETY: allocated above with `l`.
        unsafe { heap.dealloc(p, l) };
    }
}

/// The `debug-checks` feature, on in this crate's tests (through the
/// dev-dependency on the crate itself).
mod debug_checks {
    use super::*;

    // The tests below would pass vacuously without the checks.
    const _: () = assert!(cfg!(feature = "debug-checks"), "the dev-dependency turns debug-checks on");

    #[test]
    #[should_panic(expected = "allocator-tlsf: double free of")]
    fn double_free() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let l = layout(100, 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: `block` is live; the second free is the bug under test,
        // caught before rlsf touches anything.
        unsafe {
            heap.dealloc(block, l);
            heap.dealloc(block, l);
        }
    }

    /// The freed block merges into the free block before it, which leaves
    /// its old header (used bit set) in free memory: the check must still
    /// see the second free.
    #[test]
    #[should_panic(expected = "allocator-tlsf: double free of")]
    fn double_free_after_merging_with_the_block_before() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let l = layout(100, 8);
        let first = heap.alloc(l).unwrap();
        let second = heap.alloc(l).unwrap();
        let _third = heap.alloc(l).unwrap();
        // SAFETY: both are live and freed once; then `second` again (the bug).
        unsafe {
            heap.dealloc(first, l);
            heap.dealloc(second, l);
            heap.dealloc(second, l);
        }
    }

    #[test]
    #[should_panic(expected = "allocator-tlsf: double free of")]
    fn double_free_with_a_large_alignment() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let l = layout(100, 256);
        let _before = heap.alloc(layout(40, 8)).unwrap();
        let block = heap.alloc(l).unwrap();
        // SAFETY: as in `double_free`.
        unsafe {
            heap.dealloc(block, l);
            heap.dealloc(block, l);
        }
    }

    /// `realloc` moves the block (rlsf frees the old one); freeing the old
    /// pointer afterwards is a double free.
    #[test]
    #[should_panic(expected = "allocator-tlsf: double free of")]
    fn free_after_a_moving_realloc() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let l = layout(64, 8);
        let first = heap.alloc(l).unwrap();
        let block = heap.alloc(l).unwrap();
        let _fence = heap.alloc(l).unwrap();
        // SAFETY: live blocks, freed once each; then the stale `block`.
        unsafe {
            heap.dealloc(first, l);
            let moved = heap.realloc(block, l, 4096).unwrap();
            assert_ne!(moved, block, "the fence forces a move");
            heap.dealloc(block, l);
        }
    }

    #[test]
    #[should_panic(expected = "which lies outside every region")]
    fn free_of_a_pointer_outside_every_region() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let mut elsewhere = [0u64; 4];
        let foreign = NonNull::from(&mut elsewhere).cast::<u8>();
        // SAFETY: the bug under test: caught before anything is read.
        unsafe { heap.dealloc(foreign, layout(8, 8)) };
    }

    #[test]
    #[should_panic(expected = "misaligned for its layout (align 8)")]
    fn free_of_a_pointer_misaligned_for_its_layout() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let block = heap.alloc(layout(100, 8)).unwrap();
        // SAFETY: the bug under test: 8 bytes into a live block.
        unsafe { heap.dealloc(block.add(8), layout(92, 8)) };
    }

    #[test]
    #[should_panic(expected = "misaligned for its layout (align 64)")]
    fn free_with_a_larger_alignment_than_the_pointer_has() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let _before = heap.alloc(layout(8, 8)).unwrap();
        let block = heap.alloc(layout(100, 64)).unwrap();
        // SAFETY: the bug under test: a block 32 bytes into one aligned to 64.
        unsafe { heap.dealloc(block.add(32), layout(8, 64)) };
    }

    /// A pointer a whole granule into a live block looks aligned, but its
    /// would-be header is payload: no block boundary is there.
    #[test]
    #[should_panic(expected = "which is not the start of a live block")]
    fn free_of_a_pointer_inside_a_live_block() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let block = heap.alloc(layout(200, 8)).unwrap();
        // SAFETY: the block is live and 200 bytes long.
        unsafe { block.write_bytes(0x11, 200) };
        // SAFETY: the bug under test.
        unsafe { heap.dealloc(block.add(GRANULARITY), layout(8, 8)) };
    }

    #[test]
    #[should_panic(expected = "after it was freed")]
    fn realloc_of_a_freed_block() {
        let pool = Pool::new(scaled(64 * 1024, 16 * 1024), 4096);
        let mut heap = heap_on(&pool);
        let l = layout(100, 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: freed once, then resized (the bug under test).
        unsafe {
            heap.dealloc(block, l);
            let _ = heap.realloc(block, l, 200);
        }
    }

    /// The conformance suite's random churn (every size, alignment, resize
    /// and free, checked against the model) never trips the checks.
    #[test]
    fn a_correct_workload_passes() {
        // Under Miri: the tiny configuration, with 16 KiB regions aligned to
        // 64 bytes (short guards; see `4096`). Churn asks for
        // alignments up to 256 all the same.
        let cfg = if cfg!(miri) {
            ByteConfig::tiny().with_region_size(16 << 10).with_region_align(4096)
        } else {
            ByteConfig::new()
        };
        allocator_testkit::byte::random_churn(&TlsfByteAllocator::new, &cfg);
    }
}

/// A heap whose regions are cut into rlsf pools of at most `cap` bytes.
fn capped(cap: usize) -> TlsfByteAllocator {
    TlsfByteAllocator { chunk_cap: Some(cap), ..TlsfByteAllocator::new() }
}

#[test]
fn list_floor_is_the_smallest_size_of_the_free_list() {
    assert_eq!(list_floor(GRANULARITY), GRANULARITY);
    assert_eq!(list_floor(4064), 4032, "lists of 64 bytes between 2 and 4 KiB");
    assert_eq!(list_floor(4096), 4096);
    assert_eq!(list_floor((1 << 20) - 32), (1 << 20) - (1 << 14), "lists of 16 KiB below 1 MiB");
    if let Some(max) = MAX_CHUNK {
        assert_eq!(list_floor(max - GRANULARITY), max - (max >> 6));
    }
}

#[test]
fn regions_of_several_pools_are_removed_whole_or_not_at_all() {
    let cap = 4096;
    // Five pools: four of 4 KiB and one of 2 KiB; the region starts one
    // byte into the pool, so its claimed range is not what rlsf holds.
    let size = 4 * cap + 2048 + GRANULARITY;
    let a_pool = Pool::new(size + 1, 4096);
    let b_pool = Pool::new(2 * cap, 4096);
    let mut heap = capped(cap);
    // SAFETY: whole pools, which outlive the heap.
    unsafe {
        heap.init(b_pool.start(), b_pool.size()).unwrap();
        heap.add_memory(a_pool.start() + 1, size).unwrap();
    }
    let a = *heap.regions().nth(1).unwrap();
    assert_eq!(heap.chunks(a.size()).count(), 5);
    assert_eq!(heap.sentinel_bytes, (2 + 5) * GRANULARITY);
    let total = heap.total_bytes();
    assert_stats_exact(&heap);
    // Fill everything, then keep one block in the last pool of `a` only.
    let small = layout(200, 8);
    let mut live = Vec::new();
    while let Ok(p) = heap.alloc(small) {
        live.push(p);
    }
    let last_chunk = a.start + 4 * cap;
    let keep = live.iter().position(|p| (last_chunk..a.end).contains(&p.addr().get())).unwrap();
    let kept = live.swap_remove(keep);
    for p in live.drain(..) {
        // SAFETY: allocated above with `small`.
        unsafe { heap.dealloc(p, small) };
    }
    let before = (block_sums(&heap), heap.total_bytes(), heap.used_bytes(), heap.available_bytes());
    assert_eq!(heap.remove_memory(a_pool.start() + 1, size), Err(AllocError::MemoryOverlap));
    assert_eq!((block_sums(&heap), heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), before);
    // Not the range rlsf holds, nor a part: the caller's range exactly.
    for (s, len) in [(a.start, a.size()), (a_pool.start() + 1, size - 1), (a_pool.start(), size + 1)] {
        assert_eq!(heap.remove_memory(s, len), Err(AllocError::NotAllocated), "{s:#x} + {len}");
    }
    // SAFETY: allocated above with `small`.
    unsafe { heap.dealloc(kept, small) };
    assert_eq!(heap.remove_memory(a_pool.start() + 1, size), Ok(()));
    assert_eq!(heap.total_bytes(), total - a.size());
    assert_eq!(heap.sentinel_bytes, 2 * GRANULARITY);
    assert_eq!(heap.regions().count(), 1);
    assert_stats_exact(&heap);
    assert_eq!(heap.remove_memory(a_pool.start() + 1, size), Err(AllocError::NotAllocated), "twice");
    // rlsf never touches the removed pools again.
    a_pool.fill(0, a_pool.size(), 0x5C);
    let mut live = Vec::new();
    while let Ok(p) = heap.alloc(small) {
        assert!(in_pool(&b_pool, p, small.size()));
        live.push(p);
    }
    for p in live {
        // SAFETY: allocated above with `small`.
        unsafe { heap.dealloc(p, small) };
    }
    a_pool.assert_filled(0, a_pool.size(), 0x5C, "a removed region");
    assert_stats_exact(&heap);
    // The region can be added again, and serves as before.
    a_pool.fill(0, a_pool.size(), 0);
    // SAFETY: the pool is ours again (removed above), and outlives the heap.
    unsafe { heap.add_memory(a_pool.start() + 1, size) }.unwrap();
    assert_eq!(heap.total_bytes(), total);
    assert_stats_exact(&heap);
}

#[test]
fn removal_takes_blocks_of_other_pools_first() {
    let size = scaled(64 * 1024, 8 * 1024);
    let first = Pool::new(size, 4096);
    let second = Pool::new(size, 4096);
    let third = Pool::new(size, 4096);
    let mut heap = heap_on(&first);
    // SAFETY: whole pools, which outlive the heap.
    unsafe {
        heap.add_memory(second.start(), size).unwrap();
        heap.add_memory(third.start(), size).unwrap();
    }
    let largest = largest_alloc(&mut heap);
    // The three pool blocks share one free list; rlsf serves its head, the
    // pool added last. Removing the first pool takes (and gives back) the
    // two blocks ahead of it.
    assert_eq!(heap.remove_memory(first.start(), size), Ok(()));
    assert_eq!(heap.stashed, 2);
    assert_stats_exact(&heap);
    assert_eq!(largest_alloc(&mut heap), largest, "the other pools are whole again");
    // The pool added last is at the head: no detour.
    assert_eq!(heap.remove_memory(third.start(), size), Ok(()));
    assert_eq!(heap.stashed, 2);
    assert_stats_exact(&heap);
    first.fill(0, size, 0x77);
    third.fill(0, size, 0x77);
    let p = heap.alloc(largest).unwrap();
    assert!(in_pool(&second, p, largest.size()));
    // SAFETY: allocated just now with `largest`.
    unsafe { heap.dealloc(p, largest) };
    first.assert_filled(0, size, 0x77, "the first pool, removed");
    third.assert_filled(0, size, 0x77, "the third pool, removed");
    assert_eq!(heap.remove_memory(second.start(), size), Ok(()));
    assert_eq!((heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), (0, 0, 0));
    assert_eq!(heap.alloc(layout(1, 1)), Err(AllocError::NoMemory));
    // Empty again: `init` takes a region.
    second.fill(0, size, 0);
    // SAFETY: the pool is ours again, and outlives the heap.
    unsafe { heap.init(second.start(), size) }.unwrap();
    assert_eq!(largest_alloc(&mut heap), largest);
}

#[test]
fn max_layout_size_is_the_largest_block_rlsf_can_find() {
    let heap = TlsfByteAllocator::new();
    if let Some(max) = MAX_CHUNK {
        let list = max - (max >> 6);
        assert_eq!(heap.max_layout_size(1), list - HEADER_SIZE);
        assert_eq!(heap.max_layout_size(8), list - HEADER_SIZE);
        assert_eq!(heap.max_layout_size(4096), list - 4096);
    }
    assert_eq!(heap.max_layout_size(1 << (usize::BITS - 1)), 0, "no panic on any input");
    assert_eq!(heap.max_layout_size(0), heap.max_layout_size(1));
    // With 4 KiB pools, it can be checked: the largest block is served, one
    // byte more is not.
    let pool = Pool::new(2 * 4096, 4096);
    let mut heap = capped(4096);
    // SAFETY: the pool outlives the heap.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    for align in [1, 8, GRANULARITY, 64] {
        let max = heap.max_layout_size(align);
        assert_eq!(max, 4032 - align.max(HEADER_SIZE));
        assert_eq!(heap.alloc(layout(max + 1, align)), Err(AllocError::NoMemory), "align {align}");
        let p = heap.alloc(layout(max, align)).unwrap();
        // SAFETY: allocated just now.
        unsafe { heap.dealloc(p, layout(max, align)) };
    }
}

#[test]
fn assert_valid_passes_through_churn_and_finds_corruption() {
    let pool = Pool::new(64 * 1024, 4096);
    let mut heap = heap_on(&pool);
    heap.assert_valid();
    let blocks: Vec<_> =
        (1..40).map(|i| (heap.alloc(layout(i * 24, 8)).unwrap(), layout(i * 24, 8))).collect();
    heap.assert_valid();
    for &(block, l) in blocks.iter().step_by(2) {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { heap.dealloc(block, l) };
        heap.assert_valid();
    }
    // A statistic that disagrees with the blocks is caught.
    heap.used_bytes += GRANULARITY;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.assert_valid()));
    assert!(caught.is_err(), "a wrong used_bytes passed");
    heap.used_bytes -= GRANULARITY;
    heap.assert_valid();
    // A live block's header with a wrong size is caught: the walk lands
    // mid-block, where no header links back.
    let (victim, _) = blocks[1];
    // SAFETY: the header of a live block lies `GRANULARITY / 2` bytes before
    // its payload (alignment 8); the pool is ours.
    let header = unsafe { victim.sub(GRANULARITY / 2).cast::<usize>() };
    // SAFETY: as above.
    let saved = unsafe { header.read() };
    // SAFETY: as above.
    unsafe { header.write(saved + GRANULARITY) };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| heap.assert_valid()));
    assert!(caught.is_err(), "a corrupt header passed");
    // SAFETY: as above: restore it.
    unsafe { header.write(saved) };
    heap.assert_valid();
    for &(block, l) in blocks.iter().skip(1).step_by(2) {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { heap.dealloc(block, l) };
    }
    heap.assert_valid();
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn peak_used_bytes_keeps_the_most_live() {
    let pool = Pool::new(64 * 1024, 4096);
    let mut heap = heap_on(&pool);
    assert_eq!(heap.peak_used_bytes(), Some(0));
    let a = heap.alloc(layout(1000, 8)).unwrap();
    let b = heap.alloc(layout(3000, 8)).unwrap();
    let both = heap.used_bytes();
    // SAFETY: allocated above with these layouts, freed once.
    unsafe { heap.dealloc(a, layout(1000, 8)) };
    assert_eq!(heap.peak_used_bytes(), Some(both), "a free leaves the peak");
    // SAFETY: as above; grown in place or moved, then freed.
    let b = unsafe { heap.realloc(b, layout(3000, 8), 8000) }.unwrap();
    assert!(heap.peak_used_bytes().unwrap() >= heap.used_bytes());
    // SAFETY: as above.
    unsafe { heap.dealloc(b, layout(8000, 8)) };
    assert_eq!(heap.used_bytes(), 0);
    assert!(heap.peak_used_bytes().unwrap() >= both);
}
