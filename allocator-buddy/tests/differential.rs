//! Differential test: the same seeded sequence of allocations and frees runs
//! through our [`BuddyByteAllocator`] and `buddy_system_allocator::Heap<32>`
//! (the free-list buddy allocator ArceOS wraps), and both must agree.
//!
//! Both are binary buddy systems with the same policy: a request takes a
//! block of `max(size, align)` rounded up to a power of two, found in the
//! smallest non-empty order at or above it; a split keeps the lower half and
//! pushes the upper halves at the heads of their free lists; a free merges
//! with free buddies up to the largest order and pushes the result at the
//! head of its list; both lists are LIFO. So on the same regions they must
//! not only succeed and fail together but return the very same offsets.
//!
//! Where they may legitimately differ, and how this test avoids it:
//!
//! - Minimum block: upstream's is one word (8 bytes), ours two words
//!   ([`MIN_BLOCK_SIZE`]), so a request of fewer than 16 bytes takes
//!   different blocks. Requests here are at least [`MIN_BLOCK_SIZE`] bytes.
//! - Region shape: ours carves its bitmap from the front of each region, so
//!   the same region is cut into different blocks. Here ours gets
//!   `metadata + 2^k` bytes ending where upstream's `2^k` bytes end, so both
//!   manage one block of `2^k` bytes at the same (relative) address.
//! - Adjacent regions: upstream merges buddies across region boundaries,
//!   ours never does. Here each region's block is the upper half of a buffer
//!   aligned to twice its size, so its buddy is never managed memory.
//! - `realloc`: upstream has none (ours resizes in place), so it is not used.

use core::{alloc::Layout, ptr::NonNull};

use allocator_buddy::{BuddyByteAllocator, MIN_BLOCK_SIZE, metadata_bytes_managing};
use allocator_testkit::{Pool, Rng};
use allocator_traits::{BaseAllocator, ByteAllocator};
use buddy_system_allocator::Heap;

/// One region, twice: the block of `2^k` bytes is the upper half of each
/// buffer (`ours` also holds our bitmap just below it).
struct Region {
    size: usize,
    ours: Pool,
    theirs: Pool,
}

impl Region {
    fn new(order: u32) -> Self {
        let size = 1 << order;
        Self { size, ours: Pool::new(2 * size, 2 * size), theirs: Pool::new(2 * size, 2 * size) }
    }

    fn our_block(&self) -> usize {
        self.ours.start() + self.size
    }

    fn their_block(&self) -> usize {
        self.theirs.start() + self.size
    }
}

/// `(region index, offset)` of an address in one of the two heaps.
fn locate(regions: &[Region], addr: usize, ours: bool) -> (usize, usize) {
    regions
        .iter()
        .enumerate()
        .find_map(|(i, r)| {
            let block = if ours { r.our_block() } else { r.their_block() };
            (addr >= block && addr < block + r.size).then(|| (i, addr - block))
        })
        .expect("a pointer outside every region")
}

/// Runs `ops` random operations over regions of the given orders (added in
/// a random order) and checks that both heaps agree at every step.
fn run(seed: u64, orders: &[u32], ops: usize, max_size_log: u32) {
    // Miri interprets every step (some 6 ms of its time each, for both
    // heaps): a shorter run still covers the paths.
    let ops = if cfg!(miri) { ops / 50 } else { ops };
    let mut rng = Rng::new(seed);
    let regions: Vec<Region> = orders.iter().map(|&o| Region::new(o)).collect();
    let mut ours = BuddyByteAllocator::new();
    let mut theirs = Heap::<32>::new();
    let mut add_order: Vec<usize> = (0..regions.len()).collect();
    rng.shuffle(&mut add_order);
    for (n, &i) in add_order.iter().enumerate() {
        let r = &regions[i];
        let meta = metadata_bytes_managing(r.size);
        // SAFETY: each buffer is ours, used by one heap only, and outlives it.
        unsafe {
            if n == 0 {
                ours.init(r.our_block() - meta, meta + r.size).unwrap();
            } else {
                ours.add_memory(r.our_block() - meta, meta + r.size).unwrap();
            }
            theirs.init(r.their_block(), r.size);
        }
    }
    assert_eq!(ours.total_bytes(), theirs.stats_total_bytes());

    let mut live: Vec<(NonNull<u8>, NonNull<u8>, Layout)> = Vec::new();
    let (mut successes, mut failures) = (0, 0);
    for step in 0..ops {
        // Bias towards allocation until memory runs out, then churn.
        if live.is_empty() || rng.below(100) < 55 {
            let size_log = rng.below(max_size_log as usize + 1) as u32;
            let size = (MIN_BLOCK_SIZE << size_log) - rng.below(MIN_BLOCK_SIZE << size_log >> 1);
            let size = size.max(MIN_BLOCK_SIZE);
            let align_logs = if rng.below(8) == 0 { 13 } else { 4 };
            let align = 1 << rng.below(align_logs);
            let layout = Layout::from_size_align(size, align).unwrap();
            match (ours.alloc(layout), theirs.alloc(layout)) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(
                        locate(&regions, a.as_ptr().addr(), true),
                        locate(&regions, b.as_ptr().addr(), false),
                        "step {step}: {layout:?} placed differently"
                    );
                    assert_eq!(a.as_ptr().addr() % align, 0);
                    live.push((a, b, layout));
                    successes += 1;
                }
                (Err(_), Err(())) => failures += 1,
                (a, b) => panic!("step {step}: {layout:?}: ours {a:?}, theirs {b:?}"),
            }
        } else {
            let (a, b, layout) = live.swap_remove(rng.below(live.len()));
            // SAFETY: each block is live in its heap with this layout.
            unsafe {
                ours.dealloc(a, layout);
                theirs.dealloc(b, layout);
            }
        }
        assert_eq!(ours.used_bytes(), theirs.stats_alloc_actual(), "step {step}");
    }
    // Miri's short runs may not fill the heap.
    assert!(
        successes > ops / 4 && (failures > 0 || cfg!(miri)),
        "the run exercised both outcomes: {successes} ok, {failures} failed"
    );

    for (a, b, layout) in live.drain(..) {
        // SAFETY: as above.
        unsafe {
            ours.dealloc(a, layout);
            theirs.dealloc(b, layout);
        }
    }
    assert_eq!(ours.used_bytes(), 0);
    assert_eq!(theirs.stats_alloc_actual(), 0);
    // Everything coalesced: each region's whole block is one allocation again.
    for r in &regions {
        let layout = Layout::from_size_align(r.size, 1).unwrap();
        let a = ours.alloc(layout).unwrap();
        let b = theirs.alloc(layout).unwrap();
        assert_eq!(locate(&regions, a.as_ptr().addr(), true), locate(&regions, b.as_ptr().addr(), false));
    }
}

// Under Miri: fewer seeds, and regions a quarter or an eighth the size, so
// that the short runs fill them too.

#[test]
fn one_region_agrees_with_buddy_system_allocator() {
    let (seeds, order) = if cfg!(miri) { (2, 14) } else { (4, 16) };
    for seed in 0..seeds {
        run(seed, &[order], 20_000, 8);
    }
}

#[test]
fn several_regions_agree_with_buddy_system_allocator() {
    let (seeds, orders): (_, &[u32]) =
        if cfg!(miri) { (1, &[12, 14, 11, 13, 12]) } else { (4, &[14, 17, 12, 15, 14]) };
    for seed in 10..10 + seeds {
        run(seed, orders, 20_000, 9);
    }
}

#[test]
fn small_blocks_agree_with_buddy_system_allocator() {
    run(99, &[13, 13], 6000, 3);
}
