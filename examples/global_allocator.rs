//! A host program whose `#[global_allocator]` is ours: a slab heap (size
//! classes in front of TLSF) behind a spin lock, growing in
//! large chunks taken from the system allocator.
//!
//! Every `String`, `HashMap`, `BTreeMap`, `Vec` and thread stack bookkeeping
//! below goes through it.
//!
//! ```text
//! cargo run --example global_allocator --features global,std,slab
//! ```

use std::{
    collections::{BTreeMap, HashMap},
    sync::mpsc,
    thread,
};

use allocator::{GlobalAllocator, SlabByteAllocator, SystemSource, global::Statistics};

#[global_allocator]
static ALLOCATOR: GlobalAllocator<SlabByteAllocator, SystemSource> =
    GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());

fn report(stage: &str) {
    let Statistics {
        total_bytes,
        used_bytes,
        available_bytes,
        grow_count,
        grown_bytes,
        returned_bytes,
        failed_allocs,
        ..
    } = ALLOCATOR.statistics();
    println!(
        "{stage:<28} total {:>8} KiB  used {:>8} KiB  available {:>8} KiB  grew {grow_count:>2}x ({:>6} KiB), gave back {:>6} KiB  failed {failed_allocs}",
        total_bytes >> 10,
        used_bytes >> 10,
        available_bytes >> 10,
        grown_bytes >> 10,
        returned_bytes >> 10,
    );
}

fn main() {
    report("at start");

    // Strings.
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!("word{} ", i % 1000));
    }
    report("after building a string");

    // A word count in a HashMap.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|&n| n == 10));
    report("after a HashMap word count");

    // An ordered index in a BTreeMap.
    let index: BTreeMap<usize, String> =
        (0..50_000).map(|i| (i * 7919 % 50_021, format!("entry {i}"))).collect();
    assert_eq!(index.len(), 50_000);
    let first: Vec<_> = index.range(..3).map(|(k, v)| format!("{k} => {v}")).collect();
    println!("  first BTreeMap entries: {first:?}");
    report("after a BTreeMap of 50k");

    // Threads allocating concurrently, talking over a channel.
    let (sender, receiver) = mpsc::channel();
    let workers: Vec<_> = (0..4)
        .map(|id| {
            let sender = sender.clone();
            thread::spawn(move || {
                let mut vectors: Vec<Vec<u64>> = Vec::new();
                for n in 0..2_000u64 {
                    vectors.push((0..n % 300).collect());
                    if vectors.len() > 64 {
                        vectors.swap_remove((n % 64) as usize);
                    }
                }
                let total: u64 = vectors.iter().flatten().sum();
                sender.send((id, total, format!("worker {id} done"))).unwrap();
            })
        })
        .collect();
    drop(sender);
    for worker in workers {
        worker.join().unwrap();
    }
    let mut results: Vec<_> = receiver.iter().collect();
    results.sort();
    for (id, total, message) in &results {
        println!("  {message}: sum {total} (thread {id})");
    }
    report("after four threads");

    // A large block: the heap grows by a chunk of its own size.
    let big = vec![1u8; 32 << 20];
    assert_eq!(big.iter().map(|&b| b as usize).sum::<usize>(), 32 << 20);
    report("holding a 32 MiB Vec");
    drop(big);

    drop(counts);
    drop((text, index, results));
    report("after dropping everything");
    // Free chunks beyond the policy's `keep_free` (16 MiB) went back on
    // their own; `trim` gives back every wholly free chunk.
    ALLOCATOR.trim();
    report("after trim");
    let end = ALLOCATOR.statistics();
    assert!(end.returned_bytes > 0, "the 32 MiB chunk went back to the system");
    assert!(end.used_bytes + end.available_bytes <= end.total_bytes);
    assert_eq!(end.failed_allocs, 0);
}
