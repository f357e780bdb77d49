//! The invariant checker: [`BuddyByteAllocator::check_invariants`], called
//! by [`ByteAllocator::assert_valid`](allocator_traits::ByteAllocator::assert_valid).

use allocator_traits::ByteAllocator;

use crate::{
    BuddyByteAllocator, FreeBlock, MIN_BLOCK_SIZE, MIN_ORDER, MIN_ORDER_TAG, RegionMeta, WORD_BITS, tag_of,
};

impl<const ORDER: usize> BuddyByteAllocator<ORDER> {
    /// The live region holding `[addr, addr + size)`, if any.
    fn region_holding(&self, addr: usize, size: usize) -> Option<&RegionMeta> {
        self.regions[..self.region_count].iter().find(|r| r.holds(addr, size))
    }

    /// The order of the free block at `addr`, read from its header.
    ///
    /// # Safety
    ///
    /// A free block starts at `addr` in `region` (its head bit is set).
    pub(crate) unsafe fn free_order(region: &RegionMeta, addr: usize) -> usize {
        let block = region.ptr(addr).cast::<FreeBlock>();
        // SAFETY: a free block holds `next` and `prev`; one above the
        // minimum order (tag clear) holds `order` too (caller's contract).
        unsafe { if (*block).prev.addr() & MIN_ORDER_TAG != 0 { MIN_ORDER } else { (*block).order } }
    }

    /// Walks the free lists and the bitmaps and asserts the invariants
    /// stated on [`BuddyByteAllocator`]. O(free blocks x regions + bitmap
    /// words).
    pub(crate) fn check_invariants(&self) {
        let regions = &self.regions[..self.region_count];
        for (i, r) in regions.iter().enumerate() {
            assert!(
                r.claimed.start <= r.base.as_ptr().addr()
                    && r.base.as_ptr().addr() <= r.start
                    && r.start <= r.end,
                "allocator-buddy: region {i} is out of order or outside what the caller handed over"
            );
            if let Some(next) = regions.get(i + 1) {
                assert!(
                    r.claimed.end <= next.claimed.start,
                    "allocator-buddy: regions {i} and {} overlap",
                    i + 1
                );
            }
        }
        let most_blocks = self.total / MIN_BLOCK_SIZE + 1;
        let (mut listed, mut free) = (0, 0);
        for order in 0..ORDER {
            let head = self.free_lists[order];
            assert_eq!(
                self.non_empty & (1 << order) != 0,
                !head.is_null(),
                "allocator-buddy: the non-empty mask disagrees with list {order}"
            );
            let (size, mut prev, mut block, mut length) =
                (1usize << order, core::ptr::null_mut::<FreeBlock>(), head, 0usize);
            while !block.is_null() {
                length += 1;
                assert!(length <= most_blocks, "allocator-buddy: list {order} loops");
                let addr = block.addr();
                let Some(region) = self.region_holding(addr, size) else {
                    panic!("allocator-buddy: free block {addr:#x} of order {order} lies in no region");
                };
                assert_eq!(
                    addr % size,
                    0,
                    "allocator-buddy: free block {addr:#x} misaligned for order {order}"
                );
                // SAFETY: `addr` lies in the region's blocks.
                let has_bit = unsafe { region.is_free_head(addr) };
                assert!(has_bit, "allocator-buddy: listed block {addr:#x} has no bit");
                // SAFETY: a listed block holds its header.
                let (next, prev_word) = unsafe { ((*block).next, (*block).prev) };
                assert_eq!(
                    prev_word.addr() & MIN_ORDER_TAG,
                    tag_of(order),
                    "allocator-buddy: tag at {addr:#x}"
                );
                assert_eq!(
                    prev_word.addr() & !MIN_ORDER_TAG,
                    prev.addr(),
                    "allocator-buddy: prev link at {addr:#x}"
                );
                // SAFETY: the head bit is set.
                let listed_order = unsafe { Self::free_order(region, addr) };
                assert_eq!(listed_order, order, "allocator-buddy: order of {addr:#x}");
                let buddy = addr ^ size;
                if order + 1 < ORDER && region.holds(buddy, size) {
                    // SAFETY: `buddy` lies in the region; its order is read
                    // only when its head bit says a free block starts there.
                    let merged =
                        !unsafe { region.is_free_head(buddy) && Self::free_order(region, buddy) == order };
                    assert!(merged, "allocator-buddy: free buddies {addr:#x} and {buddy:#x} unmerged");
                }
                free += size;
                prev = block;
                block = next;
            }
            listed += length;
        }
        // Every set bit is a listed block: as many bits as listed blocks
        // (each listed block's bit was checked above).
        let mut bits = 0;
        for r in regions {
            let words = (r.end - r.base.as_ptr().addr()).div_ceil(MIN_BLOCK_SIZE).div_ceil(WORD_BITS);
            for w in 0..words {
                // SAFETY: the bitmap at `base` has `words` words (see
                // `metadata_bytes`), reached with the region's provenance.
                bits += unsafe { r.base.as_ptr().cast::<usize>().add(w).read() }.count_ones() as usize;
            }
        }
        assert_eq!(bits, listed, "allocator-buddy: head bits set without a listed block");
        assert_eq!(
            free,
            self.available_bytes(),
            "allocator-buddy: available_bytes is not the free blocks' sum"
        );
        assert_eq!(self.used_bytes() + free, self.total_bytes(), "allocator-buddy: used + free != total");
    }
}
