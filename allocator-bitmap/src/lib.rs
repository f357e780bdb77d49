//! Bitmap page-frame and ID allocators over [`bitmap_allocator`], with
//! errors instead of panics.
//!
//! - [`BitmapFrameAllocator`] implements [`PageAllocator`]: page frames, single
//!   or contiguous, with any power-of-two alignment, or at a fixed address,
//!   over a summarised bitmap kept in a buffer it is given (or carved from
//!   the memory it manages), so one type serves 16 MiB and 16 TiB without a
//!   capacity feature and costs a few words by value. Single pages in
//!   O(log64 pages), aligned runs without O(pages) scans; see its docs.
//! - [`BitmapPageAllocator`] is the same engine with its bitmap inline, sized
//!   by the `page-alloc-*` features, for existing users: `new()` needs no
//!   buffer.
//! - [`BitmapIdAllocator`] implements [`IdAllocator`]: thread IDs, ASIDs, IRQ
//!   numbers, single or in aligned ranges, or fixed.
//!
//! # Differences from `ax-allocator`'s bitmap allocator
//!
//! - **Capacity spent on the regions.** Upstream anchors the bitmap at the
//!   1 GiB boundary below the first region, so with the default 256 MiB
//!   capacity a 4 MiB region 300 MiB past such a boundary does not fit (it
//!   panics with "bitmap capacity exceeded"). Here bit 0 is the lowest
//!   managed page: any set of regions whose span (lowest to highest page) is
//!   at most [`PAGE_CAPACITY`] pages fits, and a set that does not is an
//!   [`AllocError`].
//! - **Absolute alignment** without the 1 GiB anchor: the search looks for page
//!   numbers that are multiples of the alignment, so an 8-page request with
//!   32 KiB alignment gets a 32 KiB-aligned address wherever the window
//!   starts. Alignments above 1 GiB are served too.
//! - **More regions.** [`add_memory`](BaseAllocator::add_memory) adds regions
//!   (upstream refuses), in any address order; overlapping ones are
//!   [`AllocError::MemoryOverlap`]. Pages between regions are never handed out.
//! - **No panics.** Bad regions, a second `init`, bad alignments, zero
//!   counts, ranges outside managed memory are errors; freeing pages that are
//!   not allocated (foreign, or a double free) is ignored instead of
//!   corrupting the statistics or underflowing.
//! - **An ID allocator** (upstream declares the trait but has no
//!   implementation).
//!
//! # Capacity
//!
//! [`BitmapFrameAllocator`] needs no capacity feature: its bitmap is a buffer
//! of [`BitmapFrameAllocator::bitmap_words`] `u64`s for the frame span (about
//! 1.03 bits per page: 2.06 MiB for 64 GiB of 4 KiB pages, 33 MiB for
//! 1 TiB), given with [`with_bitmap`](BitmapFrameAllocator::with_bitmap) or
//! carved from mapped memory with
//! [`from_region`](BitmapFrameAllocator::from_region).
//!
//! The `page-alloc-*` features are kept as compatibility aliases: they size
//! only [`BitmapPageAllocator`]'s inline bitmap, as they sized the old type's;
//! with several, the largest wins. None selected means 256 MiB worth of
//! 4 KiB pages.
//!
//! | feature           | pages ([`PAGE_CAPACITY`]) | span with 4 KiB pages | inline bitmap |
//! |-------------------|---------------------------|-----------------------|---------------|
//! | (none), `page-alloc-256m` | 65,536 (64 Ki)    | 256 MiB               | 8.3 KiB       |
//! | `page-alloc-4g`   | 1,048,576 (1 Mi)          | 4 GiB                 | 132 KiB       |
//! | `page-alloc-64g`  | 16,777,216 (16 Mi)        | 64 GiB                | 2.1 MiB       |
//! | `page-alloc-1t`   | 268,435,456 (256 Mi)      | 1 TiB                 | 33 MiB        |
//!
//! [`BitmapPageAllocator`] holds that bitmap by value, so with the larger
//! capacities keep it in a `static` (`new` is a `const fn`), never on a
//! stack, or better move to [`BitmapFrameAllocator`].
//!
//! # Examples
//!
//! ```
//! use allocator_bitmap::BitmapPageAllocator;
//! use allocator_traits::{BaseAllocator, PageAllocator};
//!
//! const PAGE: usize = 4096;
//! // In a `static`: with the larger `page-alloc-*` features it is megabytes.
//! static mut FRAMES: BitmapPageAllocator<PAGE> = BitmapPageAllocator::new();
//! // SAFETY: the only reference to the static, taken once.
//! let frames = unsafe { &mut *core::ptr::addr_of_mut!(FRAMES) };
//! // Physical memory 1 GiB + 300 MiB .. + 4 MiB (the allocator never touches it).
//! let start = (1 << 30) + (300 << 20);
//! // SAFETY: in a kernel: these frames are free RAM that nothing else uses.
//! unsafe { frames.init(start, 4 << 20) }.unwrap();
//! assert_eq!(frames.total_pages(), 1024);
//!
//! let one = frames.alloc_pages(1, PAGE).unwrap();
//! let run = frames.alloc_pages(8, 32 * 1024).unwrap();
//! assert_eq!(run % (32 * 1024), 0);
//! assert_eq!(frames.used_pages(), 9);
//! // SAFETY: both came from this allocator and are no longer used.
//! unsafe {
//!     frames.dealloc_pages(one, 1);
//!     frames.dealloc_pages(run, 8);
//! }
//! assert_eq!(frames.used_pages(), 0);
//! ```
#![no_std]
#![deny(missing_docs)]

mod id;
mod page;
mod tree;
mod window;

#[cfg(test)]
mod tests;

#[cfg(feature = "page-alloc-1t")]
type PageBitmap = bitmap_allocator::BitAlloc256M;
#[cfg(all(feature = "page-alloc-64g", not(feature = "page-alloc-1t")))]
type PageBitmap = bitmap_allocator::BitAlloc16M;
#[cfg(all(feature = "page-alloc-4g", not(any(feature = "page-alloc-64g", feature = "page-alloc-1t"))))]
type PageBitmap = bitmap_allocator::BitAlloc1M;
#[cfg(not(any(feature = "page-alloc-4g", feature = "page-alloc-64g", feature = "page-alloc-1t")))]
type PageBitmap = bitmap_allocator::BitAlloc64K;

// For the documentation's links.
#[allow(unused_imports)]
use allocator_traits::{AllocError, BaseAllocator, IdAllocator, PageAllocator};
pub use bitmap_allocator::{BitAlloc, BitAlloc1M, BitAlloc4K, BitAlloc16, BitAlloc64K, BitAlloc256};
pub use id::BitmapIdAllocator;
pub use page::{BitmapFrameAllocator, BitmapPageAllocator};
pub use tree::BitmapStorage;
pub use window::MAX_REGIONS;

/// The number of pages [`BitmapPageAllocator`]'s inline bitmap covers, chosen
/// by the `page-alloc-*` features (see the capacity table in the [crate]
/// documentation); [`BitmapFrameAllocator`] does not use it.
pub const PAGE_CAPACITY: usize = <PageBitmap as bitmap_allocator::BitAlloc>::CAP;
