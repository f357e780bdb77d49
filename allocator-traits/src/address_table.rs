//! A hash table keyed by address over a block of words its owner allocates:
//! the one copy of the slab index (`allocator-slab`) and of the C heap's
//! registry of header-free blocks (`allocator-capi`).
//!
//! Open addressing with linear probing over a power-of-two number of slots,
//! at most half of them used, Fibonacci hashing, and deletion by backward
//! shift (no tombstones: a lookup stops at the first empty slot). An entry
//! is `WORDS` words; the bits of word 0 above `LOW_BITS` are its key, a
//! nonzero address aligned to `1 << LOW_BITS`, and its low bits belong to
//! the owner (the slab index keeps a class there). A key of 0 marks an
//! empty slot.
//!
//! The table never allocates: an allocator's own bookkeeping cannot call
//! back into the allocator it serves the way a collection would, and each
//! owner takes its blocks from a different heap. The owner asks
//! [`capacity_for_one_more`](AddressTable::capacity_for_one_more), allocates
//! a block of [`layout`](AddressTable::layout), hands it over with
//! [`rehash_into`](AddressTable::rehash_into), and frees the blocks that
//! [`rehash_into`](AddressTable::rehash_into) and
//! [`take_if_empty`](AddressTable::take_if_empty) give back.

use core::{alloc::Layout, fmt, ptr::NonNull};

/// The alignment of a table's block: a cache line.
pub const TABLE_ALIGN: usize = 64;

/// 2^w / phi, the multiplier of Fibonacci hashing, for the word size `w`.
const FIBONACCI: usize = if usize::BITS == 64 { 0x9e37_79b9_7f4a_7c15_u64 as usize } else { 0x9e37_79b9 };

/// An open-addressing hash table of entries of `WORDS` words keyed by the
/// bits of word 0 above `LOW_BITS`, over a block of memory its owner
/// allocates and frees (see the [module](self)).
///
/// # Invariants
///
/// [`assert_valid`](Self::assert_valid) checks them all:
///
/// - No table iff the capacity is 0; otherwise the table is a block of
///   [`layout(capacity)`](Self::layout) that only this table uses, and the
///   capacity is a power of two of at least 2.
/// - A slot is empty iff its key (word 0 without its low `LOW_BITS` bits)
///   is 0; an empty slot's words are all 0.
/// - Every entry is reachable from its home slot (Fibonacci hashing of
///   `word0 >> LOW_BITS`) by probing forward, cyclically, without crossing
///   an empty slot; no key is there twice.
/// - `len` counts the entries, and `2 * len <= capacity` (at most half
///   full, so every probe meets an empty slot).
pub struct AddressTable<const WORDS: usize, const LOW_BITS: u32> {
    /// The slots, `capacity` of them, when `capacity > 0`.
    table: Option<NonNull<[usize; WORDS]>>,
    /// A power of two of at least 2, or 0.
    capacity: usize,
    /// The entries held.
    len: usize,
}

// SAFETY: the table's block holds plain words and is used by this table
// alone while it holds it (the contract of `rehash_into`); the table is
// reached through `&mut self` to write and `&self` only to read, like an
// owned buffer.
unsafe impl<const WORDS: usize, const LOW_BITS: u32> Send for AddressTable<WORDS, LOW_BITS> {}

// SAFETY: as for `Send`: `&self` methods only read the block.
unsafe impl<const WORDS: usize, const LOW_BITS: u32> Sync for AddressTable<WORDS, LOW_BITS> {}

impl<const WORDS: usize, const LOW_BITS: u32> fmt::Debug for AddressTable<WORDS, LOW_BITS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressTable")
            .field("table", &self.table_addr())
            .field("capacity", &self.capacity)
            .field("len", &self.len)
            .finish()
    }
}

impl<const WORDS: usize, const LOW_BITS: u32> AddressTable<WORDS, LOW_BITS> {
    /// The bits of word 0 that belong to the owner.
    pub const LOW_MASK: usize = (1 << LOW_BITS) - 1;

    /// No table, no entry.
    pub const EMPTY: Self = Self { table: None, capacity: 0, len: 0 };

    /// The key of the entry `entry`: its word 0 without the owner's bits.
    #[inline(always)]
    pub const fn key_of(entry: &[usize; WORDS]) -> usize {
        entry[0] & !Self::LOW_MASK
    }

    /// The entries held.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no entry.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of slots (0 without a table).
    #[inline]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The address of the table's block, if there is one.
    pub fn table_addr(&self) -> Option<usize> {
        self.table.map(|table| table.as_ptr().addr())
    }

    /// The layout of a table of `capacity` slots, aligned to
    /// [`TABLE_ALIGN`]; `None` when it does not fit the address space.
    pub const fn layout(capacity: usize) -> Option<Layout> {
        let Some(size) = capacity.checked_mul(WORDS * size_of::<usize>()) else { return None };
        match Layout::from_size_align(size, TABLE_ALIGN) {
            Ok(layout) => Some(layout),
            Err(_) => None,
        }
    }

    /// The capacity the table needs before one more entry goes in: the
    /// current one, or twice it (`initial`, a power of two of at least 2,
    /// without a table) when the entry would make it more than half full.
    /// When it differs from [`capacity`](Self::capacity), the owner
    /// allocates a block of that capacity and calls
    /// [`rehash_into`](Self::rehash_into) before
    /// [`insert`](Self::insert).
    pub const fn capacity_for_one_more(&self, initial: usize) -> usize {
        if (self.len + 1) * 2 <= self.capacity {
            self.capacity
        } else if self.capacity == 0 {
            initial
        } else {
            self.capacity * 2
        }
    }

    /// The home slot of `key` in a table of `capacity` slots (a power of
    /// two of at least 2): Fibonacci hashing of `key >> LOW_BITS` (the bits
    /// that tell aligned keys apart), the top bits of the product.
    #[inline(always)]
    fn home(key: usize, capacity: usize) -> usize {
        let bits = capacity.trailing_zeros();
        // `capacity >= 2`, so `bits >= 1` and the shift is below the word
        // size.
        (key >> LOW_BITS).wrapping_mul(FIBONACCI) >> (usize::BITS - bits)
    }

    /// The entry at `slot` (all zeros when empty).
    #[inline(always)]
    fn slot(&self, slot: usize) -> [usize; WORDS] {
        let Some(table) = self.table else { return [0; WORDS] };
        debug_assert!(slot < self.capacity);
        // SAFETY: `table` holds `capacity` initialised slots used by this
        // table alone (invariants), and every caller passes a slot below
        // `capacity` (masked by `capacity - 1`, or from `0..capacity`).
        unsafe { table.add(slot).read() }
    }

    /// Writes the entry at `slot`.
    #[inline(always)]
    fn set_slot(&mut self, slot: usize, entry: [usize; WORDS]) {
        let Some(table) = self.table else { return };
        debug_assert!(slot < self.capacity);
        // SAFETY: as in `slot`; `&mut self` makes the write exclusive.
        unsafe { table.add(slot).write(entry) }
    }

    /// The slot holding `key`, if any. O(1) expected: the table is at most
    /// half full.
    #[inline]
    fn find(&self, key: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut slot = Self::home(key, self.capacity);
        loop {
            let found = Self::key_of(&self.slot(slot));
            if found == 0 {
                return None;
            }
            if found == key {
                return Some(slot);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The entry whose key is `key`, if the table holds one (never for 0
    /// or a key with low bits set).
    #[inline]
    pub fn get(&self, key: usize) -> Option<[usize; WORDS]> {
        self.find(key).map(|slot| self.slot(slot))
    }

    /// Puts `entry` in the first empty slot from its home on.
    fn place(&mut self, entry: [usize; WORDS]) {
        let mask = self.capacity - 1;
        let mut slot = Self::home(Self::key_of(&entry), self.capacity);
        while Self::key_of(&self.slot(slot)) != 0 {
            slot = (slot + 1) & mask;
        }
        self.set_slot(slot, entry);
    }

    /// Adds `entry`.
    ///
    /// The table has room for it (`capacity_for_one_more(_) == capacity()`:
    /// the owner grows it first), and its key is nonzero and not in the
    /// table; debug builds check all three.
    ///
    /// # Panics
    ///
    /// When the table has no empty slot left (or no table), even in release
    /// builds: the entry would be lost.
    pub fn insert(&mut self, entry: [usize; WORDS]) {
        let key = Self::key_of(&entry);
        debug_assert!((self.len + 1) * 2 <= self.capacity, "address table: no room for one more entry");
        debug_assert!(key != 0, "address table: key 0");
        debug_assert!(self.find(key).is_none(), "address table: key {key:#x} inserted twice");
        assert!(self.len < self.capacity, "address table: full");
        self.place(entry);
        self.len += 1;
    }

    /// Removes the entry whose key is `key` and returns it, if the table
    /// holds one, by backward shift: every entry after it in its run that
    /// may move back moves into the hole, so no lookup crosses an empty
    /// slot it should not. The table stays (see
    /// [`take_if_empty`](Self::take_if_empty)).
    pub fn remove(&mut self, key: usize) -> Option<[usize; WORDS]> {
        let mut hole = self.find(key)?;
        let removed = self.slot(hole);
        let mask = self.capacity - 1;
        let mut slot = hole;
        loop {
            slot = (slot + 1) & mask;
            let entry = self.slot(slot);
            let entry_key = Self::key_of(&entry);
            if entry_key == 0 {
                break;
            }
            let home = Self::home(entry_key, self.capacity);
            // The entry may move back to the hole iff its home does not lie
            // in the cyclic range (hole, slot]: its probe from home passes
            // the hole.
            if (slot.wrapping_sub(home) & mask) >= (slot.wrapping_sub(hole) & mask) {
                self.set_slot(hole, entry);
                hole = slot;
            }
        }
        self.set_slot(hole, [0; WORDS]);
        self.len -= 1;
        Some(removed)
    }

    /// Moves every entry into `block`, a fresh table of `capacity` slots,
    /// and returns the old table's block and layout, for the owner to free
    /// (`None` when there was none). `capacity` may equal the current one
    /// (to move the table elsewhere).
    ///
    /// # Safety
    ///
    /// `capacity` is a power of two of at least 2 and `2 * len() <=
    /// capacity`; `block` is valid for reads and writes of
    /// [`layout(capacity)`](Self::layout) (which is `Some`), aligned to it,
    /// and used by nothing else until this table gives it back (from
    /// `rehash_into` or [`take_if_empty`](Self::take_if_empty)).
    pub unsafe fn rehash_into(
        &mut self,
        block: NonNull<u8>,
        capacity: usize,
    ) -> Option<(NonNull<u8>, Layout)> {
        debug_assert!(capacity.is_power_of_two() && capacity >= 2 && self.len * 2 <= capacity);
        debug_assert!(Self::layout(capacity).is_some());
        let table = block.cast::<[usize; WORDS]>();
        // SAFETY: the caller's contract: `block` holds `capacity` slots.
        unsafe { table.write_bytes(0, capacity) };
        let old = core::mem::replace(self, Self { table: Some(table), capacity, len: self.len });
        for (_, entry) in old.entries() {
            self.place(entry);
        }
        old.table.map(NonNull::cast).zip(Self::layout(old.capacity))
    }

    /// Forgets the table once it holds no entry, and returns its block and
    /// layout for the owner to free (`None` with entries or no table).
    pub fn take_if_empty(&mut self) -> Option<(NonNull<u8>, Layout)> {
        if self.len != 0 {
            return None;
        }
        let old = core::mem::replace(self, Self::EMPTY);
        old.table.map(NonNull::cast).zip(Self::layout(old.capacity))
    }

    /// Every entry, as `(slot, entry)`, in slot order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, [usize; WORDS])> + '_ {
        (0..self.capacity).filter_map(|slot| {
            let entry = self.slot(slot);
            (Self::key_of(&entry) != 0).then_some((slot, entry))
        })
    }

    /// Checks the [invariants](Self#invariants): every entry reachable from
    /// its home without crossing an empty slot, no key twice, `len` the
    /// number of entries, at most half full, a table iff a capacity (a
    /// power of two of at least 2).
    ///
    /// # Panics
    ///
    /// When an invariant does not hold.
    pub fn assert_valid(&self) {
        assert_eq!(self.table.is_some(), self.capacity > 0, "address table: table and capacity disagree");
        assert!(
            self.capacity == 0 || (self.capacity.is_power_of_two() && self.capacity >= 2),
            "address table: capacity {}",
            self.capacity
        );
        let mask = self.capacity.wrapping_sub(1);
        let mut count = 0;
        for slot in 0..self.capacity {
            let entry = self.slot(slot);
            let key = Self::key_of(&entry);
            if key == 0 {
                assert!(entry.iter().all(|&word| word == 0), "address table: slot {slot} empty but not zero");
                continue;
            }
            count += 1;
            let mut probe = Self::home(key, self.capacity);
            while probe != slot {
                let passed = Self::key_of(&self.slot(probe));
                assert!(passed != 0, "address table: the entry of {key:#x} lies past an empty slot");
                assert!(passed != key, "address table: {key:#x} is there twice");
                probe = (probe + 1) & mask;
            }
        }
        assert_eq!(count, self.len, "address table: len is not the number of entries");
        assert!(self.len * 2 <= self.capacity, "address table: more than half full");
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::{collections::BTreeMap, vec, vec::Vec};

    use super::*;

    /// xorshift64*: enough randomness for the tests, no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    /// A table over blocks of the host heap (kept until the model drops),
    /// grown as an owner grows it, its empty table freed as an owner frees
    /// it, and the map it should equal.
    struct Model<const WORDS: usize, const LOW_BITS: u32> {
        table: AddressTable<WORDS, LOW_BITS>,
        map: BTreeMap<usize, [usize; WORDS]>,
        blocks: Vec<Vec<u128>>,
        freed: usize,
    }

    impl<const WORDS: usize, const LOW_BITS: u32> Model<WORDS, LOW_BITS> {
        fn new() -> Self {
            Self { table: AddressTable::EMPTY, map: BTreeMap::new(), blocks: Vec::new(), freed: 0 }
        }

        /// A block for `capacity` slots, aligned to 64 (the `Vec` is
        /// over-allocated by a cache line and the block starts aligned in it).
        fn block(&mut self, capacity: usize) -> NonNull<u8> {
            let layout = AddressTable::<WORDS, LOW_BITS>::layout(capacity).unwrap();
            self.blocks.push(vec![0u128; (layout.size() + TABLE_ALIGN) / 16]);
            let base = self.blocks.last_mut().unwrap().as_mut_ptr().cast::<u8>();
            let offset = base.align_offset(TABLE_ALIGN);
            // SAFETY: `offset < 64`, inside the vector.
            NonNull::new(unsafe { base.add(offset) }).unwrap()
        }

        fn insert(&mut self, entry: [usize; WORDS], initial: usize) {
            let capacity = self.table.capacity_for_one_more(initial);
            if capacity != self.table.capacity() {
                let block = self.block(capacity);
                // SAFETY: a fresh block of `layout(capacity)`, aligned,
                // which lives as long as the model.
                if let Some((_, layout)) = unsafe { self.table.rehash_into(block, capacity) } {
                    assert_eq!(layout, AddressTable::<WORDS, LOW_BITS>::layout(capacity / 2).unwrap());
                    self.freed += 1;
                }
            }
            self.table.insert(entry);
            assert!(self.map.insert(AddressTable::<WORDS, LOW_BITS>::key_of(&entry), entry).is_none());
        }

        fn remove(&mut self, key: usize) {
            assert_eq!(self.table.remove(key), self.map.remove(&key));
            if self.table.is_empty() && self.table.take_if_empty().is_some() {
                self.freed += 1;
            }
        }

        fn check(&self) {
            self.table.assert_valid();
            assert_eq!(self.table.len(), self.map.len());
            assert_eq!(self.table.capacity() == 0, self.table.is_empty());
            for (&key, entry) in &self.map {
                assert_eq!(self.table.get(key).as_ref(), Some(entry), "{key:#x}");
            }
            let entries: BTreeMap<usize, [usize; WORDS]> = self
                .table
                .entries()
                .map(|(_, entry)| (AddressTable::<WORDS, LOW_BITS>::key_of(&entry), entry))
                .collect();
            assert_eq!(entries, self.map);
        }
    }

    /// Random inserts and removals of keys from a small set (so runs form,
    /// collide and wrap around the table's end), `make` building the entry
    /// of a key, against a map, every invariant checked after each step.
    fn random_ops<const WORDS: usize, const LOW_BITS: u32>(
        seed: u64,
        initial: usize,
        make: impl Fn(usize, &mut Rng) -> [usize; WORDS],
    ) {
        let mut rng = Rng(seed);
        // Under Miri, fewer rounds over fewer keys (smaller tables, still
        // grown, collided and wrapped): every step checks every invariant.
        let (rounds, keys) = if cfg!(miri) { (60, 24) } else { (20_000, 200) };
        let mut model = Model::<WORDS, LOW_BITS>::new();
        let mut largest = 0;
        for _ in 0..rounds {
            let key = (rng.below(keys) + 1) << LOW_BITS;
            if model.map.contains_key(&key) {
                model.remove(key);
            } else {
                let entry = make(key, &mut rng);
                model.insert(entry, initial);
            }
            // Keys never inserted: absent, and removing them changes nothing.
            assert_eq!(model.table.get(1000 << LOW_BITS), None);
            assert_eq!(model.table.remove(1000 << LOW_BITS), None);
            assert_eq!(model.table.get(0), None);
            if LOW_BITS > 0 {
                assert_eq!(model.table.get(key | 1), None, "a key with low bits set");
            }
            model.check();
            largest = largest.max(model.table.capacity());
        }
        assert!(largest > initial, "the table grew");
        assert!(model.freed > 0, "old tables were given back");
    }

    /// One word, the owner's class in the low 12 bits (the slab index).
    #[test]
    fn one_word_with_owner_bits_against_a_map() {
        random_ops::<1, 12>(0x1d3c, 8, |key, rng| [key | rng.below(4096)]);
    }

    /// Two words, a tag in word 1 (the C heap's registry, whose first table
    /// has 64 slots; 8 under Miri, so that the table still grows).
    #[test]
    fn two_words_against_a_map() {
        let initial = if cfg!(miri) { 8 } else { 64 };
        random_ops::<2, 5>(0x5eed, initial, |key, rng| [key, rng.below(usize::MAX) | 1]);
    }

    /// A table moved to a block of the same capacity keeps its entries.
    #[test]
    fn rehash_into_the_same_capacity_moves_the_table() {
        let mut model = Model::<1, 12>::new();
        for i in 1..=4 {
            model.insert([i << 12 | i], 8);
        }
        let old = model.table.table_addr().unwrap();
        let block = model.block(8);
        // SAFETY: a fresh aligned block of `layout(8)`.
        let (freed, layout) = unsafe { model.table.rehash_into(block, 8) }.unwrap();
        assert_eq!((freed.as_ptr().addr(), layout), (old, AddressTable::<1, 12>::layout(8).unwrap()));
        assert_eq!(model.table.table_addr(), Some(block.as_ptr().addr()));
        model.check();
    }

    #[test]
    fn layout_and_capacity() {
        assert_eq!(AddressTable::<2, 5>::layout(64).unwrap().size(), 64 * 2 * size_of::<usize>());
        assert_eq!(AddressTable::<1, 12>::layout(8).unwrap().align(), TABLE_ALIGN);
        assert_eq!(AddressTable::<1, 12>::layout(usize::MAX), None);
        let table = AddressTable::<1, 12>::EMPTY;
        assert_eq!((table.len(), table.capacity(), table.table_addr()), (0, 0, None));
        assert_eq!(table.capacity_for_one_more(8), 8);
        table.assert_valid();
        assert_eq!(size_of::<AddressTable<2, 5>>(), 3 * size_of::<usize>());
    }

    /// Fibonacci hashing spreads consecutive keys over the table.
    #[test]
    fn consecutive_keys_spread() {
        let capacity = 1024;
        let mut homes: Vec<usize> =
            (1..=512).map(|i| AddressTable::<1, 12>::home(i << 12, capacity)).collect();
        homes.sort_unstable();
        homes.dedup();
        assert!(homes.len() > 400, "{} distinct homes", homes.len());
    }
}
