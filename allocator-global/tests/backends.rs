//! `GlobalAllocator` over the workspace's real engines (not as this binary's
//! global allocator): fixed arenas, growth from the system, statics.

use std::{
    alloc::{GlobalAlloc, Layout},
    sync::Arc,
    thread,
};

use allocator_global::{AllocError, GlobalAllocator, GrowthPolicy, NoSource, SystemSource};
use allocator_slab::SlabByteAllocator;
use allocator_testkit::Pool;
use allocator_tlsf::TlsfByteAllocator;

use allocator_testkit::layout;

/// Fills a fixed heap with `block`s until it refuses, checks the failure is a
/// null pointer and `NoMemory`, frees everything and checks it recovers.
fn fill_fixed_heap<B: allocator_global::ByteAllocator>(heap: &GlobalAllocator<B>, block: Layout) -> usize {
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a non-zero-size layout.
        let ptr = unsafe { heap.alloc(block) };
        if ptr.is_null() {
            break;
        }
        // SAFETY: a fresh block of `block.size()` bytes.
        unsafe { ptr.write_bytes(blocks.len() as u8, block.size()) };
        blocks.push(ptr);
    }
    assert_eq!(heap.alloc_block(block), Err(AllocError::NoMemory));
    let full = heap.statistics();
    assert!(full.used_bytes + full.available_bytes <= full.total_bytes, "{full:?}");
    assert_eq!(full.grow_count, 0);
    assert!(full.failed_allocs >= 2);
    let count = blocks.len();
    for (i, ptr) in blocks.into_iter().enumerate() {
        // SAFETY: a live block filled with `i as u8`.
        let intact = unsafe { std::slice::from_raw_parts(ptr, block.size()) }.iter().all(|&b| b == i as u8);
        assert!(intact, "block {i} was overwritten");
        // SAFETY: allocated above with `block`.
        unsafe { heap.dealloc(ptr, block) };
    }
    assert_eq!(heap.used_bytes(), 0);
    count
}

#[test]
fn fixed_tlsf_heap_fills_and_recovers() {
    let arena = Pool::new(1 << 20, 4096);
    let heap: GlobalAllocator<TlsfByteAllocator> = GlobalAllocator::new(TlsfByteAllocator::new(), NoSource);
    // SAFETY: the arena is unused and outlives `heap`.
    unsafe { heap.init(arena.start(), arena.size()) }.unwrap();
    let count = fill_fixed_heap(&heap, layout(1000, 8));
    assert!(count > 900, "{count} blocks of 1000 bytes in 1 MiB");
    assert!(heap.alloc_block(layout(900 << 10, 8)).is_ok(), "one large block fits again");
}

#[test]
fn fixed_slab_heap_fills_and_recovers() {
    let arena = Pool::new(1 << 20, 4096);
    let heap: GlobalAllocator<SlabByteAllocator> = GlobalAllocator::new(SlabByteAllocator::new(), NoSource);
    // SAFETY: the arena is unused and outlives `heap`.
    unsafe { heap.init(arena.start(), arena.size()) }.unwrap();
    let count = fill_fixed_heap(&heap, layout(96, 8));
    assert!(count > 7000, "{count} blocks of 96 bytes (128-byte class) in 1 MiB");
    // Empty slabs went back: one large block fits again.
    assert!(heap.alloc_block(layout(256 << 10, 8)).is_ok());
}

#[test]
fn heaps_grow_from_the_system_with_real_engines() {
    let tlsf: GlobalAllocator<TlsfByteAllocator, SystemSource> = GlobalAllocator::with_policy(
        TlsfByteAllocator::new(),
        SystemSource::new(),
        GrowthPolicy::new(64 << 10, 1 << 20),
    );
    let slab: GlobalAllocator<SlabByteAllocator, SystemSource> = GlobalAllocator::with_policy(
        SlabByteAllocator::new(),
        SystemSource::new(),
        GrowthPolicy::new(64 << 10, 1 << 20),
    );
    for size in [8, 100, 4096, 5000, 100_000, 3 << 20] {
        for align in [1, 64, 4096] {
            let l = layout(size, align);
            let a = tlsf.alloc_block(l).unwrap_or_else(|e| panic!("tlsf {l:?}: {e}"));
            let b = slab.alloc_block(l).unwrap_or_else(|e| panic!("slab {l:?}: {e}"));
            assert_eq!(a.as_ptr().addr() % align, 0);
            assert_eq!(b.as_ptr().addr() % align, 0);
            // SAFETY: each block holds `size` bytes.
            unsafe {
                a.as_ptr().write_bytes(1, size);
                b.as_ptr().write_bytes(2, size);
            }
        }
    }
    for heap in [tlsf.statistics(), slab.statistics()] {
        assert!(heap.grow_count >= 3, "{heap:?}");
        assert!(heap.grown_bytes >= heap.total_bytes);
        assert!(heap.used_bytes + heap.available_bytes <= heap.total_bytes);
        assert_eq!(heap.failed_allocs, 0);
    }
}

#[test]
fn a_static_tlsf_heap_is_shared_by_threads() {
    static HEAP: GlobalAllocator<TlsfByteAllocator, SystemSource> =
        GlobalAllocator::new(TlsfByteAllocator::new(), SystemSource::new());
    let done = Arc::new(());
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let _done = done.clone();
            thread::spawn(move || {
                let mut v = allocator_api2::vec::Vec::new_in(&HEAP);
                for i in 0..20_000u32 {
                    v.push(i ^ u32::from(t));
                }
                v.iter().enumerate().all(|(i, &x)| x == i as u32 ^ u32::from(t))
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
    assert_eq!(HEAP.used_bytes(), 0);
    assert!(HEAP.grow_count() >= 1);
}
