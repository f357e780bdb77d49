//! Suite: real programs' size distributions. How much memory does each
//! allocator need for the heap of a real program?
//!
//! Two distributions were recorded once, from real runs under glibc, by
//! `data/record/record.sh`: `sqlite3` with an in-memory database of 200,000
//! rows, two indexes, aggregate queries, an update and a delete; and CPython
//! 3.11 (`PYTHONMALLOC=malloc`) building, indexing, sorting and
//! round-tripping through JSON 60,000 records. Each file lists, per
//! `(size, align)`, the blocks live when the program's live requested bytes
//! peaked and the blocks allocated in all (`data/sizes-*.csv`).
//!
//! A replay (the same for every contestant, from a fixed seed) holds a
//! random sample of the peak's live blocks up to [`LARGEST`] bytes, [`LIVE_BYTES`] requested bytes
//! (a quarter of that with `--quick`), allocated in a shuffled order; after
//! each of them, short-lived blocks drawn from the rest of the program's
//! allocations (as many per live block as the program made) are allocated
//! and each freed again within the next [`CHURN_WINDOW`] allocations. Every
//! block's first and last byte are written.
//!
//! The figure is the smallest pool, found by bisection (to [`PRECISION`]),
//! in which the contestant completes the replay, shown as the requested
//! bytes at the peak over that pool size ("efficiency") and as a ratio to
//! our TLSF's pool. Rounding to size classes, headers and slabs left partly
//! used all need pool bytes, so this is the heap's peak footprint, the
//! counterpart of a program's peak resident memory.

use std::{
    alloc::Layout,
    ptr::NonNull,
    time::{Duration, Instant},
};

use super::Ctx;
use crate::{
    contestants::{Backend, Contestant, slab_tables},
    pool::Pool,
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::Rng,
};

/// The recorded distributions: a name and the file's text.
pub const DISTRIBUTIONS: [(&str, &str); 2] = [
    ("sqlite", include_str!("../../data/sizes-sqlite.csv")),
    ("cpython", include_str!("../../data/sizes-cpython.csv")),
];

/// The requested bytes live at the replay's peak (a quarter with `--quick`).
pub const LIVE_BYTES: usize = 24 << 20;

/// A short-lived block is freed within this many later allocations.
pub const CHURN_WINDOW: usize = 64;

/// The bisection stops when the pool sizes that fail and succeed are this
/// close (relative).
pub const PRECISION: f64 = 0.005;

/// Blocks larger than this are left out of the replay: a sample keeps such
/// a block whole or not at all (CPython's peak holds one of 14 MiB, the JSON
/// text), and a host `malloc` maps them directly.
pub const LARGEST: usize = 1 << 20;

/// The step of the pool sizes tried.
const STEP: usize = 64 << 10;

/// The seed of the sample, the order and the churn.
const SEED: u64 = 0x7265_616c_7369_7a65;

/// One line of a distribution file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeCount {
    /// The layout requested.
    pub layout: Layout,
    /// Blocks of it live at the program's peak.
    pub live_at_peak: u64,
    /// Blocks of it allocated in all.
    pub allocations: u64,
}

/// Parses a distribution file (`#` comments, then `size,align,live,allocations`
/// lines).
pub fn parse(text: &str) -> Result<Vec<SizeCount>, String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<u64> = line
                .split(',')
                .map(|field| field.trim().parse::<u64>().map_err(|e| format!("{line:?}: {e}")))
                .collect::<Result<_, _>>()?;
            let [size, align, live_at_peak, allocations] = fields[..] else {
                return Err(format!("{line:?}: four fields expected"));
            };
            let layout = Layout::from_size_align(size as usize, align as usize)
                .map_err(|e| format!("{line:?}: {e}"))?;
            Ok(SizeCount { layout, live_at_peak, allocations })
        })
        .collect()
}

/// One step of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Allocate a block that stays to the end.
    Keep(Layout),
    /// Allocate a short-lived block.
    Churn(Layout),
    /// Free short-lived block `index` (numbered in allocation order).
    Free(usize),
}

/// A replay: its steps and the requested bytes live at its end.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The requested bytes of the blocks kept.
    pub live_bytes: usize,
    /// The blocks kept.
    pub live_blocks: usize,
}

/// Builds the replay of `dist` holding about `live_bytes` requested bytes at
/// its end.
pub fn replay(dist: &[SizeCount], live_bytes: usize, seed: u64) -> Replay {
    let mut rng = Rng::new(seed);
    let peak_bytes: u64 = dist
        .iter()
        .filter(|e| e.layout.size() <= LARGEST)
        .map(|e| e.live_at_peak * e.layout.size() as u64)
        .sum();
    // Each block live at the peak is kept with this probability, in
    // millionths.
    let keep_ppm = ((live_bytes as u128 * 1_000_000) / u128::from(peak_bytes.max(1))).min(1_000_000) as usize;
    let mut kept = Vec::new();
    for entry in dist.iter().filter(|e| e.layout.size() <= LARGEST) {
        for _ in 0..entry.live_at_peak {
            if rng.range(0, 1_000_000) < keep_ppm {
                kept.push(entry.layout);
            }
        }
    }
    rng.shuffle(&mut kept);
    // The short-lived allocations: the rest of the program's, drawn by
    // weight, as many per kept block as the program made per live block.
    let churn: Vec<(Layout, u64)> = dist
        .iter()
        .map(|e| (e.layout, e.allocations.saturating_sub(e.live_at_peak)))
        .filter(|&(_, n)| n > 0)
        .collect();
    let churn_total: u64 = churn.iter().map(|&(_, n)| n).sum();
    let live_total: u64 = dist.iter().map(|e| e.live_at_peak).sum::<u64>().max(1);
    let mut cumulative = Vec::with_capacity(churn.len());
    let mut sum = 0;
    for &(_, n) in &churn {
        sum += n;
        cumulative.push(sum);
    }
    let draw = |rng: &mut Rng| {
        let pick = rng.range(0, churn_total as usize) as u64;
        churn[cumulative.partition_point(|&c| c <= pick)].0
    };
    // Churn blocks per kept block, in thousandths (the program's ratio).
    let per_kept_milli = (churn_total * 1000 / live_total) as usize;
    let mut steps = Vec::new();
    let mut pending: Vec<(usize, usize)> = Vec::new(); // (free at step, index)
    let mut index = 0;
    let mut allocations = 0;
    let mut credit = 0;
    let mut live_bytes = 0;
    for layout in &kept {
        steps.push(Step::Keep(*layout));
        live_bytes += layout.size();
        index += 1;
        allocations += 1;
        credit += per_kept_milli;
        while credit >= 1000 && churn_total > 0 {
            credit -= 1000;
            steps.push(Step::Churn(draw(&mut rng)));
            pending.push((allocations + rng.range(0, CHURN_WINDOW), index));
            index += 1;
            allocations += 1;
        }
        // Free the short-lived blocks whose time has come.
        let mut i = 0;
        while i < pending.len() {
            if pending[i].0 <= allocations {
                steps.push(Step::Free(pending.swap_remove(i).1));
            } else {
                i += 1;
            }
        }
    }
    steps.extend(pending.into_iter().map(|(_, index)| Step::Free(index)));
    Replay { steps, live_bytes, live_blocks: kept.len() }
}

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step succeeded.
    Done,
    /// An allocation failed.
    OutOfMemory,
    /// The replay took longer than its budget.
    TooSlow,
    /// A block's bytes were overwritten, or a block was misaligned.
    Broken,
}

/// Runs `replay` on `c`, then frees every block. With `fill`, every byte of
/// every block is written (as a program does; the resident measure needs
/// it), otherwise only its first and last byte.
pub fn run_replay(c: &mut dyn Contestant, replay: &Replay, budget: Duration, fill: bool) -> Outcome {
    let started = Instant::now();
    let mut blocks: Vec<Option<(NonNull<u8>, Layout)>> = Vec::with_capacity(replay.steps.len());
    let mut outcome = Outcome::Done;
    for (n, step) in replay.steps.iter().enumerate() {
        if n % 4096 == 0 && started.elapsed() > budget {
            outcome = Outcome::TooSlow;
            break;
        }
        match *step {
            Step::Keep(layout) | Step::Churn(layout) => {
                let Some(block) = c.alloc(layout) else {
                    outcome = Outcome::OutOfMemory;
                    break;
                };
                if block.addr().get() % layout.align() != 0 {
                    outcome = Outcome::Broken;
                }
                if layout.size() > 0 {
                    // SAFETY: the block is live and `layout.size()` bytes long.
                    unsafe {
                        if fill {
                            block.write_bytes(0xa5, layout.size());
                        } else {
                            block.write(0xa5);
                        }
                        block.add(layout.size() - 1).write(0x5a);
                    }
                }
                blocks.push(Some((block, layout)));
            }
            Step::Free(index) => {
                if let Some((block, layout)) = blocks.get_mut(index).and_then(Option::take) {
                    // SAFETY: the block is live for `layout` until now.
                    unsafe { free_checked(c, block, layout, &mut outcome) };
                }
            }
        }
    }
    for (block, layout) in blocks.into_iter().flatten() {
        // SAFETY: every block left is live for its layout.
        unsafe { free_checked(c, block, layout, &mut outcome) };
    }
    outcome
}

/// Checks the bytes `run_replay` wrote at both ends of a block and frees it.
///
/// # Safety
///
/// `block` is live in `c` for `layout`.
unsafe fn free_checked(c: &mut dyn Contestant, block: NonNull<u8>, layout: Layout, outcome: &mut Outcome) {
    if layout.size() > 0 {
        // SAFETY: the caller's contract: the block is live.
        let (first, last) = unsafe { (block.read(), block.add(layout.size() - 1).read()) };
        // A one-byte block holds only the last write.
        if (layout.size() > 1 && first != 0xa5) || last != 0x5a {
            *outcome = Outcome::Broken;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { c.dealloc(block, layout) };
}

/// What one contestant needed for one distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needed {
    /// The smallest pool that served the replay, in bytes.
    Pool(usize),
    /// Even the whole pool was too small.
    MoreThan(usize),
    /// No figure, and why.
    Failed(Outcome),
}

/// The smallest pool (to [`PRECISION`]) in which `backend` completes
/// `replay`, by bisection between the requested bytes and the whole pool.
fn smallest_pool(
    ctx: &mut Ctx<'_>,
    backend: &Backend,
    replay: &Replay,
    budget: Duration,
) -> Result<Needed, String> {
    let whole = ctx.pool.size();
    let mut attempt = |size: usize| -> Result<Outcome, String> {
        let mut instance = backend.instantiate_in(ctx.pool, size)?;
        Ok(run_replay(&mut *instance, replay, budget, false))
    };
    match attempt(whole)? {
        Outcome::Done => {}
        Outcome::OutOfMemory => return Ok(Needed::MoreThan(whole)),
        other => return Ok(Needed::Failed(other)),
    }
    // Pool sizes step by 64 KiB: some contestants take only multiples of
    // 32 KiB (ax-slab).
    let (mut fails, mut serves) = (replay.live_bytes / STEP * STEP, whole / STEP * STEP);
    while serves - fails > STEP && (serves - fails) as f64 > PRECISION * serves as f64 {
        let mid = (fails + (serves - fails) / 2) / STEP * STEP;
        match attempt(mid)? {
            Outcome::Done => serves = mid,
            Outcome::OutOfMemory => fails = mid,
            other => return Ok(Needed::Failed(other)),
        }
    }
    Ok(Needed::Pool(serves))
}

/// The bytes of a fresh, untouched pool (as large as the suite's) that
/// `backend` touched while it served `replay`, every block written whole:
/// the peak resident memory of a heap that never gives pages back. `None`
/// where resident memory cannot be read or the replay failed.
fn resident(
    ctx: &Ctx<'_>,
    backend: &Backend,
    replay: &Replay,
    budget: Duration,
) -> Result<Option<usize>, String> {
    let Some(mut pool) = Pool::unfaulted(ctx.pool.size()) else {
        return Ok(None);
    };
    let outcome = {
        let size = pool.size();
        let mut instance = backend.instantiate_in(&mut pool, size)?;
        run_replay(&mut *instance, replay, budget, true)
    };
    Ok(if outcome == Outcome::Done { pool.resident_bytes() } else { None })
}

/// The contestants of this suite: those chosen that use the pool, and the
/// slab heap's other class tables when `slab` is among them.
fn chosen<'a>(ctx: &Ctx<'a>, tables: &'a [Backend]) -> Vec<&'a Backend> {
    let mut out: Vec<&Backend> = ctx.backends.iter().copied().filter(|b| b.uses_pool()).collect();
    if let Some(at) = out.iter().position(|b| b.name == "slab") {
        let missing: Vec<&Backend> =
            tables.iter().filter(|t| !out.iter().any(|b| b.name == t.name)).collect();
        for (i, table) in missing.into_iter().enumerate() {
            out.insert(at + 1 + i, table);
        }
    }
    out
}

/// The number of progress steps.
pub fn steps(backends: &[&Backend]) -> usize {
    let slab = backends.iter().any(|b| b.name == "slab");
    let added = slab_tables().iter().filter(|t| slab && !backends.iter().any(|b| b.name == t.name)).count();
    (backends.iter().filter(|b| b.uses_pool()).count() + added) * DISTRIBUTIONS.len()
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let live_bytes = if ctx.quick { LIVE_BYTES / 4 } else { LIVE_BYTES };
    let budget = if ctx.quick { Duration::from_secs(1) } else { Duration::from_secs(3) };
    let tables = slab_tables();
    let backends = chosen(ctx, &tables);
    let mut failures = Vec::new();
    let mut notes = vec![format!(
        "each replay: a sample of the recorded peak's live blocks ({} MiB requested) and the program's short-lived \
         blocks, each freed within {CHURN_WINDOW} allocations; pool found by bisection to {:.1} %",
        live_bytes >> 20,
        PRECISION * 100.0
    )];
    let mut replays = Vec::new();
    for (name, text) in DISTRIBUTIONS {
        match parse(text) {
            Ok(dist) => {
                let replay = replay(&dist, live_bytes, SEED);
                notes.push(format!(
                    "{name}: {} blocks kept ({} requested bytes), {} steps",
                    replay.live_blocks,
                    replay.live_bytes,
                    replay.steps.len()
                ));
                replays.push((name, replay));
            }
            Err(e) => failures.push(format!("real-sizes: data/sizes-{name}.csv: {e}")),
        }
    }
    // results[backend][distribution]: (resident bytes, smallest pool)
    let mut results: Vec<Vec<(Option<usize>, Needed)>> = Vec::new();
    for backend in &backends {
        let mut row = Vec::new();
        for (name, replay) in &replays {
            ctx.step(format!("real sizes: {name}: {}", backend.name));
            let resident = resident(ctx, backend, replay, budget).unwrap_or_else(|e| {
                notes.push(format!("{}: {e}", backend.name));
                None
            });
            let needed = smallest_pool(ctx, backend, replay, budget).unwrap_or_else(|e| {
                notes.push(format!("{}: {e}", backend.name));
                Needed::Failed(Outcome::OutOfMemory)
            });
            if needed == Needed::Failed(Outcome::Broken) {
                failures.push(format!("real-sizes: {} broke a block on {name}", backend.name));
            }
            row.push((resident, needed));
            ctx.done();
        }
        results.push(row);
    }
    let tlsf = backends.iter().position(|b| b.name == "tlsf");
    let mib = |bytes: usize| fmt_figure(bytes as f64 / (1 << 20) as f64);
    let ratio = |mine: Option<usize>, theirs: Option<usize>| match (mine, theirs) {
        (Some(mine), Some(theirs)) if theirs > 0 => Some(mine as f64 / theirs as f64),
        _ => None,
    };
    let pool_of = |needed: Needed| if let Needed::Pool(bytes) = needed { Some(bytes) } else { None };
    let mut headers = vec!["contestant".to_owned()];
    for (name, _) in &replays {
        headers.extend([
            format!("{name} resident MiB"),
            "x tlsf".into(),
            format!("{name} min pool MiB"),
            "x tlsf".into(),
        ]);
    }
    let mut table = TextTable {
        title:
            "Real size distributions (sqlite3, CPython): peak resident memory (pages touched, every block \
                written) and the smallest pool that serves the replay, MiB; ratios to our TLSF's"
                .into(),
        headers,
        notes,
        ..TextTable::default()
    };
    let mut csv = String::from(
        "contestant,distribution,live_bytes,resident_bytes,resident_ratio_to_tlsf,min_pool_bytes,min_pool_ratio_to_tlsf\n",
    );
    for (b, backend) in backends.iter().enumerate() {
        let mut cells = vec![backend.name.to_owned()];
        for (d, (name, replay)) in replays.iter().enumerate() {
            let (resident, needed) = results[b][d];
            let tlsf_row = tlsf.map(|t| results[t][d]);
            let resident_ratio = ratio(resident, tlsf_row.and_then(|r| r.0));
            let pool_ratio = ratio(pool_of(needed), tlsf_row.and_then(|r| pool_of(r.1)));
            cells.push(resident.map_or("-".into(), mib));
            cells.push(fmt_ratio(resident_ratio));
            cells.push(match needed {
                Needed::Pool(bytes) => mib(bytes),
                Needed::MoreThan(bytes) => format!("> {}", mib(bytes)),
                Needed::Failed(Outcome::TooSlow) => "too slow".into(),
                Needed::Failed(Outcome::Broken) => "BROKEN".into(),
                Needed::Failed(_) => "failed".into(),
            });
            cells.push(fmt_ratio(pool_ratio));
            let opt = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
            let opt_ratio = |r: Option<f64>| r.map_or(String::new(), |r| format!("{r:.4}"));
            csv.push_str(&format!(
                "{},{name},{},{},{},{},{}\n",
                csv_field(backend.name),
                replay.live_bytes,
                opt(resident),
                opt_ratio(resident_ratio),
                opt(pool_of(needed)),
                opt_ratio(pool_ratio)
            ));
        }
        table.rows.push(cells);
    }
    if results.iter().flatten().any(|r| r.1 == Needed::Failed(Outcome::TooSlow)) {
        table.notes.push(format!(
            "too slow: a replay took over {budget:?} (an O(n) allocator with this many blocks)"
        ));
    }
    if results.iter().flatten().all(|r| r.0.is_none()) {
        table.notes.push("resident memory: not measured on this system (Linux with glibc only)".into());
    }
    let charts = replays
        .iter()
        .enumerate()
        .map(|(d, (name, _))| Chart {
            file: format!("real_sizes_{name}"),
            title: format!("{name}: peak resident memory of the replay (MiB, lower is better)"),
            unit: "MiB".into(),
            bars: backends
                .iter()
                .zip(&results)
                .filter_map(|(b, row)| Some((b.name.to_owned(), row[d].0? as f64 / (1 << 20) as f64)))
                .collect(),
            log_ok: false,
        })
        .collect();
    SuiteReport { tables: vec![table], csv: vec![("real_sizes.csv".into(), csv)], charts, failures }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contestants::Bump;

    #[test]
    fn the_recorded_files_parse() {
        for (name, text) in DISTRIBUTIONS {
            let dist = parse(text).unwrap();
            assert!(dist.len() > 100, "{name}");
            assert!(dist.iter().all(|e| e.allocations >= e.live_at_peak), "{name}");
            assert!(dist.iter().any(|e| e.live_at_peak > 0), "{name}");
        }
        assert!(parse("1,2,3").is_err());
        assert!(parse("16,3,1,1").is_err(), "a bad alignment");
        assert_eq!(parse("# c\n8,8,1,2\n").unwrap().len(), 1);
    }

    #[test]
    fn a_replay_keeps_a_sample_of_the_peak_and_frees_every_short_lived_block() {
        let dist = parse("# t\n64,16,1000,3000\n1032,16,100,100\n").unwrap();
        let replay = replay(&dist, 64 * 500 + 1032 * 50, 9);
        // About half of each kept, by sampling.
        assert!((400..600).contains(&replay.live_blocks), "{}", replay.live_blocks);
        let kept = replay.steps.iter().filter(|s| matches!(s, Step::Keep(_))).count();
        let churn = replay.steps.iter().filter(|s| matches!(s, Step::Churn(_))).count();
        let freed = replay.steps.iter().filter(|s| matches!(s, Step::Free(_))).count();
        assert_eq!(kept, replay.live_blocks);
        assert_eq!(churn, freed, "every short-lived block is freed");
        // The program made 2,000 short-lived allocations for 1,100 live
        // blocks: about 1.8 per kept block, all of 64 bytes.
        assert!((kept * 17 / 10..=kept * 19 / 10).contains(&churn), "{churn} for {kept}");
        assert!(replay.steps.iter().all(|s| !matches!(s, Step::Churn(l) if l.size() != 64)));
        // A free names a short-lived block allocated before it.
        let mut allocated = Vec::new();
        for step in &replay.steps {
            match step {
                Step::Keep(_) => allocated.push(false),
                Step::Churn(_) => allocated.push(true),
                Step::Free(i) => assert!(allocated[*i], "step frees a kept or future block"),
            }
        }
    }

    #[test]
    fn a_replay_runs_on_a_bump_allocator_until_it_runs_out() {
        let dist = parse("100,8,50,100\n").unwrap();
        let replay = replay(&dist, 100 * 50, 1);
        let pool = crate::pool::Pool::new(1 << 20).unwrap();
        // No time budget: the outcome depends on memory alone.
        let unbounded = Duration::MAX;
        let mut bump = Bump::new(pool.base(), pool.size());
        let served = run_replay(&mut bump, &replay, unbounded, true);
        assert_eq!(served, Outcome::Done);
        let mut small = Bump::new(pool.base(), 1000);
        let refused = run_replay(&mut small, &replay, unbounded, false);
        assert_eq!(refused, Outcome::OutOfMemory);
    }
}
