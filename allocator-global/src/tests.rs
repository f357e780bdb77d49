//! Unit tests against test doubles: a byte allocator over `rlsf` whose
//! region handling we control, a recording page source, a small page
//! allocator and a counting lock.

extern crate std;

use core::{
    alloc::{GlobalAlloc, Layout},
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::{sync::Arc, thread, vec, vec::Vec};

use allocator_api2::alloc::Allocator;
use allocator_testkit::Pool;
use allocator_traits::{Region, RegionTable, region::addr_to_ptr};

use super::*;

/// A byte allocator double over `rlsf`: exact region bookkeeping (`init`
/// once, `add_memory` after, overlaps refused), `reserve` bytes of every
/// region kept back as if for metadata, and a region size limit to refuse
/// chunks.
struct TestHeap {
    tlsf: rlsf::Tlsf<'static, u32, u32, 24, 8>,
    regions: RegionTable<64>,
    reserve: usize,
    max_region: usize,
    used: usize,
}

// SAFETY: the double owns its regions; the raw pointers inside `Tlsf` point
// into them only.
unsafe impl Send for TestHeap {}

impl TestHeap {
    const fn new() -> Self {
        Self::with_reserve(0)
    }

    const fn with_reserve(reserve: usize) -> Self {
        Self {
            tlsf: rlsf::Tlsf::new(),
            regions: RegionTable::new(),
            reserve,
            max_region: usize::MAX,
            used: 0,
        }
    }

    fn take_region(&mut self, start: usize, size: usize) -> AllocResult {
        let region = Region::new(start, size)?;
        if size <= self.reserve || size > self.max_region {
            return Err(AllocError::InvalidParam);
        }
        self.regions.check_insert(&region)?;
        let ptr = addr_to_ptr(start + self.reserve).ok_or(AllocError::InvalidParam)?;
        // SAFETY: the caller of `init`/`add_memory` gave us the region.
        unsafe { self.tlsf.insert_free_block_ptr(NonNull::slice_from_raw_parts(ptr, size - self.reserve)) }
            .ok_or(AllocError::InvalidParam)?;
        self.regions.insert(region)
    }
}

impl BaseAllocator for TestHeap {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.regions.is_empty() {
            return Err(AllocError::InvalidParam);
        }
        self.take_region(start, size)
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        if self.regions.is_empty() {
            // A backend that insists on `init` first: proves the global
            // allocator calls `init` for the first region.
            return Err(AllocError::InvalidParam);
        }
        self.take_region(start, size)
    }
}

// SAFETY: a test double whose blocks are disjoint, aligned ranges of its
// regions (checked by the tests that use it).
unsafe impl ByteAllocator for TestHeap {
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        assert!(!self.regions.is_empty(), "alloc on an uninitialised heap");
        let block = self.tlsf.allocate(layout).ok_or(AllocError::NoMemory)?;
        self.used += layout.size();
        Ok(block)
    }

    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: caller's contract.
        unsafe { self.tlsf.deallocate(pos, layout.align()) };
        self.used -= layout.size();
    }

    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        // SAFETY: caller's contract.
        let block = unsafe { self.tlsf.reallocate(pos, new) }.ok_or(AllocError::NoMemory)?;
        self.used = self.used - old.size() + new_size;
        Ok(block)
    }

    fn total_bytes(&self) -> usize {
        self.regions.total_size()
    }

    fn used_bytes(&self) -> usize {
        self.used
    }

    fn available_bytes(&self) -> usize {
        self.total_bytes() - self.used - self.regions.len() * self.reserve
    }
}

/// Chunks from `System`, logged, up to `limit` bytes in all, chunks above
/// `max_chunk` refused. Shares its log so a test can read it while the
/// source is inside an allocator.
#[derive(Clone)]
struct RecordingSource {
    log: Arc<std::sync::Mutex<SourceLog>>,
    limit: usize,
    max_chunk: usize,
}

#[derive(Default)]
struct SourceLog {
    given: Vec<usize>,
    returned: Vec<usize>,
    refused: Vec<usize>,
    /// The chunks out, `(start, size)`: freed when the last clone of the
    /// source (so the heap using them) is gone.
    live: Vec<(usize, usize)>,
}

impl Drop for SourceLog {
    fn drop(&mut self) {
        for &(start, size) in &self.live {
            // SAFETY: every live chunk came from `System.alloc` with this
            // layout in `alloc_chunk`; the heap that used it is gone.
            unsafe { std::alloc::System.dealloc(addr_to_ptr(start).unwrap().as_ptr(), chunk_layout(size)) };
        }
    }
}

fn chunk_layout(size: usize) -> Layout {
    Layout::from_size_align(size, 4096).unwrap()
}

impl RecordingSource {
    fn new(limit: usize) -> Self {
        Self { log: Arc::default(), limit, max_chunk: usize::MAX }
    }

    fn given(&self) -> Vec<usize> {
        self.log.lock().unwrap().given.clone()
    }

    fn returned(&self) -> Vec<usize> {
        self.log.lock().unwrap().returned.clone()
    }

    fn refused(&self) -> Vec<usize> {
        self.log.lock().unwrap().refused.clone()
    }
}

// SAFETY: chunks are fresh `System` allocations (leaked unless given back).
unsafe impl PageSource for RecordingSource {
    fn granule(&self) -> usize {
        4096
    }

    fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize> {
        assert!(size > 0 && size % 4096 == 0, "chunk size {size} is not a multiple of the granule");
        let mut log = self.log.lock().unwrap();
        let taken: usize = log.given.iter().sum::<usize>() - log.returned.iter().sum::<usize>();
        if size > self.max_chunk || taken + size > self.limit {
            log.refused.push(size);
            return Err(AllocError::NoMemory);
        }
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::System.alloc(chunk_layout(size)) };
        if ptr.is_null() {
            log.refused.push(size);
            return Err(AllocError::NoMemory);
        }
        log.given.push(size);
        log.live.push((ptr.expose_provenance(), size));
        Ok(ptr.expose_provenance())
    }

    unsafe fn dealloc_chunk(&mut self, start: usize, size: usize) {
        // SAFETY: the chunk came from `alloc_chunk(size)`.
        unsafe { std::alloc::System.dealloc(addr_to_ptr(start).unwrap().as_ptr(), chunk_layout(size)) };
        let mut log = self.log.lock().unwrap();
        log.returned.push(size);
        log.live.retain(|&chunk| chunk != (start, size));
    }
}

/// A page-allocator double: first fit over a flag per page.
struct TestPages {
    base: usize,
    used: Vec<bool>,
}

impl TestPages {
    const fn new() -> Self {
        Self { base: 0, used: Vec::new() }
    }
}

impl BaseAllocator for TestPages {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.used.is_empty() || start % 4096 != 0 || size < 4096 {
            return Err(AllocError::InvalidParam);
        }
        self.base = start;
        self.used = vec![false; size / 4096];
        Ok(())
    }

    unsafe fn add_memory(&mut self, _: usize, _: usize) -> AllocResult {
        Err(AllocError::InvalidParam)
    }
}

// SAFETY: a test double whose runs are disjoint, aligned page ranges of its
// region.
unsafe impl PageAllocator for TestPages {
    const PAGE_SIZE: usize = 4096;

    fn alloc_pages(&mut self, num_pages: usize, align: usize) -> AllocResult<usize> {
        if num_pages == 0 || !align.is_power_of_two() || align < 4096 {
            return Err(AllocError::InvalidParam);
        }
        let first = (0..self.used.len())
            .filter(|i| (self.base + i * 4096) % align == 0)
            .find(|&i| i + num_pages <= self.used.len() && self.used[i..i + num_pages].iter().all(|u| !u))
            .ok_or(AllocError::NoMemory)?;
        self.used[first..first + num_pages].fill(true);
        Ok(self.base + first * 4096)
    }

    fn alloc_pages_at(&mut self, base: usize, num_pages: usize, _align: usize) -> AllocResult<usize> {
        let first = (base - self.base) / 4096;
        if self.used[first..first + num_pages].iter().any(|&u| u) {
            return Err(AllocError::NoMemory);
        }
        self.used[first..first + num_pages].fill(true);
        Ok(base)
    }

    unsafe fn dealloc_pages(&mut self, pos: usize, num_pages: usize) {
        let first = (pos - self.base) / 4096;
        self.used[first..first + num_pages].fill(false);
    }

    fn total_pages(&self) -> usize {
        self.used.len()
    }

    fn used_pages(&self) -> usize {
        self.used.iter().filter(|&&u| u).count()
    }

    fn available_pages(&self) -> usize {
        self.total_pages() - self.used_pages()
    }
}

use allocator_testkit::layout;

fn check_invariant(stats: Statistics) {
    assert!(
        stats.used_bytes + stats.available_bytes <= stats.total_bytes,
        "used + available > total in {stats:?}"
    );
}

/// A fixed heap over `arena` (which the test keeps alive longer).
fn fixed_heap(arena: &Pool) -> GlobalAllocator<TestHeap> {
    let heap = GlobalAllocator::new(TestHeap::new(), NoSource);
    // SAFETY: the arena is valid, unused, and outlives `heap` in every test.
    unsafe { heap.init(arena.start(), arena.size()) }.unwrap();
    heap
}

#[test]
fn statics_are_const_and_sync() {
    static HEAP: GlobalAllocator<TestHeap> = GlobalAllocator::new(TestHeap::new(), NoSource::new());
    static PAGED: GlobalAllocator<TestHeap, PageAllocatorSource<TestPages>> =
        // SAFETY: `PAGED` is never given pages.
        GlobalAllocator::new(TestHeap::new(), unsafe { PageAllocatorSource::new(TestPages::new()) });
    assert_eq!(HEAP.statistics(), Statistics::default());
    assert_eq!(HEAP.alloc_block(layout(8, 8)), Err(AllocError::NoMemory), "no memory before init");
    assert_eq!(HEAP.statistics().failed_allocs, 1);
    assert_eq!(PAGED.total_pages(), 0);
    assert_eq!(PAGED.alloc_block(layout(8, 8)), Err(AllocError::NoMemory), "the page allocator is empty");
}

#[test]
fn no_source_fixed_heap_returns_null_when_full() {
    let arena = Pool::new(64 << 10, 4096);
    let heap = fixed_heap(&arena);
    let before = heap.statistics();
    assert_eq!(before.total_bytes, 64 << 10);
    assert_eq!(before.used_bytes, 0);

    let block = layout(1024, 16);
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a non-zero-size layout.
        let ptr = unsafe { GlobalAlloc::alloc(&heap, block) };
        if ptr.is_null() {
            break;
        }
        assert_eq!(ptr.addr() % 16, 0);
        // SAFETY: `ptr` is a fresh block of 1024 bytes.
        unsafe { ptr.write_bytes(blocks.len() as u8, 1024) };
        blocks.push(ptr);
    }
    assert!(blocks.len() > 50, "a 64 KiB heap holds more than 50 KiB of blocks");
    assert_eq!(heap.alloc_block(block), Err(AllocError::NoMemory));
    let full = heap.statistics();
    assert_eq!(full.used_bytes, blocks.len() * 1024);
    assert_eq!(full.grow_count, 0);
    assert_eq!(full.failed_allocs, 2);
    check_invariant(full);

    for (i, &ptr) in blocks.iter().enumerate() {
        // SAFETY: a live block of 1024 bytes written above.
        assert!(unsafe { core::slice::from_raw_parts(ptr, 1024) }.iter().all(|&b| b == i as u8));
        // SAFETY: allocated above with `block`.
        unsafe { GlobalAlloc::dealloc(&heap, ptr, block) };
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.available_bytes(), 64 << 10);
    assert!(heap.alloc_block(layout(32 << 10, 8)).is_ok(), "the heap recovers after freeing");
}

#[test]
fn init_and_add_memory_errors() {
    let (a, b) = (Pool::new(16 << 10, 4096), Pool::new(16 << 10, 4096));
    let heap = GlobalAllocator::<TestHeap>::new(TestHeap::new(), NoSource);
    // SAFETY: the arenas are valid, unused, and outlive `heap`.
    unsafe {
        assert_eq!(heap.init(a.start(), usize::MAX), Err(AllocError::InvalidParam), "end overflows");
        assert_eq!(heap.init(a.start(), 16 << 10), Ok(()));
        assert_eq!(heap.init(b.start(), 16 << 10), Err(AllocError::InvalidParam), "init twice");
        assert_eq!(heap.add_memory(a.start() + 4096, 4096), Err(AllocError::MemoryOverlap));
        assert_eq!(heap.add_memory(b.start(), 16 << 10), Ok(()));
    }
    assert_eq!(heap.total_bytes(), 32 << 10);
}

#[test]
fn add_memory_initialises_an_empty_heap() {
    let arena = Pool::new(16 << 10, 4096);
    let heap = GlobalAllocator::<TestHeap>::new(TestHeap::new(), NoSource);
    // SAFETY: the arena is valid, unused, and outlives `heap`.
    assert_eq!(unsafe { heap.add_memory(arena.start(), 16 << 10) }, Ok(()));
    assert_eq!(heap.total_bytes(), 16 << 10);
    // SAFETY: as above.
    assert_eq!(unsafe { heap.init(arena.start(), 16 << 10) }, Err(AllocError::InvalidParam));
    assert!(heap.alloc_block(layout(100, 8)).is_ok());
}

#[test]
fn grows_from_the_source_doubling_up_to_the_cap() {
    let source = RecordingSource::new(usize::MAX);
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        TestHeap::new(),
        source.clone(),
        GrowthPolicy::new(16 << 10, 64 << 10),
    );
    assert_eq!(heap.policy().first_chunk(), 16 << 10);

    // 8 KiB blocks need 13 KiB of chunk: the first chunk is the policy's.
    let block = layout(8 << 10, 8);
    let mut blocks = Vec::new();
    for i in 1..=5 {
        let start = heap.grow_count();
        // Fill the heap so the next request must grow it.
        while heap.grow_count() == start {
            blocks.push(heap.alloc_block(block).unwrap());
        }
        assert_eq!(heap.grow_count(), i);
    }
    assert_eq!(source.given(), [16 << 10, 32 << 10, 64 << 10, 64 << 10, 64 << 10]);
    let stats = heap.statistics();
    assert_eq!(stats.grown_bytes, (16 + 32 + 64 * 3) << 10);
    assert_eq!(stats.total_bytes, stats.grown_bytes);
    assert_eq!(stats.used_bytes, blocks.len() * (8 << 10));
    assert_eq!(stats.failed_allocs, 0);
    check_invariant(stats);
    for ptr in blocks {
        // SAFETY: allocated above with `block`.
        unsafe { heap.dealloc_block(ptr, block) };
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(source.returned(), [0usize; 0], "memory taken is never returned");
}

#[test]
fn a_large_request_gets_a_chunk_of_its_own_size() {
    let source = RecordingSource::new(usize::MAX);
    let heap = GlobalAllocator::<TestHeap, _>::new(TestHeap::new(), source.clone());
    let big = layout(1 << 20, 4096);
    let ptr = heap.alloc_block(big).unwrap();
    assert_eq!(ptr.as_ptr().addr() % 4096, 0);
    // size + align + size/8 + slack, rounded to 4 KiB.
    assert_eq!(source.given(), [(1 << 20) + 4096 + (1 << 17) + 4096]);
    assert_eq!(heap.grow_count(), 1);
    // The policy doubled anyway: the next small request still fits, no growth.
    assert!(heap.alloc_block(layout(64, 8)).is_ok());
    assert_eq!(heap.grow_count(), 1);
}

#[test]
fn a_source_short_of_memory_gives_smaller_chunks() {
    let mut source = RecordingSource::new(usize::MAX);
    source.max_chunk = 40 << 10;
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        TestHeap::new(),
        source.clone(),
        GrowthPolicy::new(256 << 10, 1 << 20),
    );
    assert!(heap.alloc_block(layout(100, 8)).is_ok());
    // 256 KiB refused, then 128, 64; 32 KiB accepted.
    assert_eq!(source.refused(), [256 << 10, 128 << 10, 64 << 10]);
    assert_eq!(source.given(), [32 << 10]);
    // A request the source can never satisfy fails without growing.
    assert_eq!(heap.alloc_block(layout(64 << 10, 8)), Err(AllocError::NoMemory));
    assert_eq!(heap.grow_count(), 1);
    assert_eq!(heap.statistics().failed_allocs, 1);
}

#[test]
fn an_exhausted_source_fails_cleanly() {
    let source = RecordingSource::new(128 << 10);
    let heap = GlobalAllocator::<TestHeap, _>::new(TestHeap::new(), source.clone());
    let block = layout(16 << 10, 8);
    let mut count = 0;
    while heap.alloc_block(block).is_ok() {
        count += 1;
    }
    assert!(count >= 6, "128 KiB of chunks hold at least six 16 KiB blocks, got {count}");
    // SAFETY: a non-zero-size layout.
    assert!(unsafe { GlobalAlloc::alloc(&heap, block) }.is_null());
    assert!(source.given().iter().sum::<usize>() <= 128 << 10);
    assert!(heap.statistics().failed_allocs >= 2);
    // Impossible sizes fail without asking the source.
    let refused = source.refused().len();
    assert_eq!(heap.alloc_block(layout(isize::MAX as usize - 4096, 4096)), Err(AllocError::NoMemory));
    assert_eq!(source.refused().len(), refused);
}

#[test]
fn a_refused_chunk_goes_back_to_the_source() {
    let source = RecordingSource::new(usize::MAX);
    let mut bytes = TestHeap::new();
    bytes.max_region = 32 << 10;
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        bytes,
        source.clone(),
        GrowthPolicy::new(64 << 10, 64 << 10),
    );
    // SAFETY: a non-zero-size layout.
    assert!(unsafe { GlobalAlloc::alloc(&heap, layout(64, 8)) }.is_null());
    assert_eq!(source.given(), [64 << 10]);
    assert_eq!(source.returned(), [64 << 10]);
    assert_eq!(heap.statistics(), Statistics { failed_allocs: 1, ..Statistics::default() });
}

#[test]
fn a_second_growth_covers_backends_that_need_more_than_the_estimate() {
    let source = RecordingSource::new(usize::MAX);
    // 64 KiB of every region is metadata: the tight estimate is not enough.
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        TestHeap::with_reserve(64 << 10),
        source.clone(),
        GrowthPolicy::new(4096, 4096),
    );
    let block = layout(100 << 10, 8);
    let ptr = heap.alloc_block(block).unwrap();
    let tight: usize = (100 << 10) + 8 + (100 << 10) / 8 + 4096;
    let tight = tight.next_multiple_of(4096);
    assert_eq!(source.given(), [tight, 2 * (128 << 10) + (8 << 10) + 4096]);
    assert_eq!(heap.grow_count(), 2);
    // SAFETY: allocated above with `block`.
    unsafe { heap.dealloc_block(ptr, block) };
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn realloc_keeps_contents_and_grows_the_heap() {
    let source = RecordingSource::new(usize::MAX);
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        TestHeap::new(),
        source.clone(),
        GrowthPolicy::new(16 << 10, 16 << 10),
    );
    let old = layout(1000, 8);
    // SAFETY: a non-zero-size layout.
    let ptr = unsafe { GlobalAlloc::alloc(&heap, old) };
    assert!(!ptr.is_null());
    let pattern: Vec<u8> = (0..1000).map(|i| (i * 7) as u8).collect();
    // SAFETY: `ptr` holds 1000 bytes.
    unsafe { ptr.copy_from_nonoverlapping(pattern.as_ptr(), 1000) };
    // SAFETY: `ptr` is live with `old`; the new size forms a layout.
    let grown = unsafe { GlobalAlloc::realloc(&heap, ptr, old, 200 << 10) };
    assert!(!grown.is_null());
    assert_eq!(heap.grow_count(), 2);
    // SAFETY: `grown` holds 200 KiB, whose first 1000 bytes were preserved.
    assert_eq!(unsafe { core::slice::from_raw_parts(grown, 1000) }, &pattern[..]);
    assert_eq!(heap.used_bytes(), 200 << 10);

    // A size that cannot form a layout fails and leaves the block alone.
    // SAFETY: `grown` is live with (200 KiB, 8).
    let failed = unsafe { GlobalAlloc::realloc(&heap, grown, layout(200 << 10, 8), isize::MAX as usize) };
    assert!(failed.is_null());
    // SAFETY: `grown` is still live: shrink it.
    let shrunk = unsafe { GlobalAlloc::realloc(&heap, grown, layout(200 << 10, 8), 10) };
    assert!(!shrunk.is_null());
    // SAFETY: `shrunk` holds 10 bytes, preserved.
    assert_eq!(unsafe { core::slice::from_raw_parts(shrunk, 10) }, &pattern[..10]);
    // SAFETY: `shrunk` is live with (10, 8).
    unsafe { GlobalAlloc::dealloc(&heap, shrunk, layout(10, 8)) };
    assert_eq!(heap.used_bytes(), 0);
    // Null pointers are ignored by `dealloc` and refused by `realloc`.
    // SAFETY: null is never dereferenced.
    unsafe {
        GlobalAlloc::dealloc(&heap, core::ptr::null_mut(), old);
        assert!(GlobalAlloc::realloc(&heap, core::ptr::null_mut(), old, 10).is_null());
    }
}

#[test]
fn alloc_zeroed_zeroes_reused_memory() {
    let arena = Pool::new(16 << 10, 4096);
    let heap = fixed_heap(&arena);
    let block = layout(4000, 8);
    // SAFETY: a non-zero-size layout; each block is written within its size
    // and freed with its layout.
    unsafe {
        let dirty = GlobalAlloc::alloc(&heap, block);
        dirty.write_bytes(0xA5, 4000);
        GlobalAlloc::dealloc(&heap, dirty, block);
        let clean = GlobalAlloc::alloc_zeroed(&heap, block);
        assert!(!clean.is_null());
        assert!(core::slice::from_raw_parts(clean, 4000).iter().all(|&b| b == 0));
        GlobalAlloc::dealloc(&heap, clean, block);
        assert!(GlobalAlloc::alloc_zeroed(&heap, layout(1 << 20, 8)).is_null());
    }
}

#[test]
fn allocator_api2_collections_and_resizing() {
    let source = RecordingSource::new(64 << 20);
    let heap = GlobalAllocator::<TestHeap, _>::new(TestHeap::new(), source);
    {
        let mut v = allocator_api2::vec::Vec::new_in(&heap);
        for i in 0..10_000u32 {
            v.push(i);
        }
        assert!(v.iter().copied().eq(0..10_000));
        let b = allocator_api2::boxed::Box::new_in([7u64; 64], &heap);
        assert_eq!(b.iter().sum::<u64>(), 7 * 64);
        assert!(heap.used_bytes() >= 40_000 + 512);
    }
    assert_eq!(heap.used_bytes(), 0);

    let small = layout(24, 8);
    let block = heap.allocate(small).unwrap();
    assert_eq!(block.len(), 24);
    let ptr = block.cast::<u8>();
    // SAFETY: `ptr` holds 24 bytes; each resize passes the current layout.
    unsafe {
        ptr.as_ptr().write_bytes(3, 24);
        // A larger alignment than the block has: allocate, copy, free.
        let moved = heap.grow_zeroed(ptr, small, layout(100, 256)).unwrap();
        assert_eq!(moved.len(), 100);
        let moved = moved.cast::<u8>();
        assert_eq!(moved.as_ptr().addr() % 256, 0);
        let bytes = core::slice::from_raw_parts(moved.as_ptr(), 100);
        assert!(bytes[..24].iter().all(|&b| b == 3) && bytes[24..].iter().all(|&b| b == 0));
        let grown = heap.grow(moved, layout(100, 256), layout(5000, 256)).unwrap().cast::<u8>();
        let shrunk = heap.shrink(grown, layout(5000, 256), layout(16, 8)).unwrap().cast::<u8>();
        assert!(core::slice::from_raw_parts(shrunk.as_ptr(), 16).iter().all(|&b| b == 3));
        heap.deallocate(shrunk, layout(16, 8));
    }
    assert_eq!(heap.used_bytes(), 0);
    assert!(heap.allocate(layout(usize::MAX / 4, 8)).is_err());
}

#[test]
fn page_allocator_source_grows_and_passes_pages_through() {
    let arena = Pool::new(1 << 20, 4096);
    let heap = GlobalAllocator::<TestHeap, _>::with_policy(
        TestHeap::new(),
        // SAFETY: the page allocator is given only `arena`, test memory that
        // outlives `heap`.
        unsafe { PageAllocatorSource::new(TestPages::new()) },
        GrowthPolicy::new(16 << 10, 128 << 10),
    );
    assert_eq!(heap.alloc_block(layout(8, 8)), Err(AllocError::NoMemory), "no pages yet");
    // SAFETY: the arena is valid, unused, and outlives `heap`.
    unsafe {
        assert_eq!(heap.init_pages(arena.start(), 1 << 20), Ok(()));
        assert_eq!(heap.add_page_memory(arena.start(), 4096), Err(AllocError::InvalidParam));
    }
    assert_eq!((heap.total_pages(), heap.used_pages()), (256, 0));

    let frame = heap.alloc_pages(4, 16 << 10).unwrap();
    assert_eq!(frame % (16 << 10), 0);
    assert_eq!(heap.alloc_pages(0, 4096), Err(AllocError::InvalidParam));
    assert_eq!(heap.alloc_pages_at(frame, 1, 4096), Err(AllocError::NoMemory));

    let block = heap.alloc_block(layout(100, 8)).unwrap();
    assert!(block.as_ptr().addr() >= arena.start() && block.as_ptr().addr() < arena.start() + (1 << 20));
    assert_eq!(heap.grow_count(), 1);
    assert_eq!(heap.used_pages(), 4 + 4, "four frames and the heap's 16 KiB");
    // SAFETY: `frame` came from `alloc_pages(4, ..)` and is unused.
    unsafe { heap.dealloc_pages(frame, 4) };
    assert_eq!(heap.used_pages(), 4);
    assert_eq!(heap.available_pages(), 252);

    // Exhaust the frames: the heap grows until the page allocator is empty.
    let big = layout(64 << 10, 8);
    let mut count = 0;
    while heap.alloc_block(big).is_ok() {
        count += 1;
    }
    // Every 64 KiB block takes an 80 KiB chunk (or a share of a 128 KiB one).
    assert!(count >= 7, "{count} blocks of 64 KiB out of 1 MiB of frames");
    // The growth stopped because no run of the 19 pages one more block needs is left.
    assert_eq!(heap.alloc_pages(19, 4096), Err(AllocError::NoMemory));
    assert!(heap.alloc_pages(4, 4096).is_ok(), "pages remain for frames");
    assert_eq!(heap.statistics().grown_bytes + 4 * 4096, heap.used_pages() * 4096);
    // SAFETY: `block` is live with (100, 8).
    unsafe { heap.dealloc_block(block, layout(100, 8)) };
}

/// A spin lock counting how often it is taken.
struct CountingLock {
    locked: AtomicBool,
}

static LOCKS_TAKEN: AtomicUsize = AtomicUsize::new(0);

// SAFETY: a test-and-set spin lock: `lock` returns only once `locked` went
// from false to true, `unlock` sets it back.
unsafe impl lock_api::RawMutex for CountingLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self { locked: AtomicBool::new(false) };
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            core::hint::spin_loop();
        }
    }

    fn try_lock(&self) -> bool {
        let taken = self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok();
        if taken {
            LOCKS_TAKEN.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

#[test]
fn the_lock_is_a_parameter_taken_once_per_operation() {
    let arena = Pool::new(16 << 10, 4096);
    let heap = GlobalAllocator::<TestHeap, NoSource, CountingLock>::new(TestHeap::new(), NoSource);
    // SAFETY: the arena is valid, unused, and outlives `heap`.
    unsafe { heap.init(arena.start(), 16 << 10) }.unwrap();
    let before = LOCKS_TAKEN.load(Ordering::Relaxed);
    let ptr = heap.alloc_block(layout(64, 8)).unwrap();
    // SAFETY: `ptr` is live with (64, 8).
    let ptr = unsafe { heap.realloc_block(ptr, layout(64, 8), 128) }.unwrap();
    // SAFETY: `ptr` is live with (128, 8).
    unsafe { heap.dealloc_block(ptr, layout(128, 8)) };
    let _ = heap.statistics();
    assert_eq!(
        LOCKS_TAKEN.load(Ordering::Relaxed) - before,
        4,
        "one lock per operation, statistics included"
    );
}

#[test]
fn statistics_snapshots_are_consistent_under_concurrent_churn() {
    let arena = Pool::new(1 << 20, 4096);
    let heap = Arc::new(GlobalAllocator::<TestHeap>::new(TestHeap::new(), NoSource));
    // SAFETY: the arena is valid, unused, and outlives every thread (joined below).
    unsafe { heap.init(arena.start(), 1 << 20) }.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (heap, stop) = (heap.clone(), stop.clone());
        thread::spawn(move || {
            let mut reads = 0usize;
            while !stop.load(Ordering::Relaxed) || reads < 100 {
                let stats = heap.statistics();
                check_invariant(stats);
                assert_eq!(stats.total_bytes, 1 << 20);
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..2u8)
        .map(|t| {
            let heap = heap.clone();
            thread::spawn(move || {
                let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
                for i in 0..20_000usize {
                    if live.len() < 32 && i % 3 != 2 {
                        let l = layout(16 + (i * 37) % 2000, 8);
                        let ptr = heap.alloc_block(l).unwrap();
                        // SAFETY: a fresh block of `l.size()` bytes.
                        unsafe { ptr.as_ptr().write_bytes(t, l.size()) };
                        live.push((ptr, l));
                    } else if let Some((ptr, l)) = live.pop() {
                        // SAFETY: live block of `l.size()` bytes written with `t`.
                        let bytes = unsafe { core::slice::from_raw_parts(ptr.as_ptr(), l.size()) };
                        assert!(bytes.iter().all(|&b| b == t));
                        // SAFETY: allocated above with `l`.
                        unsafe { heap.dealloc_block(ptr, l) };
                    }
                }
                for (ptr, l) in live {
                    // SAFETY: allocated above with `l`.
                    unsafe { heap.dealloc_block(ptr, l) };
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 100);
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn growth_policy_normalises_its_cap() {
    assert_eq!(GrowthPolicy::new(64 << 10, 4096).max_chunk(), 64 << 10);
    assert_eq!(GrowthPolicy::default(), GrowthPolicy::DEFAULT);
    assert_eq!(
        (GrowthPolicy::DEFAULT.first_chunk(), GrowthPolicy::DEFAULT.max_chunk()),
        (64 << 10, 16 << 20)
    );
}

#[test]
fn debug_shows_statistics_without_locking() {
    let heap = GlobalAllocator::<TestHeap>::new(TestHeap::new(), NoSource);
    let text = std::format!("{heap:?}");
    assert!(text.contains("grow_count: 0") && text.contains("GrowthPolicy"), "{text}");
}
