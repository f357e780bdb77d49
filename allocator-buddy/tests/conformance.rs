//! The workspace's conformance suite, run against `BuddyByteAllocator`.
//!
//! Under Miri only the tiny configuration runs
//! (`cargo +nightly miri test -p allocator-buddy --test conformance`).

use allocator_buddy::{BuddyByteAllocator, MIN_REGION_SIZE};
use allocator_testkit::ByteConfig;

// The defaults: 1 MiB regions (the bitmap takes 8 KiB of each), alignments
// up to 4 KiB, sizes up to 16 KiB.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    BuddyByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_exact_stats(true)
);
// Small regions: 64 KiB.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions,
    BuddyByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_exact_stats(true).with_region_size(64 * 1024).with_max_size(8 * 1024)
);
// Large alignments (up to 256 KiB) in 4 MiB regions: a buddy serves any
// alignment up to its largest free block.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod large_alignments,
    BuddyByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_exact_stats(true).with_region_size(4 << 20).with_max_align(256 * 1024)
);
// Few orders: blocks of at most 32 KiB, so every 128 KiB region is cut into
// several largest blocks that never merge.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod capped_order,
    BuddyByteAllocator::<16>::empty(),
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_exact_stats(true).with_region_size(128 * 1024)
);
// Few operations on small regions, for Miri.
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny,
    BuddyByteAllocator::new(),
    ByteConfig::tiny().with_min_region_size(MIN_REGION_SIZE).with_exact_stats(true)
);
