//! [`ByteConfig`]: what a byte allocator promises, and how hard to test it;
//! and the random layouts churn draws.

use std::alloc::Layout;

use crate::Rng;

#[cfg(doc)]
use allocator_traits::{AllocError, ByteAllocator};

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
