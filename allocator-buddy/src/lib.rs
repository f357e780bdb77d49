//! A binary buddy byte allocator whose `alloc` and `free` are O(log n).
//!
//! [`BuddyByteAllocator`] hands out naturally aligned power-of-two blocks. A
//! request for `size` bytes with alignment `align` gets a block of
//! `max(size, align, MIN_BLOCK_SIZE)` rounded up to a power of two; a block
//! of `2^k` bytes always starts at a multiple of `2^k` (absolute address), so
//! any alignment up to the block size comes for free.
//!
//! ```
//! use core::alloc::Layout;
//! use allocator_buddy::BuddyByteAllocator;
//! use allocator_traits::{BaseAllocator, ByteAllocator};
//!
//! let pool: &'static mut [u8] = std::vec![0u8; 1 << 20].leak();
//! let mut heap = BuddyByteAllocator::new();
//! // SAFETY: the pool is leaked memory used by nothing else.
//! unsafe { heap.init(pool.as_mut_ptr().expose_provenance(), pool.len()) }.unwrap();
//!
//! let layout = Layout::from_size_align(100, 64).unwrap();
//! let block = heap.alloc(layout).unwrap();
//! assert_eq!(block.as_ptr().addr() % 64, 0);
//! assert_eq!(heap.used_bytes(), 128, "100 bytes take a 128-byte block");
//! // SAFETY: `block` came from `heap.alloc(layout)`.
//! unsafe { heap.dealloc(block, layout) };
//! assert_eq!(heap.used_bytes(), 0);
//! assert_eq!(heap.available_bytes(), heap.total_bytes());
//! ```
//!
//! # Why another buddy allocator
//!
//! The usual free-list buddy allocator (`buddy_system_allocator`, which
//! ArceOS's `BuddyByteAllocator` wraps) finds a block's buddy on free by
//! walking the free list of its order, so a free costs O(free blocks): with
//! 25,000 free blocks of one size, every free walks thousands of nodes. This
//! engine answers "is my buddy free, and of my order?" and "unlink it" in
//! O(1), so a free is O(log n) in the region size (one step per merge) and
//! never depends on how many blocks are free or live.
//!
//! # Design
//!
//! **Free lists.** One doubly linked list per order; the links live inside
//! the free blocks themselves. A free block starts with a header:
//!
//! | word | contents |
//! |------|----------|
//! | 0    | `next`: the next free block of the same order, or null |
//! | 1    | `prev`: the previous one (null for the list head); bit 0 is set when the block has the minimum order |
//! | 2    | the block's order; only present (and only read) when bit 0 of `prev` is clear, i.e. the block has at least three words |
//!
//! The minimum block is two words ([`MIN_BLOCK_SIZE`]: 16 bytes on 64-bit
//! targets, 8 on 32-bit), enough for both links, so small requests waste
//! little. Free blocks are aligned to the minimum block, so bit 0 of `prev`
//! is spare and marks the minimum order, whose blocks have no room for word 2.
//!
//! A bitmask of non-empty lists finds the smallest order that can serve a
//! request with one `trailing_zeros`; no loop ever visits an empty list.
//!
//! **Free-head bitmap.** Each region keeps one bit per minimum block, set iff
//! a free block starts there. On free, the buddy of a block of order `k` at
//! `addr` is `addr ^ 2^k`; it is free as a whole iff its bit is set and its
//! header says order `k` (a free block starting at the buddy address cannot
//! be larger than `k`, as it would contain the block being freed). Both are
//! O(1) reads, and the doubly linked list unlinks it in O(1).
//!
//! **Metadata.** The bitmap is carved from the front of each region (after
//! trimming the region to [`MIN_BLOCK_SIZE`] alignment): one bit per
//! [`MIN_BLOCK_SIZE`] bytes, rounded up to a whole minimum block,
//! [`metadata_bytes`] in all: 1/128 of the region on 64-bit targets. The
//! bytes behind it are then split into naturally aligned power-of-two blocks
//! as large as the bounds (and the largest order) allow. [`total_bytes`]
//! counts those blocks only: metadata and trimmed edges are excluded, so
//! `used_bytes() + available_bytes() == total_bytes()` exactly.
//!
//! **Regions.** Up to [`MAX_REGIONS`] regions, added in any address order,
//! kept sorted by address. Blocks never merge across regions, even adjacent
//! ones. Finding a pointer's region is a binary search over that small table.
//! A region whose memory is all free again can be given back
//! ([`remove_memory`](allocator_traits::ByteAllocator::remove_memory)):
//! it is then exactly its initial blocks, which are unlinked, and the
//! allocator never touches it again.
//!
//! # Debug checks
//!
//! With the `debug-checks` feature (on in this crate's own tests),
//! `dealloc` and `realloc` check the pointer before the lists are touched,
//! and panic with a message naming the bug (`allocator-buddy: double free of
//! 0x... (order 5)`):
//!
//! - a layout larger than any block (no block can have been allocated for it);
//! - a pointer outside every region's blocks (its bitmap included): nothing
//!   is read;
//! - a pointer misaligned for its layout, or not aligned to its block's size
//!   (every block of order `k` starts at a multiple of `2^k`), or whose block
//!   would run past its region's end;
//! - a double free (or a `realloc` of a freed block): `addr` lies in a free
//!   block. That block starts at `addr` rounded down to its size, so the check
//!   reads the free-head bitmap at `addr` rounded down to each order from the
//!   block's up, and stops at the first free head.
//!
//! Cost: O(log R) for the region lookup (as `dealloc` already pays) and at
//! most one bitmap read per order above the block's, O(L) like the merges of
//! the free itself. Without the feature none of it is compiled.
//!
//! What it cannot catch: a stale pointer whose memory was handed out again
//! (a block that starts at the same address is live again); a pointer into a
//! live block that happens to be aligned to the layout's block size (the
//! bitmap only marks free blocks, so the start of a used block is not
//! recorded); a wrong layout of the same order.
//!
//! # Complexity
//!
//! With `L` orders (at most [`usize::BITS`]) and `R <= MAX_REGIONS` regions:
//!
//! - `alloc`: O(log R) to find the region of the block taken, then one split
//!   per order between the block found and the block wanted: O(L).
//! - `dealloc`: O(log R), then one O(1) merge per order climbed: O(L).
//! - `realloc`: in place when shrinking (one split per order) or when every
//!   buddy above the block is free (one absorption per order); otherwise
//!   `alloc` + copy + `dealloc`.
//! - `add_memory`: O(R) to check for overlap, writing the bitmap's
//!   [`metadata_bytes`] once, and one O(1) free-list insertion per initial
//!   block (at most two per order, plus one per largest block).
//! - `remove_memory`: O(R) to find the region, then one O(1) check and one
//!   O(1) unlink per initial block: a region is wholly free iff each of its
//!   initial blocks is a free block of its initial order again.
//!
//! [`total_bytes`]: allocator_traits::ByteAllocator::total_bytes
#![no_std]
#![deny(missing_docs)]

use core::{alloc::Layout, fmt, ptr, ptr::NonNull};

use allocator_traits::{AllocError, AllocResult, BaseAllocator, ByteAllocator, region};

/// The smallest block handed out: room for the two free-list links.
pub const MIN_BLOCK_SIZE: usize = 2 * size_of::<usize>();

/// The smallest region `init`/`add_memory` accept (once trimmed to
/// [`MIN_BLOCK_SIZE`] alignment): one minimum block of bitmap and one block.
pub const MIN_REGION_SIZE: usize = 2 * MIN_BLOCK_SIZE;

/// `log2(MIN_BLOCK_SIZE)`.
const MIN_ORDER: usize = MIN_BLOCK_SIZE.trailing_zeros() as usize;

/// The largest number of regions (`init` plus `add_memory` calls) one
/// allocator manages; one more is [`AllocError::NoMemory`]: the workspace's
/// rule, [`allocator_traits::region::MAX_REGIONS`].
pub use allocator_traits::region::MAX_REGIONS;

/// When `realloc` must move a growing block of at least
/// [`GROWTH_HEADROOM_MIN_ORDER`], it cuts the new block from a free block this
/// many orders larger if there is one, so the block can grow 8x more in place
/// before it moves again. A `Vec` pushed to millions of elements then copies
/// its large buffers every third doubling instead of at every one (the
/// README's results, `vec_push_3M`, show what it buys).
pub const GROWTH_HEADROOM: usize = 3;

/// The smallest order (blocks of 256 KiB) that [`GROWTH_HEADROOM`] applies
/// to. Below it a move takes the smallest block that fits, as `alloc` does:
/// cutting small growing blocks from larger ones fragments the heap (the
/// benchmark's heap efficiency, with reallocations up to 100 KB, falls from
/// 66 % to 47 % with headroom at every size), while copying them is cheap.
pub const GROWTH_HEADROOM_MIN_ORDER: usize = 18;

/// Bit 0 of a free block's `prev` word: set iff the block has the minimum
/// order (and so no order word).
const MIN_ORDER_TAG: usize = 1;

const WORD_BITS: usize = usize::BITS as usize;

/// The bytes of metadata (the free-head bitmap) that a region of `len`
/// bytes, already trimmed to [`MIN_BLOCK_SIZE`] alignment, gives up: one bit
/// per [`MIN_BLOCK_SIZE`] bytes, rounded up to whole minimum blocks.
///
/// A region `[start, start + metadata_bytes(len) + n)` with `start` aligned
/// to [`MIN_BLOCK_SIZE`] and `len = metadata_bytes(len) + n` manages exactly
/// the `n` bytes that follow the bitmap.
pub const fn metadata_bytes(len: usize) -> usize {
    let blocks = len / MIN_BLOCK_SIZE;
    let words = blocks.div_ceil(WORD_BITS);
    let bytes = words * size_of::<usize>();
    // Round up to a whole minimum block, without overflow.
    bytes.div_ceil(MIN_BLOCK_SIZE) * MIN_BLOCK_SIZE
}

/// The bytes of metadata a region needs so that exactly `managed` bytes of
/// blocks follow its bitmap: the smallest fixed point of
/// `m = metadata_bytes(managed + m)`.
///
/// A region `[start, start + metadata_bytes_managing(n) + n)` with `start`
/// aligned to [`MIN_BLOCK_SIZE`] manages exactly the `n` bytes after the
/// bitmap, so a caller can place its blocks at a chosen address (for
/// example, one aligned to a large block size).
///
/// ```
/// use allocator_buddy::{metadata_bytes, metadata_bytes_managing};
///
/// let meta = metadata_bytes_managing(4096);
/// assert_eq!(metadata_bytes(4096 + meta), meta);
/// ```
pub const fn metadata_bytes_managing(managed: usize) -> usize {
    // `metadata_bytes` is monotonic and bounded, so the iteration rises to
    // the fixed point and stops (saturating: no overflow at the top).
    let mut meta = metadata_bytes(managed);
    loop {
        let next = metadata_bytes(managed.saturating_add(meta));
        if next == meta {
            return meta;
        }
        meta = next;
    }
}

/// The order of the block that serves `size` bytes aligned to `align`, if it
/// is below `orders`.
#[inline]
const fn order_for(size: usize, align: usize, orders: usize) -> Option<usize> {
    let mut need = if size > align { size } else { align };
    if need < MIN_BLOCK_SIZE {
        need = MIN_BLOCK_SIZE;
    }
    // ceil(log2(need)) for need >= 2.
    let order = (usize::BITS - (need - 1).leading_zeros()) as usize;
    if order < orders { Some(order) } else { None }
}

/// The header of a free block; see the crate docs. Only `next` and `prev`
/// exist in a minimum-order block, so `order` is touched only when the
/// `MIN_ORDER_TAG` of `prev` is clear, and no reference to a whole
/// `FreeBlock` is ever formed.
#[repr(C)]
struct FreeBlock {
    next: *mut FreeBlock,
    prev: *mut FreeBlock,
    order: usize,
}

/// The `prev`-word tag of a free block of `order`.
#[inline]
const fn tag_of(order: usize) -> usize {
    (order == MIN_ORDER) as usize
}

/// One managed region: `[base, start)` holds the free-head bitmap,
/// `[start, end)` the blocks.
#[derive(Clone, Copy)]
struct RegionMeta {
    /// The trimmed start of the region and of its bitmap; its provenance
    /// covers the whole region.
    base: NonNull<u8>,
    /// The first byte of the first block.
    start: usize,
    /// One past the last byte of the last block.
    end: usize,
    /// The range the caller handed over, before trimming: what overlap is
    /// checked against (the rule every engine keeps).
    claimed: region::Region,
}

impl RegionMeta {
    const EMPTY: Self =
        Self { base: NonNull::dangling(), start: 0, end: 0, claimed: region::Region { start: 0, end: 0 } };

    /// A pointer to `addr` (inside the region) with the region's provenance.
    #[inline]
    fn ptr(&self, addr: usize) -> *mut u8 {
        self.base.as_ptr().with_addr(addr)
    }

    /// Whether `[addr, addr + size)` lies inside the region's blocks.
    #[inline]
    fn holds(&self, addr: usize, size: usize) -> bool {
        addr >= self.start && addr < self.end && self.end - addr >= size
    }

    /// The bitmap word and bit mask of the minimum block at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` lies in `[start, end)`.
    #[inline]
    unsafe fn head_bit(&self, addr: usize) -> (*mut usize, usize) {
        let index = (addr - self.base.as_ptr().addr()) >> MIN_ORDER;
        // SAFETY: the bitmap at `base` has one bit per minimum block of
        // `[base, end)` (`metadata_bytes`), and `addr` is in that range, so
        // the word is inside the bitmap; `base` is word-aligned.
        let word = unsafe { self.base.as_ptr().cast::<usize>().add(index / WORD_BITS) };
        (word, 1 << (index % WORD_BITS))
    }

    /// Whether a free block starts at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` lies in `[start, end)`.
    #[inline]
    unsafe fn is_free_head(&self, addr: usize) -> bool {
        // SAFETY: forwarded.
        let (word, mask) = unsafe { self.head_bit(addr) };
        // SAFETY: `word` is a bitmap word of this region, which only the
        // allocator touches.
        unsafe { *word & mask != 0 }
    }

    /// Marks `addr` as the start of a free block (`free`) or not.
    ///
    /// # Safety
    ///
    /// `addr` lies in `[start, end)`.
    #[inline]
    unsafe fn set_free_head(&self, addr: usize, free: bool) {
        // SAFETY: forwarded.
        let (word, mask) = unsafe { self.head_bit(addr) };
        // SAFETY: as in `is_free_head`.
        unsafe {
            if free {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        }
    }
}

/// A binary buddy byte allocator with O(log n) `alloc` and `dealloc`.
///
/// `ORDER` is the number of block orders, as in `buddy_system_allocator`'s
/// `Heap<ORDER>`: the largest block is `2^(ORDER - 1)` bytes (2 GiB for the
/// default 32). It must lie in `(log2(MIN_BLOCK_SIZE), usize::BITS]`, checked
/// at compile time. Larger regions are split into several largest blocks.
///
/// Errors:
///
/// - `init`/`add_memory`: a region whose end overflows, or that holds no
///   block after trimming and the bitmap, is [`AllocError::InvalidParam`]; a
///   region overlapping a managed one (bitmap included) is
///   [`AllocError::MemoryOverlap`]; more than [`MAX_REGIONS`] regions is
///   [`AllocError::NoMemory`]. `init` on an allocator that already manages
///   memory is `MemoryOverlap` if the region overlaps, else `InvalidParam`.
/// - `alloc`: a request whose block would exceed `2^(ORDER - 1)` bytes (by
///   size or by alignment), or that no free block can serve, is
///   [`AllocError::NoMemory`]; so is any request before `init`.
///
/// See the [crate docs](crate) for the data structures and their costs.
///
/// # Invariants
///
/// Checked by [`assert_valid`](ByteAllocator::assert_valid):
///
/// - the live regions are sorted and disjoint (their claimed ranges), each
///   bitmap at `base` before its blocks `[start, end)`;
/// - every block on free list `k` lies in a region, is aligned to `2^k`,
///   has its head bit set, carries its order (the `prev` tag for the
///   minimum order, the `order` word above), and links back to the block
///   before it; bit `k` of `non_empty` is set iff list `k` is not empty;
/// - a head bit is set only for a listed block (as many bits as blocks);
/// - no two free buddies of the same order are left unmerged;
/// - the free blocks sum to `total - used`.
pub struct BuddyByteAllocator<const ORDER: usize = 32> {
    /// The head of the free list of each order (null when empty).
    free_lists: [*mut FreeBlock; ORDER],
    /// Bit `k` set iff `free_lists[k]` is not empty.
    non_empty: usize,
    /// The regions, sorted by address; `regions[..region_count]` are live.
    regions: [RegionMeta; MAX_REGIONS],
    region_count: usize,
    /// The bytes of all blocks (free and used).
    total: usize,
    /// The bytes of the blocks handed out.
    used: usize,
    /// The most `used` seen after an allocation or a reallocation.
    peak_used: usize,
    /// List and bitmap touches, so tests can show that a free's cost does
    /// not depend on how many blocks are free.
    #[cfg(test)]
    steps: usize,
}

// SAFETY: the allocator owns its regions exclusively (the contract of
// `init`/`add_memory`) and holds no thread-bound state; moving it to another
// thread moves that ownership with it.
unsafe impl<const ORDER: usize> Send for BuddyByteAllocator<ORDER> {}

impl BuddyByteAllocator {
    /// An allocator that manages no memory yet, with the default 32 orders
    /// (blocks up to 2 GiB). For another `ORDER` use
    /// [`empty`](Self::empty).
    pub const fn new() -> Self {
        Self::empty()
    }
}

impl<const ORDER: usize> Default for BuddyByteAllocator<ORDER> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<const ORDER: usize> fmt::Debug for BuddyByteAllocator<ORDER> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuddyByteAllocator")
            .field("orders", &ORDER)
            .field("regions", &self.region_count)
            .field("total_bytes", &self.total)
            .field("used_bytes", &self.used)
            .finish()
    }
}

impl<const ORDER: usize> BuddyByteAllocator<ORDER> {
    /// An allocator with `ORDER` orders that manages no memory yet.
    pub const fn empty() -> Self {
        const {
            assert!(ORDER > MIN_ORDER && ORDER <= usize::BITS as usize, "ORDER out of range");
        }
        Self {
            free_lists: [ptr::null_mut(); ORDER],
            non_empty: 0,
            regions: [RegionMeta::EMPTY; MAX_REGIONS],
            region_count: 0,
            total: 0,
            used: 0,
            peak_used: 0,
            #[cfg(test)]
            steps: 0,
        }
    }

    /// The size of the largest block (and so of the largest request).
    pub const MAX_BLOCK_SIZE: usize = 1 << (ORDER - 1);

    #[inline(always)]
    fn step(&mut self) {
        #[cfg(test)]
        {
            self.steps += 1;
        }
    }

    /// The region whose blocks hold `addr`.
    #[inline]
    fn region_of(&self, addr: usize) -> Option<RegionMeta> {
        let regions = &self.regions[..self.region_count];
        let after = regions.partition_point(|r| r.start <= addr);
        let region = *regions.get(after.checked_sub(1)?)?;
        (addr < region.end).then_some(region)
    }

    /// Puts the block at `block` of `order` at the head of its free list.
    ///
    /// # Safety
    ///
    /// `block` is an unused, naturally aligned block of `order` inside
    /// `region`, with the region's provenance.
    #[inline]
    unsafe fn push(&mut self, region: &RegionMeta, block: *mut u8, order: usize) {
        let tag = tag_of(order);
        let block = block.cast::<FreeBlock>();
        let head = self.free_lists[order];
        // SAFETY: `block` is unused memory of at least `MIN_BLOCK_SIZE`
        // bytes (three words unless `order == MIN_ORDER`), aligned to it;
        // `head` is null or a free block of `order`, which holds a header.
        unsafe {
            (*block).next = head;
            (*block).prev = ptr::without_provenance_mut(tag);
            if order != MIN_ORDER {
                (*block).order = order;
            }
            if !head.is_null() {
                (*head).prev = block.map_addr(|a| a | tag);
            }
            region.set_free_head(block.addr(), true);
        }
        self.free_lists[order] = block;
        self.non_empty |= 1 << order;
        self.step();
    }

    /// Takes the free block at `addr` of `order` out of its list.
    ///
    /// # Safety
    ///
    /// A free block of `order` starts at `addr`, inside `region`.
    #[inline]
    unsafe fn unlink(&mut self, region: &RegionMeta, addr: usize, order: usize) {
        let block = region.ptr(addr).cast::<FreeBlock>();
        // SAFETY: `block` is a free block, so it holds a valid header whose
        // links point to free blocks of the same order (or are null).
        unsafe {
            let next = (*block).next;
            let prev = (*block).prev.map_addr(|a| a & !MIN_ORDER_TAG);
            if prev.is_null() {
                self.free_lists[order] = next;
                if next.is_null() {
                    self.non_empty &= !(1 << order);
                }
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev.map_addr(|a| a | tag_of(order));
            }
            region.set_free_head(addr, false);
        }
        self.step();
    }

    /// Whether a free block of exactly `order` starts at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` lies inside `region`'s blocks.
    #[inline]
    unsafe fn is_free_block(&mut self, region: &RegionMeta, addr: usize, order: usize) -> bool {
        self.step();
        // SAFETY: forwarded.
        if !unsafe { region.is_free_head(addr) } {
            return false;
        }
        let block = region.ptr(addr).cast::<FreeBlock>();
        // SAFETY: a free block starts at `addr`, so its `prev` word is a
        // header word; its `order` word exists iff the tag is clear.
        unsafe {
            if (*block).prev.addr() & MIN_ORDER_TAG != 0 {
                order == MIN_ORDER
            } else {
                (*block).order == order
            }
        }
    }

    /// With `debug-checks`: panics unless `addr` can be a live block for
    /// `layout`; see the crate docs for what it catches. O(log R) to find the
    /// region and at most one bitmap read per order above the block's.
    #[cfg(feature = "debug-checks")]
    fn check_live(&self, addr: usize, layout: Layout, op: allocator_traits::bug::Op) {
        let (size, align) = (layout.size(), layout.align());
        let Some(order) = order_for(size, align, ORDER) else {
            allocator_traits::caller_bug!(
                "allocator-buddy: {op} of {addr:#x} with a layout no block can have ({size} bytes, align {align})"
            );
        };
        let Some(region) = self.region_of(addr) else {
            allocator_traits::caller_bug!(
                "allocator-buddy: {op} of {addr:#x}, which lies outside every region"
            );
        };
        if addr % align != 0 {
            allocator_traits::caller_bug!(
                "allocator-buddy: {op} of {addr:#x}, misaligned for its layout (align {align})"
            );
        }
        if addr & ((1 << order) - 1) != 0 || !region.holds(addr, 1 << order) {
            allocator_traits::caller_bug!(
                "allocator-buddy: {op} of {addr:#x}, which is not the start of a block of order {order}"
            );
        }
        // A free block holding `addr` starts at `addr` rounded down to its own
        // size, so it is one of these heads; the first free head found that
        // does not reach `addr` rules out every larger one (they would
        // contain it).
        for k in order..ORDER {
            let head = addr & !((1 << k) - 1);
            if head < region.start {
                break;
            }
            // SAFETY: `head` lies in `[region.start, addr]`, inside the region.
            if !unsafe { region.is_free_head(head) } {
                continue;
            }
            // SAFETY: a free block starts at `head`.
            let free_order = unsafe { Self::free_order(&region, head) };
            if head + (1 << free_order) > addr {
                if op == allocator_traits::bug::Op::Free {
                    allocator_traits::caller_bug!(
                        "allocator-buddy: double free of {addr:#x} (order {order})"
                    );
                }
                allocator_traits::caller_bug!(
                    "allocator-buddy: {op} of {addr:#x} after it was freed (order {order})"
                );
            }
            break;
        }
    }

    /// Frees the block at `addr` of `order` in `region`, merging it with its
    /// free buddies.
    ///
    /// # Safety
    ///
    /// `[addr, addr + 2^order)` is a naturally aligned block inside `region`
    /// that nothing uses and that no free block overlaps.
    #[inline]
    unsafe fn free_block(&mut self, region: &RegionMeta, mut addr: usize, mut order: usize) {
        while order + 1 < ORDER {
            let size = 1 << order;
            let buddy = addr ^ size;
            // SAFETY: `buddy` is checked to lie inside the region first.
            if !region.holds(buddy, size) || !unsafe { self.is_free_block(region, buddy, order) } {
                break;
            }
            // SAFETY: a free block of `order` starts at `buddy`.
            unsafe { self.unlink(region, buddy, order) };
            addr &= !size;
            order += 1;
        }
        // SAFETY: the merged block is unused (the freed block and free
        // buddies just unlinked) and naturally aligned inside the region.
        unsafe { self.push(region, region.ptr(addr), order) };
    }

    /// Whether `range` overlaps a range a caller handed over (untrimmed).
    fn overlaps_claimed(&self, range: &region::Region) -> bool {
        self.regions[..self.region_count].iter().any(|m| m.claimed.overlaps(range))
    }

    /// Validates and records a region; see [`BaseAllocator::add_memory`].
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::add_memory`].
    unsafe fn add_region(&mut self, start: usize, size: usize) -> AllocResult {
        let claimed = region::Region::new(start, size)?;
        let trimmed = region::Region::trimmed(start, size, MIN_BLOCK_SIZE, MIN_BLOCK_SIZE)?;
        // Address 0 cannot carry a pointer: skip its minimum block.
        let base_addr = trimmed.start.max(MIN_BLOCK_SIZE);
        if base_addr >= trimmed.end {
            return Err(AllocError::InvalidParam);
        }
        let len = trimmed.end - base_addr;
        let block_start = base_addr + metadata_bytes(len);
        if block_start >= trimmed.end {
            return Err(AllocError::InvalidParam);
        }
        let end = trimmed.end;
        let count = self.region_count;
        if self.overlaps_claimed(&claimed) {
            return Err(AllocError::MemoryOverlap);
        }
        if count == MAX_REGIONS {
            return Err(AllocError::NoMemory);
        }
        let base = region::addr_to_ptr(base_addr).ok_or(AllocError::InvalidParam)?;
        // SAFETY: `[base, block_start)` lies in the caller's region, which is
        // ours to write (caller's contract), and is word-aligned.
        unsafe { base.as_ptr().write_bytes(0, block_start - base_addr) };

        let meta = RegionMeta { base, start: block_start, end, claimed };
        let at = self.regions[..count].partition_point(|r| r.start < block_start);
        self.regions.copy_within(at..count, at + 1);
        self.regions[at] = meta;
        self.region_count += 1;

        for (addr, order) in Self::initial_blocks(block_start, end) {
            // SAFETY: `[addr, addr + 2^order)` is naturally aligned, inside
            // the new region, and not yet used.
            unsafe { self.push(&meta, meta.ptr(addr), order) };
        }
        self.total += end - block_start;
        Ok(())
    }

    /// The initial blocks of a region whose blocks span `[start, end)`, as
    /// `(addr, order)` in address order: naturally aligned blocks as large as
    /// the bounds and the largest order allow. A region starts as exactly
    /// these free blocks, and when all of its memory is free again it is
    /// exactly these free blocks again: none of them has its buddy inside the
    /// region at its own order (the greedy cut would have taken the pair as
    /// one block), so no free block can grow past them.
    ///
    /// At most two per order, plus one per largest block beyond them.
    fn initial_blocks(start: usize, end: usize) -> impl Iterator<Item = (usize, usize)> {
        let mut addr = start;
        core::iter::from_fn(move || {
            if addr >= end || addr == 0 {
                return None;
            }
            let remaining = end - addr;
            let largest_fit = 1 << (usize::BITS - 1 - remaining.leading_zeros());
            let size = (addr & addr.wrapping_neg()).min(largest_fit).min(Self::MAX_BLOCK_SIZE);
            let block = (addr, size.trailing_zeros() as usize);
            addr += size;
            Some(block)
        })
    }

    /// Takes a block of `order`, splitting the smallest free block of at
    /// least `preferred` (falling back to any order of at least `order`).
    ///
    /// Splitting a block larger than needed leaves every upper half free, so
    /// the new block can later grow in place up to the order it was cut from:
    /// `realloc` asks for that headroom when it has to move a growing block.
    fn alloc_order(&mut self, order: usize, preferred: usize) -> AllocResult<NonNull<u8>> {
        let mut candidates = self.non_empty & (usize::MAX << preferred);
        if candidates == 0 {
            candidates = self.non_empty & (usize::MAX << order);
        }
        if candidates == 0 {
            return Err(AllocError::NoMemory);
        }
        let mut found = candidates.trailing_zeros() as usize;
        let block = self.free_lists[found];
        // A listed block always lies in a region; the check only keeps a
        // broken invariant from turning into a wild write.
        let region = self.region_of(block.addr()).ok_or(AllocError::NoMemory)?;
        // SAFETY: `block` is the head of the free list of `found`, so it is a
        // free block of that order in `region`.
        unsafe { self.unlink(&region, block.addr(), found) };
        let block = block.cast::<u8>();
        while found > order {
            found -= 1;
            // SAFETY: the upper half of the block being split is unused,
            // naturally aligned and in the same region.
            unsafe { self.push(&region, block.map_addr(|a| a + (1 << found)), found) };
        }
        self.used += 1 << order;
        self.peak_used = self.peak_used.max(self.used);
        // SAFETY: free blocks lie in regions, which never contain address 0.
        Ok(unsafe { NonNull::new_unchecked(block) })
    }

    /// Tries to grow the block at `addr` from `order` to `new_order` in place
    /// by absorbing its free upper buddies.
    ///
    /// # Safety
    ///
    /// `addr` is a live block of `order` inside `region`.
    unsafe fn grow_in_place(
        &mut self,
        region: &RegionMeta,
        addr: usize,
        order: usize,
        new_order: usize,
    ) -> bool {
        let new_size = 1usize << new_order;
        if addr & (new_size - 1) != 0 || !region.holds(addr, new_size) {
            return false;
        }
        for k in order..new_order {
            // SAFETY: `addr + 2^k` lies inside `[addr, addr + new_size)`,
            // which is inside the region.
            if !unsafe { self.is_free_block(region, addr + (1 << k), k) } {
                return false;
            }
        }
        for k in order..new_order {
            // SAFETY: checked just above: a free block of `k` starts there.
            unsafe { self.unlink(region, addr + (1 << k), k) };
        }
        self.used += new_size - (1 << order);
        self.peak_used = self.peak_used.max(self.used);
        true
    }
}

impl<const ORDER: usize> BaseAllocator for BuddyByteAllocator<ORDER> {
    /// Manages `[start, start + size)`: trimmed to [`MIN_BLOCK_SIZE`]
    /// alignment, its bitmap ([`metadata_bytes`]) carved from the front.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::init`].
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if self.region_count != 0 {
            return Err(region::second_init(start, size, |r| self.overlaps_claimed(r)));
        }
        // SAFETY: forwarded.
        unsafe { self.add_region(start, size) }
    }

    /// Adds `[start, start + size)`, as [`init`](Self::init) does.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::add_memory`].
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: forwarded.
        unsafe { self.add_region(start, size) }
    }
}

// SAFETY: a block is handed out only after it is unlinked from the free
// lists, and the lists and free-head bitmap cover exactly the managed regions
// (the invariants checked by `assert_valid`); a block of order `k` is
// `2^k`-aligned and at least the asked size and alignment.
unsafe impl<const ORDER: usize> ByteAllocator for BuddyByteAllocator<ORDER> {
    /// Allocates the smallest block of a power-of-two size at least the
    /// layout's size and alignment.
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when no free block of that order or above
    /// exists, or the order exceeds `ORDER - 1`.
    ///
    /// # Complexity
    ///
    /// O(log n): one mask search for the first non-empty list at or above
    /// the order, then one split per order down (at most `ORDER` list
    /// touches, counted in this crate's tests).
    #[inline]
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let order = order_for(layout.size(), layout.align(), ORDER).ok_or(AllocError::NoMemory)?;
        self.alloc_order(order, order)
    }

    /// Frees a block, merging it with its free buddy order by order.
    ///
    /// # Complexity
    ///
    /// O(log n): per order, the buddy's head bit is read (O(1)) and a free
    /// buddy is unlinked from its doubly linked list (O(1)); never a walk of
    /// a free list.
    #[inline]
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        let addr = pos.as_ptr().addr();
        #[cfg(feature = "debug-checks")]
        self.check_live(addr, layout, allocator_traits::bug::Op::Free);
        // Both lookups succeed for any `pos`/`layout` the contract allows;
        // otherwise leaking beats corrupting the lists.
        let (Some(order), Some(region)) =
            (order_for(layout.size(), layout.align(), ORDER), self.region_of(addr))
        else {
            if cfg!(debug_assertions) {
                allocator_traits::caller_bug!(
                    "allocator-buddy: free of a block this allocator never handed out"
                );
            }
            return;
        };
        if cfg!(debug_assertions) && !(addr & ((1 << order) - 1) == 0 && region.holds(addr, 1 << order)) {
            allocator_traits::caller_bug!(
                "allocator-buddy: free of a block that is not a block of its layout"
            );
        }
        self.used -= 1 << order;
        // SAFETY: `pos` is a live block of `order` in `region` (caller's
        // contract), now unused.
        unsafe { self.free_block(&region, addr, order) };
    }

    /// Resizes a block: in place when the order stays, when it shrinks
    /// (the freed halves go back), or when it grows into free buddies;
    /// otherwise it moves.
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when no block of the new order can be had;
    /// the old block is untouched.
    ///
    /// # Complexity
    ///
    /// O(log n) list operations; a block that moves is copied.
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        let addr = pos.as_ptr().addr();
        #[cfg(feature = "debug-checks")]
        self.check_live(addr, old, allocator_traits::bug::Op::Realloc);
        let new_order = order_for(new_size, old.align(), ORDER).ok_or(AllocError::NoMemory)?;
        let (Some(order), Some(region)) = (order_for(old.size(), old.align(), ORDER), self.region_of(addr))
        else {
            return Err(AllocError::NotAllocated);
        };
        // Blocks handed back, and the halves pushed to the free lists, carry
        // the region's provenance, never the caller's (see
        // `allocator_traits::region::with_region_provenance`).
        // SAFETY: `addr` lies in `region`, so it is not null.
        let same = unsafe { NonNull::new_unchecked(region.ptr(addr)) };
        if new_order == order {
            return Ok(same);
        }
        if new_order < order {
            // Shrink: give back the upper halves, largest first. None can
            // merge: the buddy of each is the lower half we keep.
            for k in (new_order..order).rev() {
                // SAFETY: `[addr + 2^k, addr + 2^(k+1))` is the unused upper
                // half of the (live, naturally aligned) block being split.
                unsafe { self.push(&region, region.ptr(addr + (1 << k)), k) };
            }
            self.used -= (1 << order) - (1 << new_order);
            return Ok(same);
        }
        // SAFETY: `pos` is a live block of `order` in `region`.
        if unsafe { self.grow_in_place(&region, addr, order, new_order) } {
            return Ok(same);
        }
        // A large block that grows once is likely to grow again (a `Vec`
        // doubling): cut the new one from a block `GROWTH_HEADROOM` orders
        // larger where there is one, so the next growths happen in place.
        let preferred = if new_order >= GROWTH_HEADROOM_MIN_ORDER {
            (new_order + GROWTH_HEADROOM).min(ORDER.saturating_sub(1)).max(new_order)
        } else {
            new_order
        };
        let new_pos = self.alloc_order(new_order, preferred)?;
        debug_assert!(new.size() <= 1 << new_order);
        // SAFETY: `new_pos` is a fresh block of at least `new_size` bytes
        // that overlaps no live block, in particular not `pos` (`old.size()`
        // bytes, smaller than `new_size` here).
        unsafe { allocator_traits::move_block(pos, old.size(), new_pos, new_size) };
        self.used -= 1 << order;
        // SAFETY: `pos` is a live block of `order` in `region`, now unused.
        unsafe { self.free_block(&region, addr, order) };
        Ok(new_pos)
    }

    fn total_bytes(&self) -> usize {
        self.total
    }

    fn used_bytes(&self) -> usize {
        self.used
    }

    fn peak_used_bytes(&self) -> Option<usize> {
        Some(self.peak_used)
    }

    fn available_bytes(&self) -> usize {
        self.total - self.used
    }

    /// Walks the free lists and the head bitmaps: O(free blocks x regions +
    /// bitmap words). See the invariants on [`BuddyByteAllocator`].
    fn assert_valid(&self) {
        self.check_invariants();
    }

    /// Gives back a region handed to `init` or `add_memory`, exactly as it
    /// was handed over (the untrimmed range), if all of its blocks are free.
    ///
    /// A region's memory is all free iff each of its initial blocks (see the
    /// crate docs: the naturally aligned blocks it was cut into) is a free
    /// block of its initial order again, since free buddies always merge and
    /// no initial block has its buddy inside the region. So the check reads
    /// one bitmap bit and one header per initial block, and the removal
    /// unlinks them; the region's metadata (its bitmap) lies in the region
    /// and is never read again. Afterwards no free list, bitmap or table
    /// entry reaches the region: the allocator never touches it again.
    /// [`total_bytes`](ByteAllocator::total_bytes) drops by the region's
    /// blocks (what it rose by when the region was added); `used_bytes` is
    /// unchanged (0 of it was in the region).
    ///
    /// # Errors
    ///
    /// - [`AllocError::NotAllocated`]: no managed region was handed over as
    ///   exactly `[start, start + size)` (a part of one, a trimmed range, an
    ///   overflowing range, or a region removed already).
    /// - [`AllocError::MemoryOverlap`]: a block of the region is in use;
    ///   nothing changes.
    ///
    /// # Complexity
    ///
    /// O(R) to find the region among `R <= MAX_REGIONS`, then O(1) per
    /// initial block, of which a region has at most two per order plus one
    /// per largest block beyond them: O(L + size / 2^(ORDER - 1)), never
    /// O(free blocks).
    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let claimed = region::Region::new(start, size).map_err(|_| AllocError::NotAllocated)?;
        let count = self.region_count;
        let index = self.regions[..count]
            .iter()
            .position(|m| m.claimed == claimed)
            .ok_or(AllocError::NotAllocated)?;
        let meta = self.regions[index];
        for (addr, order) in Self::initial_blocks(meta.start, meta.end) {
            // SAFETY: initial blocks lie inside the region's blocks.
            if !unsafe { self.is_free_block(&meta, addr, order) } {
                return Err(AllocError::MemoryOverlap);
            }
        }
        for (addr, order) in Self::initial_blocks(meta.start, meta.end) {
            // SAFETY: checked just above: a free block of `order` starts at
            // `addr`, in the region (unlinking one does not change the
            // others: they are distinct blocks).
            unsafe { self.unlink(&meta, addr, order) };
        }
        self.regions.copy_within(index + 1..count, index);
        self.region_count -= 1;
        self.regions[self.region_count] = RegionMeta::EMPTY;
        self.total -= meta.end - meta.start;
        Ok(())
    }

    /// The largest block, [`MAX_BLOCK_SIZE`](Self::MAX_BLOCK_SIZE)
    /// (`2^(ORDER - 1)` bytes), for any `align` up to it (a block of order
    /// `k` is aligned to `2^k`); 0 for larger alignments, which no block
    /// has. Capped where a [`Layout`] of that alignment ends (`isize::MAX`
    /// rounded down to `align`).
    fn max_layout_size(&self, align: usize) -> usize {
        if align > Self::MAX_BLOCK_SIZE {
            return 0;
        }
        Self::MAX_BLOCK_SIZE.min((isize::MAX as usize) & !(align.max(1) - 1))
    }

    /// The block of the layout's order: `2^order` bytes, the power of two
    /// at or above the size and alignment (and the smallest block).
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::usable_size`]; the size comes from the
    /// layout alone (nothing is read from `pos`).
    unsafe fn usable_size(&self, pos: NonNull<u8>, layout: Layout) -> usize {
        let _ = pos;
        order_for(layout.size(), layout.align(), ORDER).map_or(layout.size(), |order| 1 << order)
    }
}

mod check;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod bounds_tests;
