//! The slab index ([`SizeClasses::SLAB_INDEX`]): a block's size found from
//! its address (`ByteAllocator::block_size`), for a C `free` without a size,
//! over the [`MallocClasses`] table.
//!
//! Under Miri the sizes are small:
//! `cargo +nightly miri test -p allocator-slab --test block_size`.

use core::{
    alloc::Layout,
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};

use allocator_slab::{
    FineClasses, MallocClasses, SLAB_TAIL, SizeClasses, SlabByteAllocator, TlsfByteAllocator,
};
use allocator_testkit::{Pool, Rng};
use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator};

/// The heap under test: the malloc table over TLSF.
type Malloc = SlabByteAllocator<TlsfByteAllocator, MallocClasses>;

/// A heap of the malloc table over `pool`, all of it.
fn heap_over(pool: &Pool) -> Malloc {
    let mut heap = Malloc::with_classes(TlsfByteAllocator::new());
    // SAFETY: the pool is memory used by nothing else, with its provenance
    // exposed, and outlives the heap (every test drops the heap first).
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    heap
}

/// The layout `(size, align)`.
fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// The size the heap finds for the live block `ptr` of alignment `align`.
fn found<A: ByteAllocator>(heap: &A, ptr: NonNull<u8>, align: usize) -> usize {
    // SAFETY: every caller passes a live block of `heap` of alignment `align`.
    unsafe { heap.block_size(ptr, align) }.expect("the malloc table finds every size")
}

/// The slabs held by the heap, over every class.
fn slabs(heap: &Malloc) -> usize {
    let stats = heap.class_stats();
    stats.classes().iter().map(|class| class.full_slabs + class.partial_slabs + class.cached_slabs).sum()
}

#[test]
fn sizes_are_found_only_with_the_index() {
    assert!(Malloc::finds_block_sizes());
    assert!(TlsfByteAllocator::finds_block_sizes());
    assert!(!SlabByteAllocator::<TlsfByteAllocator, FineClasses>::finds_block_sizes());
    const {
        assert!(MallocClasses::SLAB_INDEX && !FineClasses::SLAB_INDEX);
        assert!(MallocClasses::EXACT_FIT_ABOVE == usize::MAX);
    }
    // FineClasses' classes from 16 (C's alignment) to 1024, in 8 KiB slabs
    // but the smallest (4 KiB, for the smallest region).
    let from = FineClasses::SIZES.iter().position(|&s| s == 16).unwrap();
    let to = FineClasses::SIZES.iter().position(|&s| s == 1024).unwrap();
    assert_eq!(MallocClasses::SIZES, &FineClasses::SIZES[from..=to]);
    assert_eq!(MallocClasses::slab_size(0), Some(4096));
    assert!((1..MallocClasses::SIZES.len()).all(|c| MallocClasses::slab_size(c) == Some(8192)));
    // Without the index the heap cannot tell, and says so.
    let pool = Pool::new(256 * 1024, 4096);
    let mut heap: SlabByteAllocator = SlabByteAllocator::new();
    // SAFETY: as in `heap_over`.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let block = heap.alloc(layout(24, 8)).unwrap();
    // SAFETY: `block` is live, of alignment 8.
    assert_eq!(unsafe { heap.block_size(block, 8) }, None);
    // SAFETY: as above.
    unsafe { heap.dealloc(block, layout(24, 8)) };
    heap.assert_valid();
}

/// Every class block reports its class size, every large block TLSF's
/// usable size; and every reported byte is writable (the patterns survive).
#[test]
fn class_blocks_report_their_class_and_large_blocks_tlsfs_size() {
    let pool = Pool::new(if cfg!(miri) { 256 * 1024 } else { 1 << 20 }, 4096);
    let mut heap = heap_over(&pool);
    let mut live = Vec::new();
    for class in 0..MallocClasses::count() {
        let size = MallocClasses::class_size(class).unwrap();
        // The smallest size of the class and its own size.
        let smallest = if class == 0 { 0 } else { MallocClasses::class_size(class - 1).unwrap() + 1 };
        for request in [smallest, size] {
            let l = layout(request, 8);
            assert_eq!(MallocClasses::size_class(l), Some(class));
            let block = heap.alloc(l).unwrap();
            assert_eq!(found(&heap, block, 8), size, "a block of {request} B in the {size} B class");
            live.push((block, 8));
        }
    }
    for (size, align) in [(1025, 8), (1100, 8), (3000, 16), (5000, 4096), (0, 8192), (100, 8192)] {
        let l = layout(size, align);
        assert_eq!(MallocClasses::size_class(l), None);
        let block = heap.alloc(l).unwrap();
        // SAFETY: `block` is a large block, a live block of TLSF with `l`.
        let tlsf = unsafe { heap.heap().backing().usable_size(block, l) };
        assert_eq!(found(&heap, block, align), tlsf, "a large block of {size} B aligned to {align}");
        assert!(tlsf >= size);
        live.push((block, align));
    }
    for (tag, &(block, align)) in live.iter().enumerate() {
        // SAFETY: `block` is live and its found size is the caller's.
        unsafe { allocator_testkit::fill_pattern(block, tag as u64, 0, found(&heap, block, align)) };
    }
    heap.assert_valid();
    for (tag, &(block, align)) in live.iter().enumerate() {
        let n = found(&heap, block, align);
        // SAFETY: `block` is live and holds `n` bytes, filled above.
        unsafe { allocator_testkit::verify_pattern(block, tag as u64, 0, n, "a block of its found size") };
        // SAFETY: `(n, align)` stands for the block's layout.
        unsafe { heap.dealloc(block, layout(n, align)) };
    }
    assert_eq!(heap.used_bytes(), 0);
    heap.assert_valid();
}

/// The adversarial case: a large TLSF block right after a slab, whose
/// pointer lies in the slab's aligned span (its [`SLAB_TAIL`]).
#[test]
fn a_large_block_in_a_slab_tail_is_not_a_class_block() {
    // The classes of 4, 8 and 16 KiB slabs.
    for class in [0, 16, MallocClasses::count() - 1] {
        let slab_size = MallocClasses::slab_size(class).unwrap();
        let size = MallocClasses::class_size(class).unwrap();
        let pool = Pool::new(16 * slab_size, 4096);
        let mut heap = heap_over(&pool);
        // A full slab and one more block: a second slab. (The index's first
        // table follows the first slab; nothing follows the second yet.)
        let per_slab = MallocClasses::slab_capacity(class).unwrap();
        let smalls: Vec<_> = (0..=per_slab).map(|_| heap.alloc(layout(size, 8)).unwrap()).collect();
        let small = *smalls.last().unwrap();
        let slab = small.as_ptr().addr() & !(slab_size - 1);
        // Large blocks until one lands right after the slab: TLSF takes the
        // free block before the slab (its alignment padding) first, the one
        // after it once that is too small.
        let large = layout(1100, 8);
        let mut blocks = Vec::new();
        let tail = loop {
            let Ok(block) = heap.alloc(large) else {
                panic!("no large block landed after the slab of {size} B");
            };
            blocks.push(block);
            let addr = block.as_ptr().addr();
            if addr & !(slab_size - 1) == slab {
                break block;
            }
        };
        let offset = tail.as_ptr().addr() - slab;
        assert!(
            offset >= slab_size - SLAB_TAIL,
            "the large block lies in the slab's tail, at {offset} of {slab_size}"
        );
        // SAFETY: `tail` is a live large block of TLSF with `large`.
        let tlsf = unsafe { heap.heap().backing().usable_size(tail, large) };
        assert_eq!(found(&heap, tail, 8), tlsf);
        assert!(tlsf >= 1100);
        assert_eq!(found(&heap, small, 8), size);
        heap.assert_valid();
        // Freed with the found layout, the large block goes back to TLSF.
        // SAFETY: `(tlsf, 8)` stands for the block's layout.
        unsafe { heap.dealloc(tail, layout(tlsf, 8)) };
        heap.assert_valid();
        for block in blocks.into_iter().filter(|&b| b != tail) {
            let n = found(&heap, block, 8);
            // SAFETY: as above.
            unsafe { heap.dealloc(block, layout(n, 8)) };
        }
        for block in smalls {
            // SAFETY: as above.
            unsafe { heap.dealloc(block, layout(found(&heap, block, 8), 8)) };
        }
        assert_eq!(heap.used_bytes(), 0);
        heap.assert_valid();
    }
}

/// Random layouts freed in random order, each with the layout
/// `(block_size, align)`: nothing leaks and the heap stays valid.
#[test]
fn random_blocks_freed_by_their_found_size() {
    let (rounds, count) = if cfg!(miri) { (2, 60) } else { (20, 600) };
    let pool = Pool::new(if cfg!(miri) { 512 * 1024 } else { 4 << 20 }, 4096);
    let mut heap = heap_over(&pool);
    let mut rng = Rng::new(0x51ab_1d3c);
    for round in 0..rounds {
        let mut live = Vec::new();
        for _ in 0..count {
            let size = if rng.chance(3, 4) { rng.below(1100) } else { rng.below(6000) };
            let shifts = if rng.chance(1, 8) { 14 } else { 5 };
            let align = 1 << rng.below(shifts);
            let l = layout(size, align);
            let Ok(block) = heap.alloc(l) else { continue };
            let n = found(&heap, block, align);
            assert!(n >= size, "found {n} for a block of {size} B");
            match MallocClasses::size_class(l) {
                Some(class) => assert_eq!(n, MallocClasses::class_size(class).unwrap()),
                // SAFETY: a large block of TLSF with `l`.
                None => assert_eq!(n, unsafe { heap.heap().backing().usable_size(block, l) }),
            }
            // SAFETY: `block` is live and its found size is the caller's.
            unsafe { allocator_testkit::fill_pattern(block, live.len() as u64, 0, n) };
            live.push((block, align));
        }
        heap.assert_valid();
        let mut order: Vec<usize> = (0..live.len()).collect();
        rng.shuffle(&mut order);
        for (step, &i) in order.iter().enumerate() {
            let (block, align) = live[i];
            let n = found(&heap, block, align);
            // SAFETY: `block` is live, filled with `n` bytes of pattern `i`.
            unsafe { allocator_testkit::verify_pattern(block, i as u64, 0, n, "a random block") };
            // SAFETY: `(n, align)` stands for the block's layout.
            unsafe { heap.dealloc(block, layout(n, align)) };
            if step % 64 == 0 {
                heap.assert_valid();
            }
        }
        assert_eq!(heap.used_bytes(), 0, "round {round}");
        heap.assert_valid();
    }
    // With the cached slabs gone, the index's table went back too.
    heap.release_cached_slabs();
    assert_eq!(heap.heap().backing().used_bytes(), 0, "the slab index's table was freed");
    heap.assert_valid();
}

/// The index grows past its first tables (8 words, doubled for every 4, 8,
/// 16, ... slabs) and empties
/// again; its table is counted as slab memory, never as used bytes.
#[test]
fn the_index_grows_and_empties() {
    // The 448-byte class: 9 blocks in a 4 KiB slab.
    let class = MallocClasses::size_class(layout(448, 8)).unwrap();
    let capacity = MallocClasses::slab_capacity(class).unwrap();
    let slab_count = if cfg!(miri) { 40 } else { 300 };
    let pool = Pool::new((slab_count + 8) * 2 * MallocClasses::slab_size(class).unwrap(), 4096);
    let mut heap = heap_over(&pool);
    let mut live = Vec::new();
    for _ in 0..slab_count * capacity {
        live.push(heap.alloc(layout(448, 8)).unwrap());
    }
    assert_eq!(slabs(&heap), slab_count);
    assert_eq!(heap.used_bytes(), live.len() * 448);
    heap.assert_valid();
    for &block in &live {
        assert_eq!(found(&heap, block, 8), 448);
    }
    let mut rng = Rng::new(7);
    rng.shuffle(&mut live);
    for (step, block) in live.into_iter().enumerate() {
        // SAFETY: a live block of the 448-byte class.
        unsafe { heap.dealloc(block, layout(448, 8)) };
        if step % 97 == 0 {
            heap.assert_valid();
        }
    }
    assert_eq!(heap.used_bytes(), 0);
    heap.assert_valid();
    heap.release_cached_slabs();
    assert_eq!(slabs(&heap), 0);
    assert_eq!(heap.heap().backing().used_bytes(), 0, "no slab and no table left in TLSF");
    heap.assert_valid();
}

/// TLSF, refusing the index's tables while `fail` is set: the index cannot
/// grow.
struct NoTables {
    tlsf: TlsfByteAllocator,
    fail: &'static AtomicBool,
}

impl BaseAllocator for NoTables {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract.
        unsafe { self.tlsf.init(start, size) }
    }

    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract.
        unsafe { self.tlsf.add_memory(start, size) }
    }
}

// SAFETY: every block is TLSF's (whose `unsafe impl` keeps the promise);
// refusing an allocation promises nothing.
unsafe impl ByteAllocator for NoTables {
    fn finds_block_sizes() -> bool {
        true
    }

    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        // The index's tables are the only 64-aligned blocks the tests ask for.
        if self.fail.load(Ordering::Relaxed) && layout.align() == 64 {
            return Err(AllocError::NoMemory);
        }
        self.tlsf.alloc(layout)
    }

    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract; every block is TLSF's.
        unsafe { self.tlsf.dealloc(pos, layout) }
    }

    fn total_bytes(&self) -> usize {
        self.tlsf.total_bytes()
    }

    fn used_bytes(&self) -> usize {
        self.tlsf.used_bytes()
    }

    fn available_bytes(&self) -> usize {
        self.tlsf.available_bytes()
    }

    unsafe fn block_size(&self, pos: NonNull<u8>, align: usize) -> Option<usize> {
        // SAFETY: the caller's contract; every block is TLSF's.
        unsafe { self.tlsf.block_size(pos, align) }
    }

    fn assert_valid(&self) {
        self.tlsf.assert_valid();
    }
}

/// When the backing allocator cannot give the index its table, the new slab
/// goes back and the allocation reports `NoMemory`; the heap stays valid and
/// serves again once the table can be had.
#[test]
fn no_room_for_the_index_frees_the_slab() {
    // The only test of this flag (a static: nothing leaks under Miri).
    static FAIL: AtomicBool = AtomicBool::new(true);
    let fail = &FAIL;
    let pool = Pool::new(512 * 1024, 4096);
    let mut heap = SlabByteAllocator::<_, MallocClasses>::with_classes(NoTables {
        tlsf: TlsfByteAllocator::new(),
        fail,
    });
    // SAFETY: as in `heap_over`.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let l = layout(448, 8);

    // The first table.
    assert_eq!(heap.alloc(l), Err(AllocError::NoMemory));
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.heap().backing().used_bytes(), 0, "the slab went back");
    heap.assert_valid();
    // Large blocks do not need the index.
    let large = heap.alloc(layout(2000, 8)).unwrap();
    assert_eq!(found(&heap, large, 8), {
        // SAFETY: a live large block of TLSF.
        unsafe { heap.heap().backing().tlsf.usable_size(large, layout(2000, 8)) }
    });
    // SAFETY: as above.
    unsafe { heap.dealloc(large, layout(2000, 8)) };
    fail.store(false, Ordering::Relaxed);

    // 32 slabs fill a table of 64 words (grown from 8) to half.
    let class = MallocClasses::size_class(l).unwrap();
    let per_slab = MallocClasses::slab_capacity(class).unwrap();
    let mut live: Vec<_> = (0..32 * per_slab).map(|_| heap.alloc(l).unwrap()).collect();
    assert_eq!(slabs_of(&heap), 32);
    // A 33rd slab needs a larger table, which the backing refuses.
    fail.store(true, Ordering::Relaxed);
    let (used, backing_used) = (heap.used_bytes(), heap.heap().backing().used_bytes());
    assert_eq!(heap.alloc(l), Err(AllocError::NoMemory));
    assert_eq!(slabs_of(&heap), 32);
    assert_eq!(heap.used_bytes(), used);
    assert_eq!(heap.heap().backing().used_bytes(), backing_used, "the 33rd slab went back");
    heap.assert_valid();
    for &block in &live {
        assert_eq!(found(&heap, block, 8), 448);
    }
    // Once the table can be had, the slab is taken.
    fail.store(false, Ordering::Relaxed);
    live.push(heap.alloc(l).unwrap());
    assert_eq!(slabs_of(&heap), 33);
    heap.assert_valid();
    for block in live {
        // SAFETY: a live block of the 448-byte class.
        unsafe { heap.dealloc(block, layout(found(&heap, block, 8), 8)) };
    }
    heap.release_cached_slabs();
    assert_eq!(heap.used_bytes(), 0);
    assert_eq!(heap.heap().backing().used_bytes(), 0);
    heap.assert_valid();
}

/// The slabs held by a heap over [`NoTables`].
fn slabs_of(heap: &SlabByteAllocator<NoTables, MallocClasses>) -> usize {
    let stats = heap.class_stats();
    stats.classes().iter().map(|class| class.full_slabs + class.partial_slabs + class.cached_slabs).sum()
}

/// Routing by size is monotone for the malloc table at every alignment: a
/// size that goes to class `c` is followed, up to `c`'s size, by sizes that
/// go to `c`; a size that goes to the backing allocator is followed by
/// sizes that go there too. So `(found size, align)` routes a block where
/// its own layout did.
#[test]
fn routing_by_size_is_monotone() {
    let step = if cfg!(miri) { 23 } else { 1 };
    for shift in 0..=12 {
        let align = 1usize << shift;
        for size in (0..=1100).step_by(step) {
            match MallocClasses::size_class(layout(size, align)) {
                Some(class) => {
                    let class_size = MallocClasses::class_size(class).unwrap();
                    for x in (size..=class_size).step_by(step) {
                        assert_eq!(
                            MallocClasses::size_class(layout(x, align)),
                            Some(class),
                            "size {size} align {align} goes to {class_size} B, size {x} elsewhere"
                        );
                    }
                    assert_eq!(MallocClasses::size_class(layout(class_size, align)), Some(class));
                }
                None => {
                    for u in size..=size + 64 {
                        assert_eq!(
                            MallocClasses::size_class(layout(u, align)),
                            None,
                            "size {size} align {align} goes to the backing, size {u} to a class"
                        );
                    }
                }
            }
        }
    }
}

/// A region holding nothing but the index's table (its slabs live in
/// another region) can be removed: the table moves out first.
#[test]
fn the_index_table_moves_out_of_a_removed_region() {
    let small = Pool::new(24 * 1024, 4096);
    let big = Pool::new(256 * 1024, 4096);
    let mut heap = heap_over(&small);
    // An 8 KiB slab (the only one a 24 KiB region holds: TLSF looks for a
    // free block of the size plus the alignment) and the index's
    // table in the small region.
    let x = heap.alloc(layout(8, 8)).unwrap();
    assert!(small.region().start <= x.as_ptr().addr() && x.as_ptr().addr() < small.region().end);
    // SAFETY: as in `heap_over`.
    unsafe { heap.add_memory(big.start(), big.size()) }.unwrap();
    // A slab of another class, which only the big region holds.
    let y = heap.alloc(layout(1024, 8)).unwrap();
    assert!(big.region().start <= y.as_ptr().addr() && y.as_ptr().addr() < big.region().end);
    // SAFETY: a live block of the 8-byte class; its slab is cached.
    unsafe { heap.dealloc(x, layout(found(&heap, x, 8), 8)) };
    heap.assert_valid();
    assert_eq!(heap.remove_memory(small.start(), small.size()), Ok(()));
    heap.assert_valid();
    assert_eq!(found(&heap, y, 8), 1024);
    // SAFETY: a live block of the 1024-byte class.
    unsafe { heap.dealloc(y, layout(1024, 8)) };
    assert_eq!(heap.used_bytes(), 0);
    heap.assert_valid();
}
