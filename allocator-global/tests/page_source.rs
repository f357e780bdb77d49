//! A heap growing from a real frame allocator (`BitmapPageAllocator`), with
//! page allocation passed through the same object.

use allocator_bitmap::BitmapPageAllocator;
use allocator_global::{AllocError, GlobalAllocator, GrowthPolicy, PageAllocatorSource};
use allocator_slab::SlabByteAllocator;
use allocator_testkit::Pool;
use allocator_tlsf::TlsfByteAllocator;

const PAGE: usize = 4096;

type Kernel<B> = GlobalAllocator<B, PageAllocatorSource<BitmapPageAllocator<PAGE>>>;

/// # Safety
///
/// The caller gives the kernel's page allocator only test memory that
/// outlives it.
unsafe fn kernel<B>(heap: B, policy: GrowthPolicy) -> Kernel<B> {
    // SAFETY: forwarded to the caller.
    GlobalAllocator::with_policy(
        heap,
        unsafe { PageAllocatorSource::new(BitmapPageAllocator::new()) },
        policy,
    )
}

use allocator_testkit::layout;

#[test]
fn the_heap_grows_from_frames_doubling_up_to_the_cap() {
    let memory = Pool::new(8 << 20, 1 << 20);
    // SAFETY: the kernel is given only the test pool below, which outlives it.
    let k = unsafe { kernel(TlsfByteAllocator::new(), GrowthPolicy::new(64 << 10, 256 << 10)) };
    // SAFETY: the memory is unused and outlives `k`.
    unsafe { k.init_pages(memory.start(), 8 << 20) }.unwrap();
    assert_eq!(k.total_pages(), 2048);

    let block = layout(16 << 10, 8);
    let mut blocks = Vec::new();
    let mut chunks = Vec::new();
    while chunks.len() < 5 {
        let pages_before = k.used_pages();
        let grows_before = k.grow_count();
        blocks.push(k.alloc_block(block).unwrap());
        if k.grow_count() > grows_before {
            assert_eq!(k.grow_count(), grows_before + 1);
            chunks.push((k.used_pages() - pages_before) * PAGE);
        }
    }
    assert_eq!(chunks, [64 << 10, 128 << 10, 256 << 10, 256 << 10, 256 << 10]);
    assert_eq!(k.statistics().grown_bytes, chunks.iter().sum::<usize>());
    for &ptr in &blocks {
        let addr = ptr.as_ptr().addr();
        assert!(addr >= memory.start() && addr + (16 << 10) <= memory.start() + (8 << 20));
    }
    for ptr in blocks {
        // SAFETY: allocated above with `block`.
        unsafe { k.dealloc_block(ptr, block) };
    }
    assert_eq!(k.used_bytes(), 0);
    // Free chunks went back as they emptied, keeping the policy's
    // `keep_free` (its cap, 256 KiB) for the next burst; `trim` returns it.
    let stats = k.statistics();
    assert_eq!(k.used_pages() * PAGE, stats.held_bytes);
    assert!(stats.held_bytes >= 256 << 10 && stats.returned_bytes > 0, "{stats:?}");
    k.trim();
    assert_eq!(k.used_pages(), 0, "every frame back after trim");
}

#[test]
fn frames_and_heap_share_one_object_until_memory_runs_out() {
    let memory = Pool::new(4 << 20, 1 << 20);
    // SAFETY: the kernel is given only the test pool below, which outlives it.
    let k = unsafe { kernel(SlabByteAllocator::new(), GrowthPolicy::DEFAULT) };
    assert_eq!(k.alloc_block(layout(64, 8)), Err(AllocError::NoMemory), "no frames yet");
    assert_eq!(k.statistics().failed_allocs, 1);
    // SAFETY: the memory is unused and outlives `k`.
    unsafe { k.init_pages(memory.start(), 4 << 20) }.unwrap();

    let frame = k.alloc_pages(2, 8 * PAGE).unwrap();
    assert_eq!(frame % (8 * PAGE), 0);
    assert_eq!(k.alloc_pages(0, PAGE), Err(AllocError::InvalidParam));
    let small = k.alloc_block(layout(200, 8)).unwrap();
    assert_eq!(k.grow_count(), 1);
    assert_eq!(k.used_pages(), 2 + (64 << 10) / PAGE);

    // Take frames until none are left; then the heap cannot grow any more.
    let mut frames = Vec::new();
    while let Ok(f) = k.alloc_pages(1, PAGE) {
        frames.push(f);
    }
    assert_eq!(k.available_pages(), 0);
    assert_eq!(k.alloc_block(layout(1 << 20, 8)), Err(AllocError::NoMemory));
    // Give frames back: the heap grows again.
    for f in frames.drain(..) {
        // SAFETY: `f` came from `alloc_pages(1, ..)` and is unused.
        unsafe { k.dealloc_pages(f, 1) };
    }
    let big = k.alloc_block(layout(1 << 20, 8)).unwrap();
    assert!(k.grow_count() >= 2);
    // SAFETY: both blocks are live with these layouts; `frame` is unused.
    unsafe {
        k.dealloc_block(big, layout(1 << 20, 8));
        k.dealloc_block(small, layout(200, 8));
        k.dealloc_pages(frame, 2);
    }
    let stats = k.statistics();
    assert_eq!(stats.used_bytes, 0);
    assert!(stats.used_bytes + stats.available_bytes <= stats.total_bytes);
    assert_eq!(k.used_pages() * PAGE, stats.grown_bytes);
}
