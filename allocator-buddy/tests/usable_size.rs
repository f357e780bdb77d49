//! `ByteAllocator::usable_size`: what this engine reports (that every
//! reported byte is the caller's is the conformance check `usable_sizes`).

use allocator_traits::{BaseAllocator, ByteAllocator};
use core::alloc::Layout;

/// A block is the power of two of its order, at least the smallest block.
#[test]
fn usable_size_is_the_order() {
    let mut heap = allocator_buddy::BuddyByteAllocator::new();
    let region = Vec::leak(vec![0u64; (4 << 20) / 8]);
    // SAFETY: the leaked region is ours alone, forever.
    unsafe { heap.init(region.as_mut_ptr() as usize, 4 << 20) }.unwrap();
    for (size, align, expected) in
        [(100, 8, 128), (128, 8, 128), (129, 8, 256), (100, 4096, 4096), (70_000, 8, 131_072)]
    {
        let layout = Layout::from_size_align(size, align).unwrap();
        let block = heap.alloc(layout).unwrap();
        // SAFETY: `block` is live with `layout`.
        assert_eq!(unsafe { heap.usable_size(block, layout) }, expected, "{layout:?}");
        // SAFETY: as above.
        unsafe { heap.dealloc(block, layout) };
    }
}
