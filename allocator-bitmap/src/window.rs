//! The engine both allocators share: a `bitmap-allocator` bitmap over a
//! window of "units" (page numbers or IDs), with the managed regions, the
//! statistics, and searches that keep alignment absolute.
//!
//! Bit `i` stands for unit `anchor + i`; a set bit is a free unit. Units
//! outside every managed region are never set, so they are never handed out.
//! The anchor is the lowest managed unit, so the bitmap's capacity is spent on
//! the span from the lowest to the highest managed unit and nothing else.

use core::ops::Range;

use allocator_traits::{AllocError, AllocResult, Region, RegionTable, region::align_up};
use bitmap_allocator::BitAlloc;

/// The bitmap operations the window needs (a set bit is a free unit).
pub(crate) trait Bits {
    /// The number of bits.
    fn cap(&self) -> usize;
    /// Marks every bit used, before the first region is added.
    fn clear(&mut self);
    /// Marks `r` free.
    fn insert(&mut self, r: Range<usize>);
    /// Marks `r` used.
    fn remove(&mut self, r: Range<usize>);
    /// Whether bit `i` is free.
    fn test(&self, i: usize) -> bool;
    /// The first free bit `>= i`.
    fn next(&self, i: usize) -> Option<usize>;
    /// The first used bit in `[i, end)` (`end <= cap`).
    fn next_used(&self, i: usize, end: usize) -> Option<usize> {
        (i..end).find(|&j| !self.test(j))
    }
    /// Takes the first free bit.
    fn alloc(&mut self) -> Option<usize>;
    /// Free bits in `r`.
    #[cfg(any(test, feature = "debug-checks"))]
    fn count(&self, r: Range<usize>) -> usize {
        r.filter(|&j| self.test(j)).count()
    }
    /// Moves every bit `delta` places up and marks the bits uncovered at the
    /// bottom used; only the bits below `extent` can be set, and
    /// `extent + delta <= cap`.
    fn shift_bits_up(&mut self, delta: usize, extent: usize) {
        for i in (0..extent).rev() {
            let j = i + delta;
            if self.test(i) {
                self.insert(j..j + 1);
            } else {
                self.remove(j..j + 1);
            }
        }
        self.remove(0..delta.min(extent));
    }
    /// Panics unless the bitmap's own invariants hold.
    #[cfg(any(test, feature = "debug-checks"))]
    fn assert_valid(&self) {}
}

/// A `bitmap-allocator` bitmap (a segment tree of 16-bit leaves).
pub(crate) struct Seg<B>(pub(crate) B);

impl<B: BitAlloc> Bits for Seg<B> {
    fn cap(&self) -> usize {
        B::CAP
    }
    fn clear(&mut self) {} // DEFAULT is all used, and a window is filled once
    fn insert(&mut self, r: Range<usize>) {
        self.0.insert(r);
    }
    fn remove(&mut self, r: Range<usize>) {
        self.0.remove(r);
    }
    fn test(&self, i: usize) -> bool {
        self.0.test(i)
    }
    fn next(&self, i: usize) -> Option<usize> {
        self.0.next(i)
    }
    fn alloc(&mut self) -> Option<usize> {
        self.0.alloc()
    }
}

/// How many regions one allocator can hold (each `init`/`add_memory` is
/// one): the workspace's rule, [`allocator_traits::region::MAX_REGIONS`].
pub use allocator_traits::region::MAX_REGIONS;

pub(crate) struct Window<B> {
    bits: B,
    /// The unit of bit 0: the lowest managed unit (meaningless while empty).
    anchor: usize,
    /// Managed regions, in units.
    regions: RegionTable<MAX_REGIONS>,
    total: usize,
    used: usize,
}

impl<B: BitAlloc> Window<Seg<B>> {
    pub(crate) const fn new() -> Self {
        Self::with_bits(Seg(B::DEFAULT))
    }
}

impl<B> Window<B> {
    pub(crate) const fn with_bits(bits: B) -> Self {
        Self { bits, anchor: 0, regions: RegionTable::new(), total: 0, used: 0 }
    }
}

impl<B: Bits> Window<B> {
    /// The bitmap's capacity in units.
    pub(crate) fn cap(&self) -> usize {
        self.bits.cap()
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn used(&self) -> usize {
        self.used
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    pub(crate) fn regions(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter()
    }

    /// The lowest managed unit, if any.
    pub(crate) fn anchor(&self) -> Option<usize> {
        (!self.is_empty()).then_some(self.anchor)
    }

    /// [`AllocError::MemoryOverlap`] if `units` overlaps a managed region,
    /// [`AllocError::NoMemory`] if the region table is full.
    pub(crate) fn check_new(&self, units: &Region) -> AllocResult {
        self.regions.check_insert(units).or_else(|e| match e {
            AllocError::InvalidParam => Ok(()), // empty: the caller refuses it
            e => Err(e),
        })
    }

    /// Adds the units `region` (not empty, already checked with
    /// [`check_new`](Self::check_new) by the caller).
    ///
    /// [`AllocError::InvalidParam`] if the span from the lowest to the
    /// highest managed unit would exceed the bitmap's capacity. A region
    /// below the current anchor moves the bitmap (see [`shift_up`](Self::shift_up)).
    pub(crate) fn add(&mut self, region: Region) -> AllocResult {
        self.regions.check_insert(&region)?;
        let (low, high) = self
            .regions
            .iter()
            .fold((region.start, region.end), |(lo, hi), r| (lo.min(r.start), hi.max(r.end)));
        if high - low > self.bits.cap() {
            return Err(AllocError::InvalidParam);
        }
        if self.is_empty() {
            self.bits.clear();
            self.anchor = low;
        } else if low < self.anchor {
            self.shift_up(self.anchor - low, high - self.anchor);
            self.anchor = low;
        }
        self.regions.insert(region)?;
        self.bits.insert(region.start - self.anchor..region.end - self.anchor);
        self.total += region.size();
        Ok(())
    }

    /// Moves every bit `delta` places up (the anchor goes `delta` units down)
    /// and marks the bits uncovered at the bottom used. `extent` bounds the
    /// bits that can be set (`extent + delta <= CAP`, checked by the caller).
    ///
    /// Without live allocations it re-inserts the regions, O(regions);
    /// otherwise it copies bit by bit from the top, O(extent), which only
    /// happens when a region is added below the anchor after allocations.
    fn shift_up(&mut self, delta: usize, extent: usize) {
        if self.used == 0 {
            for r in self.regions.iter() {
                self.bits.remove(r.start - self.anchor..r.end - self.anchor);
            }
            for r in self.regions.iter() {
                let new_anchor = self.anchor - delta;
                self.bits.insert(r.start - new_anchor..r.end - new_anchor);
            }
            return;
        }
        self.bits.shift_bits_up(delta, extent);
    }

    /// The bit of `unit`, if it lies inside a managed region.
    fn managed_bit(&self, unit: usize) -> Option<usize> {
        self.regions.find(unit, 1).map(|_| unit - self.anchor)
    }

    /// Whether every unit of `[unit, unit + count)` lies in a managed region
    /// (`count > 0`); the range may cross from one region into an adjacent
    /// one (several allocations may be freed at once).
    fn covered(&self, unit: usize, count: usize) -> bool {
        let Ok(range) = Region::new(unit, count) else { return false };
        let covered: usize =
            self.regions.iter().map(|r| r.end.min(range.end).saturating_sub(r.start.max(range.start))).sum();
        covered == count
    }

    /// The first used bit in `[start, end)`, and the first free bit after
    /// it (`None` when no free bit follows); `None` if all are free.
    fn first_used(&self, start: usize, end: usize) -> Option<(usize, Option<usize>)> {
        let used = self.bits.next_used(start, end)?;
        Some((used, self.bits.next(used)))
    }

    /// The lowest bit `>= from` whose unit is a multiple of `align`.
    fn aligned_bit(&self, from: usize, align: usize) -> Option<usize> {
        let unit = align_up(self.anchor.checked_add(from)?, align)?;
        Some(unit - self.anchor)
    }

    /// Allocates `count` (`> 0`) contiguous free units whose first unit is a
    /// multiple of `align` (a power of two): the first fit in address order.
    pub(crate) fn alloc(&mut self, count: usize, align: usize) -> AllocResult<usize> {
        if count > self.total - self.used {
            return Err(AllocError::NoMemory);
        }
        if count == 1 && align == 1 {
            let bit = self.bits.alloc().ok_or(AllocError::NoMemory)?;
            self.used += 1;
            return Ok(self.anchor + bit);
        }
        let mut from = 0;
        loop {
            let free = self.bits.next(from).ok_or(AllocError::NoMemory)?;
            let base = self.aligned_bit(free, align).ok_or(AllocError::NoMemory)?;
            let end =
                base.checked_add(count).filter(|&end| end <= self.bits.cap()).ok_or(AllocError::NoMemory)?;
            match self.first_used(base, end) {
                None => {
                    // A run never spans two regions, even adjacent ones: each
                    // region is a pool of its own. Resume at the boundary.
                    let region_end =
                        self.regions.find(self.anchor + base, 1).map_or(base, |r| r.end - self.anchor);
                    if end > region_end {
                        from = region_end;
                        continue;
                    }
                    self.bits.remove(base..end);
                    self.used += count;
                    return Ok(self.anchor + base);
                }
                // Everything up to the next free bit is used: resume there.
                Some((_, Some(next_free))) => from = next_free,
                Some((_, None)) => return Err(AllocError::NoMemory),
            }
        }
    }

    /// Allocates the `count` (`> 0`) units starting at `unit`.
    ///
    /// [`AllocError::InvalidParam`] if the units are not all in one managed
    /// region, [`AllocError::NoMemory`] if one is in use.
    pub(crate) fn alloc_at(&mut self, unit: usize, count: usize) -> AllocResult<usize> {
        if self.regions.find(unit, count).is_none() {
            return Err(AllocError::InvalidParam);
        }
        let start = unit - self.anchor;
        let end = start + count;
        if self.first_used(start, end).is_some() {
            return Err(AllocError::NoMemory);
        }
        self.bits.remove(start..end);
        self.used += count;
        Ok(unit)
    }

    /// Frees `[unit, unit + count)` if every unit of it is managed and
    /// allocated; otherwise changes nothing and returns `false`.
    pub(crate) fn dealloc_all_or_nothing(&mut self, unit: usize, count: usize) -> bool {
        if count == 0 || !self.covered(unit, count) {
            return false;
        }
        let start = unit - self.anchor;
        let end = start + count;
        if self.bits.next(start).is_some_and(|free| free < end) {
            return false; // a unit of the range is free: not ours to free
        }
        self.bits.insert(start..end);
        self.used -= count;
        true
    }

    /// Frees every managed, allocated unit of `[unit, unit + count)` and
    /// ignores the rest.
    pub(crate) fn dealloc_each(&mut self, unit: usize, count: usize) {
        // A range running past the address space is cut at its end: the
        // managed units in it are still freed.
        let range = Region { start: unit, end: unit.saturating_add(count) };
        for i in 0..self.regions.len() {
            let Some(r) = self.regions.iter().nth(i).copied() else { break };
            let (lo, hi) = (r.start.max(range.start), r.end.min(range.end));
            if lo >= hi {
                continue;
            }
            let (mut bit, end) = (lo - self.anchor, hi - self.anchor);
            // Free the used runs between the free bits.
            while let Some((used_start, next_free)) = self.first_used(bit, end) {
                let used_end = next_free.map_or(end, |free| free.min(end));
                self.bits.insert(used_start..used_end);
                self.used -= used_end - used_start;
                bit = used_end;
            }
        }
    }

    /// Whether `unit` is managed and allocated.
    pub(crate) fn is_allocated(&self, unit: usize) -> bool {
        self.managed_bit(unit).is_some_and(|bit| !self.bits.test(bit))
    }
}

#[cfg(any(test, feature = "debug-checks"))]
impl<B: Bits> Window<B> {
    /// Panics unless the window's invariants hold (see
    /// [`BitmapFrameAllocator`](crate::BitmapFrameAllocator)): the regions
    /// lie inside the bitmap's span from the anchor, the anchor is the lowest
    /// managed unit, `total` is the regions' size, exactly `total - used`
    /// bits are free and all of them inside regions, and the bitmap's own
    /// invariants hold. O(bitmap words + regions) for the frame bitmap.
    pub(crate) fn assert_valid(&self) {
        if self.is_empty() {
            // The bitmap is cleared when the first region comes.
            assert_eq!((self.total, self.used), (0, 0), "statistics without regions");
            return;
        }
        self.bits.assert_valid();
        let cap = self.bits.cap();
        let (mut total, mut free_inside) = (0, 0);
        for r in self.regions.iter() {
            assert!(!r.is_empty(), "empty region {r:?}");
            assert!(r.start >= self.anchor && r.end - self.anchor <= cap, "region {r:?} outside the span");
            total += r.size();
            free_inside += self.bits.count(r.start - self.anchor..r.end - self.anchor);
        }
        if let Some(low) = self.regions.iter().map(|r| r.start).min() {
            assert_eq!(low, self.anchor, "the anchor is the lowest managed unit");
        }
        assert_eq!(total, self.total, "total is the regions' size");
        assert!(self.used <= self.total, "used {} > total {}", self.used, self.total);
        assert_eq!(free_inside, self.total - self.used, "free bits inside the regions");
        assert_eq!(self.bits.count(0..cap), free_inside, "a free bit outside every region");
    }
}
