//! The `no_std` form: `c_malloc!` over a `static` heap (here without
//! `no_mangle`, as a hosted test keeps its own `malloc`), errno through the
//! user's setter, blocks freed by other threads.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicI32, AtomicUsize, Ordering},
};

use allocator_capi::Errno;
use allocator_global::{GlobalAllocator, NoSource};
use allocator_slab::SlabByteAllocator;

/// A fixed 8 MiB heap, as a kernel's early heap.
static HEAP: GlobalAllocator<SlabByteAllocator> = GlobalAllocator::new(SlabByteAllocator::new(), NoSource);

/// The last errno set (one for the process: the tests below that read it
/// run in one thread each and check only their own codes).
static LAST_ERRNO: AtomicI32 = AtomicI32::new(0);

fn set_errno(error: Errno) {
    LAST_ERRNO.store(error.code(), Ordering::Relaxed);
}

mod c {
    allocator_capi::c_malloc!(super::HEAP, errno = super::set_errno, mangled);
}

fn init() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    if DONE.swap(1, Ordering::SeqCst) == 0 {
        let arena: &'static mut [u8] = Vec::leak(vec![0u8; 8 << 20]);
        // SAFETY: the leaked arena is ours alone, forever; its address is exposed.
        unsafe { HEAP.init(arena.as_mut_ptr().expose_provenance(), arena.len()) }.unwrap();
    } else {
        while HEAP.total_bytes() == 0 {
            std::thread::yield_now();
        }
    }
}

#[test]
fn the_macro_functions_follow_c() {
    init();
    // SAFETY: every pointer passed back came from these functions, once.
    unsafe {
        let p = c::calloc(100, 10).cast::<u8>();
        assert!(std::slice::from_raw_parts(p, 1000).iter().all(|&b| b == 0));
        let mut out: *mut c_void = core::ptr::null_mut();
        assert_eq!(c::posix_memalign(&mut out, 4096, 100), 0);
        assert_eq!(out.addr() % 4096, 0);
        assert_eq!(c::posix_memalign(&mut out, 12, 100), 22);
        c::free(out);
        assert!(c::aligned_alloc(5, 10).is_null());
        assert_eq!(LAST_ERRNO.swap(0, Ordering::Relaxed), 22);
        // The fixed heap has 8 MiB: 16 MiB fails with ENOMEM.
        assert!(c::malloc(16 << 20).is_null());
        assert_eq!(LAST_ERRNO.swap(0, Ordering::Relaxed), 12);
        let q = c::realloc(p.cast(), 5000).cast::<u8>();
        assert_eq!(q.add(999).read(), 0);
        c::free(q.cast());
        let v = c::valloc(1);
        assert_eq!(v.addr() % 4096, 0);
        c::free(v);
    }
}

/// Blocks the producer hands over (fewer under Miri, which keeps state for
/// every byte written).
const HANDED_OVER: usize = if cfg!(miri) { 400 } else { 20_000 };

#[test]
fn threads_free_each_others_blocks() {
    init();
    let (send, receive) = std::sync::mpsc::sync_channel::<usize>(64);
    let producer = std::thread::spawn(move || {
        for i in 0..HANDED_OVER {
            // SAFETY: a fresh block of `size` bytes, handed to the consumer.
            let block = unsafe {
                let size = 1 + i % 3000;
                let p = c::malloc(size).cast::<u8>();
                assert!(!p.is_null());
                p.write_bytes((i % 251) as u8, size);
                p
            };
            send.send(block.expose_provenance()).unwrap();
        }
    });
    let mut received = 0usize;
    for (i, address) in receive.iter().enumerate() {
        let block = std::ptr::with_exposed_provenance_mut::<u8>(address);
        // SAFETY: a live block of the producer's, `1 + i % 3000` bytes,
        // freed once here.
        unsafe {
            assert!(c::malloc_usable_size(block.cast()) > i % 3000);
            assert_eq!(block.add(i % 3000).read(), (i % 251) as u8);
            c::free(block.cast());
        }
        received += 1;
    }
    producer.join().unwrap();
    assert_eq!(received, HANDED_OVER);
}
