//! The workspace's conformance suite, over the slab heap in front of each
//! backing allocator (TLSF, the default, and buddy).
//!
//! Under Miri only the tiny configuration runs
//! (`cargo +nightly miri test -p allocator-slab --test conformance`).

use allocator_buddy::BuddyByteAllocator;
// Under Miri only a few of the tables below run.
#[cfg_attr(miri, allow(unused_imports))]
use allocator_slab::{
    FineClassesTo4096, MIN_REGION_SIZE, MallocClasses, PowerOfTwoClasses, SizeClasses, SlabByteAllocator,
    TlsfByteAllocator,
};
use allocator_testkit::ByteConfig;

/// A table defined by a user of the crate: odd sizes, blocks aligned to 8
/// only (a layout aligned to 16 or more goes to the backing allocator), its
/// own slab sizes, no colouring.
#[cfg_attr(miri, allow(dead_code))]
struct Custom;

impl SizeClasses for Custom {
    const SIZES: &'static [usize] = &[24, 40, 72, 200, 520, 1000, 1800, 3000];
    const SLAB_SIZES: &'static [usize] = &[4096, 4096, 8192, 8192, 16384, 32768, 32768, 32768];
    const COLOURING: bool = false;
}

// The defaults: 1 MiB regions, alignments up to 4 KiB, sizes up to 16 KiB
// (so both class blocks and large blocks).
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod over_buddy,
    SlabByteAllocator::with_backing(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod over_tlsf,
    SlabByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
// The other tables: the fine one to 4096 bytes, the power-of-two one and a
// custom one, over both backings.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod fine_to_4096_over_tlsf,
    SlabByteAllocator::<_, FineClassesTo4096>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod fine_to_4096_over_buddy,
    SlabByteAllocator::<_, FineClassesTo4096>::with_classes(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_fine_to_4096_over_tlsf,
    SlabByteAllocator::<_, FineClassesTo4096>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod power_of_two_over_tlsf,
    SlabByteAllocator::<_, PowerOfTwoClasses>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod power_of_two_over_buddy,
    SlabByteAllocator::<_, PowerOfTwoClasses>::with_classes(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod custom_over_tlsf,
    SlabByteAllocator::<_, Custom>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod custom_over_buddy,
    SlabByteAllocator::<_, Custom>::with_classes(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_power_of_two_over_tlsf,
    SlabByteAllocator::<_, PowerOfTwoClasses>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_custom_over_buddy,
    SlabByteAllocator::<_, Custom>::with_classes(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
// The malloc table, with the slab index: the index's tables are blocks of
// the backing allocator too, and must leave the statistics and the region
// removals as they were.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod malloc_over_tlsf,
    SlabByteAllocator::<_, MallocClasses>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_malloc_over_tlsf,
    SlabByteAllocator::<_, MallocClasses>::with_classes(TlsfByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod malloc_over_buddy,
    SlabByteAllocator::<_, MallocClasses>::with_classes(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE)
);
// Small regions: 256 KiB. Holding a block of every class at once takes a
// slab of each, 112 KiB of slabs, and TLSF needs about twice a slab's size
// free to cut a slab aligned to its size; 64 KiB regions cannot do that.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_over_buddy,
    SlabByteAllocator::with_backing(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions_over_tlsf,
    SlabByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(256 * 1024).with_max_size(8 * 1024)
);
// Large alignments, served by the backing allocator.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod large_alignments_over_buddy,
    SlabByteAllocator::with_backing(BuddyByteAllocator::new()),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(4 << 20).with_max_align(256 * 1024)
);
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod large_alignments_over_tlsf,
    SlabByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(4 << 20).with_max_align(64 * 1024)
);
// Few operations on small regions, for Miri: 40 KiB regions, sizes up to
// 512 bytes (slabs of at most 8 KiB, which the backing allocator cuts
// aligned to their size out of such a region; the realloc and alignment
// checks still reach large blocks). Every slot of a slab is a block the
// out-of-memory check fills, so that check dominates the cost. (32 KiB
// held seven 4 KiB slabs over TLSF, one short of the zero-size check with
// the fine classes: blocks of alignments 1 to 256 and a 112-byte one.)
#[cfg(miri)]
const TINY: ByteConfig =
    ByteConfig::tiny().with_min_region_size(MIN_REGION_SIZE).with_region_size(40 * 1024).with_max_size(512);

// The checks that depend on the backing run over both. The two that fill a
// whole heap slot by slot (out_of_memory, unaligned_regions) run the same
// slab code over either backing: they run over TLSF only. The realloc check
// grows a block to 1000 bytes, a slab of 16 KiB aligned to 16 KiB, which
// TLSF may not cut out of a small region (its block headers come first) and
// buddy can: it runs over buddy only.
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny_over_tlsf,
    SlabByteAllocator::new(),
    TINY,
    only [
        random_churn,
        recovery,
        out_of_memory,
        zero_size,
        regions,
        before_init,
        tiny_regions,
        unaligned_regions,
        overflowing_regions,
        overlapping_regions,
        init_twice,
        huge_layouts,
        alignments,
        neighbour_frees,
        realloc_chains,
        padded_values,
        remove_regions,
        max_layout,
    ]
);
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny_over_buddy,
    SlabByteAllocator::with_backing(BuddyByteAllocator::new()),
    TINY,
    only [
        random_churn,
        recovery,
        zero_size,
        realloc,
        regions,
        alignments,
        neighbour_frees,
        realloc_chains,
        padded_values,
        remove_regions,
        max_layout
    ]
);
