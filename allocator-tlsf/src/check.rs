//! The invariant checker: [`TlsfByteAllocator::check_invariants`], called
//! by [`ByteAllocator::assert_valid`](allocator_traits::ByteAllocator::assert_valid).

use core::ptr::NonNull;

use allocator_traits::region::addr_to_ptr;

use crate::{GRANULARITY, SIZE_SENTINEL, SIZE_USED, TlsfByteAllocator};

impl TlsfByteAllocator {
    /// Walks every block of every pool and asserts the invariants stated on
    /// [`TlsfByteAllocator`]. O(blocks + regions²).
    pub(crate) fn check_invariants(&self) {
        let mut total = 0;
        let mut chunks = 0;
        let mut used = 0;
        for (i, region) in self.regions.iter().enumerate() {
            let claimed = self.claimed[i];
            assert!(
                claimed.start <= region.start && region.end <= claimed.end && region.start < region.end,
                "allocator-tlsf: region {i} {region:?} lies outside what the caller handed over, {claimed:?}"
            );
            for other in self.regions.iter().skip(i + 1) {
                assert!(
                    region.end <= other.start || other.end <= region.start,
                    "allocator-tlsf: regions {region:?} and {other:?} overlap"
                );
            }
            let len = region.end - region.start;
            total += len;
            let Some(base) = addr_to_ptr(region.start) else {
                panic!("allocator-tlsf: region {i} starts at 0");
            };
            for (offset, chunk_len) in self.chunks(len) {
                chunks += 1;
                // SAFETY: every chunk of a region in the table is a pool
                // this allocator handed to rlsf, reached with the region's
                // (exposed) provenance.
                used += unsafe { walk_pool(base.add(offset), chunk_len) };
            }
        }
        assert_eq!(total, self.total_bytes, "allocator-tlsf: total_bytes is not the sum of the regions");
        assert_eq!(chunks * GRANULARITY, self.sentinel_bytes, "allocator-tlsf: one end marker per pool");
        assert_eq!(used, self.used_bytes, "allocator-tlsf: used_bytes is not the sum of the used blocks");
    }
}

/// Walks the blocks of the rlsf pool of `len` bytes at `pool`: they tile it,
/// each header's `prev_phys_block` points at the block before (none for the
/// first), no two free blocks are neighbours (rlsf merges them), and the
/// last is the end marker of one granule. Returns the bytes of the used
/// blocks.
///
/// # Safety
///
/// `pool` is the start of a pool of `len` bytes this allocator handed to
/// rlsf, with the provenance of its region.
unsafe fn walk_pool(pool: NonNull<u8>, len: usize) -> usize {
    let mut used = 0;
    let mut offset = 0;
    let mut prev: Option<(usize, bool)> = None; // (offset, used)
    loop {
        assert!(offset + GRANULARITY <= len, "allocator-tlsf: the blocks of the pool at {pool:p} overrun it");
        // SAFETY: `offset` is a block boundary inside the pool (the walk
        // starts at the pool's first block and steps by block sizes, checked
        // to stay inside); a header starts with its size word and then the
        // address of the block before.
        let (size_and_flags, prev_phys) = unsafe {
            let header = pool.add(offset).cast::<usize>();
            (header.read(), header.add(1).read())
        };
        let size = size_and_flags & !(GRANULARITY - 1);
        let is_used = size_and_flags & SIZE_USED != 0;
        let expected_prev = prev.map_or(0, |(at, _)| pool.as_ptr().addr() + at);
        assert_eq!(
            prev_phys, expected_prev,
            "allocator-tlsf: block at {pool:p}+{offset:#x} links back wrongly"
        );
        if size_and_flags & SIZE_SENTINEL != 0 {
            assert!(
                is_used && size == GRANULARITY && offset + size == len,
                "allocator-tlsf: the end marker of the pool at {pool:p} is not its last granule"
            );
            return used;
        }
        assert!(size >= GRANULARITY, "allocator-tlsf: empty block at {pool:p}+{offset:#x}");
        if is_used {
            used += size;
        } else if let Some((at, false)) = prev {
            panic!(
                "allocator-tlsf: free blocks at {pool:p}+{at:#x} and +{offset:#x} are neighbours, unmerged"
            );
        }
        prev = Some((offset, is_used));
        offset += size;
    }
}
