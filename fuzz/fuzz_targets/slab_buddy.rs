//! `SlabByteAllocator` over our buddy driven by an
//! operation tape, every step checked against the testkit's model (see the
//! `tlsf` target): class blocks, large blocks and slabs going back to the
//! backing allocator.
#![no_main]

use allocator_buddy::BuddyByteAllocator;
use allocator_fuzz::run_slab_tape;
use allocator_slab::SlabByteAllocator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|tape: &[u8]| {
    run_slab_tape(&|| SlabByteAllocator::with_backing(BuddyByteAllocator::new()), tape);
});
