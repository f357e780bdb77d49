//! `SlabByteAllocator` in front of `TlsfByteAllocator` driven by an
//! operation tape, every step checked against the testkit's model (see the
//! `tlsf` target).
#![no_main]

use allocator_fuzz::run_slab_tape;
use allocator_slab::SlabByteAllocator;
use allocator_tlsf::TlsfByteAllocator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|tape: &[u8]| {
    run_slab_tape(&|| SlabByteAllocator::with_backing(TlsfByteAllocator::new()), tape);
});
