//! Suite 1: the four workloads of ax-allocator 0.5.6's
//! `benches/collections.rs`, with its parameters, seed and shapes, on std
//! collections routed to each contestant (see [`crate::router`]).

use std::{collections::BTreeMap, hint::black_box, io::Write as _, time::Duration};

use super::Ctx;
use crate::{
    cputime::clock_name,
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, SmallRng},
    router::time_routed,
    stats::{Better, median, ratios_to_best},
};

/// One upstream workload.
pub struct Workload {
    /// Its upstream name.
    pub name: &'static str,
    run: fn(),
    /// Contestants whose free is O(free blocks) here (seconds per
    /// repetition): `--quick` leaves them out.
    slow: &'static [&'static str],
}

pub(crate) const BUDDY_LISTS: &[&str] = &["ax-buddy", "buddy_system_allocator", "linked_list_allocator"];

/// The four workloads, in upstream order.
pub const WORKLOADS: [Workload; 4] = [
    Workload { name: "vec_push_3M", run: || vec_push(black_box(3_000_000)), slow: &[] },
    Workload {
        name: "vec_rand_free_25K_64",
        run: || vec_rand_free(black_box(25_000), black_box(64)),
        slow: BUDDY_LISTS,
    },
    Workload {
        name: "vec_rand_free_7500_520",
        run: || vec_rand_free(black_box(7_500), black_box(520)),
        slow: &["ax-slab", "ax-buddy", "buddy_system_allocator", "linked_list_allocator"],
    },
    Workload { name: "btree_map_50K", run: || btree_map(black_box(50_000)), slow: BUDDY_LISTS },
];

/// Upstream `vec_push`: push `n` words onto one growing vector.
#[allow(clippy::same_item_push)] // As upstream: the pushes are the point.
fn vec_push(n: usize) {
    let mut v: Vec<u32> = Vec::new();
    for _ in 0..n {
        v.push(0xdead_beef);
    }
    drop(v);
}

/// Upstream `vec_rand_free`: `n` vectors of `blk_size` words, then each
/// replaced by an empty one in shuffled order.
fn vec_rand_free(n: usize, blk_size: usize) {
    let mut v = Vec::new();
    for _ in 0..n {
        let block = Vec::<u64>::with_capacity(blk_size);
        v.push(block);
    }

    let mut rng = SmallRng::seed_from_u64(0xdead_beef);
    let mut index = Vec::with_capacity(n);
    for i in 0..n {
        index.push(i);
    }
    rng.shuffle(&mut index);

    for i in index {
        v[i] = Vec::new();
    }
    drop(v);
}

/// Upstream `btree_map`: `n` steps of insert (string keys) or, one time in
/// five, pop the first entry.
pub(crate) fn btree_map(n: usize) {
    let mut rng = SmallRng::seed_from_u64(0xdead_beef);
    let mut m = BTreeMap::new();
    for _ in 0..n {
        if rng.next_u32() % 5 == 0 && !m.is_empty() {
            m.pop_first();
        } else {
            let value = rng.next_u32();
            let mut key = Vec::new();
            // Writing to a Vec cannot fail.
            let _ = write!(&mut key, "key_{value}");
            m.insert(key, value);
        }
    }
    m.clear();
    drop(m);
}

/// The figures of one contestant on one workload.
#[derive(Debug, Clone)]
enum Cell {
    /// Median ms and the repetitions it is the median of.
    Measured { median_ms: f64, min_ms: f64, reps: usize },
    /// Not run, and why.
    Skipped(String),
}

/// How many repetitions a figure gets.
#[derive(Debug, Clone, Copy)]
pub struct RepPolicy {
    /// At least this many (`--reps`), unless the budget runs out first.
    pub min_reps: usize,
    /// At most this many.
    pub max_reps: usize,
    /// Fast figures keep repeating (up to `max_reps`) until their reps took
    /// this long, for a steadier median.
    pub min_time: Duration,
    /// Slow figures stop repeating (after at least one rep) once their reps
    /// took this long.
    pub budget: Duration,
}

impl RepPolicy {
    /// The policy for a run.
    pub fn new(quick: bool, reps: usize) -> Self {
        let reps = reps.max(1);
        if quick {
            Self {
                min_reps: reps,
                max_reps: 4 * reps,
                min_time: Duration::from_millis(30),
                budget: Duration::from_millis(1500),
            }
        } else {
            Self {
                min_reps: reps,
                max_reps: 10 * reps,
                min_time: Duration::from_millis(300),
                budget: Duration::from_secs(5),
            }
        }
    }

    /// Whether a figure with `done` reps that took `spent` gets another.
    pub fn another(&self, done: usize, spent: Duration) -> bool {
        match done {
            0 => true,
            _ if done >= self.max_reps => false,
            _ if done < self.min_reps => spent < self.budget,
            _ => spent < self.min_time,
        }
    }
}

/// Runs the suite. Repetitions go round the contestants (rep 1 of each,
/// then rep 2 of each, ...), so a passing burst of load on the machine
/// spreads over all of them instead of spoiling one contestant's figure.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let policy = RepPolicy::new(ctx.quick, ctx.reps);
    let n = ctx.backends.len();
    let mut times = vec![vec![Vec::new(); WORKLOADS.len()]; n];
    let mut spent = vec![vec![Duration::ZERO; WORKLOADS.len()]; n];
    let mut skipped: Vec<Vec<Option<String>>> = vec![vec![None; WORKLOADS.len()]; n];
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let mut order: Vec<usize> = (0..n).collect();
        let mut shuffler = Rng::new(0x00a2_ce05 + w as u64);
        for rep in 0..policy.max_reps {
            // A fresh order each round, so the scheduler's periodic
            // preemptions cannot keep landing on the same contestant.
            shuffler.shuffle(&mut order);
            for &b in &order {
                let backend = ctx.backends[b];
                ctx.step(format!("arceos: {} / {} rep {}", workload.name, backend.name, rep + 1));
                if ctx.quick && workload.slow.contains(&backend.name) {
                    skipped[b][w] = Some("skipped by --quick (O(n) free: seconds per rep)".into());
                }
                if skipped[b][w].is_some() || !policy.another(times[b][w].len(), spent[b][w]) {
                    ctx.done();
                    continue;
                }
                let range = if backend.uses_pool() {
                    (ctx.pool.base().addr().get(), ctx.pool.size())
                } else {
                    (0, usize::MAX)
                };
                let mut instance = match backend.instantiate(ctx.pool) {
                    Ok(instance) => instance,
                    Err(e) => {
                        skipped[b][w] = Some(e);
                        ctx.done();
                        continue;
                    }
                };
                // Start the rep on a fresh time slice.
                std::thread::yield_now();
                match time_routed(&mut *instance, range, workload.run) {
                    Ok(t) => {
                        spent[b][w] += t;
                        times[b][w].push(t.as_secs_f64() * 1e3);
                    }
                    Err(e) => {
                        // A pool block outlived its route: freeing it later
                        // would reach the wrong allocator. Never let go.
                        std::mem::forget(instance);
                        eprintln!("allocator-bench: {} / {}: {e}; stopping", backend.name, workload.name);
                        std::process::exit(2);
                    }
                }
                ctx.done();
            }
        }
    }
    let cells: Vec<Vec<Cell>> = (0..n)
        .map(|b| {
            (0..WORKLOADS.len())
                .map(|w| match (&skipped[b][w], median(&times[b][w])) {
                    (Some(why), _) => Cell::Skipped(why.clone()),
                    (None, Some(median_ms)) => Cell::Measured {
                        median_ms,
                        min_ms: times[b][w].iter().copied().fold(f64::INFINITY, f64::min),
                        reps: times[b][w].len(),
                    },
                    (None, None) => Cell::Skipped("no repetition".into()),
                })
                .collect()
        })
        .collect();
    report(ctx, &cells, policy)
}

fn report(ctx: &Ctx<'_>, cells: &[Vec<Cell>], policy: RepPolicy) -> SuiteReport {
    let mut table = TextTable {
        title: format!(
            "ArceOS workloads (ax-allocator benches/collections.rs; {} MiB pool): median ms ({}) of {} reps \
             (more, up to {}, for figures under {:?}); ratio to the best",
            ctx.pool.size() >> 20,
            clock_name(),
            policy.min_reps,
            policy.max_reps,
            policy.min_time
        ),
        headers: vec!["contestant".into()],
        ..TextTable::default()
    };
    for w in &WORKLOADS {
        table.headers.push(format!("{} ms", w.name));
        table.headers.push("x best".into());
    }
    let mut csv = String::from("contestant,workload,median_ms,min_ms,reps,ratio_to_best,note\n");
    let mut charts = Vec::new();
    let mut ratios = Vec::new();
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let figures: Vec<Option<f64>> = cells
            .iter()
            .map(|row| match row[w] {
                Cell::Measured { median_ms, .. } => Some(median_ms),
                Cell::Skipped(_) => None,
            })
            .collect();
        ratios.push(ratios_to_best(&figures, &ctx.yardsticks(), Better::Lower));
        charts.push(Chart {
            file: format!("arceos_{}", workload.name),
            title: format!("{} (median ms, lower is better)", workload.name),
            unit: "ms".into(),
            bars: ctx
                .backends
                .iter()
                .zip(&figures)
                .filter_map(|(b, f)| Some((b.name.to_owned(), (*f)?)))
                .collect(),
            log_ok: true,
        });
    }
    let mut fewer = false;
    for (i, (backend, row)) in ctx.backends.iter().zip(cells).enumerate() {
        let mut line = vec![backend.name.to_owned()];
        for (w, cell) in row.iter().enumerate() {
            let ratio = ratios[w][i];
            match cell {
                Cell::Measured { median_ms, min_ms, reps } => {
                    let mark = if *reps < policy.min_reps { "*" } else { "" };
                    fewer |= *reps < policy.min_reps;
                    line.push(format!("{}{mark}", fmt_figure(*median_ms)));
                    line.push(fmt_ratio(ratio));
                    csv.push_str(&format!(
                        "{},{},{median_ms:.4},{min_ms:.4},{reps},{},\n",
                        csv_field(backend.name),
                        WORKLOADS[w].name,
                        ratio.map_or(String::new(), |r| format!("{r:.4}"))
                    ));
                }
                Cell::Skipped(why) => {
                    line.push("skip".into());
                    line.push("-".into());
                    csv.push_str(&format!(
                        "{},{},,,0,,{}\n",
                        csv_field(backend.name),
                        WORKLOADS[w].name,
                        csv_field(why)
                    ));
                    let note = format!("{} / {}: {why}", backend.name, WORKLOADS[w].name);
                    table.notes.push(note);
                }
            }
        }
        table.rows.push(line);
    }
    if fewer {
        table.notes.push(format!(
            "* fewer reps than {}: a figure stops repeating once its reps took {:?} (slow O(n) frees)",
            policy.min_reps, policy.budget
        ));
    }
    table.notes.push(
        "Each rep: a fresh contestant on the pool; the upstream code on std Vec/BTreeMap, routed to it by the \
         #[global_allocator] (same overhead for all, system and bump included)."
            .into(),
    );
    SuiteReport { tables: vec![table], csv: vec![("arceos.csv".into(), csv)], charts, failures: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn fast_figures_repeat_more_and_slow_ones_less() {
        let policy = RepPolicy::new(false, 5);
        let ms = Duration::from_millis;
        assert!(policy.another(0, ms(60_000)), "every figure gets one rep");
        assert!(policy.another(4, ms(10)), "at least --reps");
        assert!(!policy.another(2, ms(6_000)), "slow: budget spent");
        assert!(policy.another(5, ms(20)), "fast: keeps repeating");
        assert!(!policy.another(5, ms(400)), "fast: enough time spent");
        assert!(!policy.another(50, ms(1)), "never beyond max_reps");
    }

    #[test]
    fn workloads_run_routed_to_a_bump_allocator() {
        let pool = Pool::new(64 << 20).unwrap();
        let range = (pool.base().addr().get(), pool.size());
        let mut bump = Bump::new(pool.base(), pool.size());
        time_routed(&mut bump, range, || vec_rand_free(1000, 64)).unwrap();
        assert!(bump.used() >= 1000 * 512, "the blocks came from the pool");
        let mut bump = Bump::new(pool.base(), pool.size());
        time_routed(&mut bump, range, || btree_map(2000)).unwrap();
        assert!(bump.used() > 0);
    }
}
