//! Memory for the panic runtime while an engine reports a caller bug under
//! the heap's lock.
//!
//! An engine's `debug-checks` panic (through
//! [`allocator_traits::caller_bug!`]) while the thread holds the heap's lock;
//! the panic runtime then allocates its message and payload through the
//! `#[global_allocator]`, which would spin on that lock for ever. Instead, an
//! allocation that finds the lock held after a bug was reported is served from
//! this small arena (a lock-free bump; its blocks are never reused), and
//! `GlobalAlloc` never lets the panic unwind out of it (unwinding out of a
//! global allocator is undefined behaviour): it aborts.

use core::{
    alloc::Layout,
    cell::UnsafeCell,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Enough for a panic message, its payload and the runtime's bookkeeping.
const ARENA_SIZE: usize = 16 * 1024;

#[repr(C, align(4096))]
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_SIZE]>,
    /// The offset of the first byte never handed out.
    next: AtomicUsize,
}

// SAFETY: `next` hands every byte range out at most once (an atomic bump), so
// no two threads ever share a range of `bytes`.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena { bytes: UnsafeCell::new([0; ARENA_SIZE]), next: AtomicUsize::new(0) };

/// A block for `layout` from the arena, or `None` once it is used up.
pub(crate) fn alloc(layout: Layout) -> Option<NonNull<u8>> {
    let base = ARENA.bytes.get().cast::<u8>();
    let mut next = ARENA.next.load(Ordering::Relaxed);
    loop {
        let start = (base.addr() + next).checked_next_multiple_of(layout.align())? - base.addr();
        let end = start.checked_add(layout.size().max(1))?;
        if end > ARENA_SIZE {
            return None;
        }
        match ARENA.next.compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed) {
            // SAFETY: `start < end <= ARENA_SIZE`: inside the arena, and the
            // range is ours alone (the exchange claimed it).
            Ok(_) => return NonNull::new(unsafe { base.add(start) }),
            Err(current) => next = current,
        }
    }
}

/// Whether `ptr` is a block of the arena (never freed: its frees are ignored).
pub(crate) fn holds(ptr: NonNull<u8>) -> bool {
    let base = ARENA.bytes.get().addr();
    (base..base + ARENA_SIZE).contains(&ptr.as_ptr().addr())
}

/// Aborts the process (or kernel) if dropped during unwinding: held across
/// every `GlobalAlloc` method and forgotten on return, so a panic (a caller
/// bug an engine reported) never unwinds out of one. A panic in a destructor
/// during unwinding aborts.
pub(crate) struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        panic!("allocator-global: a panic would unwind out of GlobalAlloc: aborting");
    }
}
