//! Collections in one of our heaps on stable Rust: `allocator_api2::vec::Vec`
//! and `hashbrown::HashMap` through `AllocatorRc`.
//!
//! `cargo run --example collections_stable --features allocator-api2,tlsf`
// With `allocator_api` (nightly) allocator-api2's trait is core's.
#![cfg_attr(feature = "allocator_api", feature(allocator_api))]

use allocator::{AllocatorRc, TlsfByteAllocator};
use allocator_api2::vec::Vec;

fn main() {
    let pool: &'static mut [u8] = vec![0u8; 1 << 20].leak();
    let heap = AllocatorRc::new(TlsfByteAllocator::new(), pool).expect("a 1 MiB pool");

    let mut squares = Vec::new_in(heap.clone());
    squares.extend((0..1_000u64).map(|i| i * i));
    let mut names = hashbrown::HashMap::new_in(heap.clone());
    for i in 0..100u32 {
        names.insert(i, i.to_string());
    }
    println!("with a Vec and a HashMap alive: {:?}", heap.stats());
    assert_eq!(squares[999], 998_001);
    assert_eq!(names[&42], "42");

    drop((squares, names));
    println!("after dropping them:            {:?}", heap.stats());
    assert_eq!(heap.used_bytes(), 0);
}
