//! Suite 6: threads. One allocator shared by T threads (1, 2 and 4; 1 and
//! 2 with `--quick`), each through `GlobalAlloc` behind its lock (ours also
//! behind per-CPU caches over that locked heap), as a kernel's global
//! allocator runs (see [`crate::locked`]).
//!
//! Every thread first fills its own set of live blocks to N (untimed), waits
//! at a barrier with the others, then runs a fixed number of operations with
//! random actions' mix and draws: realloc a random live block of its own to
//! `1..3,000` bytes (one in seven), allocate (three in seven) or free a
//! random live block of its own (three in seven), keeping between N and 2N
//! live, and writes a tag byte into every block it gets. N is at most 1,000,
//! fewer when the pool split between the threads could not hold 2N
//! worst-case blocks twice over ([`live_blocks_per_thread`]). Each thread
//! reads its clock after the barrier and after its last operation; the
//! figure is all threads' operations over the span from the first start to
//! the last end, in wall-clock time (CPU time would hide what waiting on the
//! lock costs), and that divided by T, per thread. Each figure is the median
//! of `--reps` runs, each on a fresh contestant, the contestants in a fresh
//! shuffled order each round.
//!
//! After each run every thread frees what it holds, checking its tags, and
//! the heap's count of used bytes must be back at zero for ours (the others
//! keep no such count): a correctness guard, not a timing.
//! A lost tag, a failed allocation or a leak makes the run fail.
//!
//! More threads than CPUs (4 on a 2-core machine) is kept on purpose: a
//! spin-lock holder preempted by the scheduler leaves the other threads
//! spinning out their time slices, the case spin locks handle worst.

use std::{alloc::Layout, ptr::NonNull, sync::Barrier, time::Instant};

use super::{
    Ctx,
    multi::{self, RunResult, Span},
};
use crate::{
    locked::SharedHeap,
    report::{SuiteReport, fmt_figure},
    rng::{Rng, TalcDraws},
};

/// The largest N (each thread keeps between N and 2N blocks live).
pub const MAX_LIVE_TARGET: usize = 1000;
/// Allocation sizes are drawn below this (talc's draw, biased small).
const MAX_SIZE: usize = 1000;
/// Reallocations go up to `REALLOC_MULTI * MAX_SIZE` bytes.
const REALLOC_MULTI: usize = 3;
/// The most a block can take in the worst case: 3,000 bytes rounded up to a
/// power of two by a buddy, at an alignment of up to 2 KiB.
const WORST_BLOCK: usize = 4096;

/// Operations each thread runs per measurement.
pub fn ops_per_thread(quick: bool) -> u64 {
    if quick { 50_000 } else { 500_000 }
}

/// N, the live blocks each of `threads` threads keeps (it holds up to 2N):
/// [`MAX_LIVE_TARGET`], or fewer so that the pool, split between the
/// threads, holds every thread's 2N worst-case blocks twice over (room for
/// fragmentation); at least 1.
pub fn live_blocks_per_thread(pool_size: usize, threads: usize) -> usize {
    let share = pool_size / threads.max(1);
    (share / (2 * 2 * WORST_BLOCK)).clamp(1, MAX_LIVE_TARGET)
}

/// What one thread did.
#[derive(Debug, Clone, Copy)]
struct ThreadRun {
    ops: u64,
    start: Instant,
    end: Instant,
    /// Allocations and reallocations that returned null.
    failed: u64,
    /// Blocks whose tag byte was not what the thread wrote.
    corrupt: u64,
}

/// One thread's work: fill to `target` live blocks, wait at `barrier`, run
/// `ops` operations, free everything.
fn worker(
    heap: &dyn SharedHeap,
    tag: u8,
    target: usize,
    ops: u64,
    seed: u64,
    barrier: &Barrier,
) -> ThreadRun {
    let mut rng = Rng::new(seed);
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::with_capacity(2 * target + 1);
    let mut failed = 0;
    let mut corrupt = 0;
    let draw_layout = |rng: &mut Rng| {
        Layout::from_size_align(rng.talc_size(MAX_SIZE), rng.talc_align()).unwrap_or(Layout::new::<u64>())
    };
    let alloc = |layout: Layout, live: &mut Vec<(NonNull<u8>, Layout)>| {
        // SAFETY: `layout` has a non-zero size (talc's draw is at least 4).
        let block = NonNull::new(unsafe { heap.alloc(layout) });
        if let Some(p) = block {
            // SAFETY: `p` is a fresh block of at least one byte.
            unsafe { p.write(tag) };
            live.push((p, layout));
        }
        u64::from(block.is_none())
    };
    while live.len() < target && failed == 0 {
        failed += alloc(draw_layout(&mut rng), &mut live);
    }
    barrier.wait();
    let start = Instant::now();
    let mut done = 0;
    while done < ops {
        let action = rng.range(0, 7);
        if action == 6 && !live.is_empty() {
            let i = rng.range(0, live.len());
            let (p, layout) = live[i];
            let new_size = rng.range(1, MAX_SIZE * REALLOC_MULTI);
            // SAFETY: `p` is live for `layout`; `new_size` is non-zero and
            // small, so it forms a layout with `layout.align()`.
            match NonNull::new(unsafe { heap.realloc(p.as_ptr(), layout, new_size) }) {
                Some(q) => live[i] = (q, Layout::from_size_align(new_size, layout.align()).unwrap_or(layout)),
                None => failed += 1,
            }
        } else if (action < 3 && live.len() < 2 * target) || live.is_empty() || live.len() < target {
            failed += alloc(draw_layout(&mut rng), &mut live);
        } else {
            let (p, layout) = live.swap_remove(rng.range(0, live.len()));
            // SAFETY: `p` is live and holds the tag at its first byte; it
            // leaves the list and is freed once with its layout.
            unsafe {
                corrupt += u64::from(p.read() != tag);
                heap.dealloc(p.as_ptr(), layout);
            }
        }
        done += 1;
    }
    let end = Instant::now();
    for (p, layout) in live {
        // SAFETY: every block left in the list is live for its layout, with
        // the tag at its first byte (realloc keeps it).
        unsafe {
            corrupt += u64::from(p.read() != tag);
            heap.dealloc(p.as_ptr(), layout);
        }
    }
    ThreadRun { ops: done, start, end, failed, corrupt }
}

/// One measurement: `threads` threads on `heap`, each keeping `target`
/// blocks live and running `ops` operations.
pub fn run_once(heap: &dyn SharedHeap, threads: usize, target: usize, ops: u64, seed: u64) -> RunResult {
    let barrier = Barrier::new(threads);
    let runs: Vec<ThreadRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let tag = (t as u8).wrapping_add(1);
                s.spawn(move || worker(heap, tag, target, ops, seed.wrapping_add(t as u64), barrier))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    RunResult {
        ops: runs.iter().map(|r| r.ops).sum(),
        elapsed: multi::wall_span(runs.iter().map(|r| Span { start: r.start, end: r.end })),
        failed: runs.iter().map(|r| r.failed).sum(),
        corrupt: runs.iter().map(|r| r.corrupt).sum(),
        leaked: heap.used_bytes().filter(|&used| used != 0),
    }
}

/// Runs the suite.
pub fn run(ctx: &mut Ctx<'_>) -> SuiteReport {
    let ops = ops_per_thread(ctx.quick);
    let pool_size = ctx.pool.size();
    let live = |threads: usize| live_blocks_per_thread(pool_size, threads);
    let once = |heap: &dyn SharedHeap, threads: usize, seed: u64| {
        run_once(heap, threads, live_blocks_per_thread(pool_size, threads), ops, seed)
    };
    let spec = multi::Spec {
        name: "threads",
        title: format!(
            "Threads (each thread: {} ops of random actions' mix, N..2N live blocks of its own, \
             max {MAX_SIZE} B, realloc up to {} B; one shared heap, through GlobalAlloc)",
            fmt_figure(ops as f64),
            MAX_SIZE * REALLOC_MULTI,
        ),
        chart_what: "one shared heap",
        ops_per_thread: ops,
        live: &live,
        live_what: "live blocks per thread",
        once: &once,
        seed: 0x7468_0000,
    };
    multi::run(ctx, &spec)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{locked, pool::Pool};

    #[test]
    fn live_blocks_shrink_with_the_pool_share_and_stay_positive() {
        // 128 MiB over 4 threads: 32 MiB each, room for the full 1,000.
        assert_eq!(live_blocks_per_thread(128 << 20, 4), MAX_LIVE_TARGET);
        // 16 MiB over 4: 4 MiB each, 4 MiB / (4 x 4 KiB) = 256.
        assert_eq!(live_blocks_per_thread(16 << 20, 4), 256);
        assert_eq!(live_blocks_per_thread(16 << 20, 2), 512);
        // Tiny pools still run one block per thread; zero threads count as one.
        assert_eq!(live_blocks_per_thread(4096, 4), 1);
        assert_eq!(live_blocks_per_thread(1 << 20, 0), 64);
        // Every thread's 2N worst-case blocks fit in its share twice over.
        for mib in [1, 3, 16, 128] {
            for threads in [1, 2, 3, 4, 8] {
                let n = live_blocks_per_thread(mib << 20, threads);
                assert!(threads * 2 * n * WORST_BLOCK * 2 <= mib << 20, "{mib} MiB, {threads} threads");
            }
        }
    }

    #[test]
    fn a_run_counts_every_operation_and_frees_everything() {
        let mut pool = Pool::new(4 << 20).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "tlsf").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let r = run_once(&*heap, 2, 50, 2_000, 9);
        assert_eq!(r.ops, 4_000);
        assert!(r.elapsed > Duration::ZERO);
        assert_eq!((r.failed, r.corrupt, r.leaked), (0, 0, None));
        assert_eq!(heap.used_bytes(), Some(0));
    }

    #[test]
    fn a_block_left_live_is_reported_as_a_leak() {
        let mut pool = Pool::new(1 << 20).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "slab").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: a non-zero-size layout.
        let outside = unsafe { heap.alloc(layout) };
        assert!(!outside.is_null());
        let r = run_once(&*heap, 1, 10, 100, 1);
        assert!(r.leaked.is_some_and(|bytes| bytes >= 64), "{:?}", r.leaked);
        // SAFETY: `outside` is live for `layout`.
        unsafe { heap.dealloc(outside, layout) };
        assert_eq!(heap.used_bytes(), Some(0));
    }

    #[test]
    fn an_exhausted_heap_is_reported_not_hidden() {
        // 64 KiB cannot hold 2 x 500 blocks of up to 1,000 bytes.
        let mut pool = Pool::new(64 << 10).unwrap();
        let backend = locked::all().into_iter().find(|b| b.name == "tlsf").unwrap();
        let heap = backend.instantiate(&mut pool).unwrap();
        let r = run_once(&*heap, 2, 500, 1_000, 3);
        assert!(r.failed > 0);
        assert_eq!((r.corrupt, r.leaked), (0, None), "what did fit is freed");
    }
}
