//! Suite 2: the four ArceOS workloads through the allocator trait itself, no
//! routing: what the allocator and its `Allocator` handle cost, as
//! upstream's `Vec::new_in(AllocatorRc)` measures it, but on stable.
//!
//! The [`arceos`](super::arceos) suite runs the upstream code on std
//! collections through this binary's routing `#[global_allocator]`: how an
//! allocator serves as a global allocator, with a routing cost that is the
//! same for every contestant (and so compresses the ratios). This suite
//! instead hands each contestant to the collections as an
//! `allocator_api2::alloc::Allocator` handle, statically dispatched:
//!
//! - `vec_push`, `vec_rand_free`: upstream's code on
//!   `allocator_api2::vec::Vec::new_in(handle.clone())` (the same `Vec`
//!   code as std's `Vec<T, A>`), every vector in the handle, the shuffled
//!   index vector included, as upstream.
//! - `btree_trace`: std's `BTreeMap` has no allocator parameter on stable,
//!   so the B-tree workload is replayed: upstream's `btree_map` runs once,
//!   on a std `BTreeMap` routed to a recorder, which logs every allocation,
//!   free and resize the map and its `Vec<u8>` keys make (the map's leaf and
//!   internal node sizes, the keys' 8 and 16 byte buffers, in their order
//!   and lifetimes). Each repetition replays that log through the handle
//!   (`allocate`, `deallocate`, `grow`/`shrink`) and writes the first byte
//!   of every block it gets. It measures the allocator on exactly
//!   BTreeMap's allocation sequence without the map's own work (which is
//!   most of `btree_map_50K`'s time: the bump floor needs 10 of its 12 ms).
//!
//! The handles: ours through `allocator_rc::AllocatorRc` (the bridge users
//! get); ax-allocator's backends through a copy of its own `AllocatorRc`
//! (`Rc<RefCell<_>>`, no `grow`: allocate, copy, free); talc through a copy
//! of its `TalcCell` (no borrow flag, grow in place if it can); raw rlsf
//! and the bump floor through the same cell; `tlsf-cell` is our TLSF through
//! that cell too, which shows what `AllocatorRc` itself costs.
//!
//! Repetitions go round the contestants in a fresh shuffled order each
//! round; each is a fresh contestant on the pool. `--quick` divides every
//! size by ten.

use std::{
    cell::{RefCell, UnsafeCell},
    collections::HashMap,
    hint::black_box,
    ptr::NonNull,
    rc::Rc,
    time::Duration,
};

use allocator_api2::{
    alloc::{AllocError, Allocator, Layout},
    vec::Vec as AVec,
};
use allocator_rc::AllocatorRc;

use super::{
    Ctx,
    arceos::{BUDDY_LISTS, RepPolicy, btree_map},
};
use crate::{
    contestants::{Ax, Bump, Contestant, Ours, Rlsf, Talc},
    cputime::{Stopwatch, clock_name},
    pool::Pool,
    report::{Chart, SuiteReport, TextTable, csv_field, fmt_figure, fmt_ratio},
    rng::{Rng, SmallRng},
    router::time_routed,
    stats::{Better, median, ratios_to_best},
};

/// The four workloads, in upstream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Push `n` words onto one growing vector.
    VecPush,
    /// `n` vectors of `blk` words, replaced by empty ones in shuffled order.
    VecRandFree {
        /// Words per vector.
        blk: usize,
    },
    /// The replayed allocations of upstream's `btree_map`.
    BtreeTrace,
}

/// One workload with its sizes.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// What runs.
    pub workload: Workload,
    /// Elements, vectors or map steps.
    pub n: usize,
    /// Contestants whose free is O(free blocks) here.
    slow: &'static [&'static str],
}

impl Spec {
    /// The column name: upstream's, with the sizes of this run.
    pub fn name(&self) -> String {
        let n = if self.n % 1_000_000 == 0 {
            format!("{}M", self.n / 1_000_000)
        } else if self.n % 1000 == 0 {
            format!("{}K", self.n / 1000)
        } else {
            format!("{}", self.n)
        };
        match self.workload {
            Workload::VecPush => format!("vec_push_{n}"),
            Workload::VecRandFree { blk } => format!("vec_rand_free_{n}_{blk}"),
            Workload::BtreeTrace => format!("btree_trace_{n}"),
        }
    }
}

/// The workloads at upstream's sizes, or a tenth of them with `--quick`.
pub fn specs(quick: bool) -> [Spec; 4] {
    let d = if quick { 10 } else { 1 };
    [
        Spec { workload: Workload::VecPush, n: 3_000_000 / d, slow: &[] },
        Spec { workload: Workload::VecRandFree { blk: 64 }, n: 25_000 / d, slow: BUDDY_LISTS },
        Spec {
            workload: Workload::VecRandFree { blk: 520 },
            n: 7_500 / d,
            slow: &["ax-slab", "ax-buddy", "buddy_system_allocator", "linked_list_allocator"],
        },
        Spec { workload: Workload::BtreeTrace, n: 50_000 / d, slow: BUDDY_LISTS },
    ]
}

/// One recorded operation of the B-tree workload; blocks are numbered in
/// the order they were allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new block.
    Alloc {
        /// Its number.
        id: u32,
        /// Its layout.
        layout: Layout,
    },
    /// A block freed.
    Free {
        /// Its number.
        id: u32,
    },
    /// A block resized (same alignment).
    Resize {
        /// Its number.
        id: u32,
        /// The new size.
        new_size: usize,
    },
}

/// The allocation log of one workload run.
#[derive(Debug, Default)]
pub struct Trace {
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// How many blocks it allocates (the largest id + 1).
    pub blocks: usize,
}

/// A contestant that serves from a bump allocator and logs what it is
/// asked. It allocates nothing itself while routed: its log and its address
/// map are allocated up front, and a run that would outgrow them is an
/// error.
struct Recorder {
    bump: Bump,
    ops: Vec<Op>,
    ids: HashMap<usize, u32>,
    next_id: u32,
    overflow: bool,
}

impl Recorder {
    fn room(&mut self) -> bool {
        let ok = self.ops.len() < self.ops.capacity() && self.ids.len() < self.ids.capacity();
        self.overflow |= !ok;
        ok
    }
}

impl Contestant for Recorder {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let p = self.bump.alloc(layout)?;
        if self.room() {
            self.ops.push(Op::Alloc { id: self.next_id, layout });
            self.ids.insert(p.addr().get(), self.next_id);
            self.next_id += 1;
        }
        Some(p)
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(id) = self.ids.remove(&ptr.addr().get()) {
            if self.room() {
                self.ops.push(Op::Free { id });
            }
        } else {
            self.overflow = true;
        }
        // SAFETY: forwarded contract.
        unsafe { self.bump.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        let moved = unsafe { self.bump.realloc(ptr, layout, new_size) }?;
        match self.ids.remove(&ptr.addr().get()) {
            Some(id) if self.room() => {
                self.ops.push(Op::Resize { id, new_size });
                self.ids.insert(moved.addr().get(), id);
            }
            _ => self.overflow = true,
        }
        Some(moved)
    }
}

/// Records the allocations upstream's `btree_map(n)` makes on std's
/// `BTreeMap`, routed to a bump allocator over `pool`.
pub fn record_btree(pool: &mut Pool, n: usize) -> Result<Trace, String> {
    let cap = 8 * n + 4096;
    let mut recorder = Recorder {
        bump: Bump::new(pool.base(), pool.size()),
        ops: Vec::with_capacity(cap),
        ids: HashMap::with_capacity(cap),
        next_id: 0,
        overflow: false,
    };
    let range = (pool.base().addr().get(), pool.size());
    time_routed(&mut recorder, range, || btree_map(black_box(n)))?;
    if recorder.overflow {
        return Err("the B-tree trace outgrew its log".into());
    }
    Ok(Trace { blocks: recorder.next_id as usize, ops: recorder.ops })
}

/// Upstream `vec_push` on a vector in `alloc`.
#[allow(clippy::same_item_push)] // As upstream: the pushes are the point.
#[inline(never)]
fn vec_push<A: Allocator + Clone>(n: usize, alloc: &A) {
    let mut v: AVec<u32, A> = AVec::new_in(alloc.clone());
    for _ in 0..n {
        v.push(0xdead_beef);
    }
    drop(v);
}

/// Upstream `vec_rand_free`, every vector in `alloc`.
#[inline(never)]
fn vec_rand_free<A: Allocator + Clone>(n: usize, blk_size: usize, alloc: &A) {
    let mut v = AVec::new_in(alloc.clone());
    for _ in 0..n {
        let block = AVec::<u64, A>::with_capacity_in(blk_size, alloc.clone());
        v.push(block);
    }
    let mut rng = SmallRng::seed_from_u64(0xdead_beef);
    let mut index = AVec::with_capacity_in(n, alloc.clone());
    for i in 0..n {
        index.push(i);
    }
    rng.shuffle(&mut index);
    for i in index {
        v[i] = AVec::new_in(alloc.clone());
    }
    drop(v);
}

/// Replays `trace` through `alloc`; `slots` holds a block per id.
/// Returns the number of operations that failed (out of memory).
#[inline(never)]
fn replay<A: Allocator>(trace: &Trace, alloc: &A, slots: &mut [Option<(NonNull<u8>, Layout)>]) -> usize {
    let mut failed = 0;
    for op in &trace.ops {
        match *op {
            Op::Alloc { id, layout } => match alloc.allocate(layout) {
                Ok(block) => {
                    let p = block.cast::<u8>();
                    // SAFETY: a fresh block of `layout.size() >= 1` bytes
                    // (the map allocates no zero-size blocks).
                    unsafe { p.as_ptr().write(id as u8) };
                    slots[id as usize] = Some((p, layout));
                }
                Err(_) => failed += 1,
            },
            Op::Free { id } => {
                if let Some((p, layout)) = slots[id as usize].take() {
                    // SAFETY: `p` is live in `alloc` with `layout`.
                    unsafe { alloc.deallocate(p, layout) };
                }
            }
            Op::Resize { id, new_size } => {
                let Some((p, old)) = slots[id as usize] else { continue };
                let Ok(new) = Layout::from_size_align(new_size, old.align()) else { continue };
                // SAFETY: `p` is live in `alloc` with `old`; `new` keeps
                // its alignment and is larger (grow) or not (shrink).
                let moved = unsafe {
                    if new_size >= old.size() { alloc.grow(p, old, new) } else { alloc.shrink(p, old, new) }
                };
                match moved {
                    Ok(block) => slots[id as usize] = Some((block.cast(), new)),
                    Err(_) => failed += 1,
                }
            }
        }
    }
    for (p, layout) in slots.iter_mut().filter_map(Option::take) {
        // SAFETY: still live in `alloc`.
        unsafe { alloc.deallocate(p, layout) };
    }
    failed
}

/// Runs one workload through `alloc` and times it.
fn timed<A: Allocator + Clone>(spec: &Spec, trace: &Trace, alloc: &A) -> Result<Duration, String> {
    let mut slots = match spec.workload {
        Workload::BtreeTrace => vec![None; trace.blocks],
        _ => Vec::new(),
    };
    std::thread::yield_now();
    let watch = Stopwatch::start();
    let failed = match spec.workload {
        Workload::VecPush => {
            vec_push(black_box(spec.n), alloc);
            0
        }
        Workload::VecRandFree { blk } => {
            vec_rand_free(black_box(spec.n), black_box(blk), alloc);
            0
        }
        Workload::BtreeTrace => replay(trace, alloc, &mut slots),
    };
    let elapsed = watch.elapsed();
    if failed > 0 {
        return Err(format!("{failed} allocations failed"));
    }
    Ok(elapsed)
}

/// A copy of ax-allocator 0.5.6's `AllocatorRc` (behind its nightly
/// `allocator_api` feature there): `Rc<RefCell<A>>`, a zero-size layout
/// gets a dangling pointer, no `grow`/`shrink` (the trait's default:
/// allocate, copy, free).
pub struct AxRc<A>(Rc<RefCell<A>>);

impl<A> Clone for AxRc<A> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

// SAFETY: blocks come from the inner allocator, which hands out disjoint
// blocks of the asked layout until they are freed; as ax's own impl.
unsafe impl<A: ax_allocator::ByteAllocator> Allocator for AxRc<A> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        match layout.size() {
            0 => Ok(NonNull::slice_from_raw_parts(NonNull::dangling(), 0)),
            size => {
                let raw = self.0.borrow_mut().alloc(layout).map_err(|_| AllocError)?;
                Ok(NonNull::slice_from_raw_parts(raw, size))
            }
        }
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.0.borrow_mut().dealloc(ptr, layout);
    }
}

/// A handle as talc's `TalcCell`: a shared reference to an `UnsafeCell`
/// around the contestant, no borrow flag; `grow` and `shrink` go through the
/// contestant's `realloc` (in place where it can) when the alignment stays.
pub struct CellRef<'a, C>(&'a UnsafeCell<C>);

impl<C> Clone for CellRef<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for CellRef<'_, C> {}

impl<C: Contestant> CellRef<'_, C> {
    /// The contestant, for one call.
    ///
    /// # Safety
    ///
    /// No other reference to it is live: the handles are used from one
    /// thread, and no contestant calls back into a handle.
    #[allow(clippy::mut_from_ref)] // The cell's whole point; see the contract.
    #[inline(always)]
    unsafe fn get(&self) -> &mut C {
        // SAFETY: caller's contract.
        unsafe { &mut *self.0.get() }
    }

    #[inline(always)]
    unsafe fn resize(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        if new.size() == 0 {
            // SAFETY: `ptr` is live with `old` (caller's contract).
            unsafe { self.deallocate(ptr, old) };
            return Ok(NonNull::slice_from_raw_parts(NonNull::dangling(), 0));
        }
        if old.align() == new.align() {
            // SAFETY: `ptr` is live with `old`, `new.size()` is non-zero and
            // forms a layout with its alignment; one call at a time.
            let moved = unsafe { self.get().realloc(ptr, old, new.size()) }.ok_or(AllocError)?;
            return Ok(NonNull::slice_from_raw_parts(moved, new.size()));
        }
        let fresh = self.allocate(new)?;
        // SAFETY: distinct live blocks of at least the bytes copied.
        unsafe { fresh.cast::<u8>().copy_from_nonoverlapping(ptr, old.size().min(new.size())) };
        // SAFETY: `ptr` is live with `old`.
        unsafe { self.deallocate(ptr, old) };
        Ok(fresh)
    }
}

// SAFETY: every contestant hands out disjoint blocks of the asked layout
// (non-zero sizes only: zero-size requests get a dangling pointer here and
// never reach it) until they are freed; a block may be freed through any
// copy of the handle, all of which reach the same contestant.
unsafe impl<C: Contestant> Allocator for CellRef<'_, C> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            let dangling = NonNull::new(layout.align() as *mut u8).ok_or(AllocError)?;
            return Ok(NonNull::slice_from_raw_parts(dangling, 0));
        }
        // SAFETY: one call at a time (see `get`).
        let p = unsafe { self.get().alloc(layout) }.ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: `ptr` is live with `layout` (caller's contract).
            unsafe { self.get().dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn grow(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded contract.
        unsafe { self.resize(ptr, old, new) }
    }

    #[inline]
    unsafe fn shrink(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded contract.
        unsafe { self.resize(ptr, old, new) }
    }
}

/// Makes a fresh contestant over the pool and times one workload on it.
type RunFn = fn(&mut Pool, &Spec, &Trace) -> Result<Duration, String>;

/// Our engine `A` through `AllocatorRc`.
fn ours_rc<A: allocator_traits::ByteAllocator + Default + 'static>(
    pool: &mut Pool,
    spec: &Spec,
    trace: &Trace,
) -> Result<Duration, String> {
    // SAFETY: `pool` is borrowed mutably for the whole measurement, and
    // every block is freed (the workloads free all) before the handle drops.
    let engine = unsafe { Ours::<A>::engine(pool.base(), pool.size()) }?;
    let rc = AllocatorRc::from(engine);
    let t = timed(spec, trace, &rc);
    if t.is_ok() && rc.used_bytes() != 0 {
        return Err(format!("{} bytes still used after the workload", rc.used_bytes()));
    }
    t
}

/// An ax-allocator backend through a copy of ax's `AllocatorRc`.
fn ax_rc<A: ax_allocator::ByteAllocator + Default + 'static>(
    pool: &mut Pool,
    spec: &Spec,
    trace: &Trace,
) -> Result<Duration, String> {
    // SAFETY: as in `ours_rc`.
    let rc = AxRc(Rc::new(RefCell::new(unsafe { Ax::<A>::engine(pool.base(), pool.size()) })));
    timed(spec, trace, &rc)
}

/// A contestant boxed by `make` through a [`CellRef`].
fn cell<C: Contestant>(
    pool: &mut Pool,
    spec: &Spec,
    trace: &Trace,
    make: unsafe fn(NonNull<u8>, usize) -> Result<Box<C>, String>,
) -> Result<Duration, String> {
    // SAFETY: as in `ours_rc`.
    let mut boxed = unsafe { make(pool.base(), pool.size()) }?;
    let handle = CellRef(&*UnsafeCell::from_mut(&mut *boxed));
    timed(spec, trace, &handle)
}

/// A contestant of this suite.
pub struct Entry {
    /// The row name.
    pub name: &'static str,
    /// The `--backend` name that selects it.
    pub backend: &'static str,
    /// The handle, for the notes.
    pub about: &'static str,
    run: RunFn,
}

/// Every contestant of this suite, in table order.
pub fn entries() -> Vec<Entry> {
    use allocator_buddy::BuddyByteAllocator;
    use allocator_slab::SlabByteAllocator;
    use allocator_tlsf::TlsfByteAllocator;
    vec![
        Entry {
            name: "tlsf",
            backend: "tlsf",
            about: "AllocatorRc<TlsfByteAllocator>",
            run: ours_rc::<TlsfByteAllocator>,
        },
        Entry {
            name: "tlsf-cell",
            backend: "tlsf",
            about: "TlsfByteAllocator in a TalcCell-like cell (what AllocatorRc costs: tlsf against this)",
            run: |p, s, t| cell(p, s, t, Ours::<TlsfByteAllocator>::boxed),
        },
        Entry {
            name: "buddy",
            backend: "buddy",
            about: "AllocatorRc<BuddyByteAllocator>",
            run: ours_rc::<BuddyByteAllocator>,
        },
        Entry {
            name: "slab",
            backend: "slab",
            about: "AllocatorRc<SlabByteAllocator> (over our TLSF)",
            run: ours_rc::<SlabByteAllocator>,
        },
        Entry {
            name: "slab-buddy",
            backend: "slab-buddy",
            about: "AllocatorRc<SlabByteAllocator<BuddyByteAllocator>>",
            run: ours_rc::<SlabByteAllocator<BuddyByteAllocator>>,
        },
        Entry {
            name: "ax-tlsf",
            backend: "ax-tlsf",
            about: "ax_allocator::TlsfByteAllocator in a copy of ax's AllocatorRc",
            run: ax_rc::<ax_allocator::TlsfByteAllocator>,
        },
        Entry {
            name: "ax-slab",
            backend: "ax-slab",
            about: "ax_allocator::SlabByteAllocator in a copy of ax's AllocatorRc",
            run: ax_rc::<ax_allocator::SlabByteAllocator>,
        },
        Entry {
            name: "ax-buddy",
            backend: "ax-buddy",
            about: "ax_allocator::BuddyByteAllocator in a copy of ax's AllocatorRc",
            run: ax_rc::<ax_allocator::BuddyByteAllocator>,
        },
        Entry {
            name: "talc",
            backend: "talc",
            about: "talc 5.1 base Talc in a copy of TalcCell (grow in place)",
            run: |p, s, t| cell(p, s, t, Talc::boxed),
        },
        Entry {
            name: "rlsf",
            backend: "rlsf",
            about: "raw rlsf 0.2 Tlsf in the same cell (the engine alone)",
            run: |p, s, t| cell(p, s, t, Rlsf::boxed),
        },
        Entry {
            name: "bump",
            backend: "bump",
            about: "the bump floor in the same cell",
            run: |p, s, t| {
                cell(p, s, t, |base, size| -> Result<Box<Bump>, String> {
                    Ok(Box::new(Bump::new(base, size)))
                })
            },
        },
    ]
}

/// The entries the chosen contestants select.
pub fn chosen(ctx_backends: &[&crate::contestants::Backend]) -> Vec<Entry> {
    entries().into_iter().filter(|e| ctx_backends.iter().any(|b| b.name == e.backend)).collect()
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let policy = RepPolicy::new(ctx.quick, ctx.reps);
    let specs = specs(ctx.quick);
    let entries = chosen(ctx.backends);
    let n = entries.len();
    let mut failures = Vec::new();
    ctx.step("direct: recording the B-tree trace".into());
    let trace = match record_btree(ctx.pool, specs[3].n) {
        Ok(trace) => trace,
        Err(e) => {
            failures.push(format!("direct: {e}"));
            Trace::default()
        }
    };
    let mut times = vec![vec![Vec::new(); specs.len()]; n];
    let mut spent = vec![vec![Duration::ZERO; specs.len()]; n];
    let mut skipped: Vec<Vec<Option<String>>> = vec![vec![None; specs.len()]; n];
    for (w, spec) in specs.iter().enumerate() {
        let mut order: Vec<usize> = (0..n).collect();
        let mut shuffler = Rng::new(0x0d12_ec70 + w as u64);
        for rep in 0..policy.max_reps {
            shuffler.shuffle(&mut order);
            for &e in &order {
                let entry = &entries[e];
                ctx.step(format!("direct: {} / {} rep {}", spec.name(), entry.name, rep + 1));
                if ctx.quick && spec.slow.contains(&entry.backend) {
                    skipped[e][w] = Some("skipped by --quick (O(n) free)".into());
                }
                if skipped[e][w].is_some() || !policy.another(times[e][w].len(), spent[e][w]) {
                    continue;
                }
                if spec.workload == Workload::BtreeTrace && trace.ops.is_empty() {
                    skipped[e][w] = Some("no trace".into());
                    continue;
                }
                match (entry.run)(ctx.pool, spec, &trace) {
                    Ok(t) => {
                        spent[e][w] += t;
                        times[e][w].push(t.as_secs_f64() * 1e3);
                    }
                    Err(err) => {
                        failures.push(format!("direct: {} / {}: {err}", entry.name, spec.name()));
                        skipped[e][w] = Some(err);
                    }
                }
            }
            ctx.done();
        }
    }
    report(ctx, &entries, &specs, &trace, &times, &skipped, policy, failures)
}

#[allow(clippy::too_many_arguments)]
fn report(
    ctx: &Ctx<'_>,
    entries: &[Entry],
    specs: &[Spec; 4],
    trace: &Trace,
    times: &[Vec<Vec<f64>>],
    skipped: &[Vec<Option<String>>],
    policy: RepPolicy,
    failures: Vec<String>,
) -> SuiteReport {
    let mut table = TextTable {
        title: format!(
            "ArceOS workloads, direct (Vec::new_in(handle) through allocator_api2::Allocator, no routing; \
             {} MiB pool): median ms ({}) of {} reps (more, up to {}, for figures under {:?}); ratio to the best",
            ctx.pool.size() >> 20,
            clock_name(),
            policy.min_reps,
            policy.max_reps,
            policy.min_time
        ),
        headers: vec!["contestant".into()],
        ..TextTable::default()
    };
    for spec in specs {
        table.headers.push(format!("{} ms", spec.name()));
        table.headers.push("x best".into());
    }
    let yardsticks: Vec<bool> = entries.iter().map(|e| e.name != "bump").collect();
    let figures: Vec<Vec<Option<f64>>> = (0..specs.len())
        .map(|w| {
            (0..entries.len())
                .map(|e| if skipped[e][w].is_some() { None } else { median(&times[e][w]) })
                .collect()
        })
        .collect();
    let ratios: Vec<Vec<Option<f64>>> =
        figures.iter().map(|f| ratios_to_best(f, &yardsticks, Better::Lower)).collect();
    let mut csv = String::from("contestant,workload,median_ms,min_ms,reps,ratio_to_best,note\n");
    let mut fewer = false;
    for (e, entry) in entries.iter().enumerate() {
        let mut line = vec![entry.name.to_owned()];
        for (w, spec) in specs.iter().enumerate() {
            let reps = times[e][w].len();
            match (&skipped[e][w], figures[w][e]) {
                (None, Some(ms)) => {
                    let mark = if reps < policy.min_reps { "*" } else { "" };
                    fewer |= reps < policy.min_reps;
                    line.push(format!("{}{mark}", fmt_figure(ms)));
                    line.push(fmt_ratio(ratios[w][e]));
                    let min = times[e][w].iter().copied().fold(f64::INFINITY, f64::min);
                    csv.push_str(&format!(
                        "{},{},{ms:.4},{min:.4},{reps},{},\n",
                        csv_field(entry.name),
                        spec.name(),
                        ratios[w][e].map_or(String::new(), |r| format!("{r:.4}"))
                    ));
                }
                (why, _) => {
                    let why = why.clone().unwrap_or_else(|| "no repetition".into());
                    line.push("skip".into());
                    line.push("-".into());
                    csv.push_str(&format!(
                        "{},{},,,0,,{}\n",
                        csv_field(entry.name),
                        spec.name(),
                        csv_field(&why)
                    ));
                    table.notes.push(format!("{} / {}: {why}", entry.name, spec.name()));
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
    let allocs = trace.ops.iter().filter(|op| matches!(op, Op::Alloc { .. })).count();
    let resizes = trace.ops.iter().filter(|op| matches!(op, Op::Resize { .. })).count();
    table.notes.push(format!(
        "{}: upstream's btree_map({}) on std's BTreeMap, recorded once and replayed through the handle \
         ({} ops: {allocs} allocations, {resizes} resizes, the rest frees; the map's own work is not in it)",
        specs[3].name(),
        specs[3].n,
        trace.ops.len()
    ));
    for entry in entries {
        table.notes.push(format!("{}: {}", entry.name, entry.about));
    }
    let charts = specs
        .iter()
        .enumerate()
        .map(|(w, spec)| Chart {
            file: format!("direct_{}", spec.name()),
            title: format!("{} direct (median ms, lower is better)", spec.name()),
            unit: "ms".into(),
            bars: entries
                .iter()
                .zip(&figures[w])
                .filter_map(|(e, f)| Some((e.name.to_owned(), (*f)?)))
                .collect(),
            log_ok: true,
        })
        .collect();
    SuiteReport { tables: vec![table], csv: vec![("direct.csv".into(), csv)], charts, failures }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_btree_trace_replays_on_every_contestant() {
        // Under Miri, which interprets every byte's state, a small pool and
        // small workloads.
        let (pool_bytes, keys, scale) = if cfg!(miri) { (512 << 10, 40, 1000) } else { (16 << 20, 500, 10) };
        let mut pool = Pool::new(pool_bytes).unwrap();
        let trace = record_btree(&mut pool, keys).unwrap();
        let allocs = trace.ops.iter().filter(|op| matches!(op, Op::Alloc { .. })).count();
        assert_eq!(allocs, trace.blocks);
        assert!(trace.ops.iter().any(|op| matches!(op, Op::Resize { .. })), "keys grow");
        let frees = trace.ops.iter().filter(|op| matches!(op, Op::Free { .. })).count();
        assert_eq!(frees, allocs, "the map frees everything it allocated");
        for entry in entries() {
            // A fresh pool per contestant: under Miri one pool handed to
            // every contestant in turn exhausts the interpreter's memory.
            let mut pool = Pool::new(pool_bytes).unwrap();
            for spec in specs(true) {
                let spec = Spec { n: (spec.n / scale).max(4), ..spec };
                (entry.run)(&mut pool, &spec, &trace).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            }
        }
    }

    #[test]
    fn every_entry_names_a_contestant() {
        let all = crate::contestants::all();
        for entry in entries() {
            assert!(all.iter().any(|b| b.name == entry.backend), "{}", entry.name);
        }
        assert_eq!(
            specs(false).map(|s| s.name()),
            ["vec_push_3M", "vec_rand_free_25K_64", "vec_rand_free_7500_520", "btree_trace_50K"]
        );
    }
}
