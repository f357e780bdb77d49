//! Size-class tables, chosen at compile time.
//!
//! A table is a type implementing [`SizeClasses`]: a sorted list of block
//! sizes. From it the heap derives, at compile time, each class's slab
//! geometry and an O(1) lookup from a layout to its class (a table of 513
//! bytes indexed by `(size + 7) / 8`, and a step-up table for alignments
//! above 8).

use core::alloc::Layout;

/// The smallest size a class may have, in bytes (a free block holds a link).
pub const MIN_CLASS_SIZE: usize = 8;

/// The largest size a class may have, in bytes: layouts whose size or
/// alignment exceeds it always go to the backing allocator.
pub const MAX_CLASS_SIZE: usize = 4096;

/// The most classes a table may have.
pub const MAX_CLASSES: usize = 32;

/// The smallest slab, in bytes.
pub const MIN_SLAB_SIZE: usize = 4096;

/// The largest slab, in bytes. The cap keeps slabs within reach of small
/// heaps: a slab must be cut aligned to its size out of the backing
/// allocator's free memory.
pub const MAX_SLAB_SIZE: usize = 32 * 1024;

/// The most blocks a slab of any class may hold (the `debug-checks` bitmap
/// has a bit for each).
pub const MAX_BLOCKS_PER_SLAB: usize = 512;

/// The cache-line size slab colouring steps by.
pub const COLOUR_STEP: usize = 64;

/// A table of size classes, chosen at compile time as the heap's type
/// parameter: `Heap<B, C>` and `SlabByteAllocator<B, C>`.
///
/// Only [`SIZES`](Self::SIZES) is given; the rest is derived (and checked)
/// at compile time when a heap of the table is used. (The provided methods
/// report what the heap derived; the heap itself never calls them, so
/// overriding one changes only what it reports.) The rules, each a
/// compile error when broken:
///
/// - 1 to [`MAX_CLASSES`] sizes, strictly increasing;
/// - each a multiple of 8, from [`MIN_CLASS_SIZE`] to [`MAX_CLASS_SIZE`].
///
/// A block of class `s` is aligned to the largest power of two dividing `s`
/// (the slab is aligned to its size, which is at least `s`, and blocks lie at
/// multiples of `s` plus a colour offset that is a multiple of that power).
/// A layout goes to the smallest class whose size is at least the layout's
/// size and whose block alignment is at least its alignment; with no such
/// class it goes to the backing allocator.
///
/// ```
/// use allocator_slab::{SizeClasses, SlabByteAllocator, TlsfByteAllocator};
///
/// /// Three classes for a heap of mostly 24- and 200-byte objects.
/// struct Mine;
/// impl SizeClasses for Mine {
///     const SIZES: &'static [usize] = &[24, 200, 1024];
/// }
/// let heap: SlabByteAllocator<TlsfByteAllocator, Mine> = SlabByteAllocator::with_classes(TlsfByteAllocator::new());
/// # let _ = heap;
/// ```
pub trait SizeClasses {
    /// The block sizes, in bytes, strictly increasing.
    const SIZES: &'static [usize];

    /// The slab size of each class, in bytes, or empty (the default) for
    /// the derived sizes (see [`SizeClasses::slab_size`]). When given: one
    /// entry per class, each a power of two from [`MIN_SLAB_SIZE`] to
    /// [`MAX_SLAB_SIZE`] holding 1 to [`MAX_BLOCKS_PER_SLAB`] blocks besides
    /// the slab's header and tail (a compile error otherwise). Smaller slabs
    /// return memory sooner and strand less in partly used slabs; larger
    /// ones take the backing allocator less often.
    const SLAB_SIZES: &'static [usize] = &[];

    /// Sizes above this go to the backing allocator, instead of to the
    /// smallest class that fits them, when that class would leave more than
    /// an eighth of its block unused (sizes are first rounded up to a
    /// multiple of 8). The backing allocator fits them exactly, for a
    /// header (16 bytes in TLSF): for the large classes, whose slabs are
    /// large and whose blocks are few, the memory matters more than the few
    /// nanoseconds a slab saves. The default, `usize::MAX`, never does.
    const EXACT_FIT_ABOVE: usize = usize::MAX;

    /// Whether successive slabs of a class start their blocks at different
    /// cache-line offsets (slab colouring, the default). Off, block `i` of
    /// every slab lies at the same offset, `i * size`.
    const COLOURING: bool = true;

    /// Whether the heap keeps a **slab index**: a hash set of its live
    /// slabs' start addresses, each tagged with its class, so that the size
    /// of a block is found from its address alone
    /// ([`Heap::block_size`](crate::Heap::block_size), and
    /// `ByteAllocator::block_size` of
    /// [`SlabByteAllocator`](crate::SlabByteAllocator)): what a C `free`
    /// without a size needs. The default, `false`, keeps no index, and every
    /// index operation compiles to nothing.
    ///
    /// A table with the index must keep [`EXACT_FIT_ABOVE`](Self::EXACT_FIT_ABOVE)
    /// at `usize::MAX` (a compile error otherwise): a block found by its
    /// address is freed with the layout `(found size, alignment)`, so the
    /// route from a layout to a class or to the backing allocator must be
    /// monotone in the size. Without the exact-fit rule it is, for every
    /// alignment: a size the backing allocator serves has no class at least
    /// that large and that aligned, and neither has any larger size; a size
    /// class `c` serves goes to the smallest class that large and aligned,
    /// and every size up to `c`'s own has no smaller such class, so goes to
    /// `c` too. With the rule, a size just past a class (1025 bytes) goes to
    /// the backing allocator while a larger one (1200 bytes) goes to a class,
    /// so the usable size of a backing block could name a class:
    ///
    /// ```compile_fail
    /// use allocator_slab::{SizeClasses, SlabByteAllocator, TlsfByteAllocator};
    /// use allocator_traits::ByteAllocator;
    ///
    /// struct Exact;
    /// impl SizeClasses for Exact {
    ///     const SIZES: &'static [usize] = &[8, 1024, 2048];
    ///     const EXACT_FIT_ABOVE: usize = 1024;
    ///     const SLAB_INDEX: bool = true;
    /// }
    /// let mut heap: SlabByteAllocator<TlsfByteAllocator, Exact> =
    ///     SlabByteAllocator::with_classes(TlsfByteAllocator::new());
    /// let _ = heap.alloc(core::alloc::Layout::new::<u64>());
    /// ```
    const SLAB_INDEX: bool = false;

    /// How many freed blocks each class keeps in its **block cache**, at
    /// most [`CACHED_BLOCK_BYTES`] of them: a freed block goes there (a
    /// write into the block, no slab header touched) while the cache has
    /// room, and the class's next allocation takes the most recently freed
    /// block back from it, still warm in the CPU's cache. A cached block
    /// still counts as used in its slab, so a slab holding one is not
    /// returned; [`Heap::release_cached_slabs`](crate::Heap::release_cached_slabs),
    /// `remove_memory` and an allocation that would fail first return the
    /// cached blocks to their slabs. 0 turns the cache off: every free goes
    /// to its slab at once (what a heap's tests of slab states use). At
    /// most 64 (a compile error otherwise).
    const CACHED_BLOCKS: usize = 32;

    /// The number of classes.
    fn count() -> usize
    where
        Self: Sized,
    {
        Table::<Self>::TABLE.count
    }

    /// The block size of `class` (`None` past the last class).
    fn class_size(class: usize) -> Option<usize>
    where
        Self: Sized,
    {
        Self::SIZES.get(class).copied()
    }

    /// The class serving `layout`, or `None` when the backing allocator
    /// serves it: the smallest class at least as large as the size whose
    /// blocks are aligned at least as asked. O(1).
    fn size_class(layout: Layout) -> Option<usize>
    where
        Self: Sized,
    {
        let class = Table::<Self>::TABLE.class_index(layout);
        (class < Self::count()).then_some(class)
    }

    /// The alignment of every block of `class`: the largest power of two
    /// dividing its size (`None` past the last class).
    fn block_align(class: usize) -> Option<usize>
    where
        Self: Sized,
    {
        Self::class_size(class).map(|_| Table::<Self>::TABLE.info[class].block_align)
    }

    /// The size of a slab of `class`, a power of two it is aligned to
    /// (`None` past the last class): the class's entry of
    /// [`SLAB_SIZES`](Self::SLAB_SIZES), or by default the smallest power of
    /// two from [`MIN_SLAB_SIZE`] that holds at least 8 blocks besides the
    /// header and tail, capped at [`MAX_SLAB_SIZE`].
    fn slab_size(class: usize) -> Option<usize>
    where
        Self: Sized,
    {
        Self::class_size(class).map(|_| Table::<Self>::TABLE.info[class].mask + 1)
    }

    /// The number of blocks a slab of `class` holds (`None` past the last
    /// class).
    fn slab_capacity(class: usize) -> Option<usize>
    where
        Self: Sized,
    {
        Self::class_size(class).map(|_| Table::<Self>::TABLE.info[class].capacity)
    }

    /// The number of colours of `class`: successive slabs start their first
    /// block at `0, 64, 128, ...` bytes (steps of the larger of 64 and the
    /// block alignment) as far as the slab's slack allows (`None` past the
    /// last class).
    fn colours(class: usize) -> Option<usize>
    where
        Self: Sized,
    {
        Self::class_size(class).map(|_| Table::<Self>::TABLE.info[class].colours)
    }
}

/// The default table: classes about a quarter of a power of two apart (as
/// in jemalloc and mimalloc), 25 classes from 8 to 2048 bytes:
///
/// 8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448,
/// 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048.
///
/// Layouts above 2048 bytes go to the backing allocator (TLSF by default,
/// O(1) too), and so do sizes above 1024 bytes that their class would fit
/// with more than an eighth of its block unused
/// ([`EXACT_FIT_ABOVE`](SizeClasses::EXACT_FIT_ABOVE) = 1024: 1025 to 1112
/// bytes, 1281 to 1336, 1537 to 1568; a page of 1024 bytes and a small
/// header, as sqlite's page cache asks for, is fitted exactly). Classes
/// above 1 KiB have slabs of 16 and 32 KiB: a class block of a rarely used
/// size would hold a large slab, and cutting many such slabs aligned out of
/// the backing allocator leaves gaps between them. The README's results
/// (suites `efficiency` and `real-sizes`) show what each choice costs.
///
/// **Worst-case internal waste**: for a layout of `n` bytes aligned to at
/// most 8, the block of the class chosen wastes at most 15 bytes for
/// `n <= 64`, less than [`FINE_WORST_WASTE_PERCENT`] (20) % of the block for
/// `64 < n <= 1024` (the worst case is one byte past a class: `n = 513` in
/// the 640-byte class, 127 bytes, 19.8 %), and at most an eighth of the
/// block plus 7 bytes above. A larger alignment takes the smallest class
/// whose blocks are that aligned (`size 72, align 32` takes the 96-byte
/// class; `size 8, align 512` the 512-byte one). The crate's tests check
/// the bound over every size `1..=4096` and the selection over every
/// alignment `1..=8192`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FineClasses;

/// The bound on the internal waste of [`FineClasses`] (and
/// [`FineClassesTo4096`]) for sizes from 65 to 1024 bytes with alignments up
/// to 8: less than this percentage of the block (above 1024 bytes, at most
/// an eighth of the block plus 7 bytes).
pub const FINE_WORST_WASTE_PERCENT: usize = 20;

impl SizeClasses for FineClasses {
    const SIZES: &'static [usize] = &[
        8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
        1280, 1536, 1792, 2048,
    ];
    const EXACT_FIT_ABOVE: usize = 1024;
}

/// [`FineClasses`] continued to 4096 bytes (29 classes: ..., 2048, 2560,
/// 3072, 3584, 4096), with the same exact-fit rule above 1024 bytes: more
/// layouts served from slabs (faster where many blocks of 2 to 4 KiB
/// churn), for more memory held in partly used 32 KiB slabs. The waste
/// bound is the same.
#[derive(Debug, Clone, Copy, Default)]
pub struct FineClassesTo4096;

impl SizeClasses for FineClassesTo4096 {
    const SIZES: &'static [usize] = &[
        8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
        1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
    ];
    const EXACT_FIT_ABOVE: usize = 1024;
}

/// [`FineClasses`] from 16 to 1024 bytes, with the slab index on: a table
/// for a C `malloc` whose `free` has no size. 20 classes (C's blocks are
/// aligned to 16, so FineClasses' 8-byte class would serve none):
///
/// 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448,
/// 512, 640, 768, 896, 1024.
///
/// Every class but the smallest has 8 KiB slabs (the 16-byte one 4 KiB, so
/// a region of [`MIN_REGION_SIZE`](crate::MIN_REGION_SIZE) serves it): a
/// block's slab is found with one lookup in the index for most blocks, two
/// for the rest.
///
/// [`SLAB_INDEX`](SizeClasses::SLAB_INDEX) is on, so the heap finds a
/// block's size from its address ([`Heap::block_size`](crate::Heap::block_size)),
/// and there is no exact-fit rule (the index needs none; see there). Above
/// 1 KiB every layout goes to the backing allocator, which (TLSF by
/// default) fits blocks exactly, for a header: what [`FineClasses`]'
/// exact-fit rule achieved for the sizes its larger classes would have
/// fitted badly. The waste bound up to 1024 bytes is [`FineClasses`]'
/// ([`FINE_WORST_WASTE_PERCENT`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MallocClasses;

impl SizeClasses for MallocClasses {
    const SIZES: &'static [usize] =
        &[16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024];
    const SLAB_SIZES: &'static [usize] = &[
        4096, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192, 8192,
        8192, 8192, 8192,
    ];
    const SLAB_INDEX: bool = true;
}

/// The power-of-two table: 10 classes, 8, 16, 32, ..., 4096 bytes (the
/// table of earlier versions; up to 50 % internal waste, fewer slabs).
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerOfTwoClasses;

impl SizeClasses for PowerOfTwoClasses {
    const SIZES: &'static [usize] = &[8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
}

/// The shape of a class's slabs, precomputed for the fast paths.
#[derive(Clone, Copy)]
pub(crate) struct ClassInfo {
    /// The block size.
    pub(crate) size: usize,
    /// `slab_size - 1`.
    pub(crate) mask: usize,
    /// The offset of the header from the slab's start.
    pub(crate) header_offset: usize,
    /// Blocks per slab.
    pub(crate) capacity: usize,
    /// The alignment of every block.
    pub(crate) block_align: usize,
    /// The number of colours (at least 1).
    pub(crate) colours: usize,
    /// The bytes between two colours.
    pub(crate) colour_step: usize,
    /// The most freed blocks the class keeps in its block cache.
    pub(crate) cache_limit: usize,
}

/// The number of alignments `1, 2, 4, ..., MAX_CLASS_SIZE`.
const ALIGN_SHIFTS: usize = MAX_CLASS_SIZE.trailing_zeros() as usize + 1;

/// The length of the size lookup table: sizes `0..=MAX_CLASS_SIZE` in steps
/// of 8.
const BY_SIZE_LEN: usize = MAX_CLASS_SIZE / 8 + 1;

/// Everything the heap derives from a table, at compile time.
pub(crate) struct ClassTable {
    /// The number of classes.
    pub(crate) count: usize,
    pub(crate) info: [ClassInfo; MAX_CLASSES],
    /// `by_size[(size + 7) / 8]`: the smallest class at least `size` bytes
    /// (`count` for none).
    by_size: [u8; BY_SIZE_LEN],
    /// `by_align[class][k]`: the smallest class from `class` on whose blocks
    /// are aligned to `1 << k` (`count` for none).
    by_align: [[u8; ALIGN_SHIFTS]; MAX_CLASSES + 1],
    /// The distinct slab sizes of the classes, the size of the most classes
    /// first; the first `slab_size_count` entries are used (at most 4: 4 to
    /// 32 KiB).
    pub(crate) slab_sizes: [usize; SLAB_SIZE_KINDS],
    /// The number of distinct slab sizes.
    pub(crate) slab_size_count: usize,
}

/// The number of distinct slab sizes a table can have: the powers of two
/// from [`MIN_SLAB_SIZE`] to [`MAX_SLAB_SIZE`].
pub(crate) const SLAB_SIZE_KINDS: usize =
    (MAX_SLAB_SIZE.trailing_zeros() - MIN_SLAB_SIZE.trailing_zeros()) as usize + 1;

/// The overhead the slab size is chosen for: the tail and a header of four
/// words (without `debug-checks`).
const NOMINAL_OVERHEAD: usize = crate::heap::SLAB_TAIL + 4 * size_of::<usize>();

/// The slab size of a class of `size` bytes: the smallest power of two from
/// [`MIN_SLAB_SIZE`] that holds at least 8 blocks besides `overhead`, or
/// [`MAX_SLAB_SIZE`] when none up to it does (the 4096-byte class: 7
/// blocks). Small slabs keep every class within reach of small heaps: a
/// slab is cut aligned to its size. (Larger slabs that lose less than 1/32
/// to their header and tail measured no better heap efficiency, and put the
/// 1024-byte class out of reach of a 32 KiB region.)
const fn slab_size_for(size: usize, overhead: usize) -> usize {
    let mut slab = MIN_SLAB_SIZE;
    while slab < MAX_SLAB_SIZE && (slab - overhead) / size < 8 {
        slab *= 2;
    }
    slab
}

/// The most blocks a class's block cache may hold, whatever its table asks.
pub(crate) const MAX_CACHED_BLOCKS: usize = 64;

/// The most bytes of freed blocks a class's block cache holds: a few blocks
/// of the large classes, [`SizeClasses::CACHED_BLOCKS`] of the small ones.
pub const CACHED_BLOCK_BYTES: usize = 8 * 1024;

/// The block cache's length for a class of `size` bytes: `cached_blocks`,
/// but no more than [`CACHED_BLOCK_BYTES`] (and at least one block, unless
/// `cached_blocks` is 0).
const fn cache_limit(cached_blocks: usize, size: usize) -> usize {
    assert!(cached_blocks <= MAX_CACHED_BLOCKS, "CACHED_BLOCKS is at most 64");
    let by_bytes = if CACHED_BLOCK_BYTES / size > 1 { CACHED_BLOCK_BYTES / size } else { 1 };
    if cached_blocks < by_bytes { cached_blocks } else { by_bytes }
}

impl ClassTable {
    /// Builds and checks the table of `sizes`; `overhead` is the header and
    /// tail each slab loses. Panics (a compile error, as it runs in a
    /// `const`) when a rule of [`SizeClasses`] is broken.
    pub(crate) const fn build(
        sizes: &[usize],
        slab_sizes: &[usize],
        colouring: bool,
        exact_fit_above: usize,
        slab_index: bool,
        cached_blocks: usize,
        overhead: usize,
    ) -> Self {
        let count = sizes.len();
        assert!(
            !slab_index || exact_fit_above == usize::MAX,
            "a table with SLAB_INDEX keeps EXACT_FIT_ABOVE at usize::MAX (routing by size must be monotone)"
        );
        assert!(count >= 1 && count <= MAX_CLASSES, "a size-class table has 1 to 32 classes");
        assert!(
            slab_sizes.is_empty() || slab_sizes.len() == count,
            "SLAB_SIZES is empty or has one entry per class"
        );
        let mut info = [ClassInfo {
            size: 0,
            mask: 0,
            header_offset: 0,
            capacity: 0,
            block_align: 0,
            colours: 0,
            colour_step: 0,
            cache_limit: 0,
        }; MAX_CLASSES];
        let mut class = 0;
        while class < count {
            let size = sizes[class];
            assert!(size >= MIN_CLASS_SIZE && size <= MAX_CLASS_SIZE, "class sizes lie in 8..=4096");
            assert!(size % 8 == 0, "class sizes are multiples of 8");
            assert!(class == 0 || sizes[class - 1] < size, "class sizes increase strictly");
            // The slab size does not depend on the header's size, so the
            // geometry is the same with and without `debug-checks`.
            let slab =
                if slab_sizes.is_empty() { slab_size_for(size, NOMINAL_OVERHEAD) } else { slab_sizes[class] };
            assert!(
                slab.is_power_of_two() && slab >= MIN_SLAB_SIZE && slab <= MAX_SLAB_SIZE,
                "slab sizes are powers of two in 4096..=32768"
            );
            let header_offset = slab - overhead;
            let capacity = header_offset / size;
            assert!(capacity >= 1 && capacity <= MAX_BLOCKS_PER_SLAB, "a slab holds 1 to 512 blocks");
            // `size <= MAX_CLASS_SIZE <= slab`, so the slab's alignment does
            // not cap the block's.
            let block_align = size & size.wrapping_neg();
            let colour_step = if block_align > COLOUR_STEP { block_align } else { COLOUR_STEP };
            let slack = header_offset - capacity * size;
            info[class] = ClassInfo {
                size,
                mask: slab - 1,
                header_offset,
                capacity,
                block_align,
                colours: if colouring { slack / colour_step + 1 } else { 1 },
                colour_step,
                cache_limit: cache_limit(cached_blocks, size),
            };
            class += 1;
        }
        let mut by_size = [0u8; BY_SIZE_LEN];
        let mut index = 0;
        let mut class = 0;
        while index < BY_SIZE_LEN {
            while class < count && sizes[class] < index * 8 {
                class += 1;
            }
            // Too much of the class's block would be lost: the backing
            // allocator fits the size exactly.
            let exact_fit =
                index * 8 > exact_fit_above && class < count && (sizes[class] - index * 8) * 8 > sizes[class];
            by_size[index] = if exact_fit { count as u8 } else { class as u8 };
            index += 1;
        }
        let mut by_align = [[count as u8; ALIGN_SHIFTS]; MAX_CLASSES + 1];
        let mut shift = 0;
        while shift < ALIGN_SHIFTS {
            // From the last class down: the nearest class at or above with
            // blocks aligned to `1 << shift`.
            let mut next = count;
            let mut class = count;
            while class > 0 {
                class -= 1;
                if info[class].block_align >= 1 << shift {
                    next = class;
                }
                by_align[class][shift] = next as u8;
            }
            shift += 1;
        }
        // The distinct slab sizes, the one of the most classes first (a
        // block's slab is looked up size by size): count the classes of each
        // power of two, then take the largest count left, smallest size
        // first on a tie.
        let mut uses = [0usize; SLAB_SIZE_KINDS];
        let mut class = 0;
        while class < count {
            uses[(info[class].mask + 1).trailing_zeros() as usize
                - MIN_SLAB_SIZE.trailing_zeros() as usize] += 1;
            class += 1;
        }
        let mut slab_sizes = [0; SLAB_SIZE_KINDS];
        let mut slab_size_count = 0;
        loop {
            let (mut best, mut kind) = (0, 0);
            while kind < SLAB_SIZE_KINDS {
                if uses[kind] > uses[best] {
                    best = kind;
                }
                kind += 1;
            }
            if uses[best] == 0 {
                break;
            }
            slab_sizes[slab_size_count] = MIN_SLAB_SIZE << best;
            slab_size_count += 1;
            uses[best] = 0;
        }
        Self { count, info, by_size, by_align, slab_sizes, slab_size_count }
    }

    /// The class of `layout`: `count` or more when no class serves it.
    #[inline(always)]
    pub(crate) const fn class_index(&self, layout: Layout) -> usize {
        let size = layout.size();
        let align = layout.align();
        if size > MAX_CLASS_SIZE || align > MAX_CLASS_SIZE {
            return MAX_CLASSES;
        }
        let class = self.by_size[size.div_ceil(8)] as usize;
        if align <= MIN_CLASS_SIZE {
            // Every block is aligned to 8 (class sizes are multiples of 8).
            class
        } else {
            self.by_align[class][align.trailing_zeros() as usize] as usize
        }
    }
}

/// The derived table of `C`, a constant per table type.
pub(crate) struct Table<C: ?Sized>(core::marker::PhantomData<C>);

impl<C: SizeClasses + ?Sized> Table<C> {
    /// The table of `C::SIZES`, built (and checked) at compile time.
    pub(crate) const TABLE: ClassTable = ClassTable::build(
        C::SIZES,
        C::SLAB_SIZES,
        C::COLOURING,
        C::EXACT_FIT_ABOVE,
        C::SLAB_INDEX,
        C::CACHED_BLOCKS,
        crate::heap::SLAB_OVERHEAD,
    );
}
