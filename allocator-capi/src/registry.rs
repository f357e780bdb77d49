//! The blocks whose size the engine cannot find from their address: chunks
//! taken straight from the page source, and blocks aligned beyond
//! [`MIN_ALIGN`](crate::MIN_ALIGN) (an engine such as TLSF finds a block's
//! header from its alignment). [`CMalloc`](crate::CMalloc) records them here,
//! so no block needs a header.
//!
//! An open-addressing hash table (linear probing, deletion by backward
//! shift, at most half full: an [`AddressTable`]) of `(pointer, tag)` pairs
//! under a spin lock, its slots a block of the heap it serves. Every
//! recorded pointer is aligned to [`MIN_RECORDED_ALIGN`] (a chunk's to a
//! page), and two counters say whether any of each kind is recorded, so a
//! `free` of any other pointer, or of any pointer while nothing is
//! recorded, reads two atomics and takes no lock.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

use allocator_traits::address_table::AddressTable;

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

/// The table: entries `[pointer, tag word]`, the pointer the key (32-aligned,
/// so nothing of its own in the low five bits).
type Table = AddressTable<2, { MIN_RECORDED_ALIGN.trailing_zeros() }>;

/// Makes room in `table` for one more entry, moving it to a block of the
/// heap twice as large when it would be more than half full; `false` when
/// the heap has no room for it.
fn reserve<H: CHeap + ?Sized>(table: &mut Table, heap: &H) -> bool {
    let capacity = table.capacity_for_one_more(FIRST_CAPACITY);
    if capacity == table.capacity() {
        return true;
    }
    let Some(layout) = Table::layout(capacity) else { return false };
    let Some(block) = heap.alloc(layout) else { return false };
    // SAFETY: a fresh block of the heap with the table's layout for
    // `capacity` (a power of two, at least twice the entries), used by
    // nothing else while the table holds it.
    if let Some((old, old_layout)) = unsafe { table.rehash_into(block, capacity) } {
        // SAFETY: the old table, a block of this heap with `old_layout`,
        // whose entries moved over.
        unsafe { heap.dealloc(old, old_layout) };
    }
    true
}

/// Gives the block of `table` back to the heap once it holds no entry.
fn release_if_empty<H: CHeap + ?Sized>(table: &mut Table, heap: &H) {
    if let Some((old, layout)) = table.take_if_empty() {
        // SAFETY: the table's block, a block of this heap with `layout`, no
        // longer used.
        unsafe { heap.dealloc(old, layout) };
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
            table: spin::Mutex::new(Table::EMPTY),
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
        if !reserve(&mut table, heap) {
            return false;
        }
        table.insert([ptr.as_ptr().addr(), tag.encode()]);
        self.counter(tag).fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The tag of `ptr`, if recorded. Inlined up to the lookup, which only
    /// a pointer that may be recorded reaches.
    #[inline]
    pub(crate) fn get(&self, ptr: NonNull<u8>) -> Option<Tag> {
        if !self.may_hold(ptr) {
            return None;
        }
        self.look_up(ptr)
    }

    #[inline(never)]
    fn look_up(&self, ptr: NonNull<u8>) -> Option<Tag> {
        let [_, word] = self.table.lock().get(ptr.as_ptr().addr())?;
        Some(Tag::decode(word))
    }

    /// Forgets `ptr` and returns its tag, if recorded. The last record
    /// gone, the table goes back to the heap. Inlined up to the lookup, as
    /// [`get`](Self::get).
    #[inline]
    pub(crate) fn take<H: CHeap + ?Sized>(&self, heap: &H, ptr: NonNull<u8>) -> Option<Tag> {
        if !self.may_hold(ptr) {
            return None;
        }
        self.take_recorded(heap, ptr)
    }

    #[inline(never)]
    fn take_recorded<H: CHeap + ?Sized>(&self, heap: &H, ptr: NonNull<u8>) -> Option<Tag> {
        let mut table = self.table.lock();
        let [_, word] = table.remove(ptr.as_ptr().addr())?;
        let tag = Tag::decode(word);
        self.counter(tag).fetch_sub(1, Ordering::Relaxed);
        release_if_empty(&mut table, heap);
        Some(tag)
    }

    /// Replaces the record of `old` by one of `new` with the same tag (a
    /// reallocated aligned block that moved). Never fails: the slot freed
    /// is the slot taken.
    pub(crate) fn moved(&self, old: NonNull<u8>, new: NonNull<u8>) {
        let mut table = self.table.lock();
        if let Some([_, word]) = table.remove(old.as_ptr().addr()) {
            table.insert([new.as_ptr().addr(), word]);
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

    /// Checks the table ([`AddressTable::assert_valid`]: every entry
    /// reachable from its home without an empty slot between, the length
    /// equal to the entries, at most half full), that it has no block
    /// without records, and that the counters equal the entries of each
    /// kind.
    ///
    /// # Panics
    ///
    /// If the table is corrupt.
    pub fn assert_valid(&self) {
        let table = self.table.lock();
        table.assert_valid();
        assert_eq!(table.capacity() == 0, table.is_empty(), "registry: a table without records");
        let chunks =
            table.entries().filter(|(_, [_, word])| matches!(Tag::decode(*word), Tag::Chunk { .. })).count();
        assert_eq!(self.counts(), (chunks, table.len() - chunks), "registry: counters");
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
