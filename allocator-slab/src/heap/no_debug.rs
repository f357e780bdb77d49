//! The `debug-checks` hooks without the feature: each does nothing, or the
//! plain thing (a free block's link stored as it is), and every one inlines
//! away, so the heap's paths carry no `cfg`. The checking versions, with
//! the same names, are in `debug.rs`.

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::ByteAllocator;

use super::{FreeBlock, Heap, SlabHeader};
use crate::classes::{ClassInfo, SizeClasses};

pub(super) use allocator_traits::bug::Op;

/// A slab header's debug state: none.
#[derive(Clone, Copy)]
pub(super) struct SlabDebug;

impl SlabDebug {
    /// No state.
    #[inline(always)]
    pub(super) const fn new(_class: usize) -> Self {
        Self
    }
}

/// The regions the heap would record: none.
pub(super) struct KnownRegions;

impl KnownRegions {
    /// Nothing recorded.
    pub(super) const UNKNOWN: Self = Self;

    /// Records nothing.
    #[inline(always)]
    pub(super) fn record(&mut self, _start: usize, _size: usize, _backing_was_empty: bool) {}

    /// Forgets nothing.
    #[inline(always)]
    pub(super) fn forget(&mut self, _start: usize, _size: usize) {}
}

/// Not asked: nothing is recorded.
#[inline(always)]
pub(super) fn backing_was_empty<B: ByteAllocator>(_backing: &B) -> bool {
    false
}

/// Marks nothing.
#[inline(always)]
pub(super) fn set_live(
    _hdr: &mut SlabHeader,
    _block: NonNull<u8>,
    _slab: NonNull<SlabHeader>,
    _info: &ClassInfo,
    _live: bool,
) {
}

/// Clears nothing.
///
/// # Safety
///
/// None needed; the same contract as the checking version.
#[inline(always)]
pub(super) unsafe fn forget_slab(_slab: NonNull<SlabHeader>) {}

/// Stores the link `next` in the free block at `block`, as it is.
///
/// # Safety
///
/// The block is the heap's again, at least a word and aligned to one.
#[inline(always)]
pub(super) unsafe fn write_free_block(
    block: NonNull<u8>,
    next: Option<NonNull<FreeBlock>>,
    _info: &ClassInfo,
) {
    // SAFETY: the caller's contract.
    unsafe { block.cast::<FreeBlock>().write(FreeBlock { next }) };
}

/// The link of the free block at `block`.
///
/// # Safety
///
/// `block` is a free block of a live slab.
#[inline(always)]
pub(super) unsafe fn read_link(block: NonNull<FreeBlock>) -> Option<NonNull<FreeBlock>> {
    // SAFETY: the caller's contract: a free block holds its link.
    unsafe { block.as_ref() }.next
}

/// Pops the free block at `block`: its link.
///
/// # Safety
///
/// `block` heads the free list of a live slab.
#[inline(always)]
pub(super) unsafe fn take_free_block(
    block: NonNull<FreeBlock>,
    _slab: NonNull<SlabHeader>,
    _info: &ClassInfo,
) -> Option<NonNull<FreeBlock>> {
    // SAFETY: the caller's contract.
    unsafe { read_link(block) }
}

impl<B: ByteAllocator, C: SizeClasses> Heap<B, C> {
    /// Checks nothing.
    #[inline(always)]
    pub(super) fn check_live(&self, _ptr: NonNull<u8>, _layout: Layout, _class: usize, _op: Op) {}

    /// Writes the freed block at `ptr` as a free block whose link is `next`.
    ///
    /// # Safety
    ///
    /// `ptr`, with the region's provenance, is a block of `class` just freed.
    #[inline(always)]
    pub(super) unsafe fn cache_block(
        &mut self,
        ptr: NonNull<u8>,
        next: Option<NonNull<FreeBlock>>,
        class: usize,
    ) {
        // SAFETY: the caller's contract.
        unsafe { write_free_block(ptr, next, Self::info(class)) };
    }

    /// The link of the cached block at `block`.
    ///
    /// # Safety
    ///
    /// `block` heads the block cache of `class`.
    #[inline(always)]
    pub(super) unsafe fn uncache_block(
        &mut self,
        block: NonNull<FreeBlock>,
        _class: usize,
    ) -> Option<NonNull<FreeBlock>> {
        // SAFETY: the caller's contract: a cached block holds its link.
        unsafe { read_link(block) }
    }
}
