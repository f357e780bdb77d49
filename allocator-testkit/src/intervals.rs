//! A set of disjoint half-open intervals, each with a tag: the core of the
//! models of live blocks, pages and IDs.

use std::collections::BTreeMap;

use allocator_traits::Region;

/// Disjoint half-open intervals `[start, end)`, each carrying a `u64` tag
/// (the id of the block that owns it).
#[derive(Debug, Clone, Default)]
pub struct Intervals {
    /// start -> (end, tag)
    map: BTreeMap<usize, (usize, u64)>,
    /// The total length of all intervals.
    covered: usize,
}

impl Intervals {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of intervals.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set holds no interval.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The intervals as `(start, end, tag)`, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.map.iter().map(|(&s, &(e, t))| (s, e, t))
    }

    /// The interval with the lowest start, if any.
    pub fn first(&self) -> Option<(usize, usize, u64)> {
        self.map.first_key_value().map(|(&s, &(e, t))| (s, e, t))
    }

    /// The total length of all intervals.
    pub fn covered(&self) -> usize {
        self.covered
    }

    /// An interval sharing at least one point with `[start, end)`, if any.
    pub fn overlapping(&self, start: usize, end: usize) -> Option<(usize, usize, u64)> {
        if let Some((&s, &(e, t))) = self.map.range(..=start).next_back() {
            if e > start {
                return Some((s, e, t));
            }
        }
        self.map.range(start..end).next().map(|(&s, &(e, t))| (s, e, t))
    }

    /// The interval holding `point`, if any.
    pub fn containing(&self, point: usize) -> Option<(usize, usize, u64)> {
        self.overlapping(point, point + 1)
    }

    /// Adds `[start, end)` with `tag`; on overlap (or an empty interval) adds
    /// nothing and returns the interval in the way (the empty one itself).
    pub fn insert(&mut self, start: usize, end: usize, tag: u64) -> Result<(), (usize, usize, u64)> {
        if end <= start {
            return Err((start, end, tag));
        }
        if let Some(other) = self.overlapping(start, end) {
            return Err(other);
        }
        self.map.insert(start, (end, tag));
        self.covered += end - start;
        Ok(())
    }

    /// Removes the interval starting at `start`; returns its end and tag.
    pub fn remove(&mut self, start: usize) -> Option<(usize, u64)> {
        let removed = self.map.remove(&start);
        if let Some((end, _)) = removed {
            self.covered -= end - start;
        }
        removed
    }

    /// Removes `[start, end)`, which must lie inside one interval; the parts
    /// of that interval left on either side stay, with its tag. Returns the
    /// tag, or `None` (removing nothing) if no single interval holds the range.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Option<u64> {
        let (s, e, tag) = self.containing(start)?;
        if end > e || end <= start {
            return None;
        }
        self.map.remove(&s);
        self.covered -= end - start;
        if s < start {
            self.map.insert(s, (start, tag));
        }
        if end < e {
            self.map.insert(end, (e, tag));
        }
        Some(tag)
    }

    /// Whether a free gap of `region` (a stretch no interval covers) holds
    /// `len` units starting at a multiple of `align`.
    pub fn has_free_run(&self, region: Region, len: usize, align: usize) -> bool {
        // An interval starting before the region may cover its beginning.
        let mut gap_start = match self.overlapping(region.start, region.start + 1) {
            Some((_, e, _)) => e,
            None => region.start,
        };
        let mut gaps: Vec<(usize, usize)> = Vec::new();
        for (&s, &(e, _)) in self.map.range(region.start..region.end) {
            gaps.push((gap_start, s));
            gap_start = e;
        }
        gaps.push((gap_start, region.end));
        gaps.into_iter().any(|(gs, ge)| {
            allocator_traits::region::align_up(gs, align)
                .and_then(|at| at.checked_add(len))
                .is_some_and(|end| end <= ge)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_overlap_remove() {
        let mut set = Intervals::new();
        assert_eq!(set.insert(10, 20, 1), Ok(()));
        assert_eq!(set.insert(20, 30, 2), Ok(()));
        assert_eq!(set.insert(19, 21, 3), Err((10, 20, 1)));
        assert_eq!(set.insert(0, 100, 3), Err((10, 20, 1)));
        assert_eq!(set.insert(25, 26, 3), Err((20, 30, 2)));
        assert_eq!(set.insert(5, 5, 3), Err((5, 5, 3)));
        assert_eq!(set.containing(29), Some((20, 30, 2)));
        assert_eq!(set.containing(30), None);
        assert_eq!(set.covered(), 20);
        assert_eq!(set.remove_range(12, 15), Some(1));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![(10, 12, 1), (15, 20, 1), (20, 30, 2)]);
        assert_eq!(set.remove_range(14, 16), None, "not inside one interval");
        assert_eq!(set.remove(20), Some((30, 2)));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn free_runs() {
        let region = Region { start: 0, end: 64 };
        let mut set = Intervals::new();
        assert!(set.has_free_run(region, 64, 64));
        set.insert(8, 16, 0).unwrap();
        assert!(!set.has_free_run(region, 64, 1));
        assert!(set.has_free_run(region, 48, 16));
        assert!(!set.has_free_run(region, 48, 32));
        assert!(set.has_free_run(region, 32, 32));
        set.insert(32, 40, 0).unwrap();
        assert!(!set.has_free_run(region, 32, 1));
        assert!(set.has_free_run(region, 24, 8));
        assert!(set.has_free_run(Region { start: 36, end: 64 }, 24, 8));
        assert!(!set.has_free_run(Region { start: 36, end: 64 }, 25, 1));
    }
}
