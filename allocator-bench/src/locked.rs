//! The contestants of the threads suite: each allocator shared by every
//! thread behind a lock, through `GlobalAlloc`, as a kernel's global
//! allocator runs.
//!
//! Each names its single-threaded counterpart in
//! [`contestants::all`](crate::contestants::all) (`counterpart`), so
//! `--backend` and `--skip` select it with that one and the charts colour it
//! by the same family: `tlsf` selects `tlsf` and `tlsf-percpu`, `slab`
//! selects `slab` and `slab-percpu`, and `system` selects glibc's malloc and
//! mimalloc (the two allocators not bound to the pool).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    marker::PhantomData,
    ops::Deref,
    ptr::{self, NonNull},
};

use allocator_global::{DefaultRawMutex, GlobalAllocator, NoSource, PerCpu, ThreadSlots};

use crate::pool::Pool;

/// An allocator every thread calls at once.
pub trait SharedHeap: GlobalAlloc + Sync {
    /// The bytes of live blocks as the allocator counts them, where it does
    /// (after everything is freed this must be zero again).
    fn used_bytes(&self) -> Option<usize>;
}

/// Ours: `GlobalAllocator` over a fixed arena, with its default spin lock.
impl<B: allocator_traits::ByteAllocator + Send> SharedHeap for GlobalAllocator<B, NoSource, DefaultRawMutex> {
    fn used_bytes(&self) -> Option<usize> {
        Some(GlobalAllocator::used_bytes(self))
    }
}

/// Ours with per-CPU caches: magazines of small blocks per thread slot (8
/// slots, one per thread here) in front of a `GlobalAllocator` over a fixed
/// arena.
pub type OursPerCpu<B> = PerCpu<B, NoSource, DefaultRawMutex, ThreadSlots, PERCPU_SLOTS>;

/// The slots of [`OursPerCpu`]: more than the suites' 4 threads, so each
/// thread of a run has a slot of its own.
pub const PERCPU_SLOTS: usize = 8;

/// The blocks cached in the slots count as used by the shared heap, so the
/// count drains them first: after everything is freed it is zero again.
impl<B: allocator_traits::ByteAllocator + Send> SharedHeap for OursPerCpu<B> {
    fn used_bytes(&self) -> Option<usize> {
        self.drain();
        Some(self.statistics().used_bytes)
    }
}

/// mimalloc (the C library, built by the `mimalloc` crate): thread-local
/// heaps, frees from other threads go to the owning page's lock-free list.
impl SharedHeap for mimalloc::MiMalloc {
    fn used_bytes(&self) -> Option<usize> {
        None
    }
}

/// talc 5's locked allocator over one claimed span, with the same spin lock
/// as ours.
type TalcLocked = talc::sync::TalcLock<DefaultRawMutex, talc::source::Manual, talc::DefaultBinning>;

/// talc keeps no byte counts without its `counters` feature.
impl SharedHeap for TalcLocked {
    fn used_bytes(&self) -> Option<usize> {
        None
    }
}

/// The system allocator (glibc malloc here, with its per-thread arenas).
impl SharedHeap for System {
    fn used_bytes(&self) -> Option<usize> {
        None
    }
}

/// An ax-allocator byte allocator behind a spin lock (the same one as ours):
/// what ArceOS's `axalloc` does, minus its page allocator. ax-allocator has
/// no `realloc`, so `GlobalAlloc`'s default (alloc, copy, free, each taking
/// the lock) serves it.
pub struct AxLocked<A>(lock_api::Mutex<DefaultRawMutex, AxSend<A>>);

/// An ax allocator that may move between threads.
pub struct AxSend<A>(A);

// SAFETY: an ax allocator's only pointers point into the arena it was given,
// which nothing else uses while it lives; behind the mutex one thread at a
// time touches the allocator and its free lists, as in ArceOS, whose global
// allocator holds it in a `static` behind a spin lock.
unsafe impl<A> Send for AxSend<A> {}

// SAFETY: blocks come from the ax allocator, which hands out aligned,
// distinct blocks inside its arena and reports failure as an error (null
// here); the lock serialises every call.
unsafe impl<A: ax_allocator::ByteAllocator> GlobalAlloc for AxLocked<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().0.alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(block) = NonNull::new(ptr) {
            self.0.lock().0.dealloc(block, layout);
        }
    }
}

/// ax-allocator's `used_bytes` is no count of live blocks (its slab counts
/// the slab pages it keeps after their blocks are freed), so no guard.
impl<A: ax_allocator::ByteAllocator> SharedHeap for AxLocked<A> {
    fn used_bytes(&self) -> Option<usize> {
        None
    }
}

/// Makes a shared contestant over `[base, base + size)`.
///
/// Safety: the region is valid, writable, used by nothing else while the
/// contestant lives, and `base` carries the pool's provenance.
type MakeFn = unsafe fn(NonNull<u8>, usize) -> Result<Box<dyn SharedHeap>, String>;

/// A contestant of the threads suite.
pub struct LockedBackend {
    /// The name printed in the tables.
    pub name: &'static str,
    /// The name of its single-threaded counterpart, which selects it.
    pub counterpart: &'static str,
    /// What it is, lock included.
    pub about: &'static str,
    make: MakeFn,
}

impl LockedBackend {
    /// A fresh contestant over the whole of `pool`.
    pub fn instantiate<'p>(&self, pool: &'p mut Pool) -> Result<LockedInstance<'p>, String> {
        // SAFETY: `pool` is borrowed mutably for as long as the instance
        // lives, so nothing else uses its bytes meanwhile; `base()` carries
        // the provenance of the whole pool.
        let inner = unsafe { (self.make)(pool.base(), pool.size()) }?;
        Ok(LockedInstance { inner, _pool: PhantomData })
    }
}

/// A live shared contestant, borrowing its pool.
pub struct LockedInstance<'p> {
    inner: Box<dyn SharedHeap>,
    _pool: PhantomData<&'p mut Pool>,
}

impl Deref for LockedInstance<'_> {
    type Target = dyn SharedHeap;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

/// Our `B` in a `GlobalAllocator` initialised over the region.
///
/// # Safety
///
/// As for [`MakeFn`].
unsafe fn make_ours<B: allocator_traits::ByteAllocator + Default + Send + 'static>(
    base: NonNull<u8>,
    size: usize,
) -> Result<Box<dyn SharedHeap>, String> {
    let heap = Box::new(GlobalAllocator::new(B::default(), NoSource));
    // SAFETY: the region is ours alone (caller's contract); its address is
    // exposed so the allocator can rebuild a pointer from it.
    unsafe { heap.init(base.as_ptr().expose_provenance(), size) }.map_err(|e| format!("init: {e}"))?;
    Ok(heap)
}

/// Our `B` in a `GlobalAllocator` initialised over the region, behind
/// per-CPU caches.
///
/// # Safety
///
/// As for [`MakeFn`].
unsafe fn make_percpu<B: allocator_traits::ByteAllocator + Default + Send + 'static>(
    base: NonNull<u8>,
    size: usize,
) -> Result<Box<dyn SharedHeap>, String> {
    let heap = Box::new(OursPerCpu::new(GlobalAllocator::new(B::default(), NoSource)));
    // SAFETY: the region is ours alone (caller's contract); its address is
    // exposed so the allocator can rebuild a pointer from it.
    unsafe { heap.heap().init(base.as_ptr().expose_provenance(), size) }.map_err(|e| format!("init: {e}"))?;
    Ok(heap)
}

/// mimalloc; the pool is left alone.
///
/// # Safety
///
/// None needed; the signature is [`MakeFn`]'s.
unsafe fn make_mimalloc(_: NonNull<u8>, _: usize) -> Result<Box<dyn SharedHeap>, String> {
    Ok(Box::new(mimalloc::MiMalloc))
}

/// talc's locked allocator, having claimed the region.
///
/// # Safety
///
/// As for [`MakeFn`].
unsafe fn make_talc(base: NonNull<u8>, size: usize) -> Result<Box<dyn SharedHeap>, String> {
    let talc = Box::new(TalcLocked::new(talc::source::Manual));
    // SAFETY: the region is ours alone while talc lives.
    unsafe { talc.lock().claim(base.as_ptr(), size) }.ok_or("claim failed")?;
    Ok(talc)
}

/// The system allocator; the pool is left alone.
///
/// # Safety
///
/// None needed; the signature is [`MakeFn`]'s.
unsafe fn make_system(_: NonNull<u8>, _: usize) -> Result<Box<dyn SharedHeap>, String> {
    Ok(Box::new(System))
}

/// An ax allocator, initialised over the region, behind a spin lock.
///
/// # Safety
///
/// As for [`MakeFn`].
unsafe fn make_ax<A: ax_allocator::ByteAllocator + Default + 'static>(
    base: NonNull<u8>,
    size: usize,
) -> Result<Box<dyn SharedHeap>, String> {
    let mut allocator = A::default();
    // The pool is page-aligned and a multiple of 32 KiB (whole MiB), which is
    // all ax's `init` asserts.
    allocator.init(base.as_ptr().expose_provenance(), size);
    Ok(Box::new(AxLocked(lock_api::Mutex::new(AxSend(allocator)))))
}

/// Every contestant of the threads suite, ours first, in table order.
pub fn all() -> Vec<LockedBackend> {
    vec![
        LockedBackend {
            name: "tlsf",
            counterpart: "tlsf",
            about: "GlobalAllocator<TlsfByteAllocator> (spin lock, fixed arena)",
            make: make_ours::<allocator_tlsf::TlsfByteAllocator>,
        },
        LockedBackend {
            name: "tlsf-percpu",
            counterpart: "tlsf",
            about: "PerCpu<TlsfByteAllocator, NoSource, spin, ThreadSlots, 8>: per-thread magazines (<= 4 KiB, \
                    align <= 16) and a depot of batches over the tlsf row's heap",
            make: make_percpu::<allocator_tlsf::TlsfByteAllocator>,
        },
        LockedBackend {
            name: "buddy",
            counterpart: "buddy",
            about: "GlobalAllocator<BuddyByteAllocator> (spin lock, fixed arena)",
            make: make_ours::<allocator_buddy::BuddyByteAllocator>,
        },
        LockedBackend {
            name: "slab",
            counterpart: "slab",
            about: "GlobalAllocator<SlabByteAllocator> over our TLSF (spin lock, fixed arena)",
            make: make_ours::<allocator_slab::SlabByteAllocator>,
        },
        LockedBackend {
            name: "slab-percpu",
            counterpart: "slab",
            about: "PerCpu<SlabByteAllocator, NoSource, spin, ThreadSlots, 8>: per-thread magazines over the slab \
                    row's heap",
            make: make_percpu::<allocator_slab::SlabByteAllocator>,
        },
        LockedBackend {
            name: "slab-buddy",
            counterpart: "slab-buddy",
            about: "GlobalAllocator<SlabByteAllocator<BuddyByteAllocator>> (spin lock, fixed arena)",
            make: make_ours::<allocator_slab::SlabByteAllocator<allocator_buddy::BuddyByteAllocator>>,
        },
        LockedBackend {
            name: "ax-tlsf",
            counterpart: "ax-tlsf",
            about: "ax_allocator::TlsfByteAllocator behind the same spin lock",
            make: make_ax::<ax_allocator::TlsfByteAllocator>,
        },
        LockedBackend {
            name: "ax-slab",
            counterpart: "ax-slab",
            about: "ax_allocator::SlabByteAllocator behind the same spin lock",
            make: make_ax::<ax_allocator::SlabByteAllocator>,
        },
        LockedBackend {
            name: "talc",
            counterpart: "talc",
            about: "talc 5.1 TalcLock (lock_api, the same spin lock) over one claimed span",
            make: make_talc,
        },
        LockedBackend {
            name: "system",
            counterpart: "system",
            about: "std::alloc::System (glibc malloc, per-thread arenas); not pool-bound",
            make: make_system,
        },
        LockedBackend {
            name: "mimalloc",
            counterpart: "system",
            about: "mimalloc 3.3 (the mimalloc crate 0.1.52, default features off): per-thread heaps; not pool-bound",
            make: make_mimalloc,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool of each contestant: small under Miri, which interprets
    /// every byte's state.
    const POOL_BYTES: usize = if cfg!(miri) { 512 << 10 } else { 1 << 20 };

    #[test]
    fn every_locked_contestant_serves_two_threads_and_counts_back_to_zero() {
        let names: Vec<&str> = crate::contestants::all().iter().map(|b| b.name).collect();
        for backend in all() {
            // Miri interprets Rust only: mimalloc is C.
            if cfg!(miri) && backend.name == "mimalloc" {
                continue;
            }
            // A fresh pool each: under Miri one 1 MiB pool handed to every
            // contestant in turn exhausts the interpreter's memory.
            let mut pool = Pool::new(POOL_BYTES).unwrap();
            assert!(
                names.contains(&backend.counterpart),
                "{} has no single-threaded counterpart",
                backend.name
            );
            let heap = backend.instantiate(&mut pool).unwrap();
            let heap: &dyn SharedHeap = &*heap;
            std::thread::scope(|s| {
                for t in 0..2u8 {
                    s.spawn(move || {
                        let layout = Layout::from_size_align(100, 16).unwrap();
                        // SAFETY: a non-zero-size layout; the block is
                        // written inside its bounds, resized and freed with
                        // its current layout.
                        unsafe {
                            let p = heap.alloc(layout);
                            assert!(!p.is_null() && p.addr() % 16 == 0, "{}", backend.name);
                            p.write(t);
                            let q = heap.realloc(p, layout, 3000);
                            assert!(!q.is_null(), "{}", backend.name);
                            assert_eq!(q.read(), t, "{}: realloc keeps the contents", backend.name);
                            heap.dealloc(q, Layout::from_size_align(3000, 16).unwrap());
                        }
                    });
                }
            });
            assert!(matches!(heap.used_bytes(), None | Some(0)), "{}: {:?}", backend.name, heap.used_bytes());
        }
    }
}
