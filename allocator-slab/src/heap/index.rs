//! The slab index: a hash set of the live slabs' start addresses, each
//! tagged with its class, for tables with
//! [`SLAB_INDEX`](crate::SizeClasses::SLAB_INDEX).
//!
//! An [`AddressTable`] of one-word entries `slab start | class`: a slab
//! start is aligned to at least [`MIN_SLAB_SIZE`](crate::MIN_SLAB_SIZE)
//! (4096), so its low 12 bits are free for the class (below
//! [`MAX_CLASSES`](crate::MAX_CLASSES)), and it is never 0, which marks an
//! empty word. This wrapper only speaks in starts and classes; the table's
//! probing, growth and invariants are [`AddressTable`]'s.
//!
//! The words are a block of the backing allocator, which the heap allocates,
//! grows and frees (the table only reads and writes them): the heap owns
//! that memory and reaches it with the pointer the backing allocator gave.

use core::{alloc::Layout, ptr::NonNull};

use allocator_traits::address_table::AddressTable;

use crate::classes::MIN_SLAB_SIZE;

/// The table: one word per slab, the class in the low 12 bits.
type Table = AddressTable<1, { MIN_SLAB_SIZE.trailing_zeros() }>;

/// The number of words of a table when the first slab is indexed: one
/// cache line on 64-bit targets (4 slabs before it doubles). Small, so that
/// a region of [`MIN_REGION_SIZE`](crate::MIN_REGION_SIZE), whose slab takes
/// all but about 128 bytes of it over TLSF, still holds the table.
pub(super) const INITIAL_CAPACITY: usize = 8;

/// The hash set. Empty (capacity 0, no table) until the first slab.
pub(super) struct SlabIndex(Table);

// The heap is `Send` by its own `unsafe impl`; the index is part of it.

// A heap without `SLAB_INDEX` carries the index unused: three words.
const _: () = assert!(size_of::<SlabIndex>() == 3 * size_of::<usize>());

impl SlabIndex {
    /// No table.
    pub(super) const EMPTY: Self = Self(Table::EMPTY);

    /// The entries held.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The address of the table, if there is one.
    pub(super) fn table_addr(&self) -> Option<usize> {
        self.0.table_addr()
    }

    /// The number of words of the table (0 without one).
    pub(super) fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// The layout of a table of `capacity` words (`None` beyond the address
    /// space: never for the capacities the heap reaches, at most one entry
    /// per 4 KiB slab, at most half full).
    pub(super) fn layout(capacity: usize) -> Option<Layout> {
        Table::layout(capacity)
    }

    /// The capacity the table needs before one more entry goes in: the
    /// current one, or twice it ([`INITIAL_CAPACITY`] for no table) when
    /// the entry would make it more than half full.
    pub(super) fn capacity_for_one_more(&self) -> usize {
        self.0.capacity_for_one_more(INITIAL_CAPACITY)
    }

    /// The class of the slab starting at `start`, if the index holds it.
    /// O(1) expected: the table is at most half full.
    #[inline]
    pub(super) fn find(&self, start: usize) -> Option<usize> {
        self.0.get(start).map(|[word]| word & Table::LOW_MASK)
    }

    /// Adds the slab starting at `start` of `class`.
    ///
    /// The table has room for it: `capacity_for_one_more() == capacity()`
    /// (the heap grows it first); `start` is aligned to 4096, not 0, and not
    /// in the index.
    pub(super) fn insert(&mut self, start: usize, class: usize) {
        debug_assert!(start & Table::LOW_MASK == 0 && class <= Table::LOW_MASK);
        self.0.insert([start | class]);
    }

    /// Removes the slab starting at `start`; returns whether it was there.
    pub(super) fn remove(&mut self, start: usize) -> bool {
        self.0.remove(start).is_some()
    }

    /// Moves every entry into `table`, a fresh block of `capacity` words (a
    /// power of two, at least `2 * len`), and returns the old table and its
    /// layout, for the heap to free (`None` when there was none).
    ///
    /// # Safety
    ///
    /// As for [`AddressTable::rehash_into`]: `table` is valid for reads and
    /// writes of `layout(capacity)`, aligned to it, owned by the heap and
    /// used by nothing else while the index holds it.
    pub(super) unsafe fn rehash_into(
        &mut self,
        table: NonNull<u8>,
        capacity: usize,
    ) -> Option<(NonNull<u8>, Layout)> {
        // SAFETY: the caller's contract.
        unsafe { self.0.rehash_into(table, capacity) }
    }

    /// Forgets the table (which the heap frees) once it holds no entry, and
    /// returns it with its layout.
    pub(super) fn take_if_empty(&mut self) -> Option<(NonNull<u8>, Layout)> {
        self.0.take_if_empty()
    }

    /// Every entry, as `(slot, slab start, class)`.
    pub(super) fn entries(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.0.entries().map(|(slot, [word])| (slot, word & !Table::LOW_MASK, word & Table::LOW_MASK))
    }

    /// Asserts the table's invariants ([`AddressTable::assert_valid`]) and
    /// that its capacity is 0 or at least [`INITIAL_CAPACITY`].
    pub(super) fn check(&self) {
        self.0.assert_valid();
        assert!(
            self.capacity() == 0 || self.capacity() >= INITIAL_CAPACITY,
            "allocator-slab: the slab index's capacity is {}",
            self.capacity()
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
        tables: Vec<Vec<u128>>,
    }

    impl Model {
        fn insert(&mut self, start: usize, class: usize) {
            let capacity = self.index.capacity_for_one_more();
            if capacity != self.index.capacity() {
                // Over-allocated by a cache line, so an aligned table fits.
                let layout = SlabIndex::layout(capacity).unwrap();
                self.tables.push(vec![0u128; (layout.size() + layout.align()) / 16]);
                let base = self.tables.last_mut().unwrap().as_mut_ptr().cast::<u8>();
                // SAFETY: the offset is below the alignment, inside the vector.
                let table = NonNull::new(unsafe { base.add(base.align_offset(layout.align())) }).unwrap();
                // SAFETY: a fresh aligned table of `layout`, which lives as
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
    /// end, against a map, through the index's start-and-class interface.
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
}
