//! A kernel's memory subsystem in one `static`, simulated in a host program.
//!
//! At "boot" the kernel hands one static region (its "physical memory") to a
//! `BitmapPageAllocator`. The slab heap starts empty and grows from those
//! page frames whenever it runs dry; page frames for page tables or DMA come
//! from the same object. `Box` and `Vec` then work on top.
//!
//! In a real kernel the static is the `#[global_allocator]` and the standard
//! `Box`/`Vec` use it; the lock parameter is the kernel's interrupt-disabling
//! spin lock (`GlobalAllocator<SlabByteAllocator, PageAllocatorSource<..>,
//! IrqSpinLock>`). Here the host's own allocator must keep serving the
//! standard library before `main`, so the example uses the
//! `allocator_api2` collections with `&KERNEL_MEMORY` as their allocator,
//! and `GlobalAlloc` directly.
//!
//! ```text
//! cargo run --example kernel_heap --features global,slab,bitmap
//! ```
// With `allocator_api` (nightly) allocator-api2's trait is core's.
#![cfg_attr(feature = "allocator_api", feature(allocator_api))]

use std::{alloc::GlobalAlloc, alloc::Layout, cell::UnsafeCell};

use allocator::{BitmapPageAllocator, GlobalAllocator, PageAllocatorSource, SlabByteAllocator};
use allocator_api2::{boxed::Box, vec::Vec};

const PAGE_SIZE: usize = 4096;
const MEMORY_SIZE: usize = 32 << 20;

/// The machine's "physical memory": one static, page-aligned region.
#[repr(C, align(4096))]
struct PhysicalMemory(UnsafeCell<[u8; MEMORY_SIZE]>);

// SAFETY: the memory is only ever reached through the allocator, which
// hands out disjoint blocks and frames under its lock.
unsafe impl Sync for PhysicalMemory {}

static MEMORY: PhysicalMemory = PhysicalMemory(UnsafeCell::new([0; MEMORY_SIZE]));

/// Frames and heap behind one lock (the default spin lock here; a kernel
/// passes its interrupt-disabling lock as the third parameter).
type KernelMemory = GlobalAllocator<SlabByteAllocator, PageAllocatorSource<BitmapPageAllocator<PAGE_SIZE>>>;

/// The whole memory subsystem.
static KERNEL_MEMORY: KernelMemory = GlobalAllocator::new(
    SlabByteAllocator::new(),
    // SAFETY: the frame allocator is only ever given `MEMORY`, a static
    // array: mapped, writable, used by nothing else, exposed in `main`.
    unsafe { PageAllocatorSource::new(BitmapPageAllocator::new()) },
);

fn report(stage: &str) {
    let heap = KERNEL_MEMORY.statistics();
    println!(
        "{stage:<34} frames {:>5} used / {:>5}  heap {:>6} KiB used / {:>6} KiB, grew {}x ({} KiB)",
        KERNEL_MEMORY.used_pages(),
        KERNEL_MEMORY.total_pages(),
        heap.used_bytes >> 10,
        heap.total_bytes >> 10,
        heap.grow_count,
        heap.grown_bytes >> 10,
    );
}

#[derive(Debug)]
struct Task {
    id: u32,
    name: Box<str, &'static KernelMemory>,
    open_files: Vec<u32, &'static KernelMemory>,
}

fn main() {
    // Boot: hand the physical memory to the frame allocator.
    let start = MEMORY.0.get().cast::<u8>().expose_provenance();
    // SAFETY: `MEMORY` is a static used by nothing else, so it is valid,
    // unused and outlives the allocator; its address was exposed above.
    unsafe { KERNEL_MEMORY.init_pages(start, MEMORY_SIZE) }.expect("the frame allocator takes the region");
    report("after boot");

    // Page frames for a page table and a 64 KiB-aligned DMA buffer.
    let page_table = KERNEL_MEMORY.alloc_pages(1, PAGE_SIZE).expect("a frame");
    let dma = KERNEL_MEMORY.alloc_pages(16, 64 << 10).expect("16 aligned frames");
    assert_eq!(dma % (64 << 10), 0);
    println!("  page table frame at {page_table:#x}, DMA buffer at {dma:#x}");
    report("after page frames");

    // The heap: the first allocation makes it grow from the frames.
    let mut tasks: Vec<Task, _> = Vec::new_in(&KERNEL_MEMORY);
    for id in 0..1000u32 {
        let mut open_files = Vec::new_in(&KERNEL_MEMORY);
        open_files.extend(0..id % 16);
        let name: Box<str, _> = {
            let text = format!("task-{id}");
            let mut bytes = Vec::with_capacity_in(text.len(), &KERNEL_MEMORY);
            bytes.extend_from_slice(text.as_bytes());
            let bytes = bytes.into_boxed_slice();
            let (raw, heap) = Box::into_raw_with_allocator(bytes);
            // SAFETY: the bytes are the UTF-8 of `text`, allocated in `heap`.
            unsafe { Box::from_raw_in(raw as *mut str, heap) }
        };
        tasks.push(Task { id, name, open_files });
    }
    assert_eq!((tasks[42].id, &*tasks[42].name), (42, "task-42"));
    assert_eq!(tasks[42].open_files.len(), 10);
    println!("  {:?}", tasks[3]);
    report("after 1000 tasks");

    // A large kernel buffer, through GlobalAlloc as `Box`/`Vec` would use it.
    let layout = Layout::from_size_align(4 << 20, PAGE_SIZE).unwrap();
    // SAFETY: a non-zero-size layout.
    let buffer = unsafe { KERNEL_MEMORY.alloc_zeroed(layout) };
    assert!(!buffer.is_null() && buffer.addr() % PAGE_SIZE == 0);
    report("holding a 4 MiB buffer");
    // SAFETY: allocated just above with `layout`.
    unsafe { KERNEL_MEMORY.dealloc(buffer, layout) };

    // Shut everything down: the frames given back are free again, and so are
    // the heap's chunks as they become wholly free (keeping at most the
    // policy's `keep_free` for the next burst); `trim` returns the rest.
    drop(tasks);
    // SAFETY: both ranges came from `alloc_pages` above and are unused.
    unsafe {
        KERNEL_MEMORY.dealloc_pages(page_table, 1);
        KERNEL_MEMORY.dealloc_pages(dma, 16);
    }
    report("after freeing everything");
    KERNEL_MEMORY.trim();
    report("after trim");
    let heap = KERNEL_MEMORY.statistics();
    assert_eq!(heap.used_bytes, 0);
    assert_eq!(KERNEL_MEMORY.used_pages(), 0, "every frame is back");
    assert_eq!(heap.failed_allocs, 0);

    // The round trip: a burst of 1 MiB buffers takes most frames, they are
    // freed, the frames come back, and one large page run is served again.
    let mib = Layout::from_size_align(1 << 20, 8).unwrap();
    let mut burst = Vec::new();
    loop {
        // SAFETY: a non-zero-size layout.
        let block = unsafe { KERNEL_MEMORY.alloc(mib) };
        if block.is_null() {
            break;
        }
        burst.push(block);
    }
    report(&format!("after a burst of {} MiB", burst.len()));
    for block in burst {
        // SAFETY: allocated in the loop above with `mib`.
        unsafe { KERNEL_MEMORY.dealloc(block, mib) };
    }
    let half = MEMORY_SIZE / PAGE_SIZE / 2;
    // Frames the heap still keeps go back before a page request fails.
    let run = KERNEL_MEMORY.alloc_pages(half, 2 << 20).expect("half of memory as one run, after the burst");
    report("holding half of memory as pages");
    // SAFETY: allocated just above.
    unsafe { KERNEL_MEMORY.dealloc_pages(run, half) };
    assert_eq!(KERNEL_MEMORY.used_pages(), 0);
    let heap = KERNEL_MEMORY.statistics();
    println!(
        "  took {} KiB from the frames in {} growths, gave back {} KiB",
        heap.grown_bytes >> 10,
        heap.grow_count,
        heap.returned_bytes >> 10
    );
}
