//! Alignment and region arithmetic, checked against overflow.
//!
//! Every backend validates the regions it is handed the same way: the end must
//! not overflow the address space, the region is trimmed to the backend's
//! alignment, and a new region must not overlap one already managed. These
//! helpers do it once; none of them panics on any argument.

use core::ptr::NonNull;

use crate::{AllocError, AllocResult};

/// How many regions (`init` plus `add_memory` calls) every backend of this
/// workspace manages at once; one more is [`AllocError::NoMemory`]. A heap
/// that grows by doubling, as kernels and `Growing` grow theirs, never gets
/// near it.
pub const MAX_REGIONS: usize = 64;

/// What `init` answers on an allocator that already manages memory, the
/// rule every backend keeps: [`AllocError::MemoryOverlap`] if
/// `[start, start + size)` overlaps memory it manages (`overlaps` says so
/// for the region), else [`AllocError::InvalidParam`] (a second `init` is a
/// caller's mistake: `add_memory` adds memory), also when the region cannot
/// be formed. The allocator is left unchanged.
pub fn second_init(start: usize, size: usize, overlaps: impl FnOnce(&Region) -> bool) -> AllocError {
    match Region::new(start, size) {
        Ok(region) if overlaps(&region) => AllocError::MemoryOverlap,
        _ => AllocError::InvalidParam,
    }
}

/// Whether `align` is a usable alignment: a non-zero power of two.
#[inline]
pub const fn is_valid_align(align: usize) -> bool {
    align.is_power_of_two()
}

/// Rounds `addr` up to a multiple of `align`, or `None` if that overflows.
///
/// `align` must be a power of two; any other value gives `None`.
#[inline]
pub const fn align_up(addr: usize, align: usize) -> Option<usize> {
    if !align.is_power_of_two() {
        return None;
    }
    match addr.checked_add(align - 1) {
        Some(bumped) => Some(bumped & !(align - 1)),
        None => None,
    }
}

/// Rounds `addr` down to a multiple of `align` (a power of two; any other
/// value leaves `addr` unchanged).
#[inline]
pub const fn align_down(addr: usize, align: usize) -> usize {
    if !align.is_power_of_two() {
        return addr;
    }
    addr & !(align - 1)
}

/// Whether `addr` is a multiple of `align` (a power of two; any other value
/// gives `false`).
#[inline]
pub const fn is_aligned(addr: usize, align: usize) -> bool {
    align.is_power_of_two() && addr & (align - 1) == 0
}

/// The end of `[start, start + size)`, or [`AllocError::InvalidParam`] if it
/// overflows the address space.
#[inline]
pub const fn region_end(start: usize, size: usize) -> AllocResult<usize> {
    match start.checked_add(size) {
        Some(end) => Ok(end),
        None => Err(AllocError::InvalidParam),
    }
}

/// A pointer to the managed address `addr`, with the provenance the owner of
/// the region exposed when it passed the address to `init`/`add_memory`.
///
/// Returns `None` for address 0.
#[inline]
pub fn addr_to_ptr(addr: usize) -> Option<NonNull<u8>> {
    NonNull::new(core::ptr::with_exposed_provenance_mut(addr))
}

/// `pos` with the provenance of the region it lies in (exposed by the owner
/// at `init`/`add_memory`) instead of the caller's.
///
/// An engine reaches its own metadata (block headers, free-list links, slab
/// headers) and hands out blocks through this pointer, never through the one a
/// caller passed back: the caller's pointer carries the caller's permissions,
/// which cover the caller's block only, and another free may already have
/// invalidated them for the header bytes (a `Box<T, A>` drop; Miri with Tree
/// Borrows flags exactly that). A block derived from a caller's pointer and
/// handed to another caller would carry the first caller's tag. The cast costs
/// nothing at run time.
#[inline(always)]
pub fn with_region_provenance(pos: NonNull<u8>) -> NonNull<u8> {
    NonNull::new(core::ptr::with_exposed_provenance_mut(pos.as_ptr().addr())).unwrap_or(pos)
}

/// A half-open address range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Region {
    /// The first address in the region.
    pub start: usize,
    /// One past the last address in the region.
    pub end: usize,
}

impl Region {
    /// The region `[start, start + size)`; [`AllocError::InvalidParam`] if
    /// the end overflows.
    pub const fn new(start: usize, size: usize) -> AllocResult<Self> {
        match region_end(start, size) {
            Ok(end) => Ok(Self { start, end }),
            Err(e) => Err(e),
        }
    }

    /// `[start, start + size)` shrunk inwards to multiples of `align`.
    ///
    /// [`AllocError::InvalidParam`] if the end overflows, `align` is not a
    /// power of two, or nothing (fewer than `min_size` bytes) is left.
    pub const fn trimmed(start: usize, size: usize, align: usize, min_size: usize) -> AllocResult<Self> {
        let end = match region_end(start, size) {
            Ok(end) => end,
            Err(e) => return Err(e),
        };
        let Some(start) = align_up(start, align) else {
            return Err(AllocError::InvalidParam);
        };
        let end = align_down(end, align);
        if end <= start || end - start < min_size {
            return Err(AllocError::InvalidParam);
        }
        Ok(Self { start, end })
    }

    /// The number of bytes in the region (0 for a reversed one: the fields
    /// are public, and no method of this module panics).
    #[inline]
    pub const fn size(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the region holds no byte.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the two regions share at least one byte.
    #[inline]
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end && !self.is_empty() && !other.is_empty()
    }

    /// Whether `[addr, addr + len)` lies entirely inside the region (an
    /// overflowing range never does). A zero-length range at `addr` is inside
    /// if `addr` is.
    #[inline]
    pub const fn contains_range(&self, addr: usize, len: usize) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.start && end <= self.end && (len > 0 || addr < self.end),
            None => false,
        }
    }
}

/// A fixed table of the regions an allocator manages: no heap, `const`
/// constructible, so backends can reject overlapping `add_memory` calls.
///
/// Adding a region is O(N); the table is meant for a handful of regions.
#[derive(Debug, Clone)]
pub struct RegionTable<const N: usize> {
    regions: [Region; N],
    len: usize,
}

impl<const N: usize> Default for RegionTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RegionTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self { regions: [Region { start: 0, end: 0 }; N], len: 0 }
    }

    /// Records `region`.
    ///
    /// [`AllocError::InvalidParam`] for an empty region,
    /// [`AllocError::MemoryOverlap`] if it overlaps a recorded one, and
    /// [`AllocError::NoMemory`] if the table already holds `N` regions.
    pub fn insert(&mut self, region: Region) -> AllocResult {
        self.check_insert(&region)?;
        self.regions[self.len] = region;
        self.len += 1;
        Ok(())
    }

    /// Whether [`insert`](Self::insert) would accept `region`, without
    /// recording it: lets a backend validate before it touches memory.
    pub fn check_insert(&self, region: &Region) -> AllocResult {
        if region.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        if self.iter().any(|r| r.overlaps(region)) {
            return Err(AllocError::MemoryOverlap);
        }
        if self.len == N {
            return Err(AllocError::NoMemory);
        }
        Ok(())
    }

    /// The recorded regions, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions[..self.len].iter()
    }

    /// The number of recorded regions.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no region is recorded.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sum of the recorded regions' sizes.
    pub fn total_size(&self) -> usize {
        self.iter().map(Region::size).sum()
    }

    /// The recorded region that holds all of `[addr, addr + len)`, if any.
    pub fn find(&self, addr: usize, len: usize) -> Option<&Region> {
        self.iter().find(|r| r.contains_range(addr, len))
    }

    /// Forgets the recorded region equal to `region` (the same start and
    /// end), keeping the others in the order they were added, and returns
    /// the index it had in [`iter`](Self::iter).
    ///
    /// [`AllocError::NotAllocated`] if no recorded region is exactly
    /// `region` (a part of one, or a range that overlaps one, is not).
    ///
    /// O(N).
    pub fn remove(&mut self, region: &Region) -> AllocResult<usize> {
        let index = self.iter().position(|r| r == region).ok_or(AllocError::NotAllocated)?;
        self.regions.copy_within(index + 1..self.len, index);
        self.len -= 1;
        self.regions[self.len] = Region::default();
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_helpers() {
        assert_eq!(align_up(0, 8), Some(0));
        assert_eq!(align_up(1, 8), Some(8));
        assert_eq!(align_up(8, 8), Some(8));
        assert_eq!(align_up(usize::MAX, 8), None);
        assert_eq!(align_up(usize::MAX - 7, 8), Some(usize::MAX - 7));
        assert_eq!(align_up(5, 3), None, "non-power-of-two alignment");
        assert_eq!(align_up(5, 0), None);
        assert_eq!(align_down(15, 8), 8);
        assert_eq!(align_down(15, 0), 15);
        assert!(is_aligned(4096, 4096));
        assert!(!is_aligned(4097, 4096));
        assert!(!is_aligned(0, 0));
        assert!(is_valid_align(1) && !is_valid_align(0) && !is_valid_align(6));
    }

    #[test]
    fn region_end_and_new() {
        assert_eq!(region_end(10, 20), Ok(30));
        assert_eq!(region_end(usize::MAX, 1), Err(AllocError::InvalidParam));
        assert_eq!(Region::new(usize::MAX - 1, 2), Err(AllocError::InvalidParam));
        assert_eq!(Region::new(16, 16).map(|r| r.size()), Ok(16));
    }

    #[test]
    fn trimming() {
        assert_eq!(Region::trimmed(4095, 8193, 4096, 1), Ok(Region { start: 4096, end: 12288 }));
        assert_eq!(Region::trimmed(4097, 4096, 4096, 1), Err(AllocError::InvalidParam));
        assert_eq!(Region::trimmed(0, 4096, 4096, 8192), Err(AllocError::InvalidParam));
        assert_eq!(Region::trimmed(usize::MAX - 10, 100, 8, 1), Err(AllocError::InvalidParam));
        assert_eq!(Region::trimmed(0, 100, 3, 1), Err(AllocError::InvalidParam));
        assert_eq!(Region::trimmed(usize::MAX - 4095, 4095, 4096, 1), Err(AllocError::InvalidParam));
    }

    #[test]
    fn overlap_and_containment() {
        let a = Region { start: 100, end: 200 };
        assert!(a.overlaps(&Region { start: 199, end: 300 }));
        assert!(!a.overlaps(&Region { start: 200, end: 300 }));
        assert!(a.overlaps(&Region { start: 0, end: 101 }));
        assert!(!a.overlaps(&Region { start: 0, end: 100 }));
        assert!(!a.overlaps(&Region { start: 150, end: 150 }), "empty regions overlap nothing");
        assert!(a.contains_range(100, 100));
        assert!(!a.contains_range(100, 101));
        assert!(a.contains_range(199, 0));
        assert!(!a.contains_range(200, 0));
        assert!(!a.contains_range(150, usize::MAX));
    }

    #[test]
    fn table_rejects_overlap_empty_and_overflow_of_capacity() {
        let mut t = RegionTable::<2>::new();
        assert_eq!(t.insert(Region { start: 1000, end: 2000 }), Ok(()));
        assert_eq!(t.insert(Region { start: 1500, end: 2500 }), Err(AllocError::MemoryOverlap));
        assert_eq!(t.insert(Region { start: 1000, end: 2000 }), Err(AllocError::MemoryOverlap));
        assert_eq!(t.insert(Region { start: 5, end: 5 }), Err(AllocError::InvalidParam));
        assert_eq!(t.insert(Region { start: 0, end: 1000 }), Ok(()));
        assert_eq!(t.insert(Region { start: 3000, end: 4000 }), Err(AllocError::NoMemory));
        assert_eq!(t.len(), 2);
        assert_eq!(t.total_size(), 2000);
        assert_eq!(t.find(1999, 1), Some(&Region { start: 1000, end: 2000 }));
        assert_eq!(t.find(999, 2), None, "a range across two regions is in neither");
    }

    #[test]
    fn table_removes_exact_regions_only_and_keeps_the_order() {
        let mut t = RegionTable::<3>::new();
        let (a, b, c) =
            (Region { start: 0, end: 100 }, Region { start: 200, end: 300 }, Region { start: 400, end: 500 });
        for r in [a, b, c] {
            t.insert(r).unwrap();
        }
        assert_eq!(t.remove(&Region { start: 200, end: 299 }), Err(AllocError::NotAllocated), "a part");
        assert_eq!(t.remove(&Region { start: 150, end: 300 }), Err(AllocError::NotAllocated), "a superset");
        assert_eq!(t.remove(&Region { start: 600, end: 700 }), Err(AllocError::NotAllocated), "unknown");
        assert_eq!(t.len(), 3);
        assert_eq!(t.remove(&b), Ok(1));
        assert_eq!(t.remove(&b), Err(AllocError::NotAllocated), "twice");
        assert!(t.iter().eq([a, c].iter()), "order kept");
        assert_eq!(t.find(250, 1), None);
        assert_eq!(t.total_size(), 200);
        // The slot is free again: the table takes a third region, even `b`.
        t.insert(Region { start: 250, end: 260 }).unwrap();
        assert_eq!(t.insert(b), Err(AllocError::MemoryOverlap));
        assert_eq!(t.remove(&a), Ok(0));
        assert_eq!(t.remove(&c), Ok(0));
        assert_eq!(t.remove(&Region { start: 250, end: 260 }), Ok(0));
        assert!(t.is_empty());
        t.insert(b).unwrap();
    }

    #[test]
    fn reversed_regions_do_not_panic() {
        let reversed = Region { start: 200, end: 100 };
        assert_eq!(reversed.size(), 0);
        assert!(reversed.is_empty());
        assert!(!reversed.overlaps(&Region { start: 0, end: 1000 }));
    }

    #[test]
    fn addr_to_ptr_rejects_null() {
        assert!(addr_to_ptr(0).is_none());
        let mut x = 5u8;
        let addr = core::ptr::from_mut(&mut x).expose_provenance();
        let p = addr_to_ptr(addr).unwrap();
        // SAFETY: `p` has the exposed provenance of `x`, which is live.
        assert_eq!(unsafe { p.as_ptr().read() }, 5);
    }
}
