//! The blocks whose size the engine cannot find from their address: chunks
//! taken straight from the page source, and blocks aligned beyond
//! [`MIN_ALIGN`](crate::MIN_ALIGN) (an engine such as TLSF finds a block's
//! header from its alignment). [`CMalloc`](crate::CMalloc) records them here,
//! so no block needs a header.
//!
//! An open-addressing hash table (linear probing, deletion by backward
//! shift, at most half full) of `(pointer, tag)` pairs under a spin lock,
//! its slots a block of the heap it serves. Every recorded pointer is
//! aligned to [`MIN_RECORDED_ALIGN`] (a chunk's to a page), and two counters
//! say whether any of each kind is recorded, so a `free` of any other
//! pointer, or of any pointer while nothing is recorded, reads two atomics
//! and takes no lock.

use core::{
    alloc::Layout,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

use crate::{CHeap, PAGE_SIZE};

/// Every aligned block recorded is aligned to at least this.
pub(crate) const MIN_RECORDED_ALIGN: usize = 32;

/// The slots of a fresh table.
const FIRST_CAPACITY: usize = 64;

/// What the registry knows of a recorded pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A chunk from [`CHeap::alloc_chunk`]: its size in bytes (a multiple
    /// of the page) and the alignment asked for the block (at most a page;
    /// a `realloc` keeps it).
    Chunk {
        /// The chunk's size.
        size: usize,
        /// The block's alignment.
        align: usize,
    },
    /// An engine block allocated with this alignment (above `MIN_ALIGN`).
    Aligned(usize),
}

impl Tag {
    /// The tag as one word: a chunk's size is a multiple of the page, so
    /// bit 0 marks a chunk and bits 1 to 5 hold its alignment's logarithm
    /// (at most 12); an alignment is a power of two of at least 32.
    fn encode(self) -> usize {
        match self {
            Self::Chunk { size, align } => size | (align.trailing_zeros() as usize) << 1 | 1,
            Self::Aligned(align) => align,
        }
    }

    fn decode(word: usize) -> Self {
        if word & 1 != 0 {
            Self::Chunk { size: word & !(PAGE_SIZE - 1), align: 1 << ((word >> 1) & 0x1f) }
        } else {
            Self::Aligned(word)
        }
    }
}

/// The table: `capacity` slots of two words (pointer, tag), 0 an empty
/// slot's pointer.
struct Table {
    slots: Option<NonNull<[usize; 2]>>,
    capacity: usize,
    len: usize,
}

// SAFETY: the slots are a heap block owned by the table alone, reached only
// under the registry's lock.
unsafe impl Send for Table {}

impl Table {
    /// The layout of a table of `capacity` slots.
    fn layout(capacity: usize) -> Option<Layout> {
        Layout::array::<[usize; 2]>(capacity).ok()
    }

    /// The home slot of `addr` (Fibonacci hashing; recorded pointers are
    /// 32-aligned, so the low five bits carry nothing).
    fn home(addr: usize, capacity: usize) -> usize {
        const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
        let hash = ((addr >> 5) as u64).wrapping_mul(GOLDEN);
        (hash >> (64 - capacity.trailing_zeros())) as usize
    }

    /// The slot `index`.
    ///
    /// # Safety
    ///
    /// `index < capacity` and the table has slots.
    unsafe fn slot(&self, index: usize) -> *mut [usize; 2] {
        debug_assert!(index < self.capacity);
        let slots = self.slots.expect("a table with capacity has slots");
        // SAFETY: the caller's contract: `index` lies in the slots' block.
        unsafe { slots.as_ptr().add(index) }
    }

    /// The slot holding `addr`, if any.
    fn find(&self, addr: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut index = Self::home(addr, self.capacity);
        loop {
            // SAFETY: `index` is masked below the capacity.
            let [key, _] = unsafe { self.slot(index).read() };
            if key == addr {
                return Some(index);
            }
            if key == 0 {
                return None;
            }
            index = (index + 1) & mask;
        }
    }

    /// Writes `(addr, word)` into the first empty slot from `addr`'s home
    /// (there is one: the table is at most half full).
    fn place(&mut self, addr: usize, word: usize) {
        let mask = self.capacity - 1;
        let mut index = Self::home(addr, self.capacity);
        // SAFETY: every index is masked below the capacity.
        unsafe {
            while (*self.slot(index))[0] != 0 {
                index = (index + 1) & mask;
            }
            self.slot(index).write([addr, word]);
        }
        self.len += 1;
    }

    /// Empties slot `index`, shifting back the entries after it that
    /// probed past it, so every entry stays reachable from its home with no
    /// empty slot between.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.capacity - 1;
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            // SAFETY: masked indices.
            let entry = unsafe { self.slot(index).read() };
            if entry[0] == 0 {
                break;
            }
            let home = Self::home(entry[0], self.capacity);
            // The entry may fill the hole iff its home is not in the cyclic
            // range (hole, index].
            if (index.wrapping_sub(home) & mask) >= (index.wrapping_sub(hole) & mask) {
                // SAFETY: masked indices.
                unsafe { self.slot(hole).write(entry) };
                hole = index;
            }
        }
        // SAFETY: a masked index.
        unsafe { self.slot(hole).write([0, 0]) };
        self.len -= 1;
    }

    /// Gives the slots of an empty table back to the heap.
    fn release<H: CHeap + ?Sized>(&mut self, heap: &H) {
        debug_assert_eq!(self.len, 0);
        let old = core::mem::replace(self, Table { slots: None, capacity: 0, len: 0 });
        if let (Some(slots), Some(layout)) = (old.slots, Self::layout(old.capacity)) {
            // SAFETY: the slots were a block of this heap with `layout`, no
            // longer used.
            unsafe { heap.dealloc(slots.cast(), layout) };
        }
    }

    /// Makes room for one more entry, moving the table to a block of the
    /// heap twice as large when it would be more than half full; `false`
    /// when the heap has no room for it.
    fn reserve<H: CHeap + ?Sized>(&mut self, heap: &H) -> bool {
        if (self.len + 1) * 2 <= self.capacity {
            return true;
        }
        let capacity = (self.capacity * 2).max(FIRST_CAPACITY);
        let Some(layout) = Self::layout(capacity) else { return false };
        let Some(block) = heap.alloc(layout) else { return false };
        // SAFETY: a fresh block of `capacity` slots, all written empty.
        unsafe { block.cast::<[usize; 2]>().as_ptr().write_bytes(0, capacity) };
        let old = core::mem::replace(self, Table { slots: Some(block.cast()), capacity, len: 0 });
        let mut old = old;
        for index in 0..old.capacity {
            // SAFETY: `index` is below the old capacity.
            let [key, word] = unsafe { old.slot(index).read() };
            if key != 0 {
                self.place(key, word);
            }
        }
        old.len = 0;
        old.release(heap);
        true
    }
}

/// The registry of the blocks a header-free C heap ([`CMalloc`](crate::CMalloc))
/// cannot size by address: huge chunks taken straight from the page source
/// and blocks aligned beyond 16.
///
/// An open-addressing hash table (linear probing, deletion by backward
/// shift, at most half full) of `(pointer, tag)` pairs under a spin lock;
/// its slots are a block of the heap it serves, given back when the last
/// record goes. Every recorded pointer is aligned to 32 (a chunk's to a
/// page), and two counters say whether any of each kind is recorded, so a
/// `free` of any other pointer, or of any pointer while nothing of its kind
/// is recorded, reads an atomic and takes no lock.
pub struct Registry {
    table: spin::Mutex<Table>,
    /// Chunks recorded (their pointers are page-aligned).
    chunks: AtomicUsize,
    /// Aligned blocks recorded (their pointers are 32-aligned at least).
    aligned: AtomicUsize,
}

impl Registry {
    /// An empty registry; its table is taken from the heap at the first
    /// record.
    pub const fn new() -> Self {
        Self {
            table: spin::Mutex::new(Table { slots: None, capacity: 0, len: 0 }),
            chunks: AtomicUsize::new(0),
            aligned: AtomicUsize::new(0),
        }
    }

    /// Whether `ptr` may be recorded. A pointer recorded before it was
    /// handed to this thread is seen: the counter rose before the handing
    /// over, which orders it.
    #[inline]
    fn may_hold(&self, ptr: NonNull<u8>) -> bool {
        let addr = ptr.as_ptr().addr();
        (addr % MIN_RECORDED_ALIGN == 0 && self.aligned.load(Ordering::Relaxed) != 0)
            || (addr % PAGE_SIZE == 0 && self.chunks.load(Ordering::Relaxed) != 0)
    }

    fn counter(&self, tag: Tag) -> &AtomicUsize {
        match tag {
            Tag::Chunk { .. } => &self.chunks,
            Tag::Aligned(_) => &self.aligned,
        }
    }

    /// Records `ptr` (aligned as [`Tag`] says: a chunk's to a page, an
    /// aligned block's to its alignment of at least 32); `false` when the
    /// table cannot grow (nothing recorded).
    pub(crate) fn record<H: CHeap + ?Sized>(&self, heap: &H, ptr: NonNull<u8>, tag: Tag) -> bool {
        debug_assert!(match tag {
            Tag::Chunk { size, align } => {
                ptr.as_ptr().addr() % PAGE_SIZE == 0 && size % PAGE_SIZE == 0 && align <= PAGE_SIZE
            }
            Tag::Aligned(align) => align >= MIN_RECORDED_ALIGN && ptr.as_ptr().addr() % align == 0,
        });
        let mut table = self.table.lock();
        if !table.reserve(heap) {
            return false;
        }
        table.place(ptr.as_ptr().addr(), tag.encode());
        self.counter(tag).fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The tag of `ptr`, if recorded.
    pub(crate) fn get(&self, ptr: NonNull<u8>) -> Option<Tag> {
        if !self.may_hold(ptr) {
            return None;
        }
        let table = self.table.lock();
        let index = table.find(ptr.as_ptr().addr())?;
        // SAFETY: `find` returns an index below the capacity.
        Some(Tag::decode(unsafe { table.slot(index).read() }[1]))
    }

    /// Forgets `ptr` and returns its tag, if recorded. The last record
    /// gone, the table goes back to the heap.
    pub(crate) fn take<H: CHeap + ?Sized>(&self, heap: &H, ptr: NonNull<u8>) -> Option<Tag> {
        if !self.may_hold(ptr) {
            return None;
        }
        let mut table = self.table.lock();
        let index = table.find(ptr.as_ptr().addr())?;
        // SAFETY: `find` returns an index below the capacity.
        let tag = Tag::decode(unsafe { table.slot(index).read() }[1]);
        table.remove_at(index);
        self.counter(tag).fetch_sub(1, Ordering::Relaxed);
        if table.len == 0 {
            table.release(heap);
        }
        Some(tag)
    }

    /// Replaces the record of `old` by one of `new` with the same tag (a
    /// reallocated aligned block that moved). Never fails: the slot freed
    /// is the slot taken.
    pub(crate) fn moved(&self, old: NonNull<u8>, new: NonNull<u8>) {
        let mut table = self.table.lock();
        if let Some(index) = table.find(old.as_ptr().addr()) {
            // SAFETY: `find` returns an index below the capacity.
            let word = unsafe { table.slot(index).read() }[1];
            table.remove_at(index);
            table.place(new.as_ptr().addr(), word);
        }
    }

    /// The records, as `(chunks, aligned blocks)`.
    pub fn counts(&self) -> (usize, usize) {
        (self.chunks.load(Ordering::Relaxed), self.aligned.load(Ordering::Relaxed))
    }

    /// Takes the lock before `fork` (with the heap's after it: the registry
    /// allocates its table under its lock, so this is the order).
    pub(crate) fn lock_for_fork(&self) {
        core::mem::forget(self.table.lock());
    }

    /// Releases the lock taken by [`lock_for_fork`](Self::lock_for_fork).
    ///
    /// # Safety
    ///
    /// This thread (or, in a fork child, its copy) holds the lock through
    /// `lock_for_fork`.
    pub(crate) unsafe fn unlock_after_fork(&self) {
        // SAFETY: the caller's contract: the lock is held and its guard was
        // forgotten.
        unsafe { self.table.force_unlock() };
    }

    /// Checks the table: every entry reachable from its home without an
    /// empty slot between, the length and the counters equal to the entries.
    ///
    /// # Panics
    ///
    /// If the table is corrupt.
    pub fn assert_valid(&self) {
        let table = self.table.lock();
        let (mut entries, mut chunks) = (0, 0);
        for index in 0..table.capacity {
            // SAFETY: `index` is below the capacity.
            let [key, word] = unsafe { table.slot(index).read() };
            if key == 0 {
                continue;
            }
            entries += 1;
            chunks += usize::from(matches!(Tag::decode(word), Tag::Chunk { .. }));
            assert_eq!(table.find(key), Some(index), "registry: entry {key:#x} unreachable from its home");
        }
        assert_eq!(entries, table.len, "registry: length");
        assert_eq!(self.counts(), (chunks, entries - chunks), "registry: counters");
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (chunks, aligned) = self.counts();
        f.debug_struct("Registry").field("chunks", &chunks).field("aligned", &aligned).finish()
    }
}
