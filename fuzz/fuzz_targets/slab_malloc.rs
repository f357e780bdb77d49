//! `SlabByteAllocator` with `MallocClasses` (the slab index on) in front of
//! `TlsfByteAllocator`, driven by an operation tape, every step checked
//! against the testkit's model (see the `tlsf` target); every other free is
//! by the size the heap finds from the address, as a C `free` is.
#![no_main]

use allocator_fuzz::run_slab_tape;
use allocator_slab::{MallocClasses, SlabByteAllocator};
use allocator_tlsf::TlsfByteAllocator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|tape: &[u8]| {
    run_slab_tape(
        &|| SlabByteAllocator::<TlsfByteAllocator, MallocClasses>::with_classes(TlsfByteAllocator::new()),
        tape,
    );
});
