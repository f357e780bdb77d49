//! What a C library over `GlobalAllocator` uses: `usable_size`, the size of
//! a block found by the engine (`block_size`, `dealloc_unsized`), chunks
//! straight from the source (`alloc_chunk`, zero-filled under `MmapSource`),
//! and the fork protocol.

use core::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use allocator_global::{AllocError, GlobalAllocator, NoSource, SystemSource};
use allocator_slab::SlabByteAllocator;
use allocator_tlsf::TlsfByteAllocator;

#[test]
fn usable_size_is_the_engines() {
    let heap: GlobalAllocator<SlabByteAllocator, SystemSource> =
        GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());
    let layout = Layout::from_size_align(100, 8).unwrap();
    let block = heap.alloc_block(layout).unwrap();
    // SAFETY: `block` is live with `layout`.
    let usable = unsafe { heap.usable_size(block, layout) };
    // The slab's class for 100 bytes is 112 (a quarter of a power of two apart).
    assert!((100..128).contains(&usable), "{usable}");
    // SAFETY: the usable bytes are the caller's; then freed with `layout`.
    unsafe {
        block.as_ptr().write_bytes(0xa5, usable);
        heap.dealloc_block(block, layout);
    }
    assert_eq!(heap.used_bytes(), 0);
}

/// TLSF finds sizes: a block is freed by its address and alignment alone,
/// across the heap's growth; buddy does not: nothing is freed, the block
/// stays live for a free with its layout.
#[test]
fn blocks_freed_without_their_size() {
    let heap: GlobalAllocator<TlsfByteAllocator, SystemSource> =
        GlobalAllocator::new(TlsfByteAllocator::new(), SystemSource::new());
    let blocks: Vec<_> = (0..2000)
        .map(|i| {
            let layout = Layout::from_size_align(i * 37 % 5000, if i % 3 == 0 { 64 } else { 16 }).unwrap();
            (heap.alloc_block(layout).unwrap(), layout)
        })
        .collect();
    assert!(heap.grow_count() > 1, "the blocks span several chunks");
    for &(block, layout) in blocks.iter().rev() {
        // SAFETY: `block` is live, allocated with `layout.align()`.
        let found = unsafe { heap.block_size(block, layout.align()) }.unwrap();
        assert!(found >= layout.size());
        // SAFETY: as above; freed once.
        assert!(unsafe { heap.dealloc_unsized(block, layout.align()) });
    }
    assert_eq!(heap.used_bytes(), 0);

    let buddy: GlobalAllocator<allocator_buddy::BuddyByteAllocator, SystemSource> =
        GlobalAllocator::new(allocator_buddy::BuddyByteAllocator::new(), SystemSource::new());
    let layout = Layout::from_size_align(100, 16).unwrap();
    let block = buddy.alloc_block(layout).unwrap();
    // SAFETY: `block` is live with `layout`.
    unsafe {
        assert_eq!(buddy.block_size(block, 16), None);
        assert!(!buddy.dealloc_unsized(block, 16), "buddy cannot find the size");
        assert!(buddy.used_bytes() > 0, "so the block is still live");
        buddy.dealloc_block(block, layout);
    }
    assert_eq!(buddy.used_bytes(), 0);
}

#[test]
fn chunks_come_from_the_source_and_go_back() {
    let fixed: GlobalAllocator<TlsfByteAllocator> = GlobalAllocator::new(TlsfByteAllocator::new(), NoSource);
    assert_eq!(fixed.alloc_chunk(4096), Err(AllocError::NoMemory));
    assert_eq!(fixed.alloc_chunk(0), Err(AllocError::InvalidParam));
    assert!(!fixed.source_zeroed());

    let system: GlobalAllocator<TlsfByteAllocator, SystemSource> =
        GlobalAllocator::new(TlsfByteAllocator::new(), SystemSource::new());
    assert_eq!(system.alloc_chunk(usize::MAX - 10), Err(AllocError::NoMemory));
    let (chunk, size) = system.alloc_chunk(10_000).unwrap();
    assert_eq!(size, 12_288, "rounded up to the source's 4 KiB granule");
    // SAFETY: the chunk is ours, `size` bytes; then given back as taken.
    unsafe {
        chunk.as_ptr().write_bytes(1, size);
        system.dealloc_chunk(chunk, size);
    }
    let stats = system.statistics();
    assert_eq!((stats.grow_count, stats.total_bytes), (0, 0), "the heap never saw the chunk");
}

#[cfg(unix)]
#[test]
fn mmap_chunks_are_zero_filled() {
    use allocator_global::MmapSource;
    let heap: GlobalAllocator<TlsfByteAllocator, MmapSource> =
        GlobalAllocator::new(TlsfByteAllocator::new(), MmapSource::new());
    assert!(heap.source_zeroed());
    let (chunk, size) = heap.alloc_chunk(1 << 20).unwrap();
    // SAFETY: the chunk is ours, `size` bytes of fresh mapping.
    let bytes = unsafe { core::slice::from_raw_parts(chunk.as_ptr(), size) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: given back as taken.
    unsafe { heap.dealloc_chunk(chunk, size) };
}

/// `fork_prepare`, `fork`, `fork_parent` / `fork_child` while other threads
/// allocate: every child allocates and frees through the heap and exits 0.
/// A child stuck on a lock would fail the bounded wait (never a duration
/// asserted: the wait only bounds a hang).
#[cfg(unix)]
#[test]
fn fork_protocol_keeps_the_child_heap_usable() {
    use allocator_global::MmapSource;
    static HEAP: GlobalAllocator<SlabByteAllocator, MmapSource> =
        GlobalAllocator::new(SlabByteAllocator::new(), MmapSource::new());
    static STOP: AtomicBool = AtomicBool::new(false);
    static ROUNDS: AtomicUsize = AtomicUsize::new(0);

    let workers: Vec<_> = (0..2)
        .map(|seed| {
            std::thread::spawn(move || {
                let mut live = Vec::new();
                let mut i: usize = seed;
                while !STOP.load(Ordering::Relaxed) {
                    i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let layout = Layout::from_size_align(8 + (i >> 8) % 3000, 8).unwrap();
                    live.push((HEAP.alloc_block(layout).unwrap(), layout));
                    if live.len() > 64 {
                        let (block, layout) = live.swap_remove((i >> 4) % live.len());
                        // SAFETY: live with `layout`, freed once.
                        unsafe { HEAP.dealloc_block(block, layout) };
                    }
                    ROUNDS.fetch_add(1, Ordering::Relaxed);
                }
                for (block, layout) in live {
                    // SAFETY: as above.
                    unsafe { HEAP.dealloc_block(block, layout) };
                }
            })
        })
        .collect();
    while ROUNDS.load(Ordering::Relaxed) < 1000 {
        assert!(!workers.iter().any(|w| w.is_finished()), "a worker stopped");
        std::thread::yield_now();
    }
    for _ in 0..20 {
        // SAFETY: this thread holds no lock of HEAP and allocates nothing
        // through it until `fork_parent`/`fork_child`; each process calls
        // exactly one of them once.
        let pid = unsafe {
            HEAP.fork_prepare();
            let pid = libc::fork();
            if pid == 0 {
                HEAP.fork_child();
            } else {
                HEAP.fork_parent();
            }
            pid
        };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // The child: only async-signal-safe calls besides our heap.
            let mut ok = true;
            for size in [1, 100, 5000, 100_000] {
                let layout = Layout::from_size_align(size, 16).unwrap();
                match HEAP.alloc_block(layout) {
                    // SAFETY: fresh, `size` bytes; freed once with `layout`.
                    Ok(block) => unsafe {
                        block.as_ptr().write_bytes(7, size);
                        HEAP.dealloc_block(block, layout);
                    },
                    Err(_) => ok = false,
                }
            }
            // SAFETY: `_exit` ends the child without running the parent's
            // atexit handlers or test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        let mut waited = 0;
        loop {
            // SAFETY: `pid` is our child; `status` is a valid out-pointer.
            let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if done == pid {
                break;
            }
            waited += 1;
            // A generous bound on a hang (the child needs microseconds).
            assert!(waited < 30_000, "child {pid} hung: the heap's lock stayed held");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    }
    STOP.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(HEAP.used_bytes(), 0);
}
