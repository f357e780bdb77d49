//! The invariant checker: [`Heap::assert_valid`].

use allocator_traits::ByteAllocator;

use core::ptr::NonNull;

use super::{CACHED_EMPTY_SLABS, Heap, SlabHeader, debug, header_of, slab_base};
use crate::classes::SizeClasses;

impl<B: ByteAllocator, C: SizeClasses> Heap<B, C> {
    /// Walks the block cache of `class` and asserts its invariants (see
    /// [`Heap`]); returns its length.
    fn check_block_cache(&self, class: usize) -> usize {
        let info = Self::info(class);
        let size_class = &self.classes[class];
        let limit = info.cache_limit;
        let mut blocks = [0usize; crate::classes::MAX_CACHED_BLOCKS];
        let mut len = 0;
        let mut cursor = size_class.cache;
        while let Some(block) = cursor {
            assert!(
                len < limit,
                "allocator-slab: the block cache of {} B outgrew its limit {limit}",
                info.size
            );
            let addr = block.as_ptr().addr();
            assert!(
                !blocks[..len].contains(&addr),
                "allocator-slab: a block cached twice in {} B",
                info.size
            );
            blocks[len] = addr;
            len += 1;
            let slab = header_of(block.cast(), info);
            // SAFETY: a cached block lies in a live slab of its class; the
            // reference lives for this iteration only.
            let hdr: &SlabHeader = unsafe { slab.as_ref() };
            // SAFETY: as above.
            let first = unsafe { slab_base(slab, info) }.as_ptr().addr() + hdr.colour as usize;
            assert!(
                addr >= first
                    && (addr - first) % info.size == 0
                    && (addr - first) / info.size < hdr.carved as usize,
                "allocator-slab: a cached block of {} B is not a carved block of its slab",
                info.size
            );
            assert!(hdr.used > 0, "allocator-slab: a cached block of {} B lies in an empty slab", info.size);
            self.check_indexed(slab, class);
            let mut free = hdr.free;
            while let Some(free_block) = free {
                assert!(
                    free_block.as_ptr().addr() != addr,
                    "allocator-slab: a cached block of {} B is also on its slab's free list",
                    info.size
                );
                // SAFETY: a free block of a live slab holds its link.
                free = unsafe { debug::read_link(free_block) };
            }
            // SAFETY: a cached block holds its link.
            cursor = unsafe { debug::read_link(block) };
        }
        assert_eq!(
            len, size_class.cache_len as usize,
            "allocator-slab: the block cache count of {} B",
            info.size
        );
        len
    }

    /// Walks every slab in the lists of every class, then the backing
    /// allocator ([`ByteAllocator::assert_valid`]), and asserts the
    /// invariants stated on [`Heap`]; panics naming the broken one. O(slabs
    /// in lists x blocks per slab + the backing allocator's check); for
    /// tests and debugging.
    ///
    /// # Panics
    ///
    /// If an invariant does not hold: a caller broke a `# Safety` contract
    /// (wrote to a freed block, freed with a wrong layout) or the heap has
    /// a bug.
    pub fn assert_valid(&self) {
        let (mut small_used, mut small_capacity) = (0, 0);
        for class in 0..Self::count() {
            let info = Self::info(class);
            let size_class = &self.classes[class];
            let live = size_class.live();
            let (mut partial, mut used_in_partial, mut parked) = (0u32, 0, 0);
            let mut prev = None;
            let mut cursor = size_class.partial;
            while let Some(slab) = cursor {
                partial += 1;
                assert!(
                    partial <= size_class.slabs,
                    "allocator-slab: the partial list of {} B loops",
                    info.size
                );
                // SAFETY: listed slabs are live slabs of this class; the
                // reference lives only for this iteration.
                let hdr: &SlabHeader = unsafe { slab.as_ref() };
                assert_eq!(
                    hdr.prev, prev,
                    "allocator-slab: a partial slab of {} B links back wrongly",
                    info.size
                );
                let used = hdr.used as usize;
                let is_parked = used == 0 && prev.is_none() && hdr.next.is_none();
                parked += u32::from(is_parked);
                assert!(
                    (used > 0 || is_parked) && used < info.capacity,
                    "allocator-slab: a slab of {} B in the partial list holds {used} of {} blocks",
                    info.size,
                    info.capacity
                );
                self.check_slab(slab, hdr, class);
                self.check_indexed(slab, class);
                used_in_partial += used;
                prev = Some(slab);
                cursor = hdr.next;
            }
            let mut empty = 0;
            let mut cursor = size_class.empty;
            while let Some(slab) = cursor {
                empty += 1;
                assert!(
                    empty + parked <= CACHED_EMPTY_SLABS as u32,
                    "allocator-slab: too many cached slabs of {} B",
                    info.size
                );
                // SAFETY: as above, for the cached list.
                let hdr: &SlabHeader = unsafe { slab.as_ref() };
                assert!(
                    hdr.used == 0 && hdr.carved == 0 && hdr.free.is_none(),
                    "allocator-slab: a cached slab of {} B is not empty and fresh",
                    info.size
                );
                self.check_indexed(slab, class);
                cursor = hdr.next;
            }
            assert_eq!(empty, size_class.empty_count, "allocator-slab: the cache count of {} B", info.size);
            assert_eq!(
                size_class.slabs,
                partial + size_class.full + empty,
                "allocator-slab: slabs of {} B: held != partial + full + cached",
                info.size
            );
            let cached = self.check_block_cache(class);
            assert_eq!(
                live + cached,
                used_in_partial + size_class.full as usize * info.capacity,
                "allocator-slab: live and cached blocks of {} B != blocks used in partial and full slabs",
                info.size
            );
            assert!(
                size_class.peak_live >= live,
                "allocator-slab: the peak of {} B is below the live count",
                info.size
            );
            assert!(
                size_class.requested <= live * info.size,
                "allocator-slab: {} B blocks asked for more than their class size",
                info.size
            );
            small_used += live * info.size;
            small_capacity += size_class.slabs as usize * info.capacity * info.size;
        }
        assert_eq!(self.small_used, small_used, "allocator-slab: small_used is not the sum over the classes");
        assert_eq!(
            self.small_capacity, small_capacity,
            "allocator-slab: small_capacity is not the sum of the slabs"
        );
        self.check_index();
        self.backing.assert_valid();
    }

    /// With the slab index: the slab `slab` of `class` is in it, with its
    /// class.
    fn check_indexed(&self, slab: NonNull<SlabHeader>, class: usize) {
        if !C::SLAB_INDEX {
            return;
        }
        // SAFETY: `slab` is a live slab of `class` (caller).
        let start = unsafe { slab_base(slab, Self::info(class)) }.as_ptr().addr();
        assert_eq!(
            self.index.find(start),
            Some(class),
            "allocator-slab: the slab of {} B at {start:#x} is not in the slab index with its class",
            Self::info(class).size
        );
    }

    /// The slab index holds exactly the live slabs (see the invariants on
    /// [`Heap`]); without the index, it is empty.
    fn check_index(&self) {
        self.index.check();
        if !C::SLAB_INDEX {
            assert_eq!(self.index.capacity(), 0, "allocator-slab: a slab index without SLAB_INDEX");
            return;
        }
        let mut per_class = [0u32; crate::MAX_CLASSES];
        for (_, start, class) in self.index.entries() {
            assert!(
                class < Self::count(),
                "allocator-slab: the slab index names class {class} at {start:#x}"
            );
            per_class[class] += 1;
            let info = Self::info(class);
            // The slab's header, reached with the provenance of its region
            // (the heap's own memory); the index holds only addresses.
            let Some(slab) = allocator_traits::region::addr_to_ptr(start + info.header_offset) else {
                panic!("allocator-slab: the slab index holds address 0");
            };
            let slab = slab.cast::<SlabHeader>();
            // SAFETY: an entry names a live slab of its class (the invariant
            // checked here; a broken one is a heap bug), so its header is
            // initialised; the reference lives only for this iteration.
            let hdr: &SlabHeader = unsafe { slab.as_ref() };
            self.check_slab(slab, hdr, class);
            assert!(
                (hdr.used as usize) <= info.capacity,
                "allocator-slab: the indexed slab of {} B at {start:#x} holds {} blocks",
                info.size,
                hdr.used
            );
        }
        for (class, (&indexed, size_class)) in
            per_class.iter().zip(&self.classes).take(Self::count()).enumerate()
        {
            assert_eq!(
                indexed,
                size_class.slabs,
                "allocator-slab: the slab index holds {indexed} slabs of {} B, the class {}",
                Self::info(class).size,
                size_class.slabs
            );
        }
        assert_eq!(
            self.index.capacity() == 0,
            self.index.len() == 0,
            "allocator-slab: the slab index keeps a table with no slab (or none with slabs)"
        );
    }

    /// Checks one slab of `class` in a list: aligned to its size, its
    /// header where masking finds it, its colour one of the class's, its
    /// carved count within the capacity, and its free list exactly the
    /// carved blocks not in use, each at a block boundary of the slab.
    fn check_slab(&self, slab: core::ptr::NonNull<SlabHeader>, hdr: &SlabHeader, class: usize) {
        let info = Self::info(class);
        // SAFETY: `slab` is a live slab of `class` (caller).
        let base = unsafe { slab_base(slab, info) };
        assert_eq!(
            base.as_ptr().addr() & info.mask,
            0,
            "allocator-slab: a slab of {} B is misaligned",
            info.size
        );
        let colour = hdr.colour as usize;
        assert!(
            colour % info.colour_step == 0 && colour / info.colour_step < info.colours,
            "allocator-slab: a slab of {} B has colour {colour}",
            info.size
        );
        let (used, carved) = (hdr.used as usize, hdr.carved as usize);
        assert!(
            used <= carved && carved <= info.capacity,
            "allocator-slab: a slab of {} B: used {used}, carved {carved}",
            info.size
        );
        let mut free = 0;
        let mut cursor = hdr.free;
        while let Some(block) = cursor {
            free += 1;
            assert!(
                free <= carved - used,
                "allocator-slab: the free list of a {} B slab is too long",
                info.size
            );
            let offset = block.as_ptr().addr().wrapping_sub(base.as_ptr().addr());
            assert!(
                offset >= colour
                    && (offset - colour) % info.size == 0
                    && (offset - colour) / info.size < carved,
                "allocator-slab: free block {block:p} is no carved block of its {} B slab",
                info.size
            );
            assert_eq!(
                header_of(block.cast(), info),
                slab,
                "allocator-slab: free block {block:p} masks elsewhere"
            );
            // SAFETY: a free block of a live slab holds its link.
            cursor = unsafe { debug::read_link(block) };
        }
        assert_eq!(
            free,
            carved - used,
            "allocator-slab: a {} B slab's free list misses carved blocks",
            info.size
        );
    }
}
