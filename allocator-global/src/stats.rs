//! The statistics a [`GlobalAllocator`](crate::GlobalAllocator) reports.

/// A snapshot of a [`GlobalAllocator`](crate::GlobalAllocator)'s statistics.
///
/// All fields come from the same moment (between two operations), so
/// `used_bytes + available_bytes <= total_bytes` holds in every snapshot.
///
/// `#[non_exhaustive]`: later layers add figures; read the fields (or match
/// with `..`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Statistics {
    /// The bytes the byte allocator manages (`ByteAllocator::total_bytes`).
    pub total_bytes: usize,
    /// The bytes of live blocks, as the byte allocator reserves them
    /// (`ByteAllocator::used_bytes`).
    pub used_bytes: usize,
    /// The bytes still free (`ByteAllocator::available_bytes`).
    pub available_bytes: usize,
    /// The most bytes live at once, where the engine tracks it
    /// (`ByteAllocator::peak_used_bytes`; every engine of this workspace
    /// does).
    pub peak_used_bytes: Option<usize>,
    /// How many times the heap grew from its page source.
    pub grow_count: usize,
    /// The bytes taken from the page source, in all.
    pub grown_bytes: usize,
    /// How many chunks went back to the page source.
    pub return_count: usize,
    /// The bytes given back to the page source, in all.
    pub returned_bytes: usize,
    /// The chunks of the page source held now.
    pub held_chunks: usize,
    /// The bytes of those chunks (`grown_bytes - returned_bytes`).
    pub held_bytes: usize,
    /// Requests no amount of memory could serve; they took nothing from the
    /// source.
    pub impossible_requests: usize,
    /// How many allocations (and reallocations) failed.
    pub failed_allocs: usize,
}
