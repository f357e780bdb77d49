//! `ByteAllocator::usable_size`: every byte it reports is the caller's (the
//! C layer's `malloc_usable_size` hands them out).

use allocator_traits::{BaseAllocator, ByteAllocator};
use core::{alloc::Layout, ptr::NonNull};

/// Layouts of every kind: zero size, class sizes, odd sizes, large
/// alignments, blocks above the slab classes.
const LAYOUTS: [(usize, usize); 12] = [
    (0, 1),
    (1, 1),
    (7, 8),
    (24, 8),
    (100, 16),
    (100, 64),
    (1000, 8),
    (3000, 256),
    (4096, 4096),
    (5000, 8),
    (70_000, 8),
    (100_000, 4096),
];

/// Allocates every layout twice, fills each block's whole usable size with
/// its own byte, then checks every byte: usable ranges overlap no other
/// block (and the engines' debug checks see no corrupted header at free).
fn usable_bytes_are_the_callers<A: ByteAllocator>(mut heap: A) {
    let region = Vec::leak(vec![0u64; (8 << 20) / 8]);
    // SAFETY: the leaked region is ours alone, forever; its address is exposed.
    unsafe { heap.init(region.as_mut_ptr().expose_provenance(), 8 << 20) }.unwrap();
    let mut live: Vec<(NonNull<u8>, Layout, usize, u8)> = Vec::new();
    for (index, (size, align)) in LAYOUTS.iter().chain(LAYOUTS.iter()).enumerate() {
        let layout = Layout::from_size_align(*size, *align).unwrap();
        let block = heap.alloc(layout).unwrap();
        // SAFETY: `block` is a live block of `layout`.
        let usable = unsafe { heap.usable_size(block, layout) };
        assert!(usable >= layout.size(), "{layout:?}: usable {usable}");
        let byte = index as u8 + 1;
        // SAFETY: the usable bytes are the caller's (what is tested).
        unsafe { block.as_ptr().write_bytes(byte, usable) };
        live.push((block, layout, usable, byte));
    }
    for &(block, layout, usable, byte) in &live {
        // SAFETY: as above; nothing freed yet.
        let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), usable) };
        assert!(bytes.iter().all(|&b| b == byte), "{layout:?}: usable bytes overwritten");
    }
    for (block, layout, _, _) in live {
        // SAFETY: live with `layout`, freed once.
        unsafe { heap.dealloc(block, layout) };
    }
    assert_eq!(heap.used_bytes(), 0);
}

#[test]
fn usable_bytes_overlap_nothing() {
    usable_bytes_are_the_callers(allocator_buddy::BuddyByteAllocator::new());
}

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
