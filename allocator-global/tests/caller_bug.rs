//! A caller bug that an engine's debug checks catch under the global
//! allocator's lock (here a double free) is reported, with its message, and
//! the process aborts: no deadlock on the lock the panicking thread holds, no
//! unwinding out of `GlobalAlloc`.
//!
//! The bug runs in a child process (this test binary, started again with
//! `CALLER_BUG_CHILD` set), which must abort; the parent reads its stderr.

use std::alloc::{GlobalAlloc, Layout};
use std::io::Read;
use std::process::{Command, Stdio};

use allocator_global::{GlobalAllocator, SystemSource};
use allocator_slab::SlabByteAllocator;

#[global_allocator]
static GLOBAL: GlobalAllocator<SlabByteAllocator, SystemSource> =
    GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());

const CHILD: &str = "CALLER_BUG_CHILD";

#[test]
fn a_double_free_under_the_global_allocator_is_reported_then_aborts() {
    let layout = Layout::from_size_align(64, 8).unwrap();
    if std::env::var_os(CHILD).is_some() {
        // SAFETY: a real allocation, freed twice on purpose: the engine's
        // debug check must catch the second free before it touches anything.
        unsafe {
            let block = GLOBAL.alloc(layout);
            assert!(!block.is_null());
            GLOBAL.dealloc(block, layout);
            GLOBAL.dealloc(block, layout);
        }
        unreachable!("the double free was not caught");
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_double_free_under_the_global_allocator_is_reported_then_aborts", "--nocapture"])
        .env(CHILD, "1")
        // A backtrace's symbolisation needs more than the emergency arena
        // holds; the report stays the message and the abort.
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang (the bug this guards against) never closes stderr: the guard is
    // the CI's time limit, as for any test that could loop for ever.
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child must abort, not exit cleanly; stderr:\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(6), "the child aborts (SIGABRT); stderr:\n{stderr}");
    }
    assert!(stderr.contains("allocator-slab: double free of 0x"), "the bug is named; stderr:\n{stderr}");
}
