//! Suite 6: threads. One allocator shared by T threads (1, 2 and 4; 1 and
//! 2 with `--quick`), each through `GlobalAlloc` behind its lock, as a
//! kernel's global allocator runs (see [`crate::locked`]).
//!
//! Every thread first fills its own set of live blocks to N (untimed), waits
//! at a barrier with the others, then runs a fixed number of operations with
//! random actions' mix and draws: realloc a random live block of its own to
//! `1..3,000` bytes (one in seven), allocate (three in seven) or free a
//! random live block of its own (three in seven), keeping between N and 2N
//! live, and writes a tag byte into every block it gets. N is at most 1,000,
//! fewer when the pool split between the threads could not hold 2N
//! worst-case blocks twice over ([`live_blocks_per_thread`]). Each thread
//! reads its clock after the barrier and after its last operation; the
//! figure is all threads' operations over the span from the first start to
//! the last end, in wall-clock time (CPU time would hide what waiting on the
//! lock costs), and that divided by T, per thread. Each figure is the median
//! of `--reps` runs, each on a fresh contestant, the contestants in a fresh
//! shuffled order each round.
//!
//! After each run every thread frees what it holds, checking its tags, and
//! the heap's count of used bytes must be back at zero for ours (the others
//! keep no such count): a correctness guard, not a timing.
//! A lost tag, a failed allocation or a leak makes the run fail.
//!
//! More threads than CPUs (4 on a 2-core machine) is kept on purpose: a
//! spin-lock holder preempted by the scheduler leaves the other threads
//! spinning out their time slices, the case spin locks handle worst.

use std::{
    alloc::Layout,
    ptr::NonNull,
    sync::Barrier,
    time::{Duration, Instant},
};

use super::Ctx;
use crate::{
    locked::{self, LockedBackend, SharedHeap},
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, TalcDraws},
    stats::{Better, median, ratios_to_best},
};

/// The thread counts of the full run.
pub const THREADS: [usize; 3] = [1, 2, 4];
/// The thread counts of `--quick`.
pub const THREADS_QUICK: [usize; 2] = [1, 2];

/// The largest N (each thread keeps between N and 2N blocks live).
pub const MAX_LIVE_TARGET: usize = 1000;
/// Allocation sizes are drawn below this (talc's draw, biased small).
const MAX_SIZE: usize = 1000;
/// Reallocations go up to `REALLOC_MULTI * MAX_SIZE` bytes.
const REALLOC_MULTI: usize = 3;
/// The most a block can take in the worst case: 3,000 bytes rounded up to a
/// power of two by a buddy, at an alignment of up to 2 KiB.
const WORST_BLOCK: usize = 4096;

/// The thread counts a run measures.
pub fn thread_counts(quick: bool) -> &'static [usize] {
    if quick { &THREADS_QUICK } else { &THREADS }
}

/// Operations each thread runs per measurement.
pub fn ops_per_thread(quick: bool) -> u64 {
    if quick { 50_000 } else { 500_000 }
}

/// N, the live blocks each of `threads` threads keeps (it holds up to 2N):
/// [`MAX_LIVE_TARGET`], or fewer so that the pool, split between the
/// threads, holds every thread's 2N worst-case blocks twice over (room for
/// fragmentation); at least 1.
pub fn live_blocks_per_thread(pool_size: usize, threads: usize) -> usize {
    let share = pool_size / threads.max(1);
    (share / (2 * 2 * WORST_BLOCK)).clamp(1, MAX_LIVE_TARGET)
}

/// The one-minute load average from `/proc/loadavg` text (its first field).
pub fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok().filter(|l: &f64| l.is_finite() && *l >= 0.0)
}

/// The one-minute load average, where the system tells it (Linux).
fn load_average() -> Option<f64> {
    parse_load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The contestants of this suite among those chosen on the command line.
pub fn chosen(ctx_backends: &[&crate::contestants::Backend]) -> Vec<LockedBackend> {
    locked::all().into_iter().filter(|l| ctx_backends.iter().any(|b| b.name == l.name)).collect()
}

/// What one thread did.
#[derive(Debug, Clone, Copy)]
struct ThreadRun {
    ops: u64,
    start: Instant,
    end: Instant,
    /// Allocations and reallocations that returned null.
    failed: u64,
    /// Blocks whose tag byte was not what the thread wrote.
    corrupt: u64,
}

/// One thread's work: fill to `target` live blocks, wait at `barrier`, run
/// `ops` operations, free everything.
fn worker(
    heap: &dyn SharedHeap,
    tag: u8,
    target: usize,
    ops: u64,
    seed: u64,
    barrier: &Barrier,
) -> ThreadRun {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::with_capacity(2 * target + 1);
    let mut failed = 0;
    let mut corrupt = 0;
    let draw_layout = |rng: &mut Rng| {
        Layout::from_size_align(rng.talc_size(MAX_SIZE), rng.talc_align()).unwrap_or(Layout::new::<u64>())
    };
    let alloc = |layout: Layout, live: &mut Vec<(NonNull<u8>, Layout)>| {
        // SAFETY: `layout` has a non-zero size (talc's draw is at least 4).
        let block = NonNull::new(unsafe { heap.alloc(layout) });
        if let Some(p) = block {
            // SAFETY: `p` is a fresh block of at least one byte.
            unsafe { p.write(tag) };
            live.push((p, layout));
        }
        u64::from(block.is_none())
    };
    while live.len() < target && failed == 0 {
        failed += alloc(draw_layout(&mut rng), &mut live);
    }
    barrier.wait();
    let start = Instant::now();
    let mut done = 0;
    while done < ops {
        let action = rng.range(0, 7);
        if action == 6 && !live.is_empty() {
            let i = rng.range(0, live.len());
            let (p, layout) = live[i];
            let new_size = rng.range(1, MAX_SIZE * REALLOC_MULTI);
            // SAFETY: `p` is live for `layout`; `new_size` is non-zero and
            // small, so it forms a layout with `layout.align()`.
            match NonNull::new(unsafe { heap.realloc(p.as_ptr(), layout, new_size) }) {
                Some(q) => live[i] = (q, Layout::from_size_align(new_size, layout.align()).unwrap_or(layout)),
                None => failed += 1,
            }
        } else if (action < 3 && live.len() < 2 * target) || live.is_empty() || live.len() < target {
            failed += alloc(draw_layout(&mut rng), &mut live);
        } else {
            let (p, layout) = live.swap_remove(rng.range(0, live.len()));
            // SAFETY: `p` is live and holds the tag at its first byte; it
            // leaves the list and is freed once with its layout.
            unsafe {
                corrupt += u64::from(p.read() != tag);
                heap.dealloc(p.as_ptr(), layout);
            }
        }
        done += 1;
    }
    let end = Instant::now();
    for (p, layout) in live {
        // SAFETY: every block left in the list is live for its layout, with
        // the tag at its first byte (realloc keeps it).
        unsafe {
            corrupt += u64::from(p.read() != tag);
            heap.dealloc(p.as_ptr(), layout);
        }
    }
    ThreadRun { ops: done, start, end, failed, corrupt }
}

/// How one measurement ended.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    /// Operations of all threads.
    pub ops: u64,
    /// From the first thread's start to the last thread's end.
    pub elapsed: Duration,
    /// Allocations that returned null.
    pub failed: u64,
    /// Blocks whose tag was overwritten.
    pub corrupt: u64,
    /// Used bytes after everything was freed (where the heap counts them).
    pub leaked: Option<usize>,
}

/// One measurement: `threads` threads on `heap`, each keeping `target`
/// blocks live and running `ops` operations.
pub fn run_once(heap: &dyn SharedHeap, threads: usize, target: usize, ops: u64, seed: u64) -> RunResult {
    let barrier = Barrier::new(threads);
    let runs: Vec<ThreadRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let tag = (t as u8).wrapping_add(1);
                s.spawn(move || worker(heap, tag, target, ops, seed.wrapping_add(t as u64), barrier))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let start = runs.iter().map(|r| r.start).min();
    let end = runs.iter().map(|r| r.end).max();
    RunResult {
        ops: runs.iter().map(|r| r.ops).sum(),
        elapsed: start.zip(end).map_or(Duration::ZERO, |(s, e)| e.duration_since(s)),
        failed: runs.iter().map(|r| r.failed).sum(),
        corrupt: runs.iter().map(|r| r.corrupt).sum(),
        leaked: heap.used_bytes().filter(|&used| used != 0),
    }
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let backends = chosen(ctx.backends);
    let counts = thread_counts(ctx.quick);
    let ops = ops_per_thread(ctx.quick);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = backends.len();
    let load_before = load_average();
    // rates[backend][count] in Mops/s
    let mut rates = vec![vec![Vec::new(); counts.len()]; n];
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut order: Vec<usize> = (0..n).collect();
    let mut shuffler = Rng::new(0x7472_6561);
    for rep in 0..ctx.reps {
        for (c, &threads) in counts.iter().enumerate() {
            let target = live_blocks_per_thread(ctx.pool.size(), threads);
            shuffler.shuffle(&mut order);
            for &b in &order {
                let backend = &backends[b];
                ctx.step(format!("threads: {threads} x {} rep {}", backend.name, rep + 1));
                match backend.instantiate(ctx.pool) {
                    Ok(heap) => {
                        let r = run_once(&*heap, threads, target, ops, 0x7468_0000 + rep as u64 * 16);
                        rates[b][c].push(r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1e6);
                        let what = format!("{} with {threads} threads, rep {}", backend.name, rep + 1);
                        if r.failed > 0 {
                            failures.push(format!("{what}: {} allocations failed", r.failed));
                        }
                        if r.corrupt > 0 {
                            failures.push(format!("{what}: {} blocks lost their tag byte", r.corrupt));
                        }
                        if let Some(leaked) = r.leaked {
                            failures
                                .push(format!("{what}: {leaked} bytes still used after freeing everything"));
                        }
                    }
                    Err(e) if rep == 0 && c == 0 => notes.push(format!("{}: {e}", backend.name)),
                    Err(_) => {}
                }
                ctx.done();
            }
        }
    }
    let figures: Vec<Vec<Option<f64>>> =
        rates.iter().map(|row| row.iter().map(|r| median(r)).collect()).collect();

    let oversubscribed = |threads: usize| threads > cpus;
    let mut table = TextTable {
        title: format!(
            "Threads (each thread: {} ops of random actions' mix, N..2N live blocks of its own, \
             max {MAX_SIZE} B, realloc up to {} B; one heap behind its lock, through GlobalAlloc): \
             million ops per second, all threads together and per thread, wall clock, median of {}; \
             ratio to the best",
            fmt_figure(ops as f64),
            MAX_SIZE * REALLOC_MULTI,
            ctx.reps
        ),
        headers: vec!["contestant".into()],
        notes,
        ..TextTable::default()
    };
    let mut csv = String::from(
        "contestant,threads,cpus,ops_per_thread,live_blocks_per_thread,mops_per_s,mops_per_s_per_thread,\
         ratio_to_best\n",
    );
    let mut ratios = Vec::new();
    let mut charts = Vec::new();
    for (c, &threads) in counts.iter().enumerate() {
        let mark = if oversubscribed(threads) { "*" } else { "" };
        table.headers.push(format!("{threads}T{mark} Mops/s"));
        table.headers.push("/thread".into());
        table.headers.push("x best".into());
        let column: Vec<Option<f64>> = figures.iter().map(|row| row[c]).collect();
        ratios.push(ratios_to_best(&column, &vec![true; n], Better::Higher));
        charts.push(Chart {
            file: format!("threads_{threads}"),
            title: format!(
                "{threads} thread{} on {cpus} CPUs, one locked heap (Mops/s in all, higher is better)",
                if threads == 1 { "" } else { "s" }
            ),
            unit: "million operations per second, all threads".into(),
            bars: backends
                .iter()
                .zip(&column)
                .filter_map(|(b, f)| Some((b.name.to_owned(), (*f)?)))
                .collect(),
            log_ok: true,
        });
    }
    for (i, (backend, row)) in backends.iter().zip(&figures).enumerate() {
        let mut line = vec![backend.name.to_owned()];
        for (c, figure) in row.iter().enumerate() {
            let threads = counts[c];
            match figure {
                Some(mops) => {
                    let per_thread = mops / threads as f64;
                    line.push(fmt_figure(*mops));
                    line.push(fmt_figure(per_thread));
                    line.push(fmt_ratio(ratios[c][i]));
                    csv.push_str(&format!(
                        "{},{threads},{cpus},{ops},{},{mops:.4},{per_thread:.4},{}\n",
                        csv_field(backend.name),
                        live_blocks_per_thread(ctx.pool.size(), threads),
                        ratios[c][i].map_or(String::new(), |r| format!("{r:.4}"))
                    ));
                }
                None => line.extend(["-".into(), "-".into(), "-".into()]),
            }
        }
        table.rows.push(line);
    }
    for backend in &backends {
        table.notes.push(format!("{}: {}", backend.name, backend.about));
    }
    let targets: Vec<String> =
        counts.iter().map(|&t| format!("{t}T: N = {}", live_blocks_per_thread(ctx.pool.size(), t))).collect();
    table.notes.push(format!("live blocks per thread: {}", targets.join(", ")));
    if counts.iter().any(|&t| oversubscribed(t)) {
        table.notes.push(format!(
            "* more threads than the {cpus} CPUs: oversubscribed on purpose; a preempted lock holder leaves \
             the others spinning out their time slices (what spin locks hate)"
        ));
    }
    if let Some(before) = load_before {
        table.notes.push(format!(
            "load average {before:.2} before, {} after, on {cpus} CPUs: wall-clock figures include what other \
             processes take",
            load_average().map_or("-".into(), |l| format!("{l:.2}"))
        ));
    }
    table.notes.extend(failures.iter().map(|f| format!("FAILED: {f}")));
    SuiteReport { tables: vec![table], csv: vec![("threads.csv".into(), csv)], charts, failures }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Pool;

    #[test]
    fn live_blocks_shrink_with_the_pool_share_and_stay_positive() {
        // 128 MiB over 4 threads: 32 MiB each, room for the full 1,000.
        assert_eq!(live_blocks_per_thread(128 << 20, 4), MAX_LIVE_TARGET);
        // 16 MiB over 4: 4 MiB each, 4 MiB / (4 x 4 KiB) = 256.
        assert_eq!(live_blocks_per_thread(16 << 20, 4), 256);
        assert_eq!(live_blocks_per_thread(16 << 20, 2), 512);
        // Tiny pools still run one block per thread; zero threads count as one.
        assert_eq!(live_blocks_per_thread(4096, 4), 1);
        assert_eq!(live_blocks_per_thread(1 << 20, 0), 64);
        // Every thread's 2N worst-case blocks fit in its share twice over.
        for mib in [1, 3, 16, 128] {
            for threads in [1, 2, 3, 4, 8] {
                let n = live_blocks_per_thread(mib << 20, threads);
                assert!(threads * 2 * n * WORST_BLOCK * 2 <= mib << 20, "{mib} MiB, {threads} threads");
            }
        }
    }

    #[test]
    fn load_average_is_the_first_field() {
        assert_eq!(parse_load_average("4.31 4.64 5.05 3/412 27001\n"), Some(4.31));
        assert_eq!(parse_load_average("0.00 0.01 0.05 1/80 1"), Some(0.0));
        assert_eq!(parse_load_average(""), None);
        assert_eq!(parse_load_average("busy 1 2"), None);
        assert_eq!(parse_load_average("-1 0 0"), None);
        assert_eq!(parse_load_average("NaN 0 0"), None);
    }

    #[test]
    fn a_run_counts_every_operation_and_frees_everything() {
        let mut pool = Pool::new(4 << 20).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "tlsf").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let r = run_once(&*heap, 2, 50, 2_000, 9);
        assert_eq!(r.ops, 4_000);
        assert!(r.elapsed > Duration::ZERO);
        assert_eq!((r.failed, r.corrupt, r.leaked), (0, 0, None));
        assert_eq!(heap.used_bytes(), Some(0));
    }

    #[test]
    fn a_block_left_live_is_reported_as_a_leak() {
        let mut pool = Pool::new(1 << 20).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "slab").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: a non-zero-size layout.
        let outside = unsafe { heap.alloc(layout) };
        assert!(!outside.is_null());
        let r = run_once(&*heap, 1, 10, 100, 1);
        assert!(r.leaked.is_some_and(|bytes| bytes >= 64), "{:?}", r.leaked);
        // SAFETY: `outside` is live for `layout`.
        unsafe { heap.dealloc(outside, layout) };
        assert_eq!(heap.used_bytes(), Some(0));
    }

    #[test]
    fn an_exhausted_heap_is_reported_not_hidden() {
        // 64 KiB cannot hold 2 x 500 blocks of up to 1,000 bytes.
        let mut pool = Pool::new(64 << 10).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "tlsf").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let r = run_once(&*heap, 2, 500, 1_000, 3);
        assert!(r.failed > 0);
        assert_eq!((r.corrupt, r.leaked), (0, None), "what did fit is freed");
    }
}
