//! Compiles `allocator-capi/tests/c/malloc_test.c` with the system C
//! compiler and runs it under `LD_PRELOAD` of this crate's shared library
//! (and once against glibc, which checks the test itself). Skips, saying
//! why, where there is no C compiler or not on Linux.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The shared library cargo built for this test run: in `target/<profile>/deps/`,
/// beside this test (cargo copies it up to `target/<profile>/` only for
/// `cargo build`).
fn shared_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("liballocator_malloc.so")
}

/// The C compiler: `$CC`, else `cc`, if it runs.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    Command::new(&cc).arg("--version").output().ok().filter(|o| o.status.success()).map(|_| cc)
}

#[test]
fn c_program_under_ld_preload() {
    if !cfg!(target_os = "linux") {
        println!("skipped: the LD_PRELOAD test runs on Linux only");
        return;
    }
    let Some(cc) = c_compiler() else {
        println!("skipped: no C compiler (set CC, or install one: apt-get install gcc)");
        return;
    };
    let library = shared_library();
    assert!(library.exists(), "{} was not built", library.display());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/c/malloc_test.c");
    let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join("malloc_test");
    let status = Command::new(&cc)
        .args(["-O1", "-pthread", "-Wall", "-Wno-alloc-size-larger-than", "-Wno-use-after-free", "-o"])
        .arg(&program)
        .arg(&source)
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(status.success(), "{cc} failed on {}", source.display());

    // The checks against glibc first: the test itself must be right.
    let glibc = Command::new(&program).output().unwrap();
    print!("{}", String::from_utf8_lossy(&glibc.stdout));
    assert!(glibc.status.success(), "against glibc: {}", String::from_utf8_lossy(&glibc.stderr));

    // Then under the shim. The test bounds a hung fork child itself (it
    // kills it and fails); a hang elsewhere would stall here, as any test.
    let shim = Command::new(&program).env("LD_PRELOAD", &library).env("EXPECT_SHIM", "1").output().unwrap();
    print!("{}", String::from_utf8_lossy(&shim.stdout));
    assert!(shim.status.success(), "under the shim: {}", String::from_utf8_lossy(&shim.stderr));
    let summary = String::from_utf8_lossy(&shim.stdout);
    assert!(summary.contains("shim: ") && summary.contains(" 0 failures"), "{summary}");
}
