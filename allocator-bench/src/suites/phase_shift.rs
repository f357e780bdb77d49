//! Suite 4: phase shift. A kernel that boots with a burst of small objects
//! and later needs one large buffer: fill the pool with small objects (16 to
//! 256 bytes, 8-aligned) until the first failure, free them all in
//! allocation order, then find by binary search the largest single block
//! (8-aligned) that succeeds. The figure is that block as a share of the
//! pool; the same probe on the fresh pool, before the fill, is shown beside
//! it. An allocator whose slabs never go back to their backing allocator
//! (ax-allocator's slab) gets little back.

use std::{alloc::Layout, ptr::NonNull};

use super::Ctx;
use crate::{
    contestants::{Contestant, Family},
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::Rng,
    stats::{Better, ratios_to_best},
};

/// The largest 8-aligned block of at most `limit` bytes that `c` can give
/// now (0 if none), assuming a size that fits implies every smaller size fits.
pub fn largest_block(c: &mut dyn Contestant, limit: usize) -> usize {
    let fits = |c: &mut dyn Contestant, size: usize| {
        let Ok(layout) = Layout::from_size_align(size, 8) else { return false };
        match c.alloc(layout) {
            Some(p) => {
                // SAFETY: `p` was just allocated for `layout`.
                unsafe { c.dealloc(p, layout) };
                true
            }
            None => false,
        }
    };
    // Invariant: `lo` fits (or is 0), `hi + 1` does not (or exceeds `limit`).
    let (mut lo, mut hi) = (0, limit);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(c, mid) { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// The figures of one contestant.
#[derive(Debug, Clone, Copy)]
pub struct Shift {
    /// Largest block on the fresh pool, bytes.
    pub before: usize,
    /// Small objects that fitted.
    pub objects: usize,
    /// Their requested bytes.
    pub filled: usize,
    /// Largest block after they were all freed, bytes.
    pub after: usize,
}

/// Runs the phase shift on a fresh contestant over `pool_size` bytes.
pub fn shift(c: &mut dyn Contestant, pool_size: usize) -> Shift {
    let before = largest_block(c, pool_size);
    let mut rng = Rng::new(0x5a1b);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::with_capacity(pool_size / 64);
    let mut filled = 0;
    while let Ok(layout) = Layout::from_size_align(rng.range(16, 257), 8) {
        match c.alloc(layout) {
            Some(p) => {
                filled += layout.size();
                live.push((p, layout));
            }
            None => break,
        }
    }
    let objects = live.len();
    for (p, layout) in live {
        // SAFETY: each block is live for its layout and freed once.
        unsafe { c.dealloc(p, layout) };
    }
    Shift { before, objects, filled, after: largest_block(c, pool_size) }
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let pool_size = ctx.pool.size();
    let mut rows = Vec::new();
    let mut yardsticks = Vec::new();
    let mut notes = Vec::new();
    for backend in ctx.backends.iter().filter(|b| b.uses_pool()) {
        ctx.step(format!("phase shift: {}", backend.name));
        match backend.instantiate(ctx.pool) {
            Ok(mut instance) => {
                rows.push((backend.name, shift(&mut *instance, pool_size)));
                yardsticks.push(backend.family != Family::Floor);
            }
            Err(e) => notes.push(format!("{}: {e}", backend.name)),
        }
        ctx.done();
    }
    if ctx.backends.iter().any(|b| !b.uses_pool()) {
        notes.push("system: left out (not bound to a pool)".into());
    }
    let pct = |bytes: usize| bytes as f64 * 100.0 / pool_size as f64;
    let figures: Vec<Option<f64>> = rows.iter().map(|(_, s)| Some(pct(s.after))).collect();
    let ratios = ratios_to_best(&figures, &yardsticks, Better::Higher);
    let mut table = TextTable {
        title: format!(
            "Phase shift ({} MiB pool): fill with 16..256 B objects, free all, largest block that succeeds",
            pool_size >> 20
        ),
        headers: [
            "contestant",
            "after % pool",
            "x best",
            "before % pool",
            "after/before %",
            "objects",
            "filled %",
        ]
        .map(String::from)
        .to_vec(),
        notes,
        ..TextTable::default()
    };
    let mut csv = String::from(
        "contestant,largest_after_bytes,after_percent_of_pool,ratio_to_best,largest_before_bytes,objects,filled_bytes\n",
    );
    for ((name, s), ratio) in rows.iter().zip(&ratios) {
        table.rows.push(vec![
            name.to_string(),
            fmt_figure(pct(s.after)),
            fmt_ratio(*ratio),
            fmt_figure(pct(s.before)),
            fmt_figure(s.after as f64 * 100.0 / s.before.max(1) as f64),
            fmt_figure(s.objects as f64),
            fmt_figure(pct(s.filled)),
        ]);
        csv.push_str(&format!(
            "{},{},{:.4},{},{},{},{}\n",
            csv_field(name),
            s.after,
            pct(s.after),
            ratio.map_or(String::new(), |r| format!("{r:.4}")),
            s.before,
            s.objects,
            s.filled
        ));
    }
    let chart = Chart {
        file: "phase_shift".into(),
        title: "Phase shift: largest block after small objects are freed (% of pool, higher is better)"
            .into(),
        unit: "% of pool".into(),
        bars: rows.iter().map(|(n, s)| (n.to_string(), pct(s.after))).collect(),
        log_ok: false,
    };
    SuiteReport {
        tables: vec![table],
        csv: vec![("phase_shift.csv".into(), csv)],
        charts: vec![chart],
        failures: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn binary_search_finds_the_bump_remainder() {
        let pool = Pool::new(1 << 20).unwrap();
        let mut bump = Bump::new(pool.base(), pool.size());
        assert_eq!(largest_block(&mut bump, pool.size()), pool.size());
        let mut bump = Bump::new(pool.base(), pool.size());
        let s = shift(&mut bump, pool.size());
        assert_eq!(s.before, pool.size());
        assert!(s.objects > 1000);
        // The bump floor gets back only the newest object (freeing it
        // rewinds); with the tail too small for the object that failed,
        // that is below two objects' worth.
        assert!(s.after < 512, "{}", s.after);
    }
}
