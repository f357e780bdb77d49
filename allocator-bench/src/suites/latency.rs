//! Suite 5: the cost of single operations, the figure a real-time kernel
//! cares about. The random-actions mix without reallocs (talc's size and
//! alignment draws, max 1,000 bytes), held between 1,000 and 2,000 live
//! blocks; every alloc and every free is timed on its own.
//!
//! The clock: on x86_64 the time-stamp counter (`lfence; rdtsc` on both
//! sides, calibrated against `Instant` over 20 ms); elsewhere
//! `std::time::Instant`. The median cost of timing nothing is subtracted
//! from every sample. Samples during which another process ran are dropped
//! (see [`Session::run`]); the maximum still includes interrupts and page faults:
//! read it as an upper bound of the allocator's own worst case.

use std::{
    alloc::Layout,
    ptr::NonNull,
    sync::OnceLock,
    time::{Duration, Instant},
};

use super::Ctx;
use crate::{
    contestants::{Contestant, Family},
    cputime::Stopwatch,
    pool::Pool,
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, TalcDraws},
    stats::{Better, percentile_sorted, ratios_to_best},
};

/// The live-block floor (the count stays below twice this).
const LIVE: usize = 1_000;
/// talc's smallest maximum allocation size.
const MAX_SIZE: usize = 1000;
/// The percentiles reported.
const PERCENTILES: [(f64, &str); 4] = [(50.0, "p50"), (99.0, "p99"), (99.9, "p99.9"), (100.0, "max")];

/// The name of the clock in use.
pub const CLOCK: &str = if cfg!(target_arch = "x86_64") { "rdtsc (lfence-fenced)" } else { "Instant" };

/// A raw timestamp.
#[inline(always)]
fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` (SSE2) and `rdtsc` exist on every x86_64 CPU.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Nanoseconds per tick of [`now`], measured once.
fn ns_per_tick() -> f64 {
    static CALIBRATION: OnceLock<f64> = OnceLock::new();
    *CALIBRATION.get_or_init(|| {
        let (t0, i0) = (now(), Instant::now());
        while i0.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let (t1, elapsed) = (now(), i0.elapsed());
        elapsed.as_nanos() as f64 / (t1.wrapping_sub(t0)).max(1) as f64
    })
}

/// The median ticks of timing nothing.
fn clock_overhead() -> u64 {
    let mut samples: Vec<u64> = (0..10_001)
        .map(|_| {
            let t0 = now();
            now().wrapping_sub(t0)
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The smallest step the clock shows, in ns (virtual machines often
/// coarsen the TSC).
fn clock_resolution_ns() -> f64 {
    let step = (0..10_000)
        .filter_map(|_| {
            let t0 = now();
            let d = now().wrapping_sub(t0);
            (d > 0).then_some(d)
        })
        .min()
        .unwrap_or(1);
    step as f64 * ns_per_tick()
}

/// Sorted per-operation costs in ns.
#[derive(Debug, Default)]
pub struct Samples {
    /// Allocation costs.
    pub alloc: Vec<u64>,
    /// Free costs.
    pub free: Vec<u64>,
    /// Whether the contestant ran out of memory before all operations ran.
    pub exhausted: bool,
    /// Samples dropped because the thread was preempted during them.
    pub preempted: usize,
}

/// Operations per preemption check.
const BATCH: usize = 1024;
/// A batch that lost this much wall time to other threads was preempted.
const STOLEN_NS: f64 = 50_000.0;

/// Removes from `samples[start..]` (ticks) those that contain a preemption
/// of `stolen_ns`: those at least half as long. Returns how many.
fn drop_preempted(samples: &mut Vec<u64>, start: usize, stolen_ns: f64, ns_per_tick: f64) -> usize {
    let before = samples.len();
    let mut i = start;
    while i < samples.len() {
        if samples[i] as f64 * ns_per_tick >= stolen_ns / 2.0 {
            samples.swap_remove(i);
        } else {
            i += 1;
        }
    }
    before - samples.len()
}

/// One contestant's measurement, resumable: the live blocks, the random
/// stream and the samples so far, so that contestants can take turns.
pub struct Session {
    rng: Rng,
    live: Vec<(NonNull<u8>, Layout)>,
    out: Samples,
    overhead: u64,
    scale: f64,
    stopped: bool,
}

fn draw(rng: &mut Rng) -> Layout {
    Layout::from_size_align(rng.talc_size(MAX_SIZE), rng.talc_align()).unwrap_or(Layout::new::<u64>())
}

impl Session {
    /// A session drawing from `seed`, for up to `ops` timed operations; it
    /// fills `c` with [`LIVE`] blocks first (untimed).
    pub fn new(c: &mut dyn Contestant, ops: usize, seed: u64) -> Self {
        let mut s = Self {
            rng: Rng::new(seed),
            live: Vec::with_capacity(2 * LIVE + 1),
            out: Samples {
                alloc: Vec::with_capacity(ops),
                free: Vec::with_capacity(ops),
                exhausted: false,
                preempted: 0,
            },
            overhead: clock_overhead(),
            scale: ns_per_tick(),
            stopped: false,
        };
        while s.live.len() < LIVE {
            let layout = draw(&mut s.rng);
            match c.alloc(layout) {
                Some(p) => s.live.push((p, layout)),
                None => {
                    s.out.exhausted = true;
                    s.stopped = true;
                    break;
                }
            }
        }
        s
    }

    /// Times `ops` more operations on `c` (the contestant the session
    /// started on), one by one.
    ///
    /// Preemption by other processes is taken out: every [`BATCH`]
    /// operations the thread's CPU time is compared with the TSC; a batch
    /// that lost more than 50 µs to other threads drops its samples at least
    /// half that long (the ones the preemption fell into). The clock is never
    /// read inside a batch but by the TSC, which disturbs the caches least.
    pub fn run(&mut self, c: &mut dyn Contestant, ops: usize) {
        let (live, out, rng, scale) = (&mut self.live, &mut self.out, &mut self.rng, self.scale);
        let mut done = 0;
        'batches: while done < ops && !self.stopped {
            let (alloc_start, free_start) = (out.alloc.len(), out.free.len());
            let cpu = Stopwatch::start();
            let tsc = now();
            for _ in 0..BATCH.min(ops - done) {
                done += 1;
                if (rng.range(0, 2) == 0 && live.len() < 2 * LIVE) || live.len() < LIVE {
                    let layout = draw(rng);
                    let t0 = now();
                    let p = c.alloc(layout);
                    let t = now().wrapping_sub(t0);
                    match p {
                        Some(p) => live.push((p, layout)),
                        None => {
                            out.exhausted = true;
                            self.stopped = true;
                            break 'batches;
                        }
                    }
                    out.alloc.push(t);
                } else {
                    let (p, layout) = live.swap_remove(rng.range(0, live.len()));
                    let t0 = now();
                    // SAFETY: `p` was live for `layout` and leaves the list.
                    unsafe { c.dealloc(p, layout) };
                    out.free.push(now().wrapping_sub(t0));
                }
            }
            let wall_ns = now().wrapping_sub(tsc) as f64 * scale;
            let stolen_ns = wall_ns - cpu.elapsed().as_nanos() as f64;
            if stolen_ns > STOLEN_NS {
                out.preempted += drop_preempted(&mut out.alloc, alloc_start, stolen_ns, scale);
                out.preempted += drop_preempted(&mut out.free, free_start, stolen_ns, scale);
            }
        }
    }

    /// Frees what is left on `c` and returns the samples, in ns, sorted.
    pub fn finish(self, c: &mut dyn Contestant) -> Samples {
        let Self { live, mut out, overhead, scale, .. } = self;
        for (p, layout) in live {
            // SAFETY: every block left in the list is live for its layout.
            unsafe { c.dealloc(p, layout) };
        }
        for samples in [&mut out.alloc, &mut out.free] {
            for t in samples.iter_mut() {
                *t = (t.saturating_sub(overhead) as f64 * scale).round() as u64;
            }
            samples.sort_unstable();
        }
        out
    }
}

/// Times `ops` operations on `c`, one by one, in one go (see
/// [`Session::run`]).
#[cfg(test)]
pub fn measure(c: &mut dyn Contestant, ops: usize, seed: u64) -> Samples {
    let mut session = Session::new(c, ops, seed);
    session.run(c, ops);
    session.finish(c)
}

/// Rounds the operations are split into: contestants take turns, a round
/// each in a fresh shuffled order, so load from other processes spreads
/// over all of them.
const ROUNDS: usize = 20;

/// The pool each contestant gets in this suite (all are live at once, so
/// they can take turns): the working set is 1,000..2,000 blocks below 1 KB.
const POOL: usize = 32 << 20;

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let ops = if ctx.quick { 50_000 } else { 400_000 };
    let mut notes = Vec::new();
    // Every contestant on its own pool, all live at once.
    let mut pools = Vec::new();
    for backend in ctx.backends {
        match Pool::new(POOL.min(ctx.pool.size())) {
            Some(pool) => pools.push((backend, pool)),
            None => notes.push(format!("{}: no memory for its pool", backend.name)),
        }
    }
    let mut live = Vec::new();
    for (backend, pool) in &mut pools {
        match backend.instantiate(pool) {
            Ok(mut instance) => {
                let session = Session::new(&mut *instance, ops, 0x1a7e);
                live.push((*backend, instance, session));
            }
            Err(e) => notes.push(format!("{}: {e}", backend.name)),
        }
    }
    let mut order: Vec<usize> = (0..live.len()).collect();
    let mut shuffler = Rng::new(0x1a7e_0dd5);
    for round in 0..ROUNDS {
        shuffler.shuffle(&mut order);
        let share = ops / ROUNDS + usize::from(round < ops % ROUNDS);
        for &i in &order {
            let (backend, instance, session) = &mut live[i];
            ctx.step(format!("latency: round {} / {}", round + 1, backend.name));
            std::thread::yield_now();
            session.run(&mut **instance, share);
        }
    }
    let mut rows = Vec::new();
    let mut yardsticks = Vec::new();
    for (backend, mut instance, session) in live {
        rows.push((backend.name, session.finish(&mut *instance)));
        yardsticks.push(backend.family != Family::Floor);
        ctx.done();
    }
    let pick = |s: &[u64], p: f64| percentile_sorted(s, p).map(|v| v as f64);
    let alloc_p99: Vec<Option<f64>> = rows.iter().map(|(_, s)| pick(&s.alloc, 99.0)).collect();
    let free_p99: Vec<Option<f64>> = rows.iter().map(|(_, s)| pick(&s.free, 99.0)).collect();
    let (alloc_ratio, free_ratio) = (
        ratios_to_best(&alloc_p99, &yardsticks, Better::Lower),
        ratios_to_best(&free_p99, &yardsticks, Better::Lower),
    );
    let mut headers = vec!["contestant".to_owned()];
    for op in ["alloc", "free"] {
        for (_, name) in PERCENTILES {
            headers.push(format!("{op} {name}"));
        }
        headers.push(format!("{op} p99 x best"));
    }
    let mut table = TextTable {
        title: format!(
            "Latency (ns per operation; {ops} alloc/free ops at {LIVE}..{} live blocks, in {ROUNDS} interleaved \
             rounds, each contestant on its own {} MiB pool; clock: {CLOCK}, {:.3} ns/tick, resolution {:.0} ns, \
             overhead subtracted)",
            2 * LIVE,
            POOL.min(ctx.pool.size()) >> 20,
            ns_per_tick(),
            clock_resolution_ns()
        ),
        headers,
        notes,
        ..TextTable::default()
    };
    let mut csv = String::from(
        "contestant,operation,samples,p50_ns,p99_ns,p99_9_ns,max_ns,p99_ratio_to_best,preempted_dropped\n",
    );
    let mut charts = vec![
        Chart {
            file: "latency_alloc_p99".into(),
            title: "alloc latency, p99 (ns, lower is better)".into(),
            unit: "ns".into(),
            bars: Vec::new(),
            log_ok: true,
        },
        Chart {
            file: "latency_free_p99".into(),
            title: "free latency, p99 (ns, lower is better)".into(),
            unit: "ns".into(),
            bars: Vec::new(),
            log_ok: true,
        },
    ];
    for (i, (name, samples)) in rows.iter().enumerate() {
        let mut line = vec![format!("{name}{}", if samples.exhausted { "!" } else { "" })];
        for (op, s, ratio, chart) in
            [("alloc", &samples.alloc, alloc_ratio[i], 0), ("free", &samples.free, free_ratio[i], 1)]
        {
            let mut fields = Vec::new();
            for (p, _) in PERCENTILES {
                let v = pick(s, p);
                line.push(v.map_or("-".into(), fmt_figure));
                fields.push(v.map_or(String::new(), |v| format!("{v}")));
            }
            line.push(fmt_ratio(ratio));
            if let Some(p99) = pick(s, 99.0) {
                charts[chart].bars.push((name.to_string(), p99));
            }
            csv.push_str(&format!(
                "{},{op},{},{},{},{}\n",
                csv_field(name),
                s.len(),
                fields.join(","),
                ratio.map_or(String::new(), |r| format!("{r:.4}")),
                samples.preempted
            ));
        }
        table.rows.push(line);
    }
    if rows.iter().any(|(_, s)| s.exhausted) {
        table.notes.push("! ran out of memory before all operations ran (the bump floor never frees)".into());
    }
    // Our TLSF next to the same engine raw and to talc, in one line.
    let find = |name: &str| rows.iter().find(|(n, _)| *n == name).map(|(_, s)| s);
    if let Some(ours) = find("tlsf") {
        let mut line = String::from("tlsf vs");
        for peer in ["rlsf", "talc", "ax-tlsf"] {
            if let Some(other) = find(peer) {
                let mut parts = Vec::new();
                for (op, a, b) in [("alloc", &ours.alloc, &other.alloc), ("free", &ours.free, &other.free)] {
                    let fmt = |v: &[u64], p| pick(v, p).map_or("-".into(), fmt_figure);
                    parts.push(format!(
                        "{op} p99 {} vs {}, p99.9 {} vs {}, max {} vs {}",
                        fmt(a, 99.0),
                        fmt(b, 99.0),
                        fmt(a, 99.9),
                        fmt(b, 99.9),
                        fmt(a, 100.0),
                        fmt(b, 100.0)
                    ));
                }
                line.push_str(&format!(" {peer}: {};", parts.join("; ")));
            }
        }
        if line.ends_with(';') {
            line.pop();
            table.notes.push(format!("{line} (ns)"));
        }
    }
    let dropped: usize = rows.iter().map(|(_, s)| s.preempted).sum();
    table.notes.push(format!(
        "{dropped} samples dropped in all because another process preempted the thread during them; \
         max still includes interrupts: an upper bound"
    ));
    SuiteReport { tables: vec![table], csv: vec![("latency.csv".into(), csv)], charts, failures: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn preempted_samples_are_the_long_ones() {
        // 1 ns per tick: samples of 10, 30 µs and 2 ms after index 1.
        let mut samples = vec![5_000_000, 10, 30_000, 2_000_000, 20];
        assert_eq!(drop_preempted(&mut samples, 1, 2_100_000.0, 1.0), 1);
        samples.sort_unstable();
        assert_eq!(samples, [10, 20, 30_000, 5_000_000], "the sample before `start` stays");
    }

    #[test]
    fn latencies_are_sampled_per_operation_and_sorted() {
        let pool = Pool::new(8 << 20).unwrap();
        let mut bump = Bump::new(pool.base(), pool.size());
        let s = measure(&mut bump, 2_000, 5);
        assert!(!s.exhausted);
        assert_eq!(s.alloc.len() + s.free.len() + s.preempted, 2_000);
        assert!(s.alloc.windows(2).all(|w| w[0] <= w[1]));
        assert!(ns_per_tick() > 0.0);
    }
}
