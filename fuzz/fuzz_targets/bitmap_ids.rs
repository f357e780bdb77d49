//! `BitmapIdAllocator` driven by an operation tape (alloc_id of runs with
//! alignments, alloc_fixed_id in and just outside the range, dealloc_id
//! whole or in two parts), every step checked against the testkit's model:
//! contiguous, aligned, never handed out twice, `is_allocated` agrees, exact
//! statistics, and no false refusal.
#![no_main]

use allocator_bitmap::BitmapIdAllocator;
use allocator_testkit::IdConfig;
use allocator_testkit::props::{id_ops_from_tape, run_id_ops};
use libfuzzer_sys::fuzz_target;

/// IDs `0..256`.
const CONFIG: IdConfig = IdConfig::new().with_size(256);

fuzz_target!(|tape: &[u8]| {
    let make = || BitmapIdAllocator::new();
    run_id_ops(&make, &CONFIG, &id_ops_from_tape(tape));
});
