//! Property tests: generated operation sequences (alloc of any size and
//! alignment, realloc, free, add_memory of a new region), checked against the
//! testkit's model on every step and shrunk to a minimal case on failure
//! (proptest keeps failing cases in `proptest-regressions/` beside this file,
//! to be committed as regression tests).
#![cfg(not(miri))]

use allocator_buddy::BuddyByteAllocator;
use allocator_testkit::ByteConfig;
use allocator_testkit::props::{byte_ops, run_byte_ops};
use proptest::prelude::*;

const CONFIG: ByteConfig = ByteConfig::new().with_region_size(256 << 10);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn buddy_follows_the_model(ops in byte_ops(200)) {
        run_byte_ops(&BuddyByteAllocator::new, &CONFIG, &ops);
    }
}
