//! The hybrid heap: size classes served from slabs, large layouts passed to
//! the backing allocator.

mod check;
mod compat;
mod index;
mod stats;
// The checks, or their no-op twins: the same names either way.
#[cfg(feature = "debug-checks")]
mod debug;
#[cfg(not(feature = "debug-checks"))]
#[path = "heap/no_debug.rs"]
mod debug;

use core::{alloc::Layout, fmt, marker::PhantomData, ptr::NonNull};

use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{
    AllocError, AllocResult, ByteAllocator,
    region::{is_aligned, with_region_provenance},
};

pub use stats::{ClassStats, HeapClassStats};

use crate::classes::{ClassInfo, FineClasses, MAX_CLASSES, MIN_SLAB_SIZE, SizeClasses, Table};
use index::SlabIndex;

/// The smallest heap [`Heap::new`] accepts; its size must also be a multiple
/// of this (the rule of the original crate).
pub const MIN_HEAP_SIZE: usize = 0x8000;

/// The alignment [`Heap::new`] requires of the heap's start.
pub const HEAP_ALIGN: usize = 4096;

/// How many empty slabs each class keeps for reuse instead of returning them
/// to the backing allocator at once: one absorbs the alloc/free ping-pong at
/// a slab boundary. They are all returned before the heap reports
/// [`AllocError::NoMemory`].
///
/// When the cache has room, a class's only partial slab whose last block is
/// freed stays in the partial list instead (it is *parked*), so a class that
/// allocates and frees one block in turn never leaves its slab. A parked
/// slab counts against this number, as cached in the statistics, and goes
/// back with the cached ones.
pub const CACHED_EMPTY_SLABS: usize = 1;

/// The bytes at the end of each slab's aligned span that the heap does not
/// ask for: a slab is a `slab_size - SLAB_TAIL` byte chunk aligned to
/// `slab_size`.
///
/// A boundary-tag allocator such as TLSF puts a header (16 bytes in rlsf)
/// before every block, so slabs of full `slab_size` cut one after another
/// would each leave a gap of almost a slab before the next aligned address
/// (half the memory). Leaving the tail free lets the next slab's header sit
/// there: consecutive slabs pack with no gap. A buddy allocator rounds the
/// request back up to `slab_size`, so this costs it nothing.
pub const SLAB_TAIL: usize = 32;

/// What every slab loses to its header and tail.
pub(crate) const SLAB_OVERHEAD: usize = SLAB_TAIL + HEADER_SIZE;

/// The layout of a slab chunk of a class: the slab size less [`SLAB_TAIL`],
/// aligned to the slab size.
#[inline]
const fn slab_layout(info: &ClassInfo) -> Layout {
    match Layout::from_size_align(info.mask + 1 - SLAB_TAIL, info.mask + 1) {
        Ok(layout) => layout,
        // Never: slab sizes are powers of two from 4 KiB to 32 KiB.
        Err(_) => Layout::new::<SlabHeader>(),
    }
}

/// A free block: the link to the next free block of its slab, stored in the
/// block itself.
#[repr(C)]
struct FreeBlock {
    next: Option<NonNull<FreeBlock>>,
}

/// The bookkeeping of one slab, in the last `HEADER_SIZE` bytes of its chunk.
#[repr(C)]
struct SlabHeader {
    /// Blocks freed since the slab was last empty.
    free: Option<NonNull<FreeBlock>>,
    /// Links in the class's list of partial slabs (or, `next` only, its list
    /// of cached empty slabs).
    next: Option<NonNull<SlabHeader>>,
    prev: Option<NonNull<SlabHeader>>,
    /// Blocks handed out.
    used: u16,
    /// Blocks `0..carved` have been carved; `carved..capacity` never were.
    /// Carving on demand makes a new slab O(1) instead of O(blocks).
    carved: u16,
    /// The offset of block 0 from the slab's start: the slab's colour.
    colour: u16,
    /// With `debug-checks`, the slab's class, tagged, and a bit per block
    /// handed out (`debug::SlabDebug`); without, nothing (a zero-size type).
    debug: debug::SlabDebug,
}

pub(crate) const HEADER_SIZE: usize = size_of::<SlabHeader>();

// Without `debug-checks` a header is four words on 64-bit targets.
#[cfg(all(not(feature = "debug-checks"), target_pointer_width = "64"))]
const _: () = assert!(HEADER_SIZE == 4 * size_of::<usize>());

// A size class fills two cache lines on 64-bit targets; the fields of the
// fast paths lie in the first.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<SizeClass>() == 128 && core::mem::offset_of!(SizeClass, requested) < 64);

// The header sits at `header_offset`, which must be aligned for it, and
// every class must fit a free-list link.
const _: () = {
    assert!(SLAB_OVERHEAD % align_of::<SlabHeader>() == 0 && SLAB_TAIL % align_of::<SlabHeader>() == 0);
    assert!(
        size_of::<FreeBlock>() <= crate::classes::MIN_CLASS_SIZE
            && align_of::<FreeBlock>() <= crate::classes::MIN_CLASS_SIZE
    );
};

/// The header of the slab holding `block` of a class: O(1), by masking.
#[inline(always)]
fn header_of(block: NonNull<u8>, info: &ClassInfo) -> NonNull<SlabHeader> {
    // The slab is aligned to its size; its header lies `header_offset` bytes
    // in: `(addr | (slab - 1)) - (slab - 1 - header_offset)`, which cannot
    // overflow.
    let (mask, header_offset) = (info.mask, info.header_offset);
    let hdr = block.as_ptr().map_addr(|addr| (addr | mask) - (mask - header_offset));
    // SAFETY: `(addr | mask) >= mask`, so the result is at least
    // `header_offset > 0`.
    unsafe { NonNull::new_unchecked(hdr) }.cast()
}

/// The first byte of the slab whose header is `header`.
///
/// # Safety
///
/// `header` is the header of a live slab of the class `info` describes.
#[inline(always)]
unsafe fn slab_base(header: NonNull<SlabHeader>, info: &ClassInfo) -> NonNull<u8> {
    // SAFETY: the header lies `header_offset` bytes into its slab (caller's
    // contract), so the result is the slab's start, in the same allocation.
    unsafe { header.cast::<u8>().sub(info.header_offset) }
}

/// A mutable reference to a slab header.
///
/// # Safety
///
/// `header` is the header of a live slab of this heap, and no other reference
/// to it is live for `'a`.
#[inline(always)]
unsafe fn header<'a>(header: NonNull<SlabHeader>) -> &'a mut SlabHeader {
    #[cfg(test)]
    crate::tests::count_header_touch();
    // SAFETY: the caller's contract.
    unsafe { &mut *header.as_ptr() }
}

/// One size class: its partial slabs, its block cache, its cached empty
/// slabs and its counters, in two cache lines of its own, what every
/// allocation and free touches in the first.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct SizeClass {
    /// Doubly linked list of slabs with a free block and a used block (and,
    /// for a moment, a fresh slab about to serve its first block). Full slabs
    /// are in no list: a free into one links it in at the head.
    partial: Option<NonNull<SlabHeader>>,
    /// The block cache: freed blocks of the class, most recent first, linked
    /// through the blocks as a slab's free list is; each counts as used in
    /// its slab.
    cache: Option<NonNull<FreeBlock>>,
    /// The length of `cache` (at most the class's `cache_limit`).
    cache_len: u32,
    /// Slabs of this class taken from the backing allocator (any state).
    slabs: u32,
    /// Slabs with every block handed out.
    full: u32,
    /// The colour the next new slab gets (an index below the class's
    /// colour count).
    next_colour: u32,
    /// Blocks handed out since the heap was made.
    allocs: u64,
    /// Blocks freed since the heap was made.
    frees: u64,
    /// The most blocks live at once.
    peak_live: usize,
    /// The sizes asked for by the layouts of the blocks handed out now.
    requested: usize,
    /// Singly linked list of empty slabs kept for reuse.
    empty: Option<NonNull<SlabHeader>>,
    /// The length of `empty` (at most [`CACHED_EMPTY_SLABS`]).
    empty_count: u32,
}

impl SizeClass {
    const EMPTY: Self = Self {
        partial: None,
        cache: None,
        cache_len: 0,
        empty: None,
        empty_count: 0,
        slabs: 0,
        full: 0,
        next_colour: 0,
        allocs: 0,
        frees: 0,
        peak_live: 0,
        requested: 0,
    };

    /// The blocks handed out now.
    #[inline(always)]
    fn live(&self) -> usize {
        self.allocs.wrapping_sub(self.frees) as usize
    }
}

/// The hybrid heap: blocks of the size classes of `C` (by default
/// [`FineClasses`], 8 to 2048 bytes) served in O(1) from slabs, and larger
/// (or more aligned) layouts served by the backing allocator `B`, which also
/// provides the slabs.
///
/// See the [crate] documentation for the layout of slabs and the statistics.
///
/// # Invariants
///
/// Checked by [`assert_valid`](Heap::assert_valid):
///
/// - every slab of a class is a chunk of the backing allocator aligned to
///   the class's slab size, its header where masking a block's address
///   finds it, its colour one of the class's;
/// - a slab is in exactly one state: full (`used == capacity`, in no
///   list), partial (`0 < used < capacity`, in the class's doubly linked
///   partial list), parked (`used == 0`, the partial list's only member),
///   or cached empty (`used == 0`, nothing carved, in the singly linked
///   `empty` list); parked and cached slabs together are at most
///   [`CACHED_EMPTY_SLABS`]; so `slabs == full + partial + parked +
///   empty_count`;
/// - within a slab, blocks `0..carved` are carved, `used <= carved <=
///   capacity`, and the free list holds exactly the `carved - used` carved
///   blocks not handed out, each at a block boundary;
/// - a class's block cache holds `cache_len` distinct blocks, at most the
///   class's limit, each at a block boundary of a carved block of a full or
///   partial slab of the class and on no slab's free list;
/// - per class, `allocs - frees` (the live blocks) plus the cached blocks
///   equals the blocks used in partial and full slabs, the peak is at least
///   the live blocks, and the bytes asked for are at most `live * size`;
/// - `small_used` is the sum of `live * size` and `small_capacity` the sum
///   of `slabs * capacity * size` over the classes;
/// - with the slab index ([`SizeClasses::SLAB_INDEX`]), the index holds
///   exactly the live slabs: one entry per slab held (full, partial or
///   cached), each naming the start of a slab of its class (whose header
///   passes the checks above), every partial and cached slab found in it
///   with its class; every entry is reachable from its hash position
///   without crossing an empty word; the index is at most half full, and
///   has no table when it holds no slab. Without the index it is empty;
/// - the backing allocator's own invariants hold.
pub struct Heap<B: ByteAllocator = TlsfByteAllocator, C: SizeClasses = FineClasses> {
    classes: [SizeClass; MAX_CLASSES],
    /// Sum of the class sizes of the blocks handed out.
    small_used: usize,
    /// Sum of `capacity * class size` over all slabs held.
    small_capacity: usize,
    /// What the backing allocator counts in its `used_bytes` for the slabs
    /// held (measured when each slab is taken and returned).
    slab_bytes_in_backing: usize,
    /// The most [`used_bytes`](Heap::used_bytes) seen after an allocation.
    peak_used: usize,
    /// The large blocks as the backing allocator counts them, measured on
    /// the slow paths (every change of the backing allocator's count).
    large_used: usize,
    backing: B,
    /// With `debug-checks`, the regions of the backing allocator, when the
    /// heap has seen them all; without, nothing.
    known: debug::KnownRegions,
    /// The live slabs by start address, when `C::SLAB_INDEX` (three words,
    /// never used, otherwise).
    index: SlabIndex,
    classes_type: PhantomData<fn() -> C>,
}

// SAFETY: the raw pointers of a heap point into memory that the heap owns
// exclusively (slabs it took from its backing allocator); moving the heap to
// another thread moves that ownership with it, as for a `Box`.
unsafe impl<B: ByteAllocator + Send, C: SizeClasses> Send for Heap<B, C> {}

impl<B: ByteAllocator + fmt::Debug, C: SizeClasses> fmt::Debug for Heap<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slabs = &self.classes[..Self::count()];
        f.debug_struct("Heap")
            .field("class_sizes", &C::SIZES)
            .field("slabs_per_class", &SlabCounts(slabs))
            .field("total_bytes", &self.total_bytes())
            .field("used_bytes", &self.used_bytes())
            .field("available_bytes", &self.available_bytes())
            .field("backing", &self.backing)
            .finish()
    }
}

/// The slab counts of the classes, printed as a list.
struct SlabCounts<'a>(&'a [SizeClass]);

impl fmt::Debug for SlabCounts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|class| class.slabs)).finish()
    }
}

/// The most blocks [`Heap::remove_memory`] takes inside a region being
/// removed, to make the backing allocator give the slab index's new table
/// outside it.
const MAX_PLUGS: usize = 32;

/// The smallest region [`Heap::add_memory`] and
/// [`SlabByteAllocator`](crate::SlabByteAllocator) accept: one that holds a
/// slab of the smallest class wherever it starts (a slab is aligned to its
/// size, so an unaligned region needs up to twice the slab, and the backing
/// allocator's headers or bitmap). A region this large serves the smallest class over
/// TLSF and buddy at any start; a smaller one might serve nothing.
pub const MIN_REGION_SIZE: usize = 2 * MIN_SLAB_SIZE + 4 * SLAB_TAIL;

/// [`AllocError::InvalidParam`] for a region smaller than [`MIN_REGION_SIZE`].
const fn check_region_size(size: usize) -> AllocResult {
    if size < MIN_REGION_SIZE { Err(AllocError::InvalidParam) } else { Ok(()) }
}

impl<B: ByteAllocator, C: SizeClasses> Heap<B, C> {
    /// The geometry of `class` (below `Self::count()`).
    #[inline(always)]
    fn info(class: usize) -> &'static ClassInfo {
        &Table::<C>::TABLE.info[class]
    }

    /// The number of classes of `C`.
    #[inline(always)]
    fn count() -> usize {
        Table::<C>::TABLE.count
    }

    /// The class of `layout`, `Self::count()` or more for a large layout.
    #[inline(always)]
    fn class_of(layout: Layout) -> usize {
        Table::<C>::TABLE.class_index(layout)
    }

    /// A heap of the size classes `C` in front of `backing`, which may
    /// already manage memory; more is added with
    /// [`add_memory`](Self::add_memory). (The default table's heap is
    /// [`with_backing`](Heap::with_backing), which needs no type annotation.)
    pub const fn with_classes(backing: B) -> Self {
        Self {
            classes: [SizeClass::EMPTY; MAX_CLASSES],
            small_used: 0,
            small_capacity: 0,
            slab_bytes_in_backing: 0,
            peak_used: 0,
            large_used: 0,
            backing,
            known: debug::KnownRegions::UNKNOWN,
            index: SlabIndex::EMPTY,
            classes_type: PhantomData,
        }
    }

    /// A heap over `[start, start + size)`, trimmed as by
    /// [`try_new`](Heap::try_new), managed by `backing` (which is handed the
    /// trimmed region through [`BaseAllocator::init`]).
    ///
    /// Errors as for [`try_new`](Heap::try_new).
    ///
    /// # Safety
    ///
    /// As for [`new`](Heap::new).
    ///
    /// [`BaseAllocator::init`]: allocator_traits::BaseAllocator::init
    pub unsafe fn try_new_with_classes(start: usize, size: usize, mut backing: B) -> AllocResult<Self> {
        let (start, size) = compat::trimmed_heap_region(start, size)?;
        // SAFETY: the trimmed region lies inside the caller's region.
        unsafe { backing.init(start, size) }?;
        let mut heap = Self::with_classes(backing);
        heap.known.record(start, size, true);
        Ok(heap)
    }

    /// Adds `[start, start + size)` to the backing allocator, which trims it
    /// to its own alignment.
    ///
    /// A region smaller than [`MIN_REGION_SIZE`] is
    /// [`AllocError::InvalidParam`]; other errors are the backing allocator's
    /// ([`AllocError::MemoryOverlap`] for a region it already manages,
    /// [`AllocError::InvalidParam`] for a bad one).
    ///
    /// # Safety
    ///
    /// As for [`new`](Heap::new).
    pub unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        check_region_size(size)?;
        let backing_was_empty = debug::backing_was_empty(&self.backing);
        // SAFETY: the caller's contract.
        unsafe { self.backing.add_memory(start, size) }?;
        self.known.record(start, size, backing_was_empty);
        Ok(())
    }

    /// Hands `[start, start + size)` to the backing allocator with
    /// [`BaseAllocator::init`] (for a backing allocator that manages no
    /// memory yet).
    ///
    /// # Safety
    ///
    /// As for [`new`](Heap::new).
    ///
    /// [`BaseAllocator::init`]: allocator_traits::BaseAllocator::init
    pub(crate) unsafe fn init_backing(&mut self, start: usize, size: usize) -> AllocResult {
        check_region_size(size)?;
        let backing_was_empty = debug::backing_was_empty(&self.backing);
        // SAFETY: the caller's contract.
        unsafe { self.backing.init(start, size) }?;
        self.known.record(start, size, backing_was_empty);
        Ok(())
    }

    /// The backing allocator.
    pub fn backing(&self) -> &B {
        &self.backing
    }

    /// Allocates a block for `layout`.
    ///
    /// A layout some class of `C` serves gets a block of the smallest class
    /// at least as large as its size whose blocks are aligned as asked, in
    /// O(1) (a zero-size layout gets a real block of the smallest class
    /// aligned enough). Other layouts go to the backing allocator. Before reporting an error
    /// the heap returns its cached empty slabs to the backing allocator and
    /// tries again. A class allocation that fails is
    /// [`AllocError::NoMemory`]; a large one fails with the backing
    /// allocator's error.
    #[inline]
    pub fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let class = Self::class_of(layout);
        if class >= Self::count() {
            return self.alloc_large(layout);
        }
        self.alloc_in_class(class, layout.size())
    }

    /// Allocates a block of `class` (below `Self::count()`) for a layout of
    /// `requested` bytes.
    #[inline(always)]
    fn alloc_in_class(&mut self, class: usize, requested: usize) -> AllocResult<NonNull<u8>> {
        let block = if let Some(cached) = self.classes[class].cache {
            // SAFETY: `cached` heads the class's block cache: a freed block
            // of `class` holding its link.
            self.classes[class].cache = unsafe { self.uncache_block(cached, class) };
            let size_class = &mut self.classes[class];
            size_class.cache_len -= 1;
            Self::count_alloc(size_class);
            cached.cast()
        } else {
            let Some(slab) = self.classes[class].partial else {
                return self.alloc_from_new_slab(class, requested);
            };
            // SAFETY: `slab` heads the class's partial list, so it is a live
            // slab of `class` with a free block.
            unsafe { Self::take_block(&mut self.classes[class], slab, class) }
        };
        self.classes[class].requested += requested;
        self.small_used += Self::info(class).size;
        self.note_used();
        Ok(block)
    }

    /// Counts a block handed out by `size_class`, and raises its peak.
    #[inline(always)]
    fn count_alloc(size_class: &mut SizeClass) {
        size_class.allocs += 1;
        let live = size_class.live();
        if live > size_class.peak_live {
            size_class.peak_live = live;
        }
    }

    /// Raises the peak of [`used_bytes`](Self::used_bytes) to its value now
    /// (the large blocks as last measured: [`note_large`](Self::note_large)
    /// runs after every change of the backing allocator's count).
    #[inline(always)]
    fn note_used(&mut self) {
        let used = self.large_used + self.small_used;
        if used > self.peak_used {
            self.peak_used = used;
        }
    }

    /// Measures the large blocks again, after the backing allocator's count
    /// changed, and raises the peak.
    fn note_large(&mut self) {
        self.large_used = self.backing.used_bytes().saturating_sub(self.slab_bytes_in_backing);
        self.note_used();
    }

    /// Frees the block at `ptr`: O(1) for a class block (its slab is found by
    /// masking the address), the backing allocator's cost for a large one.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by [`alloc`](Self::alloc) of this heap with this
    /// `layout` (or by [`realloc`](Self::realloc) with the old alignment and
    /// the new size) and has not been freed since.
    #[inline]
    pub unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let class = Self::class_of(layout);
        if class >= Self::count() {
            // SAFETY: the caller's contract; large layouts came from the
            // backing allocator.
            return unsafe { self.dealloc_large(ptr, layout) };
        }
        // SAFETY: the caller's contract; `class` is the class of `layout`.
        unsafe { self.dealloc_in_class(ptr, layout, class) }
    }

    /// Frees the block at `ptr` of `class`, the class of `layout`.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc), and `class` is the class of
    /// `layout` (below `Self::count()`).
    #[inline(always)]
    unsafe fn dealloc_in_class(&mut self, ptr: NonNull<u8>, layout: Layout, class: usize) {
        // The slab header and the free-list link are the heap's: reached, and
        // the block later handed out again, with the region's provenance.
        let ptr = with_region_provenance(ptr);
        self.check_live(ptr, layout, class, debug::Op::Free);
        self.small_used -= Self::info(class).size;
        let size_class = &mut self.classes[class];
        size_class.frees += 1;
        // A block found by its address (`block_size`) may be freed with its
        // class size rather than the size it was asked with.
        size_class.requested = size_class.requested.saturating_sub(layout.size());
        if (size_class.cache_len as usize) < Self::info(class).cache_limit {
            let next = size_class.cache;
            // SAFETY: `ptr` is a block of `class` the caller no longer uses;
            // `next` is the cache's head.
            unsafe { self.cache_block(ptr, next, class) };
            let size_class = &mut self.classes[class];
            size_class.cache = Some(ptr.cast());
            size_class.cache_len += 1;
            return;
        }
        // SAFETY: as above; counted as freed.
        unsafe { self.free_to_slab(ptr, class) };
    }

    /// Returns the block at `ptr` of `class`, already counted as freed, to
    /// its slab.
    ///
    /// # Safety
    ///
    /// `ptr`, with the region's provenance, is a block of `class` that its
    /// slab counts as used and that nobody uses: freed by the caller of
    /// [`dealloc`](Self::dealloc), or taken out of the block cache.
    #[inline(always)]
    unsafe fn free_to_slab(&mut self, ptr: NonNull<u8>, class: usize) {
        let slab = header_of(ptr, Self::info(class));
        // SAFETY: `ptr` is a live block of `class` (caller's contract), so it
        // lies in a live slab of `class`, whose header `header_of` found.
        let hdr = unsafe { header(slab) };
        debug::set_live(hdr, ptr, slab, Self::info(class), false);
        // SAFETY: the block is ours again and at least 8 bytes, aligned to 8.
        unsafe { debug::write_free_block(ptr, hdr.free, Self::info(class)) };
        hdr.free = Some(ptr.cast());
        let was_full = hdr.used as usize == Self::info(class).capacity;
        hdr.used -= 1;
        let now_empty = hdr.used == 0;
        let size_class = &mut self.classes[class];
        let mut only_partial = hdr.next.is_none() && size_class.partial == Some(slab);
        if was_full {
            size_class.full -= 1;
            // SAFETY: a full slab is in no list; `slab` is live.
            only_partial = unsafe { self.push_partial_after_full(slab, class) };
        }
        // The class's only partial slab stays, parked, when it empties and
        // the cache has room.
        if now_empty && !(only_partial && (self.classes[class].empty_count as usize) < CACHED_EMPTY_SLABS) {
            // SAFETY: `slab` is a live, empty slab of `class` in its partial
            // list.
            unsafe { self.slab_emptied(slab, class) };
        }
    }

    /// Resizes the block at `ptr` from `old` to `new_size` bytes, keeping
    /// `old.align()`.
    ///
    /// In place when the new layout falls in the same size class (the same
    /// pointer comes back); through the backing allocator's `realloc` when
    /// both layouts are large; otherwise by allocating, copying and freeing.
    /// On error the old block is untouched. A `new_size` that cannot form a
    /// layout with `old.align()` is [`AllocError::NoMemory`].
    ///
    /// # Safety
    ///
    /// `ptr` was returned by this heap for the layout `old` and has not been
    /// freed since.
    pub unsafe fn realloc(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        let old_class = Self::class_of(old);
        let new_class = Self::class_of(new);
        if old_class < Self::count() {
            self.check_live(with_region_provenance(ptr), old, old_class, debug::Op::Realloc);
        }
        if old_class < Self::count() && old_class == new_class {
            let size_class = &mut self.classes[old_class];
            // Bounded as in `dealloc`: `old` may be the block's found size.
            size_class.requested = (size_class.requested.saturating_sub(old.size()) + new_size)
                .min(size_class.live() * Self::info(old_class).size);
            // The block handed back carries the region's provenance, as every
            // block the heap hands out.
            return Ok(with_region_provenance(ptr));
        }
        if old_class >= Self::count() && new_class >= Self::count() {
            // SAFETY: `ptr` is a live block of the backing allocator for `old`
            // (caller's contract); on error it stays untouched, so trying
            // again is sound.
            let block = match unsafe { self.backing.realloc(ptr, old, new_size) } {
                // SAFETY: as above.
                Err(_) if self.release_cached_slabs() > 0 => unsafe {
                    self.backing.realloc(ptr, old, new_size)
                },
                result => result,
            }?;
            self.note_large();
            return Ok(block);
        }
        // Across classes (or between a class and the backing allocator): the
        // classes are known, so neither step looks them up again.
        let new_ptr = if new_class < Self::count() {
            self.alloc_in_class(new_class, new_size)
        } else {
            self.alloc_large(new)
        }?;
        // SAFETY: `new_ptr` is a fresh block of `new_size` bytes, disjoint
        // from the live block `ptr` of `old.size()` bytes.
        unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), new_ptr.as_ptr(), old.size().min(new_size)) };
        // SAFETY: the caller's contract; its contents now live at `new_ptr`,
        // and `old_class` is the class of `old`.
        unsafe {
            if old_class < Self::count() {
                self.dealloc_in_class(ptr, old, old_class);
            } else {
                self.dealloc_large(ptr, old);
            }
        }
        Ok(new_ptr)
    }

    /// Bounds on the usable size of a block allocated for `layout`: the
    /// requested size, and the class size for a class layout (the requested
    /// size for a large one, as the backing allocator's rounding is its own).
    pub fn usable_size(&self, layout: Layout) -> (usize, usize) {
        let class = Self::class_of(layout);
        if class < Self::count() {
            (layout.size(), Self::info(class).size)
        } else {
            (layout.size(), layout.size())
        }
    }

    /// The bytes the heap manages: the backing allocator's `total_bytes`
    /// (slabs are carved from that memory, not added to it).
    pub fn total_bytes(&self) -> usize {
        self.backing.total_bytes()
    }

    /// The bytes handed out: the class size of every class block, plus the
    /// large blocks as the backing allocator counts them. Slabs themselves
    /// (free blocks, headers, cached empty slabs) are not counted.
    pub fn used_bytes(&self) -> usize {
        self.backing.used_bytes().saturating_sub(self.slab_bytes_in_backing) + self.small_used
    }

    /// The bytes still free: the backing allocator's `available_bytes`, plus
    /// the free blocks of the slabs held (class sizes). The slab headers and
    /// whatever the backing allocator reserves beyond a slab's size count in
    /// neither, so `used_bytes + available_bytes <= total_bytes`.
    pub fn available_bytes(&self) -> usize {
        let free_in_slabs = self.small_capacity - self.small_used;
        let available = self.backing.available_bytes() + free_in_slabs;
        available.min(self.total_bytes().saturating_sub(self.used_bytes()))
    }

    /// The most [`used_bytes`](Self::used_bytes) seen after an allocation
    /// (or a reallocation) since the heap was made.
    pub fn peak_used_bytes(&self) -> usize {
        self.peak_used
    }

    /// The statistics of each size class: blocks live now and at the peak,
    /// slabs held full, partial and cached empty, blocks allocated and freed.
    /// O([`MAX_CLASSES`](crate::MAX_CLASSES)); the counters are kept on the
    /// fast paths at the cost of a few additions.
    pub fn class_stats(&self) -> HeapClassStats {
        let mut stats =
            HeapClassStats { classes: [ClassStats::default(); MAX_CLASSES], count: Self::count() };
        for (class, (out, size_class)) in
            stats.classes.iter_mut().zip(&self.classes).take(Self::count()).enumerate()
        {
            let info = Self::info(class);
            let parked = usize::from(self.parked(class).is_some());
            *out = ClassStats {
                size: info.size,
                slab_size: info.mask + 1,
                live: size_class.live(),
                peak_live: size_class.peak_live,
                full_slabs: size_class.full as usize,
                partial_slabs: (size_class.slabs - size_class.full - size_class.empty_count) as usize
                    - parked,
                blocks_per_slab: info.capacity,
                requested_bytes: size_class.requested,
                cached_slabs: size_class.empty_count as usize + parked,
                allocs: size_class.allocs,
                frees: size_class.frees,
                cached_blocks: size_class.cache_len as usize,
            };
        }
        stats
    }

    /// Returns the block caches' blocks to their slabs
    /// ([`flush_cached_blocks`](Self::flush_cached_blocks)), then every
    /// empty slab held (cached or parked) to the backing allocator, and the
    /// number of bytes (slab sizes) returned. The heap does this by itself
    /// before it reports that it is out of memory.
    pub fn release_cached_slabs(&mut self) -> usize {
        self.release_cached_slabs_in(0, usize::MAX)
    }

    /// The bytes (slab sizes) of the slabs held.
    fn slab_bytes_held(&self) -> usize {
        (0..Self::count())
            .map(|class| self.classes[class].slabs as usize * (Self::info(class).mask + 1))
            .sum()
    }

    /// Returns the blocks of every class's block cache to their slabs (see
    /// [`SizeClasses::CACHED_BLOCKS`]); slabs that become empty are cached
    /// or returned to the backing allocator as on any free. O(cached
    /// blocks); [`release_cached_slabs`](Self::release_cached_slabs) does
    /// this first.
    pub fn flush_cached_blocks(&mut self) {
        for class in 0..Self::count() {
            while let Some(block) = self.classes[class].cache {
                // SAFETY: `block` heads the class's block cache.
                self.classes[class].cache = unsafe { self.uncache_block(block, class) };
                self.classes[class].cache_len -= 1;
                // SAFETY: a cached block is a block of `class` its slab
                // counts as used, counted as freed, and now out of the
                // cache.
                unsafe { self.free_to_slab(block.cast(), class) };
            }
        }
    }

    /// Returns the block caches' blocks to their slabs, then the empty
    /// slabs held (cached or parked) whose memory starts in `[start, end)`
    /// to the backing allocator, and the number of bytes (slab sizes)
    /// returned (slabs the blocks emptied included). O(cached blocks +
    /// cached slabs).
    fn release_cached_slabs_in(&mut self, start: usize, end: usize) -> usize {
        let held = self.slab_bytes_held();
        self.flush_cached_blocks();
        for class in 0..Self::count() {
            if let Some(slab) = self.parked(class) {
                // SAFETY: a live slab of `class`.
                let base = unsafe { slab_base(slab, Self::info(class)) }.as_ptr().addr();
                if (start..end).contains(&base) {
                    // SAFETY: the parked slab is the only member of the list.
                    unsafe { Self::unlink_partial(&mut self.classes[class], slab) };
                    // SAFETY: it is empty and now in no list.
                    unsafe { self.release_slab(slab, class) };
                }
            }
            // Rebuild the class's cache from the slabs that stay.
            let mut cursor = self.classes[class].empty.take();
            self.classes[class].empty_count = 0;
            while let Some(slab) = cursor {
                // SAFETY: `slab` is a cached empty slab of `class`.
                cursor = unsafe { header(slab) }.next;
                // SAFETY: as above, a live slab of `class`.
                let base = unsafe { slab_base(slab, Self::info(class)) }.as_ptr().addr();
                if (start..end).contains(&base) {
                    // SAFETY: the slab is empty and now in no list.
                    unsafe { self.release_slab(slab, class) };
                } else {
                    let size_class = &mut self.classes[class];
                    // SAFETY: as above; the slab is in no list now.
                    unsafe { header(slab) }.next = size_class.empty;
                    size_class.empty = Some(slab);
                    size_class.empty_count += 1;
                }
            }
        }
        held - self.slab_bytes_held()
    }

    /// Gives back a region of the backing allocator, exactly as it was handed
    /// to the backing allocator (through [`SlabByteAllocator`](crate::SlabByteAllocator)'s `init` or
    /// `add_memory`, [`add_memory`](Self::add_memory), or the trimmed
    /// region of [`try_new`](Heap::try_new) / [`try_new_in`](Self::try_new_in)),
    /// if no block of the heap lies in it: the backing allocator's
    /// `remove_memory`, after the block caches went back to their slabs and
    /// the cached empty slabs in the region went back
    /// to it (a slab holding a live block is a live block of the backing
    /// allocator, so the backing refuses while one lies there). On success
    /// the heap and its backing allocator never touch the region again, and
    /// [`total_bytes`](Self::total_bytes) drops by what the backing
    /// allocator says the region contributed.
    ///
    /// # Errors
    ///
    /// The backing allocator's:
    ///
    /// - [`AllocError::NotAllocated`]: no region was handed over as exactly
    ///   `[start, start + size)`; nothing changes.
    /// - [`AllocError::MemoryOverlap`]: a class block (its slab) or a large
    ///   block lies in the region. The heap's blocks and its
    ///   `total_bytes`/`used_bytes` do not change; the empty slabs it cached
    ///   in the region have gone back to the backing allocator (so
    ///   `available_bytes` may grow).
    /// - [`AllocError::InvalidParam`]: the backing allocator cannot give
    ///   regions back.
    ///
    /// With the slab index ([`SizeClasses::SLAB_INDEX`]), the index's table
    /// is a block of the backing allocator while the heap holds a slab: when
    /// it lies in the region and no slab does, it moves to a block the
    /// backing allocator gives outside it, and the removal is tried once
    /// more; if the backing allocator gives none outside, the answer stays
    /// [`AllocError::MemoryOverlap`] (the table serves the live slabs). (A
    /// large block in the region still refuses the removal after the table
    /// moved; the backing allocator's free memory is then cut differently,
    /// by a header or so.)
    ///
    /// # Complexity
    ///
    /// The backing allocator's `remove_memory` (twice when the first attempt
    /// fails with `MemoryOverlap` while empty slabs are cached in the
    /// region, once more when the index's table moves), plus O(cached
    /// blocks + cached slabs), at most [`MAX_CLASSES`](crate::MAX_CLASSES) x
    /// (64 + [`CACHED_EMPTY_SLABS`]), plus O(indexed slabs) to move the
    /// table.
    pub fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let end = start.saturating_add(size);
        let mut result = self.backing.remove_memory(start, size);
        if result == Err(AllocError::MemoryOverlap) && self.release_cached_slabs_in(start, end) > 0 {
            result = self.backing.remove_memory(start, size);
        }
        if C::SLAB_INDEX && result == Err(AllocError::MemoryOverlap) && self.move_index_out_of(start, end) {
            result = self.backing.remove_memory(start, size);
        }
        result?;
        self.known.forget(start, size);
        Ok(())
    }

    /// Moves the slab index's table, if it starts in `[start, end)`, to a
    /// table of the same size that the backing allocator gives outside that
    /// range, and says whether it moved. (A block of the backing allocator
    /// lies in one region, so a table starting outside the region lies
    /// outside it.)
    ///
    /// A backing allocator prefers the free memory of the region being
    /// removed when it is the best fit (TLSF's good fit, a buddy's free
    /// sibling of the old table), so while the new table lands inside, the
    /// range's free memory is plugged: a block of half the range, a quarter,
    /// ... down to the table's size, kept when it lands inside the range
    /// (at most [`MAX_PLUGS`] of them), all freed at the end. When no plug
    /// or table fits, the table stays.
    #[cold]
    fn move_index_out_of(&mut self, start: usize, end: usize) -> bool {
        let Some(table) = self.index.table_addr() else { return false };
        // A live slab in the range keeps the region anyway: the table
        // stays where it is (moving it would only cost the backing
        // allocator's bookkeeping).
        if !(start..end).contains(&table)
            || self.index.entries().any(|(_, slab, _)| (start..end).contains(&slab))
        {
            return false;
        }
        let capacity = self.index.capacity();
        let Some(layout) = SlabIndex::layout(capacity) else { return false };
        let inside = |block: NonNull<u8>| (start..end).contains(&block.as_ptr().addr());
        let mut plugs = [None::<(NonNull<u8>, Layout)>; MAX_PLUGS];
        let mut moved = false;
        for plug_slot in plugs.iter_mut() {
            let before = self.backing.used_bytes();
            match self.backing.alloc(layout) {
                Ok(new) if !inside(new) && is_aligned(new.as_ptr().addr(), layout.align()) => {
                    self.slab_bytes_in_backing += self.backing.used_bytes().saturating_sub(before);
                    // SAFETY: `new` is a fresh block of `capacity` words,
                    // aligned, ours.
                    if let Some((old, old_layout)) = unsafe { self.index.rehash_into(new.cast(), capacity) } {
                        // SAFETY: the old table, whose entries moved over.
                        unsafe { self.free_index_table(old, old_layout) };
                    }
                    moved = true;
                    break;
                }
                // SAFETY: `new` was just allocated with `layout`, unused.
                Ok(new) => unsafe { self.backing.dealloc(new, layout) },
                Err(_) => break,
            }
            let mut plug_size = (end - start) / 2;
            while plug_size >= layout.size() && plug_slot.is_none() {
                let plug_layout = Layout::from_size_align(plug_size, 1).ok();
                if let Some((plug, plug_layout)) =
                    plug_layout.and_then(|l| self.backing.alloc(l).ok().map(|plug| (plug, l)))
                {
                    if inside(plug) {
                        *plug_slot = Some((plug, plug_layout));
                    } else {
                        // SAFETY: `plug` was just allocated with `plug_layout`.
                        unsafe { self.backing.dealloc(plug, plug_layout) };
                    }
                }
                plug_size /= 2;
            }
            if plug_slot.is_none() {
                break;
            }
        }
        for (plug, plug_layout) in plugs.into_iter().flatten() {
            // SAFETY: each plug was allocated above with its layout, unused.
            unsafe { self.backing.dealloc(plug, plug_layout) };
        }
        self.note_large();
        moved
    }

    /// The largest size a layout of alignment `align` may have and still be
    /// served given enough memory: the backing allocator's
    /// [`max_layout_size`](ByteAllocator::max_layout_size), or the largest
    /// size class whose blocks are aligned to `align` and whose
    /// slab the backing allocator can hold, whichever is larger. A request
    /// above it never succeeds. (Below it, a class whose slab the backing
    /// allocator cannot hold, with a tiny buddy say, fails too.)
    ///
    /// O([`MAX_CLASSES`](crate::MAX_CLASSES)) calls of the backing allocator's.
    pub fn max_layout_size(&self, align: usize) -> usize {
        let large = self.backing.max_layout_size(align);
        for class in (0..Self::count()).rev() {
            let size = Self::info(class).size;
            if size < align {
                break;
            }
            if Self::info(class).block_align < align {
                continue;
            }
            let slab = slab_layout(Self::info(class));
            if self.backing.max_layout_size(slab.align()) >= slab.size() {
                return large.max(size);
            }
        }
        large
    }

    /// Takes a free block from `slab`, unlinking it from the partial list
    /// when it becomes full.
    ///
    /// # Safety
    ///
    /// `slab` heads `size_class.partial`, is a live slab of `class`, and has a
    /// free block.
    #[inline(always)]
    unsafe fn take_block(size_class: &mut SizeClass, slab: NonNull<SlabHeader>, class: usize) -> NonNull<u8> {
        // SAFETY: the caller's contract.
        let hdr = unsafe { header(slab) };
        // Read before `carved` is written: a wide load of `used` after the
        // narrow store next to it would wait for the store to retire.
        let used = hdr.used + 1;
        let block = match hdr.free {
            Some(block) => {
                // SAFETY: `block` heads the free list of `slab`, a live slab
                // of `class`: it holds the link written when it was freed.
                hdr.free = unsafe { debug::take_free_block(block, slab, Self::info(class)) };
                block.cast()
            }
            None => {
                // `used < capacity` and no freed block, so an uncarved one is
                // left: `carved < capacity`.
                let index = hdr.carved as usize;
                hdr.carved += 1;
                let info = Self::info(class);
                // SAFETY: block `index < capacity` lies in the slab, after
                // its colour and before its header (`colour + capacity *
                // size <= header_offset`).
                unsafe { slab_base(slab, info).add(hdr.colour as usize + index * info.size) }
            }
        };
        debug::set_live(hdr, block, slab, Self::info(class), true);
        hdr.used = used;
        Self::count_alloc(size_class);
        if used as usize == Self::info(class).capacity {
            // Full: drop it from the head of the partial list.
            size_class.full += 1;
            size_class.partial = hdr.next;
            if let Some(next) = hdr.next {
                // SAFETY: `next` is a live slab in the same list.
                unsafe { header(next) }.prev = None;
            }
            hdr.next = None;
        }
        block
    }

    /// Links `slab` in at the head of the partial list.
    ///
    /// # Safety
    ///
    /// `slab` is a live slab of this class, in no list.
    #[inline(always)]
    unsafe fn push_partial(size_class: &mut SizeClass, slab: NonNull<SlabHeader>) {
        if let Some(head) = size_class.partial {
            // SAFETY: `head` is a live slab of the list, distinct from `slab`.
            unsafe { header(head) }.prev = Some(slab);
        }
        // SAFETY: the caller's contract.
        let hdr = unsafe { header(slab) };
        hdr.next = size_class.partial;
        hdr.prev = None;
        size_class.partial = Some(slab);
    }

    /// Unlinks `slab` from the partial list, in O(1).
    ///
    /// # Safety
    ///
    /// `slab` is a live slab in `size_class.partial`.
    unsafe fn unlink_partial(size_class: &mut SizeClass, slab: NonNull<SlabHeader>) {
        let (prev, next) = {
            // SAFETY: the caller's contract.
            let hdr = unsafe { header(slab) };
            (hdr.prev.take(), hdr.next.take())
        };
        match prev {
            // SAFETY: `prev` is a live slab of the same list.
            Some(prev) => unsafe { header(prev) }.next = next,
            None => size_class.partial = next,
        }
        if let Some(next) = next {
            // SAFETY: `next` is a live slab of the same list.
            unsafe { header(next) }.prev = prev;
        }
    }

    /// The parked slab of `class`: its partial list's only member, when
    /// that is empty.
    fn parked(&self, class: usize) -> Option<NonNull<SlabHeader>> {
        let head = self.classes[class].partial?;
        // SAFETY: list members are live slabs of `class`; the reference
        // lives for this read only.
        (unsafe { head.as_ref() }.used == 0).then_some(head)
    }

    /// A free made the full `slab` partial: it joins the head of the partial
    /// list, after a parked slab there (which is the list's only member)
    /// leaves it for the cache. Returns whether `slab` is now the list's only
    /// member.
    ///
    /// # Safety
    ///
    /// `slab` is a live slab of `class`, in no list.
    unsafe fn push_partial_after_full(&mut self, slab: NonNull<SlabHeader>, class: usize) -> bool {
        if let Some(parked) = self.parked(class) {
            // SAFETY: the parked slab is in the list.
            unsafe { Self::unlink_partial(&mut self.classes[class], parked) };
            // SAFETY: it is a live, empty slab of `class`, now in no list.
            unsafe { self.cache_or_release(parked, class) };
        }
        let size_class = &mut self.classes[class];
        let only = size_class.partial.is_none();
        // SAFETY: the caller's contract.
        unsafe { Self::push_partial(size_class, slab) };
        only
    }

    /// A slab's last block was freed and it is not parked: keep it in the
    /// class's cache, or return it to the backing allocator when the cache
    /// is full.
    ///
    /// # Safety
    ///
    /// `slab` is a live, empty slab of `class`, in its partial list.
    #[cold]
    unsafe fn slab_emptied(&mut self, slab: NonNull<SlabHeader>, class: usize) {
        // SAFETY: the caller's contract.
        unsafe { Self::unlink_partial(&mut self.classes[class], slab) };
        // SAFETY: the caller's contract; the slab is in no list now.
        unsafe { self.cache_or_release(slab, class) };
    }

    /// Keeps the empty `slab` in the class's cache, or returns it to the
    /// backing allocator when the cache is full.
    ///
    /// # Safety
    ///
    /// `slab` is a live, empty slab of `class`, in no list.
    unsafe fn cache_or_release(&mut self, slab: NonNull<SlabHeader>, class: usize) {
        let size_class = &mut self.classes[class];
        if (size_class.empty_count as usize) < CACHED_EMPTY_SLABS {
            // SAFETY: the caller's contract; the slab is in no list now.
            let hdr = unsafe { header(slab) };
            // Start over as a fresh slab: its blocks will be carved in order.
            hdr.free = None;
            hdr.carved = 0;
            hdr.next = size_class.empty;
            size_class.empty = Some(slab);
            size_class.empty_count += 1;
        } else {
            // SAFETY: the slab is empty and in no list.
            unsafe { self.release_slab(slab, class) };
        }
    }

    /// Returns an empty slab to the backing allocator.
    ///
    /// # Safety
    ///
    /// `slab` is a live, empty slab of `class`, in no list.
    unsafe fn release_slab(&mut self, slab: NonNull<SlabHeader>, class: usize) {
        // SAFETY: the caller's contract: a live slab of ours.
        unsafe { debug::forget_slab(slab) };
        if C::SLAB_INDEX {
            // SAFETY: the caller's contract.
            let start = unsafe { slab_base(slab, Self::info(class)) }.as_ptr().addr();
            let found = self.index.remove(start);
            debug_assert!(found, "allocator-slab: a live slab missing from the slab index");
            self.free_index_if_empty();
        }
        let before = self.backing.used_bytes();
        // SAFETY: the slab was allocated by the backing allocator with
        // `slab_layout(Self::info(class))` and no block of it is in use.
        unsafe { self.backing.dealloc(slab_base(slab, Self::info(class)), slab_layout(Self::info(class))) };
        self.slab_bytes_in_backing =
            self.slab_bytes_in_backing.saturating_sub(before.saturating_sub(self.backing.used_bytes()));
        self.note_large();
        self.small_capacity -= Self::info(class).capacity * Self::info(class).size;
        self.classes[class].slabs -= 1;
    }

    /// The class has no partial slab: take a cached empty slab or a new one,
    /// and serve the block from it.
    #[cold]
    #[inline(never)]
    fn alloc_from_new_slab(&mut self, class: usize, requested: usize) -> AllocResult<NonNull<u8>> {
        let slab = match self.classes[class].empty {
            Some(slab) => {
                // SAFETY: `slab` is a cached empty slab of `class`.
                self.classes[class].empty = unsafe { header(slab) }.next;
                self.classes[class].empty_count -= 1;
                slab
            }
            None => self.new_slab(class)?,
        };
        let size_class = &mut self.classes[class];
        // SAFETY: `slab` is a live slab of `class` in no list.
        unsafe { Self::push_partial(size_class, slab) };
        // SAFETY: `slab` heads the partial list and is empty.
        let block = unsafe { Self::take_block(size_class, slab, class) };
        size_class.requested += requested;
        self.small_used += Self::info(class).size;
        self.note_used();
        Ok(block)
    }

    /// Takes a new slab of `class` from the backing allocator (after
    /// returning the cached empty slabs, if the first try fails), and, with
    /// the slab index, indexes it.
    fn new_slab(&mut self, class: usize) -> AllocResult<NonNull<SlabHeader>> {
        let layout = slab_layout(Self::info(class));
        let mut base = self.take_chunk(layout)?;
        if C::SLAB_INDEX && self.reserve_index_entry().is_err() {
            // No room to index the slab: it goes back. Then once more the
            // other way round, the table first: a region with room for a
            // slab and a table in one order only (a region of
            // `MIN_REGION_SIZE`, whose slab takes the aligned middle) holds
            // them so.
            // SAFETY: `base` was just allocated with `layout`, unused.
            unsafe { self.give_back_chunk(base, layout) };
            let retry = self.reserve_index_entry().and_then(|()| self.take_chunk(layout));
            base = match retry {
                Ok(base) => base,
                Err(error) => {
                    self.free_index_if_empty();
                    return Err(error);
                }
            };
            // Taking the chunk may have returned cached slabs, and with the
            // last of them the table: make sure of the room again.
            if let Err(error) = self.reserve_index_entry() {
                // SAFETY: as above.
                unsafe { self.give_back_chunk(base, layout) };
                self.free_index_if_empty();
                return Err(error);
            }
        }
        if C::SLAB_INDEX {
            self.index.insert(base.as_ptr().addr(), class);
        }
        self.note_large();
        self.small_capacity += Self::info(class).capacity * Self::info(class).size;
        let size_class = &mut self.classes[class];
        size_class.slabs += 1;
        let info = Self::info(class);
        let colour = size_class.next_colour as usize * info.colour_step;
        // Below `info.colours`, at most a slab's size over 64.
        size_class.next_colour = ((size_class.next_colour as usize + 1) % info.colours) as u32;
        // SAFETY: the header's place, the last HEADER_SIZE bytes of the
        // chunk, is inside the fresh chunk and aligned for it.
        let slab = unsafe { base.add(Self::info(class).header_offset) }.cast::<SlabHeader>();
        // SAFETY: as above; the slab is ours.
        unsafe {
            slab.write(SlabHeader {
                free: None,
                next: None,
                prev: None,
                used: 0,
                carved: 0,
                // Below `header_offset <= 32 KiB`.
                colour: colour as u16,
                debug: debug::SlabDebug::new(class),
            })
        };
        Ok(slab)
    }

    /// A chunk of `layout` (a slab's) from the backing allocator, after
    /// returning the cached empty slabs if the first try fails, counted in
    /// `slab_bytes_in_backing`.
    fn take_chunk(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let mut before = self.backing.used_bytes();
        let base = match self.backing.alloc(layout) {
            Ok(base) => base,
            Err(_) if self.release_cached_slabs() > 0 => {
                before = self.backing.used_bytes();
                self.backing.alloc(layout).map_err(|_| AllocError::NoMemory)?
            }
            Err(_) => return Err(AllocError::NoMemory),
        };
        if !is_aligned(base.as_ptr().addr(), layout.align()) {
            // A backing allocator that breaks its contract must not make us
            // mask into someone else's memory.
            // SAFETY: `base` was just allocated with `layout`.
            unsafe { self.backing.dealloc(base, layout) };
            return Err(AllocError::NoMemory);
        }
        self.slab_bytes_in_backing += self.backing.used_bytes().saturating_sub(before);
        Ok(base)
    }

    /// Returns a chunk from [`take_chunk`](Self::take_chunk) that never
    /// became a slab.
    ///
    /// # Safety
    ///
    /// `base` was allocated by `take_chunk` with `layout`, and nothing of it
    /// is in use.
    unsafe fn give_back_chunk(&mut self, base: NonNull<u8>, layout: Layout) {
        let before = self.backing.used_bytes();
        // SAFETY: the caller's contract.
        unsafe { self.backing.dealloc(base, layout) };
        self.slab_bytes_in_backing =
            self.slab_bytes_in_backing.saturating_sub(before.saturating_sub(self.backing.used_bytes()));
        self.note_large();
    }

    /// Frees the slab index's table if it holds no slab (the index keeps no
    /// table without slabs, so an empty region can be removed).
    fn free_index_if_empty(&mut self) {
        if let Some((table, layout)) = self.index.take_if_empty() {
            // SAFETY: the index's table, no longer used.
            unsafe { self.free_index_table(table, layout) };
            self.note_large();
        }
    }

    /// Makes room in the slab index for one more slab: a table twice as
    /// large (the first one when there is none) from the backing allocator
    /// when one more entry would fill more than half of it, the entries
    /// moved over and the old table freed. The table's bytes count as slab
    /// bytes (`slab_bytes_in_backing`), so `used_bytes` stays the blocks
    /// handed out.
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`]: the backing allocator cannot give the table,
    /// even after the cached empty slabs went back to it.
    #[cold]
    fn reserve_index_entry(&mut self) -> AllocResult {
        let mut released = false;
        loop {
            let capacity = self.index.capacity_for_one_more();
            if capacity == self.index.capacity() {
                return Ok(());
            }
            let Some(layout) = SlabIndex::layout(capacity) else { return Err(AllocError::NoMemory) };
            let before = self.backing.used_bytes();
            match self.backing.alloc(layout) {
                Ok(table) if is_aligned(table.as_ptr().addr(), layout.align()) => {
                    self.slab_bytes_in_backing += self.backing.used_bytes().saturating_sub(before);
                    // SAFETY: `table` is a fresh block of `capacity` words,
                    // aligned, ours.
                    let old = unsafe { self.index.rehash_into(table.cast(), capacity) };
                    if let Some((old, old_layout)) = old {
                        // SAFETY: the old table, whose entries moved over.
                        unsafe { self.free_index_table(old, old_layout) };
                    }
                    self.note_large();
                    return Ok(());
                }
                Ok(table) => {
                    // A backing allocator that breaks its contract.
                    // SAFETY: `table` was just allocated with `layout`.
                    unsafe { self.backing.dealloc(table, layout) };
                    return Err(AllocError::NoMemory);
                }
                // Returning the cached slabs changes the index (and may free
                // its table): measure again.
                Err(_) if !released && self.release_cached_slabs() > 0 => released = true,
                Err(_) => return Err(AllocError::NoMemory),
            }
        }
    }

    /// Frees a table of the slab index, counting it off the slab bytes.
    ///
    /// # Safety
    ///
    /// `table` is a table of the index allocated from the backing allocator
    /// with `layout`, no longer used by the index.
    unsafe fn free_index_table(&mut self, table: NonNull<u8>, layout: Layout) {
        let before = self.backing.used_bytes();
        // SAFETY: the caller's contract.
        unsafe { self.backing.dealloc(table, layout) };
        self.slab_bytes_in_backing =
            self.slab_bytes_in_backing.saturating_sub(before.saturating_sub(self.backing.used_bytes()));
    }

    /// The size of the live block at `ptr`, allocated with alignment `align`,
    /// found from its address: with the slab index
    /// ([`SizeClasses::SLAB_INDEX`]), the class size of a class block, the
    /// backing allocator's [`block_size`](ByteAllocator::block_size) for a
    /// large block (`None` when the backing allocator cannot find sizes);
    /// `None` without the index.
    ///
    /// For each slab size `z` of the table (at most 4), the block would lie
    /// in the slab starting at `ptr` rounded down to `z`: if the index holds
    /// a slab of that size there, and `ptr` lies before its header (blocks
    /// come before the header), the block is a block of that slab's class.
    /// O(distinct slab sizes) expected lookups in a hash set at most half
    /// full, then the backing allocator's cost for a large block.
    ///
    /// A large block is never taken for a class block: a live slab is the
    /// live backing block `[S, S + z - SLAB_TAIL)`, and a hit means `S <=
    /// ptr < S + header_offset <= S + z - SLAB_TAIL`, so a large block at
    /// `ptr` would overlap the slab, which the backing allocator never lets
    /// two live blocks do (a block of TLSF may start in the [`SLAB_TAIL`]
    /// bytes after a slab, inside the slab's aligned span: the bound on
    /// `ptr` tells it apart). A class block is never missed: it lies in its
    /// slab before the header, and its slab is in the index.
    ///
    /// `Some(n)` keeps the promise of [`ByteAllocator::block_size`]: the
    /// layout `(n, align)` goes to the same class (or to the backing
    /// allocator) as the layout the block was allocated with, since routing
    /// by size is monotone for tables with the index (see
    /// [`SizeClasses::SLAB_INDEX`]).
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this heap allocated (or last reallocated)
    /// with alignment `align`.
    #[inline]
    pub unsafe fn block_size(&self, ptr: NonNull<u8>, align: usize) -> Option<usize> {
        if !C::SLAB_INDEX {
            return None;
        }
        let addr = ptr.as_ptr().addr();
        let table = &Table::<C>::TABLE;
        for &slab_size in &table.slab_sizes[..table.slab_size_count] {
            let start = addr & !(slab_size - 1);
            if let Some(class) = self.index.find(start) {
                let info = Self::info(class);
                if info.mask + 1 == slab_size && addr < start + info.header_offset {
                    return Some(info.size);
                }
            }
        }
        // SAFETY: no live slab holds `ptr`, so it is a large block, a live
        // block of the backing allocator allocated with `align` (caller's
        // contract).
        unsafe { self.backing.block_size(ptr, align) }
    }

    /// The number of words of the slab index's table (0 without one) and
    /// its entries.
    #[cfg(test)]
    pub(crate) fn index_shape(&self) -> (usize, usize) {
        (self.index.capacity(), self.index.len())
    }

    /// A layout no class serves: ask the backing allocator, and again after
    /// returning the cached empty slabs.
    #[inline(never)]
    fn alloc_large(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let block = match self.backing.alloc(layout) {
            Err(_) if self.release_cached_slabs() > 0 => self.backing.alloc(layout),
            result => result,
        }?;
        self.note_large();
        Ok(block)
    }

    /// Frees a large block.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc), with a layout no class serves.
    #[inline(never)]
    unsafe fn dealloc_large(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: large layouts were served by the backing allocator.
        unsafe { self.backing.dealloc(ptr, layout) };
        self.note_large();
    }

    /// The heap's `small_used` and the free count of `class`, for tests that
    /// corrupt them on purpose.
    #[cfg(test)]
    pub(crate) fn counters_mut(&mut self, class: usize) -> (&mut usize, &mut u64) {
        (&mut self.small_used, &mut self.classes[class].frees)
    }

    /// The number of slabs of `class` held (partial, full and cached).
    #[cfg(test)]
    pub(crate) fn slab_count(&self, class: usize) -> usize {
        self.classes[class].slabs as usize
    }

    /// The number of partial slabs of `class` (the parked one not counted).
    #[cfg(test)]
    pub(crate) fn partial_count(&self, class: usize) -> usize {
        let mut count = 0;
        let mut cursor = self.classes[class].partial;
        while let Some(slab) = cursor {
            count += 1;
            // SAFETY: list members are live slabs.
            cursor = unsafe { slab.as_ref() }.next;
        }
        count - usize::from(self.parked(class).is_some())
    }

    /// The number of blocks in the block cache of `class`.
    #[cfg(test)]
    pub(crate) fn cached_blocks(&self, class: usize) -> usize {
        self.classes[class].cache_len as usize
    }

    /// The number of cached empty slabs of `class`, the parked one
    /// included.
    #[cfg(test)]
    pub(crate) fn cached_count(&self, class: usize) -> usize {
        self.classes[class].empty_count as usize + usize::from(self.parked(class).is_some())
    }
}
