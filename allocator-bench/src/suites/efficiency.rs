//! Suite 3: talc's heap-efficiency benchmark.
//!
//! As talc's `benches/src/heap_efficiency.rs`: random actions until the first
//! failure, five in ten an allocation (`generate_size(10_000)`,
//! `generate_align()`), one in ten a free of a random live block, four in ten
//! a realloc of a random live block to `1..100_000` bytes. At the first
//! failed allocation or realloc the round ends, and the figure is the sum of
//! the requested sizes of the live blocks over the pool size. Unlike talc,
//! each round starts on a fresh contestant (talc reuses one after freeing
//! everything), so the bump floor can take part; the figure is the mean over
//! the rounds.

use std::{
    alloc::Layout,
    ptr::NonNull,
    time::{Duration, Instant},
};

use super::Ctx;
use crate::{
    contestants::{Contestant, Family},
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, TalcDraws},
    stats::{Better, mean, ratios_to_best},
};

/// talc's `HE_MAX_ALLOC_SIZE`.
const MAX_SIZE: usize = 10_000;
/// talc's `HE_MAX_REALLOC_SIZE_MULTI`.
const REALLOC_MULTI: usize = 10;

/// One round on a fresh contestant: the share (0..=1) of `pool_size` in
/// live blocks at the first failure, and the operations it took.
pub fn round(c: &mut dyn Contestant, pool_size: usize, seed: u64) -> (f64, u64) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let mut ops = 0;
    loop {
        ops += 1;
        match rng.range(0, 10) {
            0..=4 => {
                let size = rng.talc_size(MAX_SIZE);
                let layout = Layout::from_size_align(size, rng.talc_align()).unwrap_or(Layout::new::<u64>());
                match c.alloc(layout) {
                    Some(p) => live.push((p, layout)),
                    None => break,
                }
            }
            5 => {
                if !live.is_empty() {
                    let (p, layout) = live.swap_remove(rng.range(0, live.len()));
                    // SAFETY: `p` was live for `layout` and leaves the list.
                    unsafe { c.dealloc(p, layout) };
                }
            }
            _ => {
                if !live.is_empty() {
                    let i = rng.range(0, live.len());
                    let (p, layout) = live[i];
                    let new_size = rng.range(1, MAX_SIZE * REALLOC_MULTI);
                    // SAFETY: `p` is live for `layout`; `new_size` is non-zero
                    // and forms a layout with the (small) alignment.
                    match unsafe { c.realloc(p, layout, new_size) } {
                        Some(q) => {
                            live[i] = (q, Layout::from_size_align(new_size, layout.align()).unwrap_or(layout))
                        }
                        None => break,
                    }
                }
            }
        }
    }
    let used: usize = live.iter().map(|(_, l)| l.size()).sum();
    for (p, layout) in live {
        // SAFETY: every block left in the list is live for its layout.
        unsafe { c.dealloc(p, layout) };
    }
    (used as f64 / pool_size as f64, ops)
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let rounds = if ctx.quick { 4 } else { 30 };
    // A contestant stops early once its rounds took this long (at least one).
    let budget = if ctx.quick { Duration::from_secs(2) } else { Duration::from_secs(10) };
    let pool_size = ctx.pool.size();
    let mut rows = Vec::new();
    let mut yardsticks = Vec::new();
    let mut notes = Vec::new();
    for backend in ctx.backends.iter().filter(|b| b.uses_pool()) {
        ctx.step(format!("efficiency: {}", backend.name));
        let started = Instant::now();
        let mut shares = Vec::new();
        let mut ops = 0;
        for r in 0..rounds {
            if r > 0 && started.elapsed() > budget {
                break;
            }
            match backend.instantiate(ctx.pool) {
                Ok(mut instance) => {
                    let (share, n) = round(&mut *instance, pool_size, 0xeff1_c1e0 + r as u64);
                    shares.push(share * 100.0);
                    ops += n;
                }
                Err(e) => {
                    notes.push(format!("{}: {e}", backend.name));
                    break;
                }
            }
        }
        let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
        rows.push((backend.name, mean(&shares), min, shares.len(), ops));
        yardsticks.push(backend.family != Family::Floor);
        ctx.done();
    }
    if ctx.backends.iter().any(|b| !b.uses_pool()) {
        notes.push("system: left out (not bound to a pool)".into());
    }
    let figures: Vec<Option<f64>> = rows.iter().map(|r| r.1).collect();
    let ratios = ratios_to_best(&figures, &yardsticks, Better::Higher);
    let mut table = TextTable {
        title: format!(
            "Heap efficiency (talc's: sizes up to {MAX_SIZE} B, reallocs up to {} B): % of the {} MiB pool \
             in live blocks at the first failure; mean of up to {rounds} rounds",
            MAX_SIZE * REALLOC_MULTI,
            pool_size >> 20
        ),
        headers: ["contestant", "mean %", "x best", "worst %", "rounds", "ops/round"]
            .map(String::from)
            .to_vec(),
        notes,
        ..TextTable::default()
    };
    let mut csv = String::from("contestant,mean_percent,ratio_to_best,worst_percent,rounds\n");
    for (row, ratio) in rows.iter().zip(&ratios) {
        let (name, mean, min, n, ops) = *row;
        table.rows.push(vec![
            name.to_owned(),
            mean.map_or("-".into(), fmt_figure),
            fmt_ratio(*ratio),
            fmt_figure(min),
            n.to_string(),
            fmt_figure(ops as f64 / n.max(1) as f64),
        ]);
        csv.push_str(&format!(
            "{},{},{},{min:.4},{n}\n",
            csv_field(name),
            mean.map_or(String::new(), |m| format!("{m:.4}")),
            ratio.map_or(String::new(), |r| format!("{r:.4}"))
        ));
    }
    if rows.iter().any(|r| r.3 < rounds) {
        table.notes.push(format!("fewer rounds than {rounds}: a contestant's rounds stop after {budget:?}"));
    }
    let chart = Chart {
        file: "efficiency".into(),
        title: "Heap efficiency (% of the pool in use at the first failure, higher is better)".into(),
        unit: "% of pool".into(),
        bars: rows.iter().filter_map(|r| Some((r.0.to_owned(), r.1?))).collect(),
        log_ok: false,
    };
    SuiteReport {
        tables: vec![table],
        csv: vec![("efficiency.csv".into(), csv)],
        charts: vec![chart],
        failures: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn a_bump_round_fills_part_of_its_pool() {
        let pool = Pool::new(4 << 20).unwrap();
        let mut bump = Bump::new(pool.base(), pool.size());
        let (share, ops) = round(&mut bump, pool.size(), 3);
        assert!(share > 0.0 && share < 1.0, "{share}");
        assert!(ops > 10);
        assert!(bump.used() > pool.size() / 2, "the round ended near exhaustion");
    }
}
