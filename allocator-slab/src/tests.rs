//! Unit tests: the heap over a first-fit test double, over buddy and over
//! TLSF, with access to the heap's internals.

extern crate std;

use core::{alloc::Layout, cell::Cell, ptr::NonNull};
use std::{boxed::Box, vec::Vec};

use allocator_buddy::BuddyByteAllocator;
use allocator_testkit::{ByteConfig, Pool};
use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator, region};

use crate::{
    CACHED_EMPTY_SLABS, FineClasses, Heap, MAX_CLASS_SIZE, MIN_HEAP_SIZE, PowerOfTwoClasses, SLAB_TAIL,
    SizeClasses, SlabByteAllocator,
};

mod classes;
mod slab_index;

// Most of these tests count slabs and blocks of the power-of-two table (the
// heaps they build use it); the default table has its own tests in
// `classes`.
/// The power-of-two table with the block cache off: these tests watch the
/// slabs' states and costs, which the cache would defer.
type P2 = Uncached<PowerOfTwoClasses>;

/// The table `T` with its block cache off.
pub(crate) struct Uncached<T>(core::marker::PhantomData<T>);

impl<T: SizeClasses> SizeClasses for Uncached<T> {
    const SIZES: &'static [usize] = T::SIZES;
    const SLAB_SIZES: &'static [usize] = T::SLAB_SIZES;
    const EXACT_FIT_ABOVE: usize = T::EXACT_FIT_ABOVE;
    const COLOURING: bool = T::COLOURING;
    const SLAB_INDEX: bool = T::SLAB_INDEX;
    const CACHED_BLOCKS: usize = 0;
}
const NUM_CLASSES: usize = 10;

fn class_size(class: usize) -> usize {
    P2::class_size(class).unwrap()
}

fn slab_size(class: usize) -> usize {
    P2::slab_size(class).unwrap()
}

fn slab_capacity(class: usize) -> usize {
    P2::slab_capacity(class).unwrap()
}

fn size_class(layout: Layout) -> Option<usize> {
    P2::size_class(layout)
}

std::thread_local! {
    static HEADER_TOUCHES: Cell<usize> = const { Cell::new(0) };
}

/// Called by the heap every time it dereferences a slab header.
pub(crate) fn count_header_touch() {
    HEADER_TOUCHES.with(|touches| touches.set(touches.get() + 1));
}

/// The slab headers the heap dereferences while running `f`.
fn header_touches<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HEADER_TOUCHES.with(Cell::get);
    let result = f();
    (result, HEADER_TOUCHES.with(Cell::get) - before)
}

/// A first-fit test double for the backing allocator: its metadata lives on
/// the host heap, its free ranges are kept sorted and merged, and it counts
/// its calls.
#[derive(Default)]
struct FirstFit {
    base: Option<NonNull<u8>>,
    /// Free `[start, end)` ranges, sorted, never adjacent.
    free: Vec<(usize, usize)>,
    total: usize,
    used: usize,
    allocs: usize,
    deallocs: usize,
}

impl FirstFit {
    const GRAIN: usize = 8;

    fn largest_free(&self) -> usize {
        self.free.iter().map(|(start, end)| end - start).max().unwrap_or(0)
    }

    fn release(&mut self, start: usize, end: usize) {
        let at = self.free.partition_point(|&(s, _)| s < start);
        self.free.insert(at, (start, end));
        if at + 1 < self.free.len() && self.free[at].1 == self.free[at + 1].0 {
            self.free[at].1 = self.free.remove(at + 1).1;
        }
        if at > 0 && self.free[at - 1].1 == self.free[at].0 {
            self.free[at - 1].1 = self.free.remove(at).1;
        }
    }
}

impl BaseAllocator for FirstFit {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded.
        unsafe { self.add_memory(start, size) }
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let region = region::Region::trimmed(start, size, Self::GRAIN, Self::GRAIN)?;
        if self.free.iter().any(|&(s, e)| region.overlaps(&region::Region { start: s, end: e })) {
            return Err(AllocError::MemoryOverlap);
        }
        self.base.get_or_insert(region::addr_to_ptr(region.start).ok_or(AllocError::InvalidParam)?);
        self.release(region.start, region.end);
        self.total += region.size();
        Ok(())
    }
}

// SAFETY: a first-fit test double: blocks are disjoint, aligned ranges of its
// regions.
unsafe impl ByteAllocator for FirstFit {
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        self.allocs += 1;
        let size = layout.size().max(1).next_multiple_of(Self::GRAIN);
        let align = layout.align().max(Self::GRAIN);
        let base = self.base.ok_or(AllocError::NoMemory)?;
        for i in 0..self.free.len() {
            let (start, end) = self.free[i];
            let Some(at) = region::align_up(start, align) else { continue };
            if at.checked_add(size).is_some_and(|block_end| block_end <= end) {
                self.free.remove(i);
                if at + size < end {
                    self.free.insert(i, (at + size, end));
                }
                if start < at {
                    self.free.insert(i, (start, at));
                }
                self.used += size;
                return NonNull::new(base.as_ptr().with_addr(at)).ok_or(AllocError::NoMemory);
            }
        }
        Err(AllocError::NoMemory)
    }

    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        self.deallocs += 1;
        let size = layout.size().max(1).next_multiple_of(Self::GRAIN);
        self.used -= size;
        let start = pos.as_ptr().addr();
        self.release(start, start + size);
    }

    fn total_bytes(&self) -> usize {
        self.total
    }

    fn used_bytes(&self) -> usize {
        self.used
    }

    fn available_bytes(&self) -> usize {
        self.total - self.used
    }
}

use allocator_testkit::layout;

/// A heap over the first-fit double managing `arena`.
fn first_fit_heap(arena: &Pool) -> Heap<FirstFit, P2> {
    first_fit_heap_of(arena)
}

/// A heap of the table `C` over a [`FirstFit`] managing all of `arena`.
fn first_fit_heap_of<C: SizeClasses>(arena: &Pool) -> Heap<FirstFit, C> {
    let mut backing = FirstFit::default();
    // SAFETY: the arena is host memory used by nothing else, which outlives
    // the heap (tests drop the heap first).
    unsafe { backing.init(arena.start(), arena.size()) }.unwrap();
    Heap::with_classes(backing)
}

/// A heap over `backing`, handed all of `arena`.
fn heap_over<B: ByteAllocator>(arena: &Pool, mut backing: B) -> Heap<B, P2> {
    // SAFETY: as in `first_fit_heap`.
    unsafe { backing.init(arena.start(), arena.size()) }.unwrap();
    Heap::with_classes(backing)
}

/// Checks `used + available <= total`.
fn assert_stats<B: ByteAllocator, C: SizeClasses>(heap: &Heap<B, C>) {
    assert!(
        heap.used_bytes() + heap.available_bytes() <= heap.total_bytes(),
        "used {} + available {} > total {}",
        heap.used_bytes(),
        heap.available_bytes(),
        heap.total_bytes()
    );
}

/// The largest size (to 64 bytes) the heap serves with alignment 8, by
/// bisection; each probe is freed at once.
fn largest_block<B: ByteAllocator, C: SizeClasses>(heap: &mut Heap<B, C>) -> usize {
    let (mut ok, mut too_big) = (0usize, heap.total_bytes() + 1);
    while too_big - ok > 64 {
        let mid = ok + (too_big - ok) / 2;
        let probe = layout(mid, 8);
        match heap.alloc(probe) {
            Ok(block) => {
                // SAFETY: just allocated with `probe`.
                unsafe { heap.dealloc(block, probe) };
                ok = mid;
            }
            Err(_) => too_big = mid,
        }
    }
    ok
}

/// Writes `tag` over a block, to be checked by `check_fill`.
fn fill(block: NonNull<u8>, size: usize, tag: u8) {
    // SAFETY: `block` is a live block of at least `size` bytes.
    unsafe { block.as_ptr().write_bytes(tag, size) };
}

/// Panics unless every byte of the block is `tag`.
fn check_fill(block: NonNull<u8>, size: usize, tag: u8) {
    // SAFETY: `block` is a live block of at least `size` bytes, written by `fill`.
    let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), size) };
    // Slice comparisons are `memcmp`s: one step each for Miri, where a
    // byte-by-byte loop costs seconds per test.
    let expected = [tag; 4096];
    assert!(
        bytes.chunks(expected.len()).all(|chunk| chunk == &expected[..chunk.len()]),
        "block at {block:p} was overwritten"
    );
}

#[test]
fn class_geometry() {
    assert_eq!(
        (0..NUM_CLASSES).map(class_size).collect::<Vec<_>>(),
        [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    );
    assert_eq!(P2::count(), NUM_CLASSES);
    assert_eq!(MAX_CLASS_SIZE, 4096);
    fn check<C: SizeClasses>() {
        for class in 0..C::count() {
            let size = C::class_size(class).unwrap();
            let slab = C::slab_size(class).unwrap();
            let capacity = C::slab_capacity(class).unwrap();
            assert!(slab.is_power_of_two() && (4096..=32768).contains(&slab), "{size}: {slab}");
            // The blocks (after the largest colour) and the header fit in the
            // chunk, and no whole block is left unused.
            let chunk = slab - SLAB_TAIL;
            let header = crate::heap::HEADER_SIZE;
            let step = 64.max(C::block_align(class).unwrap());
            let last_colour = (C::colours(class).unwrap() - 1) * step;
            assert!(last_colour + capacity * size <= chunk - header, "{size}");
            assert!((capacity + 1) * size > chunk - header, "{size}");
            assert!(last_colour + step > chunk - header - capacity * size, "{size}: as many colours as fit");
            assert!((7..=crate::MAX_BLOCKS_PER_SLAB).contains(&capacity), "{size}: {capacity} blocks");
        }
        assert_eq!(C::slab_size(C::count()), None);
    }
    check::<P2>();
    check::<FineClasses>();
    check::<crate::FineClassesTo4096>();
    // Four words of header, plus a colour, a tag and a live-block bitmap with
    // `debug-checks`.
    let header = if cfg!(feature = "debug-checks") { 40 + 64 } else { 32 };
    assert_eq!(crate::heap::HEADER_SIZE, header);
    assert_eq!(slab_capacity(0), (4096 - 32 - header) / 8);
    assert_eq!((slab_size(4), slab_capacity(4)), (4096, (4096 - 32 - header) / 128));
    assert_eq!((slab_size(5), slab_size(6), slab_size(7), slab_size(8)), (4096, 8192, 16384, 32768));
    assert_eq!((slab_size(9), slab_capacity(9)), (32768, 7));
    // The same slab sizes with and without `debug-checks`.
    type To4096 = crate::FineClassesTo4096;
    let fine: Vec<_> = (0..To4096::count()).map(|c| To4096::slab_size(c).unwrap() >> 10).collect();
    assert_eq!(
        fine,
        [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 32]
    );
}

/// What we do better, 1: classes from 8 bytes.
#[test]
fn classes_start_at_8_bytes() {
    let cases = [
        (0, 1, 8),
        (1, 1, 8),
        (8, 8, 8),
        (9, 1, 16),
        (16, 8, 16),
        (17, 8, 32),
        (24, 8, 32),
        (33, 1, 64),
        (520, 8, 1024),
        (4096, 8, 4096),
        (1, 4096, 4096),
    ];
    for (size, align, class) in cases {
        assert_eq!(size_class(layout(size, align)).map(class_size), Some(class), "size {size} align {align}");
    }
    assert_eq!(size_class(layout(4097, 8)), None);
    assert_eq!(size_class(layout(8, 8192)), None);

    let arena = Pool::new(1 << 20, 4096);
    let mut heap = first_fit_heap(&arena);
    let small = layout(16, 8);
    let blocks: Vec<_> = (0..100).map(|_| heap.alloc(small).unwrap()).collect();
    assert_eq!(heap.used_bytes(), 100 * 16, "a 16-byte object takes 16 bytes, not 64");
    assert_eq!(heap.slab_count(1), 1, "100 16-byte blocks fit one 4 KiB slab");
    assert_eq!(blocks[1].as_ptr().addr() - blocks[0].as_ptr().addr(), 16, "blocks are packed");
    for block in blocks {
        // SAFETY: allocated with `small`.
        unsafe { heap.dealloc(block, small) };
    }
    assert_eq!(heap.used_bytes(), 0);
}

/// What we do better, 2: every block is aligned as asked; alignments above
/// the largest class go to the backing allocator.
#[test]
fn blocks_are_aligned_as_asked() {
    for arena_align in [4096, 1 << 16] {
        let arena = Pool::new(1 << 20, arena_align);
        let mut heap = first_fit_heap(&arena);
        let mut live = Vec::new();
        for size in [0, 1, 3, 8, 12, 100, 1000, 4000, 5000] {
            for align_shift in 0..=14 {
                let l = layout(size, 1 << align_shift);
                let block = heap.alloc(l).unwrap();
                assert_eq!(block.as_ptr().addr() % l.align(), 0, "{l:?}");
                fill(block, size, align_shift as u8);
                live.push((block, l, align_shift as u8));
            }
        }
        let backing_before = heap.backing().allocs;
        let big_align = layout(100, 8192);
        let block = heap.alloc(big_align).unwrap();
        assert_eq!(block.as_ptr().addr() % 8192, 0, "(100, 8192) is aligned");
        assert_eq!(heap.backing().allocs, backing_before + 1, "and served by the backing allocator");
        // SAFETY: allocated with `big_align`.
        unsafe { heap.dealloc(block, big_align) };
        for (block, l, tag) in live {
            check_fill(block, l.size(), tag);
            // SAFETY: allocated with `l`.
            unsafe { heap.dealloc(block, l) };
        }
        assert_eq!(heap.used_bytes(), 0);
    }
}

/// What we do better, 3: statistics count every byte once.
#[test]
fn statistics_count_once() {
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = first_fit_heap(&arena);
    let total = heap.total_bytes();
    assert_eq!(total, arena.size());
    assert_eq!((heap.used_bytes(), heap.available_bytes()), (0, total));

    let small = layout(24, 8);
    let blocks: Vec<_> = (0..10).map(|_| heap.alloc(small).unwrap()).collect();
    assert_eq!(heap.total_bytes(), total, "slabs do not add to the total");
    assert_eq!(heap.used_bytes(), 10 * 32, "class blocks count their class size, slabs nothing");
    let chunk = slab_size(2) - SLAB_TAIL;
    assert_eq!(heap.backing().used_bytes(), chunk, "the backing allocator lent one slab");
    assert_eq!(heap.available_bytes(), total - chunk + (slab_capacity(2) - 10) * 32);
    assert_stats(&heap);

    let large = layout(10_000, 8);
    let big = heap.alloc(large).unwrap();
    assert_eq!(heap.used_bytes(), 10 * 32 + 10_000, "large blocks as the backing allocator counts them");
    assert_stats(&heap);

    // SAFETY: allocated with `large`.
    unsafe { heap.dealloc(big, large) };
    for block in blocks {
        // SAFETY: allocated with `small`.
        unsafe { heap.dealloc(block, small) };
        assert_stats(&heap);
    }
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.total_bytes(), total);
    assert_stats(&heap);
}

/// What we do better, 4: memory goes back. Fill the heap with small
/// objects, free them all, and the largest block is what it was.
#[test]
fn memory_goes_back_after_a_burst() {
    fn burst<B: ByteAllocator>(mut heap: Heap<B, P2>) {
        let largest = largest_block(&mut heap);
        assert!(largest > 64 * 1024);
        for sizes in [&[if cfg!(miri) { 256 } else { 64 }][..], &[8, 24, 200, 1000, 3000]] {
            let mut live = Vec::new();
            'fill: loop {
                for &size in sizes {
                    match heap.alloc(layout(size, 8)) {
                        Ok(block) => live.push((block, size)),
                        Err(err) => {
                            assert_eq!(err, AllocError::NoMemory);
                            break 'fill;
                        }
                    }
                }
            }
            let used = heap.used_bytes();
            assert!(
                live.len() > 50 && used > ARENA / 2,
                "the heap was filled with small objects: {} objects, {used} of {ARENA} bytes",
                live.len()
            );
            assert_stats(&heap);
            // Free in an order that is neither LIFO nor FIFO.
            let n = live.len();
            for i in 0..n {
                let (block, size) = live[(i * 7919) % n];
                // SAFETY: each block is freed once (7919 is prime and n is
                // not a multiple of it), with its layout.
                unsafe { heap.dealloc(block, layout(size, 8)) };
            }
            assert_eq!(heap.used_bytes(), 0);
            assert!((0..NUM_CLASSES).all(|c| heap.cached_count(c) <= CACHED_EMPTY_SLABS));
            assert_eq!(largest_block(&mut heap), largest, "the largest block is back");
            assert!((0..NUM_CLASSES).all(|c| heap.slab_count(c) == 0), "every slab went back");
        }
    }
    // Under Miri every allocation is interpreted (filling 256 KiB over the
    // three backings costs 50 s): it fills a 256 KiB heap (a smaller one holds
    // too few 32 KiB slabs for the mixed sizes) over TLSF, the default backing
    // only; the slab paths are the same over every backing. Its first pass
    // uses 256-byte objects: 4,000 live 64-byte ones took Miri 90 s of wall
    // time (its bookkeeping grows faster than the live blocks in one arena),
    // 1,000 take 5 s.
    const ARENA: usize = if cfg!(miri) { 256 << 10 } else { 1 << 20 };
    if !cfg!(miri) {
        let arena = Pool::new(ARENA, 4096);
        burst(first_fit_heap(&arena));
        let arena = Pool::new(ARENA, 4096);
        burst(heap_over(&arena, BuddyByteAllocator::new()));
    }
    let arena = Pool::new(ARENA, 4096);
    burst(heap_over(&arena, TlsfByteAllocator::new()));
}

/// Slabs taken one after another from TLSF pack without gaps: the slab's
/// tail leaves room for the header TLSF puts before the next block.
#[test]
fn slabs_pack_in_tlsf() {
    // Under Miri every allocation is interpreted: 12 slabs show the packing.
    const SLABS: usize = if cfg!(miri) { 12 } else { 100 };
    let arena = Pool::new(if cfg!(miri) { 128 << 10 } else { 1 << 20 }, 4096);
    let mut heap = heap_over(&arena, TlsfByteAllocator::new());
    let l = layout(64, 8);
    let per_slab = slab_capacity(3);
    let blocks: Vec<_> = (0..SLABS * per_slab).map(|_| heap.alloc(l).unwrap()).collect();
    let slab_starts: Vec<usize> = blocks.iter().step_by(per_slab).map(|b| b.as_ptr().addr()).collect();
    assert!(
        slab_starts.windows(2).all(|w| w[1] - w[0] == slab_size(3)),
        "{SLABS} slabs in {SLABS} slab spans"
    );
    // (The first slab may also hold the padding up to the first aligned
    // address.)
    let spent = heap.backing().used_bytes();
    assert!(spent < (SLABS + 1) * slab_size(3), "TLSF spends one span per slab: {spent}");
    for block in blocks {
        // SAFETY: allocated with `l`, freed once.
        unsafe { heap.dealloc(block, l) };
    }
    assert_eq!(heap.used_bytes(), 0);
}

/// The block cache: a freed block waits in its class's cache (no slab
/// header touched) and is the next one handed out; past the cache's limit
/// frees go to the slabs; a flush returns the cached blocks to their slabs.
#[test]
fn the_block_cache_serves_the_last_freed_block() {
    let arena = Pool::new(256 * 1024, 4096);
    let mut heap = first_fit_heap_of::<PowerOfTwoClasses>(&arena);
    let l = layout(64, 8);
    let class = PowerOfTwoClasses::size_class(l).unwrap();
    let limit = PowerOfTwoClasses::CACHED_BLOCKS.min(crate::CACHED_BLOCK_BYTES / 64);
    let blocks: Vec<_> = (0..limit + 10).map(|_| heap.alloc(l).unwrap()).collect();
    // SAFETY: allocated with `l`, freed once.
    let ((), touches) = header_touches(|| unsafe { heap.dealloc(blocks[3], l) });
    assert_eq!(touches, 0, "a free into the cache touches no slab header");
    let (again, touches) = header_touches(|| heap.alloc(l).unwrap());
    assert_eq!((again, touches), (blocks[3], 0), "the last block freed comes back first, from the cache");
    for &block in &blocks {
        // SAFETY: as above.
        unsafe { heap.dealloc(block, l) };
    }
    let stats = heap.class_stats().classes()[class];
    assert_eq!(
        (stats.live, stats.cached_blocks),
        (0, limit),
        "the cache is full; the rest went to the slabs"
    );
    assert_eq!(heap.used_bytes(), 0, "cached blocks are not used");
    heap.assert_valid();
    // The cache's blocks keep their slabs until a flush.
    let slabs = heap.slab_count(class);
    assert!(slabs >= 1);
    heap.flush_cached_blocks();
    heap.assert_valid();
    assert_eq!(heap.class_stats().classes()[class].cached_blocks, 0);
    assert_eq!(heap.slab_count(class), 1, "one empty slab stays cached, the others went back");
    assert_eq!(heap.release_cached_slabs(), slab_size(class));
    assert_eq!(heap.backing().used_bytes(), 0);
}

/// Cached blocks never make an allocation fail: the heap returns them to
/// their slabs, and the emptied slabs to the backing allocator, first.
#[test]
fn cached_blocks_go_back_before_no_memory() {
    // Room for exactly two 4 KiB slabs.
    let arena = Pool::new(8192, 4096);
    let mut heap = first_fit_heap_of::<PowerOfTwoClasses>(&arena);
    for size in [8, 16] {
        let l = layout(size, 8);
        let blocks = [heap.alloc(l).unwrap(), heap.alloc(l).unwrap()];
        for block in blocks {
            // SAFETY: allocated with `l`, freed once.
            unsafe { heap.dealloc(block, l) };
        }
    }
    assert_eq!((heap.cached_blocks(0), heap.cached_blocks(1)), (2, 2));
    assert_eq!((heap.slab_count(0), heap.slab_count(1)), (1, 1), "the cached blocks keep both slabs");
    let whole = layout(arena.size(), 8);
    let block = heap.alloc(whole).expect("the cached blocks and their slabs went back");
    assert!((0..NUM_CLASSES).all(|c| heap.cached_blocks(c) == 0 && heap.slab_count(c) == 0));
    heap.assert_valid();
    // SAFETY: allocated with `whole`.
    unsafe { heap.dealloc(block, whole) };
}

/// A class's only partial slab stays parked when it empties: the
/// alloc/free ping-pong of one block never leaves the slab. A parked slab
/// counts as the class's cached slab, moves to the cache when another slab
/// becomes partial, and the cache's limit holds.
#[test]
fn the_only_partial_slab_stays_parked() {
    let arena = Pool::new(256 * 1024, 4096);
    let mut heap = first_fit_heap(&arena);
    let l = layout(64, 8);
    let per_slab = slab_capacity(3);
    let first = heap.alloc(l).unwrap();
    for _ in 0..3 {
        // SAFETY: allocated with `l`, freed once.
        unsafe { heap.dealloc(first, l) };
        assert_eq!((heap.slab_count(3), heap.partial_count(3), heap.cached_count(3)), (1, 0, 1));
        heap.assert_valid();
        let again = heap.alloc(l).unwrap();
        assert_eq!(again, first, "the parked slab serves its freed block again");
    }
    assert_eq!((heap.backing().allocs, heap.backing().deallocs), (1, 0), "one slab, never returned");
    // Two full slabs, A and B.
    let mut blocks = Vec::from([first]);
    blocks.extend((1..2 * per_slab).map(|_| heap.alloc(l).unwrap()));
    assert_eq!((heap.slab_count(3), heap.partial_count(3)), (2, 0));
    let (a, b) = blocks.split_at(per_slab);
    for &block in a {
        // SAFETY: as above.
        unsafe { heap.dealloc(block, l) };
    }
    assert_eq!((heap.partial_count(3), heap.cached_count(3)), (0, 1), "A is parked");
    // SAFETY: as above.
    unsafe { heap.dealloc(b[0], l) };
    assert_eq!((heap.partial_count(3), heap.cached_count(3)), (1, 1), "A moved to the cache for B");
    heap.assert_valid();
    let deallocs = heap.backing().deallocs;
    for &block in &b[1..] {
        // SAFETY: as above.
        unsafe { heap.dealloc(block, l) };
    }
    assert_eq!(heap.backing().deallocs, deallocs + 1, "the cache is full: B goes back");
    assert_eq!((heap.slab_count(3), heap.partial_count(3), heap.cached_count(3)), (1, 0, 1));
    heap.assert_valid();
    assert_eq!(heap.release_cached_slabs(), slab_size(3));
    assert_eq!((heap.slab_count(3), heap.backing().used_bytes()), (0, 0));
    // A parked slab goes back before `NoMemory`, as a cached one.
    let block = heap.alloc(l).unwrap();
    // SAFETY: as above.
    unsafe { heap.dealloc(block, l) };
    assert_eq!((heap.partial_count(3), heap.cached_count(3)), (0, 1));
    let whole = heap.alloc(layout(arena.size(), 8)).expect("the parked slab is reclaimed");
    assert_eq!(heap.slab_count(3), 0);
    // SAFETY: allocated just above with this layout.
    unsafe { heap.dealloc(whole, layout(arena.size(), 8)) };
    heap.assert_valid();
}

/// Empty slabs: one per class is cached, the rest go back at once, and the
/// cache is emptied before the heap reports `NoMemory`.
#[test]
fn empty_slabs_are_cached_then_reclaimed() {
    let arena = Pool::new(256 * 1024, 4096);
    let mut heap = first_fit_heap(&arena);
    let l = layout(64, 8);
    let per_slab = slab_capacity(3);
    let blocks: Vec<_> = (0..3 * per_slab).map(|_| heap.alloc(l).unwrap()).collect();
    assert_eq!(heap.slab_count(3), 3);
    assert_eq!(heap.partial_count(3), 0, "full slabs are in no list");
    for block in &blocks {
        // SAFETY: allocated with `l`, freed once.
        unsafe { heap.dealloc(*block, l) };
    }
    assert_eq!((heap.slab_count(3), heap.cached_count(3)), (1, 1), "one empty slab stays cached");
    assert_eq!(heap.backing().deallocs, 2, "the others went back");
    // The cached slab serves the next allocation without the backing.
    let allocs = heap.backing().allocs;
    let block = heap.alloc(l).unwrap();
    assert_eq!((heap.backing().allocs, heap.cached_count(3)), (allocs, 0));
    // SAFETY: allocated with `l`.
    unsafe { heap.dealloc(block, l) };

    // A cached slab in every class.
    for class in 0..NUM_CLASSES {
        let l = layout(class_size(class), 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: allocated with `l`.
        unsafe { heap.dealloc(block, l) };
        assert_eq!(heap.cached_count(class), 1);
    }
    let cached: usize = (0..NUM_CLASSES).map(|class| slab_size(class) - SLAB_TAIL).sum();
    assert_eq!(heap.backing().available_bytes(), arena.size() - cached);
    assert!(heap.backing().largest_free() < arena.size());
    // Only the whole arena satisfies this: the caches must go first.
    let whole = layout(arena.size(), 8);
    let block = heap.alloc(whole).expect("cached slabs are reclaimed before NoMemory");
    assert!((0..NUM_CLASSES).all(|c| heap.slab_count(c) == 0));
    assert_eq!(heap.alloc(layout(8, 8)), Err(AllocError::NoMemory));
    // SAFETY: allocated with `whole`.
    unsafe { heap.dealloc(block, whole) };
    assert_eq!(heap.release_cached_slabs(), 0);
}

/// A slab refill reclaims other classes' cached slabs too.
#[test]
fn new_slab_reclaims_cached_slabs() {
    // Room for exactly two 4 KiB slabs.
    let arena = Pool::new(8192, 4096);
    let mut heap = first_fit_heap(&arena);
    for size in [8, 16] {
        let l = layout(size, 8);
        let block = heap.alloc(l).unwrap();
        // SAFETY: allocated with `l`.
        unsafe { heap.dealloc(block, l) };
    }
    assert_eq!((heap.cached_count(0), heap.cached_count(1)), (1, 1));
    let block = heap.alloc(layout(32, 8)).expect("the cached slabs went back to make room");
    assert_eq!(heap.cached_count(0) + heap.cached_count(1), 0, "all of them");
    assert_eq!(heap.alloc(layout(4000, 8)), Err(AllocError::NoMemory));
    // SAFETY: allocated with (32, 8).
    unsafe { heap.dealloc(block, layout(32, 8)) };
    assert_eq!(heap.release_cached_slabs(), 4096);
    assert_eq!(heap.backing().largest_free(), 8192);
}

/// What we do better, 5: a free finds its slab by masking; its cost does not
/// grow with the number of slabs.
#[test]
fn free_is_o1_in_the_number_of_slabs() {
    fn touches_per_free(slabs: usize) -> (usize, usize) {
        let arena = Pool::new(slabs * 4096 + 4096, 4096);
        let mut heap = first_fit_heap(&arena);
        let l = layout(64, 8);
        let blocks: Vec<_> = (0..slabs * slab_capacity(3)).map(|_| heap.alloc(l).unwrap()).collect();
        assert_eq!(heap.slab_count(3), slabs);
        assert_eq!(heap.partial_count(3), 0);
        let middle = blocks.len() / 2;
        let backing_calls = heap.backing().allocs + heap.backing().deallocs;
        // Free into a full slab (it joins the partial list) ...
        // SAFETY: allocated with `l`, freed once.
        let ((), first) = header_touches(|| unsafe { heap.dealloc(blocks[middle], l) });
        // ... and into a full slab when the list is not empty.
        // SAFETY: as above.
        let ((), second) = header_touches(|| unsafe { heap.dealloc(blocks[10], l) });
        assert_eq!(heap.backing().allocs + heap.backing().deallocs, backing_calls, "no backing call");
        assert_eq!(heap.partial_count(3), 2);
        // An allocation is served from the head of the partial list.
        let (block, alloc_touches) = header_touches(|| heap.alloc(l).unwrap());
        assert_eq!(block, blocks[10]);
        assert!(alloc_touches <= 2);
        (first, second)
    }
    // Under Miri every allocation is interpreted: 16 slabs (1000 blocks)
    // take the same paths as 1000 slabs.
    let many_slabs = if cfg!(miri) { 16 } else { 1000 };
    let few = touches_per_free(4);
    let many = touches_per_free(many_slabs);
    assert_eq!(few, many, "the same work with 4 slabs and with {many_slabs}");
    assert!(many.0 <= 3 && many.1 <= 3, "a free touches its own slab header and the list head: {many:?}");
}

/// What we do better, 6: the backing allocator is a parameter.
#[test]
fn any_backing_allocator() {
    // Under Miri every byte of a pool is tracked: 1 MiB holds 3 rounds.
    const ARENA: usize = if cfg!(miri) { 1 << 20 } else { 4 << 20 };
    fn scenario<B: ByteAllocator>(mut heap: Heap<B, P2>) {
        let layouts = [layout(1, 1), layout(24, 8), layout(600, 8), layout(4096, 4096), layout(9000, 16)];
        let mut live = Vec::new();
        for round in 0..if cfg!(miri) { 3u8 } else { 50 } {
            for l in layouts {
                let block = heap.alloc(l).unwrap();
                assert_eq!(block.as_ptr().addr() % l.align(), 0);
                fill(block, l.size(), round);
                live.push((block, l, round));
            }
        }
        assert_stats(&heap);
        for (block, l, tag) in live {
            check_fill(block, l.size(), tag);
            // SAFETY: allocated with `l`.
            unsafe { heap.dealloc(block, l) };
        }
        assert_eq!(heap.used_bytes(), 0);
        assert_stats(&heap);
    }
    let arena = Pool::new(ARENA, 4096);
    scenario(first_fit_heap(&arena));
    let arena = Pool::new(ARENA, 4096);
    scenario(heap_over(&arena, BuddyByteAllocator::new()));
    let arena = Pool::new(ARENA, 4096);
    scenario(heap_over(&arena, TlsfByteAllocator::new()));
    let arena = Pool::new(ARENA, 4096);
    let mut slab = SlabByteAllocator::with_backing(TlsfByteAllocator::new());
    // SAFETY: host memory used by nothing else; it outlives `slab`.
    unsafe { slab.init(arena.start(), arena.size()) }.unwrap();
    let block = slab.alloc(layout(100, 8)).unwrap();
    // SAFETY: allocated with (100, 8).
    unsafe { slab.dealloc(block, layout(100, 8)) };
}

/// What we do better, 7: `realloc` in place within a class.
#[test]
fn realloc_in_place_within_a_class() {
    let arena = Pool::new(1 << 20, 4096);
    let mut heap = first_fit_heap(&arena);
    let l = layout(20, 8);
    let block = heap.alloc(l).unwrap();
    fill(block, 20, 0xa5);
    // SAFETY: `block` is live with `l`; each realloc hands back the block.
    unsafe {
        assert_eq!(heap.realloc(block, l, 32), Ok(block), "20 -> 32 stays in the 32-byte class");
        assert_eq!(heap.realloc(block, layout(32, 8), 17), Ok(block), "32 -> 17 too");
        assert_eq!(heap.used_bytes(), 32);
        // Growing to another class moves the block and keeps the bytes.
        let moved = heap.realloc(block, layout(17, 8), 100).unwrap();
        assert_ne!(moved, block);
        check_fill(moved, 17, 0xa5);
        assert_eq!(heap.used_bytes(), 128);
        // A size no layout can have fails and keeps the block.
        assert_eq!(heap.realloc(moved, layout(100, 8), usize::MAX), Err(AllocError::NoMemory));
        check_fill(moved, 17, 0xa5);
        // Class to large and back.
        let large = heap.realloc(moved, layout(100, 8), 10_000).unwrap();
        check_fill(large, 17, 0xa5);
        fill(large, 10_000, 0x5a);
        let large = heap.realloc(large, layout(10_000, 8), 20_000).unwrap();
        check_fill(large, 10_000, 0x5a);
        let small = heap.realloc(large, layout(20_000, 8), 8).unwrap();
        check_fill(small, 8, 0x5a);
        assert_eq!(heap.used_bytes(), 8);
        heap.dealloc(small, layout(8, 8));
    }
    assert_eq!(heap.used_bytes(), 0);
}

/// A request larger than the heap fails with an error; so do huge sizes and
/// alignments.
#[test]
fn impossible_requests_fail() {
    let arena = Pool::new(64 * 1024, 4096);
    let mut heap = heap_over(&arena, BuddyByteAllocator::new());
    assert_eq!(heap.alloc(layout(64 * 1024 + 1, 8)), Err(AllocError::NoMemory));
    assert_eq!(heap.alloc(layout(isize::MAX as usize - 4095, 4096)), Err(AllocError::NoMemory));
    assert_eq!(heap.alloc(layout(8, 1 << 40)), Err(AllocError::NoMemory));
    assert_eq!(heap.allocate(layout(64 * 1024 + 1, 8)), Err(AllocError::NoMemory));
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn usable_size_is_the_class() {
    let arena = Pool::new(64 * 1024, 4096);
    let heap = first_fit_heap(&arena);
    assert_eq!(heap.usable_size(layout(20, 8)), (20, 32));
    assert_eq!(heap.usable_size(layout(0, 1)), (0, 8));
    assert_eq!(heap.usable_size(layout(100, 8192)), (100, 100));
    assert_eq!(heap.usable_size(layout(5000, 8)), (5000, 5000));
}

#[test]
fn add_memory_grows_the_heap() {
    let first = Pool::new(64 * 1024, 4096);
    let second = Pool::new(256 * 1024, 4096);
    let mut heap = heap_over(&first, TlsfByteAllocator::new());
    let before = heap.total_bytes();
    let big = layout(128 * 1024, 8);
    assert_eq!(heap.alloc(big), Err(AllocError::NoMemory));
    // SAFETY: host memory used by nothing else; it outlives the heap.
    unsafe { heap.add_memory(second.start(), second.size()) }.unwrap();
    assert!(heap.total_bytes() > before + 200 * 1024);
    // SAFETY: as above; the region is already managed.
    assert_eq!(unsafe { heap.add_memory(second.start(), second.size()) }, Err(AllocError::MemoryOverlap));
    let block = heap.alloc(big).unwrap();
    // SAFETY: allocated with `big`.
    unsafe { heap.dealloc(block, big) };
}

/// A backing allocator that hands out misaligned slabs breaks its contract;
/// the heap refuses them rather than mask into foreign memory.
#[test]
fn misaligned_slab_is_refused() {
    struct Misaligned(FirstFit);
    impl BaseAllocator for Misaligned {
        unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
            // SAFETY: forwarded.
            unsafe { self.0.init(start, size) }
        }
        unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
            // SAFETY: forwarded.
            unsafe { self.0.add_memory(start, size) }
        }
    }
    // SAFETY: breaks only the alignment promise, on purpose: its blocks are
    // 8 bytes into blocks of a correct allocator, so still valid, disjoint
    // memory of the asked size; the test shows the heap refuses them.
    unsafe impl ByteAllocator for Misaligned {
        fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
            let padded = Layout::from_size_align(layout.size() + 8, 8).unwrap();
            let block = self.0.alloc(padded)?;
            // SAFETY: 8 bytes into a block of `size + 8` bytes.
            Ok(unsafe { block.add(8) })
        }
        unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
            let padded = Layout::from_size_align(layout.size() + 8, 8).unwrap();
            // SAFETY: undoes `alloc`.
            unsafe { self.0.dealloc(pos.sub(8), padded) }
        }
        fn total_bytes(&self) -> usize {
            self.0.total_bytes()
        }
        fn used_bytes(&self) -> usize {
            self.0.used_bytes()
        }
        fn available_bytes(&self) -> usize {
            self.0.available_bytes()
        }
    }
    let arena = Pool::new(64 * 1024, 4096);
    let mut heap = heap_over(&arena, Misaligned(FirstFit::default()));
    assert_eq!(heap.alloc(layout(8, 8)), Err(AllocError::NoMemory));
    assert_eq!(heap.backing().used_bytes(), 0, "the misaligned chunk went back");
}

/// A seeded churn of allocations, frees and reallocs, checked against a
/// model of live blocks, over each backing allocator.
#[test]
fn random_churn_against_a_model() {
    // Under Miri every step is interpreted: 200 steps over each backing
    // still reach the large blocks, the moves and in-place resizes.
    const STEPS: usize = if cfg!(miri) { 200 } else { 20_000 };
    const ARENA: usize = if cfg!(miri) { 512 << 10 } else { 2 << 20 };
    // How often the statistics and the overlap of live blocks are checked.
    const CHECK_EVERY: usize = if cfg!(miri) { 50 } else { 500 };
    fn churn<B: ByteAllocator>(mut heap: Heap<B, P2>, seed: u64) {
        let mut state = seed;
        let mut next = move || {
            // SplitMix64.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as usize
        };
        let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
        for step in 0..STEPS {
            let action = next() % 10;
            if action < 5 || live.is_empty() {
                let size = match next() % 4 {
                    0 => next() % 64,
                    1 => next() % 512,
                    2 => next() % 4200,
                    _ => next() % 20_000,
                };
                let align = 1 << (next() % 13);
                let l = layout(size, align);
                match heap.alloc(l) {
                    Ok(block) => {
                        assert_eq!(block.as_ptr().addr() % align, 0);
                        let tag = step as u8;
                        fill(block, size, tag);
                        live.push((block, l, tag));
                    }
                    Err(err) => assert_eq!(err, AllocError::NoMemory),
                }
            } else if action < 8 {
                let (block, l, tag) = live.swap_remove(next() % live.len());
                check_fill(block, l.size(), tag);
                // SAFETY: allocated with `l`, removed from the model.
                unsafe { heap.dealloc(block, l) };
            } else {
                let i = next() % live.len();
                let (block, l, tag) = live[i];
                let new_size = next() % 6000;
                // SAFETY: `block` is live with `l`.
                match unsafe { heap.realloc(block, l, new_size) } {
                    Ok(moved) => {
                        check_fill(moved, l.size().min(new_size), tag);
                        fill(moved, new_size, tag);
                        live[i] = (moved, layout(new_size, l.align()), tag);
                    }
                    Err(err) => {
                        assert_eq!(err, AllocError::NoMemory);
                        check_fill(block, l.size(), tag);
                    }
                }
            }
            if step % CHECK_EVERY == 0 {
                assert_stats(&heap);
                let mut spans: Vec<_> = live
                    .iter()
                    .map(|(b, l, _)| (b.as_ptr().addr(), b.as_ptr().addr() + l.size().max(1)))
                    .collect();
                spans.sort_unstable();
                assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "live blocks overlap");
            }
        }
        for (block, l, tag) in live {
            check_fill(block, l.size(), tag);
            // SAFETY: allocated with `l`.
            unsafe { heap.dealloc(block, l) };
        }
        assert_eq!(heap.used_bytes(), 0);
        assert_stats(&heap);
    }
    let arena = Pool::new(ARENA, 4096);
    churn(first_fit_heap(&arena), 1);
    let arena = Pool::new(ARENA, 4096);
    churn(heap_over(&arena, BuddyByteAllocator::new()), 2);
    let arena = Pool::new(ARENA, 4096);
    churn(heap_over(&arena, TlsfByteAllocator::new()), 3);
}

// The tests of the original crate's documentation.

const HEAP_SIZE: usize = 16 * 4096;
const BIG_HEAP_SIZE: usize = HEAP_SIZE * 10;

#[repr(align(4096))]
#[expect(dead_code, reason = "the heap reaches the array through raw pointers")]
struct TestHeap([u8; HEAP_SIZE]);

#[repr(align(4096))]
#[expect(dead_code, reason = "the heap reaches the array through raw pointers")]
struct TestBigHeap([u8; BIG_HEAP_SIZE]);

/// A page-aligned array on the host heap, held through a raw pointer (a
/// `Box` would be retagged on every move, invalidating the pointers the heap
/// derived from it), freed on drop.
struct Space<T>(NonNull<T>);

impl<T> Space<T> {
    /// A zeroed `T`, built in place (640 KiB would not fit a test thread's
    /// stack).
    fn zeroed() -> Self {
        // SAFETY: the tests use it for byte arrays, valid when all zero.
        let boxed: Box<T> = unsafe { Box::new_zeroed().assume_init() };
        Self(NonNull::from(Box::leak(boxed)))
    }

    /// The array's start, with its provenance exposed.
    fn start(&self) -> usize {
        self.0.as_ptr().expose_provenance()
    }
}

impl<T> Drop for Space<T> {
    fn drop(&mut self) {
        // SAFETY: leaked from a box in `zeroed`.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// A 64 KiB heap from a page-aligned array (kept alive beside the heap,
/// which the original test forgot: its array died on return).
fn new_heap() -> (Heap, Space<TestHeap>) {
    let space = Space::<TestHeap>::zeroed();
    // SAFETY: the array is used by nothing else and returned beside the
    // heap, which the tests drop first.
    let heap = unsafe { Heap::new(space.start(), HEAP_SIZE) };
    (heap, space)
}

fn new_big_heap() -> (Heap, Space<TestBigHeap>) {
    let space = Space::<TestBigHeap>::zeroed();
    // SAFETY: as in `new_heap`.
    let heap = unsafe { Heap::new(space.start(), BIG_HEAP_SIZE) };
    (heap, space)
}

#[test]
fn oom() {
    let (mut heap, _space) = new_heap();
    let addr = heap.allocate(layout(HEAP_SIZE + 1, align_of::<usize>()));
    assert_eq!(addr, Err(AllocError::NoMemory));
}

#[test]
fn allocate_double_usize() {
    let (mut heap, _space) = new_heap();
    let addr = heap.allocate(layout(size_of::<usize>() * 2, align_of::<usize>()));
    assert!(addr.is_ok());
}

#[test]
fn allocate_and_free_double_usize() {
    let (mut heap, _space) = new_heap();
    let l = layout(size_of::<usize>() * 2, align_of::<usize>());
    let addr = heap.allocate(l).unwrap();
    // SAFETY: `addr` is a live block of two usizes, aligned for them; it is
    // freed once with its layout.
    unsafe {
        core::ptr::with_exposed_provenance_mut::<(usize, usize)>(addr)
            .write((0xdeaf_dead_beaf_babe, 0xdeaf_dead_beaf_babe));
        heap.deallocate(addr, l);
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn reallocate_double_usize() {
    let (mut heap, _space) = new_heap();
    let l = layout(size_of::<usize>() * 2, align_of::<usize>());
    let x = heap.allocate(l).unwrap();
    // SAFETY: allocated with `l`.
    unsafe { heap.deallocate(x, l) };
    let y = heap.allocate(l).unwrap();
    // SAFETY: allocated with `l`.
    unsafe { heap.deallocate(y, l) };
    assert_eq!(x, y);
}

#[test]
fn allocate_multiple_sizes() {
    let (mut heap, _space) = new_heap();
    let base_size = size_of::<usize>();
    let base_align = align_of::<usize>();
    let layout_1 = layout(base_size * 2, base_align);
    let layout_2 = layout(base_size * 3, base_align);
    let layout_3 = layout(base_size * 3, base_align * 8);
    let layout_4 = layout(base_size * 10, base_align);

    let x = heap.allocate(layout_1).unwrap();
    let y = heap.allocate(layout_2).unwrap();
    let z = heap.allocate(layout_3).unwrap();
    assert_eq!(z % (base_align * 8), 0);
    // SAFETY: each block is freed once with its layout.
    unsafe { heap.deallocate(x, layout_1) };
    let a = heap.allocate(layout_4).unwrap();
    let b = heap.allocate(layout_1).unwrap();
    assert_eq!(b, x, "the freed block is reused");
    // SAFETY: as above.
    unsafe {
        heap.deallocate(y, layout_2);
        heap.deallocate(z, layout_3);
        heap.deallocate(a, layout_4);
        heap.deallocate(b, layout_1);
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn allocate_one_4096_block() {
    let (mut heap, _space) = new_big_heap();
    let l = layout(size_of::<usize>() * 512, align_of::<usize>());
    let x = heap.allocate(l).unwrap();
    // SAFETY: allocated with `l`.
    unsafe { heap.deallocate(x, l) };
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn allocate_multiple_4096_blocks() {
    let (mut heap, _space) = new_big_heap();
    let l = layout(size_of::<usize>() * 512, align_of::<usize>());
    let l2 = layout(size_of::<usize>() * 1024, align_of::<usize>());
    let _x = heap.allocate(l).unwrap();
    let y = heap.allocate(l).unwrap();
    let z = heap.allocate(l).unwrap();
    // SAFETY: allocated with `l`.
    unsafe { heap.deallocate(y, l) };
    let a = heap.allocate(l).unwrap();
    let _b = heap.allocate(l).unwrap();
    // SAFETY: allocated with `l`.
    unsafe {
        heap.deallocate(a, l);
        heap.deallocate(z, l);
    }
    let c = heap.allocate(l2).unwrap();
    let _d = heap.allocate(l).unwrap();
    // SAFETY: `c` is a live block of 1024 usizes.
    unsafe { core::ptr::with_exposed_provenance_mut::<(usize, usize)>(c).write((1, 2)) };
}

#[test]
#[should_panic(expected = "not aligned to 4096")]
fn new_panics_on_unaligned_start() {
    let space = Space::<TestHeap>::zeroed();
    // SAFETY: never reached: the start is rejected.
    let _ = unsafe { Heap::new(space.start() + 8, MIN_HEAP_SIZE) };
}

#[test]
#[should_panic(expected = "below the minimum heap size")]
fn new_panics_on_small_size() {
    let space = Space::<TestHeap>::zeroed();
    // SAFETY: never reached: the size is rejected.
    let _ = unsafe { Heap::new(space.start(), 0x4000) };
}

#[test]
#[should_panic(expected = "not a multiple of the minimum heap size")]
fn new_panics_on_odd_size() {
    let space = Space::<TestHeap>::zeroed();
    // SAFETY: never reached: the size is rejected.
    let _ = unsafe { Heap::new(space.start(), 0x9000) };
}

#[test]
fn try_new_trims_or_refuses() {
    let space = Space::<TestHeap>::zeroed();
    let start = space.start();
    // SAFETY: the box is used by nothing else and outlives each heap.
    unsafe {
        // Start rounded up to 4 KiB, size down to 32 KiB: TLSF gets
        // [start + 4 KiB, start + 36 KiB) less its block headers.
        let trimmed = Heap::try_new(start + 1, HEAP_SIZE - 1).unwrap().total_bytes();
        assert!(trimmed <= MIN_HEAP_SIZE && trimmed > MIN_HEAP_SIZE - 1024);
        assert_eq!(Heap::try_new(start + 1, MIN_HEAP_SIZE).err(), Some(AllocError::InvalidParam));
        assert_eq!(Heap::try_new(start, MIN_HEAP_SIZE - 1).err(), Some(AllocError::InvalidParam));
        assert_eq!(Heap::try_new(usize::MAX - 4095, 8192).err(), Some(AllocError::InvalidParam));
        assert_eq!(Heap::try_new(0, 0).err(), Some(AllocError::InvalidParam));
        let generic = Heap::try_new_in(start, HEAP_SIZE, BuddyByteAllocator::new()).unwrap();
        assert!(generic.total_bytes() > HEAP_SIZE - 1024);
    }
}

#[test]
fn slab_byte_allocator_lifecycle() {
    let arena = Pool::new(256 * 1024, 4096);
    let mut slab = SlabByteAllocator::new();
    let l = layout(16, 8);
    assert_eq!(slab.alloc(l), Err(AllocError::NoMemory), "before init: an error, not a panic");
    assert_eq!(slab.alloc(layout(10_000, 8)), Err(AllocError::NoMemory));
    assert_eq!((slab.total_bytes(), slab.used_bytes(), slab.available_bytes()), (0, 0, 0));
    // SAFETY: host memory used by nothing else; it outlives `slab`.
    unsafe { slab.init(arena.start(), arena.size()) }.unwrap();
    // A second init: the backing allocator's answer (TLSF: the region
    // overlaps the one it manages).
    // SAFETY: as above.
    assert_eq!(unsafe { slab.init(arena.start(), arena.size()) }, Err(AllocError::MemoryOverlap));
    let total = slab.total_bytes();
    let available = slab.available_bytes();
    assert!(total > 250 * 1024 && total <= arena.size());
    assert!(available <= total && available > 250 * 1024);

    // Zero-size layouts get real, distinct smallest-class blocks.
    let zero = layout(0, 1);
    let a = slab.alloc(zero).unwrap();
    let b = slab.alloc(zero).unwrap();
    assert_ne!(a, b);
    assert_eq!(slab.used_bytes(), 16);
    // SAFETY: allocated with `zero`.
    unsafe {
        slab.dealloc(a, zero);
        slab.dealloc(b, zero);
    }
    assert_eq!(slab.used_bytes(), 0);
    assert_eq!(slab.usable_size(layout(100, 8)), (100, 112));
    assert!(slab.release_cached_slabs() > 0);
    assert_eq!(slab.heap().used_bytes(), 0);
    assert_eq!(slab.available_bytes(), available, "every slab went back to the backing allocator");
}

#[test]
fn add_memory_before_init_initialises() {
    let arena = Pool::new(64 * 1024, 4096);
    let mut slab = SlabByteAllocator::with_backing(TlsfByteAllocator::new());
    // SAFETY: host memory used by nothing else; it outlives `slab`.
    unsafe { slab.add_memory(arena.start(), arena.size()) }.unwrap();
    let block = slab.alloc(layout(8, 8)).unwrap();
    // SAFETY: allocated with (8, 8).
    unsafe { slab.dealloc(block, layout(8, 8)) };
    // SAFETY: as above.
    assert_eq!(unsafe { slab.init(arena.start(), arena.size()) }, Err(AllocError::MemoryOverlap));
    // A region the backing allocator refuses leaves the allocator as it was.
    let mut fresh = SlabByteAllocator::new();
    // SAFETY: an overflowing region is refused before it is touched.
    assert_eq!(unsafe { fresh.init(usize::MAX - 10, 100) }, Err(AllocError::InvalidParam));
    assert_eq!(fresh.alloc(layout(8, 8)), Err(AllocError::NoMemory));
}

#[test]
fn const_constructors_fit_a_static() {
    static DEFAULT: std::sync::Mutex<SlabByteAllocator> = std::sync::Mutex::new(SlabByteAllocator::new());
    static OVER_TLSF: std::sync::Mutex<SlabByteAllocator<TlsfByteAllocator>> =
        std::sync::Mutex::new(SlabByteAllocator::with_backing(TlsfByteAllocator::new()));
    assert_eq!(DEFAULT.lock().unwrap().alloc(layout(8, 8)), Err(AllocError::NoMemory));
    assert_eq!(OVER_TLSF.lock().unwrap().total_bytes(), 0);
}

#[test]
fn debug_output_names_the_parts() {
    let arena = Pool::new(64 * 1024, 4096);
    let heap = heap_over(&arena, BuddyByteAllocator::new());
    let text = std::format!("{heap:?}");
    assert!(text.contains("slabs_per_class") && text.contains("BuddyByteAllocator"), "{text}");
}

/// The `debug-checks` feature, on in this crate's tests (through the
/// dev-dependency on the crate itself).
mod debug_checks {
    use super::*;

    // The tests below would pass vacuously without the checks.
    const _: () = assert!(cfg!(feature = "debug-checks"), "the dev-dependency turns debug-checks on");

    /// A `SlabByteAllocator` (which knows its regions) over `arena`.
    fn slab_on(arena: &Pool) -> SlabByteAllocator {
        let mut slab = SlabByteAllocator::new();
        // SAFETY: host memory used by nothing else; it outlives `slab`.
        unsafe { slab.init(arena.start(), arena.size()) }.unwrap();
        slab
    }

    #[test]
    #[should_panic(expected = "allocator-slab: double free of")]
    fn double_free_with_other_blocks_live() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(24, 8);
        let block = slab.alloc(l).unwrap();
        let _other = slab.alloc(l).unwrap();
        // SAFETY: freed once, then again (the bug under test).
        unsafe {
            slab.dealloc(block, l);
            slab.dealloc(block, l);
        }
    }

    /// The slab is empty after the first free (and cached): no block of it
    /// is live.
    #[test]
    #[should_panic(expected = "allocator-slab: double free of")]
    fn double_free_of_the_only_block() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(100, 8);
        let block = slab.alloc(l).unwrap();
        // SAFETY: as above.
        unsafe {
            slab.dealloc(block, l);
            slab.dealloc(block, l);
        }
    }

    /// 8-byte blocks hold nothing but their link: the encoded link alone
    /// tells a free block.
    #[test]
    #[should_panic(expected = "allocator-slab: double free of")]
    fn double_free_in_the_smallest_class() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(8, 8);
        let blocks: Vec<_> = (0..3).map(|_| slab.alloc(l).unwrap()).collect();
        // SAFETY: each freed once, then the middle one again (the bug).
        unsafe {
            slab.dealloc(blocks[1], l);
            slab.dealloc(blocks[0], l);
            slab.dealloc(blocks[1], l);
        }
    }

    #[test]
    #[should_panic(expected = "allocator-slab: double free of")]
    fn free_of_a_block_never_handed_out() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(64, 8);
        let block = slab.alloc(l).unwrap();
        // SAFETY: the bug under test: the next block of the slab was never
        // carved.
        unsafe { slab.dealloc(block.add(64), l) };
    }

    /// Past the block cache's limit a free goes to its slab, where a double
    /// free is found as well.
    #[test]
    #[should_panic(expected = "allocator-slab: double free of")]
    fn double_free_past_the_block_cache() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(64, 8);
        let blocks: Vec<_> = (0..FineClasses::CACHED_BLOCKS + 8).map(|_| slab.alloc(l).unwrap()).collect();
        // SAFETY: each freed once, then the last one again (the bug).
        unsafe {
            for &block in &blocks {
                slab.dealloc(block, l);
            }
            slab.dealloc(blocks[blocks.len() - 1], l);
        }
    }

    /// With the block cache off, a write after free is found on a slab's
    /// free list.
    #[test]
    #[should_panic(expected = "allocator-slab: use after free: block")]
    fn write_after_free_on_a_slab_free_list() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab: SlabByteAllocator<TlsfByteAllocator, Uncached<FineClasses>> =
            SlabByteAllocator::with_classes(TlsfByteAllocator::new());
        // SAFETY: host memory used by nothing else; it outlives `slab`.
        unsafe { slab.init(arena.start(), arena.size()) }.unwrap();
        write_after_free_then_reuse(&mut slab);
    }

    /// Frees a 64-byte block, writes into it, and allocates it again.
    fn write_after_free_then_reuse(slab: &mut impl ByteAllocator) {
        let l = layout(64, 8);
        let block = slab.alloc(l).unwrap();
        let _other = slab.alloc(l).unwrap();
        // SAFETY: freed once; then written (the bug under test, in memory
        // the test owns).
        unsafe {
            slab.dealloc(block, l);
            block.add(40).write(0);
        }
        let _ = slab.alloc(l);
    }

    #[test]
    fn freed_blocks_are_poisoned() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(64, 8);
        let block = slab.alloc(l).unwrap();
        let _other = slab.alloc(l).unwrap();
        fill(block, 64, 0x11);
        // SAFETY: freed once; its bytes stay ours to read in this test (the
        // slab is live).
        unsafe { slab.dealloc(block, l) };
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), 64) };
        assert!(bytes[size_of::<usize>()..].iter().all(|&b| b == 0xa5), "{bytes:x?}");
        assert_eq!(slab.alloc(l).unwrap(), block, "the poison is intact, so the block is reused");
    }

    #[test]
    #[should_panic(expected = "allocator-slab: use after free: block")]
    fn write_after_free_is_caught_on_reuse() {
        let arena = Pool::new(256 * 1024, 4096);
        write_after_free_then_reuse(&mut slab_on(&arena));
    }

    /// A write over the link would send the free list anywhere: caught
    /// before it is followed.
    #[test]
    #[should_panic(expected = "was written after it was freed (at byte 0)")]
    fn a_clobbered_link_is_caught_on_reuse() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(8, 8);
        let block = slab.alloc(l).unwrap();
        let _other = slab.alloc(l).unwrap();
        // SAFETY: as above.
        unsafe {
            slab.dealloc(block, l);
            block.cast::<usize>().write(0x1234_5678);
        }
        let _ = slab.alloc(l);
    }

    #[test]
    #[should_panic(expected = "which lies outside every region")]
    fn free_of_a_pointer_outside_every_region() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let mut elsewhere = [0u64; 8];
        let foreign = NonNull::from(&mut elsewhere).cast::<u8>();
        // SAFETY: the bug under test: caught before anything is read.
        unsafe { slab.dealloc(foreign, layout(8, 8)) };
    }

    /// A pointer into a large block: its would-be slab header is payload.
    #[test]
    #[should_panic(expected = "which is in no slab of the 64-byte class")]
    fn free_of_a_pointer_into_a_large_block() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let large = slab.alloc(layout(16 * 1024, 4096)).unwrap();
        // SAFETY: the bug under test.
        unsafe { slab.dealloc(large.add(64), layout(64, 8)) };
    }

    #[test]
    #[should_panic(expected = "which is not the start of a block of the 64-byte class")]
    fn free_of_a_pointer_inside_a_block() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let block = slab.alloc(layout(64, 8)).unwrap();
        // SAFETY: the bug under test.
        unsafe { slab.dealloc(block.add(8), layout(56, 8)) };
    }

    #[test]
    #[should_panic(expected = "misaligned for its layout (align 16)")]
    fn free_of_a_pointer_misaligned_for_its_layout() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let block = slab.alloc(layout(64, 8)).unwrap();
        // SAFETY: the bug under test.
        unsafe { slab.dealloc(block.add(8), layout(8, 16)) };
    }

    #[test]
    #[should_panic(expected = "after it was freed")]
    fn realloc_of_a_freed_block() {
        let arena = Pool::new(256 * 1024, 4096);
        let mut slab = slab_on(&arena);
        let l = layout(64, 8);
        let block = slab.alloc(l).unwrap();
        let _other = slab.alloc(l).unwrap();
        // SAFETY: freed once, then resized (the bug under test).
        unsafe {
            slab.dealloc(block, l);
            let _ = slab.realloc(block, l, 60);
        }
    }

    /// The conformance suite's random churn (every size, alignment, resize
    /// and free, checked against the model) never trips the checks.
    #[test]
    fn a_correct_workload_passes() {
        // Under Miri: the tiny configuration, with fewer operations (each
        // one is interpreted, with the model's checks), and 64 KiB regions:
        // an empty heap must serve every size, and slabs take up to 32 KiB.
        let cfg = if cfg!(miri) {
            ByteConfig::tiny().with_region_size(64 << 10).with_ops(100)
        } else {
            ByteConfig::new()
        }
        .with_min_region_size(crate::MIN_REGION_SIZE);
        allocator_testkit::byte::random_churn(&SlabByteAllocator::new, &cfg);
    }
}

/// A region of exactly [`crate::MIN_REGION_SIZE`] serves the smallest class over
/// TLSF and over buddy, wherever it starts.
#[test]
fn a_minimum_region_serves_the_smallest_class_at_any_start() {
    let offsets: Vec<usize> =
        if cfg!(miri) { std::vec![0, 8, 2048, 4088] } else { (0..4096).step_by(8).collect() };
    let arena = Pool::new(crate::MIN_REGION_SIZE + 4096, 4096);
    for offset in offsets {
        let start = arena.start() + offset;
        let mut over_tlsf = SlabByteAllocator::new();
        let mut over_buddy = SlabByteAllocator::with_backing(BuddyByteAllocator::<32>::new());
        // SAFETY: test memory, used by one allocator at a time, outliving it.
        unsafe { over_tlsf.init(start, crate::MIN_REGION_SIZE) }.unwrap();
        let block = over_tlsf.alloc(layout(8, 8)).unwrap_or_else(|e| panic!("over TLSF at +{offset}: {e:?}"));
        // SAFETY: allocated just above with (8, 8).
        unsafe { over_tlsf.dealloc(block, layout(8, 8)) };
        // SAFETY: as above.
        unsafe { over_buddy.init(start, crate::MIN_REGION_SIZE) }.unwrap();
        let block =
            over_buddy.alloc(layout(8, 8)).unwrap_or_else(|e| panic!("over buddy at +{offset}: {e:?}"));
        // SAFETY: allocated just above with (8, 8).
        unsafe { over_buddy.dealloc(block, layout(8, 8)) };
    }
}

/// Whether `block` lies in `pool`.
fn in_pool(pool: &Pool, block: NonNull<u8>) -> bool {
    (pool.start()..pool.start() + pool.size()).contains(&block.as_ptr().addr())
}

#[test]
fn removal_releases_cached_slabs_first_and_a_live_slab_blocks_it() {
    fn scenario<B: ByteAllocator>(backing: B) {
        let size = 64 * 1024;
        let (a, b) = (Pool::new(size, 4096), Pool::new(size, 4096));
        let mut heap = SlabByteAllocator::with_backing(backing);
        // SAFETY: whole pools, which outlive the heap.
        unsafe { heap.init(a.start(), size) }.unwrap();
        let small = layout(8, 8);
        // The only region holds the slab of this block.
        let x = heap.alloc(small).unwrap();
        fill(x, 8, 0xAB);
        let before_b = heap.total_bytes();
        // SAFETY: as above.
        unsafe { heap.add_memory(b.start(), size) }.unwrap();
        let b_bytes = heap.total_bytes() - before_b;
        // A live slab: refused, and nothing the caller sees changes.
        let stats = (heap.total_bytes(), heap.used_bytes(), heap.available_bytes());
        assert_eq!(heap.remove_memory(a.start(), size), Err(AllocError::MemoryOverlap));
        assert_eq!((heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), stats);
        check_fill(x, 8, 0xAB);
        // SAFETY: allocated above with `small`.
        unsafe { heap.dealloc(x, small) };
        assert_eq!(
            (heap.heap.cached_blocks(0), heap.heap.cached_count(0)),
            (1, 0),
            "x waits in the block cache"
        );
        // A range never handed over: refused, the caches untouched.
        assert_eq!(heap.remove_memory(a.start(), size / 2), Err(AllocError::NotAllocated));
        assert_eq!((heap.heap.cached_blocks(0), heap.heap.cached_count(0)), (1, 0));
        // A large block in `b`, wherever the backing puts it: `b` is refused
        // while it lives.
        let large = layout(2 * MAX_CLASS_SIZE, 8);
        let big = heap.alloc(large).unwrap();
        let big_in = if in_pool(&b, big) { &b } else { &a };
        assert_eq!(heap.remove_memory(big_in.start(), size), Err(AllocError::MemoryOverlap));
        // A refused removal returned the cached blocks to their slabs, and
        // then, for `a`, a's cached slab, on the way.
        let a_cache = usize::from(in_pool(&b, big));
        assert_eq!((heap.heap.cached_blocks(0), heap.heap.cached_count(0)), (0, a_cache));
        // SAFETY: allocated above with `large`.
        unsafe { heap.dealloc(big, large) };
        // A cached slab of another class, wherever it is.
        let y = heap.alloc(layout(64, 64)).unwrap();
        let y_in_b = in_pool(&b, y);
        // SAFETY: allocated just now.
        unsafe { heap.dealloc(y, layout(64, 64)) };
        let class64 = FineClasses::size_class(layout(64, 64)).unwrap();
        assert_eq!(heap.heap.cached_blocks(class64), 1);
        // Removing `b` returns only the cached slabs in `b` (after the
        // cached blocks went back to their slabs, if y kept b's).
        assert_eq!(heap.remove_memory(b.start(), size), Ok(()));
        assert_eq!(heap.total_bytes(), before_b, "total drops by what `b` added ({b_bytes} bytes)");
        assert_eq!(heap.heap.cached_count(0), a_cache, "a's cached slab stays");
        let y_held = heap.heap.cached_blocks(class64) + heap.heap.cached_count(class64);
        assert_eq!(y_held, usize::from(!y_in_b), "y's slab stays if it lies in a");
        assert_eq!(heap.used_bytes(), 0);
        // Removing `a` returns its cached slabs first.
        assert_eq!(heap.remove_memory(a.start(), size), Ok(()));
        assert!((0..NUM_CLASSES).all(|c| heap.heap.cached_count(c) == 0 && heap.heap.slab_count(c) == 0));
        assert_eq!((heap.total_bytes(), heap.used_bytes(), heap.available_bytes()), (0, 0, 0));
        assert_eq!(heap.alloc(small), Err(AllocError::NoMemory));
        assert_eq!(heap.remove_memory(a.start(), size), Err(AllocError::NotAllocated), "twice");
        // Nothing touches the removed memory; the heap starts over in `b`.
        a.fill(0, size, 0x3C);
        b.fill(0, size, 0);
        // SAFETY: `b` is ours again (removed above), and outlives the heap.
        unsafe { heap.init(b.start(), size) }.unwrap();
        let blocks: Vec<NonNull<u8>> = (0..64).map(|_| heap.alloc(layout(24, 8)).unwrap()).collect();
        assert!(blocks.iter().all(|&p| in_pool(&b, p)));
        for p in blocks {
            // SAFETY: allocated above with this layout.
            unsafe { heap.dealloc(p, layout(24, 8)) };
        }
        a.assert_filled(0, size, 0x3C, "a removed region");
    }
    scenario(TlsfByteAllocator::new());
    scenario(BuddyByteAllocator::new());
}

#[cfg(feature = "debug-checks")]
#[test]
#[should_panic(expected = "lies outside every region")]
fn a_free_into_a_removed_region_is_caught() {
    let size = 64 * 1024;
    let (a, b) = (Pool::new(size, 4096), Pool::new(size, 4096));
    let mut heap = SlabByteAllocator::new();
    // SAFETY: whole pools, which outlive the heap.
    unsafe {
        heap.init(a.start(), size).unwrap();
        heap.add_memory(b.start(), size).unwrap();
    }
    let x = heap.alloc(layout(8, 8)).unwrap();
    // SAFETY: allocated just now.
    unsafe { heap.dealloc(x, layout(8, 8)) };
    let region = if in_pool(&a, x) { &a } else { &b };
    heap.remove_memory(region.start(), size).unwrap();
    // SAFETY: none: the bug under test (the block's region is gone).
    unsafe { heap.dealloc(x, layout(8, 8)) };
}

#[test]
fn max_layout_size_covers_the_classes_and_the_backing() {
    let tlsf = TlsfByteAllocator::new();
    let heap = SlabByteAllocator::new();
    for align in [1, 8, 4096, 8192, 1 << 20] {
        assert_eq!(heap.max_layout_size(align), tlsf.max_layout_size(align), "align {align}");
    }
    // Blocks of at most 4 KiB: the large layouts stop there, and so do the
    // classes whose slab (4 KiB) fits a block.
    let small_buddy = SlabByteAllocator::with_backing(BuddyByteAllocator::<13>::empty());
    assert_eq!(small_buddy.max_layout_size(8), 4096);
    assert_eq!(small_buddy.max_layout_size(8192), 0);
    // Blocks of at most 2 KiB: no slab fits, the backing's bound it is.
    let tiny_buddy = SlabByteAllocator::with_backing(BuddyByteAllocator::<12>::empty());
    assert_eq!(tiny_buddy.max_layout_size(8), 2048);
    // A backing without a bound: any layout.
    let unbounded = Heap::with_backing(FirstFit::default());
    assert_eq!(unbounded.max_layout_size(8), isize::MAX as usize & !7);
    // A backing whose largest block is below the largest class: the
    // classes whose slabs it holds still count.
    let mid_buddy = SlabByteAllocator::with_backing(BuddyByteAllocator::<14>::empty());
    assert_eq!(mid_buddy.max_layout_size(1), 8192);
    assert_eq!(mid_buddy.max_layout_size(4096), 8192);
}

/// A table with its own slab sizes and without colouring.
struct Plain;

impl SizeClasses for Plain {
    const SIZES: &'static [usize] = &[48, 320, 3000];
    const SLAB_SIZES: &'static [usize] = &[8192, 4096, 32768];
    const COLOURING: bool = false;
}

#[test]
fn slab_sizes_and_colouring_are_configurable() {
    assert_eq!((0..3).map(|c| Plain::slab_size(c).unwrap()).collect::<Vec<_>>(), [8192, 4096, 32768]);
    assert_eq!((0..3).map(|c| Plain::colours(c).unwrap()).collect::<Vec<_>>(), [1, 1, 1]);
    let header = crate::heap::HEADER_SIZE;
    assert_eq!(Plain::slab_capacity(0), Some((8192 - SLAB_TAIL - header) / 48));
    assert_eq!(Plain::slab_capacity(2), Some((32768 - SLAB_TAIL - header) / 3000));
    // The same sizes with the derived slabs and colouring: more than one
    // colour where the slack allows (84 blocks of 48 bytes fill a 4 KiB
    // slab's 4,032 bytes: no slack, one colour).
    struct Coloured;
    impl SizeClasses for Coloured {
        const SIZES: &'static [usize] = &[48, 320, 3000];
    }
    assert_eq!(Coloured::colours(0), Some(1));
    assert!((1..3).all(|c| Coloured::colours(c).unwrap() > 1));
    assert_eq!(Coloured::slab_size(1), Some(4096));

    /// The offset of the first block of each of `slabs` successive slabs of
    /// the class of `size` from its slab's start.
    fn first_offsets<C: SizeClasses>(size: usize, slabs: usize) -> Vec<usize> {
        let arena = Pool::new(4 << 20, 32768);
        let mut heap: Heap<TlsfByteAllocator, C> = {
            let mut backing = TlsfByteAllocator::new();
            // SAFETY: as in `first_fit_heap`.
            unsafe { backing.init(arena.start(), arena.size()) }.unwrap();
            Heap::with_classes(backing)
        };
        let class = C::size_class(layout(size, 8)).unwrap();
        let (slab, capacity) = (C::slab_size(class).unwrap(), C::slab_capacity(class).unwrap());
        let mut offsets = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..slabs {
            // A full slab's worth: the first block opens a new slab.
            for i in 0..capacity {
                let block = heap.alloc(layout(size, 8)).unwrap();
                if i == 0 {
                    offsets.push(block.as_ptr().addr() % slab);
                }
                blocks.push(block);
            }
        }
        for block in blocks {
            // SAFETY: allocated above with this layout.
            unsafe { heap.dealloc(block, layout(size, 8)) };
        }
        offsets
    }
    let colours = Coloured::colours(1).unwrap();
    let coloured = first_offsets::<Coloured>(320, colours + 1);
    let expected: Vec<usize> = (0..colours).map(|c| c * 64).chain([0]).collect();
    assert_eq!(coloured, expected, "successive slabs step through the colours, then start over");
    assert_eq!(first_offsets::<Plain>(320, 4), [0, 0, 0, 0], "without colouring every slab starts at 0");
    assert_eq!(first_offsets::<Plain>(48, 2), [0, 0]);
    assert_eq!(first_offsets::<Plain>(3000, 2), [0, 0]);
}
