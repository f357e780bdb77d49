//! A set of disjoint half-open intervals, each with a tag: the core of the
//! models of live blocks, pages and IDs.

use allocator_traits::Region;

/// Disjoint half-open intervals `[start, end)`, each carrying a `u64` tag
/// (the id of the block that owns it).
///
/// A `Vec` sorted by start (so by end too, as the intervals are disjoint):
/// every query is one binary search. The models query it after every
/// operation; under Miri a `BTreeMap` costs several times as much per query,
/// and natively the inserts' moves are cheap at the sizes the models hold.
#[derive(Debug, Clone, Default)]
pub struct Intervals {
    /// `(start, end, tag)`, sorted by start.
    spans: Vec<(usize, usize, u64)>,
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
        self.spans.len()
    }

    /// Whether the set holds no interval.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The intervals as `(start, end, tag)`, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.spans.iter().copied()
    }

    /// The interval with the lowest start, if any.
    pub fn first(&self) -> Option<(usize, usize, u64)> {
        self.spans.first().copied()
    }

    /// The total length of all intervals.
    pub fn covered(&self) -> usize {
        self.covered
    }

    /// The index of the first interval ending after `point`.
    fn first_ending_after(&self, point: usize) -> usize {
        self.spans.partition_point(|&(_, end, _)| end <= point)
    }

    /// An interval sharing at least one point with `[start, end)`, if any
    /// (for an empty range: the interval holding `start`).
    pub fn overlapping(&self, start: usize, end: usize) -> Option<(usize, usize, u64)> {
        let found = self.spans.get(self.first_ending_after(start)).copied();
        found.filter(|&(s, _, _)| s < end || s <= start)
    }

    /// The interval holding `point`, if any.
    pub fn containing(&self, point: usize) -> Option<(usize, usize, u64)> {
        self.overlapping(point, point + 1)
    }

    /// Adds `[start, end)` with `tag`; on overlap (or an empty interval) adds
    /// nothing and returns the interval in the way (the empty one itself).
    /// One search, for the check and the insertion alike.
    pub fn insert(&mut self, start: usize, end: usize, tag: u64) -> Result<(), (usize, usize, u64)> {
        if end <= start {
            return Err((start, end, tag));
        }
        let index = self.first_ending_after(start);
        match self.spans.get(index) {
            Some(&other) if other.0 < end => Err(other),
            _ => {
                self.spans.insert(index, (start, end, tag));
                self.covered += end - start;
                Ok(())
            }
        }
    }

    /// Removes the interval starting at `start`; returns its end and tag.
    pub fn remove(&mut self, start: usize) -> Option<(usize, u64)> {
        let index = self.spans.partition_point(|&(s, _, _)| s < start);
        let (s, end, tag) = *self.spans.get(index)?;
        if s != start {
            return None;
        }
        self.spans.remove(index);
        self.covered -= end - start;
        Some((end, tag))
    }

    /// Removes `[start, end)`, which must lie inside one interval; the parts
    /// of that interval left on either side stay, with its tag. Returns the
    /// tag, or `None` (removing nothing) if no single interval holds the range.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Option<u64> {
        let index = self.first_ending_after(start);
        let (s, e, tag) = *self.spans.get(index)?;
        if s > start || end > e || end <= start {
            return None;
        }
        self.covered -= end - start;
        match (s < start, end < e) {
            (true, true) => {
                self.spans[index] = (s, start, tag);
                self.spans.insert(index + 1, (end, e, tag));
            }
            (true, false) => self.spans[index] = (s, start, tag),
            (false, true) => self.spans[index] = (end, e, tag),
            (false, false) => {
                self.spans.remove(index);
            }
        }
        Some(tag)
    }

    /// Whether a free gap of `region` (a stretch no interval covers) holds
    /// `len` units starting at a multiple of `align`.
    pub fn has_free_run(&self, region: Region, len: usize, align: usize) -> bool {
        let fits = |gap_start: usize, gap_end: usize| {
            allocator_traits::region::align_up(gap_start, align)
                .and_then(|at| at.checked_add(len))
                .is_some_and(|end| end <= gap_end)
        };
        let mut gap_start = region.start;
        for &(s, e, _) in &self.spans[self.first_ending_after(region.start)..] {
            if s >= region.end {
                break;
            }
            if fits(gap_start, s) {
                return true;
            }
            gap_start = gap_start.max(e);
        }
        fits(gap_start, region.end)
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

    /// Random operations against a brute-force model: one owner per point of
    /// `[0, 64)`.
    #[test]
    fn agrees_with_a_point_model() {
        let mut rng = crate::Rng::new(7);
        let mut set = Intervals::new();
        let mut owner: [Option<u64>; 64] = [None; 64];
        for step in 0..4000u64 {
            let (a, b) = (rng.below(65), rng.below(65));
            let (start, end) = (a.min(b), a.max(b));
            let taken = (start..end).find(|&p| owner[p].is_some());
            match rng.below(4) {
                0 => {
                    let result = set.insert(start, end, step);
                    assert_eq!(result.is_ok(), start < end && taken.is_none(), "insert [{start}, {end})");
                    if result.is_ok() {
                        owner[start..end].fill(Some(step));
                    }
                }
                1 => {
                    let inside_one = start < end
                        && owner[start].is_some()
                        && owner[start..end].iter().all(|&o| o == owner[start])
                        && set.containing(start).is_some_and(|(_, e, _)| end <= e);
                    let result = set.remove_range(start, end);
                    assert_eq!(result.is_some(), inside_one, "remove_range [{start}, {end})");
                    if result.is_some() {
                        owner[start..end].fill(None);
                    }
                }
                2 => {
                    let starts_one = set.iter().find(|&(s, _, _)| s == start);
                    assert_eq!(set.remove(start), starts_one.map(|(_, e, t)| (e, t)));
                    if let Some((s, e, _)) = starts_one {
                        owner[s..e].fill(None);
                    }
                }
                _ => {
                    let found = set.overlapping(start, end);
                    assert_eq!(
                        found.is_some(),
                        taken.is_some() || (start == end && start < 64 && owner[start].is_some())
                    );
                    if let Some((s, e, t)) = found {
                        assert!(s < end.max(start + 1) && e > start);
                        assert!(owner[s..e].iter().all(|&o| o == Some(t)));
                    }
                }
            }
            assert_eq!(set.covered(), owner.iter().filter(|o| o.is_some()).count());
            let spans: Vec<_> = set.iter().collect();
            assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "sorted and disjoint");
            for (s, e, t) in spans {
                assert!(owner[s..e].iter().all(|&o| o == Some(t)));
            }
        }
    }
}
