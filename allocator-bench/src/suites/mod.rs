//! The thirteen suites. Each takes the contestants and the pool, and returns a
//! [`SuiteReport`](crate::report::SuiteReport).

pub mod arceos;
pub mod colouring;
pub mod direct;
pub mod efficiency;
pub mod frames;
pub mod larson;
pub mod latency;
pub mod memory_return;
pub mod multi;
pub mod phase_shift;
pub mod producer_consumer;
pub mod random_actions;
pub mod real_sizes;
pub mod threads;

use indicatif::ProgressBar;

use crate::{
    contestants::{Backend, Family},
    pool::Pool,
};

/// What every suite needs.
pub struct Ctx<'a> {
    /// The pool, handed to one contestant at a time.
    pub pool: &'a mut Pool,
    /// The contestants chosen.
    pub backends: &'a [&'a Backend],
    /// The reduced CI run.
    pub quick: bool,
    /// Repetitions per figure, where a suite repeats.
    pub reps: usize,
    /// Progress on stderr; ticked between measurements only.
    pub progress: &'a ProgressBar,
}

impl Ctx<'_> {
    /// Shows what runs next.
    pub fn step(&self, what: String) {
        self.progress.set_message(what);
    }

    /// Which contestants set the best figure: all but the bump floor.
    pub fn yardsticks(&self) -> Vec<bool> {
        self.backends.iter().map(|b| b.family != Family::Floor).collect()
    }

    /// Marks one unit of work done.
    pub fn done(&self) {
        self.progress.inc(1);
    }
}

/// A suite the CLI can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The four ArceOS workloads (std collections, routed).
    Arceos,
    /// The four ArceOS workloads through `Allocator` handles, no routing.
    Direct,
    /// Random alloc/free/realloc at several numbers of live blocks: ops/s.
    RandomActions,
    /// Heap efficiency: share of the pool in use at the first failure.
    Efficiency,
    /// Fill with small objects, free them, largest block that succeeds.
    PhaseShift,
    /// Per-operation latency percentiles for alloc and free.
    Latency,
    /// One heap shared by 1, 2 and 4 threads: ops/s.
    Threads,
    /// Page frames on a 64 GiB frame space: single frames and 2 MiB runs, ns/op.
    Frames,
    /// After a burst: memory held from the system after the frees and after a trim.
    MemoryReturn,
    /// Larson-style server churn with windows handed between threads, 1 / 2 / 4 threads: ops/s.
    Larson,
    /// Blocks allocated by producers and freed by consumers, 1 / 2 / 4 threads: ops/s.
    ProducerConsumer,
    /// Real programs' size distributions (sqlite3, CPython): the smallest pool that serves them.
    RealSizes,
    /// Slab colouring: walking objects of one class with and without it, ns per read.
    Colouring,
}

impl Suite {
    /// Every suite, in run order.
    pub const ALL: [Suite; 13] = [
        Suite::Arceos,
        Suite::Direct,
        Suite::RandomActions,
        Suite::Efficiency,
        Suite::PhaseShift,
        Suite::Latency,
        Suite::Threads,
        Suite::Frames,
        Suite::MemoryReturn,
        Suite::Larson,
        Suite::ProducerConsumer,
        Suite::RealSizes,
        Suite::Colouring,
    ];

    /// One line on what it measures.
    pub fn about(self) -> &'static str {
        match self {
            Suite::Arceos => {
                "vec_push_3M, vec_rand_free_25K_64, vec_rand_free_7500_520, btree_map_50K (upstream code): median ms"
            }
            Suite::Direct => {
                "the same four through Vec::new_in(handle) (allocator_api2::Allocator, no routing; B-tree: BTreeMap's allocations replayed): median ms"
            }
            Suite::RandomActions => {
                "talc's random actions at 100 / 1,000 / 10,000 live blocks: million ops per second"
            }
            Suite::Efficiency => "talc's heap efficiency: % of the pool in live blocks at the first failure",
            Suite::PhaseShift => {
                "fill with small objects, free all, largest block that succeeds: % of the pool"
            }
            Suite::Latency => "per-operation alloc and free latency: p50 / p99 / p99.9 / max (ns)",
            Suite::Threads => {
                "one shared heap (locked, or per-CPU caches over it) through GlobalAlloc, 1 / 2 / 4 threads: million ops per second (wall clock)"
            }
            Suite::Frames => {
                "64 GiB of page frames: single frames and 2 MiB runs, ours vs the previous engine vs bitmap-allocator: ns/op"
            }
            Suite::MemoryReturn => {
                "a 64 MiB burst (16 MiB with --quick) freed: MiB still held from the system after the frees and after a trim"
            }
            Suite::Larson => {
                "larson server churn, windows handed to the next thread, 1 / 2 / 4 threads: million ops per second (wall clock)"
            }
            Suite::ProducerConsumer => {
                "producers allocate, consumers on other threads free, 1 / 2 / 4 threads: million ops per second (wall clock)"
            }
            Suite::RealSizes => {
                "real programs' size distributions (sqlite3, CPython): peak resident memory and the smallest pool"
            }
            Suite::Colouring => {
                "slab colouring: one word of many objects of one class, ns per read, with and without"
            }
        }
    }

    /// The number of progress steps the suite takes for the contestants
    /// `backends`.
    pub fn steps(self, backends: &[&Backend], reps: usize, quick: bool) -> u64 {
        if self == Suite::Frames {
            return (frames::CONTESTANTS.len() * reps) as u64;
        }
        if self == Suite::Colouring {
            return colouring::steps(reps) as u64;
        }
        if self == Suite::RealSizes {
            return real_sizes::steps(backends) as u64;
        }
        if self == Suite::MemoryReturn {
            return (memory_return::chosen(backends).len() * reps) as u64;
        }
        if matches!(self, Suite::Threads | Suite::Larson | Suite::ProducerConsumer) {
            return multi::steps(backends, reps, quick);
        }
        let n = backends.len();
        let per_backend = match self {
            Suite::Arceos => arceos::WORKLOADS.len() * arceos::RepPolicy::new(quick, reps).max_reps,
            Suite::Direct => {
                return (direct::specs(quick).len() * arceos::RepPolicy::new(quick, reps).max_reps) as u64;
            }
            Suite::RandomActions => random_actions::LIVE_TARGETS.len() * random_actions::trials(quick, reps),
            Suite::Efficiency
            | Suite::PhaseShift
            | Suite::Latency
            | Suite::Threads
            | Suite::Frames
            | Suite::MemoryReturn
            | Suite::Larson
            | Suite::ProducerConsumer
            | Suite::RealSizes
            | Suite::Colouring => 1,
        };
        (per_backend * n) as u64
    }
}
