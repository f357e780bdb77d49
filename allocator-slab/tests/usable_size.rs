//! `ByteAllocator::usable_size`: what this engine reports (that every
//! reported byte is the caller's is the conformance check `usable_sizes`).

use allocator_traits::{BaseAllocator, ByteAllocator};
use core::alloc::Layout;

/// A class block reports its class size, a large block the backing TLSF's.
#[test]
fn usable_size_is_the_class_size() {
    use allocator_slab::{FineClasses, SizeClasses};
    let mut heap = allocator_slab::SlabByteAllocator::new();
    let region = Vec::leak(vec![0u64; (4 << 20) / 8]);
    // SAFETY: the leaked region is ours alone, forever.
    unsafe { heap.init(region.as_mut_ptr() as usize, 4 << 20) }.unwrap();
    let layout = Layout::from_size_align(100, 8).unwrap();
    let class = FineClasses::size_class(layout).unwrap();
    let block = heap.alloc(layout).unwrap();
    // SAFETY: `block` is live with `layout`.
    let usable = unsafe { ByteAllocator::usable_size(&heap, block, layout) };
    assert_eq!(usable, FineClasses::class_size(class).unwrap());
    // SAFETY: as above.
    unsafe { heap.dealloc(block, layout) };
    let large = Layout::from_size_align(100_000, 8).unwrap();
    let block = heap.alloc(large).unwrap();
    // SAFETY: `block` is live with `large`.
    let usable = unsafe { ByteAllocator::usable_size(&heap, block, large) };
    assert!((100_000..100_000 + 64).contains(&usable), "{usable}");
    // SAFETY: as above.
    unsafe { heap.dealloc(block, large) };
}
