//! Suite 7: page frames at scale. A 64 GiB frame space of 4 KiB pages
//! (16,777,216 page numbers; no memory behind them: frame allocators never
//! touch their pages), all free at the start of each rep:
//!
//! 1. allocate 262,144 single frames (the bottom 1 GiB fills);
//! 2. allocate 1,024 runs of 512 frames aligned to 2 MiB (huge pages), which
//!    must skip the used bottom;
//! 3. free the runs (in a shuffled order);
//! 4. free the single frames (shuffled).
//!
//! The figure of each phase is CPU time per operation (ns), median over the
//! reps; `--quick` runs 16,384 frames and 64 runs. Contestants:
//!
//! - `frames`: ours, [`BitmapFrameAllocator`] over a caller's 2.06 MiB
//!   bitmap (no capacity feature);
//! - `window-bitalloc16m`: this crate's previous `BitmapPageAllocator` engine
//!   (the window over `bitmap-allocator`'s `BitAlloc16M`, as with
//!   `page-alloc-64g`; 2 MiB by value), driven through
//!   `BitmapIdAllocator<BitAlloc16M>`, which is that engine unchanged;
//! - `bitmap-allocator`: the `BitAlloc16M` segment tree directly (`alloc`,
//!   `alloc_contiguous`, `dealloc`, `dealloc_contiguous`; no regions, no
//!   checks).

use allocator_bitmap::{BitmapFrameAllocator, BitmapIdAllocator};
use allocator_traits::{BaseAllocator, IdAllocator, PageAllocator};
use bitmap_allocator::{BitAlloc, BitAlloc16M};

use super::Ctx;
use crate::{
    cputime::Stopwatch,
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::Rng,
    stats::{Better, median, ratios_to_best},
};

const PAGE: usize = 4096;
/// 64 GiB of 4 KiB pages.
const SPAN_PAGES: usize = 1 << 24;
const RUN: usize = 512;
/// The contestants' names, in table order.
pub const CONTESTANTS: [&str; 3] = ["frames", "window-bitalloc16m", "bitmap-allocator"];
const PHASES: [&str; 4] = ["1 frame alloc", "2 MiB run alloc", "2 MiB run free", "1 frame free"];

/// One frame allocator under test: page numbers in, page numbers out.
trait Frames {
    fn alloc_one(&mut self) -> Option<usize>;
    fn alloc_run(&mut self) -> Option<usize>;
    fn free(&mut self, page: usize, count: usize);
}

struct Ours(BitmapFrameAllocator<PAGE>);

impl Frames for Ours {
    fn alloc_one(&mut self) -> Option<usize> {
        self.0.alloc_pages(1, PAGE).ok().map(|a| a / PAGE)
    }
    fn alloc_run(&mut self) -> Option<usize> {
        self.0.alloc_pages(RUN, RUN * PAGE).ok().map(|a| a / PAGE)
    }
    fn free(&mut self, page: usize, count: usize) {
        // SAFETY: page numbers only; each came from this allocator.
        unsafe { self.0.dealloc_pages(page * PAGE, count) };
    }
}

struct Window(Box<BitmapIdAllocator<BitAlloc16M>>);

impl Frames for Window {
    fn alloc_one(&mut self) -> Option<usize> {
        self.0.alloc_id(1, 1).ok()
    }
    fn alloc_run(&mut self) -> Option<usize> {
        self.0.alloc_id(RUN, RUN).ok()
    }
    fn free(&mut self, page: usize, count: usize) {
        self.0.dealloc_id(page, count);
    }
}

struct Raw(Box<BitAlloc16M>);

impl Frames for Raw {
    fn alloc_one(&mut self) -> Option<usize> {
        self.0.alloc()
    }
    fn alloc_run(&mut self) -> Option<usize> {
        self.0.alloc_contiguous(None, RUN, RUN.trailing_zeros() as usize)
    }
    fn free(&mut self, page: usize, count: usize) {
        if count == 1 {
            self.0.dealloc(page);
        } else {
            self.0.dealloc_contiguous(page, count);
        }
    }
}

/// A fresh contestant `name` managing the whole span.
fn make(name: &str) -> Box<dyn Frames> {
    match name {
        "frames" => {
            let words = BitmapFrameAllocator::<PAGE>::bitmap_words(SPAN_PAGES);
            let mut a = BitmapFrameAllocator::<PAGE>::with_bitmap(vec![0; words].leak());
            // SAFETY: page numbers only; the allocator never touches them.
            unsafe { a.init(0, SPAN_PAGES * PAGE) }.expect("64 GiB of frames");
            Box::new(Ours(a))
        }
        "window-bitalloc16m" => {
            let mut a = Box::new(BitmapIdAllocator::<BitAlloc16M>::with_bitmap());
            // SAFETY: IDs carry no memory-safety requirement.
            unsafe { a.init(0, SPAN_PAGES) }.expect("16 Mi IDs");
            Box::new(Window(a))
        }
        _ => {
            let mut a = Box::new(BitAlloc16M::DEFAULT);
            a.insert(0..SPAN_PAGES);
            Box::new(Raw(a))
        }
    }
}

/// One rep: ns per operation of each phase, or a failure.
fn rep(f: &mut dyn Frames, singles: usize, runs: usize, rng: &mut Rng) -> Result<[f64; 4], String> {
    let mut ones = Vec::with_capacity(singles);
    let mut big = Vec::with_capacity(runs);
    let watch = Stopwatch::start();
    for _ in 0..singles {
        ones.push(f.alloc_one().ok_or("a single frame failed")?);
    }
    let t1 = watch.elapsed();
    let watch = Stopwatch::start();
    for _ in 0..runs {
        big.push(f.alloc_run().ok_or("a 2 MiB run failed")?);
    }
    let t2 = watch.elapsed();
    if big.iter().any(|&p| p % RUN != 0 || p < singles) {
        return Err("a run misaligned or over the single frames".into());
    }
    rng.shuffle(&mut big);
    rng.shuffle(&mut ones);
    let watch = Stopwatch::start();
    for &p in &big {
        f.free(p, RUN);
    }
    let t3 = watch.elapsed();
    let watch = Stopwatch::start();
    for &p in &ones {
        f.free(p, 1);
    }
    let t4 = watch.elapsed();
    // Everything is free again: the whole span in one run.
    if f.alloc_run() != Some(0) {
        return Err("not everything came back".into());
    }
    let per = |t: std::time::Duration, n: usize| t.as_nanos() as f64 / n as f64;
    Ok([per(t1, singles), per(t2, runs), per(t3, runs), per(t4, singles)])
}

/// Runs the suite (on a thread of its own with a large stack: the
/// `bitmap-allocator` contestants are 2 MiB by value).
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let (quick, reps) = (ctx.quick, ctx.reps);
    let (singles, runs) = if quick { (1 << 14, 64) } else { (1 << 18, 1024) };
    let progress = ctx.progress.clone();
    let measured = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut rng = Rng::new(0xF4A3E5);
            let mut figures = vec![Vec::new(); CONTESTANTS.len()];
            let mut failures = Vec::new();
            for _ in 0..reps {
                for (i, name) in CONTESTANTS.iter().enumerate() {
                    progress.set_message(format!("frames: {name}"));
                    let mut f = make(name);
                    std::thread::yield_now();
                    match rep(&mut *f, singles, runs, &mut rng) {
                        Ok(r) => figures[i].push(r),
                        Err(e) => failures.push(format!("frames: {name}: {e}")),
                    }
                    progress.inc(1);
                }
            }
            (figures, failures)
        })
        .expect("a thread for the frames suite")
        .join();
    let Ok((figures, failures)) = measured else {
        return SuiteReport { failures: vec!["frames: the suite panicked".into()], ..SuiteReport::default() };
    };
    let medians: Vec<[Option<f64>; 4]> = figures
        .iter()
        .map(|reps| std::array::from_fn(|p| median(&reps.iter().map(|r| r[p]).collect::<Vec<_>>())))
        .collect();
    let yardsticks = vec![true; CONTESTANTS.len()];
    let ratios: Vec<Vec<Option<f64>>> = (0..4)
        .map(|p| {
            ratios_to_best(&medians.iter().map(|m| m[p]).collect::<Vec<_>>(), &yardsticks, Better::Lower)
        })
        .collect();
    let mut headers = vec!["contestant".to_owned()];
    for phase in PHASES {
        headers.push(format!("{phase} ns"));
        headers.push("x best".into());
    }
    let mut table = TextTable {
        title: format!(
            "Frames (64 GiB of 4 KiB page numbers; {singles} single frames, then {runs} 2 MiB-aligned runs of \
             512, freed shuffled): ns per operation ({}), median of {reps}; ratio to the best",
            crate::cputime::clock_name()
        ),
        headers,
        notes: vec![
            "frames: BitmapFrameAllocator<4096> over a caller's 2.06 MiB bitmap (ours, no capacity feature)".into(),
            "window-bitalloc16m: the previous BitmapPageAllocator engine over bitmap-allocator's BitAlloc16M \
             (page-alloc-64g), as BitmapIdAllocator<BitAlloc16M>"
                .into(),
            "bitmap-allocator: BitAlloc16M directly (alloc, alloc_contiguous, dealloc, dealloc_contiguous)".into(),
        ],
        ..TextTable::default()
    };
    let mut csv = String::from("contestant,phase,ns_per_op,ratio_to_best\n");
    for (i, name) in CONTESTANTS.iter().enumerate() {
        let mut row = vec![name.to_string()];
        for p in 0..4 {
            row.push(medians[i][p].map_or("-".into(), fmt_figure));
            row.push(fmt_ratio(ratios[p][i]));
            csv.push_str(&format!(
                "{},{},{},{}\n",
                csv_field(name),
                csv_field(PHASES[p]),
                medians[i][p].map_or(String::new(), |v| format!("{v:.2}")),
                ratios[p][i].map_or(String::new(), |r| format!("{r:.4}"))
            ));
        }
        table.rows.push(row);
    }
    let charts = [(0, "frames_single"), (1, "frames_runs")]
        .into_iter()
        .map(|(p, file)| Chart {
            file: file.into(),
            title: format!("Frames, 64 GiB: {} (ns per op, lower is better)", PHASES[p]),
            unit: "ns per op".into(),
            bars: CONTESTANTS
                .iter()
                .zip(&medians)
                .filter_map(|(n, m)| m[p].map(|v| (n.to_string(), v)))
                .collect(),
            log_ok: true,
        })
        .collect();
    SuiteReport { tables: vec![table], csv: vec![("frames.csv".into(), csv)], charts, failures }
}
