//! Determinism, counted: the work of one `alloc` and one `dealloc`, against
//! the constant bound TLSF promises, over sequences built to be hard for a
//! free-list allocator (thousands of free blocks of every size class, frees
//! that merge on both sides). Counts, never times.
//!
//! The engine is rlsf, whose code cannot carry our counters, so its work is
//! counted from the outside, exactly: before and after each operation the
//! test snapshots every block header of the heap (size and flags, the
//! physical back link, and a free block's two list links) and counts the
//! headers that changed, appeared or disappeared: the headers the operation
//! wrote. A search that walked a free list would not write, but a TLSF that
//! unlinked, split or merged more than a fixed number of blocks would show
//! here; rlsf's search is two bit scans by construction. The counts are:
//!
//! - `alloc`: the block served, its split-off remainder, the block after it
//!   (back link), and the list neighbours of the served block and of the
//!   remainder: at most [`ALLOC_BOUND`] headers, and at most one split.
//! - `dealloc`: the freed block, each free neighbour it merges with (at most
//!   two) and their list neighbours, the block after the merged block, and
//!   the list head the merged block joins: at most [`FREE_BOUND`] headers,
//!   at most two merges.
//!
//! The same sequence at 10x the free blocks must give the same maximum: the
//! work does not grow with the heap.

extern crate std;

use std::{collections::BTreeMap, vec::Vec};

use allocator_testkit::Pool;

use super::*;

/// Headers one `alloc` may write.
const ALLOC_BOUND: usize = 5;
/// Headers one `dealloc` may write.
const FREE_BOUND: usize = 9;

/// Every block header of the heap: address to its words (size and flags,
/// back link, and for a free block its next and previous list links).
fn headers(heap: &TlsfByteAllocator) -> BTreeMap<usize, [usize; 4]> {
    let mut out = BTreeMap::new();
    for region in heap.regions() {
        for (offset, len) in heap.chunks(region.size()) {
            let start = addr_to_ptr(region.start + offset).unwrap();
            let pool = NonNull::slice_from_raw_parts(start, len);
            // SAFETY: `pool` is exactly a range handed to
            // `insert_free_block_ptr` (the chunks of `add_pool`).
            for block in unsafe { heap.engine.iter_blocks(pool) } {
                let addr = block.as_ptr().cast::<u8>().addr().get();
                let words = addr_to_ptr(addr).unwrap().cast::<usize>();
                let n = if block.is_occupied() { 2 } else { 4 };
                let mut w = [0; 4];
                for (i, word) in w.iter_mut().enumerate().take(n) {
                    // SAFETY: a block header of rlsf: two words, four for a
                    // free block, all written by rlsf, reached through the
                    // region's exposed provenance.
                    *word = unsafe { words.add(i).read() };
                }
                out.insert(addr, w);
            }
        }
    }
    out
}

/// Headers written between two snapshots, and the change in block count.
fn written(before: &BTreeMap<usize, [usize; 4]>, after: &BTreeMap<usize, [usize; 4]>) -> (usize, isize) {
    let changed = before.iter().filter(|(a, w)| after.get(a) != Some(w)).count()
        + after.keys().filter(|a| !before.contains_key(a)).count();
    (changed, after.len() as isize - before.len() as isize)
}

/// The worst counts over an adversarial sequence with about `scattered`
/// free blocks: `(alloc headers, free headers, max splits, max merges)`.
fn worst(scattered: usize) -> (usize, usize, isize, isize) {
    let pool = Pool::new(scattered * 2400 + (64 << 10), 4096);
    let mut heap = TlsfByteAllocator::new();
    // SAFETY: the pool is exposed, unused, and outlives the allocator.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let (mut alloc_w, mut free_w, mut splits, mut merges) = (0, 0, 0, 0);
    let mut alloc = |heap: &mut TlsfByteAllocator, l: Layout| {
        let before = headers(heap);
        let p = heap.alloc(l).unwrap();
        let (w, d) = written(&before, &headers(heap));
        alloc_w = alloc_w.max(w);
        splits = splits.max(d);
        p
    };
    // Scatter: blocks of every size class up to 1 KiB, every other one
    // freed, so thousands of free blocks sit in many lists.
    let mut live = Vec::new();
    for i in 0..2 * scattered {
        let l = Layout::from_size_align(16 + (i * 37) % 1000, 8).unwrap();
        live.push((alloc(&mut heap, l), l));
    }
    let mut free = |heap: &mut TlsfByteAllocator, p: NonNull<u8>, l: Layout| {
        let before = headers(heap);
        // SAFETY: `p` is live with `l` and freed once.
        unsafe { heap.dealloc(p, l) };
        let (w, d) = written(&before, &headers(heap));
        free_w = free_w.max(w);
        merges = merges.max(-d);
    };
    let mut kept = Vec::new();
    for (i, (p, l)) in live.into_iter().enumerate() {
        if i % 2 == 0 { free(&mut heap, p, l) } else { kept.push((p, l)) }
    }
    // Allocations from the scattered lists (splits), with alignments, and
    // frees that merge on both sides (the kept blocks between free ones).
    for i in 0..scattered / 2 {
        let l = Layout::from_size_align(8 + (i * 53) % 700, 8 << (i % 4)).unwrap();
        let p = alloc(&mut heap, l);
        free(&mut heap, p, l);
    }
    for (p, l) in kept {
        free(&mut heap, p, l);
    }
    assert_eq!(heap.used_bytes(), 0);
    (alloc_w, free_w, splits, merges)
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a snapshot of every header per operation: minutes interpreted; the other tests run the same paths"
)]
fn alloc_and_free_write_a_constant_number_of_headers() {
    let (small, large) = (100, 500);
    let few = worst(small);
    let many = worst(large);
    std::println!(
        "worst (alloc headers, free headers, splits, merges): {few:?} at {small}, {many:?} at {large}"
    );
    assert_eq!(few, many, "the worst case does not grow with the number of free blocks");
    let (alloc_w, free_w, splits, merges) = many;
    assert!(alloc_w <= ALLOC_BOUND, "alloc wrote {alloc_w} headers > {ALLOC_BOUND}");
    assert!(free_w <= FREE_BOUND, "free wrote {free_w} headers > {FREE_BOUND}");
    assert_eq!(splits, 1, "an alloc splits at most one block, and some do");
    assert_eq!(merges, 2, "a free merges at most two neighbours, and some do");
}
