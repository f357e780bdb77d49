//! The growth layer (`Growing`, under `GlobalAllocator`): chunks come from a
//! frame allocator or from `mmap`, go back when wholly free, a request no
//! memory could serve takes nothing, a growth that did not help is given
//! back, and the heap grows past its chunk table.

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_bitmap::BitmapPageAllocator;
use allocator_buddy::BuddyByteAllocator;
use allocator_global::{
    AllocError, ByteAllocator, GlobalAllocator, Growing, GrowthPolicy, MAX_CHUNKS, PageAllocator,
    PageAllocatorSource,
};
use allocator_slab::SlabByteAllocator;
use allocator_testkit::Pool;
use allocator_tlsf::TlsfByteAllocator;

const PAGE: usize = 4096;
const MIB: usize = 1 << 20;

type Frames = PageAllocatorSource<BitmapPageAllocator<PAGE>>;

/// A global allocator over `heap`, growing from frames of `memory` (from
/// `offset` bytes into it, `size` bytes).
fn kernel<B: ByteAllocator>(
    heap: B,
    policy: GrowthPolicy,
    memory: &Pool,
    offset: usize,
    size: usize,
) -> GlobalAllocator<B, Frames> {
    // SAFETY: the page allocator is given only `memory`, test memory that
    // outlives the allocator (every caller keeps the pool alive longer).
    let frames = unsafe { PageAllocatorSource::new(BitmapPageAllocator::new()) };
    let kernel = GlobalAllocator::with_policy(heap, frames, policy);
    // SAFETY: as above; the range lies inside the pool.
    unsafe { kernel.init_pages(memory.start() + offset, size) }.unwrap();
    kernel
}

use allocator_testkit::layout;

/// Allocates `layout` until the heap says no, writing each block; returns
/// the blocks.
fn fill<B: ByteAllocator>(k: &GlobalAllocator<B, Frames>, layout: Layout) -> Vec<NonNull<u8>> {
    let mut blocks = Vec::new();
    while let Ok(block) = k.alloc_block(layout) {
        // SAFETY: a live block of `layout.size()` bytes.
        unsafe { block.as_ptr().write_bytes(blocks.len() as u8, layout.size()) };
        blocks.push(block);
    }
    blocks
}

fn free_all<B: ByteAllocator>(k: &GlobalAllocator<B, Frames>, blocks: Vec<NonNull<u8>>, layout: Layout) {
    for (i, block) in blocks.into_iter().enumerate() {
        // SAFETY: allocated by `fill` with `layout`, freed once; its first
        // byte is what `fill` wrote.
        unsafe {
            assert_eq!(block.as_ptr().read(), i as u8);
            k.dealloc_block(block, layout);
        }
    }
}

/// A burst of 1 MiB blocks and of small ones fills the frames; after the
/// frees and `trim` every frame is back, and a run as large as the whole
/// memory is served again. For each engine.
#[test]
fn frames_go_back_after_a_burst() {
    fn round<B: ByteAllocator>(heap: B) {
        let memory = Pool::new(32 * MIB, 2 * MIB);
        let k = kernel(heap, GrowthPolicy::new(64 << 10, 4 * MIB), &memory, 0, 32 * MIB);
        assert_eq!(k.used_pages(), 0);
        for l in [layout(MIB, 8), layout(100, 8)] {
            let blocks = fill(&k, l);
            assert!(blocks.len() * l.size() > 16 * MIB, "the burst filled the frames");
            assert!(k.used_pages() > 4096);
            free_all(&k, blocks, l);
            k.trim();
            let stats = k.statistics();
            assert_eq!(k.used_pages(), 0, "every frame back: {stats:?}");
            assert_eq!((stats.held_chunks, stats.held_bytes), (0, 0));
            assert_eq!(stats.returned_bytes, stats.grown_bytes);
        }
        let run = k.alloc_pages(32 * MIB / PAGE, 2 * MIB).expect("the whole memory as one run");
        // SAFETY: allocated just above.
        unsafe { k.dealloc_pages(run, 32 * MIB / PAGE) };
    }
    round(TlsfByteAllocator::new());
    round(BuddyByteAllocator::<32>::new());
    round(SlabByteAllocator::new());
}

/// Without `trim`: with `keep_free(0)` chunks go back as the frees make
/// them wholly free; with the default hysteresis up to `keep_free` bytes stay.
#[test]
fn frees_give_chunks_back_beyond_keep_free() {
    let memory = Pool::new(32 * MIB, 2 * MIB);
    let l = layout(256 << 10, 8);
    let k =
        kernel(TlsfByteAllocator::new(), GrowthPolicy::new(MIB, MIB).with_keep_free(0), &memory, 0, 32 * MIB);
    let blocks = fill(&k, l);
    free_all(&k, blocks, l);
    assert_eq!(k.used_pages(), 0, "keep_free(0): all back without trim: {:?}", k.statistics());

    let memory = Pool::new(32 * MIB, 2 * MIB);
    let k = kernel(
        TlsfByteAllocator::new(),
        GrowthPolicy::new(MIB, MIB).with_keep_free(4 * MIB),
        &memory,
        0,
        32 * MIB,
    );
    let blocks = fill(&k, l);
    free_all(&k, blocks, l);
    // At least `keep_free` stays, and no more chunks than needed for it:
    // two here.
    let stats = k.statistics();
    assert!(stats.held_bytes >= 4 * MIB && stats.held_chunks <= 2, "about keep_free stays: {stats:?}");
    k.trim();
    assert_eq!(k.used_pages(), 0);
}

/// A request no memory could serve (a 2 MiB block from a buddy whose largest
/// block is 1 MiB) takes no frame, however often it is asked.
#[test]
fn an_impossible_request_takes_nothing() {
    let memory = Pool::new(16 * MIB, MIB);
    let k = kernel(BuddyByteAllocator::<21>::empty(), GrowthPolicy::DEFAULT, &memory, 0, 16 * MIB);
    for _ in 0..6 {
        assert_eq!(k.alloc_block(layout(2 * MIB, 8)), Err(AllocError::NoMemory));
    }
    let stats = k.statistics();
    assert_eq!(k.used_pages(), 0, "{stats:?}");
    assert_eq!((stats.grow_count, stats.impossible_requests, stats.failed_allocs), (0, 6, 6));
    let block = k.alloc_block(layout(MIB, 8)).expect("the largest block still works");
    // SAFETY: allocated just above.
    unsafe { k.dealloc_block(block, layout(MIB, 8)) };
}

/// A growth that did not make its request succeed is given back: a buddy
/// cannot cut an aligned 1 MiB block from the first (tight) chunk, whose
/// start is 512 KiB past a 1 MiB boundary, and the source has no room for
/// the second, larger estimate.
#[test]
fn a_growth_that_did_not_help_is_given_back() {
    let memory = Pool::new(4 * MIB, MIB);
    let k = kernel(BuddyByteAllocator::<32>::new(), GrowthPolicy::DEFAULT, &memory, MIB / 2, 2 * MIB);
    assert_eq!(k.alloc_block(layout(MIB, 8)), Err(AllocError::NoMemory));
    let stats = k.statistics();
    assert_eq!(k.used_pages(), 0, "{stats:?}");
    assert_eq!((stats.grow_count, stats.return_count, stats.held_chunks), (1, 1, 0), "{stats:?}");
}

/// The heap grows past its chunk table: past 16 chunks each growth
/// takes at least what the heap holds, so the table never fills.
#[test]
fn growth_has_no_ceiling_at_the_chunk_table() {
    let memory = Pool::new(64 * MIB, MIB);
    let small = GrowthPolicy::new(64 << 10, 64 << 10);
    let k = kernel(TlsfByteAllocator::new(), small, &memory, 0, 64 * MIB);
    let l = layout(48 << 10, 8);
    let blocks: Vec<NonNull<u8>> = (0..1000).map(|_| k.alloc_block(l).expect("grows")).collect();
    let stats = k.statistics();
    assert!(stats.held_chunks < MAX_CHUNKS && stats.held_chunks > 16, "{stats:?}");
    for block in blocks {
        // SAFETY: allocated above with `l`.
        unsafe { k.dealloc_block(block, l) };
    }
    k.trim();
    assert_eq!(k.used_pages(), 0);
}

/// `Growing` without a lock, as an `AllocatorRc` or a per-CPU layer would
/// hold it: the same behaviour through the trait.
#[test]
fn growing_is_a_byte_allocator() {
    let memory = Pool::new(8 * MIB, MIB);
    // SAFETY: the page allocator is given only `memory`, which outlives it.
    let mut frames = unsafe { PageAllocatorSource::new(BitmapPageAllocator::<PAGE>::new()) };
    // SAFETY: as above.
    unsafe { allocator_global::BaseAllocator::init(frames.page_allocator_mut(), memory.start(), 8 * MIB) }
        .unwrap();
    let mut heap = Growing::with_policy(
        SlabByteAllocator::new(),
        frames,
        GrowthPolicy::new(64 << 10, MIB).with_keep_free(0),
    );
    let l = layout(1000, 8);
    let blocks: Vec<NonNull<u8>> = (0..2000).map(|_| heap.alloc(l).unwrap()).collect();
    assert!(heap.growth_statistics().grow_count > 1);
    heap.assert_valid();
    for block in blocks {
        // SAFETY: allocated above with `l`.
        unsafe { heap.dealloc(block, l) };
    }
    heap.trim();
    heap.assert_valid();
    assert_eq!(heap.source().page_allocator().used_pages(), 0);
    assert_eq!(heap.used_bytes(), 0);
}
