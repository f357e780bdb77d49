//! Suite: slab colouring. Does starting successive slabs' blocks at
//! different cache-line offsets make walking objects faster?
//!
//! Bonwick's case (1994): a program keeps many objects of one class and
//! reads the same field of each, for example the first object of every
//! slab (a list head, a hot counter). Without colouring that field lies at
//! the same offset in every slab, so with 4 KiB slabs every copy falls in
//! the same set of a cache indexed by the low 12 address bits, and only as
//! many stay cached as the cache has ways. The slab heap gives successive
//! slabs of the 320-byte class (12 blocks, 192 bytes of slack per 4 KiB
//! slab) four colours, 64 bytes apart.
//!
//! Two heaps over our TLSF, identical but for
//! [`SizeClasses::COLOURING`]: each
//! fills `n` slabs of the 320-byte class, then the first word of the first
//! block of every slab is read in a loop (a dependent walk: each word holds
//! the address of the next). The figure is nanoseconds per read, the median
//! of `--reps` interleaved runs; a second walk reads every block of the
//! slabs, where colouring should make no difference.

use std::{alloc::Layout, hint::black_box, ptr::NonNull};

use allocator_slab::{FineClasses, SizeClasses, SlabByteAllocator};
use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{BaseAllocator, ByteAllocator};

use super::Ctx;
use crate::{
    cputime::Stopwatch,
    report::{SuiteReport, TextTable, fmt_figure, fmt_ratio},
    stats::median,
};

/// The default table without colouring.
struct Uncoloured;

impl SizeClasses for Uncoloured {
    const SIZES: &'static [usize] = FineClasses::SIZES;
    const COLOURING: bool = false;
}

/// The class walked.
const SIZE: usize = 320;

/// The numbers of slabs walked.
pub const SLABS: [usize; 4] = [8, 16, 32, 64];

/// Reads per timed walk.
const READS: usize = 4_000_000;

/// Links `blocks` into a ring through their first word and walks it
/// `READS` times: nanoseconds per read.
fn walk(blocks: &[NonNull<u8>]) -> f64 {
    for (i, block) in blocks.iter().enumerate() {
        let next = blocks[(i + 1) % blocks.len()];
        // SAFETY: every block is live, 320 bytes, aligned to 64.
        unsafe { block.cast::<*mut u8>().write(next.as_ptr()) };
    }
    let mut cursor = blocks[0].as_ptr();
    // Warm up once around the ring.
    for _ in 0..blocks.len() {
        // SAFETY: each block's first word holds the next block's address.
        cursor = unsafe { cursor.cast::<*mut u8>().read() };
    }
    let watch = Stopwatch::start();
    for _ in 0..READS {
        // SAFETY: as above.
        cursor = unsafe { cursor.cast::<*mut u8>().read() };
    }
    let elapsed = watch.elapsed();
    black_box(cursor);
    elapsed.as_nanos() as f64 / READS as f64
}

/// Fills `slabs` slabs of the 320-byte class in a heap of table `C` over
/// the pool, and times the two walks: (first block of every slab, every
/// block), ns per read; and the distinct offsets of the first blocks
/// within their slabs.
fn measure<C: SizeClasses>(pool: &mut crate::pool::Pool, slabs: usize) -> Result<(f64, f64, usize), String> {
    let mut heap = SlabByteAllocator::<TlsfByteAllocator, C>::with_classes(TlsfByteAllocator::new());
    // SAFETY: the pool is ours for the heap's life (borrowed mutably here),
    // and its base carries the provenance of all of it.
    unsafe { heap.init(pool.base().as_ptr().expose_provenance(), pool.size()) }.map_err(|e| e.to_string())?;
    let layout = Layout::from_size_align(SIZE, 8).map_err(|e| e.to_string())?;
    let class = C::size_class(layout).ok_or("no class for 320 bytes")?;
    let (capacity, slab) = (C::slab_capacity(class).unwrap_or(1), C::slab_size(class).unwrap_or(4096));
    let mut all = Vec::with_capacity(slabs * capacity);
    for _ in 0..slabs * capacity {
        all.push(heap.alloc(layout).map_err(|e| e.to_string())?);
    }
    // Blocks are carved in order, a slab at a time: every `capacity`-th
    // block opens a slab.
    let firsts: Vec<NonNull<u8>> = all.iter().step_by(capacity).copied().collect();
    let mut offsets: Vec<usize> = firsts.iter().map(|b| b.as_ptr().addr() % slab).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let first = walk(&firsts);
    let every = walk(&all);
    for block in all {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { heap.dealloc(block, layout) };
    }
    Ok((first, every, offsets.len()))
}

/// The number of progress steps.
pub fn steps(reps: usize) -> usize {
    SLABS.len() * reps
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let reps = ctx.reps.max(1);
    let mut table = TextTable {
        title: format!(
            "Slab colouring: reading one word of the first {SIZE}-byte block of each of n slabs, and of every \
             block, ns per read (dependent loads), median of {reps}; uncoloured over coloured"
        ),
        headers: [
            "slabs",
            "first: coloured ns",
            "uncoloured ns",
            "ratio",
            "every: coloured ns",
            "uncoloured ns",
            "ratio",
            "offsets (col/unc)",
        ]
        .map(String::from)
        .to_vec(),
        ..TextTable::default()
    };
    let mut csv =
        String::from("slabs,first_coloured_ns,first_uncoloured_ns,every_coloured_ns,every_uncoloured_ns\n");
    let mut failures = Vec::new();
    for slabs in SLABS {
        ctx.step(format!("colouring: {slabs} slabs"));
        let (mut fc, mut fu, mut ec, mut eu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut offsets = (0, 0);
        for _ in 0..reps {
            match (measure::<FineClasses>(ctx.pool, slabs), measure::<Uncoloured>(ctx.pool, slabs)) {
                (Ok(c), Ok(u)) => {
                    fc.push(c.0);
                    ec.push(c.1);
                    fu.push(u.0);
                    eu.push(u.1);
                    offsets = (c.2, u.2);
                }
                (Err(e), _) | (_, Err(e)) => failures.push(format!("colouring: {e}")),
            }
            ctx.done();
        }
        let m = |v: &[f64]| median(v).unwrap_or(f64::NAN);
        let (fc, fu, ec, eu) = (m(&fc), m(&fu), m(&ec), m(&eu));
        table.rows.push(vec![
            slabs.to_string(),
            fmt_figure(fc),
            fmt_figure(fu),
            fmt_ratio(Some(fu / fc)),
            fmt_figure(ec),
            fmt_figure(eu),
            fmt_ratio(Some(eu / ec)),
            format!("{} / {}", offsets.0, offsets.1),
        ]);
        csv.push_str(&format!("{slabs},{fc:.3},{fu:.3},{ec:.3},{eu:.3}\n"));
    }
    table.notes.push(
        "ratio above 1: the uncoloured heap is slower; offsets: distinct offsets of the first blocks in their slabs"
            .into(),
    );
    SuiteReport {
        tables: vec![table],
        csv: vec![("colouring.csv".into(), csv)],
        charts: Vec::new(),
        failures,
    }
}
