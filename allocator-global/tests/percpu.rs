//! The per-CPU front end: threads on their own caches with cross-thread
//! frees, a simulated CPU id that moves between operations, exact
//! statistics after draining, and out-of-memory that drains the caches.

use std::alloc::GlobalAlloc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use allocator_global::{
    AllocError, CpuId, DEPOT_BATCHES, DefaultRawMutex, GlobalAllocator, MAGAZINE, NoSource, PerCpu,
    ThreadSlots,
};
use allocator_slab::SlabByteAllocator;
use allocator_testkit::{Pool, Rng};
use allocator_tlsf::TlsfByteAllocator;

const MIB: usize = 1 << 20;
/// Fewer operations under Miri.
const OPS: usize = if cfg!(miri) { 150 } else { 20_000 };

use allocator_testkit::layout;

/// A heap over `pool` with per-CPU caches selected by `C`.
fn percpu<B: allocator_global::ByteAllocator, C: CpuId, const CPUS: usize>(
    engine: B,
    pool: &Pool,
) -> PerCpu<B, NoSource, DefaultRawMutex, C, CPUS> {
    let heap = PerCpu::new(GlobalAllocator::new(engine, NoSource));
    // SAFETY: the pool is test memory that outlives the heap (every caller
    // keeps it longer), used by nothing else.
    unsafe { heap.heap().init(pool.start(), pool.size()) }.unwrap();
    heap
}

/// Four threads on their own slots allocate and write, hand every other
/// block to the next thread, which verifies and frees it: frees cross CPUs
/// all the time. Afterwards, drained, nothing is used.
#[test]
fn threads_with_cross_thread_frees() {
    let pool = Pool::new(if cfg!(miri) { MIB } else { 32 * MIB }, 4096);
    let heap = percpu::<_, ThreadSlots, 4>(TlsfByteAllocator::new(), &pool);
    let threads = if cfg!(miri) { 2 } else { 4 };
    thread::scope(|scope| {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..threads).map(|_| mpsc::channel::<(usize, usize, u8)>()).unzip();
        for (index, receiver) in receivers.into_iter().enumerate() {
            let next = senders[(index + 1) % threads].clone();
            let heap = &heap;
            scope.spawn(move || {
                let mut rng = Rng::new(index as u64 + 1);
                let mut own = Vec::new();
                for op in 0..OPS {
                    let size = 1 + rng.below(if op % 16 == 0 { 4000 } else { 600 });
                    let l = layout(size, 8);
                    // SAFETY: a non-zero-size layout.
                    let block = unsafe { heap.alloc(l) };
                    assert!(!block.is_null());
                    let fill = op as u8;
                    // SAFETY: a live block of `size` bytes.
                    unsafe { block.write_bytes(fill, size) };
                    if op % 2 == 0 {
                        next.send((block.addr(), size, fill)).unwrap();
                    } else {
                        own.push((block, size, fill));
                    }
                    while let Ok((addr, size, fill)) = receiver.try_recv() {
                        free_checked(heap, std::ptr::with_exposed_provenance_mut(addr), size, fill);
                    }
                }
                drop(next);
                for (block, size, fill) in own {
                    free_checked(heap, block, size, fill);
                }
                for (addr, size, fill) in receiver {
                    free_checked(heap, std::ptr::with_exposed_provenance_mut(addr), size, fill);
                }
            });
        }
        drop(senders);
    });
    heap.drain();
    assert_eq!(heap.cached_bytes(), 0);
    assert_eq!(heap.statistics().used_bytes, 0);
    assert_eq!(heap.heap().used_bytes(), 0);
}

/// Verifies a block's contents and frees it.
fn free_checked<H: GlobalAlloc>(heap: &H, block: *mut u8, size: usize, fill: u8) {
    // SAFETY: a live block of `size` bytes, written with `fill`, handed to
    // this thread to free once.
    unsafe {
        assert!(std::slice::from_raw_parts(block, size).iter().all(|&b| b == fill), "a block changed");
        heap.dealloc(block, layout(size, 8));
    }
}

/// The CPU a [`Simulated`] context runs on, set by the test.
static CPU: AtomicUsize = AtomicUsize::new(0);

/// A simulated CPU id: what the test says.
struct Simulated;

impl CpuId for Simulated {
    fn current() -> usize {
        CPU.load(Ordering::Relaxed)
    }
}

/// Blocks allocated on one CPU and freed on another land in the freeing
/// CPU's cache; cached blocks count as available, not used; a full
/// magazine sends half back; `drain` empties every cache.
#[test]
fn a_cpu_id_that_moves_between_operations() {
    let pool = Pool::new(4 * MIB, 4096);
    // The slab charges a 64-byte block 64 bytes: statistics can be exact.
    let heap = percpu::<_, Simulated, 2>(SlabByteAllocator::new(), &pool);
    let l = layout(64, 8);
    CPU.store(0, Ordering::Relaxed);
    let first = heap.alloc_block(l).unwrap();
    // The refill took half a magazine: one handed out, the rest cached.
    assert_eq!(heap.cached_bytes(), (MAGAZINE / 2 - 1) * 64);
    assert_eq!(heap.statistics().used_bytes, 64);
    CPU.store(1, Ordering::Relaxed);
    // SAFETY: allocated above with `l`.
    unsafe { heap.dealloc_block(first, l) };
    assert_eq!(heap.cached_bytes(), (MAGAZINE / 2) * 64, "CPU 1 caches the block CPU 0 served");
    assert_eq!(heap.statistics().used_bytes, 0);
    // Fill CPU 1's magazine past full: half goes to the depot (for any CPU).
    let blocks: Vec<_> = (0..2 * MAGAZINE)
        .map(|i| {
            CPU.store(i % 2, Ordering::Relaxed);
            heap.alloc_block(l).unwrap()
        })
        .collect();
    CPU.store(1, Ordering::Relaxed);
    for &block in &blocks {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { heap.dealloc_block(block, l) };
    }
    let stats = heap.statistics();
    assert_eq!(stats.used_bytes, 0);
    let bound = (2 * MAGAZINE + DEPOT_BATCHES * MAGAZINE / 2) * 64;
    assert!(heap.cached_bytes() <= bound, "bounded: {} > {bound}", heap.cached_bytes());
    assert!(stats.used_bytes + stats.available_bytes <= stats.total_bytes);
    assert!(heap.drain() > 0);
    assert_eq!(heap.cached_bytes(), 0);
    assert_eq!(heap.heap().used_bytes(), 0, "every cached block went back");
}

/// Out of memory: the blocks other CPUs cache are drained and the request
/// retried before `NoMemory`; large layouts bypass the caches.
#[test]
fn out_of_memory_drains_the_caches_first() {
    let pool = Pool::new(256 << 10, 4096);
    let heap = percpu::<_, Simulated, 2>(TlsfByteAllocator::new(), &pool);
    let small = layout(1024, 8);
    CPU.store(0, Ordering::Relaxed);
    let mut blocks = Vec::new();
    while let Ok(block) = heap.alloc_block(small) {
        blocks.push(block);
    }
    // CPU 1 frees everything: its cache holds a magazine of blocks, the rest
    // went back to the heap.
    CPU.store(1, Ordering::Relaxed);
    for &block in &blocks {
        // SAFETY: allocated above with `small`, freed once.
        unsafe { heap.dealloc_block(block, small) };
    }
    assert!(heap.cached_bytes() > 0);
    // CPU 0 asks for all of them again: it gets them, through a drain.
    CPU.store(0, Ordering::Relaxed);
    let again: Vec<_> =
        (0..blocks.len()).map(|_| heap.alloc_block(small).expect("drained, then served")).collect();
    assert_eq!(heap.alloc_block(small), Err(AllocError::NoMemory));
    for block in again {
        // SAFETY: allocated above with `small`.
        unsafe { heap.dealloc_block(block, small) };
    }
    let large = layout(64 << 10, 4096);
    let block = heap.alloc_block(large).unwrap();
    // SAFETY: allocated just above.
    unsafe { heap.dealloc_block(block, large) };
    heap.drain();
    assert_eq!(heap.heap().used_bytes(), 0);
}
