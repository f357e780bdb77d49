//! A bootable example kernel: the allocator workspace as the whole memory
//! subsystem of a small SMP kernel, on QEMU's `virt` machine for riscv64
//! (under OpenSBI) and aarch64 (no firmware).
//!
//! At boot the first CPU hands the RAM after the kernel image to a
//! `BitmapPageAllocator` inside one `static` [`GlobalAllocator`]: a slab heap
//! that grows from those frames (and gives them back), locked by
//! [`IrqSafeSpin`] (local interrupts masked while held), behind per-CPU
//! caches ([`PerCpu`]), and the `#[global_allocator]`. Then every CPU runs
//! `Vec`, `BTreeMap`, `Box<dyn Trait>`, `String` and page-run workloads in
//! parallel, with contents checked, while a timer interrupt on every CPU
//! allocates and frees in its handler. Last, the first CPU runs the heap out
//! of memory (an error, not a crash), checks that it recovers and that nothing
//! leaked, and prints one line: `KERNEL PASS ...` or `KERNEL FAIL: reason`.
//! QEMU exits either way (with a non-zero code on failure).
//!
//! Run it with `bash examples/kernel/run.sh` (both architectures, 4 CPUs).

#![no_std]
#![no_main]

extern crate alloc;

#[cfg(target_arch = "aarch64")]
#[path = "aarch64/mod.rs"]
mod arch;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64/mod.rs"]
mod arch;

mod console;
mod workload;

use core::{
    alloc::{GlobalAlloc, Layout},
    cell::UnsafeCell,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use alloc::{boxed::Box, collections::BTreeMap, string::String, vec::Vec};
use allocator_bitmap::BitmapPageAllocator;
#[cfg(not(feature = "plain-spin-lock"))]
use allocator_global::{ArchInterrupts, IrqSafeSpin};
use allocator_global::{CpuId, GlobalAllocator, PageAllocatorSource, PerCpu};
use allocator_slab::SlabByteAllocator;

/// The most CPUs the kernel has stacks and per-CPU slots for.
pub const MAX_CPUS: usize = 8;
/// The stack of each CPU.
pub const STACK_SIZE: usize = 256 << 10;

/// The boot stacks of all CPUs, `STACK_SIZE` each, CPU `i` at index `i`; the
/// architecture's entry code sets each CPU's stack pointer to the top of its
/// own.
#[repr(C, align(16))]
pub struct Stacks([[u8; STACK_SIZE]; MAX_CPUS]);

#[unsafe(link_section = ".bss.stacks")]
#[unsafe(no_mangle)]
pub static mut BOOT_STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);
/// The frame size.
pub const PAGE_SIZE: usize = 4096;
/// The RAM QEMU is given (`-m 128M`).
pub const RAM_SIZE: usize = 128 << 20;
/// Timer interrupts every CPU's handler must have served (allocating and
/// freeing in each) before that CPU's workload phase ends.
const INTERRUPTS_PER_CPU: usize = 3000;
/// Workload rounds every CPU runs at least.
const MIN_ROUNDS: usize = 200;
/// Rounds after which a CPU whose timer interrupts did not arrive fails.
const MAX_ROUNDS: usize = 200_000;

/// The kernel's whole memory subsystem: per-CPU caches of small blocks in
/// front of page frames and the heap that grows from them (and gives them
/// back), behind one interrupt-masking lock.
pub type KernelMemory = PerCpu<
    SlabByteAllocator,
    PageAllocatorSource<BitmapPageAllocator<PAGE_SIZE>>,
    HeapLock,
    KernelCpu,
    MAX_CPUS,
>;

/// The CPU a context runs on, for the per-CPU caches: the id the boot code
/// keeps in a register (tp, TPIDR_EL1).
pub struct KernelCpu;

impl CpuId for KernelCpu {
    fn current() -> usize {
        arch::cpu_id()
    }
}

/// The lock: local interrupts masked while held.
#[cfg(not(feature = "plain-spin-lock"))]
type HeapLock = IrqSafeSpin<ArchInterrupts>;
/// The demonstration of what goes wrong without it: a plain spin lock.
#[cfg(feature = "plain-spin-lock")]
type HeapLock = allocator_global::DefaultRawMutex;

/// The memory subsystem. Its frames are given to it at boot
/// ([`primary_main`]).
pub static KERNEL_MEMORY: KernelMemory = PerCpu::new(GlobalAllocator::new(
    SlabByteAllocator::new(),
    // SAFETY: the frame allocator is only given the RAM after the kernel
    // image (in `primary_main`): identity-mapped (no MMU, or satp off),
    // writable, used by nothing else, for as long as the kernel runs.
    unsafe { PageAllocatorSource::new(BitmapPageAllocator::new()) },
));

/// The `#[global_allocator]`: [`KERNEL_MEMORY`], counting on each CPU how
/// deep it is inside an allocator call, so the timer handler can count the
/// times it interrupted one.
struct Counted;

#[global_allocator]
static GLOBAL: Counted = Counted;

/// Per CPU: how many allocator calls are in progress (0 or 1 outside the
/// timer handler).
static IN_ALLOCATOR: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

fn enter_allocator() -> usize {
    let cpu = arch::cpu_id();
    IN_ALLOCATOR[cpu].fetch_add(1, Ordering::Relaxed);
    cpu
}

fn leave_allocator(cpu: usize) {
    IN_ALLOCATOR[cpu].fetch_sub(1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `KERNEL_MEMORY`'s `GlobalAlloc` with the
// caller's arguments and contract.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let cpu = enter_allocator();
        // SAFETY: forwarded.
        let block = unsafe { KERNEL_MEMORY.alloc(layout) };
        leave_allocator(cpu);
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let cpu = enter_allocator();
        // SAFETY: forwarded.
        unsafe { KERNEL_MEMORY.dealloc(ptr, layout) };
        leave_allocator(cpu);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let cpu = enter_allocator();
        // SAFETY: forwarded.
        let block = unsafe { KERNEL_MEMORY.realloc(ptr, layout, new_size) };
        leave_allocator(cpu);
        block
    }
}

/// CPUs that reached the kernel.
static ONLINE: AtomicUsize = AtomicUsize::new(0);
/// Set by the first CPU when every CPU is online: the workloads start.
static GO: AtomicBool = AtomicBool::new(false);
/// CPUs done with their workloads.
static FINISHED: AtomicUsize = AtomicUsize::new(0);
/// Per CPU: timer interrupts served.
static INTERRUPTS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Per CPU: timer interrupts that arrived while the CPU was inside an
/// allocator call (and were held off by the lock until it was released).
static INTERRUPTED_ALLOCATIONS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Per CPU: workload rounds run.
static ROUNDS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// A vector one timer interrupt allocates and the next one checks and frees,
/// per CPU.
struct InterruptSlot(UnsafeCell<Option<Vec<u64>>>);

// SAFETY: slot `i` is only reached by CPU `i`, in its timer handler (which
// does not nest) or with its interrupts masked.
unsafe impl Sync for InterruptSlot {}

static INTERRUPT_SLOTS: [InterruptSlot; MAX_CPUS] =
    [const { InterruptSlot(UnsafeCell::new(None)) }; MAX_CPUS];

/// Stops the machine with `KERNEL FAIL: ...` if `cond` does not hold.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::console::fail(format_args!($($arg)+));
        }
    };
}

/// The first CPU's kernel, entered from the boot code with a stack. `ram_end`
/// is the end of the RAM the kernel may give to the frame allocator.
pub fn primary_main(cpu: usize, ram_end: usize) -> ! {
    println!("allocator example kernel: {}, booted on CPU {cpu}", arch::NAME);

    // Frames: the RAM after the kernel image, to the frame allocator.
    let start = arch::kernel_end();
    check!(start < ram_end, "no RAM after the kernel image ({start:#x} >= {ram_end:#x})");
    // SAFETY: [start, ram_end) is the RAM after the kernel image and its
    // stacks (linker symbol), before the device tree; nothing else uses it,
    // and it is identity-mapped, writable, for as long as the kernel runs.
    let init = unsafe { KERNEL_MEMORY.heap().init_pages(start, ram_end - start) };
    check!(init.is_ok(), "init_pages({start:#x}, {:#x}): {init:?}", ram_end - start);
    println!(
        "frames: {} pages ({} MiB) from {start:#x} to {ram_end:#x}",
        KERNEL_MEMORY.heap().total_pages(),
        (KERNEL_MEMORY.heap().total_pages() * PAGE_SIZE) >> 20
    );

    arch::init_primary();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    let started = arch::start_secondaries(cpu);
    let cpus = 1 + started;
    let mut spins = 0usize;
    while ONLINE.load(Ordering::Acquire) < cpus {
        spins += 1;
        check!(spins < 1 << 32, "only {} of {cpus} CPUs came online", ONLINE.load(Ordering::Acquire));
        core::hint::spin_loop();
    }
    println!("CPUs online: {cpus}; workloads and timer interrupts on every CPU");
    GO.store(true, Ordering::Release);

    run_cpu(cpu);
    while FINISHED.load(Ordering::Acquire) < cpus {
        core::hint::spin_loop();
    }

    // Every CPU is done and has freed everything: nothing is left.
    let interrupts: usize = INTERRUPTS.iter().map(|n| n.load(Ordering::Acquire)).sum();
    let interrupted: usize = INTERRUPTED_ALLOCATIONS.iter().map(|n| n.load(Ordering::Acquire)).sum();
    let rounds: usize = ROUNDS.iter().map(|n| n.load(Ordering::Acquire)).sum();
    check!(interrupts >= cpus * INTERRUPTS_PER_CPU, "only {interrupts} timer interrupts");
    let cached = KERNEL_MEMORY.cached_bytes();
    let grown_pages = KERNEL_MEMORY.heap().used_pages();
    // The CPUs' caches go back to the heap, the heap's free chunks to the
    // frame allocator.
    let returned = KERNEL_MEMORY.trim();
    let stats = KERNEL_MEMORY.statistics();
    check!(
        stats.used_bytes == 0,
        "{} heap bytes still used after every CPU freed everything",
        stats.used_bytes
    );
    check!(stats.grow_count > 0, "the heap never grew from the frames");
    check!(stats.failed_allocs == 0, "{} allocations failed in the workloads", stats.failed_allocs);
    check!(
        KERNEL_MEMORY.heap().used_pages() == 0 && stats.held_bytes == 0,
        "frames not back after trim: {} pages used, the heap holds {} bytes",
        KERNEL_MEMORY.heap().used_pages(),
        stats.held_bytes
    );
    println!(
        "workloads: {rounds} rounds; timer handlers allocated {interrupts} times, \
         {interrupted} of them interrupting an allocator call; heap grew {}x ({} KiB in all), \
         {} KiB cached per-CPU at the end; trim gave {} frames ({} KiB) back: all of them",
        stats.grow_count,
        stats.grown_bytes >> 10,
        cached >> 10,
        grown_pages,
        returned >> 10
    );

    let oom = workload::out_of_memory();
    KERNEL_MEMORY.trim();
    let stats = KERNEL_MEMORY.statistics();
    check!(KERNEL_MEMORY.heap().used_pages() == 0, "frames not back after the out-of-memory test");
    check!(stats.used_bytes == 0, "{} heap bytes still used after the out-of-memory test", stats.used_bytes);
    println!(
        "KERNEL PASS: {}, {cpus} CPUs, {rounds} workload rounds, {interrupts} allocating timer interrupts \
         ({interrupted} inside an allocator call), out of memory at {} MiB and recovered",
        arch::NAME,
        oom >> 20
    );
    arch::exit(true)
}

/// Every other CPU's kernel, entered from the boot code with a stack.
pub fn secondary_main(cpu: usize) -> ! {
    ONLINE.fetch_add(1, Ordering::AcqRel);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    run_cpu(cpu);
    loop {
        arch::wait_for_interrupt();
    }
}

/// One CPU's part: workloads with its timer interrupt allocating in the
/// background, until the handler ran [`INTERRUPTS_PER_CPU`] times.
fn run_cpu(cpu: usize) {
    check!(cpu < MAX_CPUS, "CPU {cpu} beyond MAX_CPUS");
    arch::init_cpu();
    arch::timer_start();
    arch::enable_interrupts();
    let mut rng = workload::Rng::new(cpu as u64 + 1);
    let mut round = 0;
    while round < MIN_ROUNDS || INTERRUPTS[cpu].load(Ordering::Relaxed) < INTERRUPTS_PER_CPU {
        check!(
            round < MAX_ROUNDS,
            "{} timer interrupts after {round} rounds",
            INTERRUPTS[cpu].load(Ordering::Relaxed)
        );
        workload::round(cpu, round, &mut rng);
        round += 1;
    }
    arch::disable_interrupts();
    arch::timer_stop();
    // SAFETY: this CPU's slot, with its interrupts masked.
    let last = unsafe { (*INTERRUPT_SLOTS[cpu].0.get()).take() };
    drop(last);
    ROUNDS[cpu].store(round, Ordering::Release);
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

/// The timer interrupt handler of CPU `cpu` (interrupts masked, not nested):
/// allocates and frees through the same heap as the code it interrupted.
pub fn on_timer(cpu: usize) {
    let count = INTERRUPTS[cpu].load(Ordering::Relaxed);
    if IN_ALLOCATOR[cpu].load(Ordering::Relaxed) > 0 {
        INTERRUPTED_ALLOCATIONS[cpu].fetch_add(1, Ordering::Relaxed);
    }
    let tag = |n: usize, i: usize| ((cpu as u64) << 56) ^ ((n as u64) << 20) ^ i as u64;

    // A vector, a box and a string, checked and freed now.
    let len = 1 + count % 97;
    let numbers: Vec<u64> = (0..len).map(|i| tag(count, i)).collect();
    let boxed = Box::new([count as u32; 16]);
    let mut text = String::with_capacity(8);
    text.push_str("irq");
    text.push(char::from(b'0' + (count % 10) as u8));
    check!(numbers.iter().enumerate().all(|(i, &x)| x == tag(count, i)), "handler {count}: vector corrupted");
    check!(boxed.iter().all(|&x| x == count as u32), "handler {count}: box corrupted");
    check!(text.len() == 4 && text.starts_with("irq"), "handler {count}: string corrupted");
    let mut map = BTreeMap::new();
    map.insert(count, len);
    check!(map.get(&count) == Some(&len), "handler {count}: map corrupted");
    drop((boxed, text, map));

    // A vector kept until the next interrupt on this CPU, checked and freed
    // there.
    // SAFETY: this CPU's slot, in its timer handler (which does not nest).
    let slot = unsafe { &mut *INTERRUPT_SLOTS[cpu].0.get() };
    if let Some(previous) = slot.replace(numbers) {
        let n = count - 1;
        check!(previous.len() == 1 + n % 97, "handler {count}: the kept vector changed length");
        check!(
            previous.iter().enumerate().all(|(i, &x)| x == tag(n, i)),
            "handler {count}: the kept vector was corrupted"
        );
    }
    INTERRUPTS[cpu].store(count + 1, Ordering::Relaxed);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::fail(format_args!("panic: {info}"))
}
