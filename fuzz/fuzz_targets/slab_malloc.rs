//! `SlabByteAllocator` with `MallocClasses` (the slab index on) in front of
//! `TlsfByteAllocator`, driven by an operation tape, every step checked
//! against the testkit's model (see the `tlsf` target); every other free is
//! by the size the heap finds from the address, as a C `free` is.
#![no_main]

use allocator_slab::{MIN_REGION_SIZE, MallocClasses, SlabByteAllocator};
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops_from_tape, run_byte_ops};
use allocator_tlsf::TlsfByteAllocator;
use libfuzzer_sys::fuzz_target;

/// As the `slab_tlsf` target: 256 KiB regions, sizes up to 8 KiB.
const CONFIG: ByteConfig = ByteConfig::new()
    .with_min_region_size(MIN_REGION_SIZE)
    .with_region_size(256 << 10)
    .with_max_size(8 << 10);

fuzz_target!(|tape: &[u8]| {
    let make = || SlabByteAllocator::<TlsfByteAllocator, MallocClasses>::with_classes(TlsfByteAllocator::new());
    run_byte_ops(&make, &CONFIG, &byte_ops_from_tape(tape));
});
