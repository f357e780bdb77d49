//! `TlsfByteAllocator` driven by an operation tape (alloc of any size and
//! alignment up to 4 KiB, realloc, free, add_memory), every step checked
//! against the testkit's model: alignment, bounds, no overlap, the byte
//! pattern of every live block, the statistics invariants, and `used_bytes()
//! == 0` once everything is freed.
#![no_main]

use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use allocator_tlsf::{MIN_POOL_SIZE, TlsfByteAllocator};
use libfuzzer_sys::fuzz_target;

/// 64 KiB regions (up to four), sizes up to 8 KiB guaranteed on an empty
/// heap: the conformance suite's small-region configuration.
const CONFIG: ByteConfig =
    ByteConfig::new().with_min_region_size(MIN_POOL_SIZE).with_region_size(64 << 10).with_max_size(8 << 10);

fuzz_target!(|tape: &[u8]| {
    run_byte_ops(&TlsfByteAllocator::new, &CONFIG, &byte_ops_from_tape(tape));
});
