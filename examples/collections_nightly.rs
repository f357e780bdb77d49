//! The standard library's own collections in one of our heaps (nightly):
//! `AllocatorRc` is `core::alloc::Allocator` with the `allocator_api` feature.
//!
//! `cargo +nightly run --example collections_nightly --features allocator_api,tlsf`
#![feature(allocator_api, btreemap_alloc)]

use allocator::{AllocatorRc, TlsfByteAllocator};
use std::collections::BTreeMap;

fn main() {
    let pool: &'static mut [u8] = vec![0u8; 4 << 20].leak();
    let heap = AllocatorRc::new(TlsfByteAllocator::new(), pool).expect("a 4 MiB pool");

    let mut v = Vec::new_in(heap.clone());
    v.extend(0..100_000u32);
    let mut map = BTreeMap::new_in(heap.clone());
    for (i, x) in v.iter().enumerate().step_by(100) {
        map.insert(*x, i);
    }
    println!("Vec of {} and BTreeMap of {} alive: {:?}", v.len(), map.len(), heap.stats());
    assert_eq!(map[&500], 500);

    drop((v, map));
    println!("after dropping them: {:?}", heap.stats());
    assert_eq!(heap.used_bytes(), 0);
}
