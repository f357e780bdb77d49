//! The workspace's conformance suite, run against `TlsfByteAllocator`.
//!
//! Under Miri only the tiny configuration runs
//! (`cargo +nightly miri test -p allocator-tlsf --test conformance`).

use allocator_testkit::ByteConfig;
use allocator_tlsf::{MIN_POOL_SIZE, TlsfByteAllocator};

// The defaults (1 MiB regions, alignments up to 4 KiB, random churn), with
// rlsf's real minimum pool.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    TlsfByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_POOL_SIZE)
);
// Small regions: 64 KiB. (rlsf needs a free block of size + alignment for an
// aligned request, so alignments stay at the default 4 KiB here.)
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod small_regions,
    TlsfByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_POOL_SIZE).with_region_size(64 * 1024).with_max_size(8 * 1024)
);
// Large alignments in larger regions: up to 64 KiB in 4 MiB.
#[cfg(not(miri))]
allocator_testkit::byte_allocator_tests!(
    mod large_alignments,
    TlsfByteAllocator::new(),
    ByteConfig::new().with_min_region_size(MIN_POOL_SIZE).with_region_size(4 << 20).with_max_align(64 * 1024)
);
// Few operations on small regions, for Miri.
#[cfg(miri)]
allocator_testkit::byte_allocator_tests!(
    mod tiny,
    TlsfByteAllocator::new(),
    ByteConfig::tiny().with_min_region_size(MIN_POOL_SIZE)
);
