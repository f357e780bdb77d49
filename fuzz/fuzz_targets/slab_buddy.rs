//! `SlabByteAllocator` over our buddy driven by an
//! operation tape, every step checked against the testkit's model (see the
//! `tlsf` target): class blocks, large blocks and slabs going back to the
//! backing allocator.
#![no_main]

use allocator_buddy::BuddyByteAllocator;
use allocator_slab::{MIN_REGION_SIZE, SlabByteAllocator};
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use libfuzzer_sys::fuzz_target;

/// 256 KiB regions (a block of every class at once takes 112 KiB of slabs),
/// sizes up to 8 KiB: the conformance suite's small-region configuration.
const CONFIG: ByteConfig = ByteConfig::new()
    .with_min_region_size(MIN_REGION_SIZE)
    .with_region_size(256 << 10)
    .with_max_size(8 << 10);

fuzz_target!(|tape: &[u8]| {
    run_byte_ops(&|| SlabByteAllocator::with_backing(BuddyByteAllocator::new()), &CONFIG, &byte_ops_from_tape(tape));
});
