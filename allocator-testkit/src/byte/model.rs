//! The model of a byte heap ([`Model`]) and the harness that drives an
//! allocator against it ([`ByteHarness`]).

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_traits::region::is_aligned;
use allocator_traits::{AllocError, AllocResult, ByteAllocator, Region};

use super::{ByteConfig, random_layout};
use crate::pattern::verify_pattern_for;
use crate::{At, Intervals, KeptPools, Pool, Rng, describe, fill_pattern};

/// A block the [`Model`] knows to be live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Where the allocator put it.
    pub ptr: NonNull<u8>,
    /// The layout it was allocated (or last reallocated) with.
    pub layout: Layout,
    /// Its id: the seed of its byte pattern.
    pub id: u64,
}

impl Block {
    /// The address range the block occupies for the overlap checks: a
    /// zero-size block occupies one byte, as its pointer must be unique.
    fn span(ptr: NonNull<u8>, layout: Layout) -> (usize, usize) {
        let addr = ptr.as_ptr().addr();
        (addr, addr.saturating_add(layout.size().max(1)))
    }
}

/// The model of a byte heap: the managed regions and the live blocks.
///
/// [`insert`](Self::insert) checks a block the allocator just returned
/// (aligned, inside a managed region, overlapping no live block) and writes
/// its byte pattern; [`remove`](Self::remove) verifies the pattern before the
/// block is freed; [`check_stats`](Self::check_stats) checks the statistics
/// invariants. Every failure panics with [`context`](Self::context) and
/// [`step`](Self::step) in the message.
#[derive(Debug, Default)]
pub struct Model {
    regions: Vec<Region>,
    blocks: Vec<Block>,
    spans: Intervals,
    next_id: u64,
    live_bytes: usize,
    /// Where we are (the check and the seed), for failure messages.
    pub context: String,
    /// The operation number, for failure messages.
    pub step: usize,
}

impl Model {
    /// An empty model: no region, no block.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty model whose failure messages start with `context`.
    pub fn with_context(context: impl Into<String>) -> Self {
        Self { context: context.into(), ..Self::default() }
    }

    /// `[context, step n]`, for messages.
    pub(crate) fn at(&self) -> At<'_> {
        At::new(&self.context, self.step)
    }

    /// Records a region the allocator manages (as passed to `init` or
    /// `add_memory`).
    pub fn add_region(&mut self, region: Region) {
        self.regions.push(region);
    }

    /// Forgets a region the allocator gave back
    /// ([`ByteAllocator::remove_memory`] succeeded): blocks must not be
    /// placed in it any more.
    ///
    /// # Panics
    ///
    /// If a live block lies in it (the allocator gave back memory in use), or
    /// the model does not manage exactly that region.
    pub fn remove_region(&mut self, region: Region) {
        if let Some(block) = self.blocks.iter().find(|b| {
            let (start, end) = Block::span(b.ptr, b.layout);
            region.overlaps(&Region { start, end })
        }) {
            panic!(
                "{} remove_memory of {region:?} succeeded while live block #{} at {:p} ({:?}) lies in it",
                self.at(),
                block.id,
                block.ptr,
                block.layout
            );
        }
        let index = self.regions.iter().position(|r| *r == region).unwrap_or_else(|| {
            panic!("{} remove_memory of {region:?} succeeded, but it was never added", self.at())
        });
        self.regions.remove(index);
    }

    /// The managed regions, in the order they were added.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The sum of the managed regions' sizes.
    pub fn managed_bytes(&self) -> usize {
        self.regions.iter().map(Region::size).sum()
    }

    /// The live blocks (in no particular order; indices change on removal).
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The number of live blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is live.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The sum of the live blocks' requested sizes.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// Panics unless a block at `ptr` with `layout` is aligned, inside one
    /// managed region, and overlaps no live block.
    pub fn check_placement(&self, ptr: NonNull<u8>, layout: Layout, what: &str) {
        self.check_bounds(ptr, layout, what);
        let (start, end) = Block::span(ptr, layout);
        if let Some(overlap) = self.spans.overlapping(start, end) {
            self.overlap_panic(ptr, layout, what, overlap);
        }
    }

    /// The alignment and region parts of
    /// [`check_placement`](Self::check_placement).
    fn check_bounds(&self, ptr: NonNull<u8>, layout: Layout, what: &str) {
        let addr = ptr.as_ptr().addr();
        let at = self.at();
        assert!(
            is_aligned(addr, layout.align()),
            "{at} {what}: {addr:#x} for {layout:?} is not aligned to {}",
            layout.align()
        );
        let (start, end) = Block::span(ptr, layout);
        assert!(
            self.regions.iter().any(|r| r.contains_range(start, end - start)),
            "{at} {what}: [{start:#x}, {end:#x}) for {layout:?} is not inside a managed region (regions: {})",
            describe(&self.regions)
        );
    }

    /// The failure of [`check_placement`](Self::check_placement) for a
    /// block overlapping the live block `(s, e, id)`.
    fn overlap_panic(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        what: &str,
        (s, e, id): (usize, usize, u64),
    ) -> ! {
        let (start, end) = Block::span(ptr, layout);
        panic!(
            "{} {what}: [{start:#x}, {end:#x}) for {layout:?} overlaps live block #{id} at [{s:#x}, {e:#x})",
            self.at()
        );
    }

    /// Records `block` after [`check_bounds`](Self::check_bounds), failing
    /// as [`check_placement`](Self::check_placement) does if it overlaps a
    /// live block: one search of the live blocks, not two (they dominate the
    /// cost of a step under Miri).
    fn record_placed(&mut self, block: Block, what: &str) -> usize {
        let (start, end) = Block::span(block.ptr, block.layout);
        if let Err(overlap) = self.spans.insert(start, end, block.id) {
            self.overlap_panic(block.ptr, block.layout, what, overlap);
        }
        self.live_bytes += block.layout.size();
        self.blocks.push(block);
        self.blocks.len() - 1
    }

    /// Checks a block the allocator just returned (see
    /// [`check_placement`](Self::check_placement)), writes its byte pattern,
    /// and records it. Returns the block's index in [`blocks`](Self::blocks).
    ///
    /// # Safety
    ///
    /// `ptr` was just returned by the allocator for `layout`: if it is placed
    /// correctly it is valid for writes of `layout.size()` bytes until it is
    /// removed from the model.
    pub unsafe fn insert(&mut self, ptr: NonNull<u8>, layout: Layout) -> usize {
        self.check_bounds(ptr, layout, "alloc");
        let id = self.next_id;
        self.next_id += 1;
        let index = self.record_placed(Block { ptr, layout, id }, "alloc");
        // SAFETY: the block is placed inside a managed region and overlaps no
        // live block (checked), and is writable (caller's contract).
        unsafe { fill_pattern(ptr, id, 0, layout.size()) };
        index
    }

    /// Forgets block `index` without checking its contents.
    fn forget(&mut self, index: usize) -> Block {
        let block = self.blocks.swap_remove(index);
        let (start, _) = Block::span(block.ptr, block.layout);
        self.spans.remove(start);
        self.live_bytes -= block.layout.size();
        block
    }

    /// Panics unless block `index` still holds its pattern.
    pub fn verify(&self, index: usize) {
        let block = self.blocks[index];
        // SAFETY: the block is live and valid for reads of its size (the
        // contract of `insert`), and initialised (its pattern was written).
        unsafe {
            verify_pattern_for(
                block.ptr,
                block.id,
                0,
                block.layout.size(),
                &format_args!("{} verify", self.at()),
            )
        };
    }

    /// Verifies every live block.
    pub fn verify_all(&self) {
        for index in 0..self.blocks.len() {
            self.verify(index);
        }
    }

    /// Verifies block `index` and forgets it; returns it, to be freed.
    pub fn remove(&mut self, index: usize) -> Block {
        self.verify(index);
        self.forget(index)
    }

    /// Records that the allocator reallocated block `index` to `new_ptr`
    /// with `new_size` bytes: checks the placement, verifies the preserved
    /// prefix and writes the pattern on the rest. Returns the new index.
    ///
    /// # Safety
    ///
    /// `new_ptr` was just returned by the allocator's `realloc` of block
    /// `index` to `new_size`: valid for writes of `new_size` bytes until
    /// removed from the model.
    pub unsafe fn reallocated(&mut self, index: usize, new_ptr: NonNull<u8>, new_size: usize) -> usize {
        let old = self.forget(index);
        let layout = Layout::from_size_align(new_size, old.layout.align())
            .expect("realloc succeeded, so it is a layout");
        self.check_bounds(new_ptr, layout, "realloc");
        let index = self.record_placed(Block { ptr: new_ptr, layout, id: old.id }, "realloc");
        let kept = old.layout.size().min(new_size);
        let (old_size, moved) = (old.layout.size(), old.ptr != new_ptr);
        // SAFETY: the new block is placed correctly (checked, and recorded
        // now that it is) and valid for
        // `new_size` bytes (caller's contract); its first `kept` bytes were
        // copied from the old block, which held the pattern.
        unsafe {
            verify_pattern_for(
                new_ptr,
                old.id,
                0,
                kept,
                &format_args!("{} realloc from {old_size} to {new_size} bytes (moved: {moved})", self.at()),
            );
            fill_pattern(new_ptr, old.id, kept, new_size);
        }
        index
    }

    /// Panics unless the allocator's statistics agree with the model:
    /// `used + available <= total <= managed bytes`, `used >=` the live
    /// requested bytes, and `used > 0` while any block is live.
    pub fn check_stats<A: ByteAllocator + ?Sized>(&self, alloc: &A) {
        let (total, used, available) = (alloc.total_bytes(), alloc.used_bytes(), alloc.available_bytes());
        let at = self.at();
        let stats = || format!("total {total}, used {used}, available {available}");
        assert!(
            used.checked_add(available).is_some_and(|sum| sum <= total),
            "{at} used + available > total: {}",
            stats()
        );
        if let Some(peak) = alloc.peak_used_bytes() {
            assert!(peak >= used, "{at} peak_used_bytes {peak} is below used_bytes {used}");
        }
        let managed = self.managed_bytes();
        assert!(
            total <= managed,
            "{at} total_bytes {total} exceeds the {managed} bytes handed to the allocator"
        );
        assert!(
            used >= self.live_bytes,
            "{at} used_bytes {used} is less than the {} bytes of live blocks: {}",
            self.live_bytes,
            stats()
        );
        assert!(self.is_empty() || used > 0, "{at} used_bytes is 0 while {} block(s) are live", self.len());
    }
}

/// An allocator under test together with its model and its memory.
///
/// Fields drop in declaration order: the allocator first, the pools last.
#[derive(Debug)]
pub struct ByteHarness<A> {
    /// The allocator under test.
    pub alloc: A,
    /// What should be live.
    pub model: Model,
    pub(crate) pools: KeptPools,
    /// [`ByteConfig::exact_stats`] of the configuration it was made with.
    pub(crate) exact_stats: bool,
}

impl<A: ByteAllocator> ByteHarness<A> {
    /// A fresh, uninitialised allocator from `make` and an empty model.
    pub fn uninit(make: &dyn Fn() -> A, context: impl Into<String>) -> Self {
        Self {
            alloc: make(),
            model: Model::with_context(context),
            pools: KeptPools::default(),
            exact_stats: false,
        }
    }

    /// An allocator initialised with one pool of `cfg.region_size` bytes.
    ///
    /// # Panics
    ///
    /// If `init` fails.
    pub fn new(make: &dyn Fn() -> A, cfg: &ByteConfig, context: impl Into<String>) -> Self {
        let mut heap = Self::uninit(make, context);
        heap.exact_stats = cfg.exact_stats;
        let pool = Pool::new(cfg.region_size, cfg.region_align);
        let region = pool.region();
        heap.pools.keep(pool);
        heap.add(region, true).unwrap_or_else(|e| panic!("init with a good {region:?} failed: {e:?}"));
        heap
    }

    /// Keeps `pool` alive as long as the heap (without handing it over).
    pub fn keep(&mut self, pool: Pool) -> &Pool {
        self.pools.keep(pool)
    }

    /// Hands `region` (memory of a kept pool) to the allocator with `init`
    /// (`first`) or `add_memory`; on success the model manages it too.
    pub fn add(&mut self, region: Region, first: bool) -> AllocResult {
        // SAFETY: the pools outlive the allocator (field order: it drops
        // first) and the checks hand each part of a pool to one allocator.
        let result = unsafe { self.pools.hand_over(&mut self.alloc, region, first) };
        if result.is_ok() {
            self.model.add_region(region);
        }
        result
    }

    /// Asks the allocator to give back `region` (as it was added); on
    /// success the model forgets it too (and checks that no live block lies
    /// in it).
    pub fn remove(&mut self, region: Region) -> AllocResult {
        let result = self.alloc.remove_memory(region.start, region.size());
        if result.is_ok() {
            self.model.remove_region(region);
        }
        result
    }

    /// `(total, used, available)` bytes, as the allocator says now.
    pub fn stats(&self) -> (usize, usize, usize) {
        (self.alloc.total_bytes(), self.alloc.used_bytes(), self.alloc.available_bytes())
    }

    /// Allocates `layout`; on success checks and records the block and
    /// returns its index. An error must be one of `allowed`.
    pub fn alloc(&mut self, layout: Layout, allowed: &[AllocError]) -> AllocResult<usize> {
        match self.alloc.alloc(layout) {
            // SAFETY: `ptr` was just returned by the allocator for `layout`.
            Ok(ptr) => Ok(unsafe { self.model.insert(ptr, layout) }),
            Err(e) => {
                assert!(
                    allowed.contains(&e),
                    "{} alloc({layout:?}) failed with {e:?}, expected success or {}",
                    self.model.at(),
                    describe(allowed)
                );
                Err(e)
            }
        }
    }

    /// Verifies and frees block `index`.
    pub fn free(&mut self, index: usize) {
        let block = self.model.remove(index);
        // SAFETY: the block was returned by this allocator with this layout
        // (recorded at alloc/realloc) and is freed once (forgotten above).
        unsafe { self.alloc.dealloc(block.ptr, block.layout) };
    }

    /// Verifies and frees block `index` as a C `free` does, by its address
    /// and alignment alone: with the layout `(block_size, align)` the
    /// allocator finds (which it must, as it says `finds_block_sizes`).
    pub fn free_found(&mut self, index: usize) {
        let block = self.model.remove(index);
        // SAFETY: the block is live in this allocator with this alignment.
        let found = unsafe { self.alloc.block_size(block.ptr, block.layout.align()) };
        let found =
            found.unwrap_or_else(|| panic!("{} no size found for {:?}", self.model.at(), block.layout));
        assert!(
            found >= block.layout.size(),
            "{} found {found} bytes for {:?}",
            self.model.at(),
            block.layout
        );
        let stand_in =
            Layout::from_size_align(found, block.layout.align()).expect("a found size forms a layout");
        // SAFETY: `block_size`'s promise: `stand_in` stands for the block's
        // layout; the block is freed once (forgotten above).
        unsafe { self.alloc.dealloc(block.ptr, stand_in) };
    }

    /// Frees every live block, then checks that `used_bytes()` is 0.
    pub fn free_all(&mut self) {
        while !self.model.is_empty() {
            self.free(self.model.len() - 1);
        }
        self.model.check_stats(&self.alloc);
        assert_eq!(self.alloc.used_bytes(), 0, "{} used_bytes after every block was freed", self.model.at());
        self.alloc.assert_valid();
    }

    /// Reallocates block `index` to `new_size` bytes. On success checks the
    /// new block and returns its index; on failure the error must be
    /// [`AllocError::NoMemory`] and the old block intact.
    pub fn realloc(&mut self, index: usize, new_size: usize) -> AllocResult<usize> {
        self.model.verify(index);
        let block = self.model.blocks()[index];
        // SAFETY: the block is live, from this allocator, with this layout.
        match unsafe { self.alloc.realloc(block.ptr, block.layout, new_size) } {
            // SAFETY: `ptr` was just returned by `realloc` of this block.
            Ok(ptr) => Ok(unsafe { self.model.reallocated(index, ptr, new_size) }),
            Err(e) => {
                let at = self.model.at();
                assert_eq!(e, AllocError::NoMemory, "{at} realloc of {:?} to {new_size} bytes", block.layout);
                self.model.verify(index);
                Err(e)
            }
        }
    }

    /// Asserts the statistics invariants (see [`Model::check_stats`]), and
    /// `used + available == total` where the configuration says the backend
    /// promises exact statistics.
    pub fn check_stats(&self) {
        self.model.check_stats(&self.alloc);
        if self.exact_stats {
            let (total, used, available) =
                (self.alloc.total_bytes(), self.alloc.used_bytes(), self.alloc.available_bytes());
            assert_eq!(
                used + available,
                total,
                "{} exact statistics: used {used} + available {available} != total {total}",
                self.model.at()
            );
        }
    }

    /// The largest size that `alloc` serves right now with `align`, found by
    /// binary search (each probe is freed at once).
    pub fn largest_block(&mut self, align: usize) -> usize {
        let at = self.model.at();
        let total = self.alloc.total_bytes();
        let mut fits = |size: usize| {
            let Ok(layout) = Layout::from_size_align(size, align) else { return false };
            match self.alloc.alloc(layout) {
                Ok(ptr) => {
                    self.model.check_placement(ptr, layout, "largest-block probe");
                    // SAFETY: `ptr` was just allocated with `layout`.
                    unsafe { self.alloc.dealloc(ptr, layout) };
                    true
                }
                Err(AllocError::NoMemory) => false,
                Err(e) => panic!("{at} a probe alloc({layout:?}) failed with {e:?}, not NoMemory"),
            }
        };
        if !fits(1) {
            return 0;
        }
        assert!(!fits(total + 1), "{at} a block of total_bytes + 1 = {} bytes was served", total + 1);
        let (mut lo, mut hi) = (1, total + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// `ops` random alloc/realloc/free operations against the model, with
    /// the statistics checked after each. Returns how many allocations
    /// succeeded.
    pub fn churn(&mut self, rng: &mut Rng, cfg: &ByteConfig, ops: usize) -> usize {
        let max_align = cfg.churn_align();
        let mut served = 0;
        for step in 0..ops {
            self.model.step = step;
            let roll = rng.below(10);
            if self.model.is_empty() || roll < 5 {
                let layout = random_layout(rng, cfg.max_size, max_align);
                let was_empty = self.model.is_empty();
                match self.alloc(layout, &[AllocError::NoMemory]) {
                    Ok(_) => served += 1,
                    Err(_) => {
                        assert!(!was_empty, "{} an empty heap refused {layout:?}", self.model.at());
                        // Full: make room.
                        for _ in 0..rng.range(1, 9) {
                            if !self.model.is_empty() {
                                self.free(rng.below(self.model.len()));
                            }
                        }
                    }
                }
            } else if roll < 8 {
                self.free(rng.below(self.model.len()));
            } else {
                let index = rng.below(self.model.len());
                let size = self.model.blocks()[index].layout.size();
                let new_size = match rng.below(3) {
                    0 => size / 2,
                    1 => (size * 2 + 1).min(cfg.max_size * 2),
                    _ => rng.size_up_to(cfg.max_size),
                };
                let _ = self.realloc(index, new_size);
            }
            self.check_stats();
            if cfg.check_every != 0 && step % cfg.check_every == 0 {
                self.alloc.assert_valid();
            }
        }
        self.alloc.assert_valid();
        served
    }

    /// Fills the heap: blocks of `start_size` bytes (aligned to 8) while they
    /// fit, then halving, down to one byte. Returns the blocks allocated.
    pub fn fill(&mut self, start_size: usize) -> usize {
        let mut size = start_size.max(1);
        let mut count = 0;
        loop {
            let layout =
                Layout::from_size_align(size, 8.min(size.next_power_of_two())).expect("small layout");
            match self.alloc(layout, &[AllocError::NoMemory]) {
                Ok(_) => count += 1,
                Err(_) if size == 1 => return count,
                Err(_) => size /= 2,
            }
        }
    }
}
