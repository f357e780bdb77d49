//! AllocatorRc as `core::alloc::Allocator` (nightly, feature `nightly`): the
//! standard library's own collections in one of our heaps.
#![cfg(feature = "nightly")]
#![feature(allocator_api, btreemap_alloc)]

use allocator_rc::AllocatorRc;
use allocator_tlsf::TlsfByteAllocator;
use std::collections::{BTreeMap, VecDeque};

fn heap() -> AllocatorRc<TlsfByteAllocator> {
    let pool: &'static mut [u8] = vec![0u8; 4 << 20].leak();
    AllocatorRc::new(TlsfByteAllocator::new(), pool).unwrap()
}

#[test]
fn std_vec_box_btreemap_in_our_heap() {
    let rc = heap();
    let mut v = Vec::new_in(rc.clone());
    v.extend(0..100_000u32);
    assert_eq!(v.iter().map(|&x| u64::from(x)).sum::<u64>(), 4_999_950_000);
    let b = Box::new_in(42u128, rc.clone());
    let mut map = BTreeMap::new_in(rc.clone());
    for i in 0..5_000u32 {
        map.insert(i, format!("v{i}"));
    }
    assert_eq!(map.get(&4_999).map(String::as_str), Some("v4999"));
    let mut q = VecDeque::with_capacity_in(16, rc.clone());
    q.extend([1, 2, 3]);
    assert_eq!(q.pop_front(), Some(1));
    assert!(rc.used_bytes() >= 400_000);
    drop((v, b, map, q));
    assert_eq!(rc.used_bytes(), 0);
}

#[test]
fn try_reserve_reports_exhaustion() {
    let rc = heap();
    let mut v: Vec<u8, _> = Vec::new_in(rc.clone());
    assert!(v.try_reserve(64 << 20).is_err());
    assert!(v.try_reserve(1 << 20).is_ok());
}
