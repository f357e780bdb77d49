//! The measuring thread's CPU time, so that time spent preempted by other
//! processes (this machine has 2 cores, shared) does not count against the
//! contestant that happened to be running.

use std::time::{Duration, Instant};

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod imp {
    use std::time::Duration;

    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    /// `CLOCK_THREAD_CPUTIME_ID` on Linux.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    unsafe extern "C" {
        /// libc's `clock_gettime` (std links libc on Linux).
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }

    pub fn thread_cpu_time() -> Option<Duration> {
        let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable `timespec`; the clock id is a
        // constant Linux defines.
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod imp {
    pub fn thread_cpu_time() -> Option<std::time::Duration> {
        None
    }
}

/// What the stopwatch measures: the thread's CPU time where the platform
/// gives it (Linux), wall time otherwise.
pub fn clock_name() -> &'static str {
    if imp::thread_cpu_time().is_some() { "thread CPU time" } else { "wall time" }
}

/// A stopwatch over the thread's CPU time (wall time where there is none).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Stopwatch {
    /// Starts now.
    #[inline]
    pub fn start() -> Self {
        Self { cpu: imp::thread_cpu_time(), wall: Instant::now() }
    }

    /// CPU time (or wall time) since the start.
    #[inline]
    pub fn elapsed(&self) -> Duration {
        match (self.cpu, imp::thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }

    /// Wall time since the start.
    pub fn wall(&self) -> Duration {
        self.wall.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stopwatch only moves forward while the thread works. No figure is
    /// asserted: how fast anything is, the benchmark measures; a test that
    /// compared times would depend on how busy the machine is.
    #[test]
    fn the_stopwatch_never_goes_backwards() {
        let watch = Stopwatch::start();
        let mut last = watch.elapsed();
        let mut x = 0u64;
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
            let now = watch.elapsed();
            assert!(now >= last, "the clock went backwards: {last:?} then {now:?}");
            last = now;
        }
        assert!(!clock_name().is_empty());
    }
}
