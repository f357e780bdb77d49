//! A hybrid slab heap: O(1) size classes in front of any byte allocator.
//!
//! [`Heap`] serves small layouts from size classes in O(1): a block is
//! popped from, or pushed to, an intrusive free list. Larger or more aligned
//! layouts go to the backing allocator `B`, which also provides the slabs
//! the classes carve their blocks from. [`SlabByteAllocator`] implements
//! [`BaseAllocator`] and [`ByteAllocator`] over a [`Heap`], with `const`
//! constructors so it can sit in a `static`.
//!
//! # Size classes
//!
//! The class table is a type parameter, chosen at compile time:
//! `Heap<B, C: SizeClasses = FineClasses>` and `SlabByteAllocator<B, C>`.
//!
//! - [`FineClasses`] (the default): 25 classes about a quarter of a power
//!   of two apart, 8, 16, 32, 48, 64, 80, ..., 1536, 1792, 2048 bytes. A
//!   layout of `n <= 64` bytes (alignment up to 8) wastes at most 15 bytes,
//!   up to 1024 bytes less than 20 % of its block; above, a size its class
//!   would fit with more than an eighth unused goes to the backing
//!   allocator, which fits it exactly; see [`FineClasses`].
//! - [`FineClassesTo4096`]: the same continued to 4096 bytes (29 classes).
//! - [`PowerOfTwoClasses`]: 8, 16, 32, ..., 4096 (the table of earlier
//!   versions).
//! - Any table of up to [`MAX_CLASSES`] sizes, multiples of 8 from 8 to
//!   4096, implementing [`SizeClasses`] (a broken rule is a compile error).
//!
//! A block of class `s` is aligned to the largest power of two dividing `s`
//! (16 for 48, 64 for 320, 2048 for 2048). A layout goes to the smallest
//! class whose size is at least the layout's size and whose blocks are
//! aligned at least as asked; with no such class, to the backing allocator.
//! The class is found in O(1) by tables built at compile time: a byte per
//! 8 bytes of size up to 4096 (513 bytes) and, for alignments above 8, a
//! step to the first class so aligned (`size 72, align 32` takes the
//! 96-byte class).
//!
//! This is the heap of the `slab_allocator` crate that ArceOS's
//! `SlabByteAllocator` wraps, with the same shape (`Heap::new`,
//! `allocate`, `deallocate`, `usable_size`, `add_memory`, the statistics),
//! rebuilt to fix what the original gets wrong:
//!
//! - **Classes from 8 bytes** (the original starts at 64, so a 16-byte object
//!   wastes 75 %).
//! - **Finer classes**: 25 classes to 2048 bytes, less than 20 % waste per
//!   block above 64 bytes, an eighth above 1 KiB (the original's powers of
//!   two waste up to 50 %).
//! - **Alignment**: a layout goes to the smallest class at least as large as
//!   its size whose blocks are aligned at least as asked (see
//!   [Size classes](#size-classes)), so every block is aligned as asked.
//!   (The original sends size 100, align 8192 to its 4096-byte class: a
//!   misaligned block.) Layouts larger or more aligned than every class go
//!   to the backing allocator.
//! - **Statistics counted once**: [`total_bytes`](Heap::total_bytes) is the
//!   backing allocator's managed memory, not that plus the slabs carved from
//!   it (see [Statistics](#statistics)).
//! - **Memory goes back**: a slab whose blocks are all free returns to the
//!   backing allocator. Each class keeps at most [`CACHED_EMPTY_SLABS`] empty
//!   slab for reuse, and the heap returns all of them and tries again before
//!   it reports [`AllocError::NoMemory`](allocator_traits::AllocError::NoMemory). After a burst of small objects is
//!   freed, the largest block the heap can serve is what it was before.
//! - **A block cache per class**: a freed block waits in its class's cache
//!   (at most [`SizeClasses::CACHED_BLOCKS`] blocks and
//!   [`CACHED_BLOCK_BYTES`] bytes), and the class's next allocation takes
//!   the most recently freed block back, still warm in the CPU's cache;
//!   neither touches a slab header. Cached blocks go back to their slabs
//!   before the heap returns memory or reports `NoMemory`.
//! - **O(1) free**: a slab is aligned to its size, so a block's slab header is
//!   found by masking the block's address; no free walks the slabs.
//! - **The backing allocator is a parameter**: `Heap<B = TlsfByteAllocator>`,
//!   so `SlabByteAllocator<BuddyByteAllocator>` puts slabs in front of the
//!   buddy instead. TLSF is the default by measurement (the README's
//!   results, rows `slab` and `slab-buddy`): over TLSF the heap grows a
//!   `Vec` in place, fills more of its pool before the first failure (the
//!   buddy rounds large blocks to powers of two) and keeps a larger largest
//!   block (buddy blocks are aligned to their size); small-object workloads
//!   run at the same speed over either.
//!   As `HashMap::new` exists for the default hasher only, [`Heap::new`],
//!   [`Heap::try_new`] and [`SlabByteAllocator::new`] exist for the default
//!   backing only; [`Heap::with_backing`], [`Heap::try_new_in`] and
//!   [`SlabByteAllocator::with_backing`] take any backing allocator.
//! - **`realloc` in place** when the new size falls in the same class.
//! - **No panics** in [`SlabByteAllocator`]: before `init` it reports
//!   [`AllocError::NoMemory`](allocator_traits::AllocError::NoMemory) (the original unwraps an `Option`).
//!
//! # Slabs
//!
//! A slab of a class is a power of two in size, from 4 KiB to 32 KiB
//! ([`SizeClasses::slab_size`]), aligned to that size: by default the
//! smallest that holds at least 8 blocks besides its header and tail (the
//! 4096-byte class of the longer tables has 7 blocks in 32 KiB); a table
//! may give its own ([`SizeClasses::SLAB_SIZES`]). The heap takes a slab from
//! the backing allocator as one chunk of `slab_size - SLAB_TAIL` bytes with
//! that alignment. For [`FineClasses`]:
//!
//! | class (bytes)     | 8 ... 448  | 512 ... 896 | 1024 ... 1792 | 2048   |
//! |-------------------|------------|-------------|---------------|--------|
//! | slab size         | 4 KiB      | 8 KiB       | 16 KiB        | 32 KiB |
//! | blocks per slab   | 504 ... 9  | 15 ... 9    | 15 ... 9      | 15     |
//!
//! Block `i` of a slab lies at `slab + colour + i * s`, a multiple of the
//! block alignment, so every block is aligned as promised. A 32-byte header
//! at the end of the chunk holds the slab's free list, its block counts, its
//! colour and its links in the class's list of partial slabs. The last
//! [`SLAB_TAIL`] (32) bytes of the span are not taken: a boundary-tag
//! allocator such as TLSF puts the header of the block after the slab there,
//! so slabs taken one after another pack without gaps (taking whole aligned
//! spans from TLSF would waste almost a slab per slab). Blocks of a new slab
//! are carved on demand, so taking a slab is O(1) too.
//!
//! **Colouring** (Bonwick): the bytes a slab cannot use for a whole block
//! (its slack) shift where its blocks start, in steps of 64 bytes (a cache
//! line, or the block alignment if larger), so that successive slabs of a
//! class put their blocks on different cache lines: the first slab of a
//! class starts at 0, the next at 64, and so on as far as the slack allows
//! ([`SizeClasses::colours`]), then over again. It costs no memory. A
//! table turns it off with [`SizeClasses::COLOURING`].
//!
//! The 32 KiB cap keeps slabs within reach of small heaps; a heap whose
//! backing allocator cannot find a free, 32 KiB-aligned 32 KiB chunk cannot
//! serve the classes whose slabs are that large (the original needs 128 and
//! 256 KiB chunks for its 2048- and 4096-byte classes).
//!
//! Each class keeps a doubly linked list of partial slabs (a free and a used
//! block); allocation takes from the head, a free into a full slab links it
//! in at the head, and a slab that becomes empty is unlinked in O(1), then
//! cached or returned.
//!
//! # Finding a block's size from its address
//!
//! A C `free(p)` has no size. A table with
//! [`SizeClasses::SLAB_INDEX`] (such as [`MallocClasses`]: [`FineClasses`]
//! from 16 bytes to 1 KiB, no exact-fit rule) makes the heap keep a **slab
//! index**: a hash set of its live slabs' start addresses, each tagged with
//! its class (an [`AddressTable`](allocator_traits::address_table::AddressTable)). Its table
//! is a block of the backing allocator, doubled as slabs are taken, freed
//! with the last slab, counted like the slabs (not in `used_bytes`).
//! [`Heap::block_size`] then masks the address for each slab size of the
//! table (at most 4, the size of the most classes first): a slab of that
//! size in the index, with the address
//! before its header, gives the class size; otherwise the block is the
//! backing allocator's, which answers for it (TLSF reads its header). So
//! `SlabByteAllocator<TlsfByteAllocator, MallocClasses>` has
//! [`ByteAllocator::finds_block_sizes`], and a block may be freed with the
//! layout `(block_size, align)`. Without the index, a table pays nothing:
//! every index operation is compiled out, and the heap carries three unused
//! words.
//!
//! # Debug checks
//!
//! With the `debug-checks` feature (on in this crate's own tests; it also
//! turns on `allocator-tlsf`'s, which checks the large blocks), freeing or
//! resizing a class block first checks it, and panics with a message naming
//! the bug (`allocator-slab: double free of 0x... (64-byte class)`):
//!
//! - a pointer misaligned for its layout, or not at a block boundary of its
//!   class;
//! - a pointer outside every region, when the heap knows them all (a
//!   [`SlabByteAllocator`], or a heap from [`Heap::try_new`] /
//!   [`Heap::try_new_in`], up to [`MAX_REGIONS`](allocator_traits::region::MAX_REGIONS) regions; a heap from
//!   [`Heap::with_backing`] does not know what its backing allocator already
//!   manages, and skips this check);
//! - a pointer whose slab header (found by masking) carries no tag of its
//!   class: a pointer never allocated, a wrong layout, or a block of a slab
//!   already returned to the backing allocator;
//! - a double free: the block's bit in its slab's live-block bitmap is
//!   clear (one bit per block, [`MAX_BLOCKS_PER_SLAB`] bits, enough for the
//!   fullest slab any table may have; the bitmap is read, never the block,
//!   whose bytes may be uninitialised).
//!
//! And freed blocks are poisoned: on free every byte after the link is
//! filled with `0xa5`; when the block is taken from the free list again, the
//! link must be a block of its slab and the poison intact, or it panics with
//! `allocator-slab: use after free: block 0x... was written after it was
//! freed`. (A block handed out holds poison, not zeroes or old data.)
//!
//! Cost: the checks are O(1), a few reads of the block and its slab header
//! (and a scan of the known regions); poisoning is O(block size), one fill
//! on free and one comparison on reuse, up to 4 KiB each. The header grows
//! by the tag and the bitmap (to 104 bytes on 64-bit targets), so a slab may
//! hold a block less; the slab sizes do not change. Without the feature none
//! of it is compiled.
//!
//! What it cannot catch: a stale pointer whose block was handed out again
//! (it is live again); a write after free into a block that is never reused
//! before its slab is emptied or returned; a write after free that leaves
//! the poison as it was; a wrong layout of the same class.
//!
//! # Statistics
//!
//! - [`total_bytes`](Heap::total_bytes): the backing allocator's
//!   `total_bytes`.
//! - [`used_bytes`](Heap::used_bytes): the class size of every block handed
//!   out by a class, plus the large blocks as the backing allocator counts
//!   them. The slabs themselves are not "used" (the backing allocator's count
//!   for them is measured and subtracted), so `used_bytes` is 0 once every
//!   block is freed.
//! - [`available_bytes`](Heap::available_bytes): the backing allocator's
//!   `available_bytes` plus the free blocks of the slabs held. Slab headers
//!   count in neither, so `used_bytes + available_bytes <= total_bytes`.
//! - [`peak_used_bytes`](Heap::peak_used_bytes): the most `used_bytes` seen
//!   after an allocation.
//! - [`class_stats`](Heap::class_stats): per class, the blocks live now and
//!   at the peak, the slabs held full, partial and cached empty, the blocks
//!   allocated and freed, and the bytes the live blocks' layouts asked for;
//!   from these, the bytes lost to rounding, the free bytes in the slabs
//!   held and the fragmentation ratio ([`ClassStats`]). It prints one line
//!   per class (`  48 B: live 12 (peak 40), slabs 0 full / 1 partial / 0
//!   cached (4 KiB), 52 allocs, 40 frees, rounding 96 B, free in slabs
//!   3456 B, fragmentation 86.0 %`). The counters live in the per-class
//!   structure (one cache line) the fast paths already touch: an
//!   allocation adds one, adds its size and raises the peak; a free adds
//!   one and subtracts its size.
//!
//! # Examples
//!
//! ```
//! use core::alloc::Layout;
//! use allocator_slab::SlabByteAllocator;
//! use allocator_traits::{AllocError, BaseAllocator, ByteAllocator};
//!
//! let mut heap = SlabByteAllocator::new();
//! let small = Layout::from_size_align(24, 8).unwrap();
//! assert_eq!(heap.alloc(small), Err(AllocError::NoMemory), "no memory before init");
//!
//! // Any memory the allocator may own for good: here, a leaked buffer.
//! let pool: &'static mut [u8] = Box::leak(vec![0u8; 256 * 1024].into_boxed_slice());
//! // SAFETY: the buffer is leaked, so it is ours alone and lives forever; its
//! // address is exposed for the allocator to derive pointers from.
//! unsafe { heap.init(pool.as_mut_ptr().expose_provenance(), pool.len()) }.unwrap();
//!
//! let block = heap.alloc(small).unwrap();
//! assert_eq!(heap.used_bytes(), 32, "24 bytes take a block of the 32-byte class");
//! // SAFETY: `block` came from `heap.alloc(small)`; 30 bytes stay in its class.
//! let same = unsafe { heap.realloc(block, small, 30) }.unwrap();
//! assert_eq!(same, block, "in place within the class");
//!
//! let big = Layout::from_size_align(100, 8192).unwrap();
//! let aligned = heap.alloc(big).unwrap();
//! assert_eq!(aligned.as_ptr().addr() % 8192, 0);
//!
//! // SAFETY: each block is freed once, with the layout it has now.
//! unsafe {
//!     heap.dealloc(same, Layout::from_size_align(30, 8).unwrap());
//!     heap.dealloc(aligned, big);
//! }
//! assert_eq!(heap.used_bytes(), 0);
//! ```
#![no_std]
#![deny(missing_docs)]

pub(crate) mod classes;
pub(crate) mod heap;

use core::{alloc::Layout, ptr::NonNull};

pub use allocator_tlsf::TlsfByteAllocator;
use allocator_traits::{AllocResult, BaseAllocator, ByteAllocator};
pub use classes::{
    CACHED_BLOCK_BYTES, COLOUR_STEP, FINE_WORST_WASTE_PERCENT, FineClasses, FineClassesTo4096,
    MAX_BLOCKS_PER_SLAB, MAX_CLASS_SIZE, MAX_CLASSES, MAX_SLAB_SIZE, MIN_CLASS_SIZE, MIN_SLAB_SIZE,
    MallocClasses, PowerOfTwoClasses, SizeClasses,
};
pub use heap::{
    CACHED_EMPTY_SLABS, ClassStats, HEAP_ALIGN, Heap, HeapClassStats, MIN_HEAP_SIZE, MIN_REGION_SIZE,
    SLAB_TAIL,
};

/// A byte allocator over a [`Heap`]: slab size classes in front of the
/// backing allocator `B`.
///
/// It serves what its backing allocator manages: with [`new`](Self::new)
/// nothing until [`init`](BaseAllocator::init) (before that, `alloc` is
/// [`AllocError::NoMemory`](allocator_traits::AllocError::NoMemory)); with [`with_backing`](Self::with_backing), the
/// backing allocator's memory at once. The region handed to `init` or
/// `add_memory` goes to the backing allocator, trimmed by its rules (not by
/// the stricter rules of [`Heap::new`]); a region smaller than
/// [`MIN_REGION_SIZE`] (8,320 bytes: room for a slab of the smallest class wherever the region starts) is [`AllocError::InvalidParam`](allocator_traits::AllocError::InvalidParam).
pub struct SlabByteAllocator<B: ByteAllocator = TlsfByteAllocator, C: SizeClasses = FineClasses> {
    heap: Heap<B, C>,
}

impl SlabByteAllocator {
    /// An allocator with the default backing allocator,
    /// [`TlsfByteAllocator`], managing no memory yet.
    pub const fn new() -> Self {
        Self::with_backing(TlsfByteAllocator::new())
    }
}

impl<B: ByteAllocator + Default, C: SizeClasses> Default for SlabByteAllocator<B, C> {
    fn default() -> Self {
        Self::with_classes(B::default())
    }
}

impl<B: ByteAllocator + core::fmt::Debug, C: SizeClasses> core::fmt::Debug for SlabByteAllocator<B, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlabByteAllocator").field("heap", &self.heap).finish()
    }
}

impl<B: ByteAllocator> SlabByteAllocator<B> {
    /// An allocator of the default size classes, [`FineClasses`], in front
    /// of `backing`, which may already manage memory (then it is served at
    /// once) or not (then [`init`](BaseAllocator::init) hands it the first
    /// region), as [`Heap::with_backing`]. Other tables:
    /// [`with_classes`](SlabByteAllocator::with_classes).
    pub const fn with_backing(backing: B) -> Self {
        Self::with_classes(backing)
    }
}

impl<B: ByteAllocator, C: SizeClasses> SlabByteAllocator<B, C> {
    /// An allocator of the size classes `C` in front of `backing`, as
    /// [`with_backing`](SlabByteAllocator::with_backing):
    /// `SlabByteAllocator::<_, PowerOfTwoClasses>::with_classes(TlsfByteAllocator::new())`.
    pub const fn with_classes(backing: B) -> Self {
        Self { heap: Heap::with_classes(backing) }
    }

    /// The heap behind the allocator.
    pub fn heap(&self) -> &Heap<B, C> {
        &self.heap
    }

    /// The statistics of each size class; see [`Heap::class_stats`].
    pub fn class_stats(&self) -> HeapClassStats {
        self.heap.class_stats()
    }

    /// Bounds on the usable size of a block allocated for `layout`; see
    /// [`Heap::usable_size`].
    pub fn usable_size(&self, layout: Layout) -> (usize, usize) {
        self.heap.usable_size(layout)
    }

    /// Returns the cached empty slabs to the backing allocator; see
    /// [`Heap::release_cached_slabs`].
    pub fn release_cached_slabs(&mut self) -> usize {
        self.heap.release_cached_slabs()
    }
}

impl<B: ByteAllocator, C: SizeClasses> BaseAllocator for SlabByteAllocator<B, C> {
    /// Hands the backing allocator its first region (trimmed by its rules),
    /// through the backing allocator's own `init`.
    ///
    /// A region smaller than [`MIN_REGION_SIZE`] is
    /// [`AllocError::InvalidParam`](allocator_traits::AllocError::InvalidParam); otherwise the answer is the backing
    /// allocator's, a second `init` included (TLSF and buddy:
    /// [`AllocError::MemoryOverlap`](allocator_traits::AllocError::MemoryOverlap) for a region they manage,
    /// [`AllocError::InvalidParam`](allocator_traits::AllocError::InvalidParam) for another).
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::init`].
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract.
        unsafe { self.heap.init_backing(start, size) }
    }

    /// Adds a region to the backing allocator (trimmed by its rules); errors
    /// are the backing allocator's ([`AllocError::MemoryOverlap`](allocator_traits::AllocError::MemoryOverlap) for a
    /// region it already manages). While the backing allocator manages no
    /// memory this is `init`.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::add_memory`].
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        if self.heap.backing().total_bytes() == 0 {
            // SAFETY: the caller's contract.
            return unsafe { self.init(start, size) };
        }
        // SAFETY: the caller's contract.
        unsafe { self.heap.add_memory(start, size) }
    }
}

// SAFETY: blocks are class blocks of slabs taken from `B` (whose `unsafe impl`
// promises valid, disjoint memory) or blocks of `B` itself; a class block is
// handed out only while it is off its slab's free list.
unsafe impl<B: ByteAllocator, C: SizeClasses> ByteAllocator for SlabByteAllocator<B, C> {
    /// Allocates a block for `layout`: O(1) from a size class when a class
    /// serves its size and alignment (a zero-size layout gets a real block),
    /// from the backing allocator otherwise; see [`Heap::alloc`].
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`](allocator_traits::AllocError::NoMemory) before `init`, or when no memory is left
    /// after the cached empty slabs went back to the backing allocator; a
    /// large layout can also fail with the backing allocator's error.
    ///
    /// # Complexity
    ///
    /// A class block: O(1), one table lookup, then a pop from the class's
    /// block cache, or from the free list of the head of its partial list
    /// (or the next uncarved block). When the class has no partial slab:
    /// one call of the backing allocator for a new slab (O(1) over TLSF,
    /// O(log n) over buddy); when that fails, the block caches go back to
    /// their slabs (at most [`MAX_CLASSES`] x 64 blocks) and every empty
    /// slab held (at most one per class) to the backing allocator, and the
    /// call repeats once. A large layout: the backing allocator's cost.
    #[inline]
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        self.heap.alloc(layout)
    }

    /// Frees a block: O(1) for a class block.
    ///
    /// # Complexity
    ///
    /// A class block: O(1), a push onto the class's block cache while it
    /// has room; otherwise its slab found by masking, a push onto the slab's
    /// free list, at most one list link, and a slab that empties goes to the
    /// class's cache or back to the backing allocator (one call). A large
    /// block: the backing allocator's cost.
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::dealloc`].
    #[inline]
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { self.heap.dealloc(pos, layout) }
    }

    /// Resizes a block; in place (the same pointer) when the new size falls
    /// in the same class. See [`Heap::realloc`].
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::realloc`].
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        // SAFETY: the caller's contract.
        unsafe { self.heap.realloc(pos, old, new_size) }
    }

    /// See [`Heap::total_bytes`].
    fn total_bytes(&self) -> usize {
        self.heap.total_bytes()
    }

    /// See [`Heap::used_bytes`].
    fn used_bytes(&self) -> usize {
        self.heap.used_bytes()
    }

    /// See [`Heap::peak_used_bytes`].
    fn peak_used_bytes(&self) -> Option<usize> {
        Some(self.heap.peak_used_bytes())
    }

    /// See [`Heap::available_bytes`].
    fn available_bytes(&self) -> usize {
        self.heap.available_bytes()
    }

    /// Walks the slabs in the lists and the backing allocator; see
    /// [`Heap::assert_valid`].
    fn assert_valid(&self) {
        self.heap.assert_valid();
    }

    /// Gives back a region handed to `init` or `add_memory`, exactly as it
    /// was handed over, if no block lies in it: the cached empty slabs in it
    /// go back to the backing allocator first, then the backing allocator
    /// removes it. See [`Heap::remove_memory`].
    ///
    /// # Errors
    ///
    /// As for [`Heap::remove_memory`]: [`AllocError::NotAllocated`](allocator_traits::AllocError::NotAllocated) for a
    /// range never handed over, [`AllocError::MemoryOverlap`](allocator_traits::AllocError::MemoryOverlap) while a
    /// block (or a slab with a live block) lies in it.
    ///
    /// # Complexity
    ///
    /// The backing allocator's `remove_memory` (at most three times) plus
    /// O(cached blocks + cached empty slabs), at most [`MAX_CLASSES`] x
    /// (64 + [`CACHED_EMPTY_SLABS`]), plus O(indexed slabs) to move the
    /// slab index's table.
    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        self.heap.remove_memory(start, size)
    }

    /// See [`Heap::max_layout_size`].
    fn max_layout_size(&self, align: usize) -> usize {
        self.heap.max_layout_size(align)
    }

    /// A class block's class size (from the layout alone); a large block's
    /// is the backing allocator's answer.
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::usable_size`].
    unsafe fn usable_size(&self, pos: NonNull<u8>, layout: Layout) -> usize {
        if C::size_class(layout).is_some() {
            return self.heap.usable_size(layout).1;
        }
        // SAFETY: a layout no class serves went to the backing allocator,
        // where `pos` is a live block of `layout` (caller's contract).
        unsafe { self.heap.backing().usable_size(pos, layout) }
    }

    /// With the slab index ([`SizeClasses::SLAB_INDEX`]) over a backing
    /// allocator that finds its blocks' sizes: every size is found.
    fn finds_block_sizes() -> bool {
        C::SLAB_INDEX && B::finds_block_sizes()
    }

    /// A class block's class size, found through the slab index; a large
    /// block's is the backing allocator's answer; `None` without the index.
    /// See [`Heap::block_size`].
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::block_size`].
    #[inline]
    unsafe fn block_size(&self, pos: NonNull<u8>, align: usize) -> Option<usize> {
        // Over a backing allocator that cannot find sizes, no size is
        // found, class blocks' included: the trait promises a size for
        // every block or for none.
        if !Self::finds_block_sizes() {
            return None;
        }
        // SAFETY: the caller's contract.
        unsafe { self.heap.block_size(pos, align) }
    }
}

#[cfg(test)]
mod tests;
