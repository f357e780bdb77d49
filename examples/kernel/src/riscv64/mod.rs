//! riscv64 on QEMU `virt` under OpenSBI: the kernel runs in S-mode with
//! paging off (physical addresses), harts are started with SBI HSM, the
//! timer is SBI `set_timer`, the console the 16550 UART at 0x1000_0000, and
//! the exit the SiFive test device at 0x10_0000.

use core::arch::{asm, global_asm};

use crate::{MAX_CPUS, PAGE_SIZE, RAM_SIZE, STACK_SIZE};

pub const NAME: &str = "riscv64";
pub const RAM_START: usize = 0x8000_0000;

const UART: usize = 0x1000_0000;
const TEST_DEVICE: usize = 0x10_0000;
/// The timer period in `time` ticks (10 MHz on QEMU virt): 50 us.
const TIMER_PERIOD: u64 = 500;

// The entry points. OpenSBI enters `_start` on the boot hart in S-mode with
// a0 = hart id, a1 = device tree; SBI HSM `hart_start` enters
// `secondary_start` with a0 = hart id. Each sets its stack (hart i: the top
// of stack i), keeps its hart id in tp, turns the FPU on (the target uses
// hardware floats) and calls Rust.
global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    li      t0, {max_cpus}
    bgeu    a0, t0, 9f
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  la      t2, {primary}
    j       3f

    .globl secondary_start
secondary_start:
    li      t0, {max_cpus}
    bgeu    a0, t0, 9f
    la      t2, {secondary}
3:  mv      tp, a0
    la      sp, {stacks}
    addi    t1, a0, 1
    slli    t1, t1, {stack_shift}
    add     sp, sp, t1
    li      t0, 1 << 13
    csrs    sstatus, t0
    jr      t2
9:  wfi
    j       9b
"#,
    max_cpus = const MAX_CPUS,
    stack_shift = const STACK_SIZE.trailing_zeros(),
    stacks = sym crate::BOOT_STACKS,
    primary = sym rust_primary,
    secondary = sym rust_secondary,
);

// The trap entry (stvec, direct mode): saves the registers a Rust call may
// clobber (integer and floating point), calls `trap`, restores them, `sret`.
// Traps come only from S-mode on the hart's own stack.
global_asm!(
    r#"
    .section .text
    .option push
    .option arch, +d
    .balign 4
    .globl trap_entry
trap_entry:
    addi    sp, sp, -288
    sd      ra, 0(sp)
    sd      t0, 8(sp)
    sd      t1, 16(sp)
    sd      t2, 24(sp)
    sd      t3, 32(sp)
    sd      t4, 40(sp)
    sd      t5, 48(sp)
    sd      t6, 56(sp)
    sd      a0, 64(sp)
    sd      a1, 72(sp)
    sd      a2, 80(sp)
    sd      a3, 88(sp)
    sd      a4, 96(sp)
    sd      a5, 104(sp)
    sd      a6, 112(sp)
    sd      a7, 120(sp)
    fsd     ft0, 128(sp)
    fsd     ft1, 136(sp)
    fsd     ft2, 144(sp)
    fsd     ft3, 152(sp)
    fsd     ft4, 160(sp)
    fsd     ft5, 168(sp)
    fsd     ft6, 176(sp)
    fsd     ft7, 184(sp)
    fsd     ft8, 192(sp)
    fsd     ft9, 200(sp)
    fsd     ft10, 208(sp)
    fsd     ft11, 216(sp)
    fsd     fa0, 224(sp)
    fsd     fa1, 232(sp)
    fsd     fa2, 240(sp)
    fsd     fa3, 248(sp)
    fsd     fa4, 256(sp)
    fsd     fa5, 264(sp)
    fsd     fa6, 272(sp)
    fsd     fa7, 280(sp)
    call    {trap}
    ld      ra, 0(sp)
    ld      t0, 8(sp)
    ld      t1, 16(sp)
    ld      t2, 24(sp)
    ld      t3, 32(sp)
    ld      t4, 40(sp)
    ld      t5, 48(sp)
    ld      t6, 56(sp)
    ld      a0, 64(sp)
    ld      a1, 72(sp)
    ld      a2, 80(sp)
    ld      a3, 88(sp)
    ld      a4, 96(sp)
    ld      a5, 104(sp)
    ld      a6, 112(sp)
    ld      a7, 120(sp)
    fld     ft0, 128(sp)
    fld     ft1, 136(sp)
    fld     ft2, 144(sp)
    fld     ft3, 152(sp)
    fld     ft4, 160(sp)
    fld     ft5, 168(sp)
    fld     ft6, 176(sp)
    fld     ft7, 184(sp)
    fld     ft8, 192(sp)
    fld     ft9, 200(sp)
    fld     ft10, 208(sp)
    fld     ft11, 216(sp)
    fld     fa0, 224(sp)
    fld     fa1, 232(sp)
    fld     fa2, 240(sp)
    fld     fa3, 248(sp)
    fld     fa4, 256(sp)
    fld     fa5, 264(sp)
    fld     fa6, 272(sp)
    fld     fa7, 280(sp)
    addi    sp, sp, 288
    sret
    .option pop
"#,
    trap = sym trap,
);

unsafe extern "C" {
    static __kernel_end: u8;
    fn secondary_start();
    fn trap_entry();
}

extern "C" fn rust_primary(hart: usize, device_tree: usize) -> ! {
    // QEMU puts the device tree in the last 2 MiB below the end of RAM: the
    // frames end below it.
    let ram_end = RAM_START + RAM_SIZE;
    let ram_end =
        if (RAM_START..ram_end).contains(&device_tree) { device_tree & !(PAGE_SIZE - 1) } else { ram_end };
    crate::primary_main(hart, ram_end)
}

extern "C" fn rust_secondary(hart: usize) -> ! {
    crate::secondary_main(hart)
}

/// The end of the kernel image and its stacks, page-aligned.
pub fn kernel_end() -> usize {
    (&raw const __kernel_end).addr()
}

pub fn cpu_id() -> usize {
    let hart: usize;
    // SAFETY: tp holds the hart id from boot and is never changed.
    unsafe { asm!("mv {0}, tp", out(reg) hart, options(nomem, nostack)) };
    hart
}

fn sbi_call(extension: usize, function: usize, args: [usize; 3]) -> (isize, usize) {
    let (error, value);
    // SAFETY: an SBI call only reaches the firmware; it clobbers a0 and a1.
    unsafe {
        asm!("ecall", inlateout("a0") args[0] => error, inlateout("a1") args[1] => value,
             in("a2") args[2], in("a6") function, in("a7") extension, options(nostack));
    }
    (error, value)
}

const SBI_HSM: usize = 0x48_534d;
const SBI_TIME: usize = 0x5449_4d45;

pub fn putchar(byte: u8) {
    let uart = UART as *mut u8;
    // SAFETY: the 16550 UART of QEMU virt: wait for the transmit holding
    // register to be empty (LSR bit 5), then write it.
    unsafe {
        while uart.add(5).read_volatile() & 0x20 == 0 {}
        uart.write_volatile(byte);
    }
}

pub fn exit(pass: bool) -> ! {
    let code: u32 = if pass { 0x5555 } else { (1 << 16) | 0x3333 };
    // SAFETY: the SiFive test device of QEMU virt: this write ends QEMU
    // (exit code 0, or 1 for the failure code).
    unsafe { (TEST_DEVICE as *mut u32).write_volatile(code) };
    loop {
        wait_for_interrupt();
    }
}

pub fn init_primary() {}

/// Starts every other hart there is (HSM `hart_start` refuses ids that do
/// not exist); returns how many started.
pub fn start_secondaries(primary: usize) -> usize {
    let entry = secondary_start as *const () as usize;
    (0..MAX_CPUS)
        .filter(|&hart| hart != primary)
        .filter(|&hart| sbi_call(SBI_HSM, 0, [hart, entry, 0]).0 == 0)
        .count()
}

/// This hart's trap vector, and its timer interrupt unmasked in `sie`.
pub fn init_cpu() {
    // SAFETY: `trap_entry` saves and restores what it clobbers and returns
    // with `sret`; STIE only lets timer interrupts through once SIE is set.
    unsafe {
        asm!("csrw stvec, {0}", in(reg) trap_entry as *const () as usize, options(nostack));
        asm!("csrs sie, {0}", in(reg) 1usize << 5, options(nostack));
    }
}

fn now() -> u64 {
    let time: u64;
    // SAFETY: reading the time CSR has no effect.
    unsafe { asm!("rdtime {0}", out(reg) time, options(nomem, nostack)) };
    time
}

pub fn timer_start() {
    sbi_call(SBI_TIME, 0, [(now() + TIMER_PERIOD) as usize, 0, 0]);
}

pub fn timer_stop() {
    sbi_call(SBI_TIME, 0, [usize::MAX, 0, 0]);
    // SAFETY: masking the timer interrupt source only.
    unsafe { asm!("csrc sie, {0}", in(reg) 1usize << 5, options(nostack)) };
}

pub fn enable_interrupts() {
    // SAFETY: the trap vector is set (`init_cpu`).
    unsafe { asm!("csrsi sstatus, 2", options(nostack)) };
}

pub fn disable_interrupts() {
    // SAFETY: masking interrupts only.
    unsafe { asm!("csrci sstatus, 2", options(nostack)) };
}

pub fn wait_for_interrupt() {
    // SAFETY: waits for an interrupt (or returns at once).
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// The Rust side of `trap_entry`: the timer interrupt, or a failure.
extern "C" fn trap() {
    let (cause, epc, tval): (usize, usize, usize);
    // SAFETY: reading trap CSRs has no effect.
    unsafe {
        asm!("csrr {0}, scause", "csrr {1}, sepc", "csrr {2}, stval",
             out(reg) cause, out(reg) epc, out(reg) tval, options(nomem, nostack));
    }
    if cause == (1 << 63) | 5 {
        crate::on_timer(cpu_id());
        // The next deadline (which clears the pending bit) after the
        // handler's work, so the interrupted code always gets to run.
        sbi_call(SBI_TIME, 0, [(now() + TIMER_PERIOD) as usize, 0, 0]);
    } else {
        crate::console::fail(format_args!(
            "unexpected trap: scause {cause:#x}, sepc {epc:#x}, stval {tval:#x}"
        ));
    }
}
