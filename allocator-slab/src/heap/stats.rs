//! The statistics of the size classes, from [`Heap::class_stats`].

use core::fmt;

use crate::classes::MAX_CLASSES;

#[cfg(doc)]
use super::Heap;

/// The statistics of one size class, from [`Heap::class_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClassStats {
    /// The block size, in bytes.
    pub size: usize,
    /// The slab size, in bytes.
    pub slab_size: usize,
    /// Blocks handed out now.
    pub live: usize,
    /// The most blocks handed out at once.
    pub peak_live: usize,
    /// Slabs held with every block handed out or in the block cache.
    pub full_slabs: usize,
    /// Slabs held with a block handed out (or in the block cache) and a
    /// block free.
    pub partial_slabs: usize,
    /// Empty slabs cached for reuse.
    pub cached_slabs: usize,
    /// Blocks a slab holds.
    pub blocks_per_slab: usize,
    /// The sizes the layouts of the live blocks asked for (at most
    /// `live * size`). A block freed (or resized) with a larger layout than
    /// it was allocated with, its size found by
    /// [`Heap::block_size`](crate::Heap::block_size), takes that larger
    /// size off (never below 0), so with such frees this undercounts.
    pub requested_bytes: usize,
    /// Blocks handed out since the heap was made.
    pub allocs: u64,
    /// Blocks freed since the heap was made.
    pub frees: u64,
    /// Freed blocks in the class's block cache (see
    /// [`SizeClasses::CACHED_BLOCKS`](crate::SizeClasses::CACHED_BLOCKS)):
    /// free, but still counted as used by their slabs.
    pub cached_blocks: usize,
}

impl ClassStats {
    /// Bytes lost to rounding: the live blocks' class size over what their
    /// layouts asked for.
    pub fn rounding_bytes(&self) -> usize {
        (self.live * self.size).saturating_sub(self.requested_bytes)
    }

    /// Bytes of free blocks in the full and partial slabs held, the block
    /// cache's included (cached empty slabs not counted: they go back on
    /// demand).
    pub fn free_in_slabs_bytes(&self) -> usize {
        ((self.full_slabs + self.partial_slabs) * self.blocks_per_slab).saturating_sub(self.live) * self.size
    }

    /// The share of the class's slab bytes (full, partial and cached slabs)
    /// not holding requested bytes: rounding, free blocks, cached slabs, and
    /// slab headers and slack. 0 when the class holds no slab.
    pub fn fragmentation(&self) -> f64 {
        let held = (self.full_slabs + self.partial_slabs + self.cached_slabs) * self.slab_size;
        if held == 0 { 0.0 } else { 1.0 - self.requested_bytes as f64 / held as f64 }
    }
}

impl fmt::Display for ClassStats {
    /// One line: `  48 B: live 12 (peak 40), slabs 1 full / 2 partial / 1
    /// cached (4 KiB), 70 allocs, 58 frees, rounding 96 B, free in slabs
    /// 3456 B, fragmentation 91.2 %`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>4} B: live {} (peak {}), slabs {} full / {} partial / {} cached ({} KiB), {} allocs, {} frees, \
             rounding {} B, free in slabs {} B, fragmentation {:.1} %",
            self.size,
            self.live,
            self.peak_live,
            self.full_slabs,
            self.partial_slabs,
            self.cached_slabs,
            self.slab_size / 1024,
            self.allocs,
            self.frees,
            self.rounding_bytes(),
            self.free_in_slabs_bytes(),
            self.fragmentation() * 100.0
        )
    }
}

/// The statistics of every size class of a heap, from
/// [`Heap::class_stats`]: index it by class, iterate it, or print it (one
/// line per class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapClassStats {
    pub(super) classes: [ClassStats; MAX_CLASSES],
    pub(super) count: usize,
}

impl HeapClassStats {
    /// The statistics of each class, smallest first.
    pub fn classes(&self) -> &[ClassStats] {
        &self.classes[..self.count]
    }
}

impl fmt::Display for HeapClassStats {
    /// One line per class (a line break after each).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for class in self.classes() {
            writeln!(f, "{class}")?;
        }
        Ok(())
    }
}
