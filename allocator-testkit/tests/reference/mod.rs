//! Simple, obviously correct allocators to test the testkit with, each with
//! switchable bugs: the suite must pass the correct ones and fail the broken.
//!
//! They keep their metadata in std collections, so they never write to the
//! memory they manage (unless a bug says so).
#![allow(dead_code)]

use std::alloc::Layout;
use std::collections::{BTreeMap, BTreeSet};
use std::ptr::NonNull;

use allocator_traits::region::{addr_to_ptr, align_up, is_aligned, region_end};
use allocator_traits::{
    AllocError, AllocResult, BaseAllocator, ByteAllocator, IdAllocator, PageAllocator, Region,
};

/// A deliberate defect of a reference allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bug {
    /// Correct.
    #[default]
    None,
    /// Blocks aligned to more than 1 come back one byte off.
    Misalign,
    /// Every 7th allocation is not taken off the free list.
    Overlap,
    /// Every 4th free is not returned to the free list.
    Leak,
    /// A free writes a byte just past the freed block.
    Scribble,
    /// Out of memory is `InvalidParam`.
    WrongError,
    /// `add_memory` does not check for overlap.
    AcceptOverlap,
    /// `used_bytes` is always 0.
    StatsLie,
    /// `realloc` moves without copying.
    ReallocForgets,
    /// `init` writes a header byte just before the region.
    WriteBefore,
    /// Region ends are computed without an overflow check.
    UncheckedEnd,
    /// Blocks are placed one byte past the region's end now and then.
    OutOfRegion,
    /// Overlap is checked against the trimmed regions, not the caller's.
    TrimmedOverlap,
    /// `available_bytes` is always 0.
    AvailableZero,
    /// `available_bytes` is 16 bytes short of `total - used`.
    InexactStats,
    /// Once an allocation has failed, freed blocks are parked, not reused,
    /// until every block is free.
    HoardsFrees,
    /// `remove_memory` forgets the region but keeps its free ranges, so
    /// blocks are still placed there.
    RemoveKeepsUsing,
    /// `remove_memory` removes a region even while live blocks lie in it.
    RemoveLive,
    /// `usable_size` reports 64 bytes past the block.
    UsableLies,
    /// `block_size` reports 64 bytes past the block.
    FoundTooLarge,
    /// `block_size` reports half the block.
    FoundTooSmall,
}

/// Best fit over a free list indexed by address (to coalesce) and by size
/// (to find a block in O(log n)).
#[derive(Debug, Default)]
pub struct FreeList {
    regions: Vec<Region>,
    /// The ranges callers handed over, untrimmed: what overlap is checked
    /// against.
    claimed: Vec<Region>,
    /// start -> end of free ranges.
    free: BTreeMap<usize, usize>,
    /// (length, start) of free ranges.
    by_size: BTreeSet<(usize, usize)>,
    /// start -> length of live blocks.
    live: BTreeMap<usize, usize>,
    used: usize,
    allocs: usize,
    frees: usize,
    /// With `Bug::HoardsFrees`: whether an allocation has failed, and the
    /// parked free ranges.
    failed: bool,
    parked: Vec<(usize, usize)>,
    pub bug: Bug,
}

const GRANULE: usize = 16;
const MIN_REGION: usize = 4096;

impl FreeList {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_bug(bug: Bug) -> Self {
        Self { bug, ..Self::default() }
    }

    fn add_region(&mut self, start: usize, size: usize) -> AllocResult {
        let region = if self.bug == Bug::UncheckedEnd {
            let end = start + size;
            Region::trimmed(start, end - start, GRANULE, MIN_REGION)?
        } else {
            Region::trimmed(start, size, GRANULE, MIN_REGION)?
        };
        let claimed = Region::new(start, size)?;
        let overlaps = match self.bug {
            Bug::AcceptOverlap => false,
            Bug::TrimmedOverlap => self.regions.iter().any(|r| r.overlaps(&region)),
            _ => self.claimed.iter().any(|r| r.overlaps(&claimed)),
        };
        if overlaps {
            return Err(AllocError::MemoryOverlap);
        }
        self.claimed.push(claimed);
        if self.bug == Bug::WriteBefore {
            let ptr = addr_to_ptr(region.start - 1).ok_or(AllocError::InvalidParam)?;
            // SAFETY: none: this is the bug under test (a write outside the region).
            unsafe { ptr.write(0xFF) };
        }
        self.regions.push(region);
        self.release(region.start, region.end);
        Ok(())
    }

    fn insert_free(&mut self, start: usize, end: usize) {
        self.free.insert(start, end);
        self.by_size.insert((end - start, start));
    }

    fn remove_free(&mut self, start: usize) -> Option<usize> {
        let end = self.free.remove(&start)?;
        self.by_size.remove(&(end - start, start));
        Some(end)
    }

    /// Returns `[start, end)` to the free list, merging neighbours.
    fn release(&mut self, mut start: usize, mut end: usize) {
        if let Some((&s, &e)) = self.free.range(..start).next_back() {
            if e == start {
                self.remove_free(s);
                start = s;
            }
        }
        if let Some(e) = self.remove_free(end) {
            end = e;
        }
        self.insert_free(start, end);
    }

    /// The smallest free range that holds `size` bytes at `align`.
    fn find(&self, size: usize, align: usize) -> Option<(usize, usize, usize)> {
        let fits = |&(len, s): &(usize, usize)| {
            let at = align_up(s, align)?;
            (at.checked_add(size)? <= s + len).then_some((s, s + len, at))
        };
        // Free ranges start aligned to the granule: a range of `size + align -
        // GRANULE` bytes surely fits, smaller ones may.
        let sure = size.checked_add(align.saturating_sub(GRANULE))?;
        self.by_size
            .range((size, 0)..(sure, 0))
            .find_map(fits)
            .or_else(|| self.by_size.range((sure, 0)..).next().and_then(fits))
    }
}

impl BaseAllocator for FreeList {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.regions.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        self.add_region(start, size)
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.add_region(start, size)
    }
}

// SAFETY: with `Bug::None` blocks are disjoint, aligned ranges of the managed
// regions. The deliberate bugs break that promise on purpose: these types are
// handed only to the testkit's checks (which must catch them), never to a
// bridge that gives their blocks to safe code.
unsafe impl ByteAllocator for FreeList {
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let no_memory =
            if self.bug == Bug::WrongError { AllocError::InvalidParam } else { AllocError::NoMemory };
        let misalign = usize::from(self.bug == Bug::Misalign && layout.align() > 1);
        // Sizes are multiples of the granule, so every free range starts aligned to it.
        let size = (layout.size().max(1) + misalign).next_multiple_of(GRANULE);
        self.allocs += 1;
        let Some((s, e, at)) = self.find(size, layout.align()) else {
            self.failed = true;
            return Err(no_memory);
        };
        if !(self.bug == Bug::Overlap && self.allocs % 7 == 0) {
            self.remove_free(s);
            if s < at {
                self.insert_free(s, at);
            }
            if at + size < e {
                self.insert_free(at + size, e);
            }
        }
        self.live.insert(at + misalign, size);
        self.used += size;
        let mut addr = at + misalign;
        if self.bug == Bug::OutOfRegion && self.allocs % 50 == 0 {
            addr = self.regions[0].end;
        }
        addr_to_ptr(addr).ok_or(no_memory)
    }

    unsafe fn dealloc(&mut self, pos: NonNull<u8>, _layout: Layout) {
        let addr = pos.as_ptr().addr();
        let Some(len) = self.live.remove(&addr) else { return };
        let misalign = usize::from(self.bug == Bug::Misalign && len > 1 && !is_aligned(addr, 2));
        self.used -= len;
        self.frees += 1;
        if self.bug == Bug::Scribble {
            // SAFETY: none: this is the bug under test (a write past the block).
            unsafe { pos.add(len).write(0x5A) };
        }
        if self.bug == Bug::Leak && self.frees % 4 == 0 {
            return;
        }
        if self.bug == Bug::HoardsFrees && self.failed {
            self.parked.push((addr, addr + len));
            if self.live.is_empty() {
                for (start, end) in std::mem::take(&mut self.parked) {
                    self.release(start, end);
                }
            }
            return;
        }
        self.release(addr - misalign, addr + len - misalign);
    }

    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        let new_pos = self.alloc(new)?;
        if self.bug != Bug::ReallocForgets {
            // SAFETY: both blocks are live; the copy stays inside both. (`copy`,
            // not `copy_nonoverlapping`: the `Overlap` bug may hand out
            // overlapping blocks.)
            unsafe { new_pos.as_ptr().copy_from(pos.as_ptr(), old.size().min(new_size)) };
        }
        // SAFETY: `pos` is live with `old` (caller's contract).
        unsafe { self.dealloc(pos, old) };
        Ok(new_pos)
    }

    fn total_bytes(&self) -> usize {
        self.regions.iter().map(Region::size).sum()
    }

    fn used_bytes(&self) -> usize {
        if self.bug == Bug::StatsLie { 0 } else { self.used }
    }

    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let claimed = Region::new(start, size).map_err(|_| AllocError::NotAllocated)?;
        let index = self.claimed.iter().position(|r| *r == claimed).ok_or(AllocError::NotAllocated)?;
        let region = self.regions[index];
        let live = self.live.range(region.start..region.end).next().is_some();
        if live && self.bug != Bug::RemoveLive {
            return Err(AllocError::MemoryOverlap);
        }
        if !matches!(self.bug, Bug::RemoveKeepsUsing | Bug::RemoveLive) {
            // All of the region is free, in one range (free ranges merge, also
            // with a free neighbour region's): carve the region out of it.
            let Some((&s, &e)) = self.free.range(..=region.start).next_back() else {
                return Err(AllocError::MemoryOverlap);
            };
            if e < region.end {
                return Err(AllocError::MemoryOverlap);
            }
            self.remove_free(s);
            if s < region.start {
                self.insert_free(s, region.start);
            }
            if region.end < e {
                self.insert_free(region.end, e);
            }
        }
        self.regions.remove(index);
        self.claimed.remove(index);
        Ok(())
    }

    fn available_bytes(&self) -> usize {
        match self.bug {
            Bug::AvailableZero => 0,
            Bug::InexactStats => (self.total_bytes() - self.used).saturating_sub(16),
            _ => self.total_bytes() - self.used,
        }
    }

    unsafe fn usable_size(&self, _pos: NonNull<u8>, layout: Layout) -> usize {
        layout.size() + if self.bug == Bug::UsableLies { 64 } else { 0 }
    }

    fn finds_block_sizes() -> bool {
        true
    }

    unsafe fn block_size(&self, pos: NonNull<u8>, _align: usize) -> Option<usize> {
        let len = *self.live.get(&pos.as_ptr().addr())?;
        Some(match self.bug {
            Bug::FoundTooLarge => len + 64,
            Bug::FoundTooSmall => len / 2,
            _ => len,
        })
    }
}

/// The page size of [`BitmapPages`].
pub const PAGE: usize = 4096;

/// A defect of [`BitmapPages`] or [`BitmapIds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetBug {
    #[default]
    None,
    /// The alignment asked is ignored.
    IgnoreAlign,
    /// `alloc_pages_at` / `alloc_fixed_id` do not check for used entries.
    NoUsedCheck,
    /// The last page / ID of each allocation is not marked used.
    ShortMark,
    /// Huge counts overflow (`num_pages * PAGE` unchecked).
    UncheckedCount,
}

/// One flag per unit (page or ID) of a range, with a hint: no unit below
/// `hint` is free, so filling one unit at a time stays linear.
#[derive(Debug, Clone)]
pub struct Bitmap {
    /// The value (address or ID) of unit 0.
    base: usize,
    /// The value step between units.
    unit: usize,
    flags: Vec<bool>,
    hint: usize,
}

impl Bitmap {
    pub fn new(base: usize, unit: usize, len: usize) -> Self {
        Self { base, unit, flags: vec![false; len], hint: 0 }
    }

    pub fn range(&self) -> Region {
        Region { start: self.base, end: self.base + self.flags.len() * self.unit }
    }

    /// The index of the unit at `value`, if `[value, value + count units)` is inside.
    pub fn index(&self, value: usize, count: usize) -> Option<usize> {
        let len = count.checked_mul(self.unit)?;
        self.range().contains_range(value, len).then(|| (value - self.base) / self.unit)
    }

    pub fn is_used(&self, index: usize) -> bool {
        self.flags[index]
    }

    pub fn any_used(&self, index: usize, count: usize) -> bool {
        self.flags[index..index + count].contains(&true)
    }

    /// The first index of `count` free units whose value is a multiple of `align`.
    pub fn find(&self, count: usize, align: usize) -> Option<usize> {
        let aligned_index = |index: usize| -> Option<usize> {
            let value = align_up(self.base.checked_add(index.checked_mul(self.unit)?)?, align)?;
            Some((value - self.base) / self.unit)
        };
        let mut index = aligned_index(self.hint)?;
        while index.checked_add(count)? <= self.flags.len() {
            match self.flags[index..index + count].iter().rposition(|&used| used) {
                None => return Some(index),
                Some(used) => index = aligned_index(index + used + 1)?,
            }
        }
        None
    }

    /// Marks `count` units from `index`; returns how many changed.
    pub fn set(&mut self, index: usize, count: usize, used: bool) -> usize {
        let mut changed = 0;
        for flag in &mut self.flags[index..index + count] {
            changed += usize::from(*flag != used);
            *flag = used;
        }
        if !used {
            self.hint = self.hint.min(index);
        }
        while self.hint < self.flags.len() && self.flags[self.hint] {
            self.hint += 1;
        }
        changed
    }
}

/// A first-fit bitmap page allocator: one flag per page of each region.
#[derive(Debug, Default)]
pub struct BitmapPages {
    regions: Vec<Bitmap>,
    used: usize,
    pub bug: SetBug,
}

impl BitmapPages {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_bug(bug: SetBug) -> Self {
        Self { bug, ..Self::default() }
    }

    fn add_region(&mut self, start: usize, size: usize) -> AllocResult {
        let region = Region::trimmed(start, size, PAGE, PAGE)?;
        if self.regions.iter().any(|r| r.range().overlaps(&region)) {
            return Err(AllocError::MemoryOverlap);
        }
        self.regions.push(Bitmap::new(region.start, PAGE, region.size() / PAGE));
        Ok(())
    }

    fn mark(&mut self, region: usize, first: usize, num_pages: usize, used: bool) {
        let marked = if used && self.bug == SetBug::ShortMark { num_pages - 1 } else { num_pages };
        let changed = self.regions[region].set(first, marked, used);
        if used {
            self.used += changed;
        } else {
            self.used -= changed;
        }
    }

    fn check_align(&self, align: usize) -> AllocResult<usize> {
        if !align.is_power_of_two() || align < PAGE {
            return Err(AllocError::InvalidParam);
        }
        Ok(if self.bug == SetBug::IgnoreAlign { PAGE } else { align })
    }

    fn check_count(&self, num_pages: usize) -> AllocResult {
        if self.bug == SetBug::UncheckedCount {
            let _ = num_pages * PAGE;
        }
        Ok(())
    }
}

impl BaseAllocator for BitmapPages {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.regions.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        self.add_region(start, size)
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.add_region(start, size)
    }
}

// SAFETY: as for `FreeList`: correct with `SetBug::None`, deliberately broken
// otherwise, and only ever handed to the testkit's checks.
unsafe impl PageAllocator for BitmapPages {
    const PAGE_SIZE: usize = PAGE;

    fn alloc_pages(&mut self, num_pages: usize, align: usize) -> AllocResult<usize> {
        let align = self.check_align(align)?;
        if num_pages == 0 {
            return Err(AllocError::InvalidParam);
        }
        self.check_count(num_pages)?;
        for region in 0..self.regions.len() {
            if let Some(first) = self.regions[region].find(num_pages, align) {
                self.mark(region, first, num_pages, true);
                return Ok(self.regions[region].range().start + first * PAGE);
            }
        }
        Err(AllocError::NoMemory)
    }

    fn alloc_pages_at(&mut self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize> {
        let align = self.check_align(align)?;
        if num_pages == 0 || !is_aligned(base, align) {
            return Err(AllocError::InvalidParam);
        }
        self.check_count(num_pages)?;
        let (region, first) = self
            .regions
            .iter()
            .enumerate()
            .find_map(|(i, r)| Some((i, r.index(base, num_pages)?)))
            .ok_or(AllocError::InvalidParam)?;
        if self.bug != SetBug::NoUsedCheck && self.regions[region].any_used(first, num_pages) {
            return Err(AllocError::NoMemory);
        }
        self.mark(region, first, num_pages, true);
        Ok(base)
    }

    unsafe fn dealloc_pages(&mut self, pos: usize, num_pages: usize) {
        let found = self.regions.iter().enumerate().find_map(|(i, r)| Some((i, r.index(pos, num_pages)?)));
        if let Some((region, first)) = found {
            self.mark(region, first, num_pages, false);
        }
    }

    fn total_pages(&self) -> usize {
        self.regions.iter().map(|r| r.range().size() / PAGE).sum()
    }

    fn used_pages(&self) -> usize {
        self.used
    }

    fn available_pages(&self) -> usize {
        self.total_pages() - self.used
    }
}

/// A first-fit ID allocator: one flag per ID of each managed range.
#[derive(Debug, Default)]
pub struct BitmapIds {
    ranges: Vec<Bitmap>,
    used: usize,
    /// The most IDs managed in total.
    pub capacity: Option<usize>,
    pub bug: SetBug,
}

impl BitmapIds {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: Some(capacity), ..Self::default() }
    }

    pub fn with_bug(bug: SetBug) -> Self {
        Self { bug, ..Self::default() }
    }

    fn add_range(&mut self, start: usize, size: usize) -> AllocResult {
        let end = region_end(start, size)?;
        let range = Region { start, end };
        if range.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        if self.ranges.iter().any(|r| r.range().overlaps(&range)) {
            return Err(AllocError::MemoryOverlap);
        }
        // Without a capacity, a bitmap of `usize::MAX` flags is still impossible.
        let capacity = self.capacity.unwrap_or(1 << 24);
        if self.size() + size > capacity {
            return Err(AllocError::InvalidParam);
        }
        self.ranges.push(Bitmap::new(start, 1, size));
        Ok(())
    }

    fn locate(&self, id: usize, count: usize) -> Option<(usize, usize)> {
        self.ranges.iter().enumerate().find_map(|(i, r)| Some((i, r.index(id, count)?)))
    }
}

impl BaseAllocator for BitmapIds {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.ranges.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        self.add_range(start, size)
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.add_range(start, size)
    }
}

impl IdAllocator for BitmapIds {
    fn alloc_id(&mut self, count: usize, align_pow2: usize) -> AllocResult<usize> {
        if count == 0 || !align_pow2.is_power_of_two() {
            return Err(AllocError::InvalidParam);
        }
        let align = if self.bug == SetBug::IgnoreAlign { 1 } else { align_pow2 };
        for range in &mut self.ranges {
            if let Some(first) = range.find(count, align) {
                let marked = if self.bug == SetBug::ShortMark { count - 1 } else { count };
                self.used += range.set(first, marked, true);
                return Ok(range.range().start + first);
            }
        }
        Err(AllocError::NoMemory)
    }

    fn dealloc_id(&mut self, start_id: usize, count: usize) {
        for range in &mut self.ranges {
            let r = range.range();
            let (from, to) = (start_id.max(r.start), start_id.saturating_add(count).min(r.end));
            if from < to {
                self.used -= range.set(from - r.start, to - from, false);
            }
        }
    }

    fn is_allocated(&self, id: usize) -> bool {
        self.locate(id, 1).is_some_and(|(range, index)| self.ranges[range].is_used(index))
    }

    fn alloc_fixed_id(&mut self, id: usize) -> AllocResult {
        let (range, index) = self.locate(id, 1).ok_or(AllocError::InvalidParam)?;
        if self.ranges[range].is_used(index) && self.bug != SetBug::NoUsedCheck {
            return Err(AllocError::NoMemory);
        }
        self.used += self.ranges[range].set(index, 1, true);
        Ok(())
    }

    fn size(&self) -> usize {
        self.ranges.iter().map(|r| r.range().size()).sum()
    }

    fn used(&self) -> usize {
        self.used
    }

    fn available(&self) -> usize {
        self.size() - self.used
    }
}
