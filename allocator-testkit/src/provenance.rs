//! The access patterns of real Rust code, for Miri (Tree Borrows) to check an
//! engine's provenance discipline: blocks written through `&mut` references
//! and handed back through pointers derived from them (as `Box` and `Vec`
//! do), neighbours freed in every order, realloc chains followed by writes
//! through the returned pointer and by other callers' allocations, and values
//! with uninitialised padding freed.
//!
//! Natively they check contents only; under Miri an engine that reaches its
//! metadata (or hands out a block) through a caller's pointer instead of its
//! region's provenance is undefined behaviour, which Miri reports.

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::ByteAllocator;

use crate::byte::{ByteConfig, ByteHarness};

/// A block as a `Box` holds it: written through a `&mut`, whose pointer is
/// the one handed back.
fn written(ptr: NonNull<u8>, len: usize, seed: u8) -> NonNull<u8> {
    // SAFETY: `ptr` is a live block of at least `len` bytes, owned by the
    // caller; the reference ends before the function returns.
    let bytes: &mut [u8] = unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8);
    }
    NonNull::from(bytes).cast()
}

/// Panics unless the first `len` bytes at `ptr` hold what [`written`] wrote
/// with `seed`.
fn verify(ptr: NonNull<u8>, len: usize, seed: u8, what: &str) {
    // SAFETY: `ptr` is a live block of at least `len` bytes.
    let bytes: &[u8] = unsafe { core::slice::from_raw_parts(ptr.as_ptr(), len) };
    for (i, &byte) in bytes.iter().enumerate() {
        assert_eq!(byte, seed.wrapping_add(i as u8), "{what}: byte {i} of a live block changed");
    }
}

use crate::layout;

/// Frees neighbouring blocks of one size (one slab, one buddy pair) in
/// ascending, descending and interleaved order, each block written through a
/// `&mut` first and handed back through the pointer of that reference; the
/// blocks still live are verified after every free.
pub fn neighbour_frees<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "neighbour_frees");
    let orders: [&[usize]; 4] = [&[0, 1], &[1, 0], &[0, 1, 2, 3], &[3, 1, 0, 2]];
    for size in [8, 16, 24, 64, 256] {
        for order in orders {
            let blocks: Vec<NonNull<u8>> = (0..order.len())
                .map(|i| {
                    let ptr = heap.alloc.alloc(layout(size, 8)).expect("a fresh heap serves small blocks");
                    written(ptr, size, i as u8)
                })
                .collect();
            let mut live: Vec<bool> = vec![true; blocks.len()];
            for &i in order {
                // SAFETY: allocated above with this layout, freed once.
                unsafe { heap.alloc.dealloc(blocks[i], layout(size, 8)) };
                live[i] = false;
                for (j, &block) in blocks.iter().enumerate() {
                    if live[j] {
                        verify(block, size, j as u8, "neighbour_frees");
                    }
                }
            }
        }
    }
    assert_eq!(heap.alloc.used_bytes(), 0, "neighbour_frees: used_bytes after every block was freed");
}

/// Realloc chains: shrink, let another caller allocate and write, grow back
/// (in place where the engine can), move; after each step every byte of the
/// block is written through a `&mut` of the returned pointer, and the kept
/// prefix is verified.
pub fn realloc_chains<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "realloc_chains");
    let max = cfg.max_size.min(3000);
    for chain in [[64, 8, 64, 200], [256, 24, 500, 8], [max, 16, max / 2, 64]] {
        let mut size = chain[0];
        let mut block = written(heap.alloc.alloc(layout(size, 8)).expect("a fresh heap"), size, 1);
        let mut others = Vec::new();
        for &new_size in &chain[1..] {
            // SAFETY: `block` is live with (size, 8).
            let moved = unsafe { heap.alloc.realloc(block, layout(size, 8), new_size) }
                .expect("a roomy heap serves the realloc");
            verify(moved, size.min(new_size), 1, "realloc_chains: the kept prefix");
            block = written(moved, new_size, 1);
            size = new_size;
            // Another caller allocates and writes now: a block carved from
            // the halves this realloc gave back must not carry our tag.
            let other = heap.alloc.alloc(layout(32, 8)).expect("a roomy heap");
            others.push(written(other, 32, 9));
        }
        for &other in &others {
            verify(other, 32, 9, "realloc_chains: another caller's block");
            // SAFETY: allocated above with (32, 8), freed once.
            unsafe { heap.alloc.dealloc(other, layout(32, 8)) };
        }
        verify(block, size, 1, "realloc_chains: the block");
        // SAFETY: `block` is live with (size, 8).
        unsafe { heap.alloc.dealloc(block, layout(size, 8)) };
    }
    assert_eq!(heap.alloc.used_bytes(), 0, "realloc_chains: used_bytes after every block was freed");
}

/// A value with padding bytes, which a typed write leaves uninitialised.
#[repr(C)]
#[derive(Clone, Copy)]
struct Padded {
    a: u8,
    b: u32,
}

/// Frees blocks holding values with uninitialised padding (as a
/// `Box<Padded>` does), in both orders: an engine's free (and its debug
/// checks) must not read the caller's bytes as typed values.
pub fn padded_values<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig) {
    let mut heap = ByteHarness::new(make, cfg, "padded_values");
    let l = Layout::new::<Padded>();
    for reverse in [false, true] {
        let mut blocks: Vec<NonNull<u8>> = (0..8u8)
            .map(|i| {
                let ptr = heap.alloc.alloc(l).expect("a fresh heap").cast::<Padded>();
                // SAFETY: a live block for `Padded`, aligned for it.
                unsafe { ptr.write(Padded { a: i, b: u32::from(i) << 8 }) };
                ptr.cast()
            })
            .collect();
        if reverse {
            blocks.reverse();
        }
        for block in blocks {
            // SAFETY: a live `Padded` we wrote.
            let value = unsafe { block.cast::<Padded>().read() };
            assert_eq!(value.b, u32::from(value.a) << 8, "padded_values: a live value changed");
            // SAFETY: allocated above with `l`, freed once.
            unsafe { heap.alloc.dealloc(block, l) };
        }
    }
    assert_eq!(heap.alloc.used_bytes(), 0, "padded_values: used_bytes after every block was freed");
}
