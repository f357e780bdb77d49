//! [`IrqSafeSpin`]: an interrupt-safe lock for a kernel's
//! [`GlobalAllocator`](crate::GlobalAllocator), and the ready
//! [`InterruptControl`]s of three architectures.

use core::{
    cell::UnsafeCell,
    fmt,
    marker::PhantomData,
    mem::MaybeUninit,
    sync::atomic::{AtomicBool, Ordering},
};

/// Masking and restoring the current CPU's interrupts, implemented by a
/// kernel for its architecture (or taken from the ready implementations).
///
/// # Safety
///
/// [`disable`](Self::disable) must mask every interrupt whose handler may
/// take a lock that uses this implementation, on the current CPU, before it
/// returns, and keep them masked until the matching
/// [`restore`](Self::restore); `restore` must put back exactly the state
/// `disable` returned (enabling interrupts only if they were enabled). Both
/// act as compiler barriers for memory accesses (an `asm!` without `nomem`
/// does). Code holding an [`IrqSafeSpin`] may rely on all this: for example
/// to touch per-CPU data that an interrupt handler on the same CPU also uses.
pub unsafe trait InterruptControl {
    /// What [`disable`](Self::disable) saw (for example the interrupt-enable
    /// bit), given back to [`restore`](Self::restore).
    type State: Copy;

    /// Masks the current CPU's interrupts and returns the state before.
    fn disable() -> Self::State;

    /// Puts back the state `state`.
    ///
    /// # Safety
    ///
    /// `state` was returned by [`disable`](Self::disable) on this CPU, and
    /// every `disable` after it on this CPU has been restored already
    /// (restores happen in the reverse order of the disables); code after
    /// this call must be ready to take the interrupts it enables.
    unsafe fn restore(state: Self::State);
}

/// A spin lock that masks the local CPU's interrupts while it is held, as a
/// [`lock_api::RawMutex`]: the lock parameter `R` of a kernel's
/// [`GlobalAllocator`](crate::GlobalAllocator) whose heap interrupt handlers
/// use.
///
/// A plain spin lock around a kernel heap deadlocks as soon as an interrupt
/// handler allocates: the handler interrupts code on the same CPU that holds
/// the lock and spins forever on it. `IrqSafeSpin<I>` masks local interrupts
/// (through the kernel's [`InterruptControl`] `I`) before it takes the lock
/// and restores the previous state after it releases it, so a handler can
/// only run on this CPU while the lock is free; handlers on other CPUs wait
/// for it as any other holder would.
///
/// Ready implementations of [`InterruptControl`], each compiled on its
/// architecture only: [`Riscv64Sie`] (`sstatus.SIE`, a supervisor-mode
/// kernel), [`Aarch64Daif`] (`DAIF.I` and `DAIF.F`, EL1) and
/// [`X86_64InterruptFlag`] (`RFLAGS.IF`, ring 0). [`ArchInterrupts`] names the
/// one of the target architecture.
///
/// ```
/// use allocator_global::{GlobalAllocator, InterruptControl, IrqSafeSpin, NoSource};
/// use allocator_tlsf::TlsfByteAllocator;
///
/// /// A kernel's own interrupt control (here a stand-in that does nothing,
/// /// as for a host program with no interrupts).
/// struct NoInterrupts;
///
/// // SAFETY: the program has no interrupt handlers to mask.
/// unsafe impl InterruptControl for NoInterrupts {
///     type State = ();
///     fn disable() {}
///     unsafe fn restore(_state: ()) {}
/// }
///
/// static HEAP: GlobalAllocator<TlsfByteAllocator, NoSource, IrqSafeSpin<NoInterrupts>> =
///     GlobalAllocator::new(TlsfByteAllocator::new(), NoSource);
/// ```
///
/// # Nesting
///
/// The state before the lock is saved inside the lock by its holder (lock_api's
/// `unlock` takes no argument). Several interrupt-safe locks nest as
/// `spin_lock_irqsave` does in Linux: the first saves "enabled", the inner
/// ones "disabled", and releasing them in the reverse order of taking them
/// (what dropping nested guards does) enables interrupts again only when the
/// outermost is released. Releasing the outer lock first would enable
/// interrupts while the inner one is still held; do not.
///
/// While it waits for the lock, the CPU runs with its interrupts as they were
/// before (only the attempts to take it mask them), so a contended lock does
/// not delay this CPU's interrupts.
///
/// Its guards are not `Send`: the state saved is the current CPU's, and must
/// be restored on that CPU.
pub struct IrqSafeSpin<I: InterruptControl> {
    locked: AtomicBool,
    /// The holder's interrupt state from before it took the lock; written
    /// by the holder after taking the lock, read by it before releasing it.
    saved: UnsafeCell<MaybeUninit<I::State>>,
    _interrupts: PhantomData<fn() -> I>,
}

// SAFETY: `saved` is only reached by the holder of the lock (written after
// the `Acquire` that took it, read before the `Release` that frees it), so
// two threads never touch it at once; the state moves between holders on
// possibly different CPUs, so it must be `Send`.
unsafe impl<I: InterruptControl> Sync for IrqSafeSpin<I> where I::State: Send {}

impl<I: InterruptControl> IrqSafeSpin<I> {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            saved: UnsafeCell::new(MaybeUninit::uninit()),
            _interrupts: PhantomData,
        }
    }

    /// Masks interrupts and tries to take the lock once; on success the
    /// previous interrupt state is saved in the lock, on failure it is
    /// restored.
    fn try_take(&self) -> bool {
        let state = I::disable();
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // SAFETY: we hold the lock, so nobody else reaches `saved`.
            unsafe { (*self.saved.get()).write(state) };
            true
        } else {
            // SAFETY: `state` came from the `disable` just above on this CPU,
            // the last one not restored yet.
            unsafe { I::restore(state) };
            false
        }
    }
}

impl<I: InterruptControl> Default for IrqSafeSpin<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: InterruptControl> fmt::Debug for IrqSafeSpin<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqSafeSpin").field("locked", &self.locked.load(Ordering::Relaxed)).finish()
    }
}

// SAFETY: `locked` is taken with an `Acquire` compare-exchange from `false`
// to `true` and freed with a `Release` store, so one holder at a time, and
// what a holder wrote is seen by the next. Guards are `!Send`
// (`GuardNoSend`), as the saved interrupt state belongs to the CPU that took
// the lock.
unsafe impl<I: InterruptControl> lock_api::RawMutex for IrqSafeSpin<I> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();

    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        while !self.try_take() {
            // Wait with interrupts as they were; mask them only to take it.
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }

    fn try_lock(&self) -> bool {
        self.try_take()
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (`unlock`'s contract), so the
        // state was written when it was taken, and nobody else reaches it
        // until the store below.
        let state = unsafe { (*self.saved.get()).assume_init_read() };
        self.locked.store(false, Ordering::Release);
        // SAFETY: `state` came from the `disable` of the `lock` this unlock
        // ends, on this CPU (guards are `!Send`); inner locks were released
        // first (the nesting rule of `IrqSafeSpin`'s documentation).
        unsafe { I::restore(state) };
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

/// `sstatus.SIE` of a RISC-V kernel in supervisor mode (under OpenSBI, for
/// example): masks every supervisor interrupt (timer, software, external).
#[derive(Debug, Clone, Copy)]
pub struct Riscv64Sie;

// SAFETY: `csrrci` clears `sstatus.SIE` and returns the old `sstatus` in one
// instruction; with SIE clear no supervisor interrupt is taken in S-mode.
// `restore` sets SIE again only if it was set. Both asm blocks may touch
// memory (no `nomem`), so they are compiler barriers.
#[cfg(target_arch = "riscv64")]
unsafe impl InterruptControl for Riscv64Sie {
    /// Whether `sstatus.SIE` was set.
    type State = bool;

    #[inline]
    fn disable() -> bool {
        let sstatus: usize;
        // SAFETY: clearing `sstatus.SIE` only masks interrupts.
        unsafe { core::arch::asm!("csrrci {0}, sstatus, 2", out(reg) sstatus, options(nostack)) };
        sstatus & 2 != 0
    }

    #[inline]
    unsafe fn restore(enabled: bool) {
        if enabled {
            // SAFETY: the caller's contract: interrupts were enabled before
            // the matching `disable`, and the code after is ready for them.
            unsafe { core::arch::asm!("csrsi sstatus, 2", options(nostack)) };
        }
    }
}

/// `DAIF.I` and `DAIF.F` of an AArch64 kernel at EL1: masks IRQs and FIQs.
#[derive(Debug, Clone, Copy)]
pub struct Aarch64Daif;

// SAFETY: `msr daifset, #3` masks IRQ and FIQ on this core (a context
// synchronizing write for these bits); `restore` writes the saved DAIF back
// whole. Both asm blocks may touch memory (no `nomem`), so they are compiler
// barriers.
#[cfg(target_arch = "aarch64")]
unsafe impl InterruptControl for Aarch64Daif {
    /// The `DAIF` register before.
    type State = u64;

    #[inline]
    fn disable() -> u64 {
        let daif: u64;
        // SAFETY: reading DAIF and masking IRQ and FIQ only masks interrupts.
        unsafe { core::arch::asm!("mrs {0}, daif", "msr daifset, #3", out(reg) daif, options(nostack)) };
        daif
    }

    #[inline]
    unsafe fn restore(daif: u64) {
        // SAFETY: the caller's contract: `daif` is this core's state before
        // the matching `disable`, and the code after is ready for it.
        unsafe { core::arch::asm!("msr daif, {0}", in(reg) daif, options(nostack)) };
    }
}

/// `RFLAGS.IF` of an x86-64 kernel in ring 0: masks maskable interrupts
/// (not NMIs: an NMI handler must not allocate).
#[derive(Debug, Clone, Copy)]
pub struct X86_64InterruptFlag;

// SAFETY: `cli` clears `RFLAGS.IF`, after which no maskable interrupt is
// delivered; `restore` executes `sti` only if IF was set. Both asm blocks may
// touch memory (no `nomem`), so they are compiler barriers.
#[cfg(target_arch = "x86_64")]
unsafe impl InterruptControl for X86_64InterruptFlag {
    /// Whether `RFLAGS.IF` was set.
    type State = bool;

    #[inline]
    fn disable() -> bool {
        let rflags: u64;
        // SAFETY: reading RFLAGS (through the stack) and `cli` (ring 0) only
        // mask interrupts.
        unsafe { core::arch::asm!("pushfq", "pop {0}", "cli", out(reg) rflags) };
        rflags & (1 << 9) != 0
    }

    #[inline]
    unsafe fn restore(enabled: bool) {
        if enabled {
            // SAFETY: the caller's contract: interrupts were enabled before
            // the matching `disable`, and the code after is ready for them.
            unsafe { core::arch::asm!("sti", options(nostack)) };
        }
    }
}

/// The ready [`InterruptControl`] of the target architecture.
#[cfg(target_arch = "riscv64")]
pub type ArchInterrupts = Riscv64Sie;
/// The ready [`InterruptControl`] of the target architecture.
#[cfg(target_arch = "aarch64")]
pub type ArchInterrupts = Aarch64Daif;
/// The ready [`InterruptControl`] of the target architecture.
#[cfg(target_arch = "x86_64")]
pub type ArchInterrupts = X86_64InterruptFlag;

#[cfg(test)]
mod tests {
    extern crate std;

    use core::cell::Cell;
    use std::{sync::Arc, thread, vec::Vec};

    use lock_api::RawMutex;

    use super::*;

    std::thread_local! {
        /// This "CPU"'s (thread's) interrupt-enable flag and counters.
        static ENABLED: Cell<bool> = const { Cell::new(true) };
        static DISABLES: Cell<usize> = const { Cell::new(0) };
        static RESTORES: Cell<usize> = const { Cell::new(0) };
    }

    /// A fake interrupt controller: each thread is a CPU with a flag.
    struct Fake;

    // SAFETY: a test double; nothing relies on real masking.
    unsafe impl InterruptControl for Fake {
        type State = bool;

        fn disable() -> bool {
            DISABLES.with(|d| d.set(d.get() + 1));
            ENABLED.with(|e| e.replace(false))
        }

        unsafe fn restore(enabled: bool) {
            RESTORES.with(|r| r.set(r.get() + 1));
            ENABLED.with(|e| e.set(enabled));
        }
    }

    fn enabled() -> bool {
        ENABLED.with(Cell::get)
    }

    fn counts() -> (usize, usize) {
        (DISABLES.with(Cell::get), RESTORES.with(Cell::get))
    }

    #[test]
    fn masks_while_held_and_restores() {
        let lock = IrqSafeSpin::<Fake>::new();
        assert!(enabled());
        lock.lock();
        assert!(!enabled() && lock.is_locked());
        // SAFETY: held, by this thread.
        unsafe { lock.unlock() };
        assert!(enabled() && !lock.is_locked());
        assert_eq!(counts(), (1, 1));
    }

    #[test]
    fn keeps_interrupts_masked_if_they_were() {
        let lock = IrqSafeSpin::<Fake>::new();
        let outer = Fake::disable();
        lock.lock();
        // SAFETY: held, by this thread.
        unsafe { lock.unlock() };
        assert!(!enabled(), "a lock taken with interrupts masked must leave them masked");
        // SAFETY: `outer` is the last unrestored state.
        unsafe { Fake::restore(outer) };
        assert!(enabled());
    }

    #[test]
    fn two_locks_nest() {
        let (a, b) = (IrqSafeSpin::<Fake>::new(), IrqSafeSpin::<Fake>::new());
        a.lock();
        b.lock();
        // SAFETY: both held by this thread; released innermost first.
        unsafe { b.unlock() };
        assert!(!enabled(), "the outer lock is still held");
        // SAFETY: as above.
        unsafe { a.unlock() };
        assert!(enabled());
        assert_eq!(counts(), (2, 2));
    }

    #[test]
    fn failed_try_lock_restores() {
        let lock = IrqSafeSpin::<Fake>::new();
        let (held, release) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        thread::scope(|s| {
            s.spawn(|| {
                lock.lock();
                assert!(!enabled(), "the holder runs masked");
                held.wait();
                release.wait();
                // SAFETY: held, by this thread.
                unsafe { lock.unlock() };
                assert!(enabled());
            });
            held.wait();
            assert!(!lock.try_lock());
            assert!(enabled(), "a failed attempt leaves interrupts as they were");
            assert_eq!(counts(), (1, 1));
            release.wait();
        });
        assert!(lock.try_lock());
        // SAFETY: held, by this thread.
        unsafe { lock.unlock() };
        assert_eq!(counts(), (2, 2));
    }

    #[test]
    fn mutual_exclusion_under_contention() {
        const THREADS: usize = 4;
        const ROUNDS: usize = if cfg!(miri) { 100 } else { 10_000 };
        let counter = Arc::new(lock_api::Mutex::<IrqSafeSpin<Fake>, (u64, u64)>::new((0, 0)));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut pair = counter.lock();
                        assert!(!enabled());
                        pair.0 += 1;
                        pair.1 = pair.0 * 2;
                    }
                    assert!(enabled());
                    let (disables, restores) = counts();
                    assert_eq!(disables, restores);
                    assert!(disables >= ROUNDS);
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let pair = *counter.lock();
        assert_eq!(pair, ((THREADS * ROUNDS) as u64, (THREADS * ROUNDS * 2) as u64));
    }

    #[test]
    fn global_allocator_with_the_lock() {
        use core::alloc::{GlobalAlloc, Layout};

        use crate::{GlobalAllocator, SystemSource};

        let heap: GlobalAllocator<allocator_tlsf::TlsfByteAllocator, SystemSource, IrqSafeSpin<Fake>> =
            GlobalAllocator::new(allocator_tlsf::TlsfByteAllocator::new(), SystemSource::new());
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a non-zero-size layout; freed with it.
        unsafe {
            let block = heap.alloc(layout);
            assert!(!block.is_null());
            assert!(enabled());
            heap.dealloc(block, layout);
        }
        assert!(enabled());
        let (disables, restores) = counts();
        assert_eq!(disables, restores);
        assert!(disables >= 2);
    }
}
