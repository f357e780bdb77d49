//! The engine both allocators share: a `bitmap-allocator` bitmap over a
//! window of "units" (page numbers or IDs), with the managed regions, the
//! statistics, and searches that keep alignment absolute.
//!
//! Bit `i` stands for unit `anchor + i`; a set bit is a free unit. Units
//! outside every managed region are never set, so they are never handed out.
//! The anchor is the lowest managed unit, so the bitmap's capacity is spent on
//! the span from the lowest to the highest managed unit and nothing else.

use allocator_traits::{AllocError, AllocResult, Region, RegionTable, region::align_up};
use bitmap_allocator::BitAlloc;

/// How many regions one allocator can hold (each `init`/`add_memory` is one).
pub const MAX_REGIONS: usize = 64;

pub(crate) struct Window<B> {
    bits: B,
    /// The unit of bit 0: the lowest managed unit (meaningless while empty).
    anchor: usize,
    /// Managed regions, in units.
    regions: RegionTable<MAX_REGIONS>,
    total: usize,
    used: usize,
}

impl<B: BitAlloc> Window<B> {
    pub(crate) const fn new() -> Self {
        Self { bits: B::DEFAULT, anchor: 0, regions: RegionTable::new(), total: 0, used: 0 }
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
        if high - low > B::CAP {
            return Err(AllocError::InvalidParam);
        }
        if self.is_empty() {
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
        for i in (0..extent).rev() {
            let j = i + delta;
            if self.bits.test(i) {
                self.bits.insert(j..j + 1);
            } else {
                self.bits.remove(j..j + 1);
            }
        }
        self.bits.remove(0..delta.min(extent));
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
        let mut i = start;
        while i < end {
            match self.bits.next(i) {
                Some(j) if j == i => i += 1,
                next_free => return Some((i, next_free)),
            }
        }
        None
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
            let end = base.checked_add(count).filter(|&end| end <= B::CAP).ok_or(AllocError::NoMemory)?;
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
