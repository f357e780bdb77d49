//! The workspace's heaps as a process's C `malloc`, for `LD_PRELOAD` on
//! Linux:
//!
//! ```sh
//! cargo build --release -p allocator-malloc                      # slab (default)
//! cargo build --release -p allocator-malloc --no-default-features --features tlsf
//! LD_PRELOAD=target/release/liballocator_malloc.so python3 -c 'print(sum(range(10**6)))'
//! ```
//!
//! The heap is one `static`
//! `GlobalAllocator<Engine, MmapSource, YieldLock>` (see [`allocator_global`]):
//!
//! - **Engine**, chosen by feature: `slab` (default, `SlabByteAllocator`
//!   over TLSF with the `MallocClasses` table, whose slab index finds a
//!   block's size from its address), `tlsf` or `buddy`. Over slab and TLSF
//!   the heap is a `CMalloc` and no block carries a header; over buddy
//!   (which cannot find sizes) and behind the per-thread caches every block
//!   has a 16-byte header.
//! - **Growth and trim**: chunks from `mmap` (64 KiB first, doubling to
//!   8 MiB); a chunk that becomes wholly free is unmapped while more than
//!   `KEEP_FREE` (2 MiB) stays free. Blocks of 256 KiB and more are
//!   mappings of their own, unmapped by `free` (so they never stay
//!   resident), and `calloc` of such a block writes nothing (mappings are
//!   zero-filled).
//! - **Lock**: `YieldLock`, a spin lock that yields the CPU after a few
//!   spins (a pure spin lock wastes a core's timeslice when the holder is
//!   descheduled), one for the whole heap.
//! - **Per-thread caches** (feature `percpu`, off by default): `PerCpu` with
//!   `ThreadSlots` and 8 slots in front of the locked heap, so most
//!   allocations of up to 4 KiB take no shared lock. Its slot and depot
//!   flags are only ever try-locked (a busy one is bypassed), so a flag
//!   copied held into a fork child costs that child the slot's cache, never
//!   a wait. `ThreadSlots` keeps the slot index in a `const` thread-local
//!   with no destructor, which in a library loaded at start-up (as
//!   `LD_PRELOAD` loads it) lives in the static TLS block: reading it never
//!   allocates. (A library `dlopen`ed later could allocate on its first TLS
//!   access: use it through `LD_PRELOAD` only.)
//! - **errno**: `*__errno_location()`.
//! - **fork**: `pthread_atfork` handlers registered when the library loads
//!   take the heap's lock before `fork` and release it in the parent and the
//!   child ([`GlobalAllocator::fork_prepare`](allocator_global::GlobalAllocator::fork_prepare)),
//!   so a child forked while other threads allocate finds a consistent heap.
//!   glibc runs prepare handlers in reverse order of registration, and the
//!   parent and child handlers in order: handlers registered after ours (by
//!   the program at run time, typically) run while the lock is free and may
//!   allocate. A prepare handler registered *before* ours (by the
//!   constructor of a library the program links, which the loader runs
//!   before a preloaded library's) runs while the lock is held: if it
//!   allocates, the fork deadlocks. (glibc's own malloc takes its locks inside
//!   `fork`, after every handler; a preloaded library cannot.)
//!
//! Nothing in here allocates through the heap while it holds the lock (no
//! formatting, no thread-locals, no `std` collections), and a panic cannot
//! unwind out of an `extern "C"` function: it aborts the process.
//!
//! The C rules (`malloc(0)`, `realloc(p, 0)`, errno values, which blocks
//! carry a header) are [`allocator_capi`]'s.
#![cfg_attr(not(target_os = "linux"), allow(unused))]

#[cfg(target_os = "linux")]
mod linux {
    use core::sync::atomic::{AtomicBool, Ordering};

    #[cfg(not(feature = "percpu"))]
    use allocator_capi::CMalloc;
    use allocator_capi::Errno;
    use allocator_global::{GlobalAllocator, GrowthPolicy, MmapSource};
    #[cfg(feature = "percpu")]
    use allocator_global::{PerCpu, ThreadSlots};

    #[cfg(feature = "slab")]
    type Engine =
        allocator_slab::SlabByteAllocator<allocator_tlsf::TlsfByteAllocator, allocator_slab::MallocClasses>;
    #[cfg(all(feature = "tlsf", not(feature = "slab")))]
    type Engine = allocator_tlsf::TlsfByteAllocator;
    #[cfg(all(feature = "buddy", not(any(feature = "slab", feature = "tlsf"))))]
    type Engine = allocator_buddy::BuddyByteAllocator;

    /// Free bytes kept before wholly free chunks are unmapped.
    pub const KEEP_FREE: usize = 2 << 20;

    /// The growth and trim policy: chunks of 64 KiB doubling to 8 MiB,
    /// `KEEP_FREE` bytes kept.
    const POLICY: GrowthPolicy = GrowthPolicy::new(64 << 10, 8 << 20).with_keep_free(KEEP_FREE);

    /// A spin lock that calls `sched_yield` after 64 failed spins.
    pub struct YieldLock(AtomicBool);

    // SAFETY: `lock` returns only once it swapped the flag from false to
    // true (acquire), `unlock` stores false (release): one holder at a time.
    unsafe impl lock_api::RawMutex for YieldLock {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: Self = Self(AtomicBool::new(false));
        type GuardMarker = lock_api::GuardSend;

        #[inline]
        fn lock(&self) {
            let mut spins = 0u32;
            while !self.try_lock() {
                while self.0.load(Ordering::Relaxed) {
                    spins += 1;
                    if spins < 64 {
                        core::hint::spin_loop();
                    } else {
                        // SAFETY: `sched_yield` has no preconditions.
                        unsafe { libc::sched_yield() };
                    }
                }
            }
        }

        #[inline]
        fn try_lock(&self) -> bool {
            self.0.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        }

        #[inline]
        unsafe fn unlock(&self) {
            self.0.store(false, Ordering::Release);
        }
    }

    /// The locked heap.
    type Locked = GlobalAllocator<Engine, MmapSource, YieldLock>;

    /// The locked heap, from a fresh engine.
    const fn locked() -> Locked {
        #[cfg(feature = "slab")]
        let engine = Engine::with_classes(allocator_tlsf::TlsfByteAllocator::new());
        #[cfg(not(feature = "slab"))]
        let engine = Engine::new();
        GlobalAllocator::with_policy(engine, MmapSource::new(), POLICY)
    }

    /// The process's heap: per-thread caches in front of the locked heap.
    #[cfg(feature = "percpu")]
    pub static HEAP: PerCpu<Engine, MmapSource, YieldLock, ThreadSlots, 8> = PerCpu::new(locked());

    /// The process's heap, with no header before any block where the engine
    /// finds sizes (TLSF, the slab's `MallocClasses`).
    #[cfg(not(feature = "percpu"))]
    pub static HEAP: CMalloc<Locked> = CMalloc::new(locked());

    /// errno, through glibc's per-thread slot.
    fn set_errno(error: Errno) {
        // SAFETY: `__errno_location` returns the calling thread's errno slot,
        // valid for the thread's life.
        unsafe { *libc::__errno_location() = error.code() };
    }

    allocator_capi::c_malloc!(HEAP, errno = set_errno);

    /// What the fork handlers lock: the locked heap under the per-thread
    /// caches, or the `CMalloc` (its registry, then its heap). Both have
    /// `fork_prepare`, `fork_parent` and `fork_child`.
    #[cfg(feature = "percpu")]
    fn forked() -> &'static Locked {
        HEAP.heap()
    }

    /// As above, without the per-thread caches.
    #[cfg(not(feature = "percpu"))]
    fn forked() -> &'static CMalloc<Locked> {
        &HEAP
    }

    /// `pthread_atfork` prepare handler: takes the heap's locks.
    extern "C" fn fork_prepare() {
        // SAFETY: glibc calls it in the forking thread before the fork, which
        // is not inside the heap (a `malloc` does not fork); one of the two
        // handlers below follows in each process.
        unsafe { forked().fork_prepare() }
    }

    /// `pthread_atfork` parent handler: releases the locks.
    extern "C" fn fork_parent() {
        // SAFETY: `fork_prepare` ran in this thread before the fork.
        unsafe { forked().fork_parent() }
    }

    /// `pthread_atfork` child handler: releases the locks copied held.
    extern "C" fn fork_child() {
        // SAFETY: the child of a fork made after `fork_prepare`, before
        // anything else runs in it.
        unsafe { forked().fork_child() }
    }

    /// Runs when the library is loaded (before `main`): registers the fork
    /// handlers.
    extern "C" fn register_fork_handlers() {
        // SAFETY: three `extern "C" fn()` handlers valid for the process's
        // life (the library is never unloaded while a fork may run).
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    }

    /// The loader's constructor list: `register_fork_handlers` at load time.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static REGISTER: extern "C" fn() = register_fork_handlers;
}
