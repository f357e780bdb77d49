//! `SlabByteAllocator` in front of `TlsfByteAllocator` driven by an
//! operation tape, every step checked against the testkit's model (see the
//! `tlsf` target).
#![no_main]

use allocator_slab::{MIN_REGION_SIZE, SlabByteAllocator};
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use allocator_tlsf::TlsfByteAllocator;
use libfuzzer_sys::fuzz_target;

/// As the `slab_buddy` target: 256 KiB regions, sizes up to 8 KiB.
const CONFIG: ByteConfig = ByteConfig::new()
    .with_min_region_size(MIN_REGION_SIZE)
    .with_region_size(256 << 10)
    .with_max_size(8 << 10);

fuzz_target!(|tape: &[u8]| {
    let make = || SlabByteAllocator::with_backing(TlsfByteAllocator::new());
    run_byte_ops(&make, &CONFIG, &byte_ops_from_tape(tape));
});
