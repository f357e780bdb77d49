//! Determinism, counted: the slab heap's work per operation, in calls to its
//! backing allocator, over sequences built to make a slab heap work hard
//! (slabs of every class filled, emptied one at a time, refilled; large
//! blocks between them), against the bound the crate docs state: a class
//! `alloc` or `dealloc` is O(1) (a free-list pop or push, the slab found by
//! masking) plus at most one backing call (taking a slab, or returning an
//! empty one beyond the cache), and a large layout is exactly one backing
//! call. With the backing TLSF's own constant bound (counted in
//! allocator-tlsf's `bounds_tests`), every operation is O(1) while the heap
//! has memory. Counts, never times.
//!
//! What this cannot see: the slab heap's own list operations, which are in
//! its code (no counter there); the backing calls are what could make an
//! operation's cost grow with the heap, and they are counted exactly.

use core::{alloc::Layout, ptr::NonNull};

use allocator_slab::SlabByteAllocator;
use allocator_testkit::Pool;
use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{AllocResult, BaseAllocator, ByteAllocator};

/// A backing allocator that counts the calls made to it.
#[derive(Default)]
struct Counting {
    inner: TlsfByteAllocator,
    calls: usize,
}

impl BaseAllocator for Counting {
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded contract.
        unsafe { self.inner.init(start, size) }
    }
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded contract.
        unsafe { self.inner.add_memory(start, size) }
    }
}

// SAFETY: every block comes from the inner allocator, unchanged.
unsafe impl ByteAllocator for Counting {
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        self.calls += 1;
        self.inner.alloc(layout)
    }
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        self.calls += 1;
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(pos, layout) }
    }
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        self.calls += 1;
        // SAFETY: forwarded contract.
        unsafe { self.inner.realloc(pos, old, new_size) }
    }
    fn total_bytes(&self) -> usize {
        self.inner.total_bytes()
    }
    fn used_bytes(&self) -> usize {
        self.inner.used_bytes()
    }
    fn available_bytes(&self) -> usize {
        self.inner.available_bytes()
    }
}

type Heap = SlabByteAllocator<Counting>;

fn calls(heap: &Heap) -> usize {
    heap.heap().backing().calls
}

/// The worst backing calls of one class alloc, one class free, one large
/// alloc and one large free, with `per_class` blocks of each class.
fn worst(per_class: usize) -> [usize; 4] {
    let sizes: Vec<usize> = (1..=256).map(|i| i * 8).collect(); // 8 ..= 2048: every class
    let pool = Pool::new(per_class * sizes.len() * 1200 + (4 << 20), 4096);
    let mut heap = Heap::with_backing(Counting::default());
    // SAFETY: the pool outlives the heap and is used by nothing else.
    unsafe { heap.init(pool.start(), pool.size()) }.unwrap();
    let mut worst = [0; 4];
    let alloc = |heap: &mut Heap, l: Layout, worst: &mut [usize; 4]| {
        let before = calls(heap);
        let p = heap.alloc(l).expect("the pool is large enough: no exhaustion path");
        let i = if l.size() > 2048 { 2 } else { 0 };
        worst[i] = worst[i].max(calls(heap) - before);
        p
    };
    let free = |heap: &mut Heap, p: NonNull<u8>, l: Layout, worst: &mut [usize; 4]| {
        let before = calls(heap);
        // SAFETY: `p` is live with `l` and freed once.
        unsafe { heap.dealloc(p, l) };
        let i = if l.size() > 2048 { 3 } else { 1 };
        worst[i] = worst[i].max(calls(heap) - before);
    };
    // Fill: every class, many slabs each, large blocks between them.
    let mut live = Vec::new();
    for round in 0..per_class {
        for &s in &sizes {
            let l = Layout::from_size_align(s, 8).unwrap();
            live.push((alloc(&mut heap, l, &mut worst), l));
        }
        let l = Layout::from_size_align(4096 + round % 7 * 1000, 8).unwrap();
        live.push((alloc(&mut heap, l, &mut worst), l));
    }
    // Empty the slabs one block at a time in allocation order (each slab
    // empties and goes back while others of its class are still partial),
    // then refill half and empty again in reverse.
    for _ in 0..2 {
        let mut kept = Vec::new();
        for (i, (p, l)) in live.drain(..).enumerate() {
            if i % 3 == 0 { kept.push((p, l)) } else { free(&mut heap, p, l, &mut worst) }
        }
        for &(_, l) in kept.clone().iter().take(kept.len() / 2) {
            kept.push((alloc(&mut heap, l, &mut worst), l));
        }
        kept.reverse();
        live = kept;
    }
    for (p, l) in live {
        free(&mut heap, p, l, &mut worst);
    }
    assert_eq!(heap.used_bytes(), 0);
    worst
}

#[test]
#[cfg_attr(miri, ignore = "thousands of slabs: minutes interpreted; the engines' Miri tests cover the code")]
fn every_operation_makes_at_most_one_backing_call() {
    let few = worst(20);
    let many = worst(100);
    println!(
        "worst backing calls (class alloc, class free, large alloc, large free): {few:?}, {many:?} at 5x"
    );
    assert_eq!(few, many, "the worst case does not grow with the heap");
    assert_eq!(many, [1, 1, 1, 1], "at most one backing call per operation, and the worst case happens");
}
