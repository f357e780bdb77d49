//! Suite: producer-consumer. xmalloc-style: blocks allocated on one thread
//! and freed on another, on the multi-thread contestants
//! ([`crate::locked`]) at 1, 2 and 4 threads (1 and 2 with `--quick`).
//!
//! With T threads, T / 2 pairs: each producer allocates blocks of sizes
//! uniform in `8..=1000` bytes (align 8), stamps them (its seed and a
//! running number in the first eight bytes and the last byte) and sends
//! them in batches of [`BATCH`] through a bounded channel of
//! [`CHANNEL_BATCHES`] batches to its consumer, which checks every stamp
//! and frees the block: every free is a free by another thread, and what a
//! consumer frees its producer allocates again. One thread alternates:
//! allocate a batch, then free it (oldest first).
//!
//! Every pair moves a fixed number of blocks ([`blocks_per_pair`]);
//! operations are allocations plus frees (two per block). The figure is all
//! threads' operations over the wall-clock span from the first start (after
//! a barrier) to the last end, as in the threads suite ([`super::multi`]).
//! Our heaps' used bytes must be back at zero after each run.

use std::{
    sync::{Barrier, mpsc},
    time::Instant,
};

use super::{
    Ctx,
    multi::{self, Block, MAX_SIZE, MIN_SIZE, RunResult, Span, ThreadRun, alloc_block, free_block, stamp},
};
use crate::{
    locked::SharedHeap,
    report::{SuiteReport, fmt_figure},
    rng::Rng,
};

/// Blocks per message.
pub const BATCH: usize = 64;
/// Messages a channel holds before its producer waits.
pub const CHANNEL_BATCHES: usize = 16;

/// Blocks each producer allocates and its consumer frees (the one thread
/// of a 1-thread run does both).
pub fn blocks_per_pair(quick: bool) -> u64 {
    if quick { 50_000 } else { 500_000 }
}

/// Blocks on their way to the consumer.
struct Batch {
    len: usize,
    blocks: [Option<Block>; BATCH],
}

// SAFETY: the blocks are memory of the shared heap (a `Sync` allocator, so
// any thread may free them); a batch moves through the channel and the
// producer keeps no copy, so each block has one owner at a time.
unsafe impl Send for Batch {}

impl Batch {
    const EMPTY: Self = Self { len: 0, blocks: [None; BATCH] };
}

/// Fills `batch` with up to `want` stamped blocks; returns the failures.
fn produce(
    heap: &dyn SharedHeap,
    rng: &mut Rng,
    seed: u64,
    count: &mut u64,
    batch: &mut Batch,
    want: usize,
) -> u64 {
    let mut failed = 0;
    batch.len = 0;
    for _ in 0..want {
        let size = rng.range(MIN_SIZE, MAX_SIZE + 1);
        *count += 1;
        let stamp = stamp(seed, *count);
        match alloc_block(heap, size, stamp) {
            Some(block) => {
                batch.blocks[batch.len] = Some(block);
                batch.len += 1;
            }
            None => failed += 1,
        }
    }
    failed
}

/// Checks and frees every block of `batch`, oldest first; returns the
/// blocks whose stamp was wrong.
fn consume(heap: &dyn SharedHeap, batch: &mut Batch) -> u64 {
    let mut corrupt = 0;
    for slot in &mut batch.blocks[..batch.len] {
        if let Some(block) = slot.take() {
            // Each block of a batch is live and leaves the batch here.
            corrupt += u64::from(!free_block(heap, block));
        }
    }
    batch.len = 0;
    corrupt
}

/// A producer: `blocks` blocks in batches to `to`.
fn producer(
    heap: &dyn SharedHeap,
    blocks: u64,
    seed: u64,
    barrier: &Barrier,
    to: mpsc::SyncSender<Batch>,
) -> ThreadRun {
    let mut rng = Rng::new(seed);
    let (mut count, mut failed, mut ops) = (0, 0, 0);
    barrier.wait();
    let start = Instant::now();
    let mut left = blocks;
    while left > 0 {
        let want = BATCH.min(usize::try_from(left).unwrap_or(BATCH));
        let mut batch = Batch::EMPTY;
        failed += produce(heap, &mut rng, seed, &mut count, &mut batch, want);
        ops += batch.len as u64;
        left -= want as u64;
        if let Err(mpsc::SendError(mut batch)) = to.send(batch) {
            // The consumer is gone (it panicked): free what it would have.
            consume(heap, &mut batch);
            break;
        }
    }
    drop(to);
    ThreadRun { ops, span: Span { start, end: Instant::now() }, failed, corrupt: 0 }
}

/// A consumer: frees every block `from` brings until its producer is done.
fn consumer(heap: &dyn SharedHeap, barrier: &Barrier, from: mpsc::Receiver<Batch>) -> ThreadRun {
    let (mut corrupt, mut ops) = (0, 0);
    barrier.wait();
    let start = Instant::now();
    while let Ok(mut batch) = from.recv() {
        ops += batch.len as u64;
        corrupt += consume(heap, &mut batch);
    }
    ThreadRun { ops, span: Span { start, end: Instant::now() }, failed: 0, corrupt }
}

/// The one thread of a 1-thread run: a batch allocated, then freed.
fn alternate(heap: &dyn SharedHeap, blocks: u64, seed: u64) -> ThreadRun {
    let mut rng = Rng::new(seed);
    let (mut count, mut failed, mut corrupt, mut ops) = (0, 0, 0, 0);
    let start = Instant::now();
    let mut left = blocks;
    let mut batch = Batch::EMPTY;
    while left > 0 {
        let want = BATCH.min(usize::try_from(left).unwrap_or(BATCH));
        failed += produce(heap, &mut rng, seed, &mut count, &mut batch, want);
        ops += 2 * batch.len as u64;
        corrupt += consume(heap, &mut batch);
        left -= want as u64;
    }
    ThreadRun { ops, span: Span { start, end: Instant::now() }, failed, corrupt }
}

/// One measurement: `threads` threads on `heap` (`threads / 2` pairs, or one
/// alternating thread), `blocks` blocks per pair.
pub fn run_once(heap: &dyn SharedHeap, threads: usize, blocks: u64, seed: u64) -> RunResult {
    let runs: Vec<ThreadRun> = if threads <= 1 {
        vec![std::thread::scope(|s| {
            s.spawn(|| alternate(heap, blocks, seed)).join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        })]
    } else {
        let pairs = threads / 2;
        let barrier = Barrier::new(2 * pairs);
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            for pair in 0..pairs {
                let (to, from) = mpsc::sync_channel(CHANNEL_BATCHES);
                let barrier = &barrier;
                let seed = seed.wrapping_add(pair as u64);
                handles.push(s.spawn(move || producer(heap, blocks, seed, barrier, to)));
                handles.push(s.spawn(move || consumer(heap, barrier, from)));
            }
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    };
    RunResult {
        ops: runs.iter().map(|r| r.ops).sum(),
        elapsed: multi::wall_span(runs.iter().map(|r| r.span)),
        failed: runs.iter().map(|r| r.failed).sum(),
        corrupt: runs.iter().map(|r| r.corrupt).sum(),
        leaked: heap.used_bytes().filter(|&used| used != 0),
    }
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let blocks = blocks_per_pair(ctx.quick);
    let in_flight = |threads: usize| if threads <= 1 { BATCH } else { (CHANNEL_BATCHES + 2) * BATCH };
    let once = |heap: &dyn SharedHeap, threads: usize, seed: u64| run_once(heap, threads, blocks, seed);
    let spec = multi::Spec {
        name: "producer-consumer",
        title: format!(
            "Producer-consumer (T/2 producers allocate {} blocks each of {MIN_SIZE}..{MAX_SIZE} B and send them \
             in batches of {BATCH} through a bounded channel of {CHANNEL_BATCHES} batches to T/2 consumers, \
             which check and free them; 1 thread alternates a batch allocated and freed; ops = allocations + \
             frees)",
            fmt_figure(blocks as f64),
        ),
        chart_what: "blocks freed by another thread",
        ops_per_thread: blocks,
        live: &in_flight,
        live_what: "blocks in flight per pair, at most",
        once: &once,
        seed: 0x7063_0000,
    };
    multi::run(ctx, &spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{locked, pool::Pool};

    #[test]
    fn every_contestant_moves_every_block_and_frees_everything() {
        let mut pool = Pool::new(8 << 20).unwrap();
        for backend in locked::all() {
            let heap = backend.instantiate(&mut pool).unwrap();
            for (threads, pairs) in [(1, 1), (2, 1), (4, 2)] {
                let r = run_once(&*heap, threads, 1_000, 5);
                assert_eq!(r.ops, pairs * 2 * 1_000, "{} at {threads}", backend.name);
                assert_eq!((r.failed, r.corrupt, r.leaked), (0, 0, None), "{}", backend.name);
            }
        }
    }
}
