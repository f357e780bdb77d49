//! What the slab targets share: the configuration they run the testkit's
//! operation tapes under.

use allocator_slab::MIN_REGION_SIZE;
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use allocator_traits::ByteAllocator;

/// 256 KiB regions (a block of every class at once takes 112 KiB of slabs),
/// sizes up to 8 KiB: the conformance suite's small-region configuration.
pub const SLAB_CONFIG: ByteConfig = ByteConfig::new()
    .with_min_region_size(MIN_REGION_SIZE)
    .with_region_size(256 << 10)
    .with_max_size(8 << 10);

/// Runs the operations of `tape` on slab heaps `make` builds, every step
/// checked against the testkit's model.
pub fn run_slab_tape<A: ByteAllocator>(make: &dyn Fn() -> A, tape: &[u8]) {
    run_byte_ops(make, &SLAB_CONFIG, &byte_ops_from_tape(tape));
}
