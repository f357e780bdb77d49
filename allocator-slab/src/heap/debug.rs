//! The `debug-checks` feature: slab tags, checked frees and poisoned free
//! blocks. See the crate docs for what they catch and cost.
//!
//! Every slab header carries a tag naming its class and a bit per block, set
//! while the block is handed out (a double free is found there, never by
//! reading the caller's bytes, which may be uninitialised); a free block holds
//! its free-list link encoded with a key derived from its own address, and its
//! other bytes hold [`POISON`], so a write after free shows when the block is
//! handed out again.

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::{ByteAllocator, RegionTable, region::Region};

use super::{FreeBlock, HEADER_SIZE, Heap, SlabHeader, header_of, slab_base};
use crate::classes::{ClassInfo, MAX_BLOCKS_PER_SLAB, SizeClasses};

/// The words of a slab header's live-block bitmap: a bit for each block of
/// the fullest slab any table may have.
pub(super) const LIVE_WORDS: usize = MAX_BLOCKS_PER_SLAB.div_ceil(64);

pub(super) use allocator_traits::bug::Op;

/// The address of block 0 of the slab `slab` of the class `info`.
fn first_block(slab: NonNull<SlabHeader>, info: &ClassInfo) -> usize {
    // SAFETY: `slab` is the header of a live slab of the class (callers'
    // contract), so the base lies in the same allocation; the colour is read
    // in place, without a reference.
    let (base, colour) = unsafe { (slab_base(slab, info), (&raw const (*slab.as_ptr()).colour).read()) };
    base.as_ptr().addr() + colour as usize
}

/// The index of `block` in the slab `slab` of the class `info`, and whether
/// `block` is at a block boundary (`None` before block 0).
fn block_index(block: NonNull<u8>, slab: NonNull<SlabHeader>, info: &ClassInfo) -> Option<(usize, bool)> {
    let offset = block.as_ptr().addr().checked_sub(first_block(slab, info))?;
    Some((offset / info.size, offset % info.size == 0))
}

/// Marks `block` of the slab `hdr` (at `slab`, of the class `info`) handed
/// out or free.
pub(super) fn set_live(
    hdr: &mut SlabHeader,
    block: NonNull<u8>,
    slab: NonNull<SlabHeader>,
    info: &ClassInfo,
    live: bool,
) {
    // A live or just-freed block lies at a block boundary of its slab.
    let index = block_index(block, slab, info).map_or(0, |(index, _)| index) % MAX_BLOCKS_PER_SLAB;
    let bit = 1u64 << (index % 64);
    if live {
        hdr.debug.live[index / 64] |= bit;
    } else {
        hdr.debug.live[index / 64] &= !bit;
    }
}

/// The byte every free block is filled with (after its link).
pub(super) const POISON: u8 = 0xa5;

/// A word of [`POISON`] bytes.
const POISON_WORD: usize = usize::from_ne_bytes([POISON; size_of::<usize>()]);

/// Mixed into a free block's link with the block's address, so live data
/// that happens to hold a valid address does not read as a free block.
const LINK_KEY: usize = 0x9e37_79b9_7f4a_7c15_u64 as usize;

/// The tag of a live slab of `class`; a released slab's tag is cleared.
/// What a slab header holds for the checks: its class, tagged, so a free
/// can tell a slab of its class from anything else; and one bit per block,
/// set while the block is handed out, so a double free is found without
/// reading the block (whose bytes are the caller's, maybe uninitialised).
#[derive(Clone, Copy)]
pub(super) struct SlabDebug {
    pub(super) tag: u32,
    pub(super) live: [u64; LIVE_WORDS],
}

impl SlabDebug {
    /// The state of a new slab of `class`: tagged, no block handed out.
    pub(super) const fn new(class: usize) -> Self {
        Self { tag: slab_tag(class), live: [0; LIVE_WORDS] }
    }
}

/// Clears the tag of a slab that goes back to the backing allocator: a
/// stale pointer into it must not find a tag any more.
///
/// # Safety
///
/// `slab` is the header of a live slab of this heap.
pub(super) unsafe fn forget_slab(slab: NonNull<SlabHeader>) {
    // SAFETY: the caller's contract; written in place, without a reference.
    unsafe { (&raw mut (*slab.as_ptr()).debug.tag).write(0) };
}

/// Whether the backing allocator manages no memory yet (the heap then
/// knows every region it will be given).
pub(super) fn backing_was_empty<B: ByteAllocator>(backing: &B) -> bool {
    backing.total_bytes() == 0
}

pub(super) const fn slab_tag(class: usize) -> u32 {
    0x51ab_0000 | class as u32
}

/// How many regions the heap records to tell foreign pointers apart: as
/// many as a backing allocator manages.
const MAX_KNOWN_REGIONS: usize = allocator_traits::region::MAX_REGIONS;

/// The regions handed to the backing allocator through the heap, once the
/// heap knows they are all of its memory: the first region recorded went to a
/// backing allocator that managed nothing yet (a heap built by `with_backing`
/// over a backing allocator that already manages memory does not know).
pub(super) struct KnownRegions {
    table: RegionTable<MAX_KNOWN_REGIONS>,
    complete: bool,
}

impl KnownRegions {
    /// Nothing known yet about the backing allocator's memory: no region check.
    pub(super) const UNKNOWN: Self = Self { table: RegionTable::new(), complete: false };

    /// Records a region the backing allocator accepted (`backing_was_empty`:
    /// it managed no memory before); the check is off for good once the
    /// table is full.
    pub(super) fn record(&mut self, start: usize, size: usize, backing_was_empty: bool) {
        if self.table.is_empty() && backing_was_empty {
            self.complete = true;
        }
        let recorded = Region::new(start, size).and_then(|region| self.table.insert(region));
        if recorded.is_err() {
            self.complete = false;
        }
    }

    /// Forgets a region given back to the backing allocator (if recorded:
    /// a full table recorded nothing more, and its check is off anyway).
    pub(super) fn forget(&mut self, start: usize, size: usize) {
        if let Ok(region) = Region::new(start, size) {
            let _ = self.table.remove(&region);
        }
    }

    /// Whether `[addr, addr + len)` may be memory of the backing allocator.
    fn may_hold(&self, addr: usize, len: usize) -> bool {
        !self.complete || self.table.find(addr, len).is_some()
    }
}

/// The link stored in a free block at `block` for `next`.
fn encode(block: NonNull<u8>, next: Option<NonNull<FreeBlock>>) -> usize {
    next.map_or(0, |next| next.as_ptr().addr()) ^ LINK_KEY ^ block.as_ptr().addr()
}

/// The link stored in the free block at `block`, decoded (not checked).
///
/// # Safety
///
/// `block` is a free block of a live slab (its first word holds a link).
pub(super) unsafe fn read_link(block: NonNull<FreeBlock>) -> Option<NonNull<FreeBlock>> {
    let block = block.cast::<u8>();
    // SAFETY: the caller's contract: a word-aligned, readable link.
    let next = unsafe { block.cast::<usize>().read() } ^ LINK_KEY ^ block.as_ptr().addr();
    // Derived from the block's provenance, which is the slab's.
    NonNull::new(block.as_ptr().with_addr(next)).map(NonNull::cast)
}

/// Whether `next` (0 for none) can be the link of a free block of `slab`'s
/// class: another carved block of the same slab.
fn valid_link(slab: NonNull<SlabHeader>, info: &ClassInfo, block: usize, next: usize) -> bool {
    if next == 0 {
        return true;
    }
    // SAFETY: `slab` is a live slab of `class` (callers' contract); `carved`
    // is read in place, without a reference.
    let carved = unsafe { (&raw const (*slab.as_ptr()).carved).read() } as usize;
    let base = first_block(slab, info);
    let size = info.size;
    next != block && next >= base && next < base + carved * size && (next - base) % size == 0
}

/// Writes the free block at `block` of the class `info`: its encoded link to
/// `next`, then poison.
///
/// # Safety
///
/// `block` is a block of the class that was just freed.
pub(super) unsafe fn write_free_block(
    block: NonNull<u8>,
    next: Option<NonNull<FreeBlock>>,
    info: &ClassInfo,
) {
    // SAFETY: the block is ours again, `info.size` bytes, aligned to at least
    // a word.
    unsafe {
        block.cast::<usize>().write(encode(block, next));
        block.add(size_of::<usize>()).write_bytes(POISON, info.size - size_of::<usize>());
    }
}

/// Pops the free block at `block` of `slab`: panics if it was written after
/// it was freed (its link or its poison changed), returns its link, and
/// marks it handed out.
///
/// # Safety
///
/// `block` heads the free list of `slab`, a live slab of the class `info`.
pub(super) unsafe fn take_free_block(
    block: NonNull<FreeBlock>,
    slab: NonNull<SlabHeader>,
    info: &ClassInfo,
) -> Option<NonNull<FreeBlock>> {
    // SAFETY: the caller's contract.
    unsafe { checked_link(block, info, |addr, next| valid_link(slab, info, addr, next)) }
}

/// The link of the free block at `block` of the class `info`: panics if
/// the block was written after it was freed (its poison changed, or its
/// link fails `valid(block address, link)`).
///
/// # Safety
///
/// `block` is a free block of a live slab of the class `info`, written by
/// [`write_free_block`].
unsafe fn checked_link(
    block: NonNull<FreeBlock>,
    info: &ClassInfo,
    valid: impl FnOnce(usize, usize) -> bool,
) -> Option<NonNull<FreeBlock>> {
    let block = block.cast::<u8>();
    let addr = block.as_ptr().addr();
    // SAFETY: a free block of `class`: a word-aligned, readable link.
    let next = unsafe { block.cast::<usize>().read() } ^ LINK_KEY ^ addr;
    let written_after_free = |offset: usize| -> ! {
        allocator_traits::caller_bug!(
            "allocator-slab: use after free: block {addr:#x} ({} bytes) was written after it was freed (at byte {offset})",
            info.size
        )
    };
    if !valid(addr, next) {
        written_after_free(0);
    }
    let size = info.size;
    let mut offset = size_of::<usize>();
    while offset < size {
        // SAFETY: `offset < size`, a word boundary inside the block.
        if unsafe { block.add(offset).cast::<usize>().read() } != POISON_WORD {
            written_after_free(offset);
        }
        offset += size_of::<usize>();
    }
    // Derived from the region's provenance, which `block` carries.
    NonNull::new(block.as_ptr().with_addr(next)).map(NonNull::cast)
}

impl<B: ByteAllocator, C: SizeClasses> Heap<B, C> {
    /// Panics (through [`allocator_traits::caller_bug!`]) unless `ptr` can be
    /// a live block of `class` allocated for `layout`: O(1) (and a scan of at
    /// most 32 known regions). Reads only the heap's own metadata, never the
    /// block.
    pub(super) fn check_live(&self, ptr: NonNull<u8>, layout: Layout, class: usize, op: Op) {
        let addr = ptr.as_ptr().addr();
        let size = Self::info(class).size;
        let align = layout.align();
        if addr % align != 0 {
            allocator_traits::caller_bug!(
                "allocator-slab: {op} of {addr:#x}, misaligned for its layout (align {align})"
            );
        }
        let (slab, index) = match self.locate(addr, class) {
            Ok(found) => found,
            Err(Misplaced::NotABlock) => allocator_traits::caller_bug!(
                "allocator-slab: {op} of {addr:#x}, which is not the start of a block of the {size}-byte class"
            ),
            Err(Misplaced::OutsideRegions) => allocator_traits::caller_bug!(
                "allocator-slab: {op} of {addr:#x}, which lies outside every region"
            ),
            Err(Misplaced::NotInClass) => allocator_traits::caller_bug!(
                "allocator-slab: {op} of {addr:#x}, which is in no slab of the {size}-byte class \
                 (never allocated, or freed with another layout)"
            ),
        };
        if !live_bit(slab, index) {
            if op == Op::Free {
                allocator_traits::caller_bug!("allocator-slab: double free of {addr:#x} ({size}-byte class)")
            }
            allocator_traits::caller_bug!(
                "allocator-slab: {op} of {addr:#x} after it was freed ({size}-byte class)"
            )
        }
    }

    /// The slab and index of the block of `class` at `addr`, read from the
    /// heap's own metadata only (never the block): O(1) (and a scan of at
    /// most 32 known regions).
    fn locate(&self, addr: usize, class: usize) -> Result<(NonNull<SlabHeader>, usize), Misplaced> {
        let info = Self::info(class);
        // The heap's metadata is reached with the region's provenance.
        let block =
            NonNull::new(core::ptr::with_exposed_provenance_mut::<u8>(addr)).ok_or(Misplaced::NotABlock)?;
        if addr % info.block_align != 0 {
            return Err(Misplaced::NotABlock);
        }
        let slab = header_of(block, info);
        if !self.known.may_hold(addr, info.size) || !self.known.may_hold(slab.as_ptr().addr(), HEADER_SIZE) {
            return Err(Misplaced::OutsideRegions);
        }
        // SAFETY: the header's place lies in the heap's memory (checked above
        // when the heap knows its regions; otherwise the caller's word that
        // the block came from this heap) and is aligned for a header; the
        // tag is read in place, without a reference.
        let tag = unsafe { (&raw const (*slab.as_ptr()).debug.tag).read() };
        if tag != slab_tag(class) {
            return Err(Misplaced::NotInClass);
        }
        match block_index(block, slab, info) {
            Some((index, true)) if index < info.capacity => Ok((slab, index)),
            _ => Err(Misplaced::NotABlock),
        }
    }

    /// Marks the freed block at `ptr` of `class` free in its slab and writes
    /// it as a free block whose link is `next`: the block cache's blocks are
    /// checked as the slabs' free blocks are.
    ///
    /// # Safety
    ///
    /// `ptr`, with the region's provenance, is a block of `class` just freed
    /// (checked by [`check_live`](Self::check_live)).
    pub(super) unsafe fn cache_block(
        &mut self,
        ptr: NonNull<u8>,
        next: Option<NonNull<FreeBlock>>,
        class: usize,
    ) {
        let info = Self::info(class);
        let slab = header_of(ptr, info);
        // SAFETY: a live block lies in a live slab of its class, whose
        // header `header_of` found; no other reference to it is live. (Not
        // counted as a touch of the heap: the checks' own.)
        set_live(unsafe { &mut *slab.as_ptr() }, ptr, slab, info, false);
        // SAFETY: the caller's contract.
        unsafe { write_free_block(ptr, next, info) };
    }

    /// Takes the block at `block` out of the block cache of `class`: panics
    /// if it was written after it was freed, or if its link is not another
    /// cached block of `class`; marks it handed out and returns its link.
    ///
    /// # Safety
    ///
    /// `block` heads the block cache of `class`.
    pub(super) unsafe fn uncache_block(
        &mut self,
        block: NonNull<FreeBlock>,
        class: usize,
    ) -> Option<NonNull<FreeBlock>> {
        let info = Self::info(class);
        let cached =
            |next: usize| matches!(self.locate(next, class), Ok((slab, index)) if !live_bit(slab, index));
        // SAFETY: a cached block was written by `cache_block`.
        let next =
            unsafe { checked_link(block, info, |addr, next| next == 0 || (next != addr && cached(next))) };
        let ptr = block.cast::<u8>();
        let slab = header_of(ptr, info);
        // SAFETY: a cached block lies in a live slab of its class; no other
        // reference to its header is live. (Not counted, as above.)
        set_live(unsafe { &mut *slab.as_ptr() }, ptr, slab, info, true);
        next
    }
}

/// Why an address is no block of a class.
enum Misplaced {
    /// Not at a block boundary of a slab of the class.
    NotABlock,
    /// Outside every region the heap knows.
    OutsideRegions,
    /// In no slab of the class.
    NotInClass,
}

/// Whether block `index` of the live slab `slab` is handed out.
fn live_bit(slab: NonNull<SlabHeader>, index: usize) -> bool {
    // SAFETY: `slab` is a live slab (its tag was checked); the bitmap word
    // is read in place, without a reference.
    let word = unsafe { (&raw const (*slab.as_ptr()).debug.live[index / 64]).read() };
    word & (1 << (index % 64)) != 0
}
