//! Determinism, counted: the worst-case work of one `alloc` and one
//! `dealloc`, in list and bitmap touches (the `steps` counter, compiled in
//! tests only), over sequences built to hit the worst case, against the bound
//! the crate docs state: O(log n), at most one touch per order.
//!
//! Per `alloc`: one unlink of the block found, one push per split (at most
//! `levels` of them, where `levels` is the number of orders between the
//! smallest block and the largest block of the region). Per `dealloc`: per
//! merge a buddy check and an unlink, then one failed check and the push of
//! the merged block: at most `2 * levels + 2`. Counts, never times.

extern crate std;

use std::vec::Vec;

use allocator_testkit::Pool;

use super::*;

use allocator_testkit::layout;

/// `f`'s steps on `heap`.
fn counted<const O: usize, T>(
    heap: &mut BuddyByteAllocator<O>,
    f: impl FnOnce(&mut BuddyByteAllocator<O>) -> T,
) -> (T, usize) {
    heap.steps = 0;
    let out = f(heap);
    (out, heap.steps)
}

/// A heap over one power-of-two region of `2^top` bytes (metadata outside
/// it), and `levels = top - MIN_ORDER`.
fn heap(pool: &Pool, top: usize) -> (BuddyByteAllocator, usize) {
    let mut heap = BuddyByteAllocator::new();
    let meta = metadata_bytes_managing(1 << top);
    // The blocks start on a `2^top` boundary: the pool is aligned to it.
    let start = pool.start() + (1 << top) - meta;
    // SAFETY: the range lies in the pool, which outlives the heap.
    unsafe { heap.init(start, meta + (1 << top)) }.unwrap();
    assert_eq!(heap.total_bytes(), 1 << top, "one block of the top order");
    (heap, top - MIN_ORDER)
}

#[test]
fn alloc_and_free_touch_at_most_one_list_entry_per_order() {
    let top = if cfg!(miri) { 12 } else { 16 };
    let pool = Pool::new(2 << top, 1 << top);
    let (mut heap, levels) = heap(&pool, top);
    let min = layout(MIN_BLOCK_SIZE, 1);
    let (mut max_alloc, mut max_free) = (0, 0);

    // Worst alloc: the first smallest block splits the whole region.
    // Then fill the region with smallest blocks.
    let mut blocks = Vec::new();
    loop {
        let (p, steps) = counted(&mut heap, |h| h.alloc(min));
        max_alloc = max_alloc.max(steps);
        match p {
            Ok(p) => blocks.push(p),
            Err(_) => break,
        }
    }
    assert_eq!(blocks.len(), 1 << levels);
    // Worst free: in address order, each free merges as far as the blocks
    // before it allow; the last one merges every level up to the top.
    blocks.sort();
    for p in &blocks {
        // SAFETY: live with `min`, freed once.
        let ((), steps) = counted(&mut heap, |h| unsafe { h.dealloc(*p, min) });
        max_free = max_free.max(steps);
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(max_alloc, levels + 1, "the first alloc splits every level");
    assert_eq!(max_free, 2 * levels + 1, "the last free merges every level");

    // Mixed sizes in a shuffled order (a fixed LCG): never above the bound.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    for _ in 0..if cfg!(miri) { 300 } else { 20_000 } {
        if live.is_empty() || next(3) != 0 {
            let l = layout(1 << (MIN_ORDER + next(levels / 2 + 1)), 1);
            let (p, steps) = counted(&mut heap, |h| h.alloc(l));
            max_alloc = max_alloc.max(steps);
            if let Ok(p) = p {
                live.push((p, l));
            }
        } else {
            let (p, l) = live.swap_remove(next(live.len()));
            // SAFETY: live with `l`, freed once.
            let ((), steps) = counted(&mut heap, |h| unsafe { h.dealloc(p, l) });
            max_free = max_free.max(steps);
        }
    }
    for (p, l) in live {
        // SAFETY: live with `l`, freed once.
        let ((), steps) = counted(&mut heap, |h| unsafe { h.dealloc(p, l) });
        max_free = max_free.max(steps);
    }
    assert_eq!(heap.used_bytes(), 0);
    assert!(max_alloc <= levels + 1, "alloc: {max_alloc} steps > {} (levels {levels})", levels + 1);
    assert!(max_free <= 2 * levels + 2, "free: {max_free} steps > {} (levels {levels})", 2 * levels + 2);
}
