//! The C rules, over heaps in this process (the functions are called as
//! Rust generics: no symbol is exported).

use core::{
    alloc::Layout,
    cell::Cell,
    ffi::c_void,
    ptr::{NonNull, null_mut},
};
use std::{sync::Mutex, vec::Vec};

use allocator_global::{GlobalAllocator, NoSource, SystemSource};
use allocator_slab::SlabByteAllocator;
use allocator_tlsf::TlsfByteAllocator;

use super::*;
use crate::{CMalloc, Chunk, DEFAULT_DIRECT_THRESHOLD};

extern crate std;

std::thread_local! {
    static ERRNO: Cell<i32> = const { Cell::new(0) };
}

fn set_errno(error: Errno) {
    ERRNO.with(|e| e.set(error.code()));
}

fn errno() -> i32 {
    ERRNO.with(|e| e.replace(0))
}

fn heap() -> GlobalAllocator<SlabByteAllocator, SystemSource> {
    GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new())
}

/// A header-free heap: TLSF finds every block's size.
fn headerless_tlsf() -> CMalloc<GlobalAllocator<TlsfByteAllocator, SystemSource>> {
    CMalloc::new(GlobalAllocator::new(TlsfByteAllocator::new(), SystemSource::new()))
}

/// Runs a check over a heap with headers (the default slab table, which
/// cannot find sizes), a header-free one, and a `CMalloc` whose engine
/// cannot find sizes (buddy: headers again); each must end empty, its
/// registry (if any) valid and empty.
macro_rules! on_every_heap {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;

            #[test]
            fn with_headers() {
                let heap = heap();
                super::$check(&heap);
                assert_eq!(heap.used_bytes(), 0);
            }

            #[test]
            fn header_free() {
                let heap = headerless_tlsf();
                assert!(heap.finds_block_sizes());
                super::$check(&heap);
                assert_eq!(heap.used_bytes(), 0);
                let registry = CHeap::registry(&heap).unwrap();
                registry.assert_valid();
                assert_eq!(registry.counts(), (0, 0), "every record dropped");
            }

            #[test]
            fn cmalloc_without_found_sizes() {
                let heap: CMalloc<GlobalAllocator<allocator_buddy::BuddyByteAllocator, SystemSource>> =
                    CMalloc::new(GlobalAllocator::new(allocator_buddy::BuddyByteAllocator::new(), SystemSource::new()));
                assert!(!heap.finds_block_sizes());
                super::$check(&heap);
                assert_eq!(heap.used_bytes(), 0);
                assert_eq!(CHeap::registry(&heap).unwrap().counts(), (0, 0), "headers: nothing recorded");
            }
        }
    )*};
}

on_every_heap!(
    malloc_free_follow_c,
    calloc_zeroes_and_checks_overflow,
    realloc_keeps_contents_and_follows_glibc,
    the_aligned_family,
);

/// Header-free: a block is the engine's block itself (its usable size the
/// engine's, no 16 bytes lost); aligned blocks and chunks are recorded
/// while live, plain blocks never, and a plain block aligned as a recorded
/// one is not taken for one.
#[test]
fn header_free_blocks_are_the_engines() {
    let heap = headerless_tlsf();
    let registry = CHeap::registry(&heap).unwrap();
    // SAFETY: every pointer passed back came from these functions, once.
    unsafe {
        let p = malloc(&heap, set_errno, 24);
        let engine = GlobalAllocator::block_size(heap.heap(), NonNull::new(p.cast()).unwrap(), 16).unwrap();
        assert_eq!(malloc_usable_size(&heap, p), engine, "the engine's block, nothing before it");
        free(&heap, p);
        let mut aligned = Vec::new();
        for i in 0..200 {
            let q = memalign(&heap, set_errno, 64 << (i % 4), i * 7);
            assert_eq!(q.addr() % (64 << (i % 4)), 0);
            aligned.push(q);
        }
        assert_eq!(registry.counts(), (0, 200), "the table grew past its first 64 slots");
        registry.assert_valid();
        let huge = malloc(&heap, set_errno, 1 << 20);
        assert_eq!(huge.addr() % PAGE_SIZE, 0);
        assert_eq!(registry.counts(), (1, 200));
        // Plain blocks, some of them 32-aligned, freed while records live.
        let plain: Vec<_> = (0..300).map(|i| malloc(&heap, set_errno, i * 3)).collect();
        assert_eq!(registry.counts(), (1, 200), "plain blocks are never recorded");
        for q in plain {
            free(&heap, q);
        }
        // An aligned block that moves keeps its record, under its new address.
        let q = aligned.pop().unwrap();
        q.cast::<u8>().write_bytes(7, 10);
        let moved = realloc(&heap, set_errno, q, 100_000);
        assert!(!moved.is_null() && moved.addr() % 64 == 0);
        assert_eq!(moved.cast::<u8>().add(9).read(), 7);
        aligned.push(moved);
        registry.assert_valid();
        assert_eq!(registry.counts(), (1, 200));
        for (i, q) in aligned.into_iter().enumerate().rev() {
            if i % 2 == 0 { free(&heap, q) } else { assert!(realloc(&heap, set_errno, q, 0).is_null()) }
        }
        free(&heap, huge);
        // A chunk resized below the threshold keeps the alignment asked for
        // it: a page for `valloc`, 16 for `malloc` (a plain block then).
        let paged = valloc(&heap, set_errno, 1 << 20);
        paged.cast::<u8>().write(3);
        let small = realloc(&heap, set_errno, paged, 300);
        assert_eq!(small.addr() % PAGE_SIZE, 0);
        assert_eq!(small.cast::<u8>().read(), 3);
        assert_eq!(registry.counts(), (0, 1), "now an aligned engine block");
        free(&heap, small);
        let plain = realloc(&heap, set_errno, malloc(&heap, set_errno, 1 << 20), 300);
        assert_eq!(registry.counts(), (0, 0), "a plain engine block, not recorded");
        free(&heap, plain);
    }
    registry.assert_valid();
    assert_eq!(registry.counts(), (0, 0));
    assert_eq!(heap.used_bytes(), 0);
}

/// Header-free, when the heap cannot give the registry its table: an
/// aligned allocation fails with ENOMEM, and nothing leaks.
#[test]
fn header_free_aligned_blocks_fail_cleanly_without_room() {
    let heap: CMalloc<GlobalAllocator<TlsfByteAllocator>> =
        CMalloc::new(GlobalAllocator::new(TlsfByteAllocator::new(), NoSource));
    let arena: &'static mut [u8] = Vec::leak(std::vec![0u8; 64 << 10]);
    // SAFETY: the leaked arena is ours alone, forever; its address is exposed.
    unsafe { heap.init(arena.as_mut_ptr().expose_provenance(), arena.len()) }.unwrap();
    // SAFETY: as above.
    unsafe {
        // Fill the heap with plain blocks.
        let mut plain = Vec::new();
        loop {
            let p = malloc(&heap, set_errno, 256);
            if p.is_null() {
                break;
            }
            plain.push(p);
        }
        assert_eq!(errno(), 12);
        let used = heap.used_bytes();
        assert!(memalign(&heap, set_errno, 64, 8).is_null(), "no room for the block or the table");
        assert_eq!(errno(), 12);
        assert_eq!(heap.used_bytes(), used, "nothing kept");
        for p in plain {
            free(&heap, p);
        }
    }
    assert_eq!(heap.used_bytes(), 0);
}

fn malloc_free_follow_c<H: CHeap>(heap: &H) {
    // SAFETY: every pointer passed back came from these functions, once.
    unsafe {
        let a = malloc(heap, set_errno, 0);
        let b = malloc(heap, set_errno, 0);
        assert!(!a.is_null() && !b.is_null() && a != b, "malloc(0): unique pointers");
        for size in [1, 15, 16, 17, 100, 2048, 5000, 300_000] {
            let p = malloc(heap, set_errno, size);
            assert_eq!(p.addr() % 16, 0);
            let usable = malloc_usable_size(heap, p);
            assert!(usable >= size, "{size}: {usable}");
            p.cast::<u8>().write_bytes(0xee, usable);
            free(heap, p);
        }
        free(heap, a);
        free(heap, b);
        free(heap, null_mut());
        assert_eq!(malloc_usable_size(heap, null_mut()), 0);
        assert!(malloc(heap, set_errno, usize::MAX).is_null());
        assert_eq!(errno(), 12);
        assert!(malloc(heap, set_errno, isize::MAX as usize - 8).is_null());
        assert_eq!(errno(), 12);
    }
}

fn calloc_zeroes_and_checks_overflow<H: CHeap>(heap: &H) {
    // SAFETY: as above.
    unsafe {
        let dirty = malloc(heap, set_errno, 1000);
        dirty.cast::<u8>().write_bytes(0xab, 1000);
        free(heap, dirty);
        let p = calloc(heap, set_errno, 10, 100).cast::<u8>();
        assert!(core::slice::from_raw_parts(p, 1000).iter().all(|&b| b == 0));
        free(heap, p.cast());
        assert!(calloc(heap, set_errno, usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), 12);
        let z = calloc(heap, set_errno, 0, 5);
        assert!(!z.is_null());
        free(heap, z);
    }
}

fn realloc_keeps_contents_and_follows_glibc<H: CHeap>(heap: &H) {
    // SAFETY: as above.
    unsafe {
        let mut p = realloc(heap, set_errno, null_mut(), 10);
        let mut size = 10;
        for i in 0..10 {
            p.cast::<u8>().add(i).write(i as u8);
        }
        // Grow through the classes, past the direct threshold, and back.
        for new in [100, 3000, 200_000, 600_000, 2_000_000, 300_000, 50, 10] {
            p = realloc(heap, set_errno, p, new);
            assert!(!p.is_null() && p.addr() % 16 == 0);
            for i in 0..10 {
                assert_eq!(p.cast::<u8>().add(i).read(), i as u8, "{size} -> {new}");
            }
            size = new;
        }
        let _ = size;
        // A failed realloc leaves the block.
        assert!(realloc(heap, set_errno, p, usize::MAX - 8).is_null());
        assert_eq!(errno(), 12);
        assert!(reallocarray(heap, set_errno, p, usize::MAX, 2).is_null());
        assert_eq!(errno(), 12);
        assert_eq!(p.cast::<u8>().add(9).read(), 9);
        // realloc(p, 0) frees and returns null, errno untouched.
        assert!(realloc(heap, set_errno, p, 0).is_null());
        assert_eq!(errno(), 0);
    }
}

fn the_aligned_family<H: CHeap>(heap: &H) {
    // SAFETY: as above; `out` is a valid out-pointer.
    unsafe {
        let mut out: *mut c_void = null_mut();
        for align in [8, 16, 64, 4096, 1 << 16] {
            for size in [0, 1, 100, 5000, 300_000] {
                assert_eq!(posix_memalign(heap, &mut out, align, size), 0);
                assert_eq!(out.addr() % align, 0);
                assert!(malloc_usable_size(heap, out) >= size);
                out.cast::<u8>().write_bytes(1, size);
                free(heap, out);
                let p = aligned_alloc(heap, set_errno, align, size);
                assert_eq!(p.addr() % align, 0);
                free(heap, p);
                let p = memalign(heap, set_errno, align, size);
                assert_eq!(p.addr() % align, 0);
                free(heap, p);
            }
        }
        out = null_mut();
        for bad in [0, 3, 4, 24] {
            assert_eq!(posix_memalign(heap, &mut out, bad, 10), 22, "{bad}");
        }
        assert_eq!(posix_memalign(heap, &mut out, 64, usize::MAX - 100), 12);
        assert!(out.is_null(), "*out written only on success");
        assert_eq!(errno(), 0, "posix_memalign never sets errno");
        assert!(aligned_alloc(heap, set_errno, 3, 10).is_null());
        assert_eq!(errno(), 22);
        assert!(aligned_alloc(heap, set_errno, 0, 10).is_null());
        assert_eq!(errno(), 22);
        let p = memalign(heap, set_errno, 48, 10);
        assert_eq!(p.addr() % 64, 0, "memalign rounds 48 up to 64");
        free(heap, p);
        assert!(memalign(heap, set_errno, usize::MAX, 10).is_null());
        assert_eq!(errno(), 22);
        let p = valloc(heap, set_errno, 10);
        assert_eq!(p.addr() % PAGE_SIZE, 0);
        free(heap, p);
        let p = pvalloc(heap, set_errno, 10);
        assert!(p.addr() % PAGE_SIZE == 0 && malloc_usable_size(heap, p) >= PAGE_SIZE);
        free(heap, p);
        assert!(pvalloc(heap, set_errno, usize::MAX - 10).is_null());
        assert_eq!(errno(), 12);
    }
}

/// A fixed heap (no source): huge blocks come from the engine, and run out.
#[test]
fn a_fixed_heap_serves_huge_blocks_itself() {
    let heap: GlobalAllocator<TlsfByteAllocator> = GlobalAllocator::new(TlsfByteAllocator::new(), NoSource);
    let arena: &'static mut [u8] = Vec::leak(std::vec![0u8; 4 << 20]);
    // SAFETY: the leaked arena is ours alone; its address is exposed.
    unsafe { heap.init(arena.as_mut_ptr().expose_provenance(), arena.len()) }.unwrap();
    // SAFETY: as above.
    unsafe {
        let p = calloc(&heap, set_errno, 1, 1 << 20);
        assert!(!p.is_null());
        assert!(heap.used_bytes() > 1 << 20, "served by the engine");
        free(&heap, p);
        assert!(malloc(&heap, set_errno, 8 << 20).is_null());
        assert_eq!(errno(), 12);
    }
    assert_eq!(heap.used_bytes(), 0);
}

/// A heap whose chunks say they are zero-filled (but are not, so that a
/// write would show): `calloc` of a huge block must not write, and must
/// write when the chunk is not known to be zero.
struct ChunkHeap {
    inner: GlobalAllocator<SlabByteAllocator, SystemSource>,
    claim_zeroed: bool,
    chunks: Mutex<Vec<(usize, usize)>>,
}

// SAFETY: blocks are the `GlobalAllocator`'s; chunks are fresh `System`
// allocations of `size` bytes aligned to 4096, which the tests free once.
// (`zeroed` lies on purpose when `claim_zeroed`: the test only reads the
// bytes, which are initialised.)
unsafe impl CHeap for ChunkHeap {
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        CHeap::alloc(&self.inner, layout)
    }
    unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { CHeap::dealloc(&self.inner, ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded.
        unsafe { CHeap::realloc(&self.inner, ptr, layout, new_size) }
    }
    fn direct_threshold(&self) -> usize {
        DEFAULT_DIRECT_THRESHOLD
    }
    fn alloc_chunk(&self, size: usize, align: usize) -> Option<Chunk> {
        let layout = Layout::from_size_align(size, align.max(4096)).ok()?;
        // SAFETY: a non-zero layout.
        let start = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        // SAFETY: fresh, `size` bytes.
        unsafe { start.as_ptr().write_bytes(0xaa, size) };
        self.chunks.lock().unwrap().push((start.as_ptr().addr(), size));
        Some(Chunk { start, size, zeroed: self.claim_zeroed })
    }
    unsafe fn dealloc_chunk(&self, start: NonNull<u8>, size: usize) {
        let mut chunks = self.chunks.lock().unwrap();
        let index = chunks.iter().position(|&c| c == (start.as_ptr().addr(), size)).unwrap();
        chunks.swap_remove(index);
        let layout = Layout::from_size_align(size, 4096).unwrap();
        // SAFETY: the chunk from `alloc_chunk` with this layout.
        unsafe { std::alloc::dealloc(start.as_ptr(), layout) };
    }
}

#[test]
fn calloc_skips_zeroing_only_known_zero_chunks() {
    for claim_zeroed in [true, false] {
        let heap = ChunkHeap { inner: heap(), claim_zeroed, chunks: Mutex::new(Vec::new()) };
        let size = DEFAULT_DIRECT_THRESHOLD * 2;
        // SAFETY: as above.
        unsafe {
            let p = calloc(&heap, set_errno, 1, size).cast::<u8>();
            assert_eq!(heap.chunks.lock().unwrap().len(), 1, "a huge block is a chunk");
            let bytes = core::slice::from_raw_parts(p, size);
            let written = bytes.iter().filter(|&&b| b == 0).count();
            // Known zero: none of the bytes written (the test chunk holds 0xaa
            // to show it); not known zero: every byte written.
            assert_eq!(written, if claim_zeroed { 0 } else { size }, "claim_zeroed {claim_zeroed}");
            // The test chunk is exactly the block and its 16-byte header.
            assert_eq!(malloc_usable_size(&heap, p.cast()), size);
            free(&heap, p.cast());
            // Below the threshold, memory from the engine is always written.
            let small = calloc(&heap, set_errno, 1, 1000).cast::<u8>();
            assert!(core::slice::from_raw_parts(small, 1000).iter().all(|&b| b == 0));
            free(&heap, small.cast());
        }
        assert!(heap.chunks.lock().unwrap().is_empty(), "free gave the chunk back");
        assert_eq!(heap.inner.used_bytes(), 0);
    }
}

/// The same rules through the per-CPU cache layer (`PerCpu` is a `CHeap`):
/// blocks of one thread freed by another, realloc across its classes.
#[test]
fn through_per_thread_caches() {
    use allocator_global::{DefaultRawMutex, PerCpu, ThreadSlots};
    static CACHED: PerCpu<SlabByteAllocator, SystemSource, DefaultRawMutex, ThreadSlots, 4> =
        PerCpu::new(GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new()));
    let blocks: Vec<usize> = std::thread::spawn(|| {
        (0..2000usize)
            .map(|i| {
                // SAFETY: a fresh block of `i % 600 + 1` bytes, freed below.
                unsafe {
                    let p = malloc(&CACHED, set_errno, i % 600 + 1);
                    p.cast::<u8>().write((i % 251) as u8);
                    p.expose_provenance()
                }
            })
            .collect()
    })
    .join()
    .unwrap();
    for (i, &address) in blocks.iter().enumerate() {
        let p = std::ptr::with_exposed_provenance_mut::<c_void>(address);
        // SAFETY: live blocks of the other thread, resized and freed once.
        unsafe {
            let q = realloc(&CACHED, set_errno, p, i % 5000 + 1);
            assert_eq!(q.cast::<u8>().read(), (i % 251) as u8);
            assert!(malloc_usable_size(&CACHED, q) > i % 5000);
            free(&CACHED, q);
        }
    }
    // SAFETY: as above.
    unsafe {
        let z = calloc(&CACHED, set_errno, 1, 1 << 20);
        assert!(core::slice::from_raw_parts(z.cast::<u8>(), 1 << 20).iter().all(|&b| b == 0));
        free(&CACHED, z);
    }
    CACHED.drain();
    assert_eq!(CACHED.heap().used_bytes(), 0);
}
