//! aarch64 on QEMU `virt` (`-cpu cortex-a57`, no firmware): QEMU loads the
//! ELF and starts core 0 at EL1 with the MMU off (physical addresses, device
//! memory attributes, which QEMU does not make slower); other cores are
//! started with PSCI `CPU_ON` over `hvc` (QEMU's own PSCI), the timer is the
//! EL1 virtual timer through a GICv2, the console the PL011 UART at
//! 0x0900_0000, and the exit semihosting `SYS_EXIT` (`-semihosting`), with
//! PSCI `SYSTEM_OFF` behind it.

use core::arch::{asm, global_asm};

use crate::{MAX_CPUS, RAM_SIZE, STACK_SIZE};

pub const NAME: &str = "aarch64";
pub const RAM_START: usize = 0x4000_0000;

const UART: usize = 0x0900_0000;
const GICD: usize = 0x0800_0000;
const GICC: usize = 0x0801_0000;
/// The virtual timer's interrupt (PPI 11).
const TIMER_IRQ: u32 = 27;
/// Timer interrupts per second.
const TIMER_HZ: u64 = 20_000;

// The entry points. QEMU enters `_start` on core 0 at EL1; PSCI CPU_ON
// enters `secondary_start` with x0 = the core index (our context id). Each
// sets its stack (core i: the top of stack i), keeps its index in
// TPIDR_EL1, installs the vector table and calls Rust with the index.
global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, 9f
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  adrp    x3, {primary}
    add     x3, x3, :lo12:{primary}
    b       3f

    .globl secondary_start
secondary_start:
    adrp    x3, {secondary}
    add     x3, x3, :lo12:{secondary}
3:  cmp     x0, #{max_cpus}
    b.hs    9f
    msr     spsel, #1
    adrp    x1, {stacks}
    add     x1, x1, :lo12:{stacks}
    add     x2, x0, #1
    lsl     x2, x2, #{stack_shift}
    add     sp, x1, x2
    msr     tpidr_el1, x0
    adrp    x1, vectors
    add     x1, x1, :lo12:vectors
    msr     vbar_el1, x1
    isb
    br      x3
9:  wfe
    b       9b
"#,
    max_cpus = const MAX_CPUS,
    stack_shift = const STACK_SIZE.trailing_zeros(),
    stacks = sym crate::BOOT_STACKS,
    primary = sym rust_primary,
    secondary = sym rust_secondary,
);

// The vector table: IRQs taken at EL1 on SP_EL1 go to `irq_entry`, which
// saves the registers a Rust call may clobber (and ELR/SPSR), calls `irq`,
// restores them and returns; every other exception goes to `unexpected`
// with its vector offset.
global_asm!(
    r#"
    .section .text
    .balign 2048
vectors:
    .set i, 0
    .rept 16
    .balign 128
    .if i == 5
    b       irq_entry
    .else
    mov     x0, #(i * 128)
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       {unexpected}
    .endif
    .set i, i + 1
    .endr

irq_entry:
    sub     sp, sp, #192
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x30, x0, [sp, #160]
    str     x1, [sp, #176]
    bl      {irq}
    ldr     x1, [sp, #176]
    ldp     x30, x0, [sp, #160]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x18, x29, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #192
    eret
"#,
    irq = sym irq,
    unexpected = sym unexpected,
);

unsafe extern "C" {
    static __kernel_end: u8;
    fn secondary_start();
}

extern "C" fn rust_primary(core: usize) -> ! {
    crate::primary_main(core, RAM_START + RAM_SIZE)
}

extern "C" fn rust_secondary(core: usize) -> ! {
    crate::secondary_main(core)
}

/// The end of the kernel image and its stacks, page-aligned.
pub fn kernel_end() -> usize {
    (&raw const __kernel_end).addr()
}

pub fn cpu_id() -> usize {
    let core: usize;
    // SAFETY: TPIDR_EL1 holds the core index from boot and is never changed.
    unsafe { asm!("mrs {0}, tpidr_el1", out(reg) core, options(nomem, nostack)) };
    core
}

/// A PSCI call through `hvc` (QEMU's PSCI conduit at EL1 without EL2/EL3).
fn psci(function: u64, args: [u64; 3]) -> i64 {
    let result: i64;
    // SAFETY: a PSCI call reaches QEMU's firmware emulation; SMCCC lets it
    // clobber x0-x17.
    unsafe {
        asm!("hvc #0", inlateout("x0") function as i64 => result, inlateout("x1") args[0] => _,
             inlateout("x2") args[1] => _, inlateout("x3") args[2] => _,
             lateout("x4") _, lateout("x5") _, lateout("x6") _, lateout("x7") _,
             lateout("x8") _, lateout("x9") _, lateout("x10") _, lateout("x11") _,
             lateout("x12") _, lateout("x13") _, lateout("x14") _, lateout("x15") _,
             lateout("x16") _, lateout("x17") _, options(nostack));
    }
    result
}

const PSCI_CPU_ON: u64 = 0xc400_0003;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

pub fn putchar(byte: u8) {
    let uart = UART as *mut u32;
    // SAFETY: the PL011 of QEMU virt: wait while the transmit FIFO is full
    // (FR bit 5), then write the data register.
    unsafe {
        while uart.add(0x18 / 4).read_volatile() & 0x20 != 0 {}
        uart.write_volatile(byte as u32);
    }
}

pub fn exit(pass: bool) -> ! {
    // ADP_Stopped_ApplicationExit and the exit code.
    let block: [u64; 2] = [0x2_0026, if pass { 0 } else { 1 }];
    // SAFETY: semihosting SYS_EXIT (QEMU's `-semihosting`) ends QEMU with the
    // code; it only reads `block`.
    unsafe { asm!("hlt #0xf000", in("w0") 0x18u32, in("x1") block.as_ptr(), options(nostack)) };
    psci(PSCI_SYSTEM_OFF, [0; 3]);
    loop {
        wait_for_interrupt();
    }
}

fn write32(address: usize, value: u32) {
    // SAFETY: only called with GIC register addresses of QEMU virt.
    unsafe { (address as *mut u32).write_volatile(value) };
}

fn read32(address: usize) -> u32 {
    // SAFETY: only called with GIC register addresses of QEMU virt.
    unsafe { (address as *const u32).read_volatile() }
}

/// The GICv2 distributor on.
pub fn init_primary() {
    write32(GICD, 1);
}

/// Starts every other core there is (PSCI CPU_ON refuses cores that do not
/// exist); returns how many started.
pub fn start_secondaries(primary: usize) -> usize {
    let entry = secondary_start as *const () as u64;
    (0..MAX_CPUS)
        .filter(|&core| core != primary)
        .filter(|&core| psci(PSCI_CPU_ON, [core as u64, entry, core as u64]) == 0)
        .count()
}

/// This core's GIC CPU interface and its timer interrupt (a banked PPI).
pub fn init_cpu() {
    // Priority 0xa0, enabled; the CPU interface passes priorities below 0xf0.
    let priority = GICD + 0x400 + TIMER_IRQ as usize;
    // SAFETY: the priority byte of the timer PPI, banked per core.
    unsafe { (priority as *mut u8).write_volatile(0xa0) };
    write32(GICD + 0x100, 1 << TIMER_IRQ);
    write32(GICC + 0x4, 0xf0);
    write32(GICC, 1);
}

fn rearm_timer() {
    let frequency: u64;
    // SAFETY: reading the counter frequency and setting this core's virtual
    // timer only.
    unsafe {
        asm!("mrs {0}, cntfrq_el0", out(reg) frequency, options(nomem, nostack));
        asm!("msr cntv_tval_el0, {0}", "msr cntv_ctl_el0, {1}", "isb",
             in(reg) frequency / TIMER_HZ, in(reg) 1u64, options(nostack));
    }
}

pub fn timer_start() {
    rearm_timer();
}

pub fn timer_stop() {
    // SAFETY: turns this core's virtual timer off.
    unsafe { asm!("msr cntv_ctl_el0, {0}", "isb", in(reg) 0u64, options(nostack)) };
}

pub fn enable_interrupts() {
    // SAFETY: the vector table and the GIC are set up.
    unsafe { asm!("msr daifclr, #3", options(nostack)) };
}

pub fn disable_interrupts() {
    // SAFETY: masking interrupts only.
    unsafe { asm!("msr daifset, #3", options(nostack)) };
}

pub fn wait_for_interrupt() {
    // SAFETY: waits for an interrupt (or returns at once).
    unsafe { asm!("wfi", options(nomem, nostack)) };
}

/// The Rust side of `irq_entry`.
extern "C" fn irq() {
    let acknowledge = read32(GICC + 0xc);
    let id = acknowledge & 0x3ff;
    if id == TIMER_IRQ {
        crate::on_timer(cpu_id());
        rearm_timer();
    } else if id < 1020 {
        crate::console::fail(format_args!("unexpected interrupt {id}"));
    } else {
        return; // spurious
    }
    write32(GICC + 0x10, acknowledge);
}

/// Every exception but an IRQ.
extern "C" fn unexpected(vector: u64, syndrome: u64, link: u64, fault: u64) -> ! {
    crate::console::fail(format_args!(
        "unexpected exception: vector {vector:#x}, ESR {syndrome:#x}, ELR {link:#x}, FAR {fault:#x}"
    ))
}
