//! Suite 2: talc's random-actions benchmark, held at a number of live blocks.
//!
//! As talc's `benches/src/random_actions.rs`: each action is one of seven
//! equally likely: realloc a random live block to `1..3 * MAX_SIZE` bytes
//! (one in seven), allocate (three in seven) or free a random live block
//! (three in seven); sizes and alignments drawn by talc's `generate_size`
//! (`MAX_SIZE` = 1,000 bytes, biased small) and `generate_align` (75% word
//! size, up to 2 KiB). Where talc only keeps at least 300 blocks live, here
//! the live count stays between N and 2N (allocate below N, free at 2N), for
//! N = 100, 1,000, 10,000, after an untimed fill to N. The clock runs for a
//! fixed time; the figure is successful operations per second. A contestant
//! that runs out of memory (the bump floor) stops there, and is scored on
//! the operations it did until then.

use std::{alloc::Layout, ptr::NonNull, time::Duration};

use super::Ctx;
use crate::{
    contestants::Contestant,
    cputime::{Stopwatch, clock_name},
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, TalcDraws},
    stats::{Better, median, ratios_to_best},
};

/// The numbers of live blocks (lower bounds; the count stays below twice).
pub const LIVE_TARGETS: [usize; 3] = [100, 1_000, 10_000];

/// talc's smallest `RA_MAX_ALLOC_SIZES` entry.
const MAX_SIZE: usize = 1000;
/// talc's `RA_MAX_REALLOC_SIZE_MULTI`.
const REALLOC_MULTI: usize = 3;

/// How one timed run ended.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    /// Successful operations.
    pub ops: u64,
    /// Time they took (the thread's CPU time: see [`crate::cputime`]).
    pub elapsed: Duration,
    /// Whether the contestant ran out of memory.
    pub exhausted: bool,
    /// Blocks returned misaligned for their layout.
    pub misaligned: u64,
}

/// One run at `target` live blocks for `duration` (plus an untimed fill and
/// an untimed free of the survivors).
pub fn run_once(c: &mut dyn Contestant, target: usize, duration: Duration, seed: u64) -> RunResult {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::with_capacity(2 * target + 1);
    let mut result = RunResult { ops: 0, elapsed: Duration::ZERO, exhausted: false, misaligned: 0 };
    let draw_layout = |rng: &mut Rng| {
        let size = rng.talc_size(MAX_SIZE);
        Layout::from_size_align(size, rng.talc_align()).unwrap_or(Layout::new::<u64>())
    };
    while live.len() < target {
        let layout = draw_layout(&mut rng);
        match c.alloc(layout) {
            Some(p) => live.push((p, layout)),
            None => {
                result.exhausted = true;
                break;
            }
        }
    }
    let watch = Stopwatch::start();
    'timed: while !result.exhausted && watch.wall() < duration {
        for _ in 0..100 {
            let action = rng.range(0, 7);
            if action == 6 && !live.is_empty() {
                let i = rng.range(0, live.len());
                let (p, layout) = live[i];
                let new_size = rng.range(1, MAX_SIZE * REALLOC_MULTI);
                // SAFETY: `p` is live for `layout`; `new_size` is non-zero and
                // small, so it forms a layout with `layout.align()`.
                match unsafe { c.realloc(p, layout, new_size) } {
                    Some(q) => {
                        result.misaligned += u64::from(q.addr().get() % layout.align() != 0);
                        live[i] = (q, Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
                    }
                    None => {
                        result.exhausted = true;
                        break 'timed;
                    }
                }
            } else if (action < 3 && live.len() < 2 * target) || live.len() < target {
                let layout = draw_layout(&mut rng);
                match c.alloc(layout) {
                    Some(p) => {
                        result.misaligned += u64::from(p.addr().get() % layout.align() != 0);
                        live.push((p, layout));
                    }
                    None => {
                        result.exhausted = true;
                        break 'timed;
                    }
                }
            } else {
                let (p, layout) = live.swap_remove(rng.range(0, live.len()));
                // SAFETY: `p` was live for `layout` and leaves the list.
                unsafe { c.dealloc(p, layout) };
            }
            result.ops += 1;
        }
    }
    result.elapsed = watch.elapsed();
    for (p, layout) in live {
        // SAFETY: every block left in the list is live for its layout.
        unsafe { c.dealloc(p, layout) };
    }
    result
}

/// Runs the suite.
/// The timed runs per figure: at most 3 (1 with `--quick`).
pub fn trials(quick: bool, reps: usize) -> usize {
    if quick { 1 } else { reps.clamp(1, 3) }
}

/// Runs the suite. Trials go round the contestants, as in the ArceOS suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let duration = if ctx.quick { Duration::from_millis(40) } else { Duration::from_millis(200) };
    let trials = trials(ctx.quick, ctx.reps);
    let n = ctx.backends.len();
    // rates[backend][target]; flags[backend][target] = (exhausted, misaligned)
    let mut rates = vec![vec![Vec::new(); LIVE_TARGETS.len()]; n];
    let mut flags = vec![vec![(false, 0u64); LIVE_TARGETS.len()]; n];
    let mut errors = Vec::new();
    let mut order: Vec<usize> = (0..n).collect();
    let mut shuffler = Rng::new(0x00a2_ce06);
    for trial in 0..trials {
        for (t, &target) in LIVE_TARGETS.iter().enumerate() {
            shuffler.shuffle(&mut order);
            for &b in &order {
                let backend = ctx.backends[b];
                ctx.step(format!("random actions: {target} live / {} trial {}", backend.name, trial + 1));
                match backend.instantiate(ctx.pool) {
                    Ok(mut instance) => {
                        std::thread::yield_now();
                        let r = run_once(&mut *instance, target, duration, 0x7a1c_0000 + trial as u64);
                        rates[b][t].push(r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1e6);
                        flags[b][t].0 |= r.exhausted;
                        flags[b][t].1 += r.misaligned;
                    }
                    Err(e) if trial == 0 && t == 0 => errors.push(format!("{}: {e}", backend.name)),
                    Err(_) => {}
                }
                ctx.done();
            }
        }
    }
    // figures[backend][target] = (median Mops/s, exhausted, misaligned)
    let figures: Vec<Vec<Option<(f64, bool, u64)>>> = (0..n)
        .map(|b| {
            (0..LIVE_TARGETS.len())
                .map(|t| median(&rates[b][t]).map(|m| (m, flags[b][t].0, flags[b][t].1)))
                .collect()
        })
        .collect();

    let mut table = TextTable {
        title: format!(
            "Random actions (talc's mix and size/align draws, max {MAX_SIZE} B, realloc up to {} B): \
             million ops per second of {}, median of {trials} x {} ms; ratio to the best",
            MAX_SIZE * REALLOC_MULTI,
            clock_name(),
            duration.as_millis()
        ),
        headers: vec!["contestant".into()],
        notes: errors,
        ..TextTable::default()
    };
    let mut csv = String::from("contestant,live_blocks,mops_per_s,ratio_to_best,exhausted,misaligned\n");
    let mut ratios = Vec::new();
    let mut charts = Vec::new();
    for (t, target) in LIVE_TARGETS.iter().enumerate() {
        table.headers.push(format!("{target} live Mops/s"));
        table.headers.push("x best".into());
        let column: Vec<Option<f64>> = figures.iter().map(|row| row[t].map(|f| f.0)).collect();
        ratios.push(ratios_to_best(&column, &ctx.yardsticks(), Better::Higher));
        charts.push(Chart {
            file: format!("random_actions_{target}"),
            title: format!("Random actions, {target}..{} live blocks (Mops/s, higher is better)", 2 * target),
            unit: "million operations per second".into(),
            bars: ctx
                .backends
                .iter()
                .zip(&column)
                .filter_map(|(b, f)| Some((b.name.to_owned(), (*f)?)))
                .collect(),
            log_ok: true,
        });
    }
    for (i, (backend, row)) in ctx.backends.iter().zip(&figures).enumerate() {
        let mut line = vec![backend.name.to_owned()];
        for (t, figure) in row.iter().enumerate() {
            match figure {
                Some((mops, exhausted, misaligned)) => {
                    line.push(format!("{}{}", fmt_figure(*mops), if *exhausted { "!" } else { "" }));
                    line.push(fmt_ratio(ratios[t][i]));
                    csv.push_str(&format!(
                        "{},{},{mops:.4},{},{exhausted},{misaligned}\n",
                        csv_field(backend.name),
                        LIVE_TARGETS[t],
                        ratios[t][i].map_or(String::new(), |r| format!("{r:.4}"))
                    ));
                    if *misaligned > 0 {
                        table.notes.push(format!(
                            "{} at {} live: {misaligned} blocks returned misaligned",
                            backend.name, LIVE_TARGETS[t]
                        ));
                    }
                }
                None => {
                    line.push("-".into());
                    line.push("-".into());
                }
            }
        }
        table.rows.push(line);
    }
    if figures.iter().flatten().flatten().any(|f| f.1) {
        table
            .notes
            .push("! ran out of memory during the run (the bump floor never frees): ops/s until then".into());
    }
    SuiteReport {
        tables: vec![table],
        csv: vec![("random_actions.csv".into(), csv)],
        charts,
        failures: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn a_short_run_counts_operations_and_stops_when_exhausted() {
        let pool = Pool::new(1 << 20).unwrap();
        let mut bump = Bump::new(pool.base(), pool.size());
        let r = run_once(&mut bump, 100, Duration::from_secs(5), 1);
        assert!(r.exhausted, "a 1 MiB bump pool runs out long before 5 s");
        assert!(r.ops > 100);
        assert_eq!(r.misaligned, 0);
    }
}
