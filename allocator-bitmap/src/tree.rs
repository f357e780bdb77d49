//! The frame bitmap: one bit per page plus summary levels, in a buffer of
//! `u64` words the allocator does not own by value (a caller's `&'static mut
//! [u64]`, or an inline array for the compatibility type).
//!
//! # Layout
//!
//! Level 0 (the leaves) has one bit per page, set when the page is free.
//! Above it, level `k` (`1..=levels`) has two bitmaps of one bit per word of
//! level `k - 1`:
//!
//! - **any**: bit `j` is set when word `j` below has a free page under it
//!   (level 1: leaf word `j` is not zero; higher: `any` word `j` below is not
//!   zero);
//! - **full**: bit `j` is set when every page under word `j` below is free
//!   (level 1: leaf word `j` is all ones; higher: `full` word `j` below is
//!   all ones).
//!
//! The top level has a single word. The buffer holds the leaves, then `any`
//! and `full` of level 1, then of level 2, and so on: `ceil(pages / 64)`
//! words plus twice `ceil(words / 64)` per level, about 1.03 bits per page
//! ([`words_for`]).
//!
//! # Searches
//!
//! The first free page at or after `i` climbs the `any` levels until a word
//! has a set bit past the start, then descends along the lowest set bits:
//! O(levels) = O(log64 pages), 5 levels at 1 TiB of 4 KiB pages. The first
//! used page at or after `i` does the same over the complements of the
//! `full` levels, so a run check skips wholly free ranges 64, 4096, ... pages
//! at a time. Marking `n` pages touches `n / 64` leaf words and
//! `n / 64^k + 2` bits on level `k`.

use core::ops::Range;

/// The most levels a buffer that fits in the address space can need
/// (`64^11` pages exceeds every `usize`).
pub(crate) const MAX_LEVELS: usize = 12;

const ONES: u64 = !0;

/// Storage for a frame bitmap: a caller's buffer (`&'static mut [u64]`) or an
/// inline array (`[u64; N]`). Sealed; nothing else implements it.
pub trait BitmapStorage: sealed::Sealed {}

mod sealed {
    /// The words of a bitmap storage.
    pub trait Sealed {
        /// The words, for reading.
        fn words(&self) -> &[u64];
        /// The words, for writing.
        fn words_mut(&mut self) -> &mut [u64];
    }

    impl Sealed for &'static mut [u64] {
        fn words(&self) -> &[u64] {
            self
        }
        fn words_mut(&mut self) -> &mut [u64] {
            self
        }
    }

    impl<const N: usize> Sealed for [u64; N] {
        fn words(&self) -> &[u64] {
            self
        }
        fn words_mut(&mut self) -> &mut [u64] {
            self
        }
    }
}

impl BitmapStorage for &'static mut [u64] {}
impl<const N: usize> BitmapStorage for [u64; N] {}

/// Where each level lives in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Pages covered (bits of level 0 that may be set).
    pub(crate) cap: usize,
    /// Summary levels above the leaves (0 when one word holds every page).
    pub(crate) levels: usize,
    /// Words per level (`len[0]`: leaf words; level `k`: words of `any`, and
    /// as many of `full`).
    pub(crate) len: [usize; MAX_LEVELS],
    /// The first word of each level (`any`; `full` follows at `+ len[k]`).
    pub(crate) off: [usize; MAX_LEVELS],
    /// Words in all.
    pub(crate) words: usize,
}

impl Shape {
    /// The shape of a bitmap of `cap` pages.
    pub(crate) const fn for_pages(cap: usize) -> Self {
        let mut s = Shape { cap, levels: 0, len: [0; MAX_LEVELS], off: [0; MAX_LEVELS], words: 0 };
        s.len[0] = cap.div_ceil(64);
        let mut words = s.len[0];
        let mut k = 0;
        while s.len[k] > 1 {
            k += 1;
            s.len[k] = s.len[k - 1].div_ceil(64);
            s.off[k] = words;
            words += 2 * s.len[k];
        }
        s.levels = k;
        s.words = words;
        s
    }
}

/// The `u64` words a frame bitmap of `pages` pages needs: `ceil(pages / 64)`
/// leaf words plus two summary words per 64 words of the level below, up to
/// a single top word (about 1.03 bits per page).
pub const fn words_for(pages: usize) -> usize {
    Shape::for_pages(pages).words
}

/// The most pages a bitmap of `words` words covers (the inverse of
/// [`words_for`]).
pub const fn pages_for(words: usize) -> usize {
    // words_for is monotonic and words_for(64 * words) > words for words > 0.
    let (mut lo, mut hi) = (0usize, words.saturating_mul(64));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if words_for(mid) <= words { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// A frame bitmap over a storage `S` (see the module documentation).
pub(crate) struct Tree<S> {
    store: S,
    shape: Shape,
    /// In tests: bitmap words read by searches and summary words rewritten,
    /// so a test can count the work of one operation.
    #[cfg(test)]
    touched: core::cell::Cell<usize>,
}

impl<S> Tree<S> {
    /// A bitmap of `cap` pages in `store`, which must hold at least
    /// `words_for(cap)` words (checked by the callers, at compile time for
    /// arrays). The words are cleared on [`clear`](crate::window::Bits::clear),
    /// before first use.
    pub(crate) const fn new(store: S, cap: usize) -> Self {
        Self {
            store,
            shape: Shape::for_pages(cap),
            #[cfg(test)]
            touched: core::cell::Cell::new(0),
        }
    }
}

impl<S: BitmapStorage> Tree<S> {
    fn w(&self) -> &[u64] {
        &self.store.words()[..self.shape.words]
    }

    /// Word `i` of level `k`'s `any` (`used == false`) or the complement of
    /// its `full` (`used == true`); level 0: the leaves or their complement.
    #[inline]
    fn word(&self, k: usize, i: usize, used: bool) -> u64 {
        #[cfg(test)]
        self.touched.set(self.touched.get() + 1);
        let s = &self.shape;
        let w = self.w();
        match (k, used) {
            (0, false) => w[i],
            (0, true) => !w[i],
            (_, false) => w[s.off[k] + i],
            (_, true) => !w[s.off[k] + s.len[k] + i],
        }
    }

    /// The first page `>= from` that is free (`used == false`) or used
    /// (`used == true`), or `None`; a used search may return a position at or
    /// past `cap` (the leaves' padding reads as used).
    fn search(&self, from: usize, used: bool) -> Option<usize> {
        let s = &self.shape;
        if from >= s.cap {
            return None;
        }
        let (mut k, mut idx) = (0, from);
        let mut pos = loop {
            let (wi, bit) = (idx / 64, idx % 64);
            if wi >= s.len[k] {
                return None;
            }
            let word = self.word(k, wi, used) & (ONES << bit);
            if word != 0 {
                break wi * 64 + word.trailing_zeros() as usize;
            }
            if k == s.levels {
                return None;
            }
            k += 1;
            idx = wi + 1;
        };
        while k > 0 {
            k -= 1;
            if pos >= s.len[k] {
                return None; // the padding of a summary's last word
            }
            pos = pos * 64 + self.word(k, pos, used).trailing_zeros() as usize;
        }
        Some(pos)
    }

    /// Recomputes the summary bits over the leaf words `[lo, hi]`; stops
    /// at the first level where no bit changes (the ones above cannot).
    fn resummarize(&mut self, mut lo: usize, mut hi: usize) {
        let s = self.shape;
        let w = &mut self.store.words_mut()[..s.words];
        for k in 1..=s.levels {
            let mut changed = false;
            for j in lo..=hi {
                #[cfg(test)]
                self.touched.set(self.touched.get() + 2);
                let (any, full) = if k == 1 {
                    (w[j] != 0, w[j] == ONES)
                } else {
                    (w[s.off[k - 1] + j] != 0, w[s.off[k - 1] + s.len[k - 1] + j] == ONES)
                };
                let (wi, bit) = (j / 64, 1u64 << (j % 64));
                let a = &mut w[s.off[k] + wi];
                let old = *a;
                *a = if any { *a | bit } else { *a & !bit };
                changed |= *a != old;
                let f = &mut w[s.off[k] + s.len[k] + wi];
                let old = *f;
                *f = if full { *f | bit } else { *f & !bit };
                changed |= *f != old;
            }
            if !changed {
                return;
            }
            lo /= 64;
            hi /= 64;
        }
    }

    /// Marks the pages `r` (inside `0..cap`) free or used.
    fn set(&mut self, r: Range<usize>, free: bool) {
        if r.start >= r.end {
            return;
        }
        debug_assert!(r.end <= self.shape.cap);
        let (wa, wb) = (r.start / 64, (r.end - 1) / 64);
        let w = self.store.words_mut();
        for (wi, word) in w.iter_mut().enumerate().take(wb + 1).skip(wa) {
            let lo = if wi == wa { r.start % 64 } else { 0 };
            let hi = if wi == wb { (r.end - 1) % 64 } else { 63 };
            let mask = (ONES >> (63 - hi)) & (ONES << lo);
            if free {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        }
        self.resummarize(wa, wb);
    }

    /// Free pages in `r` (inside `0..cap`), word by word.
    #[cfg(any(test, feature = "debug-checks"))]
    fn count(&self, r: Range<usize>) -> usize {
        if r.start >= r.end {
            return 0;
        }
        let (wa, wb) = (r.start / 64, (r.end - 1) / 64);
        let w = self.w();
        (wa..=wb)
            .map(|wi| {
                let lo = if wi == wa { r.start % 64 } else { 0 };
                let hi = if wi == wb { (r.end - 1) % 64 } else { 63 };
                (w[wi] & (ONES >> (63 - hi)) & (ONES << lo)).count_ones() as usize
            })
            .sum()
    }
}

impl<S: BitmapStorage> crate::window::Bits for Tree<S> {
    fn cap(&self) -> usize {
        self.shape.cap
    }

    fn clear(&mut self) {
        let words = self.shape.words;
        self.store.words_mut()[..words].fill(0);
    }

    fn insert(&mut self, r: Range<usize>) {
        self.set(r, true);
    }

    fn remove(&mut self, r: Range<usize>) {
        self.set(r, false);
    }

    fn test(&self, i: usize) -> bool {
        i < self.shape.cap && self.w()[i / 64] & (1 << (i % 64)) != 0
    }

    fn next(&self, i: usize) -> Option<usize> {
        self.search(i, false)
    }

    fn next_used(&self, i: usize, end: usize) -> Option<usize> {
        if i >= end {
            return None;
        }
        // Past `cap` the leaves read as used: `end <= cap` keeps them out.
        self.search(i, true).filter(|&p| p < end)
    }

    fn alloc(&mut self) -> Option<usize> {
        let p = self.search(0, false)?;
        self.set(p..p + 1, false);
        Some(p)
    }

    #[cfg(any(test, feature = "debug-checks"))]
    fn count(&self, r: Range<usize>) -> usize {
        Tree::count(self, r)
    }

    /// Word-wise: the leaves move `delta` bits up, the bottom reads as used,
    /// and the summaries are rebuilt; O(words).
    fn shift_bits_up(&mut self, delta: usize, _extent: usize) {
        let len0 = self.shape.len[0];
        let (ws, bs) = (delta / 64, delta % 64);
        let w = self.store.words_mut();
        for d in (0..len0).rev() {
            w[d] = if d >= ws {
                let s = d - ws;
                let low = if bs > 0 && s > 0 { w[s - 1] >> (64 - bs) } else { 0 };
                (w[s] << bs) | low
            } else {
                0
            };
        }
        if len0 > 0 {
            self.resummarize(0, len0 - 1);
        }
    }

    #[cfg(any(test, feature = "debug-checks"))]
    fn assert_valid(&self) {
        let s = &self.shape;
        assert!(self.store.words().len() >= s.words, "the buffer holds the bitmap");
        let w = self.w();
        if s.cap % 64 != 0 {
            assert_eq!(w[s.len[0] - 1] >> (s.cap % 64), 0, "no free bit past the capacity");
        }
        for k in 1..=s.levels {
            for j in 0..s.len[k] * 64 {
                let (any, full) = if j >= s.len[k - 1] {
                    (false, false)
                } else if k == 1 {
                    (w[j] != 0, w[j] == ONES)
                } else {
                    (w[s.off[k - 1] + j] != 0, w[s.off[k - 1] + s.len[k - 1] + j] == ONES)
                };
                let bit = 1u64 << (j % 64);
                assert_eq!(w[s.off[k] + j / 64] & bit != 0, any, "level {k} any bit {j}");
                assert_eq!(w[s.off[k] + s.len[k] + j / 64] & bit != 0, full, "level {k} full bit {j}");
            }
        }
    }
}

#[cfg(test)]
#[path = "tree_bounds_tests.rs"]
mod bounds_tests;

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;

    use super::*;
    use crate::window::Bits;

    fn tree(cap: usize) -> Tree<&'static mut [u64]> {
        let mut t = Tree::new(crate::tests::leak(vec![ONES; words_for(cap)]), cap);
        t.clear();
        t
    }

    #[test]
    fn shapes_and_capacities() {
        assert_eq!(words_for(0), 0);
        assert_eq!(words_for(1), 1);
        assert_eq!(words_for(64), 1);
        assert_eq!(words_for(65), 2 + 2);
        assert_eq!(words_for(1 << 16), 1024 + 2 * 16 + 2);
        // 1 TiB of 4 KiB pages: 2^28 pages, 4 summary levels, 1.03 bits a page.
        let s = Shape::for_pages(1 << 28);
        assert_eq!(s.levels, 4);
        assert_eq!(s.words, (1 << 22) + 2 * ((1 << 16) + (1 << 10) + 16 + 1));
        for words in [0, 1, 2, 3, 4, 5, 100, 1058, 4096] {
            let p = pages_for(words);
            assert!(words_for(p) <= words && words_for(p + 1) > words, "{words}");
        }
        assert_eq!(pages_for(words_for(1 << 16)), 1 << 16);
    }

    #[test]
    fn searches_skip_levels() {
        let cap = if cfg!(miri) { 64 * 64 * 3 + 5 } else { 64 * 64 * 64 + 77 };
        let mut t = tree(cap);
        assert_eq!(t.next(0), None);
        assert_eq!(t.alloc(), None);
        t.insert(0..cap);
        t.assert_valid();
        assert_eq!(t.count(0..cap), cap);
        assert_eq!(t.next_used(0, cap), None);
        assert_eq!(t.next(cap - 1), Some(cap - 1));
        assert_eq!(t.next(cap), None);
        t.remove(0..cap - 1);
        t.assert_valid();
        assert_eq!(t.next(0), Some(cap - 1));
        assert_eq!(t.alloc(), Some(cap - 1));
        assert_eq!(t.next(0), None);
        t.insert(100..cap / 2);
        t.remove(4000..4001);
        t.assert_valid();
        assert_eq!(t.next(0), Some(100));
        assert_eq!(t.next_used(100, cap), Some(4000));
        assert_eq!(t.next_used(4001, cap), Some(cap / 2));
        assert_eq!(t.next_used(4001, cap / 2), None);
        assert!(t.test(100) && !t.test(99) && !t.test(4000) && !t.test(cap));
        assert_eq!(t.count(0..cap), cap / 2 - 101);
    }

    #[test]
    fn shift_up_moves_every_bit() {
        let cap = if cfg!(miri) { 700 } else { 70_000 };
        for delta in [1, 63, 64, 65, 200] {
            let mut t = tree(cap);
            t.insert(3..10);
            t.insert(130..300);
            t.shift_bits_up(delta, 300);
            t.assert_valid();
            assert_eq!(t.next(0), Some(3 + delta));
            assert_eq!(t.next_used(3 + delta, cap), Some(10 + delta));
            assert_eq!(t.next(10 + delta), Some(130 + delta));
            assert_eq!(t.next_used(130 + delta, cap), Some(300 + delta));
            assert_eq!(t.count(0..cap), 7 + 170);
        }
    }
}
