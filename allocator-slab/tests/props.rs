//! Property tests: generated operation sequences (alloc of any size and
//! alignment, realloc, free, add_memory of a new region), checked against the
//! testkit's model on every step and shrunk to a minimal case on failure
//! (proptest keeps failing cases in `proptest-regressions/` beside this file,
//! to be committed as regression tests).
#![cfg(not(miri))]

use core::alloc::Layout;

use allocator_buddy::BuddyByteAllocator;
use allocator_slab::{
    FineClasses, FineClassesTo4096, Heap, MIN_REGION_SIZE, PowerOfTwoClasses, SizeClasses, SlabByteAllocator,
    TlsfByteAllocator,
};
use allocator_testkit::props::{byte_ops, run_byte_ops};
use allocator_testkit::{ByteConfig, Pool};
use proptest::prelude::*;

/// A table of odd sizes, blocks aligned to 8 (or 16 for 48 and 1200).
struct Custom;

impl SizeClasses for Custom {
    const SIZES: &'static [usize] = &[24, 48, 56, 200, 1000, 1200, 3000];
}

mod common {
    pub use allocator_slab::SizeClasses;
    pub mod oracle;
}
use common::oracle::expected_class;

/// The class chosen for `(size, align)` is the smallest fitting one, and a
/// heap of the table serves the layout with a block of that class, aligned
/// as asked (or from the backing allocator when no class fits).
fn check_selection<C: SizeClasses>(size: usize, align: usize) {
    let layout = Layout::from_size_align(size, align).unwrap();
    let class = C::size_class(layout);
    assert_eq!(class, expected_class::<C>(size, align), "size {size} align {align}");
    let pool = Pool::new(256 << 10, 4096);
    let mut heap: Heap<TlsfByteAllocator, C> = Heap::with_classes(TlsfByteAllocator::new());
    // SAFETY: a whole pool, used by nothing else, which outlives the heap.
    unsafe { heap.add_memory(pool.start(), pool.size()) }.unwrap();
    let block = heap.alloc(layout).unwrap();
    assert_eq!(block.as_ptr().addr() % align, 0);
    match class {
        Some(class) => {
            assert_eq!(heap.used_bytes(), C::class_size(class).unwrap());
            assert_eq!(heap.class_stats().classes()[class].live, 1);
        }
        None => assert!(heap.class_stats().classes().iter().all(|stats| stats.allocs == 0)),
    }
    // SAFETY: allocated just now with `layout`.
    unsafe { heap.dealloc(block, layout) };
    assert_eq!(heap.used_bytes(), 0);
}

/// 256 KiB regions: a block of every class at once takes 112 KiB of slabs.
const CONFIG: ByteConfig =
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 << 10);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn slab_over_tlsf_follows_the_model(ops in byte_ops(200)) {
        run_byte_ops(&SlabByteAllocator::new, &CONFIG, &ops);
    }

    #[test]
    fn power_of_two_classes_follow_the_model(ops in byte_ops(200)) {
        run_byte_ops(&|| SlabByteAllocator::<_, PowerOfTwoClasses>::with_classes(TlsfByteAllocator::new()), &CONFIG, &ops);
    }

    #[test]
    fn custom_classes_follow_the_model(ops in byte_ops(200)) {
        run_byte_ops(&|| SlabByteAllocator::<_, Custom>::with_classes(BuddyByteAllocator::new()), &CONFIG, &ops);
    }

    #[test]
    fn class_selection_is_the_smallest_fitting_class(size in 0usize..=5000, align_log2 in 0u32..=13) {
        let align = 1 << align_log2;
        check_selection::<FineClasses>(size, align);
        check_selection::<FineClassesTo4096>(size, align);
        check_selection::<PowerOfTwoClasses>(size, align);
        check_selection::<Custom>(size, align);
    }

    #[test]
    fn slab_over_buddy_follows_the_model(ops in byte_ops(200)) {
        run_byte_ops(&|| SlabByteAllocator::with_backing(BuddyByteAllocator::new()), &CONFIG, &ops);
    }
}
