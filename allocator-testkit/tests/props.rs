//! The property-test runners pass for correct reference allocators, fail
//! for broken ones, and the fuzz-tape decoders drive them too.

mod reference;

use allocator_testkit::props::{
    byte_ops, byte_ops_from_tape, id_ops, id_ops_from_tape, page_ops, page_ops_from_tape, run_byte_ops,
    run_id_ops, run_page_ops,
};
use allocator_testkit::{ByteConfig, IdConfig, PageConfig, Rng};
use proptest::prelude::*;
use reference::{BitmapIds, BitmapPages, Bug, FreeList, SetBug};

const BYTES: ByteConfig = ByteConfig::new().with_region_size(256 << 10);
const PAGES: PageConfig = PageConfig::new().with_pages(256);
const IDS: IdConfig = IdConfig::new().with_size(256);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn free_list_follows_the_model(ops in byte_ops(200)) {
        run_byte_ops(&FreeList::new, &BYTES, &ops);
    }

    #[test]
    fn bitmap_pages_follow_the_model(ops in page_ops(200)) {
        run_page_ops(&BitmapPages::new, &PAGES, &ops);
    }

    #[test]
    fn bitmap_ids_follow_the_model(ops in id_ops(200)) {
        run_id_ops(&BitmapIds::new, &IDS, &ops);
    }
}

/// Runs `ops` under proptest with failure persistence off (these failures are
/// expected) and returns the shrunk failing input's length, if any.
fn minimal_failure<T: std::fmt::Debug + Clone>(
    strategy: impl Strategy<Value = Vec<T>>,
    run: impl Fn(&[T]),
) -> Option<usize> {
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    let rng = proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, |ops| {
        run(&ops);
        Ok(())
    });
    match result {
        Err(proptest::test_runner::TestError::Fail(_, ops)) => Some(ops.len()),
        _ => None,
    }
}

#[test]
fn broken_allocators_fail_and_shrink_to_short_sequences() {
    let misaligned = minimal_failure(byte_ops(100), |ops| {
        run_byte_ops(&|| FreeList::with_bug(Bug::Misalign), &BYTES, ops)
    });
    assert!(misaligned.is_some_and(|len| len <= 2), "misaligned blocks: shrunk to {misaligned:?} ops");
    let overlap =
        minimal_failure(byte_ops(100), |ops| run_byte_ops(&|| FreeList::with_bug(Bug::Overlap), &BYTES, ops));
    assert!(overlap.is_some_and(|len| len <= 10), "overlapping blocks: shrunk to {overlap:?} ops");
    let pages = minimal_failure(page_ops(100), |ops| {
        run_page_ops(&|| BitmapPages::with_bug(SetBug::IgnoreAlign), &PAGES, ops)
    });
    assert!(pages.is_some_and(|len| len <= 3), "pages ignoring alignment: shrunk to {pages:?} ops");
    let ids = minimal_failure(id_ops(100), |ops| {
        run_id_ops(&|| BitmapIds::with_bug(SetBug::NoUsedCheck), &IDS, ops)
    });
    assert!(ids.is_some_and(|len| len <= 10), "fixed IDs handed out twice: shrunk to {ids:?} ops");
}

#[test]
fn random_tapes_drive_the_runners() {
    let mut rng = Rng::new(7);
    for _ in 0..50 {
        let tape: Vec<u8> = (0..rng.range(0, 600)).map(|_| rng.next_u64() as u8).collect();
        run_byte_ops(&FreeList::new, &BYTES, &byte_ops_from_tape(&tape));
        run_page_ops(&BitmapPages::new, &PAGES, &page_ops_from_tape(&tape));
        run_id_ops(&BitmapIds::new, &IDS, &id_ops_from_tape(&tape));
    }
    assert!(!byte_ops_from_tape(&[0, 5, 1, 0, 3]).is_empty());
    assert!(byte_ops_from_tape(&[0, 5]).is_empty(), "a truncated op is dropped");
}
