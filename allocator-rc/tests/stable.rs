//! AllocatorRc on stable: allocator-api2 collections and hashbrown.
#![cfg_attr(feature = "nightly", feature(allocator_api))]

use allocator_api2::{
    alloc::{AllocError, Allocator},
    boxed::Box,
    vec::Vec,
};
use allocator_rc::{AllocatorRc, Stats};
use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{BaseAllocator, ByteAllocator};
use core::{alloc::Layout, ptr::NonNull};

/// The pool size of most tests: under Miri, work grows with every byte of a
/// pool a reference covers, so the interpreter gets a smaller one.
const POOL: usize = if cfg!(miri) { 128 << 10 } else { 1 << 20 };

/// How many elements the collection tests store (fewer under Miri).
const ELEMENTS: u32 = if cfg!(miri) { 300 } else { 2_000 };

fn heap(size: usize) -> AllocatorRc<TlsfByteAllocator> {
    let pool: &'static mut [u8] = std::vec![0u8; size].leak();
    AllocatorRc::new(TlsfByteAllocator::new(), pool).unwrap()
}

#[test]
fn vec_and_box_live_in_the_heap_and_give_it_back() {
    let rc = heap(POOL);
    let before = rc.stats();
    assert_eq!(before.used_bytes, 0);
    let mut v = Vec::new_in(rc.clone());
    v.extend(0..5 * ELEMENTS);
    let b = Box::new_in([7u64; 32], rc.clone());
    assert!(rc.used_bytes() >= 5 * ELEMENTS as usize * 4 + 256);
    assert!(v.iter().copied().eq(0..5 * ELEMENTS));
    assert_eq!(b[31], 7);
    drop((v, b));
    assert_eq!(rc.stats(), before, "everything freed, statistics back");
}

#[test]
fn hashbrown_map_in_the_heap() {
    let rc = heap(POOL);
    let mut map = hashbrown::HashMap::new_in(rc.clone());
    for i in 0..ELEMENTS {
        map.insert(i, i * 3);
    }
    assert_eq!(map.len(), ELEMENTS as usize);
    assert!((0..ELEMENTS).all(|i| map[&i] == i * 3));
    assert!(rc.used_bytes() > 0);
    drop(map);
    assert_eq!(rc.used_bytes(), 0);
}

#[test]
fn out_of_memory_is_an_error_not_an_abort() {
    let rc = heap(64 * 1024);
    let mut v: Vec<u8, _> = Vec::new_in(rc.clone());
    assert!(v.try_reserve(1 << 20).is_err(), "larger than the heap");
    assert!(v.try_reserve(1024).is_ok(), "the heap still works");
    assert!(rc.allocate(Layout::from_size_align(1 << 30, 8).unwrap()).is_err());
}

#[test]
fn grow_keeps_contents_in_place_or_moved_and_zeroes_the_tail() {
    let rc = heap(POOL);
    let old = Layout::from_size_align(64, 8).unwrap();
    let block = rc.allocate(old).unwrap().cast::<u8>();
    // SAFETY: `block` holds 64 writable bytes.
    unsafe { block.as_ptr().write_bytes(0xAB, 64) };
    let new = Layout::from_size_align(4096, 8).unwrap();
    // SAFETY: `block` came from `rc` with `old`; `new` is larger.
    let grown = unsafe { rc.grow_zeroed(block, old, new) }.unwrap();
    assert_eq!(grown.len(), 4096);
    // SAFETY: `grown` holds 4096 initialised bytes.
    let bytes = unsafe { grown.as_ref() };
    assert!(bytes[..64].iter().all(|&b| b == 0xAB));
    assert!(bytes[64..].iter().all(|&b| b == 0));
    // A larger alignment cannot go through `realloc`: allocate, copy, free.
    let aligned = Layout::from_size_align(8192, 4096).unwrap();
    // SAFETY: `grown` came from `rc` with `new`.
    let moved = unsafe { rc.grow(grown.cast(), new, aligned) }.unwrap();
    assert_eq!(moved.cast::<u8>().as_ptr().addr() % 4096, 0);
    // SAFETY: `moved` holds at least 4096 initialised bytes (copied).
    let bytes = unsafe { core::slice::from_raw_parts(moved.cast::<u8>().as_ptr(), 4096) };
    assert!(bytes[..64].iter().all(|&b| b == 0xAB));
    let small = Layout::from_size_align(16, 8).unwrap();
    // SAFETY: `moved` came from `rc` with `aligned`; `small` is smaller.
    let shrunk = unsafe { rc.shrink(moved.cast(), aligned, small) }.unwrap();
    // SAFETY: `shrunk` holds 16 bytes, the first copied from the block.
    assert_eq!(unsafe { shrunk.cast::<u8>().as_ptr().read() }, 0xAB);
    // SAFETY: `shrunk` came from `rc` with `small`.
    unsafe { rc.deallocate(shrunk.cast(), small) };
    assert_eq!(rc.used_bytes(), 0);
}

#[test]
fn a_failed_grow_keeps_the_old_block() {
    let rc = heap(64 * 1024);
    let old = Layout::from_size_align(32, 8).unwrap();
    let block = rc.allocate(old).unwrap().cast::<u8>();
    // SAFETY: 32 writable bytes.
    unsafe { block.as_ptr().write_bytes(0x5A, 32) };
    let huge = Layout::from_size_align(1 << 24, 8).unwrap();
    // SAFETY: `block` came from `rc` with `old`.
    assert_eq!(unsafe { rc.grow(block, old, huge) }, Err(AllocError));
    // SAFETY: the block is still ours and initialised.
    assert!(unsafe { core::slice::from_raw_parts(block.as_ptr(), 32) }.iter().all(|&b| b == 0x5A));
    // SAFETY: `block` came from `rc` with `old`.
    unsafe { rc.deallocate(block, old) };
    assert_eq!(rc.used_bytes(), 0);
}

#[test]
fn constructors_report_errors_and_hand_back_the_inner_allocator() {
    let tiny: &'static mut [u8] = std::vec![0u8; 3].leak();
    assert!(AllocatorRc::new(TlsfByteAllocator::new(), tiny).is_err(), "a 3-byte pool is refused");

    let region: &'static mut [u8] = std::vec![0u8; 1 << 16].leak();
    let mut tlsf = TlsfByteAllocator::new();
    // SAFETY: the leaked region is used by nothing else, forever.
    unsafe { tlsf.init(region.as_mut_ptr().expose_provenance(), region.len()) }.unwrap();
    let total = tlsf.total_bytes();
    let rc = AllocatorRc::from(tlsf);
    let other = rc.clone();
    assert_eq!(
        other.stats(),
        Stats { total_bytes: total, used_bytes: 0, available_bytes: rc.available_bytes() }
    );
    let rc = rc.try_into_inner().expect_err("a clone is alive");
    drop(other);
    let tlsf = rc.try_into_inner().expect("last handle");
    assert_eq!(tlsf.total_bytes(), total);
}

#[test]
fn blocks_are_aligned_and_disjoint() {
    let rc = heap(POOL);
    let mut blocks: std::vec::Vec<(NonNull<u8>, Layout)> = std::vec::Vec::new();
    for i in 0..200usize {
        let layout = Layout::from_size_align(1 + i * 7 % 300, 1 << (i % 8)).unwrap();
        let block = rc.allocate(layout).unwrap();
        assert_eq!(block.len(), layout.size());
        let ptr = block.cast::<u8>();
        assert_eq!(ptr.as_ptr().addr() % layout.align(), 0);
        for (other, l) in &blocks {
            let (a, b) = (ptr.as_ptr().addr(), other.as_ptr().addr());
            assert!(a + layout.size() <= b || b + l.size() <= a, "blocks overlap");
        }
        blocks.push((ptr, layout));
    }
    for (ptr, layout) in blocks {
        // SAFETY: each block came from `rc` with its layout.
        unsafe { rc.deallocate(ptr, layout) };
    }
    assert_eq!(rc.used_bytes(), 0);
}

/// Collections whose blocks are freed in an order that makes each engine
/// touch its neighbours' metadata while a `Box` pointer comes back: the
/// pattern Miri (Tree Borrows) checks for every backend.
fn collections_in<A: ByteAllocator>(inner: A) {
    let pool: &'static mut [u8] = std::vec![0u8; POOL].leak();
    let rc = AllocatorRc::new(inner, pool).unwrap();
    let mut v = Vec::new_in(rc.clone());
    v.extend(0..ELEMENTS + 1_000);
    let b = Box::new_in([7u64; 32], rc.clone());
    let small = Box::new_in(1u8, rc.clone());
    let mut map = hashbrown::HashMap::new_in(rc.clone());
    map.extend((0..200u32).map(|i| (i, i)));
    v.shrink_to_fit();
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!((v[9], b[31], *small, map[&199]), (9, 7, 1, 199));
    drop((v, b));
    drop((map, small));
    assert_eq!(rc.used_bytes(), 0);
}

/// Boxes of one size class (one slab, one buddy pair) dropped in both
/// orders, and a `Vec` grown and shrunk in place then written: the patterns of
/// the review's reproductions (a slab header reached through a freed
/// neighbour's tag, buddy halves pushed with a caller's tag), which Miri
/// (Tree Borrows) checks here for every engine through the bridge.
fn neighbours_and_realloc_in<A: ByteAllocator>(inner: A) {
    let pool: &'static mut [u8] = std::vec![0u8; POOL].leak();
    let rc = AllocatorRc::new(inner, pool).unwrap();
    for a_first in [true, false] {
        let mut a = Box::new_in(1u64, rc.clone());
        let mut b = Box::new_in(2u64, rc.clone());
        *a += 10;
        *b += 10;
        if a_first {
            drop(a);
            assert_eq!(*b, 12);
            drop(b);
        } else {
            drop(b);
            assert_eq!(*a, 11);
            drop(a);
        }
    }
    let mut v: Vec<u8, _> = Vec::with_capacity_in(64, rc.clone());
    v.extend(0..64u8);
    v.truncate(8);
    v.shrink_to_fit();
    let other = Box::new_in([3u8; 32], rc.clone());
    v.reserve_exact(56);
    v.extend(8..64u8);
    for byte in v.iter_mut() {
        *byte = byte.wrapping_mul(3);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == (i as u8).wrapping_mul(3)));
    assert_eq!(other[31], 3);
    drop((v, other));
    assert_eq!(rc.used_bytes(), 0);
}

#[test]
fn neighbours_and_realloc_in_every_engine() {
    neighbours_and_realloc_in(TlsfByteAllocator::new());
    neighbours_and_realloc_in(allocator_buddy::BuddyByteAllocator::new());
    neighbours_and_realloc_in(allocator_slab::SlabByteAllocator::new());
    neighbours_and_realloc_in(allocator_slab::SlabByteAllocator::with_backing(
        allocator_buddy::BuddyByteAllocator::new(),
    ));
}

#[test]
fn collections_in_every_engine() {
    collections_in(TlsfByteAllocator::new());
    collections_in(allocator_buddy::BuddyByteAllocator::new());
    collections_in(allocator_slab::SlabByteAllocator::new());
    collections_in(allocator_slab::SlabByteAllocator::with_backing(
        allocator_buddy::BuddyByteAllocator::new(),
    ));
}

/// A TLSF heap that counts its drops.
struct DropCounted(TlsfByteAllocator, std::rc::Rc<core::cell::Cell<u32>>);

impl Drop for DropCounted {
    fn drop(&mut self) {
        self.1.set(self.1.get() + 1);
    }
}

impl BaseAllocator for DropCounted {
    unsafe fn init(&mut self, start: usize, size: usize) -> allocator_traits::AllocResult {
        // SAFETY: forwarded contract.
        unsafe { self.0.init(start, size) }
    }
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> allocator_traits::AllocResult {
        // SAFETY: forwarded contract.
        unsafe { self.0.add_memory(start, size) }
    }
}

// SAFETY: every call goes to the TLSF heap inside, which keeps the promise.
unsafe impl ByteAllocator for DropCounted {
    fn alloc(&mut self, layout: Layout) -> allocator_traits::AllocResult<NonNull<u8>> {
        self.0.alloc(layout)
    }
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(pos, layout) }
    }
    fn total_bytes(&self) -> usize {
        self.0.total_bytes()
    }
    fn used_bytes(&self) -> usize {
        self.0.used_bytes()
    }
    fn available_bytes(&self) -> usize {
        self.0.available_bytes()
    }
}

/// The heap lives while any handle does, collections' handles included, and
/// is dropped once, with the last of them.
#[test]
fn the_last_handle_drops_the_heap_once() {
    let drops = std::rc::Rc::new(core::cell::Cell::new(0));
    let pool: &'static mut [u8] = std::vec![0u8; POOL].leak();
    let rc = AllocatorRc::new(DropCounted(TlsfByteAllocator::new(), drops.clone()), pool).unwrap();
    let mut v = Vec::new_in(rc.clone());
    v.extend(0..ELEMENTS);
    let b = Box::new_in(7u64, rc.clone());
    drop(rc);
    assert_eq!(drops.get(), 0, "the collections' handles keep the heap");
    drop(v);
    assert_eq!(drops.get(), 0);
    let rc = allocator_api2::boxed::Box::allocator(&b).clone();
    assert_eq!(*b, 7);
    drop(b);
    assert_eq!((drops.get(), rc.used_bytes()), (0, 0));
    drop(rc);
    assert_eq!(drops.get(), 1, "dropped once, with the last handle");
}
