//! Suite 8: memory return. After a burst, how much memory does each
//! allocator still hold from the system, right after everything is freed and
//! after an explicit trim?
//!
//! The burst (the same for every contestant, from a fixed seed): blocks
//! drawn as the threads suite draws them (talc's size draw below 1,000 B,
//! talc's alignment draw) with a quarter of the bytes in large blocks of
//! 64 KiB..1 MiB interleaved among them (a large block whenever the large
//! ones fall behind a quarter), until [`burst_bytes`] are requested: 64 MiB,
//! 16 MiB with `--quick`. Each rep, every contestant, fresh and in this one
//! process, in a fresh shuffled order each rep:
//!
//! 1. allocates every block of the burst and fills it with a tag byte;
//! 2. frees them all in one shuffled order (the same for all), checking the
//!    tag at both ends of each block;
//! 3. the bytes it holds from the system are read ("after frees");
//! 4. it trims, where it can, and they are read again ("after trim").
//!
//! Peak is the most it held at once. Figures are medians over `--reps`.
//!
//! Contestants:
//!
//! - ours: [`Growing`] over `SlabByteAllocator` (over TLSF), TLSF and buddy,
//!   each with [`GrowthPolicy::DEFAULT`] (wholly free chunks go back while
//!   16 MiB stay free) and with `keep_free` 0 (every wholly free chunk goes
//!   back at once), growing from a [`CountingSource`] over `MmapSource`
//!   (`SystemSource` off unix) that counts the bytes it has handed out;
//!   "after trim" is after [`Growing::trim`]. The heap's own count
//!   (`held_bytes`) must agree with the source's, and its used bytes must be
//!   back at zero after the frees.
//! - talc 5.1: `TalcCell` over `GlobalAllocSource<CountingSystem>` (talc
//!   takes 1 MiB blocks from a `GlobalAlloc` and releases a heap block by
//!   itself once it is wholly free); [`CountingSystem`] counts the bytes live
//!   in `std::alloc::System`. talc has no trim call.
//! - glibc malloc (linux-gnu only): `System` directly; held is
//!   `mallinfo2().arena + mallinfo2().hblkhd` (all arenas' heap bytes plus
//!   mmapped blocks) minus the bytes the rest of the process had live before
//!   the burst (`uordblks + hblkhd`, after a `malloc_trim(0)`), so free
//!   memory glibc kept from an earlier burst counts as held; trim is
//!   `malloc_trim(0)`. These are glibc's own accounting, not a counting
//!   source (the suite allocates nothing else during a burst). `malloc_trim`
//!   also advises free pages inside the heap away, which `arena` still
//!   counts, so the growth of the process's resident set is shown beside
//!   them.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::{Cell, RefCell},
    ptr::NonNull,
    rc::Rc,
};

use allocator_global::{Growing, GrowthPolicy, PageSource};
use allocator_traits::{AllocResult, ByteAllocator};

use super::Ctx;
use crate::{
    report::{SuiteReport, TextTable, csv_field, fmt_figure},
    rng::{Rng, TalcDraws},
    stats::median,
};

/// Small blocks are drawn below this (talc's draw, as the threads suite).
const SMALL_MAX: usize = 1000;
/// The smallest large block.
const LARGE_MIN: usize = 64 << 10;
/// The largest large block.
const LARGE_MAX: usize = 1 << 20;
/// The seed of the burst and its free order.
const SEED: u64 = 0x6d65_6d72_6574;

/// The bytes a burst requests: 64 MiB, 16 MiB with `--quick`.
pub fn burst_bytes(quick: bool) -> usize {
    if quick { 16 << 20 } else { 64 << 20 }
}

/// The blocks of a burst and the order they are freed in.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Every block, in allocation order.
    pub layouts: Vec<Layout>,
    /// A permutation of the blocks' indices: the free order.
    pub free_order: Vec<usize>,
    /// The bytes requested in all.
    pub bytes: usize,
    /// How many blocks are large (64 KiB..1 MiB).
    pub large: usize,
}

/// The burst of `total` bytes for `seed` (see the module docs).
pub fn burst(total: usize, seed: u64) -> Burst {
    let mut rng = Rng::new(seed);
    let (mut small_bytes, mut large_bytes, mut large) = (0usize, 0usize, 0usize);
    let mut layouts = Vec::new();
    while small_bytes + large_bytes < total {
        let align = rng.talc_align();
        let size = if 3 * large_bytes <= small_bytes {
            large += 1;
            let size = rng.range(LARGE_MIN, LARGE_MAX + 1);
            large_bytes += size;
            size
        } else {
            let size = rng.talc_size(SMALL_MAX);
            small_bytes += size;
            size
        };
        layouts.push(Layout::from_size_align(size, align).unwrap_or(Layout::new::<u64>()));
    }
    let mut free_order: Vec<usize> = (0..layouts.len()).collect();
    rng.shuffle(&mut free_order);
    Burst { layouts, free_order, bytes: small_bytes + large_bytes, large }
}

/// Bytes a contestant holds from the system now and at most, counted by its
/// source; and, for ours, the chunks it holds.
#[derive(Debug, Default)]
pub struct Meter {
    live: Cell<usize>,
    peak: Cell<usize>,
    chunks: RefCell<Vec<(usize, usize)>>,
}

impl Meter {
    /// A meter at zero, with room for the chunks of a growing heap.
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            chunks: RefCell::new(Vec::with_capacity(2 * allocator_global::MAX_CHUNKS)),
            ..Self::default()
        })
    }

    fn take(&self, bytes: usize) {
        let live = self.live.get() + bytes;
        self.live.set(live);
        self.peak.set(self.peak.get().max(live));
    }

    fn give(&self, bytes: usize) {
        self.live.set(self.live.get().saturating_sub(bytes));
    }

    /// The bytes held now.
    pub fn live(&self) -> usize {
        self.live.get()
    }

    /// The most bytes held at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }
}

/// The source our heaps grow from in this suite.
#[cfg(unix)]
type ChunkSource = allocator_global::MmapSource;
/// The source our heaps grow from in this suite.
#[cfg(not(unix))]
type ChunkSource = allocator_global::SystemSource;

/// A page source that forwards to [`ChunkSource`] and counts the bytes of
/// the chunks it has handed out and not taken back.
#[derive(Debug)]
pub struct CountingSource {
    inner: ChunkSource,
    meter: Rc<Meter>,
}

impl CountingSource {
    /// A source counting into `meter`.
    pub fn new(meter: Rc<Meter>) -> Self {
        Self { inner: ChunkSource::new(), meter }
    }
}

// SAFETY: every chunk is one `ChunkSource` handed out (whose `unsafe impl`
// promises valid, writable, unused memory with exposed provenance that
// stays valid until it is taken back), returned unchanged; a chunk is
// taken back by forwarding to the same source with the same range. The
// counting touches no chunk.
unsafe impl PageSource for CountingSource {
    fn granule(&self) -> usize {
        self.inner.granule()
    }

    fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize> {
        let start = self.inner.alloc_chunk(size)?;
        self.meter.take(size);
        self.meter.chunks.borrow_mut().push((start, size));
        Ok(start)
    }

    unsafe fn dealloc_chunk(&mut self, start: usize, size: usize) {
        self.meter.give(size);
        self.meter.chunks.borrow_mut().retain(|&chunk| chunk != (start, size));
        // SAFETY: the caller's contract: the chunk came from
        // `alloc_chunk(size)`, i.e. from `inner.alloc_chunk(size)`, and
        // nothing uses it.
        unsafe { self.inner.dealloc_chunk(start, size) }
    }
}

/// `std::alloc::System`, counting the bytes live in it (talc's backing
/// allocator in this suite).
#[derive(Debug)]
pub struct CountingSystem(Rc<Meter>);

// SAFETY: every call forwards to `System` with the caller's arguments and
// returns its answer; the counting touches no block.
unsafe impl GlobalAlloc for CountingSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract (a non-zero-size layout).
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            self.0.take(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.give(layout.size());
        // SAFETY: the caller's contract: `ptr` came from `alloc` above, that
        // is from `System`, with this layout's size.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// One contestant of this suite.
trait Holder {
    /// A block, or `None` when out of memory.
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` came from `alloc(layout)` of this contestant and is live.
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout);

    /// The bytes held from the system now.
    fn held(&self) -> usize;

    /// The most bytes held at once, where a counter tracks it.
    fn peak(&self) -> Option<usize>;

    /// Gives free memory back to the system; `false` if there is no such
    /// call.
    fn trim(&mut self) -> bool;

    /// What is wrong with the contestant's own books once everything is
    /// freed, if anything.
    fn check_empty(&self) -> Option<String>;

    /// How much the process's resident set grew since the contestant was
    /// made, where that is measured (glibc: its figures count pages it has
    /// advised away).
    fn resident_growth(&self) -> Option<isize> {
        None
    }
}

/// Ours: `Growing<B, CountingSource>`, used directly (one thread, no lock).
struct Ours<B: ByteAllocator> {
    heap: Option<Growing<B, CountingSource>>,
    meter: Rc<Meter>,
}

impl<B: ByteAllocator + Default> Ours<B> {
    fn new(policy: GrowthPolicy) -> Self {
        let meter = Meter::new();
        Self {
            heap: Some(Growing::with_policy(B::default(), CountingSource::new(meter.clone()), policy)),
            meter,
        }
    }
}

impl<B: ByteAllocator> Holder for Ours<B> {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap.as_mut()?.alloc(layout).ok()
    }

    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(heap) = self.heap.as_mut() {
            // SAFETY: the caller's contract.
            unsafe { heap.dealloc(ptr, layout) };
        }
    }

    fn held(&self) -> usize {
        self.meter.live()
    }

    fn peak(&self) -> Option<usize> {
        Some(self.meter.peak())
    }

    fn trim(&mut self) -> bool {
        if let Some(heap) = self.heap.as_mut() {
            heap.trim();
        }
        true
    }

    fn check_empty(&self) -> Option<String> {
        let heap = self.heap.as_ref()?;
        let held = heap.growth_statistics().held_bytes;
        if heap.used_bytes() != 0 {
            Some(format!("{} bytes still used after freeing everything", heap.used_bytes()))
        } else if held != self.meter.live() {
            Some(format!("the heap counts {held} bytes held, its source {}", self.meter.live()))
        } else {
            None
        }
    }
}

impl<B: ByteAllocator> Drop for Ours<B> {
    /// The heap does not give its chunks back when dropped (a kernel heap
    /// lives forever): unmap what it still holds, so reps do not pile up.
    fn drop(&mut self) {
        drop(self.heap.take());
        let mut source = ChunkSource::new();
        for (start, size) in self.meter.chunks.take() {
            // SAFETY: the chunk came from `ChunkSource::alloc_chunk(size)`
            // (through `CountingSource`) and was not taken back; the heap
            // that used it is gone (the engines keep nothing in a chunk that
            // outlives them), and every block of the burst was freed or, on
            // a failed run, is never touched again.
            unsafe { source.dealloc_chunk(start, size) };
        }
    }
}

/// talc 5.1 growing from `System` through `GlobalAllocSource`, counted.
struct Talc {
    talc: talc::TalcCell<talc::source::GlobalAllocSource<CountingSystem>>,
    meter: Rc<Meter>,
}

impl Talc {
    fn new() -> Self {
        let meter = Meter::new();
        // `GlobalAllocSource` keeps metadata around its heaps, so they must
        // not be managed by hand (`claim`, `resize`, ...): this suite only
        // allocates and frees through `GlobalAlloc`.
        let source = talc::source::GlobalAllocSource::new(CountingSystem(meter.clone()));
        Self { talc: talc::TalcCell::new(source), meter }
    }
}

impl Holder for Talc {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: every layout of a burst has a non-zero size.
        NonNull::new(unsafe { self.talc.alloc(layout) })
    }

    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { self.talc.dealloc(ptr.as_ptr(), layout) }
    }

    fn held(&self) -> usize {
        self.meter.live()
    }

    fn peak(&self) -> Option<usize> {
        Some(self.meter.peak())
    }

    fn trim(&mut self) -> bool {
        false
    }

    fn check_empty(&self) -> Option<String> {
        None
    }
}

/// glibc's malloc, measured by its own accounting.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct Glibc {
    /// The bytes the rest of the process had live in glibc when the
    /// contestant was made (the pool, the harness).
    others_live: usize,
    /// The process's resident bytes then.
    resident_before: Option<usize>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Glibc {
    /// `(held, live)`: all arenas' heap bytes plus mmapped blocks, and the
    /// bytes of live blocks among them.
    fn bytes() -> (usize, usize) {
        // SAFETY: `mallinfo2` only reads glibc's statistics.
        let info = unsafe { libc::mallinfo2() };
        (info.arena + info.hblkhd, info.uordblks + info.hblkhd)
    }

    fn new() -> Self {
        // SAFETY: `malloc_trim` only gives free memory back to the kernel.
        unsafe { libc::malloc_trim(0) };
        Self { others_live: Self::bytes().1, resident_before: resident_bytes() }
    }
}

/// The process's resident set in bytes (`/proc/self/statm`), where known.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: `sysconf` has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(pages * page)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Holder for Glibc {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: every layout of a burst has a non-zero size.
        NonNull::new(unsafe { System.alloc(layout) })
    }

    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract: `ptr` came from `System.alloc(layout)`.
        unsafe { System.dealloc(ptr.as_ptr(), layout) }
    }

    /// What glibc holds from the system beyond the bytes the rest of the
    /// process has live: the burst's blocks and every free byte glibc
    /// keeps (some of it kept from before this contestant).
    fn held(&self) -> usize {
        Self::bytes().0.saturating_sub(self.others_live)
    }

    fn peak(&self) -> Option<usize> {
        None
    }

    fn trim(&mut self) -> bool {
        // SAFETY: as in `new`.
        unsafe { libc::malloc_trim(0) };
        true
    }

    fn check_empty(&self) -> Option<String> {
        None
    }

    fn resident_growth(&self) -> Option<isize> {
        Some(resident_bytes()? as isize - self.resident_before? as isize)
    }
}

/// A row of the table.
pub struct Row {
    /// The row's name.
    pub name: &'static str,
    /// The name `--backend` selects it by.
    pub backend: &'static str,
    /// What it is.
    pub about: &'static str,
    make: fn() -> Box<dyn Holder>,
}

/// Every row, in table order (glibc on linux-gnu only).
pub fn all() -> Vec<Row> {
    use allocator_buddy::BuddyByteAllocator as Buddy;
    use allocator_slab::SlabByteAllocator as Slab;
    use allocator_tlsf::TlsfByteAllocator as Tlsf;
    #[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(unused_mut))]
    let mut rows = vec![
        Row {
            name: "slab",
            backend: "slab",
            about: "Growing<SlabByteAllocator, CountingSource>, GrowthPolicy::DEFAULT (keep 16 MiB free)",
            make: || Box::new(Ours::<Slab>::new(GrowthPolicy::DEFAULT)),
        },
        Row {
            name: "slab keep0",
            backend: "slab",
            about: "the same with GrowthPolicy::DEFAULT.with_keep_free(0)",
            make: || Box::new(Ours::<Slab>::new(GrowthPolicy::DEFAULT.with_keep_free(0))),
        },
        Row {
            name: "tlsf",
            backend: "tlsf",
            about: "Growing<TlsfByteAllocator, CountingSource>, GrowthPolicy::DEFAULT",
            make: || Box::new(Ours::<Tlsf>::new(GrowthPolicy::DEFAULT)),
        },
        Row {
            name: "tlsf keep0",
            backend: "tlsf",
            about: "the same with keep_free 0",
            make: || Box::new(Ours::<Tlsf>::new(GrowthPolicy::DEFAULT.with_keep_free(0))),
        },
        Row {
            name: "buddy",
            backend: "buddy",
            about: "Growing<BuddyByteAllocator, CountingSource>, GrowthPolicy::DEFAULT",
            make: || Box::new(Ours::<Buddy>::new(GrowthPolicy::DEFAULT)),
        },
        Row {
            name: "buddy keep0",
            backend: "buddy",
            about: "the same with keep_free 0",
            make: || Box::new(Ours::<Buddy>::new(GrowthPolicy::DEFAULT.with_keep_free(0))),
        },
        Row {
            name: "talc",
            backend: "talc",
            about: "talc 5.1 TalcCell over GlobalAllocSource<CountingSystem> (1 MiB blocks from System)",
            make: || Box::new(Talc::new()),
        },
    ];
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    rows.push(Row {
        name: "system",
        backend: "system",
        about: "glibc malloc (System), by its own accounting (mallinfo2)",
        make: || Box::new(Glibc::new()),
    });
    rows
}

/// The rows whose contestants were chosen on the command line.
pub fn chosen(backends: &[&crate::contestants::Backend]) -> Vec<Row> {
    all().into_iter().filter(|r| backends.iter().any(|b| b.name == r.backend)).collect()
}

/// What one burst measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// The most bytes held at once.
    pub peak: usize,
    /// Held once every block was freed.
    pub after_free: usize,
    /// Held after the trim; `None` without a trim call.
    pub after_trim: Option<usize>,
    /// Allocations that failed.
    pub failed: usize,
    /// Blocks whose tag bytes were not what was written.
    pub corrupt: usize,
    /// The growth of the resident set after the frees and after the trim,
    /// where measured.
    pub resident: Option<(isize, isize)>,
}

/// Runs `burst` on `heap`; `live` is scratch space (allocated beforehand, so
/// nothing else allocates from the system during the burst).
fn run_burst(heap: &mut dyn Holder, burst: &Burst, live: &mut Vec<Option<NonNull<u8>>>) -> Measure {
    live.clear();
    let mut m = Measure::default();
    for (i, &layout) in burst.layouts.iter().enumerate() {
        let block = heap.alloc(layout);
        match block {
            // SAFETY: a fresh block of `layout.size()` bytes.
            Some(p) => unsafe { p.write_bytes(tag(i), layout.size()) },
            None => m.failed += 1,
        }
        live.push(block);
    }
    let after_alloc = heap.held();
    for &i in &burst.free_order {
        let layout = burst.layouts[i];
        if let Some(p) = live[i].take() {
            // SAFETY: `p` is live for `layout`, filled with its tag; it is
            // freed once, with its layout.
            unsafe {
                let last = p.add(layout.size() - 1);
                m.corrupt += usize::from(p.read() != tag(i) || last.read() != tag(i));
                heap.dealloc(p, layout);
            }
        }
    }
    m.after_free = heap.held();
    let resident_after_free = heap.resident_growth();
    m.peak = heap.peak().unwrap_or(0).max(after_alloc);
    m.after_trim = heap.trim().then(|| heap.held());
    m.resident = resident_after_free.zip(heap.resident_growth());
    m
}

/// The tag byte of block `i` (never zero: fresh memory is zero).
fn tag(i: usize) -> u8 {
    (i as u8) | 1
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let rows = chosen(ctx.backends);
    let burst = burst(burst_bytes(ctx.quick), SEED);
    let n = rows.len();
    let mut measures: Vec<Vec<Measure>> = vec![Vec::new(); n];
    let mut failures = Vec::new();
    let mut live = Vec::with_capacity(burst.layouts.len());
    let mut order: Vec<usize> = (0..n).collect();
    let mut shuffler = Rng::new(SEED ^ 0x5eed);
    for rep in 0..ctx.reps {
        shuffler.shuffle(&mut order);
        for &r in &order {
            let row = &rows[r];
            ctx.step(format!("memory-return: {} rep {}", row.name, rep + 1));
            let mut heap = (row.make)();
            let m = run_burst(&mut *heap, &burst, &mut live);
            let what = format!("{}, rep {}", row.name, rep + 1);
            if m.failed > 0 {
                failures.push(format!("{what}: {} allocations failed", m.failed));
            }
            if m.corrupt > 0 {
                failures.push(format!("{what}: {} blocks lost their tag bytes", m.corrupt));
            }
            if let Some(problem) = heap.check_empty() {
                failures.push(format!("{what}: {problem}"));
            }
            drop(heap);
            measures[r].push(m);
            ctx.done();
        }
    }

    let mib = |bytes: f64| bytes / f64::from(1u32 << 20);
    let pct = |part: f64, whole: f64| if whole > 0.0 { 100.0 * part / whole } else { 0.0 };
    let med = |values: Vec<usize>| median(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let mut table = TextTable {
        title: format!(
            "Memory return (a burst of {} blocks, {} MiB requested, {} of them 64 KiB..1 MiB; all freed in \
             shuffled order): MiB held from the system at the peak, after the frees and after a trim; \
             median of {}",
            fmt_figure(burst.layouts.len() as f64),
            fmt_figure(mib(burst.bytes as f64)),
            burst.large,
            ctx.reps
        ),
        headers: ["contestant", "peak MiB", "after frees MiB", "% peak", "after trim MiB", "% peak"]
            .map(String::from)
            .to_vec(),
        ..TextTable::default()
    };
    let mut csv = String::from(
        "contestant,burst_bytes,blocks,large_blocks,reps,peak_bytes,after_free_bytes,after_free_pct,\
         after_trim_bytes,after_trim_pct,resident_growth_after_free_bytes,resident_growth_after_trim_bytes\n",
    );
    let mut spread = Vec::new();
    let mut resident = Vec::new();
    for (row, ms) in rows.iter().zip(&measures) {
        let peak = med(ms.iter().map(|m| m.peak).collect());
        let after_free = med(ms.iter().map(|m| m.after_free).collect());
        let after_trim = med(ms.iter().filter_map(|m| m.after_trim).collect());
        let (Some(peak), Some(after_free)) = (peak, after_free) else {
            table.rows.push(vec![
                row.name.to_owned(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            continue;
        };
        let mut line = vec![
            row.name.to_owned(),
            fmt_figure(mib(peak)),
            fmt_figure(mib(after_free)),
            format!("{:.1} %", pct(after_free, peak)),
        ];
        match after_trim {
            Some(t) => line.extend([fmt_figure(mib(t)), format!("{:.1} %", pct(t, peak))]),
            None => line.extend(["no trim".into(), "-".into()]),
        }
        table.rows.push(line);
        let resident_free = median(&ms.iter().filter_map(|m| Some(m.resident?.0 as f64)).collect::<Vec<_>>());
        let resident_trim = median(&ms.iter().filter_map(|m| Some(m.resident?.1 as f64)).collect::<Vec<_>>());
        if let (Some(free), Some(trim)) = (resident_free, resident_trim) {
            resident.push(format!(
                "{}: the process's resident set grew by {} MiB after the frees, {} MiB after the trim (medians)",
                row.name,
                fmt_figure(mib(free)),
                fmt_figure(mib(trim))
            ));
        }
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.0}"));
        csv.push_str(&format!(
            "{},{},{},{},{},{peak:.0},{after_free:.0},{:.2},{},{},{},{}\n",
            csv_field(row.name),
            burst.bytes,
            burst.layouts.len(),
            burst.large,
            ms.len(),
            pct(after_free, peak),
            after_trim.map_or(String::new(), |t| format!("{t:.0}")),
            after_trim.map_or(String::new(), |t| format!("{:.2}", pct(t, peak))),
            opt(resident_free),
            opt(resident_trim),
        ));
        let range = |f: &dyn Fn(&Measure) -> Option<usize>| {
            let values: Vec<usize> = ms.iter().filter_map(f).collect();
            let (lo, hi) = (values.iter().min().copied()?, values.iter().max().copied()?);
            (lo != hi).then(|| format!("{}..{}", fmt_figure(mib(lo as f64)), fmt_figure(mib(hi as f64))))
        };
        let ranges: Vec<String> = [
            ("peak", range(&|m| Some(m.peak))),
            ("after frees", range(&|m| Some(m.after_free))),
            ("after trim", range(&|m| m.after_trim)),
        ]
        .into_iter()
        .filter_map(|(what, r)| Some(format!("{what} {}", r?)))
        .collect();
        if !ranges.is_empty() {
            spread.push(format!("{}: {} MiB over the reps", row.name, ranges.join(", ")));
        }
    }
    for row in &rows {
        table.notes.push(format!("{}: {}", row.name, row.about));
    }
    table.notes.push(
        "ours and talc: bytes their source handed out and has not taken back (a counting PageSource / GlobalAlloc); \
         talc has no trim call (it releases a wholly free 1 MiB heap block by itself)"
            .into(),
    );
    if rows.iter().any(|r| r.backend == "system") {
        table.notes.push(
            "system: glibc's own accounting, not a counting source: mallinfo2 arena + hblkhd (all arenas' heap \
             bytes and mmapped blocks) minus the bytes the rest of the process had live (uordblks + hblkhd after \
             a malloc_trim(0) before the burst), so free memory glibc kept from earlier bursts counts too; \
             trim = malloc_trim(0), which gives back the heap top and madvises free pages inside the heap away: \
             those leave the resident set but stay in arena (see the resident figures below); glibc raises its \
             mmap threshold when mmapped blocks are freed, so after the first burst in the process (its own or \
             talc's, over System) the large blocks live in the heap"
                .into(),
        );
    }
    table.notes.extend(resident);
    table.notes.extend(spread);
    table.notes.extend(failures.iter().map(|f| format!("FAILED: {f}")));
    SuiteReport {
        tables: vec![table],
        csv: vec![("memory_return.csv".into(), csv)],
        charts: Vec::new(),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_deterministic_and_a_quarter_large() {
        let a = burst(4 << 20, 7);
        let b = burst(4 << 20, 7);
        assert_eq!(a.layouts, b.layouts);
        assert_eq!(a.free_order, b.free_order);
        assert!(a.bytes >= 4 << 20);
        assert_eq!(a.bytes, a.layouts.iter().map(|l| l.size()).sum::<usize>());
        let large: Vec<&Layout> = a.layouts.iter().filter(|l| l.size() >= LARGE_MIN).collect();
        assert_eq!(large.len(), a.large);
        assert!(large.iter().all(|l| l.size() <= LARGE_MAX));
        let large_bytes: usize = large.iter().map(|l| l.size()).sum();
        assert!((a.bytes / 5..a.bytes / 3).contains(&large_bytes), "{large_bytes} of {}", a.bytes);
        let mut order = a.free_order.clone();
        order.sort_unstable();
        assert_eq!(order, (0..a.layouts.len()).collect::<Vec<_>>());
    }

    #[test]
    fn every_contestant_frees_everything_and_counts_what_it_holds() {
        let burst = burst(2 << 20, 3);
        let mut live = Vec::with_capacity(burst.layouts.len());
        for row in all() {
            let mut heap = (row.make)();
            let m = run_burst(&mut *heap, &burst, &mut live);
            assert_eq!((m.failed, m.corrupt), (0, 0), "{}", row.name);
            assert_eq!(heap.check_empty(), None, "{}", row.name);
            if row.backend == "system" {
                // glibc's figures include what other test threads allocate.
                continue;
            }
            assert!(m.peak >= burst.bytes / 2, "{}: peak {} for {} bytes", row.name, m.peak, burst.bytes);
            assert!(m.after_free <= m.peak, "{}", row.name);
            if let Some(t) = m.after_trim {
                assert!(t <= m.after_free, "{}", row.name);
            }
        }
    }

    #[test]
    fn the_counting_source_counts_and_forwards() {
        let meter = Meter::new();
        let mut source = CountingSource::new(meter.clone());
        let granule = source.granule();
        let a = source.alloc_chunk(4 * granule).unwrap();
        let b = source.alloc_chunk(granule).unwrap();
        assert_eq!((meter.live(), meter.peak()), (5 * granule, 5 * granule));
        // SAFETY: both chunks came from this source and are unused.
        unsafe {
            source.dealloc_chunk(a, 4 * granule);
            source.dealloc_chunk(b, granule);
        }
        assert_eq!((meter.live(), meter.peak()), (0, 5 * granule));
        assert!(meter.chunks.borrow().is_empty());
    }
}
