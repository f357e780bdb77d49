//! The benchmark: every backend of this workspace against its peers, in one
//! process and one run, each contestant on a fresh pool of the same size.
//!
//! ```text
//! cargo run --release -p allocator-bench             # everything (a few minutes)
//! cargo run --release -p allocator-bench -- --quick  # the reduced CI set (seconds)
//! cargo run --release -p allocator-bench -- --list   # contestants and suites
//! cargo run --release -p allocator-bench -- --suite arceos --backend ours --backend talc
//! ```
//!
//! It prints a table per suite (each contestant's figure and its ratio to
//! the best), writes CSV files and SVG bar charts into `--out`
//! (`bench-results/` by default), and shows progress on stderr.
//!
//! # Contestants
//!
//! Ours (`tlsf`, `buddy`, `slab` over TLSF, `slab-buddy` over buddy), driven
//! through `allocator_traits::ByteAllocator`; ax-allocator 0.5.6's TLSF, slab
//! and buddy through its own `ByteAllocator` trait; talc 5 (its base `Talc`
//! over one claimed span, no lock); raw `rlsf::Tlsf`; raw
//! `buddy_system_allocator::Heap<32>`; `linked_list_allocator::Heap`; the
//! system allocator where a suite allows it; and a bump allocator that never
//! frees, the floor. All sit behind one object-safe interface, so each pays
//! the same indirect call; an allocator without in-place `realloc` gets
//! alloc + copy + free, as `GlobalAlloc` would give it. The pool (128 MiB
//! unless `--pool-mib` says otherwise, as upstream) is allocated once,
//! page-aligned, and every page touched before any measurement; each
//! contestant is then initialised afresh over it.
//!
//! # Suites
//!
//! 1. **arceos**: the four workloads of ax-allocator 0.5.6's
//!    `benches/collections.rs` with their exact parameters and seed
//!    (`vec_push_3M`, `vec_rand_free_25K_64`, `vec_rand_free_7500_520`,
//!    `btree_map_50K`; the `rand` 0.8 `SmallRng` and shuffle are replicated
//!    bit for bit and checked against rand itself). Median ms of `--reps`
//!    repetitions, each on a fresh contestant; a figure stops repeating once
//!    it has used its time budget, and the table marks it (ax buddy's O(n)
//!    free takes seconds per repetition). `--quick` skips the contestants
//!    whose free is O(free blocks) on the workloads where that costs seconds.
//! 2. **direct**: the same four workloads through the allocator trait
//!    itself, no routing: `allocator_api2::vec::Vec::new_in(handle)` with
//!    ours in `AllocatorRc`, ax-allocator's in a copy of its `AllocatorRc`,
//!    talc, raw rlsf and the bump floor in a `TalcCell`-like cell (and our
//!    TLSF in that cell too, `tlsf-cell`, to show what `AllocatorRc`
//!    costs); the B-tree workload replays the allocations std's `BTreeMap`
//!    makes in upstream's `btree_map` (stable Rust has no
//!    `BTreeMap::new_in`). `--quick` divides every size by ten.
//! 3. **random-actions**: talc's random-actions benchmark (its action mix and
//!    its size and alignment draws) held at 100, 1,000 and 10,000 live
//!    blocks; million operations per second.
//! 4. **efficiency**: talc's heap-efficiency benchmark: random allocs, frees
//!    and reallocs until the first failure; the share of the pool in live
//!    blocks then, averaged over rounds.
//! 5. **phase-shift**: fill the pool with small objects, free them all, then
//!    the largest single block that succeeds, as a share of the pool.
//! 6. **latency**: per-operation cost percentiles (p50, p99, p99.9, max) for
//!    alloc and free, timed one by one with the TSC on x86_64 (`Instant`
//!    elsewhere); contestants take turns in 20 rounds, each on its own pool.
//! 7. **threads**: one heap shared by 1, 2 and 4 threads through
//!    `GlobalAlloc`, as a kernel's global allocator runs: ours in
//!    `allocator_global::GlobalAllocator` (spin lock, fixed arena), talc's
//!    `TalcLock` and ax-allocator behind the same spin lock, and the system
//!    allocator; each thread runs a fixed number of random actions on blocks
//!    of its own; million operations per second in all and per thread
//!    (wall clock). 4 threads oversubscribe a 2-core machine on purpose.
//!    Used bytes must be back at zero after each run.
//! 8. **frames**: page frames on a 64 GiB frame space (page numbers only):
//!    single frames and 2 MiB-aligned runs of 512, allocated and freed; ns
//!    per operation for our `BitmapFrameAllocator`, the previous
//!    `BitmapPageAllocator` engine and the `bitmap-allocator` crate directly.
//! 9. **memory-return**: a burst of mixed blocks (64 MiB; 16 MiB with
//!    `--quick`), written, then freed in shuffled order: the memory each
//!    allocator still holds from the system after the frees and after an
//!    explicit trim, against its peak. Ours as `Growing` heaps over a
//!    counting `MmapSource` (default policy and `keep_free` 0), talc over a
//!    counting `System`, and glibc's malloc by `mallinfo2`.
//! 10. **larson**: Larson-style server churn on the threads suite's
//!     contestants at 1, 2 and 4 threads: each thread replaces random blocks
//!     of a window of 8..1000 B blocks, and hands its window to the next
//!     thread every so often (frees by other threads); ops/s, wall clock.
//! 11. **producer-consumer**: xmalloc-style: half the threads allocate and
//!     send blocks through bounded channels to the other half, which free
//!     them (one thread alternates); ops/s, wall clock.
//!
//! The multi-thread suites (threads, larson, producer-consumer) also run
//! ours behind per-CPU caches (`tlsf-percpu`, `slab-percpu`:
//! `allocator_global::PerCpu` with a slot per thread) and mimalloc; each is
//! selected with its single-threaded counterpart (`--backend tlsf` runs
//! `tlsf` and `tlsf-percpu`, `--backend system` glibc and mimalloc).
//!
//! Each suite module documents its exact procedure.
//!
//! # Clocks and noise
//!
//! Times are the measuring thread's CPU time (`CLOCK_THREAD_CPUTIME_ID` on
//! Linux; wall time elsewhere), so time spent preempted by other processes
//! does not count; the threads suite alone uses wall-clock time, since what
//! it measures includes the time threads wait for a lock. Repetitions go round the contestants in a fresh shuffled
//! order each round, each starting on a fresh time slice (`yield_now`), so
//! what noise remains spreads over all of them. Fast ArceOS figures repeat
//! beyond `--reps` (up to ten times as many, until they have run 300 ms) for
//! a steadier median; slow ones stop early once they have used their budget,
//! and the table marks them. Latencies use the TSC per operation (see the
//! latency suite).
//!
//! # Running the upstream workloads on stable: the routing allocator
//!
//! Upstream writes `Vec::new_in(alloc)` and `BTreeMap::new_in(alloc)`, which
//! need the nightly `allocator_api`. Here the same code uses std's `Vec` and
//! `BTreeMap` unchanged, and this binary's `#[global_allocator]`
//! ([`router::Router`]) sends the measuring thread's requests to the
//! contestant installed for the measurement (a `const` thread-local), and
//! everything else (other threads, the harness between measurements) to the
//! system allocator. Frees and reallocs are routed by address: a block inside
//! the pool goes back to the contestant. The system contestant is routed the
//! same way (it owns every address), so everyone, the bump floor included,
//! pays the same routing cost: a thread-local read, a range check and an
//! indirect call. The harness allocates nothing while routing is on, and a
//! count of routed blocks must be back at zero when it is switched off, so no
//! block can reach the wrong allocator.
#![deny(missing_docs)]

mod contestants;
mod cputime;
mod locked;
mod pool;
mod report;
mod rng;
mod router;
mod stats;
mod suites;

use std::{path::PathBuf, process::ExitCode, time::Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    contestants::Backend,
    pool::Pool,
    suites::{Ctx, Suite},
};

#[global_allocator]
static ROUTER: router::Router = router::Router;

/// Every allocator of this workspace against its peers: ArceOS workloads
/// (routed and direct), random actions, heap efficiency, phase shift, latency, threads, frames,
/// memory return, larson, producer-consumer.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// A suite to run (repeatable); all by default.
    #[arg(long = "suite", value_enum)]
    suites: Vec<Suite>,
    /// A contestant to run, by name or family (ours, ax, peers); repeatable;
    /// all by default. See --list.
    #[arg(long = "backend")]
    backends: Vec<String>,
    /// A contestant to leave out, by name or family (repeatable).
    #[arg(long = "skip")]
    skip: Vec<String>,
    /// Repetitions per figure where a suite repeats [default: 5, --quick: 3].
    #[arg(long)]
    reps: Option<usize>,
    /// The directory for CSV files and SVG charts.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// The reduced set for CI: shorter runs, fewer rounds, slow O(n)
    /// contestants skipped on the workloads where they take seconds.
    #[arg(long)]
    quick: bool,
    /// The pool size in MiB (upstream uses 128).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pool_mib: u16,
    /// Print the contestants and suites, and exit.
    #[arg(long)]
    list: bool,
}

fn print_list(backends: &[Backend]) {
    println!("Contestants (--backend NAME, or a family: ours, ax, peers):");
    for b in backends {
        println!("  {:<24} {:<20} {}", b.name, b.family.to_string(), b.about);
    }
    println!("\nSuites (--suite NAME):");
    for suite in Suite::ALL {
        let name =
            clap::ValueEnum::to_possible_value(&suite).map(|v| v.get_name().to_owned()).unwrap_or_default();
        println!("  {name:<18} {}", suite.about());
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let all = contestants::all();
    // The slab heap's other class tables run only when named (and in the
    // suites that compare memory use; see `contestants::slab_tables`).
    let tables = contestants::slab_tables();
    if cli.list {
        print_list(&all);
        print_list(&tables);
        return ExitCode::SUCCESS;
    }
    for filter in cli.backends.iter().chain(&cli.skip) {
        if !all.iter().chain(&tables).any(|b| b.matches(filter)) {
            eprintln!("unknown contestant {filter:?}; --list shows them");
            return ExitCode::FAILURE;
        }
    }
    let chosen: Vec<&Backend> = all
        .iter()
        .filter(|b| cli.backends.is_empty() || cli.backends.iter().any(|f| b.matches(f)))
        .chain(tables.iter().filter(|b| cli.backends.iter().any(|f| f == b.name)))
        .filter(|b| !cli.skip.iter().any(|f| b.matches(f)))
        .collect();
    let suites = if cli.suites.is_empty() { Suite::ALL.to_vec() } else { cli.suites.clone() };
    let reps = cli.reps.unwrap_or(if cli.quick { 3 } else { 5 }).max(1);
    let pool_size = usize::from(cli.pool_mib) << 20;
    let Some(mut pool) = Pool::new(pool_size) else {
        eprintln!("cannot allocate a {} MiB pool", cli.pool_mib);
        return ExitCode::FAILURE;
    };

    println!("# allocator-bench{}", if cli.quick { " --quick" } else { "" });
    println!(
        "\n{} contestants, {} MiB pool, {reps} reps, {} CPUs; suites: {}",
        chosen.len(),
        cli.pool_mib,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        suites.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "Ratios (x best) compare each figure with the best contestant's other than the bump floor: \
         1.00x is the best, larger is worse."
    );
    let total: u64 = suites.iter().map(|s| s.steps(&chosen, reps, cli.quick)).sum();
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut ctx = Ctx { pool: &mut pool, backends: &chosen, quick: cli.quick, reps, progress: &progress };
    let mut failed = false;
    let mut files = Vec::new();
    for suite in suites {
        let report = match suite {
            Suite::Arceos => suites::arceos::run(&mut ctx),
            Suite::Direct => suites::direct::run(&mut ctx),
            Suite::RandomActions => suites::random_actions::run(&mut ctx),
            Suite::Efficiency => suites::efficiency::run(&mut ctx),
            Suite::PhaseShift => suites::phase_shift::run(&mut ctx),
            Suite::Latency => suites::latency::run(&mut ctx),
            Suite::Threads => suites::threads::run(&mut ctx),
            Suite::Frames => suites::frames::run(&mut ctx),
            Suite::MemoryReturn => suites::memory_return::run(&mut ctx),
            Suite::Larson => suites::larson::run(&mut ctx),
            Suite::ProducerConsumer => suites::producer_consumer::run(&mut ctx),
            Suite::RealSizes => suites::real_sizes::run(&mut ctx),
            Suite::Colouring => suites::colouring::run(&mut ctx),
        };
        progress.suspend(|| {
            for table in &report.tables {
                print!("{}", table.render());
            }
            for failure in &report.failures {
                eprintln!("FAILED: {failure}");
            }
        });
        failed |= !report.failures.is_empty();
        match report::write_files(&report, &cli.out) {
            Ok(written) => files.extend(written),
            Err(e) => {
                progress.suspend(|| eprintln!("writing results: {e}"));
                failed = true;
            }
        }
    }
    progress.finish_and_clear();
    println!(
        "\nWrote {} files to {} in {:.1} s total:",
        files.len(),
        cli.out.display(),
        started.elapsed().as_secs_f64()
    );
    for file in files {
        println!("  {file}");
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
