//! The workspace's conformance suite, over the slab heap in front of each
//! backing allocator (TLSF, the default, and buddy).
//!
//! Under Miri only the tiny configuration runs
//! (`cargo +nightly miri test -p allocator-slab --test conformance`).

use allocator_buddy::BuddyByteAllocator;
use allocator_slab::{MIN_REGION_SIZE, SlabByteAllocator};
use allocator_testkit::ByteConfig;

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
// Few operations on small regions, for Miri.
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny_over_buddy,
    SlabByteAllocator::with_backing(BuddyByteAllocator::new()),
    ByteConfig::tiny().with_min_region_size(MIN_REGION_SIZE)
);
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny_over_tlsf,
    SlabByteAllocator::new(),
    ByteConfig::tiny().with_min_region_size(MIN_REGION_SIZE)
);
