//! Trait-based `no_std` memory allocators for kernels, hypervisors and
//! embedded systems.
//!
//! This facade re-exports the vocabulary of [`allocator_traits`] and, behind
//! one Cargo feature each, the backends; nothing else is compiled (but
//! `slab` brings TLSF, its default backing allocator):
//!
//! | feature | what you get | crate |
//! |---|---|---|
//! | `tlsf` | `TlsfByteAllocator`: O(1) TLSF over `rlsf` | `allocator-tlsf` |
//! | `buddy` | `BuddyByteAllocator`: binary buddy, O(log n) | `allocator-buddy` |
//! | `slab` | `SlabByteAllocator`, `slab::Heap`: size classes in front of TLSF (default) or buddy | `allocator-slab` |
//! | `bitmap` | `BitmapFrameAllocator` (frames at any scale, bitmap in a caller's buffer), `BitmapPageAllocator` (bitmap inline), `BitmapIdAllocator` | `allocator-bitmap` |
//! | `page-alloc-256m` … `page-alloc-1t` | compatibility aliases: the inline capacity of `BitmapPageAllocator` only | `allocator-bitmap` |
//! | `allocator-api2` | `AllocatorRc` as `allocator_api2::alloc::Allocator` (stable) | `allocator-rc` |
//! | `allocator_api` | `AllocatorRc` (and `GlobalAllocator`) as `core::alloc::Allocator` (nightly) | `allocator-rc`, `allocator-global` |
//! | `global` | `Growing` (growth and memory return), `GlobalAllocator` (locked `GlobalAlloc`), `PerCpu` (per-CPU caches) over any backend | `allocator-global` |
//! | `std` | `SystemSource`, `MmapSource` (unix), `ThreadSlots`: hosts | `allocator-global` |
//! | `full` | every backend and the stable bridge | |
//!
//! ```
//! # #[cfg(feature = "tlsf")] {
//! use allocator::{BaseAllocator, ByteAllocator, TlsfByteAllocator};
//! use core::alloc::Layout;
//!
//! let region: &'static mut [u8] = std::vec![0u8; 1 << 20].leak();
//! let mut heap = TlsfByteAllocator::new();
//! // SAFETY: the leaked region is ours alone, forever.
//! unsafe { heap.init(region.as_mut_ptr() as usize, region.len()) }.unwrap();
//! let layout = Layout::from_size_align(100, 16).unwrap();
//! let block = heap.alloc(layout).unwrap();
//! assert_eq!(block.as_ptr() as usize % 16, 0);
//! // SAFETY: `block` came from `heap.alloc(layout)`.
//! unsafe { heap.dealloc(block, layout) };
//! assert_eq!(heap.used_bytes(), 0);
//! # }
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

/// The README's examples, compiled and run with the crate's doctests (the
/// README is not the crate doc: its results tables belong to the repository,
/// not to the API documentation).
#[cfg(all(doctest, feature = "slab"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use allocator_traits::*;

#[cfg(feature = "tlsf")]
pub use allocator_tlsf::TlsfByteAllocator;

#[cfg(feature = "buddy")]
pub use allocator_buddy::BuddyByteAllocator;

/// The hybrid slab heap behind [`SlabByteAllocator`].
#[cfg(feature = "slab")]
pub use allocator_slab as slab;
#[cfg(feature = "slab")]
pub use allocator_slab::SlabByteAllocator;

#[cfg(feature = "bitmap")]
pub use allocator_bitmap::{BitmapFrameAllocator, BitmapIdAllocator, BitmapPageAllocator, BitmapStorage};

#[cfg(feature = "allocator-api2")]
pub use allocator_rc::AllocatorRc;

/// The locked, growable global allocator and its page sources, policy and statistics.
#[cfg(feature = "global")]
pub use allocator_global as global;
#[cfg(all(feature = "global", feature = "std", unix))]
pub use allocator_global::MmapSource;
#[cfg(feature = "global")]
pub use allocator_global::{
    CpuId, GlobalAllocator, Growing, GrowthPolicy, NoSource, PageAllocatorSource, PageSource, PerCpu,
};
#[cfg(all(feature = "global", feature = "std"))]
pub use allocator_global::{SystemSource, ThreadSlots};
