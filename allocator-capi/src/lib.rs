//! The C allocation ABI over any `no_std` heap: `malloc`, `free`, `calloc`,
//! `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc` and `malloc_usable_size`, with C's rules.
//!
//! A kernel chooses its heap as a `static` (a [`CMalloc`] over a
//! [`GlobalAllocator`](allocator_global::GlobalAllocator), a bare
//! `GlobalAllocator`, or any type implementing [`CHeap`]) and [`c_malloc!`]
//! emits the `extern "C"` symbols over it, so the kernel's C code links
//! against them. A `CMalloc` dereferences to its heap and forwards
//! `GlobalAlloc`, so the same `static` can be the `#[global_allocator]`:
//!
//! ```
//! use allocator_capi::{CMalloc, Errno};
//! use allocator_global::{GlobalAllocator, NoSource};
//! use allocator_tlsf::TlsfByteAllocator;
//!
//! static HEAP: CMalloc<GlobalAllocator<TlsfByteAllocator>> =
//!     CMalloc::new(GlobalAllocator::new(TlsfByteAllocator::new(), NoSource));
//!
//! /// The kernel's `errno` (per thread in a real kernel).
//! fn set_errno(error: Errno) {
//!     let _ = error.code();
//! }
//!
//! // In a kernel: `allocator_capi::c_malloc!(HEAP, errno = set_errno);` emits
//! // `#[unsafe(no_mangle)] extern "C" fn malloc` and the rest. Here (a hosted
//! // doctest, whose process has its own `malloc`), the same functions without
//! // `no_mangle`, in a module:
//! mod c {
//!     allocator_capi::c_malloc!(super::HEAP, errno = super::set_errno, mangled);
//! }
//!
//! fn main() {
//!     let arena: &'static mut [u8] = Vec::leak(vec![0u8; 1 << 20]);
//!     // SAFETY: the leaked arena is ours alone, forever; its address is exposed.
//!     unsafe { HEAP.init(arena.as_mut_ptr().expose_provenance(), arena.len()) }.unwrap();
//!     // SAFETY: C's contracts: every pointer passed back came from these functions.
//!     unsafe {
//!         let p = c::malloc(100).cast::<u8>();
//!         assert!(!p.is_null() && p as usize % 16 == 0);
//!         assert!(c::malloc_usable_size(p.cast()) >= 100);
//!         let p = c::realloc(p.cast(), 5000);
//!         c::free(p);
//!         c::free(core::ptr::null_mut()); // a no-op
//!     }
//!     assert_eq!(HEAP.used_bytes(), 0);
//! }
//! ```
//!
//! On a Linux host, the `allocator-malloc` crate (in this crate's `preload`
//! directory) builds the same functions as a shared library for
//! `LD_PRELOAD`, over a heap growing from `mmap`.
//!
//! # C's rules, and the choices made where C leaves one
//!
//! The behaviour is glibc's:
//!
//! - Every pointer is aligned to [`MIN_ALIGN`] (16: `max_align_t` on 64-bit
//!   targets) or more.
//! - `malloc(0)` returns a unique pointer that must be freed (not null);
//!   `calloc` with a zero count or size likewise.
//! - `free(NULL)` does nothing; `realloc(NULL, n)` is `malloc(n)`;
//!   `realloc(p, 0)` frees `p` and returns null (errno untouched).
//! - `calloc` and `reallocarray` whose product overflows return null with
//!   errno `ENOMEM`; `malloc`, `calloc`, `realloc` (and the aligned family)
//!   that run out of memory return null with errno `ENOMEM`. A failed
//!   `realloc` leaves the old block untouched and live.
//! - `posix_memalign` returns `EINVAL` for an alignment that is not a power
//!   of two multiple of `sizeof(void *)`, `ENOMEM` when memory runs out, and
//!   never sets errno.
//! - `aligned_alloc` with an alignment that is not a power of two returns
//!   null with errno `EINVAL` (glibc 2.38's rule; any size is accepted,
//!   C17's "size a multiple of the alignment" is not enforced, as glibc does
//!   not). `memalign` rounds such an alignment up to a power of two, as
//!   glibc does (`EINVAL` only past `isize::MAX`). An alignment below 16
//!   gets 16.
//! - `valloc(n)` is `memalign(page, n)`, `pvalloc(n)` the same with `n`
//!   rounded up to the page ([`PAGE_SIZE`], 4 KiB).
//! - `malloc_usable_size(p)` is at least what was asked for `p`, every byte
//!   of it writable (the engine's block size; with a header, the engine's
//!   [`usable_size`](allocator_traits::ByteAllocator::usable_size) minus
//!   the header); `malloc_usable_size(NULL)` is 0.
//!
//! # errno in `no_std`
//!
//! There is no `errno` without a C library, so [`c_malloc!`] takes the path
//! of a function `fn(Errno)` that sets it: the kernel's per-thread (or
//! per-CPU) error slot, `*libc::__errno_location() = error.code()` on a
//! hosted Linux, or a function that ignores it. [`Errno::code`] gives the
//! values Linux, the BSDs and macOS share (`ENOMEM` 12, `EINVAL` 22).
//!
//! # `free` without a size: the engine, or a header
//!
//! `free(p)` gets no size, and an engine's `dealloc` needs the layout.
//!
//! - **No header** over a [`CMalloc`] whose engine finds a block's size from
//!   its address ([`ByteAllocator::finds_block_sizes`](allocator_traits::ByteAllocator::finds_block_sizes):
//!   TLSF reads its block header; the slab heap with
//!   `allocator_slab::MallocClasses` looks the slab up in its index of slabs
//!   and gives larger blocks to TLSF). `malloc(n)` is an engine block of `n`
//!   bytes aligned to 16, nothing before it. The two kinds of block an
//!   engine cannot size by address, huge chunks straight from the page
//!   source and blocks aligned beyond 16, are recorded in the `CMalloc`'s
//!   [`Registry`] (a hash table whose slots are a block of the same heap),
//!   and `free` looks a pointer up there only while such a block is live
//!   and the pointer is aligned as they are (to a page, or to 32).
//! - **A 16-byte header** over any other heap (a bare `GlobalAllocator`, a
//!   per-CPU layer, whose shared heap would have to be locked to find a
//!   size, or an engine that cannot find sizes: buddy, the slab heap's
//!   default table): the size of the engine's block and the offset of the
//!   pointer in it (16, or the alignment for an aligned allocation), with a
//!   flag for a chunk. A `malloc(n)` is an engine block of `n + 16` bytes
//!   aligned to 16; a `memalign(a, n)` with `a > 16` one of `n + a` bytes
//!   aligned to `a`. glibc's chunk header is 8 bytes (its minimum chunk
//!   32); `malloc(24)` takes a 40-byte slab class so, and a 32-byte chunk
//!   in glibc.
//!
//! # Huge blocks and `calloc` without writing zeros
//!
//! A block of [`CHeap::direct_threshold`] bytes or more (256 KiB for a
//! `GlobalAllocator`) is a chunk of its own taken straight from the heap's
//! page source ([`GlobalAllocator::alloc_chunk`](allocator_global::GlobalAllocator::alloc_chunk)),
//! as glibc maps blocks above its mmap threshold: `free` gives it back to
//! the source at once (resident memory drops), and when the source declares
//! its chunks zero-filled ([`PageSource::zeroed`](allocator_global::PageSource::zeroed):
//! `MmapSource` does) a `calloc` served so writes nothing, so `calloc(1 GiB)`
//! costs what the pages touched later cost. Memory that was ever handed out
//! and freed is never assumed zero: every other `calloc` writes its zeros.
//! A source without room (a fixed heap) serves huge blocks from the engine.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod c;
mod heap;
mod registry;

pub use heap::{CHeap, CMalloc, Chunk, DEFAULT_DIRECT_THRESHOLD};
pub use registry::Registry;

/// The alignment of every pointer handed out: `alignof(max_align_t)` on
/// 64-bit targets (x86_64, aarch64, riscv64), and no less on 32-bit ones.
pub const MIN_ALIGN: usize = 16;

/// The page of `valloc` and `pvalloc`: 4 KiB. (A `no_std` library cannot ask
/// the system; 4 KiB is the base page of every target the workspace builds.)
pub const PAGE_SIZE: usize = 4096;

/// The error numbers the C functions set (through the setter given to
/// [`c_malloc!`]) or return (`posix_memalign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `ENOMEM`: out of memory, or a size that overflows.
    NoMemory,
    /// `EINVAL`: a bad alignment.
    Invalid,
}

impl Errno {
    /// The number C code sees: `ENOMEM` = 12, `EINVAL` = 22 (Linux, the
    /// BSDs and macOS agree).
    pub const fn code(self) -> i32 {
        match self {
            Self::NoMemory => 12,
            Self::Invalid => 22,
        }
    }
}

/// Emits the C allocation functions over a `static` heap.
///
/// `c_malloc!(HEAP, errno = set_errno)` defines, in the module where it is
/// invoked, `#[unsafe(no_mangle)] pub unsafe extern "C" fn` `malloc`,
/// `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
/// `aligned_alloc`, `memalign`, `valloc`, `pvalloc` and
/// `malloc_usable_size`, each a call of the function of the same name in
/// [`c`] over `&HEAP`. `HEAP` is a path to a `static` whose type implements
/// [`CHeap`] (a [`CMalloc`] for blocks with no header, see the
/// [crate documentation](crate#free-without-a-size-the-engine-or-a-header));
/// `set_errno` a path to a `fn(Errno)` (see the
/// [crate documentation](crate#errno-in-no_std)).
///
/// With a trailing `, mangled` the functions are emitted without
/// `no_mangle` (tests, a hosted program that must keep its own `malloc`,
/// or a kernel that wraps them).
///
/// Only one invocation with `no_mangle` may be linked into a program (the
/// symbols would clash).
#[macro_export]
macro_rules! c_malloc {
    ($heap:path, errno = $errno:path) => {
        $crate::c_malloc!(@emit [#[unsafe(no_mangle)]] $heap, $errno);
    };
    ($heap:path, errno = $errno:path, mangled) => {
        $crate::c_malloc!(@emit [] $heap, $errno);
    };
    (@emit [$($attr:tt)*] $heap:path, $errno:path) => {
        /// C `malloc`: see [`allocator_capi::c::malloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `malloc`.
        $($attr)*
        pub unsafe extern "C" fn malloc(size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::malloc(&$heap, $errno, size) }
        }

        /// C `free`: see [`allocator_capi::c::free`].
        ///
        /// # Safety
        ///
        /// C's contract for `free`: `ptr` is null or a live block of these functions.
        $($attr)*
        pub unsafe extern "C" fn free(ptr: *mut ::core::ffi::c_void) {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::free(&$heap, ptr) }
        }

        /// C `calloc`: see [`allocator_capi::c::calloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `calloc`.
        $($attr)*
        pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::calloc(&$heap, $errno, count, size) }
        }

        /// C `realloc`: see [`allocator_capi::c::realloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `realloc`: `ptr` is null or a live block of these functions.
        $($attr)*
        pub unsafe extern "C" fn realloc(ptr: *mut ::core::ffi::c_void, size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::realloc(&$heap, $errno, ptr, size) }
        }

        /// C `reallocarray`: see [`allocator_capi::c::reallocarray`].
        ///
        /// # Safety
        ///
        /// As for `realloc`.
        $($attr)*
        pub unsafe extern "C" fn reallocarray(
            ptr: *mut ::core::ffi::c_void,
            count: usize,
            size: usize,
        ) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::reallocarray(&$heap, $errno, ptr, count, size) }
        }

        /// C `posix_memalign`: see [`allocator_capi::c::posix_memalign`].
        ///
        /// # Safety
        ///
        /// `out` is valid for a pointer write.
        $($attr)*
        pub unsafe extern "C" fn posix_memalign(
            out: *mut *mut ::core::ffi::c_void,
            align: usize,
            size: usize,
        ) -> ::core::ffi::c_int {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::posix_memalign(&$heap, out, align, size) }
        }

        /// C `aligned_alloc`: see [`allocator_capi::c::aligned_alloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `aligned_alloc`.
        $($attr)*
        pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::aligned_alloc(&$heap, $errno, align, size) }
        }

        /// C `memalign`: see [`allocator_capi::c::memalign`].
        ///
        /// # Safety
        ///
        /// C's contract for `memalign`.
        $($attr)*
        pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::memalign(&$heap, $errno, align, size) }
        }

        /// C `valloc`: see [`allocator_capi::c::valloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `valloc`.
        $($attr)*
        pub unsafe extern "C" fn valloc(size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::valloc(&$heap, $errno, size) }
        }

        /// C `pvalloc`: see [`allocator_capi::c::pvalloc`].
        ///
        /// # Safety
        ///
        /// C's contract for `pvalloc`.
        $($attr)*
        pub unsafe extern "C" fn pvalloc(size: usize) -> *mut ::core::ffi::c_void {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::pvalloc(&$heap, $errno, size) }
        }

        /// C `malloc_usable_size`: see [`allocator_capi::c::malloc_usable_size`].
        ///
        /// # Safety
        ///
        /// `ptr` is null or a live block of these functions.
        $($attr)*
        pub unsafe extern "C" fn malloc_usable_size(ptr: *mut ::core::ffi::c_void) -> usize {
            // SAFETY: forwarded to the C function of the same contract.
            unsafe { $crate::c::malloc_usable_size(&$heap, ptr) }
        }
    };
}
