//! What the multi-thread suites (threads, larson, producer-consumer) share:
//! the contestants ([`crate::locked`]), the thread counts, the measuring
//! loop (each figure the median of `--reps` runs, each on a fresh
//! contestant, the contestants in a fresh shuffled order each round, the
//! thread counts interleaved), the correctness checks after each run and the
//! table, CSV file and charts.
//!
//! Every run reports its operations and the wall-clock span from the first
//! thread's start (after a barrier) to the last thread's end: CPU time would
//! hide what waiting on a lock costs.

use std::time::{Duration, Instant};

use super::Ctx;
use crate::{
    locked::{self, LockedBackend, SharedHeap},
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::Rng,
    stats::{Better, median, ratios_to_best},
};

/// The smallest block of the larson and producer-consumer suites (room for
/// the stamp).
pub const MIN_SIZE: usize = 8;
/// Their largest block.
pub const MAX_SIZE: usize = 1000;
/// The alignment of every block (malloc's minimum).
pub const ALIGN: usize = 8;

/// A stamped block of the larson and producer-consumer suites.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Its start.
    pub p: std::ptr::NonNull<u8>,
    /// Its size (at least [`MIN_SIZE`]).
    pub size: usize,
    /// What [`write_stamp`] wrote into it.
    pub stamp: u64,
}

/// What one thread of those suites did.
#[derive(Debug, Clone, Copy)]
pub struct ThreadRun {
    /// Operations (allocations and frees).
    pub ops: u64,
    /// When its timed part ran.
    pub span: Span,
    /// Allocations that failed.
    pub failed: u64,
    /// Blocks whose stamp was wrong when freed.
    pub corrupt: u64,
}

/// Allocates a stamped block of `size` bytes (at least [`MIN_SIZE`]) from
/// `heap`, or `None`.
pub fn alloc_block(heap: &dyn crate::locked::SharedHeap, size: usize, stamp: u64) -> Option<Block> {
    let layout = std::alloc::Layout::from_size_align(size, ALIGN).ok()?;
    // SAFETY: `layout` has a non-zero size (at least `MIN_SIZE`).
    let p = std::ptr::NonNull::new(unsafe { heap.alloc(layout) })?;
    // SAFETY: a fresh block of `size >= 8` bytes.
    unsafe { write_stamp(p.as_ptr(), size, stamp) };
    Some(Block { p, size, stamp })
}

/// Checks a block's stamp and frees it; whether the stamp was intact. The
/// block must be live and freed only here (each suite hands every block to
/// exactly one owner).
pub fn free_block(heap: &dyn crate::locked::SharedHeap, block: Block) -> bool {
    // SAFETY: `block` came from `alloc_block` on `heap` (live, `size >= 8`
    // bytes, that layout), and its one owner frees it once, here.
    unsafe {
        let intact = check_stamp(block.p.as_ptr(), block.size, block.stamp);
        heap.dealloc(block.p.as_ptr(), std::alloc::Layout::from_size_align_unchecked(block.size, ALIGN));
        intact
    }
}

/// The thread counts of the full run.
pub const THREADS: [usize; 3] = [1, 2, 4];
/// The thread counts of `--quick`.
pub const THREADS_QUICK: [usize; 2] = [1, 2];

/// The thread counts a run measures.
pub fn thread_counts(quick: bool) -> &'static [usize] {
    if quick { &THREADS_QUICK } else { &THREADS }
}

/// The contestants of the multi-thread suites among those chosen on the
/// command line (each selected by its single-threaded counterpart).
pub fn chosen(ctx_backends: &[&crate::contestants::Backend]) -> Vec<LockedBackend> {
    locked::all().into_iter().filter(|l| ctx_backends.iter().any(|b| b.name == l.counterpart)).collect()
}

/// The one-minute load average from `/proc/loadavg` text (its first field).
pub fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok().filter(|l: &f64| l.is_finite() && *l >= 0.0)
}

/// The one-minute load average, where the system tells it (Linux).
fn load_average() -> Option<f64> {
    parse_load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// When one thread of a run started and ended its timed part.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Read right after the start barrier.
    pub start: Instant,
    /// Read after the thread's last timed operation.
    pub end: Instant,
}

/// From the first start to the last end of `spans`.
pub fn wall_span(spans: impl IntoIterator<Item = Span> + Clone) -> Duration {
    let start = spans.clone().into_iter().map(|s| s.start).min();
    let end = spans.into_iter().map(|s| s.end).max();
    start.zip(end).map_or(Duration::ZERO, |(s, e)| e.duration_since(s))
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
    /// Blocks whose contents were not what their thread wrote.
    pub corrupt: u64,
    /// Used bytes after everything was freed (where the heap counts them).
    pub leaked: Option<usize>,
}

/// What differs between the multi-thread suites.
pub struct Spec<'a> {
    /// The suite's name: CSV file `{name}.csv`, charts `{name}_{threads}.svg`.
    pub name: &'static str,
    /// The table's title, before the common "million ops per second" part.
    pub title: String,
    /// What the chart titles say the threads share.
    pub chart_what: &'static str,
    /// Operations each thread runs (the CSV's `ops_per_thread`).
    pub ops_per_thread: u64,
    /// Live blocks per thread at `threads` threads (the CSV's
    /// `live_blocks_per_thread`), and the note saying what they are.
    pub live: &'a dyn Fn(usize) -> usize,
    /// What [`live`](Self::live) counts, for the note under the table.
    pub live_what: &'static str,
    /// One measurement: `threads` threads on a fresh heap, with a seed.
    pub once: &'a dyn Fn(&dyn SharedHeap, usize, u64) -> RunResult,
    /// The base of the seeds (rep `r` uses `seed + 16 r`).
    pub seed: u64,
}

/// Measures every chosen contestant at every thread count and makes the
/// report.
pub fn run(ctx: &mut Ctx<'_>, spec: &Spec<'_>) -> SuiteReport {
    let backends = chosen(ctx.backends);
    let counts = thread_counts(ctx.quick);
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
            shuffler.shuffle(&mut order);
            for &b in &order {
                let backend = &backends[b];
                ctx.step(format!("{}: {threads} x {} rep {}", spec.name, backend.name, rep + 1));
                // Each measurement starts on a fresh time slice.
                std::thread::yield_now();
                match backend.instantiate(ctx.pool) {
                    Ok(heap) => {
                        let r = (spec.once)(&*heap, threads, spec.seed + rep as u64 * 16);
                        rates[b][c].push(r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1e6);
                        let what = format!("{} with {threads} threads, rep {}", backend.name, rep + 1);
                        if r.failed > 0 {
                            failures.push(format!("{what}: {} allocations failed", r.failed));
                        }
                        if r.corrupt > 0 {
                            failures.push(format!("{what}: {} blocks lost their contents", r.corrupt));
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
            "{}: million ops per second, all threads together and per thread, wall clock, median of {}; \
             ratio to the best",
            spec.title, ctx.reps
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
            file: format!("{}_{threads}", spec.name),
            title: format!(
                "{}: {threads} thread{} on {cpus} CPUs, {} (Mops/s in all, higher is better)",
                spec.name,
                if threads == 1 { "" } else { "s" },
                spec.chart_what
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
                        "{},{threads},{cpus},{},{},{mops:.4},{per_thread:.4},{}\n",
                        csv_field(backend.name),
                        spec.ops_per_thread,
                        (spec.live)(threads),
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
    let live: Vec<String> = counts.iter().map(|&t| format!("{t}T: {}", (spec.live)(t))).collect();
    table.notes.push(format!("{}: {}", spec.live_what, live.join(", ")));
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
    SuiteReport { tables: vec![table], csv: vec![(format!("{}.csv", spec.name), csv)], charts, failures }
}

/// The progress steps of a multi-thread suite.
pub fn steps(backends: &[&crate::contestants::Backend], reps: usize, quick: bool) -> u64 {
    (chosen(backends).len() * thread_counts(quick).len() * reps) as u64
}

/// A stamp for a block: its owner's seed mixed with a running number, so
/// blocks of different threads and different moments differ.
pub fn stamp(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^ (z >> 29) | 1
}

/// The byte [`write_stamp`] writes last: the stamp's eighth byte in memory
/// order, so an 8-byte block (whose last byte is that one) agrees with it.
fn last_byte(stamp: u64) -> u8 {
    stamp.to_ne_bytes()[7]
}

/// Writes `stamp` into the first 8 bytes of a block of `size >= 8` bytes
/// and [`last_byte`] into its last byte.
///
/// # Safety
///
/// `p` points to a live block of at least `size >= 8` writable bytes.
pub unsafe fn write_stamp(p: *mut u8, size: usize, stamp: u64) {
    // SAFETY: the caller's contract: `size >= 8` bytes are writable, so both
    // the first eight and the last one are inside the block.
    unsafe {
        p.cast::<u64>().write_unaligned(stamp);
        p.add(size - 1).write(last_byte(stamp));
    }
}

/// Whether a block still holds what [`write_stamp`] wrote.
///
/// # Safety
///
/// As for [`write_stamp`]: a live block of at least `size >= 8` bytes.
pub unsafe fn check_stamp(p: *const u8, size: usize, stamp: u64) -> bool {
    // SAFETY: the caller's contract, as for `write_stamp`.
    unsafe { p.cast::<u64>().read_unaligned() == stamp && p.add(size - 1).read() == last_byte(stamp) }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn stamps_differ_and_are_checked() {
        assert_ne!(stamp(1, 2), stamp(1, 3));
        assert_ne!(stamp(1, 2), stamp(2, 2));
        let mut block = [0u8; 24];
        // SAFETY: 24 writable bytes.
        unsafe {
            write_stamp(block.as_mut_ptr(), 24, stamp(5, 6));
            assert!(check_stamp(block.as_ptr(), 24, stamp(5, 6)));
            assert!(!check_stamp(block.as_ptr(), 24, stamp(5, 7)));
        }
        // An 8-byte block: the last byte is the stamp's own.
        // SAFETY: 8 of the 24 writable bytes.
        unsafe {
            write_stamp(block.as_mut_ptr(), 8, stamp(5, 6));
            assert!(check_stamp(block.as_ptr(), 8, stamp(5, 6)));
            write_stamp(block.as_mut_ptr(), 24, stamp(5, 6));
        }
        block[23] ^= 1;
        // SAFETY: as above.
        assert!(!unsafe { check_stamp(block.as_ptr(), 24, stamp(5, 6)) });
    }

    #[test]
    fn percpu_names_select_with_their_counterparts() {
        let all = crate::contestants::all();
        let pick = |names: &[&str]| -> Vec<&'static str> {
            let chosen: Vec<&crate::contestants::Backend> =
                all.iter().filter(|b| names.contains(&b.name)).collect();
            super::chosen(&chosen).iter().map(|l| l.name).collect()
        };
        assert_eq!(pick(&["tlsf", "system"]), ["tlsf", "tlsf-percpu", "system", "mimalloc"]);
        assert_eq!(pick(&["slab"]), ["slab", "slab-percpu"]);
    }
}
