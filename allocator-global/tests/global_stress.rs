//! This test binary's `#[global_allocator]` is a `GlobalAllocator` over a
//! slab heap growing from the system: everything here (the test harness
//! included) allocates through it. A multi-threaded stress of mixed
//! operations with verified contents, then std collections' behaviour.

use std::{
    alloc::{GlobalAlloc, Layout},
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Barrier, Mutex},
    thread,
};

use allocator_global::{GlobalAllocator, SystemSource};
use allocator_slab::SlabByteAllocator;
use allocator_testkit::Rng;

#[global_allocator]
static ALLOCATOR: GlobalAllocator<SlabByteAllocator, SystemSource> =
    GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());

/// The tests of this binary read global statistics: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A live block: its pointer, layout and the byte it is filled with.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

/// Sizes: mostly small (the slab classes), some medium, a few large (the
/// backing allocator, and growth from the system).
fn random_layout(rng: &mut Rng) -> Layout {
    let size = match rng.below(100) {
        0..=69 => 1 + rng.below(256),
        70..=94 => 257 + rng.below(4096),
        95..=98 => 4097 + rng.below(60_000),
        _ => 64 << 10 | rng.below(200_000),
    };
    let align = match rng.below(20) {
        0 => 4096,
        1..=3 => 1 << rng.below(7),
        _ => 8,
    };
    Layout::from_size_align(size, align).unwrap()
}

/// Fills the first `len` bytes of `ptr` with `tag` (memset: quick in debug).
///
/// # Safety
///
/// `ptr` holds at least `len` writable bytes.
unsafe fn fill(ptr: *mut u8, len: usize, tag: u8) {
    // SAFETY: caller's contract.
    unsafe { ptr.write_bytes(tag, len) };
}

/// Whether the first `len` bytes of `ptr` all equal `tag`, compared by
/// 512-byte chunks (memcmp: quick in debug).
///
/// # Safety
///
/// `ptr` holds at least `len` initialised bytes.
unsafe fn holds(ptr: *const u8, len: usize, tag: u8) -> bool {
    let reference = [tag; 512];
    // SAFETY: caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    bytes.chunks(512).all(|chunk| chunk == &reference[..chunk.len()])
}

fn stress_thread(seed: u64, operations: usize) -> usize {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = Vec::with_capacity(1024);
    let mut checked = 0;
    for step in 0..operations {
        let tag = (step % 251) as u8;
        match rng.below(10) {
            // Allocate (zeroed now and then), fill.
            0..=4 if live.len() < 1000 => {
                let layout = random_layout(&mut rng);
                let zeroed = rng.below(8) == 0;
                // SAFETY: non-zero-size layout.
                let ptr =
                    unsafe { if zeroed { ALLOCATOR.alloc_zeroed(layout) } else { ALLOCATOR.alloc(layout) } };
                assert!(!ptr.is_null(), "allocation of {layout:?} failed");
                assert_eq!(ptr.addr() % layout.align(), 0, "{layout:?} misaligned");
                if zeroed {
                    // SAFETY: a fresh zeroed block of `layout.size()` bytes.
                    let intact = unsafe { holds(ptr, layout.size(), 0) };
                    assert!(intact, "alloc_zeroed gave dirty memory");
                }
                // SAFETY: a fresh block of `layout.size()` bytes.
                unsafe { fill(ptr, layout.size(), tag) };
                live.push(Block { ptr, layout, tag });
            }
            // Reallocate a random block; the kept prefix must survive.
            5 | 6 if !live.is_empty() => {
                let index = rng.below(live.len());
                let block = &mut live[index];
                let new_size = random_layout(&mut rng).size();
                // SAFETY: `block` is live with its layout; the new size forms
                // a layout with its alignment.
                let ptr = unsafe { ALLOCATOR.realloc(block.ptr, block.layout, new_size) };
                assert!(!ptr.is_null(), "realloc to {new_size} failed");
                assert_eq!(ptr.addr() % block.layout.align(), 0);
                let kept = block.layout.size().min(new_size);
                // SAFETY: `ptr` holds `new_size` bytes, the first `kept` copied.
                let intact = unsafe { holds(ptr, kept, block.tag) };
                assert!(intact, "realloc lost contents");
                // SAFETY: as above.
                unsafe { fill(ptr, new_size, tag) };
                *block = Block {
                    ptr,
                    layout: Layout::from_size_align(new_size, block.layout.align()).unwrap(),
                    tag,
                };
                checked += 1;
            }
            // Free a random block, after checking it.
            _ if !live.is_empty() => {
                let block = live.swap_remove(rng.below(live.len()));
                // SAFETY: `block` is live, filled with its tag.
                let intact = unsafe { holds(block.ptr, block.layout.size(), block.tag) };
                assert!(intact, "a block was overwritten");
                // SAFETY: allocated by `ALLOCATOR` with this layout.
                unsafe { ALLOCATOR.dealloc(block.ptr, block.layout) };
                checked += 1;
            }
            _ => {}
        }
    }
    for block in live {
        // SAFETY: as above.
        let intact = unsafe { holds(block.ptr, block.layout.size(), block.tag) };
        assert!(intact, "a block was overwritten");
        // SAFETY: as above.
        unsafe { ALLOCATOR.dealloc(block.ptr, block.layout) };
        checked += 1;
    }
    checked
}

#[test]
fn four_threads_of_mixed_operations_keep_their_contents() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const THREADS: usize = 4;
    const OPERATIONS: usize = 250_000;
    let before = ALLOCATOR.statistics();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS as u64)
        .map(|seed| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                stress_thread(seed, OPERATIONS)
            })
        })
        .collect();
    let checked: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(checked > THREADS * OPERATIONS / 3, "only {checked} blocks checked");

    let after = ALLOCATOR.statistics();
    assert!(after.used_bytes + after.available_bytes <= after.total_bytes, "{after:?}");
    assert!(after.grow_count >= before.grow_count);
    assert_eq!(after.failed_allocs, before.failed_allocs, "no allocation failed");
    // Everything the threads allocated is back: what is left is the harness's.
    assert!(after.used_bytes < before.used_bytes + (1 << 20), "before {before:?}, after {after:?}");
}

#[test]
fn std_collections_work_and_are_served_by_this_allocator() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&i.to_string());
        text.push(' ');
    }
    assert!(text.starts_with("0 1 2 3 ") && text.ends_with("1998 1999 "));

    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..5000u32 {
        map.entry(format!("key{}", i % 700)).or_default().push(i);
    }
    assert_eq!(map.len(), 700);
    assert_eq!(map["key3"].len(), 8);
    assert_eq!(map["key3"][1], 703);

    let tree: BTreeMap<u64, String> = (0..10_000u64).map(|i| (i * 7 % 10_007, i.to_string())).collect();
    assert_eq!(tree.len(), 10_000);
    assert_eq!(tree.range(..10).count(), 10);
    assert_eq!(tree.first_key_value().map(|(k, _)| *k), Some(0));

    let mut queue: VecDeque<Box<dyn Fn(u32) -> u32>> = VecDeque::new();
    for i in 0..100 {
        queue.push_back(Box::new(move |x| x + i));
    }
    assert_eq!(queue.iter().map(|f| f(1)).sum::<u32>(), 100 + 4950);

    // A large vector: served by us (our statistics see it).
    let big = vec![0xABu8; 8 << 20];
    let during = ALLOCATOR.statistics();
    assert!(during.used_bytes >= 8 << 20, "{during:?}");
    assert!(during.total_bytes >= during.used_bytes + during.available_bytes);
    assert!(during.grow_count > 0, "the heap grew from the system");
    assert!(during.grown_bytes >= during.total_bytes, "every byte came from the system: {during:?}");
    assert!(big.iter().all(|&b| b == 0xAB));
    drop(big);
    let after = ALLOCATOR.statistics();
    assert!(after.used_bytes + (8 << 20) <= during.used_bytes + (1 << 20), "the 8 MiB went back: {after:?}");

    // Threads: spawned, each with its own allocations, results collected.
    let sums: Vec<u64> = (0..4u64)
        .map(|t| thread::spawn(move || (0..10_000).map(|i| vec![t; i % 50].iter().sum::<u64>()).sum()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(sums[2], 2 * (0..10_000u64).map(|i| i % 50).sum::<u64>());
    drop((text, map, tree, queue));
}
