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
//!   lifts the share of the pool in use from 96.8 % (raw rlsf, and this
//!   wrapper shrinking in place) to 98.4 %, at the same operation rate.
//!
//! # Parameters
//!
//! The engine is `rlsf::Tlsf<'static, u32, u32, 32, 32>` ([`FLLEN`] = 32
//! first-level classes, [`SLLEN`] = 32 second-level classes):
//!
//! - With the 32-byte granularity of 64-bit targets, the first level covers
//!   block sizes up to `32 << 32` bytes = 128 GiB, so a single allocation can
//!   be up to about 124 GiB (the largest size class that still fits below
//!   that bound). Pools larger than 128 GiB are split into 128 GiB chunks,
//!   each with its own 32-byte end marker, so regions of any size work. On
//!   32-bit targets (16-byte granularity) the classes cover the whole address
//!   space. `ax-allocator` uses `FLLEN = 28` (8 GiB chunks); the extra four
//!   classes cost 512 bytes and lift the largest block to what a heap of many
//!   GiB can actually need.
//! - 32 second-level classes split every power of two into 32 size classes
//!   (about 3 % apart), which keeps the waste of the good-fit search small.
//!
//! The allocator itself is about 9 KiB (rlsf's free-list heads, 32 x 32
//! pointers, and the region table), and is built by a `const fn`, so it can
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
//! # Example
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
    AllocError, AllocResult, BaseAllocator, ByteAllocator, Region, RegionTable, region::addr_to_ptr,
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

/// How many regions one allocator can hold (each `init`/`add_memory` is one).
///
/// 64 entries cost 1 KiB; a heap that grows by doubling, as kernels usually
/// grow theirs, never gets near the limit.
pub const MAX_REGIONS: usize = 64;

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

type Engine = rlsf::Tlsf<'static, u32, u32, FLLEN, SLLEN>;

/// A TLSF byte allocator: constant-time `alloc` and `dealloc` over [`rlsf`],
/// with exact statistics and several pools. See the [crate] documentation.
pub struct TlsfByteAllocator {
    engine: Engine,
    regions: RegionTable<MAX_REGIONS>,
    /// Bytes handed to rlsf (the trimmed pools).
    total_bytes: usize,
    /// Sum of the real sizes of the live blocks.
    used_bytes: usize,
    /// Bytes taken by rlsf's end markers, one per chunk: never allocatable.
    sentinel_bytes: usize,
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

/// The length of the next chunk to hand rlsf out of `remaining` bytes, or
/// `None` when what is left is too small to be a pool.
const fn next_chunk(remaining: usize) -> Option<usize> {
    let chunk = match MAX_CHUNK {
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
            total_bytes: 0,
            used_bytes: 0,
            sentinel_bytes: 0,
        }
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
    unsafe fn block_size(ptr: NonNull<u8>, align: usize) -> usize {
        let header: NonNull<usize> = if align >= GRANULARITY {
            // SAFETY: for such alignments rlsf stores a pointer to the block
            // header in the word just before the payload, inside the block
            // (caller's contract that `ptr` is a live allocation).
            unsafe { ptr.cast::<NonNull<usize>>().sub(1).read() }
        } else {
            // SAFETY: for small alignments the payload directly follows the
            // `HEADER_SIZE`-byte header, in the same block.
            unsafe { ptr.byte_sub(HEADER_SIZE).cast::<usize>() }
        };
        // SAFETY: `header` points at the live block's header, whose first word
        // is its size and flags.
        let size_and_flags = unsafe { header.read() };
        size_and_flags & !(GRANULARITY - 1)
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
        while let Some(chunk) = next_chunk(region.size() - taken) {
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
            self.regions.check_insert(&Region::new(start, size)?).or_else(|e| match e {
                AllocError::MemoryOverlap => Err(e),
                _ => Ok(()),
            })?;
            return Err(AllocError::InvalidParam);
        }
        // SAFETY: the caller's contract is the one `add_pool` needs.
        unsafe { self.add_pool(start, size) }
    }

    /// Adds a region, trimmed to [`GRANULARITY`].
    ///
    /// [`AllocError::InvalidParam`] if `start + size` overflows or fewer than
    /// [`MIN_POOL_SIZE`] bytes are left after trimming;
    /// [`AllocError::MemoryOverlap`] if it overlaps a managed region;
    /// [`AllocError::NoMemory`] if [`MAX_REGIONS`] regions are already
    /// managed.
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult {
        // SAFETY: the caller's contract is the one `add_pool` needs.
        unsafe { self.add_pool(start, size) }
    }
}

impl ByteAllocator for TlsfByteAllocator {
    /// Allocates a block for `layout` in constant time.
    ///
    /// A zero-size layout gets a real, unique block of the minimum size
    /// ([`GRANULARITY`] bytes). [`AllocError::NoMemory`] when no free block
    /// fits, including sizes or alignments no pool could ever hold.
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let ptr = self.engine.allocate(layout).ok_or(AllocError::NoMemory)?;
        // SAFETY: `ptr` was just allocated by the engine with `layout.align()`.
        self.used_bytes += unsafe { Self::block_size(ptr, layout.align()) };
        Ok(ptr)
    }

    /// Frees the block at `pos` in constant time.
    ///
    /// # Safety
    ///
    /// `pos` was returned by [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this allocator with this `layout` (the
    /// alignment is what matters to rlsf) and has not been freed since.
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout) {
        // SAFETY: `pos` is a live allocation of ours with `layout.align()`
        // (caller's contract).
        unsafe {
            self.used_bytes -= Self::block_size(pos, layout.align());
            self.engine.deallocate(pos, layout.align());
        }
    }

    /// Resizes in place when the block or its free neighbours have room
    /// (rlsf's `reallocate`), otherwise moves the block. On error the old
    /// block is untouched.
    ///
    /// # Safety
    ///
    /// `pos` was returned by this allocator for the layout `old` and has not
    /// been freed since.
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        if new_size <= old.size() / SHRINK_MOVE_RATIO {
            // A block that shrinks this much moves to a block that fits it,
            // if one is free: the good-fit search packs it with its peers and
            // the whole old block is free again. Shrinking in place instead
            // leaves a small block in the middle of a large hole.
            if let Ok(moved) = self.alloc(new) {
                // SAFETY: `moved` is a fresh block of `new_size` bytes,
                // disjoint from `pos`, which holds at least `new_size` bytes.
                unsafe { core::ptr::copy_nonoverlapping(pos.as_ptr(), moved.as_ptr(), new_size) };
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
        Ok(new_pos)
    }

    /// The bytes handed to rlsf: the trimmed regions.
    fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// The real sizes of the live blocks: header, alignment padding and
    /// rounding to [`GRANULARITY`] included.
    fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// The bytes in free blocks: `total_bytes - used_bytes` minus rlsf's end
    /// marker of [`GRANULARITY`] bytes per pool chunk. Each free block still
    /// needs its header when it is allocated, and fragmentation may split
    /// this into several blocks.
    fn available_bytes(&self) -> usize {
        self.total_bytes - self.sentinel_bytes - self.used_bytes
    }
}

#[cfg(test)]
mod tests;
