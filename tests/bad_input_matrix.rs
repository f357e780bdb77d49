//! The bad-input matrix of issue 6: every bad input a caller can pass, against
//! every allocator of the facade, with the exact result asserted.
//!
//! One `#[test]` per row; inside, one assertion per allocator (column). The
//! table in the README's reliability section names these tests. The
//! conformance suites check the same inputs more loosely ("an error, and
//! nothing written"); here each cell is the one answer the allocator gives.
//!
//! Run: `cargo test --features full --test bad_input_matrix`.
// With `allocator_api` (nightly) allocator-api2's trait is core's.
#![cfg_attr(feature = "allocator_api", feature(allocator_api))]

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use allocator::slab::MIN_REGION_SIZE as SLAB_MIN_REGION;
use allocator::{
    AllocError, AllocResult, AllocatorRc, BaseAllocator, BitmapFrameAllocator, BitmapIdAllocator,
    BuddyByteAllocator, ByteAllocator, GlobalAllocator, IdAllocator, NoSource, PageAllocator,
    PageAllocatorSource, SlabByteAllocator, TlsfByteAllocator,
};
use allocator_api2::alloc::Allocator;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;
const PAGE: usize = 4096;

/// Memory for one test allocator: `size` bytes whose start is aligned to
/// `align` and *not* to `2 * align`, so results that depend on the region's
/// alignment are the same on every run. Freed on drop (declare it before the
/// allocator that uses it, so it outlives the allocator).
struct Arena {
    base: NonNull<u8>,
    layout: Layout,
    start: usize,
    size: usize,
}

impl Arena {
    fn new(size: usize, align: usize) -> Self {
        let layout = Layout::from_size_align(size + 2 * align, 2 * align).expect("arena layout");
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).expect("host memory");
        // `base` is aligned to `2 * align`, so `base + align` is aligned to
        // `align` and not to `2 * align`.
        let start = base.as_ptr().wrapping_add(align).expose_provenance();
        Self { base, layout, start, size }
    }

    /// `size` bytes starting exactly `offset` bytes past a `boundary`-aligned
    /// address (`offset` a multiple of `boundary`'s lower powers of two):
    /// a placement the tests can state, not one left to the host allocator.
    fn at_offset(size: usize, boundary: usize, offset: usize) -> Self {
        let layout = Layout::from_size_align(size + offset, boundary).expect("arena layout");
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).expect("host memory");
        let start = base.as_ptr().wrapping_add(offset).expose_provenance();
        Self { base, layout, start, size }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

/// The four byte allocators (columns), each made fresh and uninitialised.
fn tlsf() -> TlsfByteAllocator {
    TlsfByteAllocator::new()
}
fn buddy() -> BuddyByteAllocator {
    BuddyByteAllocator::new()
}
fn slab_buddy() -> SlabByteAllocator<BuddyByteAllocator> {
    SlabByteAllocator::with_backing(BuddyByteAllocator::new())
}
fn slab_tlsf() -> SlabByteAllocator {
    SlabByteAllocator::new()
}

/// `init` of a fresh allocator with `[start, start + size)`.
fn init<A: ByteAllocator>(make: fn() -> A, start: usize, size: usize) -> (A, AllocResult) {
    let mut alloc = make();
    // SAFETY: the tests pass either memory of an arena that outlives the
    // allocator, or ranges the allocator must refuse before touching them
    // (the contract under test).
    let result = unsafe { alloc.init(start, size) };
    (alloc, result)
}

/// A byte allocator initialised with `[start, start + size)`, memory of an
/// arena that outlives it.
fn ready<A: ByteAllocator>(make: fn() -> A, start: usize, size: usize) -> A {
    let (alloc, result) = init(make, start, size);
    result.expect("init with a good arena");
    alloc
}

/// Allocates `layout`, checks the pointer is aligned, frees it; the error
/// otherwise.
fn alloc_free<A: ByteAllocator + ?Sized>(alloc: &mut A, layout: Layout) -> AllocResult {
    let ptr = alloc.alloc(layout)?;
    assert_eq!(ptr.as_ptr().addr() % layout.align(), 0, "{layout:?} misaligned");
    // SAFETY: just allocated with `layout`.
    unsafe { alloc.dealloc(ptr, layout) };
    Ok(())
}

/// Makes an initialised byte allocator from `[start, start + size)`.
type MakeReady<'a> = &'a dyn Fn(usize, usize) -> Box<dyn ByteAllocator>;

/// Runs `row` on each byte allocator, in column order.
fn each_byte_allocator(mut row: impl FnMut(&str, MakeReady<'_>)) {
    row("TLSF", &|start, size| Box::new(ready(tlsf, start, size)));
    row("buddy", &|start, size| Box::new(ready(buddy, start, size)));
    row("slab/buddy", &|start, size| Box::new(ready(slab_buddy, start, size)));
    row("slab/TLSF", &|start, size| Box::new(ready(slab_tlsf, start, size)));
}

/// An `AllocatorRc` over TLSF with a leaked pool of `size` bytes.
fn rc_with_pool(size: usize) -> AllocResult<AllocatorRc<TlsfByteAllocator>> {
    AllocatorRc::new(TlsfByteAllocator::new(), Box::leak(vec![0u8; size].into_boxed_slice()))
}

/// A `GlobalAllocator` over TLSF without a page source and without memory.
fn bare_global() -> GlobalAllocator<TlsfByteAllocator> {
    GlobalAllocator::new(TlsfByteAllocator::new(), NoSource::new())
}

/// A `GlobalAllocator` over TLSF growing from (and passing through) a bitmap
/// page allocator over `num_pages` pages of real, leaked memory (none: the
/// page allocator is left empty); returns it and the end of those pages.
fn paged_global(num_pages: usize) -> (GlobalAllocator<TlsfByteAllocator, PageAllocatorSource<Pages>>, usize) {
    let mut pages = new_pages();
    let mut end = 0;
    if num_pages > 0 {
        let memory: &'static mut [u8] = vec![0u8; (num_pages + 1) * PAGE].leak();
        let start = memory.as_mut_ptr().expose_provenance().next_multiple_of(PAGE);
        end = start + num_pages * PAGE;
        // SAFETY: leaked, so used by nothing else and alive forever; its
        // address is exposed just above; one page of slack covers the rounding.
        unsafe { pages.init(start, num_pages * PAGE) }.expect("init of the pages");
    }
    // SAFETY: the page allocator manages only the leaked memory above: mapped,
    // writable, unused, exposed, alive forever.
    (GlobalAllocator::new(TlsfByteAllocator::new(), unsafe { PageAllocatorSource::new(pages) }), end)
}

/// A `GlobalAllocator` over TLSF without a page source, given `arena`.
fn global(arena: &Arena) -> GlobalAllocator<TlsfByteAllocator> {
    let global = bare_global();
    // SAFETY: the arena is memory nothing else uses and outlives `global`.
    unsafe { global.init(arena.start, arena.size) }.expect("init with a good arena");
    global
}

/// A page allocator (4 KiB pages) managing 256 pages at 1 GiB. Page
/// allocators never touch the memory they manage, so any address will do.
/// The page allocator of the matrix: frames over a caller's bitmap (here
/// leaked, for a span of 256 MiB of pages), with no capacity feature, so the
/// matrix runs the same under `--all-features` (where the inline
/// `BitmapPageAllocator` of `page-alloc-1t` is 33 MiB by value).
type Pages = BitmapFrameAllocator<PAGE>;

/// A fresh page allocator spanning up to 256 MiB of pages.
fn new_pages() -> Pages {
    Pages::with_bitmap(vec![0; Pages::bitmap_words_for_bytes(256 * MIB)].leak())
}

fn pages() -> Pages {
    let mut pages = new_pages();
    // SAFETY: the bitmap page allocator keeps its bitmap inside itself and
    // never writes to the pages it manages.
    unsafe { pages.init(GIB, 256 * PAGE) }.expect("init of 256 pages");
    pages
}

/// An ID allocator managing IDs `0..1024`.
fn ids() -> BitmapIdAllocator {
    let mut ids = BitmapIdAllocator::new();
    // SAFETY: IDs are not memory.
    unsafe { ids.init(0, 1024) }.expect("init of 1024 IDs");
    ids
}

#[test]
fn zero_size_layouts() {
    for align in [1, 8, 64, PAGE] {
        let layout = Layout::from_size_align(0, align).expect("layout");
        each_byte_allocator(|name, make| {
            let arena = Arena::new(MIB, PAGE);
            let mut alloc = make(arena.start, arena.size);
            // Two zero-size blocks get distinct, aligned pointers.
            let first = alloc.alloc(layout).expect("a zero-size block");
            let second = alloc.alloc(layout).expect("a second zero-size block");
            assert_ne!(first, second, "{name}: zero-size blocks share a pointer");
            assert!(alloc.used_bytes() > 0, "{name}: zero-size blocks are real blocks");
            for ptr in [first, second] {
                assert_eq!(ptr.as_ptr().addr() % align, 0, "{name}: {layout:?} misaligned");
                // SAFETY: allocated just above with `layout`.
                unsafe { alloc.dealloc(ptr, layout) };
            }
            assert_eq!(alloc.used_bytes(), 0, "{name}");
        });
        let rc = rc_with_pool(64 * KIB).expect("a pool of 64 KiB");
        let block = rc.allocate(layout).expect("AllocatorRc: a zero-size block");
        // SAFETY: allocated just above with `layout`.
        unsafe { rc.deallocate(block.cast(), layout) };
        let arena = Arena::new(MIB, PAGE);
        let global = global(&arena);
        let ptr = global.alloc_block(layout).expect("GlobalAllocator: a zero-size block");
        // SAFETY: allocated just above with `layout`.
        unsafe { global.dealloc_block(ptr, layout) };
    }
    // Zero pages and zero IDs are requests for nothing: InvalidParam.
    assert_eq!(pages().alloc_pages(0, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(ids().alloc_id(0, 1), Err(AllocError::InvalidParam));
}

#[test]
fn usize_max_sizes() {
    // The largest sizes a `Layout` can hold (isize::MAX rounded down to the
    // alignment), and reallocs to usize::MAX.
    let huge = [(isize::MAX as usize, 1), (isize::MAX as usize - 7, 8), (isize::MAX as usize - 4095, 4096)];
    each_byte_allocator(|name, make| {
        let arena = Arena::new(MIB, PAGE);
        let mut alloc = make(arena.start, arena.size);
        for (size, align) in huge {
            let layout = Layout::from_size_align(size, align).expect("layout");
            assert_eq!(alloc.alloc(layout), Err(AllocError::NoMemory), "{name}: alloc({layout:?})");
        }
        let layout = Layout::from_size_align(64, 8).expect("layout");
        let ptr = alloc.alloc(layout).expect("a small block");
        for new_size in [isize::MAX as usize, usize::MAX - 7, usize::MAX] {
            // SAFETY: `ptr` is live with `layout`; a failed realloc keeps it.
            let result = unsafe { alloc.realloc(ptr, layout, new_size) };
            assert_eq!(result, Err(AllocError::NoMemory), "{name}: realloc to {new_size:#x}");
        }
        // SAFETY: still live with `layout`.
        unsafe { alloc.dealloc(ptr, layout) };
        assert_eq!(alloc.used_bytes(), 0, "{name}");
    });
    let rc = rc_with_pool(64 * KIB).expect("a pool of 64 KiB");
    for (size, align) in huge {
        let layout = Layout::from_size_align(size, align).expect("layout");
        assert!(rc.allocate(layout).is_err(), "AllocatorRc: allocate({layout:?})");
    }
    let arena = Arena::new(MIB, PAGE);
    let global = global(&arena);
    for (size, align) in huge {
        let layout = Layout::from_size_align(size, align).expect("layout");
        assert_eq!(global.alloc_block(layout), Err(AllocError::NoMemory), "GlobalAllocator: {layout:?}");
        // SAFETY: the layout has a non-zero size.
        assert!(unsafe { GlobalAlloc::alloc(&global, layout) }.is_null(), "GlobalAlloc::alloc({layout:?})");
    }
    let mut pages = pages();
    for count in [257, usize::MAX / PAGE, usize::MAX] {
        assert_eq!(pages.alloc_pages(count, PAGE), Err(AllocError::NoMemory), "alloc_pages({count:#x})");
    }
    let mut ids = ids();
    for count in [1025, usize::MAX] {
        assert_eq!(ids.alloc_id(count, 1), Err(AllocError::NoMemory), "alloc_id({count:#x})");
    }
}

/// The largest alignment (of 2^0 to 2^30) each allocator serves for an
/// 8-byte block in a fresh 1 MiB heap that starts 4 KiB past a 1 MiB
/// boundary: 512 KiB for all (the region holds one aligned 512 KiB half);
/// every larger one is `NoMemory`, never `InvalidParam`, never a panic. (The
/// start is placed: in the last 8 KiB before a 512 KiB boundary the buddy's
/// bitmap would leave room for 256 KiB only.)
#[test]
fn alignments_1_to_1_gib() {
    let expected =
        [("TLSF", 512 * KIB), ("buddy", 512 * KIB), ("slab/buddy", 512 * KIB), ("slab/TLSF", 512 * KIB)];
    let mut column = 0;
    each_byte_allocator(|name, make| {
        let arena = Arena::at_offset(MIB, MIB, PAGE);
        let mut alloc = make(arena.start, arena.size);
        let mut largest = 0;
        for shift in 0..=30 {
            let layout = Layout::from_size_align(8, 1 << shift).expect("layout");
            match alloc_free(alloc.as_mut(), layout) {
                Ok(()) => {
                    assert_eq!(
                        largest,
                        (1 << shift) / 2,
                        "{name}: align {} served after a refusal",
                        1 << shift
                    );
                    largest = 1 << shift;
                }
                Err(e) => assert_eq!(e, AllocError::NoMemory, "{name}: align {}", 1 << shift),
            }
        }
        assert_eq!((name, largest), expected[column], "largest alignment served");
        column += 1;
    });
    // AllocatorRc over TLSF, in a pool of 1 MiB + 8 KiB at an address
    // only known to be 16-byte aligned: up to 4 KiB always served, 1 MiB and
    // beyond never (an error, which `allocator_api2::alloc::AllocError`
    // does not name).
    let rc = rc_with_pool(MIB + 2 * PAGE).expect("a pool of 1 MiB");
    for shift in 0..=30 {
        let layout = Layout::from_size_align(8, 1 << shift).expect("layout");
        let result = rc.allocate(layout);
        match result {
            // SAFETY: allocated just above with `layout`.
            Ok(block) => unsafe { rc.deallocate(block.cast(), layout) },
            Err(_) => assert!(shift > 12, "AllocatorRc: align 2^{shift} refused"),
        }
        assert!(shift < 20 || result.is_err(), "AllocatorRc: align 2^{shift} served");
    }
    let arena = Arena::new(MIB, PAGE);
    let global = global(&arena);
    for shift in 0..=30 {
        let layout = Layout::from_size_align(8, 1 << shift).expect("layout");
        let result = global.alloc_block(layout);
        if shift <= 19 {
            // SAFETY: allocated just above with `layout`.
            unsafe {
                global.dealloc_block(result.expect("GlobalAllocator over TLSF: up to 512 KiB"), layout)
            };
        } else {
            assert_eq!(result, Err(AllocError::NoMemory), "GlobalAllocator: align 2^{shift}");
        }
    }
    // Pages: every power of two of at least a page that some page of the
    // region is a multiple of; 1 GiB is (the region starts there), 2 GiB is
    // not. Below a page, or not a power of two: InvalidParam.
    let mut pages = pages();
    for align in [PAGE, 64 * KIB, MIB, GIB] {
        let page = pages.alloc_pages(1, align).expect("an aligned page");
        assert_eq!(page % align, 0);
        // SAFETY: allocated just above.
        unsafe { pages.dealloc_pages(page, 1) };
    }
    assert_eq!(pages.alloc_pages(1, 2 * GIB), Err(AllocError::NoMemory));
    for align in [0, 1, 8, PAGE / 2, 3 * PAGE] {
        assert_eq!(pages.alloc_pages(1, align), Err(AllocError::InvalidParam), "alloc_pages align {align}");
    }
    // IDs: ID 0 is a multiple of everything; a range from 3 has none
    // aligned to more than its size.
    let mut ids = ids();
    for shift in 0..=30 {
        assert_eq!(ids.alloc_id(1, 1 << shift), Ok(0), "alloc_id align 2^{shift}");
        ids.dealloc_id(0, 1);
    }
    assert_eq!(ids.alloc_id(1, 3), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_id(1, 0), Err(AllocError::InvalidParam));
    let mut ids_from_3 = BitmapIdAllocator::new();
    // SAFETY: IDs are not memory.
    unsafe { ids_from_3.init(3, 1024) }.expect("IDs 3..1027");
    assert_eq!(ids_from_3.alloc_id(1, 1024), Ok(1024));
    assert_eq!(ids_from_3.alloc_id(1, 2048), Err(AllocError::NoMemory));
}

/// Regions of 0, 1 and 4095 bytes, and one of exactly the smallest size
/// each accepts.
#[test]
fn regions_of_0_1_and_4095_bytes() {
    fn sizes<A: ByteAllocator>(make: fn() -> A) -> [AllocResult; 3] {
        let arena = Arena::new(2 * PAGE, PAGE);
        [0, 1, 4095].map(|size| init(make, arena.start, size).1)
    }
    let (ok, bad) = (Ok(()), Err(AllocError::InvalidParam));
    assert_eq!(sizes(tlsf), [bad, bad, ok], "TLSF takes pools from MIN_POOL_SIZE (64 bytes)");
    assert_eq!(sizes(buddy), [bad, bad, ok], "buddy takes regions from MIN_REGION_SIZE (32 bytes)");
    assert_eq!(sizes(slab_buddy), [bad, bad, bad], "slab needs one slab (4 KiB)");
    assert_eq!(sizes(slab_tlsf), [bad, bad, bad], "slab needs one slab (4 KiB)");
    let arena = Arena::new(2 * PAGE, PAGE);
    assert_eq!(init(slab_buddy, arena.start, SLAB_MIN_REGION).1, ok, "slab/buddy: one slab");
    assert_eq!(init(slab_tlsf, arena.start, SLAB_MIN_REGION).1, ok, "slab/TLSF: one slab");
    for (size, expected) in [(0, bad), (1, bad), (4095, ok)] {
        assert_eq!(rc_with_pool(size).map(|_| ()), expected, "AllocatorRc::new with {size} bytes");
        let global = bare_global();
        // SAFETY: arena memory, outliving `global`.
        assert_eq!(unsafe { global.init(arena.start, size) }, expected, "GlobalAllocator::init({size})");
    }
    // Page allocators need one whole page.
    for size in [0, 1, 4095] {
        let mut pages = new_pages();
        // SAFETY: the page allocator never touches the pages.
        assert_eq!(unsafe { pages.init(GIB, size) }, bad, "pages init({size})");
    }
    // IDs: any non-empty range.
    for (size, expected) in [(0, bad), (1, ok), (4095, ok)] {
        let mut ids = BitmapIdAllocator::new();
        // SAFETY: IDs are not memory.
        assert_eq!(unsafe { ids.init(0, size) }, expected, "IDs init(0, {size})");
    }
}

/// Starts 1 to 4095 bytes past a page boundary: trimmed inwards, never
/// refused (a region this large always has room left); nothing outside the
/// range is managed.
#[test]
fn unaligned_starts() {
    for offset in [1, 3, 8, 15, 2049, 4095] {
        each_byte_allocator(|name, make| {
            let arena = Arena::new(MIB + PAGE, PAGE);
            let start = arena.start + offset;
            let mut alloc = make(start, MIB);
            assert!(alloc.total_bytes() <= MIB, "{name}: offset {offset}");
            let layout = Layout::from_size_align(64 * KIB, 8).expect("layout");
            let ptr = alloc.alloc(layout).expect("a block from the trimmed region");
            let addr = ptr.as_ptr().addr();
            assert!(addr >= start && addr + layout.size() <= start + MIB, "{name}");
            // SAFETY: allocated just above with `layout`.
            unsafe { alloc.dealloc(ptr, layout) };
        });
        let mut pages = new_pages();
        // SAFETY: the page allocator never touches the pages.
        assert_eq!(unsafe { pages.init(GIB + offset, 16 * PAGE) }, Ok(()));
        assert_eq!(pages.total_pages(), 15, "pages: offset {offset} trims to whole pages");
    }
}

/// Ranges whose end overflows the address space: `InvalidParam`, for `init`
/// and `add_memory`.
#[test]
fn ranges_overflowing_the_address_space() {
    let bad =
        [(usize::MAX - 100, 4096), (usize::MAX - 4095, 4096), (usize::MAX & !4095, 8192), (4096, usize::MAX)];
    fn check<A: ByteAllocator>(name: &str, make: fn() -> A, bad: &[(usize, usize)]) {
        let arena = Arena::new(MIB, PAGE);
        let mut alloc = make();
        for &(start, size) in bad {
            assert_eq!(init(make, start, size).1, Err(AllocError::InvalidParam), "{name}: init({start:#x})");
        }
        // SAFETY: arena memory, outliving `alloc`.
        unsafe { alloc.init(arena.start, arena.size) }.expect("init");
        for &(start, size) in bad {
            // SAFETY: refused before it is touched (the contract under test).
            let result = unsafe { alloc.add_memory(start, size) };
            assert_eq!(result, Err(AllocError::InvalidParam), "{name}: add_memory({start:#x}, {size:#x})");
        }
    }
    check("TLSF", tlsf, &bad);
    check("buddy", buddy, &bad);
    check("slab/buddy", slab_buddy, &bad);
    check("slab/TLSF", slab_tlsf, &bad);
    let global = bare_global();
    for (start, size) in bad {
        // SAFETY: refused before it is touched.
        assert_eq!(unsafe { global.init(start, size) }, Err(AllocError::InvalidParam), "GlobalAllocator");
    }
    let mut pages = pages();
    let mut ids = ids();
    for (start, size) in bad {
        // SAFETY: page and ID allocators never touch the range.
        unsafe {
            assert_eq!(new_pages().init(start, size), Err(AllocError::InvalidParam));
            assert_eq!(pages.add_memory(start, size), Err(AllocError::InvalidParam));
            assert_eq!(BitmapIdAllocator::new().init(start, size), Err(AllocError::InvalidParam));
            assert_eq!(ids.add_memory(start, size), Err(AllocError::InvalidParam));
        }
    }
}

/// Overlapping and duplicate `add_memory`: `MemoryOverlap`, nothing written;
/// an adjacent region is accepted.
#[test]
fn overlapping_and_duplicate_add_memory() {
    let unit = 64 * KIB;
    each_byte_allocator(|name, make| {
        let arena = Arena::new(4 * unit, PAGE);
        let s = arena.start;
        let mut alloc = make(s + unit, unit);
        let half = unit / 2;
        for (what, start, end) in [
            ("duplicate", s + unit, s + 2 * unit),
            ("overlapping its start", s + half, s + unit + half),
            ("overlapping its end", s + unit + half, s + 2 * unit + half),
            ("containing it", s, s + 4 * unit),
            ("inside it", s + unit + half / 2, s + unit + half),
        ] {
            // SAFETY: arena memory; refused before it is touched.
            let result = unsafe { alloc.add_memory(start, end - start) };
            assert_eq!(result, Err(AllocError::MemoryOverlap), "{name}: add_memory of a region {what}");
        }
        // SAFETY: arena memory no allocator manages yet.
        assert_eq!(unsafe { alloc.add_memory(s + 2 * unit, unit) }, Ok(()), "{name}: adjacent");
    });
    let arena = Arena::new(4 * unit, PAGE);
    let global = global(&arena);
    // SAFETY: refused before it is touched.
    let result = unsafe { global.add_memory(arena.start + unit, unit) };
    assert_eq!(result, Err(AllocError::MemoryOverlap), "GlobalAllocator: duplicate");
    let mut pages = pages();
    let mut ids = ids();
    // SAFETY: page and ID allocators never touch the ranges.
    unsafe {
        assert_eq!(pages.add_memory(GIB, 256 * PAGE), Err(AllocError::MemoryOverlap), "pages: duplicate");
        assert_eq!(pages.add_memory(GIB - PAGE, 2 * PAGE), Err(AllocError::MemoryOverlap), "pages: overlap");
        assert_eq!(pages.add_memory(GIB + 256 * PAGE, PAGE), Ok(()), "pages: adjacent");
        assert_eq!(ids.add_memory(0, 1024), Err(AllocError::MemoryOverlap), "IDs: duplicate");
        assert_eq!(ids.add_memory(1000, 100), Err(AllocError::MemoryOverlap), "IDs: overlap");
        assert_eq!(ids.add_memory(1024, 100), Ok(()), "IDs: adjacent");
    }
}

/// `init` on an initialised allocator: with the same region and with another
/// one. TLSF and buddy tell an overlapping second `init` apart
/// (`MemoryOverlap`); slab gives its backing allocator's answer.
#[test]
fn init_twice() {
    fn twice<A: ByteAllocator>(make: fn() -> A) -> [AllocResult; 2] {
        let (first, other) = (Arena::new(64 * KIB, PAGE), Arena::new(64 * KIB, PAGE));
        let mut alloc = ready(make, first.start, first.size);
        // SAFETY: arena memory; refused before it is touched.
        unsafe { [alloc.init(first.start, first.size), alloc.init(other.start, other.size)] }
    }
    let (overlap, invalid) = (Err(AllocError::MemoryOverlap), Err(AllocError::InvalidParam));
    assert_eq!(twice(tlsf), [overlap, invalid], "TLSF");
    assert_eq!(twice(buddy), [overlap, invalid], "buddy");
    assert_eq!(twice(slab_buddy), [overlap, invalid], "slab/buddy");
    assert_eq!(twice(slab_tlsf), [overlap, invalid], "slab/TLSF");
    let (first, other) = (Arena::new(64 * KIB, PAGE), Arena::new(64 * KIB, PAGE));
    let global = global(&first);
    // SAFETY: refused before it is touched.
    unsafe {
        assert_eq!(
            global.init(first.start, first.size),
            overlap,
            "GlobalAllocator: same region (its engine's answer)"
        );
        assert_eq!(global.init(other.start, other.size), invalid, "GlobalAllocator: another region");
    }
    let mut pages = pages();
    let mut ids = ids();
    // SAFETY: page and ID allocators never touch the ranges.
    unsafe {
        assert_eq!(pages.init(GIB, 256 * PAGE), overlap, "pages: same region");
        assert_eq!(pages.init(2 * GIB, PAGE), invalid, "pages: another region");
        assert_eq!(ids.init(0, 1024), overlap, "IDs: same range");
        assert_eq!(ids.init(5000, 10), invalid, "IDs: another range");
    }
}

/// Calls before `init`: every allocation is `NoMemory` (null through
/// `GlobalAlloc`), the statistics are zero, frees of anything are ignored by
/// the page and ID allocators.
#[test]
fn calls_before_init() {
    fn before<A: ByteAllocator>(make: fn() -> A) -> (AllocResult<NonNull<u8>>, [usize; 3]) {
        let mut alloc = make();
        (
            alloc.alloc(Layout::new::<u64>()),
            [alloc.total_bytes(), alloc.used_bytes(), alloc.available_bytes()],
        )
    }
    let expected = (Err(AllocError::NoMemory), [0, 0, 0]);
    assert_eq!(before(tlsf), expected, "TLSF");
    assert_eq!(before(buddy), expected, "buddy");
    assert_eq!(before(slab_buddy), expected, "slab/buddy");
    assert_eq!(before(slab_tlsf), expected, "slab/TLSF");
    let rc = AllocatorRc::from(TlsfByteAllocator::new());
    assert!(rc.allocate(Layout::new::<u64>()).is_err(), "AllocatorRc");
    assert_eq!(rc.total_bytes(), 0);
    let global = bare_global();
    assert_eq!(global.alloc_block(Layout::new::<u64>()), Err(AllocError::NoMemory), "GlobalAllocator");
    // SAFETY: the layout has a non-zero size.
    assert!(unsafe { GlobalAlloc::alloc(&global, Layout::new::<u64>()) }.is_null(), "GlobalAlloc::alloc");
    assert_eq!(global.total_bytes(), 0);
    let mut pages = new_pages();
    assert_eq!(pages.alloc_pages(1, PAGE), Err(AllocError::NoMemory), "pages");
    assert_eq!(pages.alloc_pages_at(GIB, 1, PAGE), Err(AllocError::InvalidParam), "pages: at");
    // SAFETY: ignored: no page is managed (the contract under test).
    unsafe { pages.dealloc_pages(GIB, 1) };
    assert_eq!([pages.total_pages(), pages.used_pages(), pages.available_pages()], [0, 0, 0]);
    let mut ids = BitmapIdAllocator::new();
    assert_eq!(ids.alloc_id(1, 1), Err(AllocError::NoMemory), "IDs");
    assert_eq!(ids.alloc_fixed_id(0), Err(AllocError::InvalidParam), "IDs: fixed");
    ids.dealloc_id(0, 1);
    assert!(!ids.is_allocated(0));
    assert_eq!([ids.size(), ids.used(), ids.available()], [0, 0, 0]);
    // A page source without memory: the heap cannot grow.
    let (global, _) = paged_global(0);
    assert_eq!(
        global.alloc_block(Layout::new::<u64>()),
        Err(AllocError::NoMemory),
        "GlobalAllocator with an empty page source"
    );
    assert_eq!(global.alloc_pages(1, PAGE), Err(AllocError::NoMemory), "GlobalAllocator::alloc_pages");
}

/// `alloc_pages(0)`: `InvalidParam`, directly and through the global
/// allocator's page passthrough; `alloc_pages_at` of 0 pages too.
#[test]
fn alloc_pages_zero() {
    let mut pages = pages();
    assert_eq!(pages.alloc_pages(0, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(pages.alloc_pages_at(GIB, 0, PAGE), Err(AllocError::InvalidParam));
    assert_eq!(pages.used_pages(), 0);
    let (global, _) = paged_global(256);
    assert_eq!(global.alloc_pages(0, PAGE), Err(AllocError::InvalidParam), "GlobalAllocator::alloc_pages");
}

/// `dealloc_pages` of pages never allocated (free, outside every region,
/// unaligned, zero pages, straddling an allocation): ignored as a whole.
/// `dealloc_id` of free or unmanaged IDs: ignored.
#[test]
fn dealloc_of_pages_never_allocated() {
    let mut pages = pages();
    let kept = pages.alloc_pages(4, PAGE).expect("4 pages");
    for (pos, count) in [
        (GIB + 100 * PAGE, 1),
        (GIB + 100 * PAGE, 10),
        (kept, 5),
        (kept + 1, 1),
        (kept, 0),
        (0, 1),
        (2 * GIB, 1),
        (usize::MAX & !(PAGE - 1), 2),
        (GIB + 255 * PAGE, usize::MAX),
    ] {
        // SAFETY: ignored (the contract under test); nothing is memory.
        unsafe { pages.dealloc_pages(pos, count) };
        assert_eq!(pages.used_pages(), 4, "dealloc_pages({pos:#x}, {count}) changed something");
    }
    assert_eq!(
        pages.alloc_pages_at(kept, 1, PAGE),
        Err(AllocError::NoMemory),
        "the kept pages are still used"
    );
    let mut ids = ids();
    let kept = ids.alloc_id(4, 1).expect("4 IDs");
    ids.dealloc_id(100, 10);
    ids.dealloc_id(5000, 1);
    ids.dealloc_id(usize::MAX, usize::MAX);
    assert_eq!(ids.used(), 4);
    ids.dealloc_id(kept + 2, 10);
    assert_eq!(ids.used(), 2, "IDs: the allocated ones of the range are freed, the rest ignored");
}

/// `alloc_pages_at` outside the region (before, after, across its end,
/// unaligned base): `InvalidParam`; inside but in use: `NoMemory`.
#[test]
fn alloc_pages_at_outside_the_region() {
    let mut pages = pages();
    let end = GIB + 256 * PAGE;
    for (base, count) in
        [(GIB - PAGE, 1), (GIB - PAGE, 2), (end, 1), (end - PAGE, 2), (0, 1), (usize::MAX & !(PAGE - 1), 2)]
    {
        assert_eq!(
            pages.alloc_pages_at(base, count, PAGE),
            Err(AllocError::InvalidParam),
            "at {base:#x} x {count}"
        );
    }
    assert_eq!(pages.alloc_pages_at(GIB + 1, 1, PAGE), Err(AllocError::InvalidParam), "unaligned base");
    assert_eq!(
        pages.alloc_pages_at(GIB + PAGE, 1, 2 * PAGE),
        Err(AllocError::InvalidParam),
        "base not aligned to align"
    );
    assert_eq!(pages.alloc_pages_at(GIB, 1, PAGE), Ok(GIB));
    assert_eq!(pages.alloc_pages_at(GIB, 1, PAGE), Err(AllocError::NoMemory), "in use");
    assert_eq!(pages.used_pages(), 1);
    let (global, global_end) = paged_global(256);
    assert_eq!(
        global.alloc_pages_at(global_end, 1, PAGE),
        Err(AllocError::InvalidParam),
        "GlobalAllocator::alloc_pages_at"
    );
    // IDs outside the range.
    let mut ids = ids();
    for id in [1024, 1025, 65_536, usize::MAX] {
        assert_eq!(ids.alloc_fixed_id(id), Err(AllocError::InvalidParam), "alloc_fixed_id({id})");
        assert!(!ids.is_allocated(id));
    }
}

/// IDs beyond capacity (65,536 for the default bitmap): a range larger than
/// the capacity, or one whose span from the lowest managed ID would exceed
/// it, is `InvalidParam`; so are pages beyond the page bitmap's capacity.
#[test]
fn ids_beyond_capacity() {
    let cap = <BitmapIdAllocator>::CAPACITY;
    assert_eq!(cap, 65_536);
    let mut ids = BitmapIdAllocator::new();
    // SAFETY: IDs are not memory.
    unsafe {
        assert_eq!(ids.init(0, cap + 1), Err(AllocError::InvalidParam), "init of capacity + 1 IDs");
        assert_eq!(ids.init(0, cap), Ok(()), "init of exactly the capacity");
        assert_eq!(ids.add_memory(cap, 1), Err(AllocError::InvalidParam), "one more ID beyond the span");
    }
    assert_eq!(ids.alloc_id(cap + 1, 1), Err(AllocError::NoMemory), "more IDs than managed");
    assert_eq!(ids.alloc_fixed_id(cap), Err(AllocError::InvalidParam));
    assert_eq!(ids.alloc_id(cap, 1), Ok(0), "all of them at once");
    assert_eq!(ids.alloc_id(1, 1), Err(AllocError::NoMemory), "full");
    let mut far = BitmapIdAllocator::new();
    // SAFETY: IDs are not memory.
    unsafe {
        assert_eq!(far.init(usize::MAX - cap, cap), Ok(()), "the highest IDs");
        assert_eq!(far.add_memory(0, 1), Err(AllocError::InvalidParam), "a span beyond capacity");
    }
    // 4 TiB of pages: beyond the page bitmap's span (256 MiB here).
    let mut pages = new_pages();
    // SAFETY: the page allocator never touches the pages.
    unsafe {
        assert_eq!(pages.init(GIB, 4 << 40), Err(AllocError::InvalidParam), "pages beyond capacity");
    }
}
