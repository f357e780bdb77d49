//! The console: whole lines from several CPUs, and the failure exit.

use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicBool, Ordering},
};

use crate::arch;

/// Held while a CPU writes a line.
static LOCK: AtomicBool = AtomicBool::new(false);

struct Console;

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                arch::putchar(b'\r');
            }
            arch::putchar(byte);
        }
        Ok(())
    }
}

/// Writes `args` and a newline as one line. Waits a bounded time for the
/// console (a CPU that failed while holding it must not silence the rest).
pub fn print_line(args: fmt::Arguments) {
    let mut tries = 0usize;
    while LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err()
        && tries < 1 << 26
    {
        tries += 1;
        core::hint::spin_loop();
    }
    let _ = Console.write_fmt(format_args!("{args}\n"));
    LOCK.store(false, Ordering::Release);
}

/// Prints `KERNEL FAIL: cpu N: reason` and stops the machine with a failure.
pub fn fail(args: fmt::Arguments) -> ! {
    arch::disable_interrupts();
    print_line(format_args!("KERNEL FAIL: cpu {}: {args}", arch::cpu_id()));
    arch::exit(false)
}

/// Prints a line on the console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}
