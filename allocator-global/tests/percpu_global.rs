//! `PerCpu` as a host program's `#[global_allocator]` (per-thread slots over
//! a slab heap growing from `mmap`): threads build and exchange std
//! collections, freeing each other's blocks; afterwards, drained, the heap's
//! count of used bytes is back to what the harness itself holds.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use allocator_global::{DefaultRawMutex, GlobalAllocator, MmapSource, PerCpu, ThreadSlots};
use allocator_slab::SlabByteAllocator;

#[global_allocator]
static ALLOCATOR: PerCpu<SlabByteAllocator, MmapSource, DefaultRawMutex, ThreadSlots, 8> =
    PerCpu::new(GlobalAllocator::new(SlabByteAllocator::new(), MmapSource::new()));

#[test]
fn threads_exchange_collections() {
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let (to_main, from_workers) = mpsc::channel::<(usize, Vec<String>, BTreeMap<usize, Box<[u8]>>)>();
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let to_main = to_main.clone();
            thread::spawn(move || {
                for round in 0..rounds {
                    let words: Vec<String> = (0..16).map(|i| format!("{worker}:{round}:{i}")).collect();
                    let map: BTreeMap<usize, Box<[u8]>> = (0..8)
                        .map(|i| (i, vec![(worker + i) as u8; 1 + i * 100].into_boxed_slice()))
                        .collect();
                    to_main.send((worker, words, map)).unwrap();
                }
            })
        })
        .collect();
    drop(to_main);
    let mut received = 0;
    for (worker, words, map) in from_workers {
        // Freed here, on the main thread: blocks of another thread's slot.
        assert!(
            words
                .iter()
                .enumerate()
                .all(|(i, w)| w.starts_with(&format!("{worker}:")) && w.ends_with(&format!(":{i}")))
        );
        assert!(
            map.iter()
                .all(|(&i, block)| block.len() == 1 + i * 100
                    && block.iter().all(|&b| b == (worker + i) as u8))
        );
        received += 1;
    }
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(received, 4 * rounds);
    let before = ALLOCATOR.statistics();
    ALLOCATOR.drain();
    assert_eq!(ALLOCATOR.cached_bytes(), 0);
    let after = ALLOCATOR.statistics();
    assert!(after.used_bytes <= before.used_bytes + (64 << 10), "drained: {before:?} -> {after:?}");
    assert!(after.used_bytes < 4 << 20, "only the harness's own blocks stay live: {after:?}");
}
