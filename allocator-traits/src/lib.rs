//! The vocabulary of the allocator workspace.
//!
//! Every backend of the workspace implements the traits of this crate:
//!
//! - [`BaseAllocator`]: hand the allocator memory ([`init`](BaseAllocator::init),
//!   [`add_memory`](BaseAllocator::add_memory)).
//! - [`ByteAllocator`]: byte-granularity allocation with a [`Layout`].
//! - [`PageAllocator`]: page-granularity allocation (page frames).
//! - [`IdAllocator`]: unique integer IDs (thread IDs, ASIDs, IRQ numbers).
//!
//! The names and shapes follow the ArceOS `allocator` crate (`ax-allocator`),
//! so an OS written against it moves over with few edits. Where that API is
//! unsound or loses errors, this one differs on purpose:
//!
//! - `init` and `add_memory` are `unsafe` and return [`AllocResult`]: the
//!   caller promises the region is memory nobody else uses, and a bad region
//!   is an error instead of a panic.
//! - `dealloc` and `dealloc_pages` are `unsafe`: freeing a pointer the
//!   allocator never gave out corrupts it, so the caller must promise it did.
//! - [`ByteAllocator::realloc`] is part of the trait, so a backend can grow
//!   or shrink a block in place.
//!
//! The [`region`] module holds the alignment and region arithmetic that every
//! backend needs, written once, checked against overflow.
#![no_std]
#![deny(missing_docs)]

pub mod address_table;
pub mod bridge;
pub mod bug;
pub mod region;

use core::{alloc::Layout, fmt, ptr::NonNull};

pub use region::{Region, RegionTable};

/// Why an allocator refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocError {
    /// An argument is malformed: an unaligned or too small region, a range
    /// that overflows the address space, an alignment the backend cannot
    /// express, a count of zero where one is needed.
    InvalidParam,
    /// A region passed to [`BaseAllocator::init`] or
    /// [`BaseAllocator::add_memory`] overlaps memory the allocator already
    /// manages.
    MemoryOverlap,
    /// Not enough free memory (or IDs) for the request right now, or a request
    /// larger than the allocator can ever serve.
    NoMemory,
    /// The memory or ID being freed or claimed is not allocated (or not
    /// managed) by this allocator.
    NotAllocated,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidParam => "invalid parameter",
            Self::MemoryOverlap => "memory region overlaps managed memory",
            Self::NoMemory => "out of memory",
            Self::NotAllocated => "not allocated by this allocator",
        })
    }
}

impl core::error::Error for AllocError {}

/// A [`Result`] whose error is an [`AllocError`].
pub type AllocResult<T = ()> = Result<T, AllocError>;

/// Copies what a block that moves keeps, `min(old_size, new_size)` bytes,
/// from `from` to `to`: the one copy of every "allocate, copy, free" (the
/// provided [`ByteAllocator::realloc`], the bridges' `grow`/`shrink` when the
/// alignment changes, the per-CPU layer between size classes).
///
/// # Safety
///
/// `from` is valid for reads of `old_size` bytes, `to` for writes of
/// `new_size` bytes, and the two blocks do not overlap.
#[inline]
pub unsafe fn move_block(from: NonNull<u8>, old_size: usize, to: NonNull<u8>, new_size: usize) {
    // SAFETY: the caller's contract; the copy stays inside both blocks.
    unsafe { core::ptr::copy_nonoverlapping(from.as_ptr(), to.as_ptr(), old_size.min(new_size)) }
}

/// What every allocator has: memory (or IDs) handed to it by its owner.
pub trait BaseAllocator {
    /// Initialises the allocator with its first region `[start, start + size)`.
    ///
    /// The backend trims the region to its own alignment.
    ///
    /// # Errors
    ///
    /// Never a panic; the allocator is unchanged on error:
    ///
    /// - [`AllocError::InvalidParam`]: the region is too small once trimmed,
    ///   its end overflows the address space, or the backend cannot manage
    ///   it; also `init` on an allocator that already manages memory
    ///   ([`region::second_init`]), unless the region overlaps that memory:
    /// - [`AllocError::MemoryOverlap`]: the region overlaps memory the
    ///   allocator already manages.
    ///
    /// # Safety
    ///
    /// For a memory allocator: `[start, start + size)` is valid, writable
    /// memory, used by nothing else, that outlives the allocator and every
    /// block it hands out. The address must carry exposed provenance (for
    /// example `slice.as_mut_ptr() as usize`, or `expose_provenance()`).
    /// For an ID allocator the range is a range of IDs and the call has no
    /// memory-safety requirement.
    unsafe fn init(&mut self, start: usize, size: usize) -> AllocResult;

    /// Adds the region `[start, start + size)` to an allocator.
    ///
    /// Regions may be added in any address order.
    ///
    /// # Errors
    ///
    /// The allocator is unchanged on error:
    ///
    /// - [`AllocError::MemoryOverlap`]: the region overlaps one already
    ///   managed;
    /// - [`AllocError::InvalidParam`]: as for [`init`](Self::init);
    /// - [`AllocError::NoMemory`]: the allocator already holds
    ///   [`region::MAX_REGIONS`] regions.
    ///
    /// # Safety
    ///
    /// As for [`init`](Self::init).
    unsafe fn add_memory(&mut self, start: usize, size: usize) -> AllocResult;
}

/// Byte-granularity allocation: the heap behind `Box`, `Vec` and friends.
///
/// # Examples
///
/// Code written against the trait works with every backend:
///
/// ```
/// use allocator_traits::{AllocResult, ByteAllocator};
/// use core::{alloc::Layout, ptr::NonNull};
///
/// /// A zeroed array of `n` `u64`s from any byte allocator.
/// fn zeroed_words<A: ByteAllocator>(heap: &mut A, n: usize) -> AllocResult<NonNull<u64>> {
///     let layout = Layout::array::<u64>(n).map_err(|_| allocator_traits::AllocError::NoMemory)?;
///     let block = heap.alloc(layout)?;
///     // SAFETY: the block is ours, `layout.size()` bytes long.
///     unsafe { block.write_bytes(0, layout.size()) };
///     Ok(block.cast())
/// }
/// ```
///
/// # Safety
///
/// An implementation promises what the bridges (`AllocatorRc`,
/// `GlobalAllocator`, the slab heap over a backing allocator) rely on to hand
/// blocks to safe code: a block returned by [`alloc`](Self::alloc) or
/// [`realloc`](Self::realloc) is aligned to the layout's alignment, is valid,
/// writable memory of at least the layout's size that overlaps no other live
/// block, and stays so until it is passed to [`dealloc`](Self::dealloc) or
/// `realloc`; `realloc` preserves the contents as documented; and a size
/// [`block_size`](Self::block_size) reports is true (see there). This is why the
/// trait is `unsafe` (ax-allocator's is safe, so a safe `alloc` that returns
/// `0x1000` made its bridges write to arbitrary memory from safe code), as
/// `GlobalAlloc` and `Allocator` are.
///
/// Safe code cannot claim the promise:
///
/// ```compile_fail,E0200
/// use allocator_traits::{AllocResult, BaseAllocator, ByteAllocator};
/// use core::{alloc::Layout, ptr::NonNull};
///
/// struct Liar;
/// impl BaseAllocator for Liar {
///     unsafe fn init(&mut self, _: usize, _: usize) -> AllocResult { Ok(()) }
///     unsafe fn add_memory(&mut self, _: usize, _: usize) -> AllocResult { Ok(()) }
/// }
/// impl ByteAllocator for Liar {
///     fn alloc(&mut self, _: Layout) -> AllocResult<NonNull<u8>> {
///         Ok(NonNull::new(0x1000 as *mut u8).unwrap()) // not memory
///     }
///     unsafe fn dealloc(&mut self, _: NonNull<u8>, _: Layout) {}
///     fn total_bytes(&self) -> usize { 0 }
///     fn used_bytes(&self) -> usize { 0 }
///     fn available_bytes(&self) -> usize { 0 }
/// }
/// ```
pub unsafe trait ByteAllocator: BaseAllocator {
    /// Allocates a block for `layout`.
    ///
    /// The block is aligned to `layout.align()`, lies inside a managed
    /// region, and overlaps no other live block. A zero-size layout gets a
    /// valid, aligned, unique pointer that must be passed back to
    /// [`dealloc`](Self::dealloc) like any other.
    ///
    /// # Errors
    ///
    /// - [`AllocError::NoMemory`]: no free block serves the layout now, or
    ///   it is larger than the allocator can ever serve
    ///   ([`max_layout_size`](Self::max_layout_size)), or the allocator
    ///   manages no memory yet;
    /// - an alignment the backend cannot give: [`AllocError::NoMemory`] or
    ///   [`AllocError::InvalidParam`], as the backend documents.
    ///
    /// # Complexity
    ///
    /// Each backend states its own: O(1) for TLSF and the slab heap's
    /// classes, O(log n) for the buddy.
    fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>>;

    /// Frees the block at `pos`.
    ///
    /// # Safety
    ///
    /// `pos` was returned by [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of this allocator with this `layout` (for
    /// `realloc`: the old alignment and the new size) and has not been freed
    /// since.
    unsafe fn dealloc(&mut self, pos: NonNull<u8>, layout: Layout);

    /// Resizes the block at `pos` from `old` to `new_size` bytes, keeping
    /// `old.align()`.
    ///
    /// On success the first `min(old.size(), new_size)` bytes are preserved,
    /// `pos` must no longer be used, and the returned block has the layout
    /// `(new_size, old.align())`.
    ///
    /// # Errors
    ///
    /// The old block is untouched and still owned by the caller:
    ///
    /// - [`AllocError::NoMemory`]: no block of `new_size` bytes can be had,
    ///   or `new_size` cannot form a [`Layout`] with `old.align()`.
    ///
    /// The provided implementation allocates, copies and frees; backends
    /// override it to grow or shrink in place where they can.
    ///
    /// # Safety
    ///
    /// `pos` was returned by this allocator for the layout `old` and has not
    /// been freed since.
    unsafe fn realloc(&mut self, pos: NonNull<u8>, old: Layout, new_size: usize) -> AllocResult<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::NoMemory)?;
        let new_pos = self.alloc(new)?;
        // SAFETY: `new_pos` is a fresh block of `new_size` bytes, `pos` a live
        // block of `old.size()` bytes of this allocator (caller's contract),
        // freed here with its layout.
        unsafe { move_block(pos, old.size(), new_pos, new_size) };
        // SAFETY: as above.
        unsafe { self.dealloc(pos, old) };
        Ok(new_pos)
    }

    /// The bytes this allocator manages (metadata carved from the regions is
    /// excluded where the backend says so).
    fn total_bytes(&self) -> usize;

    /// The bytes of the blocks handed out, as the backend really reserves them
    /// (its rounding included).
    fn used_bytes(&self) -> usize;

    /// The most [`used_bytes`](Self::used_bytes) seen since the allocator
    /// was made (after an allocation or a reallocation), where the backend
    /// tracks it; every backend of this workspace does. The provided
    /// implementation says `None`.
    fn peak_used_bytes(&self) -> Option<usize> {
        None
    }

    /// The bytes still free. `used_bytes() + available_bytes() <=
    /// total_bytes()` always holds; fragmentation may keep a request of
    /// `available_bytes()` bytes from succeeding.
    fn available_bytes(&self) -> usize;

    /// Gives back the region `[start, start + size)`, exactly as it was
    /// handed to a successful [`init`](BaseAllocator::init) or
    /// [`add_memory`](BaseAllocator::add_memory), if no live block lies in
    /// it: from then on the allocator never touches that memory again,
    /// [`total_bytes`](Self::total_bytes) drops by what the region
    /// contributed, and the owner may reuse it (a growing heap returns it to
    /// its source).
    ///
    /// # Errors
    ///
    /// - [`AllocError::NotAllocated`]: no region was added with exactly this
    ///   range (or it was removed already).
    /// - [`AllocError::MemoryOverlap`]: a live block (or metadata that serves
    ///   live blocks, such as a slab) lies in the region; nothing changes.
    /// - [`AllocError::InvalidParam`]: the backend cannot give regions back
    ///   (the provided implementation).
    fn remove_memory(&mut self, start: usize, size: usize) -> AllocResult {
        let _ = (start, size);
        Err(AllocError::InvalidParam)
    }

    /// The largest size that a layout of alignment `align` may have and
    /// still be served by this allocator given enough memory (in one region
    /// as large as the backend accepts). A request above it can never
    /// succeed, so a growing heap does not take memory for it.
    ///
    /// The provided implementation says `isize::MAX` rounded down to `align`
    /// (any layout); backends with a largest block say less.
    fn max_layout_size(&self, align: usize) -> usize {
        (isize::MAX as usize) & !(align.max(1) - 1)
    }

    /// The bytes the live block at `pos` really holds: at least
    /// `layout.size()`, all of them the caller's to read and write until the
    /// block is freed (a C library's `malloc_usable_size`). The block is
    /// still freed (or reallocated) with `layout`, not with this size.
    ///
    /// The provided implementation says `layout.size()` (always true);
    /// backends that round a request up (a size class, a buddy order, a
    /// TLSF granule) say what they reserved.
    ///
    /// # Safety
    ///
    /// `pos` is a live block of this allocator allocated with `layout` (as
    /// for [`dealloc`](Self::dealloc)).
    unsafe fn usable_size(&self, pos: NonNull<u8>, layout: Layout) -> usize {
        let _ = pos;
        layout.size()
    }

    /// Whether [`block_size`](Self::block_size) finds the size of every
    /// live block from its address and alignment alone, so that a block can
    /// be freed without its size (a C library's `free`). A property of the
    /// type, not of a value (a function rather than a `const`, so that
    /// `dyn ByteAllocator` stays possible). The provided implementation says
    /// `false`.
    fn finds_block_sizes() -> bool
    where
        Self: Sized,
    {
        false
    }

    /// The size of the live block at `pos`, found from the allocator's own
    /// metadata (a TLSF header, the class of the slab holding it), given only
    /// the alignment it was allocated with; `None` where the backend cannot
    /// find it (always when [`finds_block_sizes`](Self::finds_block_sizes) is
    /// `false`: the provided implementation).
    ///
    /// `Some(n)` is a promise of the `unsafe` trait: `n` is at least the size
    /// the block was allocated with, every one of its `n` bytes is the
    /// caller's (as for [`usable_size`](Self::usable_size)), and the layout
    /// `(n, align)` may stand for the block's layout in
    /// [`dealloc`](Self::dealloc), [`realloc`](Self::realloc),
    /// [`usable_size`](Self::usable_size) and this method, as if the block
    /// had been allocated with it.
    ///
    /// # Safety
    ///
    /// `pos` is a live block of this allocator allocated (or last
    /// reallocated) with alignment `align` and any size.
    unsafe fn block_size(&self, pos: NonNull<u8>, align: usize) -> Option<usize> {
        let _ = (pos, align);
        None
    }

    /// Checks every invariant the backend states for its structure (lists
    /// and bitmaps consistent, blocks tiling each region, statistics equal
    /// to what a walk counts) and panics, naming the broken one, if any
    /// fails. For tests, fuzzing and debugging: the conformance suite and
    /// the fuzz targets call it after operations. It walks the whole
    /// structure, so it costs O(blocks or regions); nothing calls it on an
    /// allocation path, so a program that never calls it pays nothing.
    ///
    /// The provided implementation checks nothing; every backend of this
    /// workspace overrides it.
    ///
    /// # Panics
    ///
    /// If an invariant does not hold: the allocator is corrupt (a caller
    /// broke a `# Safety` contract, or the backend has a bug).
    fn assert_valid(&self) {}
}

/// Page-granularity allocation: page frames for page tables, DMA, stacks.
///
/// # Safety
///
/// An implementation promises that a run returned by
/// [`alloc_pages`](Self::alloc_pages) or
/// [`alloc_pages_at`](Self::alloc_pages_at) lies inside the ranges given to
/// [`init`](BaseAllocator::init)/[`add_memory`](BaseAllocator::add_memory),
/// is aligned as asked, and overlaps no other live run until it is passed to
/// [`dealloc_pages`](Self::dealloc_pages). It does *not* promise the pages are
/// mapped memory: a frame allocator manages physical page numbers. Whoever
/// hands its pages to a byte allocator makes that promise separately (see
/// `allocator_global::PageAllocatorSource::new`).
///
/// ```compile_fail,E0200
/// use allocator_traits::{AllocResult, BaseAllocator, PageAllocator};
///
/// struct Liar;
/// impl BaseAllocator for Liar {
///     unsafe fn init(&mut self, _: usize, _: usize) -> AllocResult { Ok(()) }
///     unsafe fn add_memory(&mut self, _: usize, _: usize) -> AllocResult { Ok(()) }
/// }
/// impl PageAllocator for Liar {
///     const PAGE_SIZE: usize = 4096;
///     fn alloc_pages(&mut self, _: usize, _: usize) -> AllocResult<usize> { Ok(0x1000) }
///     fn alloc_pages_at(&mut self, b: usize, _: usize, _: usize) -> AllocResult<usize> { Ok(b) }
///     unsafe fn dealloc_pages(&mut self, _: usize, _: usize) {}
///     fn total_pages(&self) -> usize { 0 }
///     fn used_pages(&self) -> usize { 0 }
///     fn available_pages(&self) -> usize { 0 }
/// }
/// ```
pub unsafe trait PageAllocator: BaseAllocator {
    /// The size of a page in bytes (a power of two).
    const PAGE_SIZE: usize;

    /// Allocates `num_pages` contiguous pages whose start is aligned to
    /// `align` bytes, and returns the start address.
    ///
    /// `align` is in bytes: a power of two, at least [`Self::PAGE_SIZE`].
    /// `num_pages == 0` or a bad `align` is [`AllocError::InvalidParam`].
    fn alloc_pages(&mut self, num_pages: usize, align: usize) -> AllocResult<usize>;

    /// Allocates `num_pages` contiguous pages starting exactly at `base`.
    ///
    /// `base` must be aligned to `align` (bytes, a power of two, at least
    /// [`Self::PAGE_SIZE`]) and the range must lie inside managed memory.
    /// Pages already in use are [`AllocError::NoMemory`].
    fn alloc_pages_at(&mut self, base: usize, num_pages: usize, align: usize) -> AllocResult<usize>;

    /// Frees `num_pages` pages starting at `pos`.
    ///
    /// # Safety
    ///
    /// `[pos, pos + num_pages * PAGE_SIZE)` was allocated by this allocator
    /// (by one or several calls) and is not used any more.
    unsafe fn dealloc_pages(&mut self, pos: usize, num_pages: usize);

    /// The number of pages managed.
    fn total_pages(&self) -> usize;

    /// The number of pages allocated.
    fn used_pages(&self) -> usize;

    /// The number of pages free.
    fn available_pages(&self) -> usize;
}

/// Unique integer IDs: thread IDs, ASIDs, IRQ numbers.
///
/// [`BaseAllocator::init`] and [`BaseAllocator::add_memory`] take a range of
/// IDs rather than memory.
pub trait IdAllocator: BaseAllocator {
    /// Allocates `count` contiguous IDs whose first ID is a multiple of
    /// `align_pow2` (a power of two), and returns the first.
    fn alloc_id(&mut self, count: usize, align_pow2: usize) -> AllocResult<usize>;

    /// Frees `count` contiguous IDs starting at `start_id`. IDs that are not
    /// allocated or not managed are ignored.
    fn dealloc_id(&mut self, start_id: usize, count: usize);

    /// Whether `id` is allocated (`false` for IDs not managed at all).
    fn is_allocated(&self, id: usize) -> bool;

    /// Marks `id` as allocated. An ID already allocated is
    /// [`AllocError::NoMemory`]; an ID outside the managed range is
    /// [`AllocError::InvalidParam`].
    fn alloc_fixed_id(&mut self, id: usize) -> AllocResult;

    /// The number of IDs managed.
    fn size(&self) -> usize;

    /// The number of IDs allocated.
    fn used(&self) -> usize;

    /// The number of IDs free.
    fn available(&self) -> usize;
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::{string::ToString, vec::Vec};

    #[test]
    fn errors_display_and_compare() {
        assert_eq!(AllocError::NoMemory.to_string(), "out of memory");
        assert_eq!(AllocError::InvalidParam.to_string(), "invalid parameter");
        assert_ne!(AllocError::NoMemory, AllocError::NotAllocated);
        let boxed: std::boxed::Box<dyn core::error::Error> = std::boxed::Box::new(AllocError::MemoryOverlap);
        assert!(boxed.to_string().contains("overlaps"));
    }

    /// A bump allocator over a `Vec`, to test the provided `realloc`.
    struct Bump {
        arena: Vec<u8>,
        next: usize,
        freed: usize,
    }

    impl BaseAllocator for Bump {
        unsafe fn init(&mut self, _: usize, _: usize) -> AllocResult {
            Ok(())
        }
        unsafe fn add_memory(&mut self, _: usize, _: usize) -> AllocResult {
            Err(AllocError::InvalidParam)
        }
    }

    // SAFETY: blocks are carved in order from `arena`, aligned as asked and
    // never handed out twice (the bump never reuses memory).
    unsafe impl ByteAllocator for Bump {
        fn alloc(&mut self, layout: Layout) -> AllocResult<NonNull<u8>> {
            let base = self.arena.as_mut_ptr();
            let start = region::align_up(base.addr() + self.next, layout.align())
                .ok_or(AllocError::NoMemory)?
                - base.addr();
            let end = start.checked_add(layout.size()).ok_or(AllocError::NoMemory)?;
            if end > self.arena.len() {
                return Err(AllocError::NoMemory);
            }
            self.next = end;
            // SAFETY: `start <= end <= arena.len()`, so the offset stays in
            // the arena's allocation.
            NonNull::new(unsafe { base.add(start) }).ok_or(AllocError::NoMemory)
        }
        unsafe fn dealloc(&mut self, _: NonNull<u8>, layout: Layout) {
            self.freed += layout.size();
        }
        fn total_bytes(&self) -> usize {
            self.arena.len()
        }
        fn used_bytes(&self) -> usize {
            self.next - self.freed
        }
        fn available_bytes(&self) -> usize {
            self.arena.len() - self.next
        }
    }

    #[test]
    fn provided_realloc_copies_and_frees() {
        let mut bump = Bump { arena: std::vec![0; 256], next: 0, freed: 0 };
        let old = Layout::from_size_align(8, 8).unwrap();
        let p = bump.alloc(old).unwrap();
        // SAFETY: `p` is a live 8-byte block.
        unsafe { p.as_ptr().copy_from_nonoverlapping([1u8, 2, 3, 4, 5, 6, 7, 8].as_ptr(), 8) };
        // SAFETY: `p` came from `bump.alloc(old)`.
        let q = unsafe { bump.realloc(p, old, 32) }.unwrap();
        assert_ne!(p, q);
        assert_eq!(q.as_ptr().addr() % 8, 0);
        // SAFETY: `q` is a live 32-byte block whose first 8 bytes were copied.
        let head = unsafe { core::slice::from_raw_parts(q.as_ptr(), 8) };
        assert_eq!(head, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bump.freed, 8, "the old block was freed");
    }

    #[test]
    fn provided_realloc_keeps_old_block_on_failure() {
        let mut bump = Bump { arena: std::vec![0; 64], next: 0, freed: 0 };
        let old = Layout::from_size_align(16, 8).unwrap();
        let p = bump.alloc(old).unwrap();
        // SAFETY: `p` came from `bump.alloc(old)`.
        assert_eq!(unsafe { bump.realloc(p, old, 1024) }, Err(AllocError::NoMemory));
        // SAFETY: as above; `usize::MAX` cannot form a layout.
        assert_eq!(unsafe { bump.realloc(p, old, usize::MAX) }, Err(AllocError::NoMemory));
        assert_eq!(bump.freed, 0, "the old block stays allocated");
    }
}
