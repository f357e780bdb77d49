//! `ByteAllocator::usable_size`: what this engine reports (that every
//! reported byte is the caller's is the conformance check `usable_sizes`).

use allocator_traits::{BaseAllocator, ByteAllocator};
use core::alloc::Layout;

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

/// rlsf's own answer (its `unstable` lookup, a dev-dependency here) is ours.
#[test]
fn usable_size_is_rlsfs() {
    let mut heap = allocator_tlsf::TlsfByteAllocator::new();
    let region = Vec::leak(vec![0u64; (4 << 20) / 8]);
    // SAFETY: the leaked region is ours alone, forever.
    unsafe { heap.init(region.as_mut_ptr() as usize, 4 << 20) }.unwrap();
    for (size, align) in LAYOUTS {
        let layout = Layout::from_size_align(size, align).unwrap();
        let block = heap.alloc(layout).unwrap();
        // SAFETY: `block` is live with `layout`; rlsf allocated it.
        let (ours, rlsfs) = unsafe {
            (
                heap.usable_size(block, layout),
                rlsf::Tlsf::<'static, u32, u32, { allocator_tlsf::FLLEN }, { allocator_tlsf::SLLEN }>::allocation_usable_size(block),
            )
        };
        assert_eq!(ours, rlsfs.max(size), "{layout:?}");
        // SAFETY: as above.
        unsafe { heap.dealloc(block, layout) };
    }
}
