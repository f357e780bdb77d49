//! Suite: larson. Server churn after Larson and Krishnan's benchmark, on the
//! multi-thread contestants ([`crate::locked`]) at 1, 2 and 4 threads (1
//! and 2 with `--quick`).
//!
//! Every thread fills a window of N slots with blocks of sizes uniform in
//! `8..=1000` bytes (align 8; untimed), waits at a barrier with the others,
//! then runs a fixed number of rounds, each: free the block of a random slot
//! and allocate a new block of a random size into it. Every
//! [`HANDOFF_EVERY`] rounds each thread hands its whole window to the next
//! thread (thread `t` to `t + 1`, the last to the first, through a bounded
//! channel) and goes on with the window the previous thread handed it, so
//! it frees blocks another thread allocated (Larson's "a thread inherits
//! the blocks of the thread before it"). With one thread the window stays.
//!
//! Every block gets a stamp (its thread's seed and a running number) in its
//! first eight bytes and last byte when it is allocated, checked before it
//! is freed. Operations are allocations plus frees (a round is two); the
//! figure is all threads' operations over the wall-clock span from the first
//! start to the last end (handoffs included), as in the threads suite
//! ([`super::multi`]). After each run every thread frees the window it
//! holds (checked, untimed) and our heaps' used bytes must be back at zero.

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

/// The largest window (N) of each thread.
pub const MAX_WINDOW: usize = 1000;
/// Rounds between two handoffs of the windows.
pub const HANDOFF_EVERY: u64 = 10_000;

/// Rounds (a free and an allocation each) every thread runs.
pub fn rounds_per_thread(quick: bool) -> u64 {
    if quick { 40_000 } else { 400_000 }
}

/// N, the window of each of `threads` threads: [`MAX_WINDOW`], or fewer so
/// that the pool, split between the threads, holds each window of 1 KiB
/// blocks four times over; at least 1.
pub fn window(pool_size: usize, threads: usize) -> usize {
    (pool_size / threads.max(1) / (4 * 1024)).clamp(1, MAX_WINDOW)
}

/// A window on its way to the next thread.
struct Window(Vec<Option<Block>>);

// SAFETY: the blocks are memory of the shared heap (a `Sync` allocator, so
// any thread may free them); the window moves with the channel and the
// sender keeps no copy of it, so each block has one owner at a time.
unsafe impl Send for Window {}

/// One thread: fill a window, wait at `barrier`, run `rounds` rounds
/// handing the window on every [`HANDOFF_EVERY`] rounds, then free what it
/// holds.
#[allow(clippy::too_many_arguments)]
fn worker(
    heap: &dyn SharedHeap,
    n: usize,
    rounds: u64,
    seed: u64,
    barrier: &Barrier,
    next: Option<&mpsc::SyncSender<Window>>,
    mine: Option<mpsc::Receiver<Window>>,
) -> ThreadRun {
    let mut rng = Rng::new(seed);
    let mut count = 0u64;
    let mut failed = 0;
    let mut corrupt = 0;
    let mut window: Vec<Option<Block>> = (0..n)
        .map(|_| {
            count += 1;
            let block = alloc_block(heap, rng.range(MIN_SIZE, MAX_SIZE + 1), stamp(seed, count));
            failed += u64::from(block.is_none());
            block
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut ops = 0;
    for round in 1..=rounds {
        let slot = rng.below(n);
        if let Some(block) = window[slot].take() {
            corrupt += u64::from(!free_block(heap, block));
            ops += 1;
        }
        count += 1;
        window[slot] = alloc_block(heap, rng.range(MIN_SIZE, MAX_SIZE + 1), stamp(seed, count));
        failed += u64::from(window[slot].is_none());
        ops += 1;
        if round % HANDOFF_EVERY == 0
            && let (Some(next), Some(mine)) = (next, &mine)
        {
            // The channel holds one window, so the send never waits; the
            // receive waits for the previous thread's handoff.
            if next.send(Window(std::mem::take(&mut window))).is_err() {
                break;
            }
            match mine.recv() {
                Ok(Window(inherited)) => window = inherited,
                Err(_) => break,
            }
        }
    }
    let end = Instant::now();
    for block in window.into_iter().flatten() {
        corrupt += u64::from(!free_block(heap, block));
    }
    ThreadRun { ops, span: Span { start, end }, failed, corrupt }
}

/// One measurement: `threads` threads on `heap`, windows of `n` blocks,
/// `rounds` rounds each.
pub fn run_once(heap: &dyn SharedHeap, threads: usize, n: usize, rounds: u64, seed: u64) -> RunResult {
    let barrier = Barrier::new(threads);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::sync_channel(1)).unzip();
    let runs: Vec<ThreadRun> = std::thread::scope(|s| {
        let handles: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(t, mine)| {
                let barrier = &barrier;
                // Thread `t` hands to `t + 1` and inherits from `t - 1`;
                // alone, it keeps its window.
                let next = (threads > 1).then(|| &senders[(t + 1) % threads]);
                let mine = (threads > 1).then_some(mine);
                let seed = seed.wrapping_add(t as u64);
                s.spawn(move || worker(heap, n, rounds, seed, barrier, next, mine))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
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
    let rounds = rounds_per_thread(ctx.quick);
    let pool_size = ctx.pool.size();
    let live = |threads: usize| window(pool_size, threads);
    let once = |heap: &dyn SharedHeap, threads: usize, seed: u64| {
        run_once(heap, threads, window(pool_size, threads), rounds, seed)
    };
    let spec = multi::Spec {
        name: "larson",
        title: format!(
            "Larson (each thread: a window of N blocks of {MIN_SIZE}..{MAX_SIZE} B; {} rounds of free a \
             random slot + allocate into it; every {} rounds each thread hands its window to the next, \
             which frees what the previous one allocated; ops = frees + allocations)",
            fmt_figure(rounds as f64),
            fmt_figure(HANDOFF_EVERY as f64),
        ),
        chart_what: "larson server churn",
        ops_per_thread: 2 * rounds,
        live: &live,
        live_what: "window per thread (N)",
        once: &once,
        seed: 0x6c61_0000,
    };
    multi::run(ctx, &spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{locked, pool::Pool};

    #[test]
    fn windows_fit_the_pool_share() {
        assert_eq!(window(128 << 20, 4), MAX_WINDOW);
        assert_eq!(window(4 << 20, 4), 256);
        assert_eq!(window(4096, 4), 1);
    }

    #[test]
    fn every_contestant_runs_handoffs_and_frees_everything() {
        let mut pool = Pool::new(8 << 20).unwrap();
        for backend in locked::all() {
            let heap = backend.instantiate(&mut pool).unwrap();
            for threads in [1, 3] {
                let r = run_once(&*heap, threads, 100, 3 * HANDOFF_EVERY + 5, 7);
                let expected = threads as u64 * 2 * (3 * HANDOFF_EVERY + 5);
                assert_eq!(r.ops, expected, "{}", backend.name);
                assert_eq!((r.failed, r.corrupt, r.leaked), (0, 0, None), "{}", backend.name);
            }
        }
    }

    #[test]
    fn an_overwritten_block_is_caught() {
        let mut pool = Pool::new(1 << 20).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "tlsf").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let block = alloc_block(&*heap, 100, stamp(1, 1)).unwrap();
        // SAFETY: a live block of 100 bytes.
        unsafe { block.p.as_ptr().add(99).write(!block.p.as_ptr().add(99).read()) };
        assert!(!free_block(&*heap, block));
        assert_eq!(heap.used_bytes(), Some(0));
    }
}
