//! Property tests: operation sequences generated and shrunk by proptest, run
//! against the models of [`byte`](crate::byte), [`page`](crate::page) and
//! [`id`](crate::id) with every step checked.
//!
//! ```ignore
//! use allocator_testkit::{ByteConfig, props::{byte_ops, run_byte_ops}};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #[test]
//!     fn tlsf_follows_the_model(ops in byte_ops(200)) {
//!         run_byte_ops(&TlsfByteAllocator::new, &ByteConfig::new(), &ops);
//!     }
//! }
//! ```
//!
//! A failure shrinks to a short sequence; proptest keeps it in
//! `proptest-regressions/` next to the test, so it is replayed first on every
//! later run (commit that file). The runners panic on the first broken
//! promise, like the checks.
//!
//! Fuzz targets can build the same operations from raw bytes with
//! [`byte_ops_from_tape`], [`page_ops_from_tape`] and [`id_ops_from_tape`].

use std::alloc::Layout;

use allocator_traits::{AllocError, ByteAllocator, IdAllocator, PageAllocator, Region};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::byte::ByteHarness;
use crate::id::IdHarness;
use crate::page::PageHarness;
use crate::{ByteConfig, IdConfig, PageConfig, Pool};

/// One operation on a byte allocator. Indices pick a live block modulo the
/// number of live blocks (nothing happens when none is live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOp {
    /// `alloc` of `size` bytes aligned to `2^align_log2` (capped at the
    /// configuration's `max_align`).
    Alloc {
        /// The size asked.
        size: usize,
        /// The alignment's logarithm.
        align_log2: u8,
    },
    /// `realloc` of a live block to `size` bytes.
    Realloc {
        /// Which live block.
        index: usize,
        /// The new size.
        size: usize,
    },
    /// `dealloc` of a live block.
    Free {
        /// Which live block.
        index: usize,
    },
    /// `add_memory` of a new region of about `size` bytes (clamped to the
    /// configuration's sizes; skipped once `max_regions` are managed).
    AddRegion {
        /// The region's size before clamping.
        size: usize,
    },
}

/// Sizes as programs ask them: mostly small, sometimes large, now and then
/// far beyond any heap.
fn any_size(max_size: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0..=64usize,
        3 => 0..=max_size,
        1 => prop_oneof![(max_size..=8 * max_size), Just(isize::MAX as usize), Just(usize::MAX)],
    ]
}

/// One [`ByteOp`] with sizes up to about `max_size` and alignments up to
/// `2^max_align_log2`.
pub fn byte_op(max_size: usize, max_align_log2: u8) -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        4 => (any_size(max_size), 0..=max_align_log2).prop_map(|(size, align_log2)| ByteOp::Alloc { size, align_log2 }),
        2 => any::<usize>().prop_map(|index| ByteOp::Free { index }),
        2 => (any::<usize>(), any_size(max_size)).prop_map(|(index, size)| ByteOp::Realloc { index, size }),
        1 => (4096..=256 * 1024usize).prop_map(|size| ByteOp::AddRegion { size }),
    ]
}

/// Up to `len` [`ByteOp`]s with sizes up to 16 KiB (sometimes far more)
/// and alignments up to 4 KiB.
pub fn byte_ops(len: usize) -> impl Strategy<Value = Vec<ByteOp>> {
    vec(byte_op(16 << 10, 12), 0..=len)
}

/// Runs `ops` on a fresh heap of `cfg.region_size` bytes, checking every
/// block against the model, the statistics and the allocator's own
/// invariants ([`ByteAllocator::assert_valid`]) after every operation, then
/// frees everything and checks `used_bytes() == 0`.
///
/// Allocations within `cfg.max_size` and `cfg.churn_align()` may fail only
/// with [`AllocError::NoMemory`] (and not on an empty heap); larger ones may
/// also be [`AllocError::InvalidParam`] when the alignment is beyond what the
/// backend serves. `realloc` may fail only with `NoMemory`. A new region
/// must be accepted.
pub fn run_byte_ops<A: ByteAllocator>(make: &dyn Fn() -> A, cfg: &ByteConfig, ops: &[ByteOp]) {
    let mut heap = ByteHarness::new(make, cfg, "run_byte_ops");
    for (step, &op) in ops.iter().enumerate() {
        heap.model.step = step;
        match op {
            ByteOp::Alloc { size, align_log2 } => {
                let align = (1usize << align_log2.min(30)).min(cfg.max_align.max(1));
                let Ok(layout) = Layout::from_size_align(size, align) else { continue };
                let allowed: &[AllocError] = if size <= cfg.max_size && align <= cfg.churn_align() {
                    if heap.model.is_empty() { &[] } else { &[AllocError::NoMemory] }
                } else {
                    &[AllocError::NoMemory, AllocError::InvalidParam]
                };
                let _ = heap.alloc(layout, allowed);
            }
            ByteOp::Realloc { index, size } => {
                if !heap.model.is_empty() {
                    let _ = heap.realloc(index % heap.model.len(), size);
                }
            }
            ByteOp::Free { index } => {
                if !heap.model.is_empty() {
                    // Where the engine finds sizes, every other free is a C
                    // `free`: by address and alignment alone.
                    if A::finds_block_sizes() && index % 2 == 1 {
                        heap.free_found(index % heap.model.len());
                    } else {
                        heap.free(index % heap.model.len());
                    }
                }
            }
            ByteOp::AddRegion { size } => {
                if heap.model.regions().len() < cfg.max_regions.max(1) {
                    let floor = cfg.min_region_size.max(cfg.region_align);
                    let size =
                        size.clamp(floor, cfg.region_size.max(floor)).next_multiple_of(cfg.region_align);
                    let region = heap.keep(Pool::new(size, cfg.region_align)).region();
                    heap.add(region, false)
                        .unwrap_or_else(|e| panic!("[step {step}] add_memory of {region:?}: {e:?}"));
                }
            }
        }
        heap.check_stats();
        heap.alloc.assert_valid();
    }
    heap.model.verify_all();
    heap.free_all();
}

/// One operation on a page allocator. Indices pick an allocation (or a
/// region) modulo their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOp {
    /// `alloc_pages(pages, PAGE_SIZE << align_log2)`.
    Alloc {
        /// How many pages.
        pages: usize,
        /// The alignment's logarithm, in pages.
        align_log2: u8,
    },
    /// `alloc_pages_at` the page `page - 4` of region `region` (so also
    /// just before and after it), aligned to `PAGE_SIZE << align_log2`
    /// (the base is rounded down to that).
    AllocAt {
        /// Which region.
        region: usize,
        /// The page offset plus 4.
        page: usize,
        /// How many pages.
        pages: usize,
        /// The alignment's logarithm, in pages.
        align_log2: u8,
    },
    /// `dealloc_pages` of an allocation, in two parts if `split` is not 0.
    Free {
        /// Which allocation.
        index: usize,
        /// Where to split it (modulo its pages), 0 for no split.
        split: usize,
    },
    /// `add_memory` of a new region of `pages` pages (skipped once
    /// `max_regions` are managed).
    AddRegion {
        /// How many pages (at least 1, at most the configured `pages`).
        pages: usize,
    },
}

/// One [`PageOp`] with up to `max_pages` pages aligned up to
/// `2^max_align_log2` pages.
pub fn page_op(max_pages: usize, max_align_log2: u8) -> impl Strategy<Value = PageOp> {
    prop_oneof![
        4 => (1..=max_pages.max(1), 0..=max_align_log2).prop_map(|(pages, align_log2)| PageOp::Alloc { pages, align_log2 }),
        1 => (any::<usize>(), any::<usize>(), 1..=8usize, 0..=3u8)
            .prop_map(|(region, page, pages, align_log2)| PageOp::AllocAt { region, page, pages, align_log2 }),
        3 => (any::<usize>(), prop_oneof![3 => Just(0usize), 1 => any::<usize>()])
            .prop_map(|(index, split)| PageOp::Free { index, split }),
        1 => (1..=1024usize).prop_map(|pages| PageOp::AddRegion { pages }),
    ]
}

/// Up to `len` [`PageOp`]s of up to 32 pages aligned up to 64 pages.
pub fn page_ops(len: usize) -> impl Strategy<Value = Vec<PageOp>> {
    vec(page_op(32, 6), 0..=len)
}

/// Runs `ops` on a fresh page allocator of `cfg.pages` pages against the
/// page model (alignment, bounds, no overlap, page contents, exact
/// statistics, and with `cfg.exhaustive`, no false refusals), then frees
/// everything.
///
/// Every region is carved from one host pool made up front, in slots of
/// `cfg.pages` pages and a page of gap: a page allocator may cover a bounded
/// span of addresses (the bitmap's window) and rightly refuse a region beyond
/// it, while separate host allocations may lie terabytes apart (under ASan
/// above all). A machine's RAM banks lie close together; so do these.
pub fn run_page_ops<P: PageAllocator>(make: &dyn Fn() -> P, cfg: &PageConfig, ops: &[PageOp]) {
    let ps = P::PAGE_SIZE;
    let align = cfg.region_align_for(ps);
    let slot = allocator_traits::region::align_up((cfg.pages.max(1) + 1) * ps, align).expect("slot size");
    let mut heap = PageHarness::uninit(make, "run_page_ops");
    let base = heap.keep(Pool::new(cfg.max_regions.max(1) * slot, align)).start();
    let first = Region { start: base, end: base + cfg.pages.max(1) * ps };
    heap.add(first, true).unwrap_or_else(|e| panic!("init with a good {first:?} failed: {e:?}"));
    for (step, &op) in ops.iter().enumerate() {
        heap.model.step = step;
        match op {
            PageOp::Alloc { pages, align_log2 } => {
                let Some(align) = ps.checked_shl(u32::from(align_log2)) else { continue };
                let _ = heap.alloc(pages, align, &[AllocError::NoMemory], cfg.exhaustive);
            }
            PageOp::AllocAt { region, page, pages, align_log2 } => {
                let region = heap.model.regions()[region % heap.model.regions().len()];
                let align = ps << align_log2.min(8);
                let offset = (page % (region.size() / ps + 8)) as isize - 4;
                let base = allocator_traits::region::align_down(
                    region.start.wrapping_add_signed(offset * ps as isize),
                    align,
                );
                let _ = heap.alloc_at(base, pages, align);
            }
            PageOp::Free { index, split } => {
                let used = heap.model.used();
                if !used.is_empty() {
                    let (start, end, _) = used.iter().nth(index % used.len()).expect("index in range");
                    let pages = (end - start) / ps;
                    let split = split % pages;
                    if split == 0 {
                        heap.free(start, pages);
                    } else {
                        heap.free(start + split * ps, pages - split);
                        heap.free(start, split);
                    }
                }
            }
            PageOp::AddRegion { pages } => {
                let used_slots = heap.model.regions().len();
                if used_slots < cfg.max_regions.max(1) {
                    let start = base + used_slots * slot;
                    let region = Region { start, end: start + pages.clamp(1, cfg.pages.max(1)) * ps };
                    heap.add(region, false)
                        .unwrap_or_else(|e| panic!("[step {step}] add_memory of {region:?}: {e:?}"));
                }
            }
        }
        heap.check_stats();
    }
    heap.model.verify_all();
    heap.free_all();
}

/// One operation on an ID allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOp {
    /// `alloc_id(count, 2^align_log2)`.
    Alloc {
        /// How many IDs.
        count: usize,
        /// The alignment's logarithm.
        align_log2: u8,
    },
    /// `alloc_fixed_id(start + offset - 4)` (so also just outside the range).
    Fixed {
        /// The ID's offset from the range start, plus 4.
        offset: usize,
    },
    /// `dealloc_id` of an allocation, in two parts if `split` is not 0.
    Free {
        /// Which allocation.
        index: usize,
        /// Where to split it (modulo its IDs), 0 for no split.
        split: usize,
    },
}

/// One [`IdOp`] with up to `max_count` IDs aligned up to `2^max_align_log2`.
pub fn id_op(max_count: usize, max_align_log2: u8) -> impl Strategy<Value = IdOp> {
    prop_oneof![
        4 => (1..=max_count.max(1), 0..=max_align_log2).prop_map(|(count, align_log2)| IdOp::Alloc { count, align_log2 }),
        2 => any::<usize>().prop_map(|offset| IdOp::Fixed { offset }),
        3 => (any::<usize>(), prop_oneof![3 => Just(0usize), 1 => any::<usize>()])
            .prop_map(|(index, split)| IdOp::Free { index, split }),
    ]
}

/// Up to `len` [`IdOp`]s of up to 32 IDs aligned up to 64.
pub fn id_ops(len: usize) -> impl Strategy<Value = Vec<IdOp>> {
    vec(id_op(32, 6), 0..=len)
}

/// Runs `ops` on a fresh ID allocator of `cfg.range()` against the model
/// (contiguous, aligned, no double allocation, `is_allocated` agrees, exact
/// statistics), then frees everything.
pub fn run_id_ops<I: IdAllocator>(make: &dyn Fn() -> I, cfg: &IdConfig, ops: &[IdOp]) {
    let mut heap = IdHarness::new(make, cfg, "run_id_ops");
    let range: Region = cfg.range();
    for (step, &op) in ops.iter().enumerate() {
        heap.step = step;
        match op {
            IdOp::Alloc { count, align_log2 } => {
                let _ = heap.alloc(
                    count,
                    1 << align_log2.min(usize::BITS as u8 - 1),
                    &[AllocError::NoMemory],
                    cfg.exhaustive,
                );
            }
            IdOp::Fixed { offset } => {
                let id = (range.start + offset % (range.size() + 8)).saturating_sub(4);
                let _ = heap.alloc_fixed(id);
            }
            IdOp::Free { index, split } => {
                if !heap.used.is_empty() {
                    let (start, end, _) =
                        heap.used.iter().nth(index % heap.used.len()).expect("index in range");
                    let split = split % (end - start);
                    if split == 0 {
                        heap.free(start, end - start);
                    } else {
                        heap.free(start + split, end - start - split);
                        heap.free(start, split);
                    }
                }
            }
        }
        heap.check_stats();
    }
    heap.check_all_ids();
    heap.free_all();
}

/// Reads operations from a byte tape (for fuzz targets): each takes a tag
/// byte and a few more; a short tail is ignored.
struct Tape<'a> {
    bytes: &'a [u8],
}

impl Tape<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(self.byte()?) | usize::from(self.byte()?) << 8)
    }

    /// A size: mostly the next 16 bits, now and then something huge.
    fn size(&mut self) -> Option<usize> {
        let tag = self.byte()?;
        let low = self.u16()?;
        Some(match tag % 16 {
            0 => usize::MAX - low,
            1 => (isize::MAX as usize).saturating_sub(low),
            2 => low << 8,
            _ => low % 2048,
        })
    }
}

/// Decodes a fuzzer's bytes into [`ByteOp`]s.
pub fn byte_ops_from_tape(bytes: &[u8]) -> Vec<ByteOp> {
    let mut tape = Tape { bytes };
    let mut ops = Vec::new();
    while let Some(tag) = tape.byte() {
        let op = match tag % 10 {
            0..=3 => tape.size().and_then(|size| Some(ByteOp::Alloc { size, align_log2: tape.byte()? % 13 })),
            4 | 5 => tape.u16().map(|index| ByteOp::Free { index }),
            6 | 7 => tape.u16().and_then(|index| Some(ByteOp::Realloc { index, size: tape.size()? })),
            8 => tape.u16().map(|size| ByteOp::AddRegion { size: size << 4 }),
            _ => tape.u16().map(|index| ByteOp::Free { index }),
        };
        let Some(op) = op else { break };
        ops.push(op);
    }
    ops
}

/// Decodes a fuzzer's bytes into [`PageOp`]s.
pub fn page_ops_from_tape(bytes: &[u8]) -> Vec<PageOp> {
    let mut tape = Tape { bytes };
    let mut ops = Vec::new();
    while let Some(tag) = tape.byte() {
        let op = match tag % 8 {
            0..=2 => tape.byte().and_then(|pages| {
                Some(PageOp::Alloc {
                    pages: usize::from(pages % 40) + 1 + usize::from(pages >= 250) * (usize::MAX / 2),
                    align_log2: tape.byte()? % 8,
                })
            }),
            3 => tape.u16().and_then(|page| {
                Some(PageOp::AllocAt {
                    region: usize::from(tape.byte()?),
                    page,
                    pages: usize::from(tape.byte()? % 8) + 1,
                    align_log2: tape.byte()? % 4,
                })
            }),
            4..=6 => {
                tape.u16().and_then(|index| Some(PageOp::Free { index, split: usize::from(tape.byte()?) }))
            }
            _ => tape.u16().map(|pages| PageOp::AddRegion { pages: pages % 1024 + 1 }),
        };
        let Some(op) = op else { break };
        ops.push(op);
    }
    ops
}

/// Decodes a fuzzer's bytes into [`IdOp`]s.
pub fn id_ops_from_tape(bytes: &[u8]) -> Vec<IdOp> {
    let mut tape = Tape { bytes };
    let mut ops = Vec::new();
    while let Some(tag) = tape.byte() {
        let op = match tag % 3 {
            0 => tape.byte().and_then(|count| {
                Some(IdOp::Alloc { count: usize::from(count % 40) + 1, align_log2: tape.byte()? % 8 })
            }),
            1 => tape.u16().map(|offset| IdOp::Fixed { offset }),
            _ => tape.u16().and_then(|index| Some(IdOp::Free { index, split: usize::from(tape.byte()?) })),
        };
        let Some(op) = op else { break };
        ops.push(op);
    }
    ops
}
