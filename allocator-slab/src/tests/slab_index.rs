//! The slab index inside the heap: its table grows with the slabs, empties
//! with them, and costs nothing without `SLAB_INDEX`.

use super::*;
use crate::MallocClasses;

/// The index's table doubles from 8 words as slabs are taken (a 5th, a 9th,
/// ..., a 33rd), and
/// goes back to the backing allocator with the last slab.
#[test]
fn the_index_table_grows_and_goes_back() {
    let arena = Pool::new(if cfg!(miri) { 1 << 20 } else { 2 << 20 }, 4096);
    let mut heap: Heap<TlsfByteAllocator, MallocClasses> = heap_over_table(&arena);
    assert_eq!(heap.index_shape(), (0, 0));
    let l = layout(448, 8);
    let class = MallocClasses::size_class(l).unwrap();
    let per_slab = MallocClasses::slab_capacity(class).unwrap();
    let slabs = if cfg!(miri) { 70 } else { 200 };
    let mut live = Vec::new();
    let mut capacities = Vec::new();
    for _ in 0..slabs * per_slab {
        live.push(heap.alloc(l).unwrap());
        let (capacity, len) = heap.index_shape();
        assert_eq!(len, heap.slab_count(class));
        assert!(len * 2 <= capacity);
        if capacities.last() != Some(&capacity) {
            capacities.push(capacity);
        }
    }
    assert_eq!(capacities[..6], [8, 16, 32, 64, 128, 256]);
    heap.assert_valid();
    for block in live {
        // SAFETY: a live block of the 448-byte class.
        unsafe { heap.dealloc(block, l) };
    }
    heap.assert_valid();
    // The block cache holds the last blocks freed, which keep their slabs
    // until they go back.
    assert!(heap.index_shape().1 > CACHED_EMPTY_SLABS);
    heap.flush_cached_blocks();
    heap.assert_valid();
    // The cached slab keeps the table.
    assert_eq!(heap.index_shape().1, CACHED_EMPTY_SLABS);
    heap.release_cached_slabs();
    assert_eq!(heap.index_shape(), (0, 0));
    assert_eq!(heap.backing().used_bytes(), 0);
    heap.assert_valid();
}

/// Without the index nothing is indexed and no size is found (the index
/// itself is three words, a `const` assertion in `heap/index.rs`).
#[test]
fn no_index_without_slab_index() {
    let arena = Pool::new(256 * 1024, 4096);
    let mut heap: Heap<TlsfByteAllocator, FineClasses> = heap_over_table(&arena);
    let block = heap.alloc(layout(100, 8)).unwrap();
    assert_eq!(heap.index_shape(), (0, 0));
    // SAFETY: `block` is live, of alignment 8.
    assert_eq!(unsafe { heap.block_size(block, 8) }, None);
    // SAFETY: as above.
    unsafe { heap.dealloc(block, layout(100, 8)) };
    heap.assert_valid();
}

/// A heap of the table `C` over TLSF managing `arena`.
fn heap_over_table<C: SizeClasses>(arena: &Pool) -> Heap<TlsfByteAllocator, C> {
    let mut backing = TlsfByteAllocator::new();
    // SAFETY: the arena is host memory used by nothing else, which outlives
    // the heap.
    unsafe { backing.init(arena.start(), arena.size()) }.unwrap();
    Heap::with_classes(backing)
}

/// A block's slab is looked up size by size, the slab size of the most
/// classes first: MallocClasses' 8 KiB (19 classes), then 4 KiB (one); any
/// table's sizes in decreasing order of use, each once.
#[test]
fn slab_sizes_are_looked_up_most_used_first() {
    let malloc = &crate::classes::Table::<MallocClasses>::TABLE;
    assert_eq!(&malloc.slab_sizes[..malloc.slab_size_count], &[8192, 4096]);
    let fine = &crate::classes::Table::<FineClasses>::TABLE;
    let sizes = &fine.slab_sizes[..fine.slab_size_count];
    let uses =
        |slab: usize| (0..FineClasses::count()).filter(|&c| FineClasses::slab_size(c) == Some(slab)).count();
    assert!(sizes.windows(2).all(|w| uses(w[0]) >= uses(w[1])), "{sizes:?}");
    let mut all: Vec<usize> = (0..FineClasses::count()).filter_map(FineClasses::slab_size).collect();
    all.sort_unstable();
    all.dedup();
    let mut listed = sizes.to_vec();
    listed.sort_unstable();
    assert_eq!(listed, all, "every slab size, once");
}
