//! Links the kernel with the linker script of its target architecture.

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    if arch == "riscv64" || arch == "aarch64" {
        println!("cargo:rustc-link-arg-bins=-T{dir}/src/{arch}/linker.ld");
        println!("cargo:rerun-if-changed=src/{arch}/linker.ld");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
