//! The conformance checks of [`ByteAllocator`]s.
//!
//! Each `pub fn` here is one check: it takes `make`, which returns a fresh,
//! *uninitialised* allocator, and a [`ByteConfig`], builds the heaps it needs
//! from [`Pool`]s, and panics (naming the seed and the step) when the
//! allocator breaks the contract of `allocator-traits`.
//! [`byte_allocator_tests!`](crate::byte_allocator_tests) turns them into
//! one `#[test]` each.

pub use crate::provenance::{neighbour_frees, padded_values, realloc_chains};
use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_traits::region::is_aligned;
use allocator_traits::{AllocError, AllocResult, ByteAllocator, Region};

use crate::pattern::verify_pattern_for;
use crate::{At, Intervals, Pool, Rng, describe, fill_pattern};

/// What a byte allocator promises, and how hard to test it.
///
/// [`ByteConfig::new`] gives defaults that suit a general-purpose heap; change
/// fields directly or with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteConfig {
    /// The size of the region each heap gets (default 1 MiB).
    pub region_size: usize,
    /// The alignment of each region's start (default 4096). Pools are aligned
    /// to exactly this: never to twice as much.
    pub region_align: usize,
    /// The smallest region `init` must accept (default 4096): smaller ones
    /// must be [`AllocError::InvalidParam`]. Sizes 0 and 1 are always errors.
    pub min_region_size: usize,
    /// The largest alignment random churn asks for (default 4096). Requests
    /// up to it may fail only with [`AllocError::NoMemory`], and must succeed
    /// on an empty heap.
    pub max_align: usize,
    /// Whether the backend serves alignments above `region_align` (default
    /// `true`). If not, churn asks at most `region_align`.
    pub align_above_region: bool,
    /// The largest size random churn asks for (default 16 KiB). An empty heap
    /// must serve any size up to it with any alignment up to `max_align`.
    pub max_size: usize,
    /// How many regions the multi-region check adds (default 4).
    pub max_regions: usize,
    /// Operations per random churn (default 20 000).
    pub ops: usize,
    /// How many seeds each randomised check runs (default 2).
    pub seeds: u64,
    /// The first seed (default `0x5EED`); the others follow it.
    pub seed: u64,
    /// The alignment of the largest-block probes of the recovery checks
    /// (default 8).
    pub probe_align: usize,
    /// Whether the backend promises exact statistics, `used_bytes +
    /// available_bytes == total_bytes` at every step (default `false`: `<=`).
    pub exact_stats: bool,
    /// Random churn calls [`ByteAllocator::assert_valid`] every this many
    /// operations (default 64; 0 never), and every check calls it when it
    /// has freed everything.
    pub check_every: usize,
}

impl Default for ByteConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ByteConfig {
    /// The defaults: 1 MiB regions aligned to 4 KiB, churn of 20 000
    /// operations with sizes up to 16 KiB and alignments up to 4 KiB.
    pub const fn new() -> Self {
        Self {
            region_size: 1 << 20,
            region_align: 4096,
            min_region_size: 4096,
            max_align: 4096,
            align_above_region: true,
            max_size: 16 << 10,
            max_regions: 4,
            ops: 20_000,
            seeds: 2,
            seed: 0x5EED,
            probe_align: 8,
            exact_stats: false,
            check_every: 64,
        }
    }

    /// A small, quick configuration for Miri: 16 KiB regions, 200 operations,
    /// one seed, sizes up to 1 KiB, two regions. (Every live block costs the
    /// interpreter a model update per step, so the region size sets the
    /// cost of the checks that fill the heap.)
    pub const fn tiny() -> Self {
        Self {
            region_size: 16 << 10,
            max_size: 1024,
            max_align: 256,
            max_regions: 2,
            ops: 200,
            seeds: 1,
            ..Self::new()
        }
    }

    /// Sets [`region_size`](Self::region_size).
    pub const fn with_region_size(mut self, region_size: usize) -> Self {
        self.region_size = region_size;
        self
    }

    /// Sets [`region_align`](Self::region_align).
    pub const fn with_region_align(mut self, region_align: usize) -> Self {
        self.region_align = region_align;
        self
    }

    /// Sets [`min_region_size`](Self::min_region_size).
    pub const fn with_min_region_size(mut self, min_region_size: usize) -> Self {
        self.min_region_size = min_region_size;
        self
    }

    /// Sets [`max_align`](Self::max_align).
    pub const fn with_max_align(mut self, max_align: usize) -> Self {
        self.max_align = max_align;
        self
    }

    /// Sets [`align_above_region`](Self::align_above_region).
    pub const fn with_align_above_region(mut self, align_above_region: bool) -> Self {
        self.align_above_region = align_above_region;
        self
    }

    /// Sets [`max_size`](Self::max_size).
    pub const fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets [`max_regions`](Self::max_regions).
    pub const fn with_max_regions(mut self, max_regions: usize) -> Self {
        self.max_regions = max_regions;
        self
    }

    /// Sets [`ops`](Self::ops).
    pub const fn with_ops(mut self, ops: usize) -> Self {
        self.ops = ops;
        self
    }

    /// Sets [`seeds`](Self::seeds).
    pub const fn with_seeds(mut self, seeds: u64) -> Self {
        self.seeds = seeds;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`check_every`](Self::check_every).
    pub const fn with_check_every(mut self, check_every: usize) -> Self {
        self.check_every = check_every;
        self
    }

    /// Sets [`exact_stats`](Self::exact_stats).
    pub const fn with_exact_stats(mut self, exact_stats: bool) -> Self {
        self.exact_stats = exact_stats;
        self
    }

    /// Sets [`probe_align`](Self::probe_align).
    pub const fn with_probe_align(mut self, probe_align: usize) -> Self {
        self.probe_align = probe_align;
        self
    }

    /// The largest alignment churn asks for: `max_align`, capped at
    /// `region_align` unless the backend serves more.
    pub const fn churn_align(&self) -> usize {
        if self.align_above_region || self.max_align <= self.region_align {
            self.max_align
        } else {
            self.region_align
        }
    }

    /// The seeds of the randomised checks.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> + use<> {
        let first = self.seed;
        (0..self.seeds.max(1)).map(move |i| first.wrapping_add(i))
    }
}

/// A random layout as churn draws them: sizes biased small (0 included),
/// alignments mostly 1 to 8, sometimes anything up to `max_align`.
pub fn random_layout(rng: &mut Rng, max_size: usize, max_align: usize) -> Layout {
    let size = rng.size_up_to(max_size);
    let align = if rng.chance(3, 5) { 1 << rng.below(4) } else { rng.pow2_up_to(max_align) };
    Layout::from_size_align(size, align.min(max_align.max(1)))
        .expect("a small size and a power-of-two alignment")
}

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
    fn at(&self) -> At<'_> {
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
pub struct Heap<A> {
    /// The allocator under test.
    pub alloc: A,
    /// What should be live.
    pub model: Model,
    pools: Vec<Pool>,
    /// [`ByteConfig::exact_stats`] of the configuration it was made with.
    exact_stats: bool,
}

impl<A: ByteAllocator> Heap<A> {
    /// A fresh, uninitialised allocator from `make` and an empty model.
    pub fn uninit(make: &dyn Fn() -> A, context: impl Into<String>) -> Self {
        Self { alloc: make(), model: Model::with_context(context), pools: Vec::new(), exact_stats: false }
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
        heap.pools.push(pool);
        heap.add(region, true).unwrap_or_else(|e| panic!("init with a good {region:?} failed: {e:?}"));
        heap
    }

    /// Keeps `pool` alive as long as the heap (without handing it over).
    pub fn keep(&mut self, pool: Pool) -> &Pool {
        self.pools.push(pool);
        self.pools.last().expect("just pushed")
    }

    /// Hands `region` (memory of a kept pool) to the allocator with `init`
    /// (`first`) or `add_memory`; on success the model manages it too.
    pub fn add(&mut self, region: Region, first: bool) -> AllocResult {
        assert!(
            self.pools.iter().any(|p| p.region().start <= region.start && region.end <= p.region().end),
            "{region:?} is not memory of a pool this heap keeps"
        );
        // SAFETY: the region lies inside a pool this heap keeps (checked) and
        // that outlives the allocator (field order); the checks hand each
        // part of a pool to one allocator only.
        let result = unsafe {
            if first {
                self.alloc.init(region.start, region.size())
            } else {
                self.alloc.add_memory(region.start, region.size())
            }
        };
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

/// Seeded random alloc/realloc/free against the model: every pointer
/// aligned, inside a region, overlapping no live block; patterns verified
/// before every free and after every realloc; the statistics invariants after
/// every operation; `used_bytes() == 0` once everything is freed.
pub fn random_churn<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = Heap::new(make, cfg, format!("random_churn seed {seed:#x}"));
        let mut rng = Rng::new(seed);
        let served = heap.churn(&mut rng, cfg, cfg.ops);
        assert!(served > 0 || cfg.ops == 0, "random_churn seed {seed:#x}: no allocation succeeded");
        heap.model.verify_all();
        heap.free_all();
    }
}

/// Measures the largest block and the available bytes on a fresh heap, and
/// again after churn and freeing everything: they must be equal (nothing
/// leaks, nothing stays pinned).
pub fn recovery<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = Heap::new(make, cfg, format!("recovery seed {seed:#x}"));
        let aligns = [cfg.probe_align, cfg.churn_align()];
        let fresh: Vec<usize> = aligns.iter().map(|&a| heap.largest_block(a)).collect();
        let available = heap.alloc.available_bytes();
        // A lower bound: what one block can take is available.
        assert!(
            available >= fresh[0],
            "recovery seed {seed:#x}: available_bytes {available} is less than the {} bytes one block just took",
            fresh[0]
        );
        assert!(
            fresh[0] >= cfg.region_size / 4,
            "recovery: a fresh heap of {} bytes serves at most {} bytes in one block",
            cfg.region_size,
            fresh[0]
        );
        heap.churn(&mut Rng::new(seed), cfg, cfg.ops / 2);
        heap.free_all();
        let after: Vec<usize> = aligns.iter().map(|&a| heap.largest_block(a)).collect();
        assert_eq!(
            after, fresh,
            "recovery seed {seed:#x}: the largest blocks (alignments {aligns:?}) after churn and freeing everything \
             differ from a fresh heap's"
        );
        assert_eq!(
            heap.alloc.available_bytes(),
            available,
            "recovery seed {seed:#x}: available_bytes after freeing all"
        );
    }
}

/// Allocates until [`AllocError::NoMemory`] (exactly that error), verifies
/// every block, frees half, allocates again, frees all, and checks recovery.
pub fn out_of_memory<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    for seed in cfg.seed_list() {
        let mut heap = Heap::new(make, cfg, format!("out_of_memory seed {seed:#x}"));
        let fresh = heap.largest_block(cfg.probe_align);
        let mut rng = Rng::new(seed);
        // Random layouts until the first refusal, then smaller and smaller.
        loop {
            let layout = random_layout(&mut rng, cfg.max_size, cfg.churn_align());
            if heap.alloc(layout, &[AllocError::NoMemory]).is_err() {
                break;
            }
        }
        heap.fill(cfg.max_size);
        heap.check_stats();
        heap.model.verify_all();
        // Free about half, remembering the layouts.
        let mut freed = Vec::new();
        for _ in 0..heap.model.len() / 2 {
            let index = rng.below(heap.model.len());
            freed.push(heap.model.blocks()[index].layout);
            heap.free(index);
        }
        heap.check_stats();
        // The freed blocks' own places fit their layouts again: an allocator
        // may place them elsewhere, but not lose most of that room.
        let again =
            freed.iter().rev().filter(|&&layout| heap.alloc(layout, &[AllocError::NoMemory]).is_ok()).count();
        assert!(
            again * 10 >= freed.len() * 9,
            "out_of_memory seed {seed:#x}: only {again} of the {} layouts just freed could be allocated again",
            freed.len()
        );
        heap.model.verify_all();
        heap.free_all();
        assert_eq!(
            heap.largest_block(cfg.probe_align),
            fresh,
            "out_of_memory seed {seed:#x}: largest block after freeing all"
        );
    }
}

/// Zero-size layouts of several alignments get aligned, in-region, unique
/// pointers, which are freed (and reallocated) normally.
pub fn zero_size<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = Heap::new(make, cfg, "zero_size");
    let mut align = 1;
    while align <= cfg.churn_align() {
        for _ in 0..3 {
            let layout = Layout::from_size_align(0, align).expect("power of two");
            heap.alloc(layout, &[]).expect("checked above");
            heap.alloc(Layout::new::<u8>(), &[]).expect("checked above");
        }
        heap.check_stats();
        align *= 2;
    }
    // Grow a zero-size block and shrink a block to zero.
    let zero =
        heap.model.blocks().iter().position(|b| b.layout.size() == 0).expect("zero-size blocks are live");
    let grown = heap.realloc(zero, 100).expect("realloc of a zero-size block to 100 bytes");
    heap.realloc(grown, 0).expect("realloc to zero bytes");
    heap.check_stats();
    heap.free_all();
}

/// Grow and shrink preserve contents and alignment; a realloc larger than the
/// heap is [`AllocError::NoMemory`] and leaves the old block intact.
pub fn realloc<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = Heap::new(make, cfg, "realloc");
    let small = |size| Layout::from_size_align(size, 8).expect("small layout");
    // Neighbours on both sides, so growth in place is not always possible.
    heap.alloc(small(48), &[]).expect("fresh heap");
    let mut index = heap.alloc(small(24), &[]).expect("fresh heap");
    heap.alloc(small(48), &[]).expect("fresh heap");
    for new_size in [100, 1000, cfg.max_size, 5000, 16, 0, 64, 24] {
        index =
            heap.realloc(index, new_size).unwrap_or_else(|e| panic!("realloc to {new_size} failed: {e:?}"));
        heap.check_stats();
    }
    heap.model.verify_all();
    // Alignment is kept.
    let mut align = 16;
    while align <= cfg.churn_align() {
        let mut index =
            heap.alloc(Layout::from_size_align(100, align).expect("layout"), &[]).expect("fresh heap");
        for new_size in [cfg.max_size, 10, 300] {
            index = heap
                .realloc(index, new_size)
                .unwrap_or_else(|e| panic!("realloc (align {align}) failed: {e:?}"));
        }
        align *= 8;
    }
    // Too large: NoMemory, old block intact and still freeable. The block
    // reallocated last is the last one recorded.
    let index = heap.model.len() - 1;
    let total = heap.alloc.total_bytes();
    for new_size in [total + 1, cfg.region_size * 2, isize::MAX as usize - 7, isize::MAX as usize, usize::MAX]
    {
        assert_eq!(heap.realloc(index, new_size), Err(AllocError::NoMemory), "realloc to {new_size} bytes");
    }
    heap.check_stats();
    heap.free_all();
}

/// `count` regions of `cfg.region_size` bytes carved with random gaps from
/// one pool the heap keeps, in descending address order (`descending`) or
/// shuffled; returns the pool's start and the regions.
fn carve_regions<A: ByteAllocator>(
    heap: &mut Heap<A>,
    cfg: &ByteConfig,
    rng: &mut Rng,
    count: usize,
    descending: bool,
) -> (usize, Vec<Region>) {
    let gaps: Vec<usize> = (0..count).map(|_| cfg.region_align * rng.range(1, 4)).collect();
    let pool = heap.keep(Pool::new(count * cfg.region_size + gaps.iter().sum::<usize>(), cfg.region_align));
    let pool_start = pool.start();
    let mut slots = Vec::new();
    let mut start = pool_start;
    for gap in gaps {
        slots.push(Region { start, end: start + cfg.region_size });
        start += cfg.region_size + gap;
    }
    if descending {
        slots.reverse();
    } else {
        rng.shuffle(&mut slots);
    }
    (pool_start, slots)
}

/// Several regions (`max_regions`), carved with gaps from one pool, added in
/// random address order (and once in descending order): `total_bytes` grows
/// with each, and a heap filled to the brim has blocks in every region.
pub fn regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let count = cfg.max_regions.max(1);
    for (round, seed) in cfg.seed_list().enumerate() {
        let mut rng = Rng::new(seed);
        let mut heap = Heap::uninit(make, format!("regions seed {seed:#x}"));
        let (_, slots) = carve_regions(&mut heap, cfg, &mut rng, count, round == 0);
        let mut total = 0;
        for (i, &region) in slots.iter().enumerate() {
            heap.add(region, i == 0).unwrap_or_else(|e| panic!("adding region {i} {region:?} failed: {e:?}"));
            let now = heap.alloc.total_bytes();
            assert!(
                now > total,
                "regions: total_bytes did not grow ({total} -> {now}) when region {i} was added"
            );
            total = now;
            heap.check_stats();
        }
        heap.fill(cfg.region_size);
        heap.check_stats();
        for region in &slots {
            assert!(
                heap.model.blocks().iter().any(|b| region.contains_range(b.ptr.as_ptr().addr(), 1)),
                "regions seed {seed:#x}: a full heap has no block in {region:?}"
            );
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        heap.free_all();
    }
}

/// What [`remove_regions`] writes over the memory of a removed region: the
/// allocator must never touch it again.
const REMOVED: u8 = 0xD3;

/// Ranges that were never handed to the allocator, near `region` (which
/// was): parts of it, shifted copies, a superset, an empty and an
/// overflowing range.
fn never_added(region: Region, align: usize) -> Vec<(&'static str, usize, usize)> {
    let (start, size) = (region.start, region.size());
    vec![
        ("its first part", start, size - align),
        ("its last part", start + align, size - align),
        ("a part one byte shorter", start, size - 1),
        ("a part starting one byte in", start + 1, size - 1),
        ("a copy shifted by the alignment", start + align, size),
        ("a superset", start, size + align),
        ("an empty range at its start", start, 0),
        ("an overflowing range", usize::MAX - 15, 64),
    ]
}

/// Each of [`never_added`]'s ranges for each region is
/// [`AllocError::NotAllocated`], and changes nothing.
fn remove_never_added<A: ByteAllocator>(
    heap: &mut Heap<A>,
    regions: &[Region],
    cfg: &ByteConfig,
    when: &str,
) {
    for &region in regions {
        for (what, start, size) in never_added(region, cfg.region_align) {
            let stats = heap.stats();
            let result = heap.alloc.remove_memory(start, size);
            let at = heap.model.at();
            assert_eq!(
                result,
                Err(AllocError::NotAllocated),
                "{at} remove_memory({start:#x}, {size:#x}), {what} of the region {region:?} ({when})"
            );
            assert_eq!(
                heap.stats(),
                stats,
                "{at} statistics (total, used, available) after a refused remove_memory of {what}"
            );
        }
    }
}

/// Gives regions back ([`ByteAllocator::remove_memory`]): `init` and
/// `add_memory` with `max_regions` regions carved with gaps from one pool,
/// random churn, then:
///
/// - a region holding a live block is [`AllocError::MemoryOverlap`]: the
///   blocks stay intact, `total_bytes` and `used_bytes` do not change
///   (`available_bytes` may only grow: a layer may return cached memory
///   first);
/// - a range never added (a part of a region, a shifted copy, a superset,
///   an empty or overflowing range) is [`AllocError::NotAllocated`] and
///   changes nothing, with live blocks and without;
/// - once everything is freed, every region added with `add_memory` is
///   removed, in random order, with churn in between: `total_bytes` drops by
///   exactly what it rose when the region was added, and a second removal is
///   `NotAllocated`;
/// - the memory of a removed region is never written again (it is filled
///   with a sentinel and checked at the end) and no block is placed in it;
/// - with only the first region left, the largest block is what it was on
///   the fresh heap of that region alone;
/// - the first region goes too: `total_bytes` is 0, `alloc` is
///   [`AllocError::NoMemory`], and the region can be added again and serves
///   as before.
pub fn remove_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let count = cfg.max_regions.max(2);
    for (round, seed) in cfg.seed_list().enumerate() {
        let mut rng = Rng::new(seed);
        let context = format!("remove_regions seed {seed:#x}");
        let mut heap = Heap::uninit(make, context.clone());
        heap.exact_stats = cfg.exact_stats;
        let (pool_start, slots) = carve_regions(&mut heap, cfg, &mut rng, count, round == 0);
        let mut rises = Vec::new();
        let mut fresh = 0;
        for (i, &region) in slots.iter().enumerate() {
            let before = heap.alloc.total_bytes();
            heap.add(region, i == 0)
                .unwrap_or_else(|e| panic!("{context}: adding region {i} {region:?}: {e:?}"));
            let now = heap.alloc.total_bytes();
            assert!(now > before, "{context}: total_bytes did not grow when region {i} was added");
            rises.push(now - before);
            if i == 0 {
                fresh = heap.largest_block(cfg.probe_align);
            }
            heap.check_stats();
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        // A full heap has blocks in every region: none can go.
        heap.fill(cfg.region_size);
        for (i, &region) in slots.iter().enumerate() {
            if !heap.model.blocks().iter().any(|b| region.contains_range(b.ptr.as_ptr().addr(), 1)) {
                continue;
            }
            let (total, used, available) = heap.stats();
            let result = heap.remove(region);
            let at = heap.model.at();
            assert_eq!(
                result,
                Err(AllocError::MemoryOverlap),
                "{at} remove_memory of region {i} {region:?}, which holds a live block"
            );
            let (total_now, used_now, available_now) = heap.stats();
            assert_eq!(
                (total_now, used_now),
                (total, used),
                "{at} total and used bytes after a refused remove_memory of region {i}"
            );
            assert!(
                available_now >= available,
                "{at} available_bytes fell from {available} to {available_now} in a refused remove_memory"
            );
            heap.check_stats();
        }
        heap.model.verify_all();
        remove_never_added(&mut heap, &slots, cfg, "with live blocks");
        heap.free_all();
        remove_never_added(&mut heap, &slots, cfg, "all free");
        // Every region but the first, in random order.
        let mut order: Vec<usize> = (1..count).collect();
        rng.shuffle(&mut order);
        for &i in &order {
            let region = slots[i];
            let total = heap.alloc.total_bytes();
            let result = heap.remove(region);
            let at = heap.model.at().to_string();
            assert_eq!(result, Ok(()), "{at} remove_memory of region {i} {region:?}, all free");
            let dropped = total - heap.alloc.total_bytes();
            assert_eq!(
                dropped, rises[i],
                "{at} total_bytes dropped by {dropped} when region {i} was removed, but rose by {} when it was added",
                rises[i]
            );
            heap.check_stats();
            assert_eq!(
                heap.remove(region),
                Err(AllocError::NotAllocated),
                "{at} a second remove_memory of region {i}"
            );
            heap.pools[0].fill(region.start - pool_start, region.size(), REMOVED);
            heap.churn(&mut rng, cfg, cfg.ops / 16);
            heap.free_all();
        }
        heap.churn(&mut rng, cfg, cfg.ops / 8);
        heap.model.verify_all();
        heap.free_all();
        assert_eq!(
            heap.largest_block(cfg.probe_align),
            fresh,
            "{context}: the largest block with only the first region left differs from the fresh heap's of that \
             region"
        );
        // The first region too: nothing left.
        let first = slots[0];
        assert_eq!(heap.remove(first), Ok(()), "{context}: remove_memory of the first region, all free");
        heap.check_stats();
        assert_eq!(heap.alloc.total_bytes(), 0, "{context}: total_bytes with every region removed");
        assert_eq!(
            heap.alloc(Layout::new::<u64>(), &[AllocError::NoMemory]),
            Err(AllocError::NoMemory),
            "{context}: alloc with every region removed"
        );
        heap.pools[0].fill(first.start - pool_start, first.size(), 0);
        heap.add(first, false).unwrap_or_else(|e| panic!("{context}: adding the first region again: {e:?}"));
        assert_eq!(
            heap.alloc.total_bytes(),
            rises[0],
            "{context}: total_bytes with the first region added again"
        );
        heap.churn(&mut rng, cfg, cfg.ops / 16);
        heap.free_all();
        assert_eq!(heap.largest_block(cfg.probe_align), fresh, "{context}: the first region added again");
        for &i in &order {
            let region = slots[i];
            heap.pools[0].assert_filled(
                region.start - pool_start,
                region.size(),
                REMOVED,
                &format!("{context}: the memory of removed region {i} {region:?}"),
            );
        }
    }
}

/// [`ByteAllocator::max_layout_size`] is an upper bound that holds: on a
/// fresh heap, a layout one byte above it is [`AllocError::NoMemory`], and
/// it is at least the largest block the heap serves, for alignments from 1
/// to `churn_align`. It answers any alignment without panicking.
pub fn max_layout<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let uninit = make();
    for align in [0, 1, 3, 4096, 1 << (usize::BITS - 1), usize::MAX] {
        let _ = uninit.max_layout_size(align);
    }
    drop(uninit);
    let mut heap = Heap::new(make, cfg, "max_layout");
    let mut aligns = vec![1, 8, cfg.probe_align, cfg.churn_align()];
    aligns.sort_unstable();
    aligns.dedup();
    for align in aligns {
        let max = heap.alloc.max_layout_size(align);
        let largest = heap.largest_block(align);
        assert!(
            max >= largest,
            "max_layout_size({align}) is {max}, but a block of {largest} bytes was served"
        );
        if let Some(layout) = max.checked_add(1).and_then(|size| Layout::from_size_align(size, align).ok()) {
            assert_eq!(
                heap.alloc.alloc(layout).err(),
                Some(AllocError::NoMemory),
                "alloc({layout:?}), one byte above max_layout_size({align})"
            );
        }
        heap.check_stats();
    }
    heap.alloc(Layout::new::<u64>(), &[]).expect("the heap still works");
    heap.free_all();
}

/// Bad input before `init`: `alloc` is [`AllocError::NoMemory`], the
/// statistics are 0.
pub fn before_init<A: ByteAllocator>(make: &dyn Fn() -> A, _cfg: &ByteConfig) {
    let mut heap = Heap::uninit(make, "before_init");
    for layout in
        [Layout::new::<u64>(), Layout::new::<()>(), Layout::from_size_align(4096, 4096).expect("layout")]
    {
        assert_eq!(
            heap.alloc.alloc(layout).err(),
            Some(AllocError::NoMemory),
            "alloc({layout:?}) before init"
        );
    }
    assert_eq!(
        (heap.alloc.total_bytes(), heap.alloc.used_bytes(), heap.alloc.available_bytes()),
        (0, 0, 0),
        "statistics (total, used, available) before init"
    );
}

const SENTINEL: u8 = 0xE7;

/// Regions of 0, 1, 4095 bytes and just under `min_region_size`:
/// [`AllocError::InvalidParam`] (sizes from `min_region_size` on may be
/// accepted), nothing written past them, and the allocator still takes a
/// good region afterwards.
pub fn tiny_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut sizes = vec![0, 1, 4095, cfg.min_region_size.saturating_sub(1)];
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        let mut heap = Heap::uninit(make, format!("tiny_regions size {size}"));
        let pool = heap.keep(Pool::new(cfg.region_size.max(2 * size), cfg.region_align));
        pool.fill(0, pool.size(), SENTINEL);
        let (start, pool_size) = (pool.start(), pool.size());
        let tiny = Region { start, end: start + size };
        let result = heap.add(tiny, true);
        if size < 2 || size < cfg.min_region_size {
            assert_eq!(result, Err(AllocError::InvalidParam), "init with a region of {size} bytes");
        } else {
            assert!(
                matches!(result, Ok(()) | Err(AllocError::InvalidParam)),
                "init with {size} bytes: {result:?}"
            );
        }
        heap.pools[0].assert_filled(size, pool_size - size, SENTINEL, &format!("init with {size} bytes"));
        if result.is_ok() {
            heap.fill(size);
            heap.free_all();
        } else {
            let whole = Region { start, end: start + pool_size };
            heap.add(whole, true)
                .unwrap_or_else(|e| panic!("init after a refused {size}-byte region: {e:?}"));
            heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
            heap.free_all();
        }
    }
    // A region of exactly `min_region_size`, at an aligned start, is accepted
    // and serves a block.
    {
        let offset = 0;
        let size = cfg.min_region_size.max(2);
        let mut heap = Heap::uninit(make, format!("tiny_regions: {size} bytes at +{offset}"));
        let start = heap.keep(Pool::new(size + offset, cfg.region_align)).start() + offset;
        heap.add(Region { start, end: start + size }, true).unwrap_or_else(|e| {
            panic!("init with a region of min_region_size ({size}) bytes at +{offset}: {e:?}")
        });
        heap.alloc(Layout::new::<u8>(), &[]).unwrap_or_else(|e| {
            panic!("a region of min_region_size ({size}) bytes at +{offset} serves no 1-byte block: {e:?}")
        });
        heap.free_all();
    }
}

/// Regions whose start (or end) is not aligned: trimmed inwards or
/// [`AllocError::InvalidParam`]; never a write outside the range passed.
pub fn unaligned_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut offsets = vec![1, 3, 8, 15, cfg.region_align / 2 + 1, cfg.region_align - 1];
    if cfg!(miri) {
        // Each case fills a heap: under Miri, one small offset with an
        // aligned end, one with an unaligned end, and the largest offset.
        offsets = vec![1, 3, cfg.region_align - 1];
    }
    offsets.retain(|&o| o > 0 && o < cfg.region_align);
    offsets.dedup();
    for (i, offset) in offsets.into_iter().enumerate() {
        for add in [false, true] {
            let mut heap = Heap::uninit(make, format!("unaligned_regions offset {offset} add_memory {add}"));
            if add {
                let base = Pool::new(cfg.region_size, cfg.region_align);
                let region = base.region();
                heap.keep(base);
                heap.add(region, true).unwrap_or_else(|e| panic!("init with a good region: {e:?}"));
            }
            let pool = heap.keep(Pool::new(cfg.region_size + cfg.region_align, cfg.region_align));
            pool.fill(0, pool.size(), SENTINEL);
            // Alternate between an aligned and an unaligned end.
            let size = cfg.region_size - if i % 2 == 0 { 0 } else { 5 };
            let (start, pool_size) = (pool.start() + offset, pool.size());
            let result = heap.add(Region { start, end: start + size }, !add);
            assert!(matches!(result, Ok(()) | Err(AllocError::InvalidParam)), "unaligned region: {result:?}");
            if result.is_ok() {
                heap.fill(cfg.max_size);
                heap.model.verify_all();
                heap.free_all();
            }
            let pool = heap.pools.last().expect("kept");
            let what = format!("region at offset {offset} of {size} bytes");
            pool.assert_filled(0, offset, SENTINEL, &what);
            pool.assert_filled(offset + size, pool_size - offset - size, SENTINEL, &what);
        }
    }
}

/// Ranges whose end overflows the address space are
/// [`AllocError::InvalidParam`], for `init` and for `add_memory`.
pub fn overflowing_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let bad =
        [(usize::MAX - 100, 4096), (usize::MAX - 4095, 4096), (usize::MAX & !4095, 8192), (4096, usize::MAX)];
    let mut alloc = make();
    for (start, size) in bad {
        // SAFETY: deliberately not memory: the contract under test is that the
        // allocator rejects an overflowing range before touching it.
        let result = unsafe { alloc.init(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "init({start:#x}, {size:#x})");
    }
    drop(alloc);
    let mut heap = Heap::new(make, cfg, "overflowing_regions");
    for (start, size) in bad {
        // SAFETY: as above, for `add_memory`.
        let result = unsafe { heap.alloc.add_memory(start, size) };
        assert_eq!(result, Err(AllocError::InvalidParam), "add_memory({start:#x}, {size:#x})");
    }
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
    heap.free_all();
}

/// Overlapping and duplicate `add_memory` is [`AllocError::MemoryOverlap`],
/// refused before anything is written; an adjacent region is accepted.
pub fn overlapping_regions<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    // The smallest range below ("inside it") is a quarter unit: it must be a
    // region the allocator would take but for the overlap.
    let unit = (cfg.region_size / 4 / cfg.region_align * cfg.region_align)
        .max(4 * cfg.min_region_size.next_multiple_of(cfg.region_align));
    let mut heap = Heap::uninit(make, "overlapping_regions");
    let pool = heap.keep(Pool::new(4 * unit, cfg.region_align));
    pool.fill(0, pool.size(), SENTINEL);
    let s = pool.start();
    let managed = Region { start: s + unit, end: s + 2 * unit };
    heap.add(managed, true).unwrap_or_else(|e| panic!("init with a good region: {e:?}"));
    let half = unit / 2;
    let overlapping = [
        ("duplicate", managed),
        ("overlapping its start", Region { start: s + half, end: s + unit + half }),
        ("overlapping its end", Region { start: s + unit + half, end: s + 2 * unit + half }),
        ("containing it", Region { start: s, end: s + 4 * unit }),
        ("inside it", Region { start: s + unit + half / 2, end: s + unit + half }),
        // By one byte, at each end: the rule is the caller's untrimmed range,
        // not what the allocator kept of it after trimming.
        ("overlapping its last byte", Region { start: s + 2 * unit - 1, end: s + 3 * unit }),
        ("overlapping its first byte", Region { start: s, end: s + unit + 1 }),
    ];
    for (what, region) in overlapping {
        assert_eq!(heap.add(region, false), Err(AllocError::MemoryOverlap), "add_memory of a region {what}");
        let pool = &heap.pools[0];
        pool.assert_filled(0, unit, SENTINEL, &format!("after add_memory of a region {what}"));
        pool.assert_filled(2 * unit, 2 * unit, SENTINEL, &format!("after add_memory of a region {what}"));
    }
    heap.fill(cfg.max_size);
    heap.free_all();
    let adjacent = Region { start: s + 2 * unit, end: s + 3 * unit };
    heap.add(adjacent, false).unwrap_or_else(|e| panic!("add_memory of an adjacent region: {e:?}"));
    heap.fill(cfg.max_size);
    heap.free_all();
}

/// `init` on an initialised allocator is an error, with the same region or
/// another one, and writes nothing to the other one.
pub fn init_twice<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = Heap::new(make, cfg, "init_twice");
    let first = heap.model.regions()[0];
    let other = heap.keep(Pool::new(cfg.region_size, cfg.region_align));
    other.fill(0, other.size(), SENTINEL);
    let other_region = other.region();
    let allowed = [AllocError::MemoryOverlap, AllocError::InvalidParam];
    for region in [first, other_region] {
        let result = heap.add(region, true);
        assert!(result.is_err_and(|e| allowed.contains(&e)), "a second init with {region:?}: {result:?}");
    }
    heap.pools[1].assert_filled(0, cfg.region_size, SENTINEL, "a refused second init");
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 16);
    heap.free_all();
}

/// Layouts larger than the heap, up to `isize::MAX`, are
/// [`AllocError::NoMemory`]; the heap works afterwards.
pub fn huge_layouts<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = Heap::new(make, cfg, "huge_layouts");
    let total = heap.alloc.total_bytes();
    let max = isize::MAX as usize;
    let huge = [
        (total + 1, 1),
        (cfg.region_size + 1, 8),
        (cfg.region_size * 2, 4096),
        (max, 1),
        (max - 7, 8),
        (max - 4095, 4096),
    ];
    for (size, align) in huge {
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        assert_eq!(heap.alloc.alloc(layout).err(), Some(AllocError::NoMemory), "alloc({layout:?})");
        heap.check_stats();
    }
    heap.alloc(Layout::new::<u64>(), &[]).expect("the heap still works");
    heap.free_all();
}

/// Alignments from 1 to 1 GiB: each either served (aligned, inside the heap)
/// or refused with [`AllocError::NoMemory`] or [`AllocError::InvalidParam`];
/// those up to `max_align` must be served. The heap works afterwards.
pub fn alignments<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = Heap::new(make, cfg, "alignments");
    for shift in 0..=30 {
        let align = 1usize << shift;
        for size in [1, align.min(cfg.max_size)] {
            let layout = Layout::from_size_align(size, align).expect("valid layout");
            let allowed: &[AllocError] = if align <= cfg.churn_align() {
                &[]
            } else {
                &[AllocError::NoMemory, AllocError::InvalidParam]
            };
            let _ = heap.alloc(layout, allowed);
            heap.check_stats();
        }
    }
    heap.model.verify_all();
    heap.free_all();
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}

/// Every bad-input check in turn (each is also its own test in
/// [`byte_allocator_tests!`](crate::byte_allocator_tests)).
pub fn bad_input<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    before_init(make, cfg);
    tiny_regions(make, cfg);
    unaligned_regions(make, cfg);
    overflowing_regions(make, cfg);
    overlapping_regions(make, cfg);
    init_twice(make, cfg);
    huge_layouts(make, cfg);
    alignments(make, cfg);
}
