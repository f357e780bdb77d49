//! The slab index: a hash set of the live slabs' start addresses, each
//! tagged with its class, for tables with
//! [`SLAB_INDEX`](crate::SizeClasses::SLAB_INDEX).
//!
//! Open addressing with linear probing over a power-of-two number of words,
//! at most half of them used; a removal shifts the entries after it back
//! (no tombstones), so a lookup stops at the first empty word. An entry is
//! `slab start | class`: a slab start is aligned to at least
//! [`MIN_SLAB_SIZE`](crate::MIN_SLAB_SIZE) (4096), so its low 12 bits are
//! free for the class (below [`MAX_CLASSES`](crate::MAX_CLASSES)), and it is
//! never 0, which marks an empty word.
//!
//! The words are a block of the backing allocator, which the heap allocates,
//! grows and frees (this module only reads and writes them): the heap owns
//! that memory and reaches it with the pointer the backing allocator gave.

use core::{alloc::Layout, ptr::NonNull};

use crate::classes::MIN_SLAB_SIZE;

/// The low bits of an entry that hold the class.
const CLASS_MASK: usize = MIN_SLAB_SIZE - 1;

/// The number of words of a table when the first slab is indexed: one
/// cache line on 64-bit targets (4 slabs before it doubles). Small, so that
/// a region of [`MIN_REGION_SIZE`](crate::MIN_REGION_SIZE), whose slab takes
/// all but about 128 bytes of it over TLSF, still holds the table.
pub(super) const INITIAL_CAPACITY: usize = 8;

/// The alignment of a table: a cache line.
const TABLE_ALIGN: usize = 64;

/// 2^w / phi, the multiplier of Fibonacci hashing, for the word size `w`.
const FIBONACCI: usize = if usize::BITS == 64 { 0x9e37_79b9_7f4a_7c15_u64 as usize } else { 0x9e37_79b9 };

/// The hash set. Empty (capacity 0, no table) until the first slab.
pub(super) struct SlabIndex {
    /// The words, `capacity` of them, when `capacity > 0`.
    table: Option<NonNull<usize>>,
    /// A power of two, or 0.
    capacity: usize,
    /// The entries held.
    len: usize,
}

// The heap is `Send` by its own `unsafe impl`; the index is part of it.

// A heap without `SLAB_INDEX` carries the index unused: three words.
const _: () = assert!(size_of::<SlabIndex>() == 3 * size_of::<usize>());

impl SlabIndex {
    /// No table.
    pub(super) const EMPTY: Self = Self { table: None, capacity: 0, len: 0 };

    /// The entries held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The address of the table, if there is one.
    pub(super) fn table_addr(&self) -> Option<usize> {
        self.table.map(|table| table.as_ptr().addr())
    }

    /// The number of words of the table (0 without one).
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The layout of a table of `capacity` words.
    pub(super) fn layout(capacity: usize) -> Layout {
        match Layout::from_size_align(capacity * size_of::<usize>(), TABLE_ALIGN) {
            Ok(layout) => layout,
            // Never: capacities stay far below `isize::MAX / 8` (the table
            // holds at most one entry per 4 KiB slab, at most half full).
            Err(_) => Layout::new::<usize>(),
        }
    }

    /// The capacity the table needs before one more entry goes in: the
    /// current one, or twice it (the initial one for no table) when the
    /// entry would make it more than half full.
    pub(super) fn capacity_for_one_more(&self) -> usize {
        if (self.len + 1) * 2 <= self.capacity {
            self.capacity
        } else if self.capacity == 0 {
            INITIAL_CAPACITY
        } else {
            self.capacity * 2
        }
    }

    /// The home word of the slab start `start` in a table of `capacity`
    /// words: Fibonacci hashing of `start >> 12` (the bits that tell
    /// 4 KiB-aligned starts apart), the top bits of the product.
    #[inline(always)]
    fn home(start: usize, capacity: usize) -> usize {
        let bits = capacity.trailing_zeros();
        // `capacity >= INITIAL_CAPACITY`, so `bits >= 3` and the shift is
        // below the word size.
        (start >> MIN_SLAB_SIZE.trailing_zeros()).wrapping_mul(FIBONACCI) >> (usize::BITS - bits)
    }

    /// The word at `slot`.
    #[inline(always)]
    fn word(&self, slot: usize) -> usize {
        let Some(table) = self.table else { return 0 };
        debug_assert!(slot < self.capacity);
        // SAFETY: `table` holds `capacity` initialised words, the heap's own
        // memory, and `slot < capacity`.
        unsafe { table.add(slot).read() }
    }

    /// Writes the word at `slot`.
    #[inline(always)]
    fn set_word(&mut self, slot: usize, word: usize) {
        let Some(table) = self.table else { return };
        debug_assert!(slot < self.capacity);
        // SAFETY: as in `word`; `&mut self` makes the write exclusive.
        unsafe { table.add(slot).write(word) }
    }

    /// The class of the slab starting at `start`, if the index holds it.
    /// O(1) expected: the table is at most half full.
    #[inline]
    pub(super) fn find(&self, start: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut slot = Self::home(start, self.capacity);
        loop {
            let word = self.word(slot);
            if word == 0 {
                return None;
            }
            if word & !CLASS_MASK == start {
                return Some(word & CLASS_MASK);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Puts `word` in the first empty word from its home on.
    fn place(&mut self, word: usize) {
        let mask = self.capacity - 1;
        let mut slot = Self::home(word & !CLASS_MASK, self.capacity);
        while self.word(slot) != 0 {
            slot = (slot + 1) & mask;
        }
        self.set_word(slot, word);
    }

    /// Adds the slab starting at `start` of `class`.
    ///
    /// The table has room for it: `capacity_for_one_more() == capacity()`
    /// (the heap grows it first); `start` is aligned to 4096, not 0, and not
    /// in the index.
    pub(super) fn insert(&mut self, start: usize, class: usize) {
        debug_assert!(self.capacity_for_one_more() == self.capacity);
        debug_assert!(start != 0 && start & CLASS_MASK == 0 && class <= CLASS_MASK);
        self.place(start | class);
        self.len += 1;
    }

    /// Removes the slab starting at `start`, by backward shift: every entry
    /// after it in its run that may move back moves into the hole, so no
    /// lookup crosses an empty word it should not. Returns whether it was
    /// there.
    pub(super) fn remove(&mut self, start: usize) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.capacity - 1;
        let mut hole = Self::home(start, self.capacity);
        loop {
            let word = self.word(hole);
            if word == 0 {
                return false;
            }
            if word & !CLASS_MASK == start {
                break;
            }
            hole = (hole + 1) & mask;
        }
        let mut slot = hole;
        loop {
            slot = (slot + 1) & mask;
            let word = self.word(slot);
            if word == 0 {
                break;
            }
            let home = Self::home(word & !CLASS_MASK, self.capacity);
            // The entry may move back to the hole iff its home does not lie
            // in the cyclic range (hole, slot]: its probe from home passes
            // the hole.
            if (slot.wrapping_sub(home) & mask) >= (slot.wrapping_sub(hole) & mask) {
                self.set_word(hole, word);
                hole = slot;
            }
        }
        self.set_word(hole, 0);
        self.len -= 1;
        true
    }

    /// Moves every entry into `table`, a fresh block of `capacity` words
    /// (at least `2 * (len + 1)`, a power of two), and returns the old table
    /// and its layout, for the heap to free (`None` when there was none).
    ///
    /// # Safety
    ///
    /// `table` is valid for reads and writes of `capacity` words, aligned,
    /// owned by the heap and used by nothing else.
    pub(super) unsafe fn rehash_into(
        &mut self,
        table: NonNull<usize>,
        capacity: usize,
    ) -> Option<(NonNull<u8>, Layout)> {
        debug_assert!(capacity.is_power_of_two() && capacity >= INITIAL_CAPACITY);
        // SAFETY: the caller's contract.
        unsafe { table.write_bytes(0, capacity) };
        let old = core::mem::replace(self, Self { table: Some(table), capacity, len: self.len });
        for slot in 0..old.capacity {
            let word = old.word(slot);
            if word != 0 {
                self.place(word);
            }
        }
        old.table.map(|table| (table.cast(), Self::layout(old.capacity)))
    }

    /// Forgets the table (which the heap frees) once it holds no entry, and
    /// returns it with its layout.
    pub(super) fn take_if_empty(&mut self) -> Option<(NonNull<u8>, Layout)> {
        if self.len != 0 {
            return None;
        }
        let old = core::mem::replace(self, Self::EMPTY);
        old.table.map(|table| (table.cast(), Self::layout(old.capacity)))
    }

    /// Every entry, as `(slot, slab start, class)`.
    pub(super) fn entries(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.capacity).filter_map(|slot| {
            let word = self.word(slot);
            (word != 0).then_some((slot, word & !CLASS_MASK, word & CLASS_MASK))
        })
    }

    /// Asserts that every entry is reachable from its home without crossing
    /// an empty word, that `len` counts the entries, that the table is at
    /// most half full, and that no slab start is there twice.
    pub(super) fn check(&self) {
        let mask = self.capacity.wrapping_sub(1);
        let mut count = 0;
        for (slot, start, _) in self.entries() {
            count += 1;
            let mut probe = Self::home(start, self.capacity);
            while probe != slot {
                assert!(
                    self.word(probe) != 0,
                    "allocator-slab: the slab index entry of {start:#x} lies past an empty word"
                );
                assert!(
                    self.word(probe) & !CLASS_MASK != start,
                    "allocator-slab: the slab index holds {start:#x} twice"
                );
                probe = (probe + 1) & mask;
            }
        }
        assert_eq!(count, self.len, "allocator-slab: the slab index's count is not its entries");
        assert!(self.len * 2 <= self.capacity, "allocator-slab: the slab index is more than half full");
        assert_eq!(
            self.table.is_some(),
            self.capacity > 0,
            "allocator-slab: the slab index's table and capacity disagree"
        );
        assert!(
            self.capacity == 0 || (self.capacity.is_power_of_two() && self.capacity >= INITIAL_CAPACITY),
            "allocator-slab: the slab index's capacity is {}",
            self.capacity
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::{collections::BTreeMap, vec, vec::Vec};

    use allocator_testkit::Rng;

    use super::*;

    /// An index over tables of the host heap (kept until the model drops),
    /// grown as the heap grows it, and the map it should equal.
    struct Model {
        index: SlabIndex,
        slabs: BTreeMap<usize, usize>,
        tables: Vec<Vec<usize>>,
    }

    impl Model {
        fn insert(&mut self, start: usize, class: usize) {
            let capacity = self.index.capacity_for_one_more();
            if capacity != self.index.capacity() {
                self.tables.push(vec![0usize; capacity]);
                let table = self.tables.last_mut().map(|table| table.as_mut_ptr());
                let table = NonNull::new(table.unwrap()).unwrap();
                // SAFETY: a fresh table of `capacity` words, which lives as
                // long as the model.
                unsafe { self.index.rehash_into(table, capacity) };
            }
            self.index.insert(start, class);
            self.slabs.insert(start, class);
        }

        fn check(&self) {
            self.index.check();
            assert_eq!(self.index.len(), self.slabs.len());
            for (&start, &class) in &self.slabs {
                assert_eq!(self.index.find(start), Some(class), "{start:#x}");
            }
            let entries: BTreeMap<usize, usize> =
                self.index.entries().map(|(_, start, class)| (start, class)).collect();
            assert_eq!(entries, self.slabs);
        }
    }

    /// Inserts and removals in random order, with starts that collide (a
    /// few distinct homes in a small table) and wrap around the table's
    /// end, against a map: backward shift keeps every entry reachable.
    #[test]
    fn backward_shift_keeps_every_entry_reachable() {
        let mut rng = Rng::new(0x1d3c);
        let rounds = if cfg!(miri) { 200 } else { 20_000 };
        let mut model = Model { index: SlabIndex::EMPTY, slabs: BTreeMap::new(), tables: Vec::new() };
        for step in 0..rounds {
            // Starts from a small set, so runs form and collide.
            let start = (rng.below(200) + 1) << 12;
            if model.slabs.contains_key(&start) {
                assert!(model.index.remove(start));
                model.slabs.remove(&start);
            } else {
                let class = rng.below(32);
                model.insert(start, class);
            }
            assert!(!model.index.remove(0xdead_0000), "a start never inserted");
            if step % 7 == 0 || cfg!(miri) {
                model.check();
            }
            if model.index.len() == 0 {
                // The heap frees an empty index's table.
                assert!(model.index.take_if_empty().is_some() || model.index.capacity() == 0);
            }
        }
        model.check();
        assert!(model.index.capacity() > INITIAL_CAPACITY, "the table grew");
    }

    /// Fibonacci hashing spreads consecutive slabs over the table.
    #[test]
    fn consecutive_slabs_spread() {
        let capacity = 1024;
        let mut homes: Vec<usize> = (1..=512).map(|i| SlabIndex::home(i << 12, capacity)).collect();
        homes.sort_unstable();
        homes.dedup();
        assert!(homes.len() > 400, "{} distinct homes", homes.len());
    }
}
