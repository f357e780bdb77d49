//! A TLSF (Two-Level Segregated Fit) byte allocator over [`rlsf`].
//!
//! [`TlsfByteAllocator`] implements [`BaseAllocator`] and [`ByteAllocator`]:
//! allocation and free in constant time, `realloc` in place where the
//! neighbouring block allows it, several pools, and exact statistics.
//!
//! What it does that the upstream `ax-allocator` TLSF wrapper does not:
//!
//! - Bad regions (too small, overflowing, overlapping one already managed,
//!   null) are [`AllocError`]s, never panics.
//! - [`used_bytes`](ByteAllocator::used_bytes) counts the blocks rlsf really
//!   reserves (its header and rounding included), not the requested sizes,
//!   and [`total_bytes`](ByteAllocator::total_bytes) the bytes rlsf really
//!   took, so `used + available <= total` holds exactly.
//! - [`realloc`](ByteAllocator::realloc) goes through [`rlsf::Tlsf::reallocate`],
//!   which grows or shrinks in place when it can, except that a block
//!   shrinking to half its size or less ([`SHRINK_MOVE_RATIO`]) moves to a
//!   fitting free block when there is one: shrinking in place leaves a small
//!   block in the middle of a large hole. In the benchmark's heap-efficiency
//!   suite (talc's random alloc/realloc/free until the first failure) this
//!   fills more of the pool than raw rlsf, at the same operation rate (the
//!   README's results give the figures).
//!
//! # Parameters
//!
//! The engine is `rlsf::Tlsf<'static, u32, u32, 32, 32>` ([`FLLEN`] = 32
//! first-level classes, [`SLLEN`] = 32 second-level classes):
//!
//! - With the 32-byte granularity of 64-bit targets, the first level covers
//!   block sizes up to `32 << 32` bytes = 128 GiB, so a single allocation can
//!   be up to 126 GiB less 16 bytes (the smallest size of the size class
//!   that the largest free block lies in, less the block header; see
//!   [`max_layout_size`](ByteAllocator::max_layout_size)). Pools larger than 128 GiB are split into 128 GiB chunks,
//!   each with its own 32-byte end marker, so regions of any size work. On
//!   32-bit targets (16-byte granularity) the classes cover the whole address
//!   space. `ax-allocator` uses `FLLEN = 28` (8 GiB chunks); the extra four
//!   classes cost 512 bytes and lift the largest block to what a heap of many
//!   GiB can actually need.
//! - 32 second-level classes split every power of two into 32 size classes
//!   (about 3 % apart), which keeps the waste of the good-fit search small.
//!
//! The allocator itself is about 10 KiB (rlsf's free-list heads, 32 x 32
//! pointers, and the region table with the caller's untrimmed ranges), and is built by a `const fn`, so it can
//! live in a `static`.
//!
//! # Regions
//!
//! A region is trimmed inwards to [`GRANULARITY`]; a start at address 0
//! gives up its first granule (a block there would be a null pointer). What
//! is left must hold at least [`MIN_POOL_SIZE`] bytes, or the region is
//! [`AllocError::InvalidParam`]. The allocator records up to [`MAX_REGIONS`]
//! regions to reject overlapping ones ([`AllocError::MemoryOverlap`]); one
//! more is [`AllocError::NoMemory`].
//!
//! A region whose memory is all free again can be given back with
//! [`remove_memory`](ByteAllocator::remove_memory) (rlsf cannot remove a
//! pool: each of the region's pools is taken out of rlsf as one block that is
//! never freed, so rlsf never reaches it again), and
//! [`max_layout_size`](ByteAllocator::max_layout_size) says what the largest
//! pool chunk can serve as one block.
//!
//! # Debug checks
//!
//! With the `debug-checks` feature (on in this crate's own tests),
//! [`dealloc`](ByteAllocator::dealloc) and [`realloc`](ByteAllocator::realloc)
//! check the pointer before rlsf touches anything, and panic with a message
//! naming the bug (`allocator-tlsf: double free of 0x...`):
//!
//! - a pointer outside every managed region (nothing is read);
//! - a pointer misaligned for its layout: aligned below the layout's
//!   alignment, or, for alignments below [`GRANULARITY`], not
//!   `GRANULARITY / 2` past a granule, where every such payload starts;
//! - a pointer that is not the start of a block: the header its layout
//!   designates is no block boundary (its size must lead to a header whose
//!   `prev_phys_block` word points back), or its block is smaller than the
//!   layout;
//! - a double free (or a `realloc` of a freed block): the header's used bit
//!   is clear. When rlsf merges a freed block into the free block before it,
//!   the old header would stay behind with its used bit set; the check
//!   overwrites it, so that case is caught too.
//!
//! Cost: O(1), a few reads of memory next to the block, plus a scan of the
//! region table (at most [`MAX_REGIONS`] entries). Without the feature none
//! of it is compiled.
//!
//! What it cannot catch: freeing a pointer whose memory was handed out again
//! (a stale pointer to a block that was freed and whose header is now a live
//! block's header is indistinguishable from that live block, and one whose
//! old header now lies in a live block's payload is caught only if that
//! payload does not look like a header); a pointer into the middle of a live
//! block whose bytes happen to look like a header; and a wrong layout with
//! the same alignment class (rlsf only needs the alignment). It also reads
//! the memory before a pointer that lies inside a region, which under Miri is
//! an error if that memory is uninitialised.
//!
//! # Examples
//!
//! ```
//! use core::alloc::Layout;
//! use allocator_tlsf::TlsfByteAllocator;
//! use allocator_traits::{BaseAllocator, ByteAllocator};
//!
//! // Any memory the allocator may own for good: here, a leaked buffer.
//! let pool: &'static mut [u8] = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
//! let mut heap = TlsfByteAllocator::new();
//! // SAFETY: the buffer is leaked, so it is ours alone and lives forever; its
//! // address is exposed for the allocator to derive pointers from.
//! unsafe { heap.init(pool.as_mut_ptr().expose_provenance(), pool.len()) }.unwrap();
//!
//! let layout = Layout::from_size_align(100, 8).unwrap();
//! let block = heap.alloc(layout).unwrap();
//! assert_eq!(block.as_ptr().addr() % 8, 0);
//! // 100 bytes and rlsf's 16-byte header, rounded up to 32-byte granules.
//! assert!(heap.used_bytes() >= 100);
//!
//! // SAFETY: `block` came from `heap.alloc(layout)`.
//! let block = unsafe { heap.realloc(block, layout, 1000) }.unwrap();
//! let grown = Layout::from_size_align(1000, 8).unwrap();
//! // SAFETY: `block` came from `realloc` with alignment 8 and new size 1000.
//! unsafe { heap.dealloc(block, grown) };
//! assert_eq!(heap.used_bytes(), 0);
//! ```
#![no_std]
#![deny(missing_docs)]

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::{
    AllocError, AllocResult, BaseAllocator, ByteAllocator, Region, RegionTable,
    region::{self, addr_to_ptr, with_region_provenance},
};

pub use rlsf::GRANULARITY;

/// The number of first-level size classes of the rlsf engine.
pub const FLLEN: usize = 32;

/// The number of second-level size classes of the rlsf engine (per first-level
/// class).
pub const SLLEN: usize = 32;

/// The smallest trimmed pool rlsf accepts: one minimal free block and the
/// end marker (sentinel) rlsf puts after every pool.
pub const MIN_POOL_SIZE: usize = 2 * GRANULARITY;

/// How many regions one allocator can hold (each `init`/`add_memory` is
/// one): the workspace's rule, [`allocator_traits::region::MAX_REGIONS`].
pub use allocator_traits::region::MAX_REGIONS;

/// `realloc` moves a block that shrinks to `1 / SHRINK_MOVE_RATIO` of its
/// size or less (when a fitting block is free) instead of shrinking it in
/// place; see [`ByteAllocator::realloc`] on [`TlsfByteAllocator`].
pub const SHRINK_MOVE_RATIO: usize = 2;

/// The largest pool rlsf can hold as one chunk: `GRANULARITY << FLLEN`, or
/// `None` when that exceeds the address space (rlsf then needs no split).
const MAX_CHUNK: Option<usize> = {
    let shift = GRANULARITY.trailing_zeros() + FLLEN as u32;
    if shift < usize::BITS { Some(1 << shift) } else { None }
};

/// The bytes of the used-block header rlsf puts before every payload (the
/// header's `size` and `prev_phys_block` words).
const HEADER_SIZE: usize = GRANULARITY / 2;

/// Bit 0 of a block header's size word: set iff the block is used (rlsf 0.2's
/// `SIZE_USED`).
const SIZE_USED: usize = 1;

/// The smallest block size of the rlsf free list that a free block of
/// `size` bytes (a multiple of [`GRANULARITY`], at least one granule) is
/// kept in: rlsf 0.2's `map_floor`, turned back into a size. The first level
/// is `log2(size)`; the second splits it into [`SLLEN`] lists, so the low
/// `log2(size) - log2(SLLEN)` bits are cleared (none when the lists are finer
/// than a granule).
///
/// A request whose search size (`size + header`, rounded up to a granule)
/// is exactly this value searches that very list first (rlsf's `map_ceil`
/// does not round a list's own minimum up), while any larger one starts at
/// the next list: so it is the largest search that can still find the
/// block.
const fn list_floor(size: usize) -> usize {
    let log2 = usize::BITS - 1 - size.leading_zeros();
    let sli = SLLEN.trailing_zeros();
    if log2 <= sli { size } else { size & !((1 << (log2 - sli)) - 1) }
}

/// Bit 1 of a block header's size word: set iff the block is a pool's end
/// marker (rlsf 0.2's `SIZE_SENTINEL`).
const SIZE_SENTINEL: usize = 2;

/// What `debug-checks` writes over the header of a freed block that rlsf
/// merged into the free block before it: its used bit is clear and its size
/// is no block's.
#[cfg(feature = "debug-checks")]
const FREED_HEADER: usize = usize::MAX / 0xff * 0xf0;

type Engine = rlsf::Tlsf<'static, u32, u32, FLLEN, SLLEN>;

/// A TLSF byte allocator: constant-time `alloc` and `dealloc` over [`rlsf`],
/// with exact statistics and several pools. See the [crate] documentation.
///
/// # Invariants
///
/// Checked by [`assert_valid`](ByteAllocator::assert_valid), which walks
/// every block:
///
/// - the regions in `regions` are disjoint, each inside the range the
///   caller handed over for it (`claimed`, same index);
/// - each region is cut into rlsf pools into chunks of at most `GRANULARITY << FLLEN` bytes,
///   and the blocks of each pool tile it exactly: each header's size leads
///   to the next header, whose `prev_phys_block` points back (none for the
///   first), and the last block is the pool's one-granule end marker;
/// - no two free blocks are neighbours (rlsf merges a freed block with its
///   free neighbours);
/// - `total_bytes` is the sum of the regions' lengths, `sentinel_bytes` a
///   granule per pool, and `used_bytes` the sum of the used blocks' sizes
///   (headers and rounding included), so `available_bytes = total -
///   sentinels - used` is exact. (rlsf's own free lists and bitmaps are
///   its invariants, checked by its tests.)
pub struct TlsfByteAllocator {
    engine: Engine,
    /// The regions as rlsf took them (trimmed, and cut to whole chunks).
    regions: RegionTable<MAX_REGIONS>,
    /// `claimed[i]` is the range the caller handed over for `regions`' `i`th
    /// region, untrimmed: what `remove_memory` matches exactly.
    claimed: [Region; MAX_REGIONS],
    /// Bytes handed to rlsf (the trimmed pools).
    total_bytes: usize,
    /// Sum of the real sizes of the live blocks.
    used_bytes: usize,
    /// The most `used_bytes` seen after an allocation or a reallocation.
    peak_used_bytes: usize,
    /// Bytes taken by rlsf's end markers, one per chunk: never allocatable.
    sentinel_bytes: usize,
    /// In this crate's tests: a smaller largest chunk than [`MAX_CHUNK`], so
    /// that regions of a few KiB are cut into several rlsf pools.
    #[cfg(test)]
    chunk_cap: Option<usize>,
    /// In this crate's tests: how many blocks of other pools `remove_memory`
    /// took (and gave back) before it reached the pool it removes.
    #[cfg(test)]
    stashed: usize,
}

impl Default for TlsfByteAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for TlsfByteAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsfByteAllocator")
            .field("regions", &self.regions.len())
            .field("total_bytes", &self.total_bytes)
            .field("used_bytes", &self.used_bytes)
            .field("available_bytes", &self.available_bytes())
            .finish()
    }
}

/// The length of the next chunk of at most `max_chunk` bytes to hand rlsf
/// out of `remaining` bytes, or `None` when what is left is too small to be a
/// pool.
const fn next_chunk(remaining: usize, max_chunk: Option<usize>) -> Option<usize> {
    let chunk = match max_chunk {
        Some(max) if remaining > max => max,
        _ => remaining,
    };
    if chunk >= MIN_POOL_SIZE { Some(chunk) } else { None }
}

impl TlsfByteAllocator {
    /// An allocator managing no memory yet; give it memory with
    /// [`init`](BaseAllocator::init).
    pub const fn new() -> Self {
        Self {
            engine: Engine::new(),
            regions: RegionTable::new(),
            claimed: [Region { start: 0, end: 0 }; MAX_REGIONS],
            total_bytes: 0,
            used_bytes: 0,
            peak_used_bytes: 0,
            sentinel_bytes: 0,
            #[cfg(test)]
            chunk_cap: None,
            #[cfg(test)]
            stashed: 0,
        }
    }

    /// The largest chunk handed to rlsf as one pool ([`MAX_CHUNK`]; smaller
    /// in this crate's tests when they ask for it).
    #[inline]
    fn max_chunk(&self) -> Option<usize> {
        #[cfg(test)]
        if let Some(cap) = self.chunk_cap {
            return Some(cap);
        }
        MAX_CHUNK
    }

    /// The chunks (rlsf pools) of a region of `len` bytes as `add_pool` cut
    /// it: `(offset, length)` from the region's start.
    fn chunks(&self, len: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let max_chunk = self.max_chunk();
        let mut offset = 0;
        core::iter::from_fn(move || {
            let chunk = next_chunk(len - offset, max_chunk)?;
            let at = offset;
            offset += chunk;
            Some((at, chunk))
        })
    }

    /// Whether the rlsf pool of `len` bytes at `chunk` is one free block
    /// spanning all of it (but its end marker): nothing in it is allocated.
    ///
    /// Exact, in O(1): the first block of a pool always starts at the pool's
    /// start (rlsf merges a freed block into the block before it, and the
    /// first block has none), so the pool's first header word is that
    /// block's size and flags. It reads `len - GRANULARITY` with the used
    /// bit clear iff the first block is free and reaches the end marker.
    ///
    /// # Safety
    ///
    /// `chunk` is the start of a pool of `len` bytes that this allocator
    /// handed to rlsf, with the region's provenance.
    unsafe fn chunk_is_free(chunk: NonNull<u8>, len: usize) -> bool {
        // SAFETY: the pool's first word is the header of its first block,
        // written by rlsf when the pool was inserted and kept since (caller's
        // contract), aligned to `GRANULARITY`.
        let size_and_flags = unsafe { chunk.cast::<usize>().read() };
        size_and_flags == len - GRANULARITY
    }

    /// Takes the single free block of the wholly free rlsf pool of `len`
    /// bytes at `chunk` out of rlsf, as a used block that is never freed.
    ///
    /// rlsf has no pool removal, and its good-fit search cannot be aimed at
    /// one block: a request is served by the head of the first non-empty
    /// free list whose every block fits it. So the probe asks for the
    /// smallest size of the pool block's own list ([`list_floor`]): rlsf
    /// serves it from the head of that list, which holds the pool's block.
    /// Blocks of other pools at the head are kept aside (linked through
    /// their payloads) and the probe repeats; each round removes one block
    /// from that list (what rlsf splits off the block it serves is smaller
    /// than the list's step, so it lands in a lower list), so the pool's
    /// block is served after at most as many rounds as that list holds
    /// blocks ahead of it. Then the blocks kept aside are freed (they merge
    /// back with their own pools' neighbours only), and the pool's block,
    /// which rlsf may have cut short, is grown in place to the whole pool
    /// (its remainder is the free block just after it, followed by the end
    /// marker: rlsf takes it exactly).
    ///
    /// Why rlsf never reaches the pool again: rlsf reaches a block through
    /// its free lists (list heads and the links of free blocks) or as the
    /// physical neighbour (`size` forward, `prev_phys_block` back) of a block
    /// it frees or resizes. The pool now holds one used block and its end
    /// marker, a permanently used block: no free list leads into it, and no
    /// block of another pool has a neighbour in it (each pool ends with its
    /// own end marker, never merged or freed, and its first block has no
    /// `prev_phys_block`). Only freeing or resizing the pool's own block
    /// would read it or the end marker, and that block is never freed.
    ///
    /// Returns [`AllocError::MemoryOverlap`], with nothing changed, if rlsf
    /// does not serve the block as argued (a broken invariant, never
    /// expected).
    ///
    /// # Safety
    ///
    /// `chunk` is the start of a pool of `len` bytes that this allocator
    /// handed to rlsf, with the region's provenance, and
    /// [`chunk_is_free`](Self::chunk_is_free) holds for it.
    unsafe fn take_chunk(&mut self, chunk: NonNull<u8>, len: usize) -> AllocResult {
        let block = len - GRANULARITY;
        let (Ok(probe), Ok(whole)) = (
            Layout::from_size_align(list_floor(block) - HEADER_SIZE, 1),
            Layout::from_size_align(block - HEADER_SIZE, 1),
        ) else {
            return Err(AllocError::MemoryOverlap);
        };
        // With alignment 1 the payload directly follows the header.
        let target = chunk.as_ptr().addr() + HEADER_SIZE;
        let mut aside: Option<NonNull<u8>> = None;
        let served = loop {
            let Some(ptr) = self.engine.allocate(probe) else { break None };
            if ptr.as_ptr().addr() == target {
                break Some(ptr);
            }
            // SAFETY: `ptr` is a fresh block of at least `probe.size() >=
            // HEADER_SIZE` bytes, room for a pointer; alignment 1 payloads
            // start `HEADER_SIZE` past a granule, so they are word-aligned.
            unsafe { ptr.cast::<Option<NonNull<u8>>>().write(aside) };
            aside = Some(ptr);
            #[cfg(test)]
            {
                self.stashed += 1;
            }
        };
        while let Some(ptr) = aside {
            // SAFETY: each block kept aside holds the link written above.
            aside = unsafe { ptr.cast::<Option<NonNull<u8>>>().read() };
            // SAFETY: `ptr` was allocated above with alignment 1 and is
            // freed once.
            unsafe { self.engine.deallocate(ptr, 1) };
        }
        let ptr = served.ok_or(AllocError::MemoryOverlap)?;
        // SAFETY: `ptr` is the live block just served, allocated with
        // alignment 1 like `whole`; on failure rlsf leaves it as it was.
        let grown = unsafe { self.engine.reallocate(ptr, whole) };
        // SAFETY: the pool's first word is its (first) block's header.
        let whole_block = grown == Some(ptr) && unsafe { chunk.cast::<usize>().read() } == block | SIZE_USED;
        if !whole_block {
            // SAFETY: the block (moved or not) is live with alignment 1.
            unsafe { self.engine.deallocate(grown.unwrap_or(ptr), 1) };
            return Err(AllocError::MemoryOverlap);
        }
        Ok(())
    }

    /// The regions this allocator manages (trimmed as rlsf took them), in the
    /// order they were added.
    pub fn regions(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter()
    }

    /// The size of the block rlsf reserved for the allocation at `ptr`: its
    /// header, alignment padding, payload and rounding to [`GRANULARITY`].
    ///
    /// This reads rlsf's used-block header (rlsf 0.2 layout): the header is
    /// the `HEADER_SIZE` bytes before the payload when `align <
    /// GRANULARITY`; otherwise the word before the payload points at it. Its
    /// first word is the block size, whose low bits are flags.
    ///
    /// # Safety
    ///
    /// `ptr` is a live allocation of `self.engine` made with alignment
    /// `align`.
    #[inline]
    unsafe fn block_size(ptr: NonNull<u8>, align: usize) -> usize {
        // SAFETY: forwarded.
        let header = unsafe { Self::header_of(ptr, align) };
        // SAFETY: `header` points at the live block's header, whose first word
        // is its size and flags.
        let size_and_flags = unsafe { header.read() };
        size_and_flags & !(GRANULARITY - 1)
    }

    /// The header of the block rlsf reserved for the allocation at `ptr`; see
    /// [`block_size`](Self::block_size).
    ///
    /// # Safety
    ///
    /// As for [`block_size`](Self::block_size).
    #[inline]
    unsafe fn header_of(ptr: NonNull<u8>, align: usize) -> NonNull<usize> {
        if align >= GRANULARITY {
            // SAFETY: for such alignments rlsf stores a pointer to the block
            // header in the word just before the payload, inside the block
            // (caller's contract that `ptr` is a live allocation).
            unsafe { ptr.cast::<NonNull<usize>>().sub(1).read() }
        } else {
            // SAFETY: for small alignments the payload directly follows the
            // `HEADER_SIZE`-byte header, in the same block.
            unsafe { ptr.byte_sub(HEADER_SIZE).cast::<usize>() }
        }
    }

    /// With `debug-checks`: panics unless `pos` is the payload of a live
    /// block of ours allocated with `layout`, and returns its block header's
    /// address. O(1) but for the scan of the region table (at most
    /// [`MAX_REGIONS`] entries); see the crate docs for what it catches.
    ///
    /// It only reads memory inside a managed region: the header that `pos`
    /// and the layout's alignment designate, and the header of the block
    /// after it (whose `prev_phys_block` word must point back).
    #[cfg(feature = "debug-checks")]
    fn check_live(&self, pos: NonNull<u8>, layout: Layout, op: allocator_traits::bug::Op) -> usize {
        let addr = pos.as_ptr().addr();
        let align = layout.align();
        let Some(region) = self.regions.find(addr, 0).copied() else {
            allocator_traits::caller_bug!(
                "allocator-tlsf: {op} of {addr:#x}, which lies outside every region"
            );
        };
        // A payload directly follows its header (`align < GRANULARITY`) or is
        // aligned to `align >= GRANULARITY`; both start past a header.
        let misaligned =
            if align < GRANULARITY { addr % GRANULARITY != HEADER_SIZE } else { addr % align != 0 };
        if misaligned {
            allocator_traits::caller_bug!(
                "allocator-tlsf: {op} of {addr:#x}, misaligned for its layout (align {align})"
            );
        }
        let not_a_block = || -> ! {
            allocator_traits::caller_bug!(
                "allocator-tlsf: {op} of {addr:#x}, which is not the start of a live block (align {align})"
            )
        };
        // Only addresses in `[region.start, region.end)` are ever read.
        let word_at = |at: usize| -> usize {
            if at < region.start || region.end.checked_sub(at).is_none_or(|room| room < size_of::<usize>()) {
                not_a_block();
            }
            // SAFETY: the word at `at` lies inside a managed region (checked
            // just above) and is word-aligned: every address read is `pos`
            // (aligned to half a granule at least) minus whole words, or a
            // granule-aligned header plus whole words. `pos` carries the
            // region's provenance, as every pointer we hand out does.
            unsafe { pos.as_ptr().with_addr(at).cast::<usize>().read() }
        };
        let header = if align < GRANULARITY {
            addr - HEADER_SIZE
        } else {
            // rlsf keeps a pointer to the header in the word before the
            // payload; it lies at most `align` bytes back (the largest padding
            // plus the header) and leaves room for the header and that word.
            let header = word_at(addr - size_of::<usize>());
            if header % GRANULARITY != 0
                || header >= addr
                || addr - header > align
                || addr - header < GRANULARITY
            {
                not_a_block();
            }
            header
        };
        let double_free = || -> ! {
            if op == allocator_traits::bug::Op::Free {
                allocator_traits::caller_bug!(
                    "allocator-tlsf: double free of {addr:#x} (block at {header:#x})"
                )
            }
            allocator_traits::caller_bug!(
                "allocator-tlsf: {op} of {addr:#x} after it was freed (block at {header:#x})"
            )
        };
        let size_and_flags = word_at(header);
        if size_and_flags == FREED_HEADER {
            double_free();
        }
        // A real block boundary: a size that ends inside the region, at a
        // header whose `prev_phys_block` word points back.
        let size = size_and_flags & !(GRANULARITY - 1);
        let next = header.checked_add(size).unwrap_or_else(|| not_a_block());
        if size_and_flags & SIZE_SENTINEL != 0
            || size < GRANULARITY
            || word_at(next.checked_add(size_of::<usize>()).unwrap_or_else(|| not_a_block())) != header
        {
            not_a_block();
        }
        if size_and_flags & SIZE_USED == 0 {
            double_free();
        }
        if next < addr || next - addr < layout.size() {
            not_a_block();
        }
        header
    }

    /// With `debug-checks`, after rlsf freed the block whose header was at
    /// `header`: if rlsf merged it into the free block before it, the old
    /// header is left in that block's payload with its used bit still set,
    /// so a second free of the same pointer would look live. Overwriting it
    /// with [`FREED_HEADER`] makes that free a detected double free.
    #[cfg(feature = "debug-checks")]
    fn forget_header(pos: NonNull<u8>, header: usize) {
        let word = pos.as_ptr().with_addr(header).cast::<usize>();
        // SAFETY: `header` was the header of a block just freed, so it lies in
        // a managed region, now in a free block: its own header (used bit
        // clear, left alone) or the payload of the free block it merged into,
        // at least `GRANULARITY` bytes past that block's header, which rlsf
        // never reads. `pos` carries the region's provenance.
        unsafe {
            if word.read() & SIZE_USED != 0 {
                word.write(FREED_HEADER);
            }
        }
    }

    /// Trims, checks and hands one region to rlsf.
    ///
    /// # Safety
    ///
    /// As for [`BaseAllocator::add_memory`].
    unsafe fn add_pool(&mut self, start: usize, size: usize) -> AllocResult {
        // A caller's range that overlaps managed memory is a caller bug even
        // where trimming would cut the overlap off: report it.
        self.regions.check_insert(&Region::new(start, size)?).or_else(|e| match e {
            AllocError::InvalidParam => Ok(()), // empty: refused just below
            e => Err(e),
        })?;
        let mut region = Region::trimmed(start, size, GRANULARITY, MIN_POOL_SIZE)?;
        if region.start == 0 {
            // Address 0 cannot be handed out as a block; give up that granule.
            region.start = GRANULARITY;
            if region.size() < MIN_POOL_SIZE {
                return Err(AllocError::InvalidParam);
            }
        }
        let base = addr_to_ptr(region.start).ok_or(AllocError::InvalidParam)?;

        let mut taken = 0;
        let mut chunks = 0;
        let max_chunk = self.max_chunk();
        while let Some(chunk) = next_chunk(region.size() - taken, max_chunk) {
            // SAFETY: `taken + chunk <= region.size()`, so the chunk lies in
            // the caller's region, which is ours for good (caller's contract)
            // and overlaps no other pool (checked above). It is
            // `GRANULARITY`-aligned, at most `MAX_CHUNK` and at least
            // `MIN_POOL_SIZE` long, so rlsf takes all of it.
            let inserted = unsafe {
                let chunk_start = base.add(taken);
                self.engine.insert_free_block_ptr(NonNull::slice_from_raw_parts(chunk_start, chunk))
            };
            // rlsf only refuses blocks shorter than `MIN_POOL_SIZE` and takes
            // aligned ones whole; anything else would be a bug in this crate.
            let Some(inserted) = inserted else { break };
            taken += inserted.get();
            chunks += 1;
        }
        if taken == 0 {
            return Err(AllocError::InvalidParam);
        }
        region.end = region.start + taken;
        self.regions.insert(region)?;
        self.claimed[self.regions.len() - 1] = Region::new(start, size)?;
        self.total_bytes += taken;
        self.sentinel_bytes += chunks * GRANULARITY;
        Ok(())
    }
}

impl BaseAllocator for TlsfByteAllocator {
    /// Hands the allocator its first region.
    ///
    /// Errors as for [`add_memory`](Self::add_memory). Calling `init` on an
    /// allocator that already manages memory is [`AllocError::MemoryOverlap`]
    /// if the region overlaps it, [`AllocError::InvalidParam`] otherwise (use
    /// `add_memory` for more regions); nothing is written either way.
    ///
    /// # Safety
    ///
    /// `[start, start + size)` is valid, writable memory, used by nothing
    /// else, that outlives the allocator and every block it hands out, with
    /// exposed provenance.
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult {
        if !self.regions.is_empty() {
            return Err(region::second_init(start, size, |r| {
                self.regions.check_insert(r) == Err(AllocError::MemoryOverlap)
            }));
        }
        // SAFETY: the caller's contract is the one `add_pool` needs.
        unsafe { self.add_pool(start, size) }
    }

    /// Adds a region, trimmed to [`GRANULARITY`].
    ///
    /// # Errors
    ///
    /// [`AllocError::InvalidParam`] if `start + size` overflows or fewer than
    /// [`MIN_POOL_SIZE`] bytes are left after trimming;
    /// [`AllocError::MemoryOverlap`] if it overlaps a managed region;
    /// [`AllocError::NoMemory`] if [`MAX_REGIONS`] regions are already
    /// managed.
    ///
    /// # Complexity
    ///
    /// O([`MAX_REGIONS`]) for the overlap check, plus one rlsf pool per
    /// 128 GiB of the region (one for any region below that).
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is the one `add_pool` needs.
        unsafe { self.add_pool(start, size) }
    }
}

// SAFETY: blocks come from rlsf over pools the caller handed to the `unsafe`
// `init`/`add_memory`; rlsf returns disjoint, aligned blocks of at least the
// asked size until they are freed.
unsafe impl ByteAllocator for TlsfByteAllocator {
    /// Allocates a block for `layout` in constant time.
    ///
    /// A zero-size layout gets a real, unique block of the minimum size
    /// ([`GRANULARITY`] bytes).
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when no free block fits, including sizes or
    /// alignments no pool could ever hold.
    ///
    /// # Complexity
    ///
    /// O(1): two bitmap searches (find-first-set), one free list head, at
    /// most one split; the worst case is the same constant (counted in this
    /// crate's tests: at most 5 headers written).
    #[inline]
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let ptr = self.engine.allocate(layout).ok_or(AllocError::NoMemory)?;
        // SAFETY: `ptr` was just allocated by the engine with `layout.align()`.
        self.used_bytes += unsafe { Self::block_size(ptr, layout.align()) };
        self.peak_used_bytes = self.peak_used_bytes.max(self.used_bytes);
        Ok(ptr)
    }

    /// Frees the block at `pos` in constant time.
    ///
    /// # Complexity
    ///
    /// O(1): at most two merges with free neighbours (at most 9 headers
    /// written, counted in this crate's tests).
    ///
    /// # Safety
    ///
    /// `pos` was returned by [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this allocator with this `layout` (the
    /// alignment is what matters to rlsf) and has not been freed since.
    #[inline]
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        let pos = with_region_provenance(pos);
        #[cfg(feature = "debug-checks")]
        let header = self.check_live(pos, layout, allocator_traits::bug::Op::Free);
        // SAFETY: `pos` is a live allocation of ours with `layout.align()`
        // (caller's contract).
        unsafe {
            self.used_bytes -= Self::block_size(pos, layout.align());
            self.engine.deallocate(pos, layout.align());
        }
        #[cfg(feature = "debug-checks")]
        Self::forget_header(pos, header);
    }

    /// Resizes in place when the block or its free neighbours have room
    /// (rlsf's `reallocate`), otherwise moves the block; a block shrinking
    /// to half or less moves when a fitting block is free
    /// ([`SHRINK_MOVE_RATIO`]).
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when no block of `new_size` bytes can be
    /// had; the old block is untouched.
    ///
    /// # Complexity
    ///
    /// O(1) to find a place; a block that moves is copied, O(`min(old,
    /// new)` bytes).
    ///
    /// # Safety
    ///
    /// `pos` was returned by this allocator for the layout `old` and has not
    /// been freed since.
    #[inline]
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let pos = with_region_provenance(pos);
        #[cfg(feature = "debug-checks")]
        let header = self.check_live(pos, old, allocator_traits::bug::Op::Realloc);
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        if new_size <= old.size() / SHRINK_MOVE_RATIO {
            // A block that shrinks this much moves to a block that fits it,
            // if one is free: the good-fit search packs it with its peers and
            // the whole old block is free again. Shrinking in place instead
            // leaves a small block in the middle of a large hole.
            if let Ok(moved) = self.alloc(new) {
                // SAFETY: `moved` is a fresh block of `new_size` bytes,
                // disjoint from `pos`, which holds at least `new_size` bytes.
                unsafe { allocator_traits::move_block(pos, old.size(), moved, new_size) };
                // SAFETY: `pos` is a live block of ours with `old` (caller's
                // contract), its contents now at `moved`.
                unsafe { self.dealloc(pos, old) };
                return Ok(moved);
            }
        }
        // SAFETY: `pos` is a live allocation of ours with `old.align()`
        // (caller's contract).
        let old_block = unsafe { Self::block_size(pos, old.align()) };
        // SAFETY: as above; `new` keeps the alignment `pos` was allocated
        // with. On failure rlsf leaves the old block as it was.
        let new_pos = unsafe { self.engine.reallocate(pos, new) }.ok_or(AllocError::NoMemory)?;
        // SAFETY: `new_pos` is now a live allocation with `old.align()`.
        let new_block = unsafe { Self::block_size(new_pos, old.align()) };
        self.used_bytes = self.used_bytes - old_block + new_block;
        self.peak_used_bytes = self.peak_used_bytes.max(self.used_bytes);
        #[cfg(feature = "debug-checks")]
        if new_pos != pos {
            // rlsf moved the block to a fresh one and freed the old one, or
            // slid it back into the free block before it: then the old header
            // lies in the new block's payload, which is the caller's now.
            // SAFETY: `new_pos` is a live allocation with `old.align()`.
            let new_header = unsafe { Self::header_of(new_pos, old.align()) }.as_ptr().addr();
            if !(new_header..new_header + new_block).contains(&header) {
                Self::forget_header(pos, header);
            }
        }
        Ok(new_pos)
    }

    /// The bytes handed to rlsf: the trimmed regions.
    #[inline]
    fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// The real sizes of the live blocks: header, alignment padding and
    /// rounding to [`GRANULARITY`] included.
    #[inline]
    fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    #[inline]
    fn peak_used_bytes(&self) -> Option<usize> {
        Some(self.peak_used_bytes)
    }

    /// The payload rlsf really reserved: from `pos` to the end of its block
    /// (alignment padding excluded, rounding to [`GRANULARITY`] included),
    /// read from rlsf's block header.
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::usable_size`].
    unsafe fn usable_size(&self, pos: NonNull<u8>, layout: Layout) -> usize {
        // The header is ours: reached with the region's provenance, not
        // through the caller's pointer (whose tag may cover the block only).
        let pos = with_region_provenance(pos);
        // SAFETY: `pos` is a live block of this allocator with `layout`
        // (caller's contract), so its header is rlsf's used-block header.
        let (header, size) =
            unsafe { (Self::header_of(pos, layout.align()), Self::block_size(pos, layout.align())) };
        (header.as_ptr().addr() + size).saturating_sub(pos.as_ptr().addr()).max(layout.size())
    }

    /// rlsf's header holds every block's size, so every size is found.
    fn finds_block_sizes() -> bool {
        true
    }

    /// The payload rlsf reserved for the block at `pos`, read from its block
    /// header: [`usable_size`](ByteAllocator::usable_size) with a zero-size
    /// layout of alignment `align` (rlsf finds the header from the
    /// alignment alone). At least the size asked for, every byte the
    /// caller's; a layout of this size and `align` frees the block as the
    /// original did (rlsf reads the size from the header, and the
    /// `used_bytes` count is the header's size either way).
    ///
    /// # Safety
    ///
    /// As for [`ByteAllocator::block_size`].
    #[inline]
    unsafe fn block_size(&self, pos: NonNull<u8>, align: usize) -> Option<usize> {
        let layout = Layout::from_size_align(0, align).ok()?;
        // SAFETY: `pos` is a live block of ours allocated with `align`
        // (caller's contract); `usable_size` reads only its header, found
        // from the alignment, and takes the layout's size as a lower bound.
        Some(unsafe { self.usable_size(pos, layout) })
    }

    /// The bytes in free blocks: `total_bytes - used_bytes` minus rlsf's end
    /// marker of [`GRANULARITY`] bytes per pool chunk. Each free block still
    /// needs its header when it is allocated, and fragmentation may split
    /// this into several blocks.
    #[inline]
    fn available_bytes(&self) -> usize {
        self.total_bytes - self.sentinel_bytes - self.used_bytes
    }

    /// Walks every block of every pool: O(blocks). See the invariants on
    /// [`TlsfByteAllocator`].
    fn assert_valid(&self) {
        self.check_invariants();
    }

    /// Gives back a region handed to `init` or `add_memory`, exactly as it
    /// was handed over (the untrimmed range), if nothing in it is allocated.
    ///
    /// rlsf cannot remove a pool, so each pool (chunk) of the region is taken
    /// out of rlsf as one used block that is never freed, after which rlsf
    /// never reaches its memory again (see the `take_chunk` source for why).
    /// A region is removable iff each of its chunks is one free block
    /// spanning the chunk, read from the chunk's first block header in O(1)
    /// each; if any is not, nothing changes. [`total_bytes`] drops by the
    /// region's managed bytes (what it rose by when the region was added),
    /// the end markers leave with it, and `used_bytes` is unchanged (0 of
    /// it was in the region), so the statistics stay exact.
    ///
    /// # Errors
    ///
    /// - [`AllocError::NotAllocated`]: no managed region was handed over as
    ///   exactly `[start, start + size)` (a part of one, the trimmed range, an
    ///   overflowing range, or a region removed already).
    /// - [`AllocError::MemoryOverlap`]: a block of the region is allocated;
    ///   nothing changes.
    ///
    /// # Complexity
    ///
    /// O(R) to find the region among `R <= MAX_REGIONS` and to update the
    /// table; per chunk, O(1) for the check, and O(1 + k) to take it, where
    /// `k` is the number of free blocks of other pools that sit ahead of the
    /// chunk's block in its rlsf size class (each taken and given back in
    /// O(1)). `k` is 0 when the region was the last one added of its size
    /// class, and never more than the free blocks of that one class. A
    /// region has one chunk per 128 GiB (64-bit targets).
    ///
    /// [`total_bytes`]: ByteAllocator::total_bytes
    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let claimed = Region::new(start, size).map_err(|_| AllocError::NotAllocated)?;
        let count = self.regions.len();
        let index =
            self.claimed[..count].iter().position(|r| *r == claimed).ok_or(AllocError::NotAllocated)?;
        let region = *self.regions.iter().nth(index).ok_or(AllocError::NotAllocated)?;
        // The pools' memory is reached with the provenance the caller exposed
        // for the region, as rlsf reaches it.
        let base = addr_to_ptr(region.start).ok_or(AllocError::NotAllocated)?;
        for (offset, len) in self.chunks(region.size()) {
            // SAFETY: `add_pool` handed rlsf a pool of `len` bytes at this
            // offset of the region (the same cut), not removed since.
            if !unsafe { Self::chunk_is_free(base.add(offset), len) } {
                return Err(AllocError::MemoryOverlap);
            }
        }
        let mut chunks = 0;
        for (offset, len) in self.chunks(region.size()) {
            // SAFETY: as above, and the chunk is wholly free (checked above;
            // taking another pool's block changes no other pool).
            if let Err(e) = unsafe { self.take_chunk(base.add(offset), len) } {
                // Never expected; give back the chunks taken, so that nothing
                // changes.
                for (offset, _) in self.chunks(region.size()).take(chunks) {
                    // SAFETY: the chunk's whole block was allocated by
                    // `take_chunk` with alignment 1, its payload right after
                    // its header.
                    unsafe { self.engine.deallocate(base.add(offset + HEADER_SIZE), 1) };
                }
                return Err(e);
            }
            chunks += 1;
        }
        let removed = self.regions.remove(&region)?;
        self.claimed.copy_within(removed + 1..count, removed);
        self.total_bytes -= region.size();
        self.sentinel_bytes -= chunks * GRANULARITY;
        Ok(())
    }

    /// The largest layout of alignment `align` that rlsf can serve as one
    /// block, from the largest pool chunk (128 GiB on 64-bit targets):
    /// 126 GiB less `max(align, 16)` bytes on 64-bit targets (checked at
    /// small scale in this crate's tests, with small chunks).
    ///
    /// The largest free block a chunk holds is the chunk less its end marker;
    /// rlsf serves a request from a free list whose every block fits its
    /// search size (size plus header and worst-case alignment padding,
    /// rounded up to a granule), so the largest search size that can succeed
    /// is the smallest size of the list that block lies in (rlsf's `map_floor`).
    /// The size is that, less `max(align, GRANULARITY / 2)` (header and
    /// padding), and capped where a [`Layout`] of that alignment ends; 0 when
    /// the alignment alone exceeds it.
    fn max_layout_size(&self, align: usize) -> usize {
        let max_block = match self.max_chunk() {
            Some(chunk) => chunk - GRANULARITY,
            None => (usize::MAX & !(GRANULARITY - 1)) - GRANULARITY,
        };
        let overhead = align.max(HEADER_SIZE);
        list_floor(max_block).saturating_sub(overhead).min((isize::MAX as usize) & !(align.max(1) - 1))
    }
}

mod check;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod bounds_tests;
