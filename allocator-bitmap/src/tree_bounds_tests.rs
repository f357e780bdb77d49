//! Determinism, counted: the work of one single-frame `alloc` and one free
//! in the frame bitmap, in bitmap words touched (words read by the search,
//! summary words rewritten; a counter compiled in tests only), against the
//! bound the module docs state: O(levels) = O(log64 pages), whatever the
//! pattern of used and free pages. Counts, never times.
//!
//! Bounds, with `L` summary levels: a search reads at most one word per
//! level climbing and one per level descending (`2L + 1`), and marking one
//! page rewrites at most the `any` and `full` word of each level (`2L`); so
//! an alloc touches at most `4L + 1` words and a free `2L`.

extern crate std;

use std::vec;

use super::*;
use crate::window::Bits;

fn tree(cap: usize) -> Tree<&'static mut [u64]> {
    let mut t = Tree::new(crate::tests::leak(vec![ONES; words_for(cap)]), cap);
    t.clear();
    t
}

fn touched<S: BitmapStorage, T>(t: &mut Tree<S>, f: impl FnOnce(&mut Tree<S>) -> T) -> (T, usize) {
    t.touched.set(0);
    let out = f(t);
    (out, t.touched.get())
}

/// The worst words touched by one alloc and one free on a bitmap of `cap`
/// pages, over: a single free page at the far end of a used bitmap; every
/// other page free, allocated first to last (each search skips a longer
/// used prefix); and frees in a scattered order.
fn worst(cap: usize) -> (usize, usize, usize) {
    let mut t = tree(cap);
    let (mut alloc, mut free) = (0, 0);
    t.insert(cap - 1..cap);
    let (p, n) = touched(&mut t, |t| t.alloc());
    assert_eq!(p, Some(cap - 1));
    alloc = alloc.max(n);
    let ((), n) = touched(&mut t, |t| t.insert(cap - 1..cap));
    free = free.max(n);
    t.remove(cap - 1..cap);
    for i in (0..cap).step_by(2) {
        t.insert(i..i + 1);
    }
    for i in (0..cap).step_by(2) {
        let (p, n) = touched(&mut t, |t| t.alloc());
        assert_eq!(p, Some(i), "first fit");
        alloc = alloc.max(n);
    }
    assert_eq!(t.alloc(), None);
    // Free with a stride coprime to the capacity: every page once, scattered.
    let stride = 4099; // a prime above every capacity tested, so coprime to each
    let mut i = 0;
    for _ in 0..cap {
        let ((), n) = touched(&mut t, |t| t.insert(i..i + 1));
        free = free.max(n);
        i = (i + stride) % cap;
    }
    assert_eq!(t.count(0..cap), cap);
    t.assert_valid();
    (alloc, free, t.shape.levels)
}

#[test]
fn single_frames_touch_o_levels_words() {
    let caps: &[usize] = if cfg!(miri) { &[64 * 64 + 1] } else { &[64 * 64 + 1, 64 * 64 * 64 + 1] };
    for &cap in caps {
        let (alloc, free, levels) = worst(cap);
        std::println!("{cap} pages, {levels} levels: worst alloc {alloc} words, free {free}");
        assert!(alloc <= 4 * levels + 1, "alloc touched {alloc} words > 4 * {levels} + 1");
        assert!(free <= 2 * levels, "free touched {free} words > 2 * {levels}");
        assert_eq!((alloc, free), (4 * levels + 1, 2 * levels), "the worst case is reached");
    }
}
