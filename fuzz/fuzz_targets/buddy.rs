//! `BuddyByteAllocator` driven by an operation tape, every step checked
//! against the testkit's model (see the `tlsf` target).
#![no_main]

use allocator_buddy::{BuddyByteAllocator, MIN_REGION_SIZE};
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use libfuzzer_sys::fuzz_target;

/// 64 KiB regions (up to four), sizes up to 8 KiB guaranteed on an empty
/// heap: the conformance suite's small-region configuration.
const CONFIG: ByteConfig =
    ByteConfig::new().with_min_region_size(MIN_REGION_SIZE).with_region_size(64 << 10).with_max_size(8 << 10);

fuzz_target!(|tape: &[u8]| {
    run_byte_ops(&BuddyByteAllocator::<32>::new, &CONFIG, &byte_ops_from_tape(tape));
});
