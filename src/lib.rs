//! Trait-based `no_std` memory allocators for kernels, hypervisors and
//! embedded systems.
//!
//! This facade re-exports the vocabulary of [`allocator_traits`] and, behind
//! one Cargo feature each, the backends:
//!
//! | feature | type | crate |
//! |---|---|---|
//! | `tlsf` | `TlsfByteAllocator` | `allocator-tlsf` |
//! | `buddy` | `BuddyByteAllocator` | `allocator-buddy` |
//! | `slab` | `SlabByteAllocator` | `allocator-slab` |
//! | `bitmap` | `BitmapPageAllocator`, `BitmapIdAllocator` | `allocator-bitmap` |
//! | `allocator-api2` | `AllocatorRc` (stable `allocator_api2::alloc::Allocator`) | `allocator-rc` |
//! | `allocator_api` | `AllocatorRc` as `core::alloc::Allocator` (nightly) | `allocator-rc` |
//!
//! `full` turns on every backend and the stable bridge.
#![no_std]

pub use allocator_traits::*;
