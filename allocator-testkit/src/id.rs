//! The conformance checks of [`IdAllocator`]s.
//!
//! As in [`byte`](crate::byte): each `pub fn` is one check taking a maker of
//! fresh, uninitialised allocators and an [`IdConfig`];
//! [`id_allocator_tests!`](crate::id_allocator_tests) makes one `#[test` of
//! each.

use allocator_traits::region::is_aligned;
use allocator_traits::{AllocError, AllocResult, IdAllocator, Region};

use crate::{At, Intervals, Rng, describe};

/// What an ID allocator promises, and how hard to test it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdConfig {
    /// The first ID handed to `init` (default 0).
    pub start: usize,
    /// How many IDs `init` gets (default 1024).
    pub size: usize,
    /// The most IDs the allocator can manage, if it has a fixed capacity
    /// (default `None`): `init` with more is an error.
    pub capacity: Option<usize>,
    /// The largest `count` churn asks for (default 16).
    pub max_count: usize,
    /// The largest alignment churn asks for (default 16).
    pub max_align: usize,
    /// Operations per random churn (default 5000).
    pub ops: usize,
    /// How many seeds each randomised check runs (default 2).
    pub seeds: u64,
    /// The first seed (default `0x5EED`).
    pub seed: u64,
    /// Whether a refusal means there really is no aligned free run (default
    /// `true`, right for bitmap allocators).
    pub exhaustive: bool,
    /// Whether `add_memory` adds IDs (default `true`); if not it must be an
    /// error.
    pub supports_add_memory: bool,
}

impl Default for IdConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl IdConfig {
    /// The defaults: IDs `0..1024`, churn of 5000 operations of up to 16 IDs
    /// aligned up to 16.
    pub const fn new() -> Self {
        Self {
            start: 0,
            size: 1024,
            capacity: None,
            max_count: 16,
            max_align: 16,
            ops: 5000,
            seeds: 2,
            seed: 0x5EED,
            exhaustive: true,
            supports_add_memory: true,
        }
    }

    /// A small, quick configuration for Miri: 64 IDs, 150 operations.
    pub const fn tiny() -> Self {
        Self { size: 64, max_count: 8, max_align: 8, ops: 150, seeds: 1, ..Self::new() }
    }

    /// Sets [`start`](Self::start).
    pub const fn with_start(mut self, start: usize) -> Self {
        self.start = start;
        self
    }

    /// Sets [`size`](Self::size).
    pub const fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Sets [`capacity`](Self::capacity).
    pub const fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets [`max_count`](Self::max_count).
    pub const fn with_max_count(mut self, max_count: usize) -> Self {
        self.max_count = max_count;
        self
    }

    /// Sets [`max_align`](Self::max_align).
    pub const fn with_max_align(mut self, max_align: usize) -> Self {
        self.max_align = max_align;
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

    /// Sets [`exhaustive`](Self::exhaustive).
    pub const fn with_exhaustive(mut self, exhaustive: bool) -> Self {
        self.exhaustive = exhaustive;
        self
    }

    /// Sets [`supports_add_memory`](Self::supports_add_memory).
    pub const fn with_supports_add_memory(mut self, supports_add_memory: bool) -> Self {
        self.supports_add_memory = supports_add_memory;
        self
    }

    /// The seeds of the randomised checks.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> + use<> {
        let first = self.seed;
        (0..self.seeds.max(1)).map(move |i| first.wrapping_add(i))
    }

    /// The IDs `init` gets.
    pub const fn range(&self) -> Region {
        Region { start: self.start, end: self.start + self.size }
    }
}

/// An ID allocator under test with its model: the managed ranges and the
/// allocated IDs.
#[derive(Debug)]
pub struct IdHarness<I> {
    /// The allocator under test.
    pub alloc: I,
    /// The managed ID ranges.
    pub ranges: Vec<Region>,
    /// The allocated IDs.
    pub used: Intervals,
    next_tag: u64,
    /// Where we are, for failure messages.
    pub context: String,
    /// The operation number, for failure messages.
    pub step: usize,
}

impl<I: IdAllocator> IdHarness<I> {
    /// A fresh, uninitialised allocator.
    pub fn uninit(make: &dyn Fn() -> I, context: impl Into<String>) -> Self {
        Self {
            alloc: make(),
            ranges: Vec::new(),
            used: Intervals::new(),
            next_tag: 0,
            context: context.into(),
            step: 0,
        }
    }

    /// An allocator initialised with `cfg.range()`.
    pub fn new(make: &dyn Fn() -> I, cfg: &IdConfig, context: impl Into<String>) -> Self {
        let mut heap = Self::uninit(make, context);
        let range = cfg.range();
        heap.add(range, true).unwrap_or_else(|e| panic!("init with IDs {range:?} failed: {e:?}"));
        heap
    }

    fn at(&self) -> At<'_> {
        At::new(&self.context, self.step)
    }

    /// `init` (`first`) or `add_memory` of `range`; on success the model
    /// manages it too.
    pub fn add(&mut self, range: Region, first: bool) -> AllocResult {
        // SAFETY: an ID range is not memory: the call has no memory-safety
        // requirement (the trait's contract for ID allocators).
        let result = unsafe {
            if first {
                self.alloc.init(range.start, range.size())
            } else {
                self.alloc.add_memory(range.start, range.size())
            }
        };
        if result.is_ok() {
            self.ranges.push(range);
        }
        result
    }

    fn is_managed(&self, start: usize, count: usize) -> bool {
        self.ranges.iter().any(|r| r.contains_range(start, count))
    }

    /// Whether `id` is allocated in the model.
    pub fn model_has(&self, id: usize) -> bool {
        id < usize::MAX && self.used.containing(id).is_some()
    }

    /// `alloc_id(count, align)`, checked: contiguous, aligned, managed, not
    /// allocated before, `is_allocated` agrees. An error must be one of
    /// `allowed`; with `exhaustive`, a `NoMemory` must be right.
    pub fn alloc(
        &mut self,
        count: usize,
        align: usize,
        allowed: &[AllocError],
        exhaustive: bool,
    ) -> AllocResult<usize> {
        let at = At::new(&self.context, self.step);
        match self.alloc.alloc_id(count, align) {
            Ok(first) => {
                assert!(
                    is_aligned(first, align),
                    "{at} alloc_id({count}, {align}) gave {first}, not aligned"
                );
                assert!(
                    self.is_managed(first, count),
                    "{at} alloc_id({count}, {align}) gave {first}, outside the managed IDs {}",
                    describe(&self.ranges)
                );
                let tag = self.next_tag;
                self.next_tag += 1;
                if let Err((s, e, _)) = self.used.insert(first, first + count, tag) {
                    panic!(
                        "{at} alloc_id({count}, {align}) gave [{first}, {}), overlapping allocated [{s}, {e})",
                        first + count
                    );
                }
                for id in [first, first + count - 1] {
                    assert!(
                        self.alloc.is_allocated(id),
                        "{at} is_allocated({id}) is false right after alloc_id"
                    );
                }
                Ok(first)
            }
            Err(e) => {
                assert!(allowed.contains(&e), "{at} alloc_id({count}, {align}) failed with {e:?}");
                if exhaustive && e == AllocError::NoMemory {
                    assert!(
                        !self.ranges.iter().any(|&r| self.used.has_free_run(r, count, align)),
                        "{at} alloc_id({count}, {align}) is NoMemory, but such free IDs exist"
                    );
                }
                Err(e)
            }
        }
    }

    /// `alloc_fixed_id(id)`, checked: a free managed ID is served, an
    /// allocated one is [`AllocError::NoMemory`], an unmanaged one
    /// [`AllocError::InvalidParam`].
    pub fn alloc_fixed(&mut self, id: usize) -> AllocResult {
        let at = At::new(&self.context, self.step);
        let result = self.alloc.alloc_fixed_id(id);
        if !self.is_managed(id, 1) {
            assert_eq!(
                result,
                Err(AllocError::InvalidParam),
                "{at} alloc_fixed_id({id}) outside the managed IDs"
            );
        } else if self.model_has(id) {
            assert_eq!(result, Err(AllocError::NoMemory), "{at} alloc_fixed_id({id}) of an allocated ID");
        } else {
            assert_eq!(result, Ok(()), "{at} alloc_fixed_id({id}) of a free ID");
            let tag = self.next_tag;
            self.next_tag += 1;
            self.used.insert(id, id + 1, tag).expect("free in the model");
            assert!(self.alloc.is_allocated(id), "{at} is_allocated({id}) after alloc_fixed_id");
        }
        result
    }

    /// Frees `[start, start + count)` (inside one allocation) and checks
    /// `is_allocated` turns false.
    pub fn free(&mut self, start: usize, count: usize) {
        let at = At::new(&self.context, self.step);
        assert!(
            self.used.remove_range(start, start + count).is_some(),
            "{at} freeing IDs the model does not hold"
        );
        self.alloc.dealloc_id(start, count);
        for id in [start, start + count - 1] {
            assert!(
                !self.alloc.is_allocated(id),
                "{at} is_allocated({id}) after dealloc_id({start}, {count})"
            );
        }
    }

    /// Frees a random allocation, sometimes in two parts.
    pub fn free_random(&mut self, rng: &mut Rng) {
        let (s, e, _) = self.used.iter().nth(rng.below(self.used.len())).expect("not empty");
        if e - s > 1 && rng.chance(1, 4) {
            let split = rng.range(1, e - s);
            self.free(s + split, e - s - split);
            self.free(s, split);
        } else {
            self.free(s, e - s);
        }
    }

    /// Frees everything; checks the statistics.
    pub fn free_all(&mut self) {
        while let Some((s, e, _)) = self.used.first() {
            self.free(s, e - s);
        }
        self.check_stats();
        assert_eq!(self.alloc.used(), 0, "{} used() after freeing all", self.at());
    }

    /// `size()` is the managed IDs, `used()` the model's, `available()` the
    /// rest.
    pub fn check_stats(&self) {
        let at = self.at();
        let managed: usize = self.ranges.iter().map(Region::size).sum();
        let (size, used, available) = (self.alloc.size(), self.alloc.used(), self.alloc.available());
        assert_eq!(size, managed, "{at} size()");
        assert_eq!(used, self.used.covered(), "{at} used()");
        assert_eq!(available, size - used.min(size), "{at} available()");
    }

    /// Compares `is_allocated` with the model over every managed ID and a
    /// few around each range.
    pub fn check_all_ids(&self) {
        for r in &self.ranges {
            for id in r.start.saturating_sub(4)..r.end.saturating_add(4) {
                let managed = self.is_managed(id, 1);
                let expected = managed && self.model_has(id);
                assert_eq!(self.alloc.is_allocated(id), expected, "{} is_allocated({id})", self.at());
            }
        }
    }

    /// `ops` random `alloc_id`, `alloc_fixed_id` and `dealloc_id` operations
    /// against the model.
    pub fn churn(&mut self, rng: &mut Rng, cfg: &IdConfig, ops: usize) {
        for step in 0..ops {
            self.step = step;
            let roll = rng.below(10);
            if self.used.is_empty() || roll < 5 {
                let count = rng.size_up_to(cfg.max_count).max(1);
                let align = rng.pow2_up_to(cfg.max_align);
                if self.alloc(count, align, &[AllocError::NoMemory], cfg.exhaustive).is_err() {
                    for _ in 0..rng.range(1, 5) {
                        if !self.used.is_empty() {
                            self.free_random(rng);
                        }
                    }
                }
            } else if roll < 8 {
                self.free_random(rng);
            } else {
                let range = self.ranges[rng.below(self.ranges.len())];
                let id = (range.start + rng.below(range.size() + 8)).saturating_sub(4);
                let _ = self.alloc_fixed(id);
            }
            self.check_stats();
            if step % 128 == 0 {
                self.check_all_ids();
            }
            let probe = self.ranges[0].start.saturating_sub(2) + rng.below(self.ranges[0].size() + 4);
            let expected = self.is_managed(probe, 1) && self.model_has(probe);
            assert_eq!(self.alloc.is_allocated(probe), expected, "{} is_allocated({probe})", self.at());
        }
    }
}

/// Seeded random `alloc_id(count, align)`, `alloc_fixed_id` (free, used and
/// unmanaged IDs) and whole or partial `dealloc_id` against a model; after
/// freeing everything, the whole range is one allocation again.
pub fn random_churn<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    for seed in cfg.seed_list() {
        let mut heap = IdHarness::new(make, cfg, format!("id random_churn seed {seed:#x}"));
        heap.churn(&mut Rng::new(seed), cfg, cfg.ops);
        heap.check_all_ids();
        heap.free_all();
        heap.check_all_ids();
        let all = heap.alloc(cfg.size, 1, &[], false).expect("checked");
        assert_eq!(all, cfg.start, "every ID after freeing all");
        heap.check_all_ids();
        heap.free_all();
    }
}

/// Fills the allocator one ID at a time until refused (exactly
/// [`AllocError::NoMemory`], with every ID used), then with fixed IDs.
pub fn exhaustion<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    let mut heap = IdHarness::new(make, cfg, "id exhaustion");
    while heap.alloc(1, 1, &[AllocError::NoMemory], true).is_ok() {}
    assert_eq!(heap.alloc.used(), cfg.size, "IDs used when alloc_id(1, 1) is refused");
    assert_eq!(heap.alloc.available(), 0, "available() when full");
    heap.check_all_ids();
    for id in [cfg.start, cfg.start + cfg.size - 1] {
        assert_eq!(heap.alloc_fixed(id), Err(AllocError::NoMemory));
    }
    heap.free_all();
    let mut rng = Rng::new(cfg.seed);
    let mut ids: Vec<usize> = (cfg.start..cfg.start + cfg.size).collect();
    rng.shuffle(&mut ids);
    for id in ids {
        heap.alloc_fixed(id).unwrap_or_else(|e| panic!("alloc_fixed_id({id}) of a free ID: {e:?}"));
    }
    assert_eq!(heap.alloc(1, 1, &[AllocError::NoMemory], true), Err(AllocError::NoMemory));
    heap.check_all_ids();
    heap.free_all();
}

/// Before `init`: `alloc_id` is [`AllocError::NoMemory`], `alloc_fixed_id`
/// [`AllocError::InvalidParam`], nothing is allocated, statistics 0.
pub fn before_init<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    let mut alloc = make();
    assert_eq!(alloc.alloc_id(1, 1), Err(AllocError::NoMemory), "alloc_id before init");
    assert_eq!(alloc.alloc_fixed_id(cfg.start), Err(AllocError::InvalidParam), "alloc_fixed_id before init");
    assert!(!alloc.is_allocated(cfg.start), "is_allocated before init");
    alloc.dealloc_id(cfg.start, 1);
    assert_eq!((alloc.size(), alloc.used(), alloc.available()), (0, 0, 0), "statistics before init");
}

/// A count of 0 and alignments that are not powers of two are
/// [`AllocError::InvalidParam`]; counts beyond the allocator are
/// [`AllocError::NoMemory`]; huge alignments are served aligned or refused.
pub fn bad_arguments<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    let mut heap = IdHarness::new(make, cfg, "id bad_arguments");
    let invalid = [AllocError::InvalidParam];
    for (count, align) in [(0, 1), (1, 0), (1, 3), (2, 6), (1, usize::MAX)] {
        let _ = heap
            .alloc(count, align, &invalid, false)
            .map(|id| panic!("alloc_id({count}, {align}) gave {id}"));
    }
    for count in [cfg.size + 1, usize::MAX / 2, usize::MAX] {
        assert_eq!(
            heap.alloc(count, 1, &[AllocError::NoMemory], false),
            Err(AllocError::NoMemory),
            "alloc_id({count})"
        );
    }
    for shift in 0..usize::BITS {
        let _ = heap.alloc(1, 1 << shift, &[AllocError::NoMemory, AllocError::InvalidParam], false);
        heap.check_stats();
    }
    heap.free_all();
    heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 8);
    heap.free_all();
}

/// IDs beyond the managed range: `alloc_fixed_id` is
/// [`AllocError::InvalidParam`], `is_allocated` false, `dealloc_id` ignored
/// (overflowing ranges included).
pub fn beyond_capacity<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    let mut heap = IdHarness::new(make, cfg, "id beyond_capacity");
    let end = cfg.start + cfg.size;
    let mut outside = vec![end, end + 1, end + 1000, usize::MAX / 2, usize::MAX - 1, usize::MAX];
    if cfg.start > 0 {
        outside.push(cfg.start - 1);
    }
    for &id in &outside {
        assert_eq!(heap.alloc_fixed(id), Err(AllocError::InvalidParam));
        assert!(!heap.alloc.is_allocated(id), "is_allocated({id}) outside the range");
    }
    heap.alloc_fixed(cfg.start).expect("a free ID");
    for (start, count) in
        [(end, 10), (usize::MAX, 2), (usize::MAX - 3, 100), (end - 1, usize::MAX), (usize::MAX / 2, 5)]
    {
        heap.alloc.dealloc_id(start, count);
        heap.check_stats();
    }
    // dealloc_id of IDs that are free is ignored too.
    heap.alloc.dealloc_id(cfg.start + 1, cfg.size - 1);
    heap.check_stats();
    heap.check_all_ids();
    heap.free_all();
}

/// `init` with no IDs, an overflowing range, more than the capacity, or a
/// second time is an error; `add_memory` of overlapping IDs is
/// [`AllocError::MemoryOverlap`], of adjacent ones fine (if supported).
pub fn bad_ranges<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig) {
    let invalid = Err(AllocError::InvalidParam);
    let mut heap = IdHarness::uninit(make, "id bad_ranges");
    assert_eq!(heap.add(Region { start: cfg.start, end: cfg.start }, true), invalid, "init with 0 IDs");
    for (start, size) in [(usize::MAX - 10, 100), (usize::MAX, 2), (1, usize::MAX)] {
        // SAFETY: an ID range is not memory (no memory-safety requirement).
        assert_eq!(unsafe { heap.alloc.init(start, size) }, invalid, "init({start:#x}, {size:#x})");
    }
    if let Some(capacity) = cfg.capacity {
        let mut heap = IdHarness::uninit(make, "id bad_ranges capacity");
        assert!(
            heap.add(Region { start: 0, end: capacity + 1 }, true).is_err(),
            "init with capacity + 1 IDs"
        );
        heap.add(Region { start: 0, end: capacity }, true)
            .unwrap_or_else(|e| panic!("init with capacity IDs: {e:?}"));
        heap.check_stats();
    }
    // Half the range, then the other half.
    let half = cfg.size / 2;
    let upper = Region { start: cfg.start + half, end: cfg.start + cfg.size };
    let lower = Region { start: cfg.start, end: cfg.start + half };
    heap.add(upper, true).unwrap_or_else(|e| panic!("init with {upper:?}: {e:?}"));
    let second = heap.add(upper, true);
    assert!(
        second.is_err_and(|e| e == AllocError::MemoryOverlap || e == AllocError::InvalidParam),
        "init twice: {second:?}"
    );
    heap.check_stats();
    if cfg.supports_add_memory {
        for (what, range) in [
            ("duplicate", upper),
            ("overlapping", Region { start: upper.start - 1, end: upper.start + 1 }),
            ("inside", Region { start: upper.start + 1, end: upper.start + 2 }),
        ] {
            assert_eq!(
                heap.add(range, false),
                Err(AllocError::MemoryOverlap),
                "add_memory of a {what} range"
            );
        }
        // SAFETY: an ID range is not memory.
        let overflowing = unsafe { heap.alloc.add_memory(usize::MAX - 1, 10) };
        assert_eq!(overflowing, invalid, "add_memory of an overflowing range");
        heap.add(lower, false).unwrap_or_else(|e| panic!("add_memory of the adjacent {lower:?}: {e:?}"));
        heap.check_stats();
        heap.churn(&mut Rng::new(cfg.seed), cfg, cfg.ops / 4);
        heap.check_all_ids();
    } else {
        assert!(heap.add(lower, false).is_err(), "add_memory is not supported, so it must fail");
    }
    heap.free_all();
}
