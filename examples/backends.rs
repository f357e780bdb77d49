//! Picks each backend in turn, runs the same small workload through the
//! `ByteAllocator` trait, and prints what each one reports.
//!
//! `cargo run --example backends --features full`

use allocator::{
    AllocError, BaseAllocator, BitmapIdAllocator, BitmapPageAllocator, BuddyByteAllocator, ByteAllocator,
    IdAllocator, PageAllocator, SlabByteAllocator, TlsfByteAllocator,
};
use core::{alloc::Layout, ptr::NonNull};

const REGION: usize = 4 << 20;

/// A region that lives as long as the program: what a kernel hands its heap.
fn region(size: usize) -> (usize, usize) {
    let memory: &'static mut [u8] = vec![0u8; size].leak();
    (memory.as_mut_ptr().expose_provenance(), memory.len())
}

/// Allocates a spread of sizes and alignments, frees every other block,
/// grows the rest, then frees everything; returns the statistics at the peak.
fn workload(heap: &mut dyn ByteAllocator) -> Result<(usize, usize), AllocError> {
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    for i in 0..1_000usize {
        let layout = Layout::from_size_align(8 + (i * 37) % 2_000, 1 << (i % 7))
            .map_err(|_| AllocError::InvalidParam)?;
        live.push((heap.alloc(layout)?, layout));
    }
    let peak = (heap.used_bytes(), heap.available_bytes());
    let mut kept = Vec::new();
    for (i, (ptr, layout)) in live.into_iter().enumerate() {
        if i % 2 == 0 {
            // SAFETY: `ptr` came from `heap.alloc(layout)` and is freed once.
            unsafe { heap.dealloc(ptr, layout) };
        } else {
            // SAFETY: as above; on success the block now has `layout.size() * 2` bytes.
            let grown = unsafe { heap.realloc(ptr, layout, layout.size() * 2) }?;
            kept.push((grown, Layout::from_size_align(layout.size() * 2, layout.align()).unwrap()));
        }
    }
    for (ptr, layout) in kept {
        // SAFETY: `ptr` came from `heap.realloc` with this layout.
        unsafe { heap.dealloc(ptr, layout) };
    }
    Ok(peak)
}

fn run(name: &str, mut heap: Box<dyn ByteAllocator>) {
    let (start, size) = region(REGION);
    // SAFETY: the leaked region belongs to this heap alone, forever.
    if let Err(e) = unsafe { heap.init(start, size) } {
        println!("{name:<16} init failed: {e}");
        return;
    }
    let total = heap.total_bytes();
    match workload(heap.as_mut()) {
        Ok((used, available)) => println!(
            "{name:<16} total {total:>9} B   at peak: used {used:>9} B, available {available:>9} B   after: used {} B",
            heap.used_bytes()
        ),
        Err(e) => println!("{name:<16} workload failed: {e}"),
    }
}

fn main() {
    println!("byte allocators, each on a {} MiB region:", REGION >> 20);
    run("tlsf", Box::new(TlsfByteAllocator::new()));
    run("buddy", Box::new(BuddyByteAllocator::new()));
    run("slab (tlsf)", Box::new(SlabByteAllocator::new()));
    run("slab (buddy)", Box::new(SlabByteAllocator::with_backing(BuddyByteAllocator::new())));

    let mut pages = BitmapPageAllocator::<4096>::new();
    let (start, size) = region(REGION + 4096);
    // SAFETY: the leaked region belongs to the page allocator alone.
    unsafe { pages.init(start, size) }.expect("page region");
    let frame = pages.alloc_pages(8, 32 * 1024).expect("8 pages, 32 KiB aligned");
    assert_eq!(frame % (32 * 1024), 0);
    println!(
        "bitmap pages     total {} pages, used {} after one 8-page 32 KiB-aligned allocation at {frame:#x}",
        pages.total_pages(),
        pages.used_pages()
    );
    // SAFETY: the eight pages came from `alloc_pages` above.
    unsafe { pages.dealloc_pages(frame, 8) };

    let mut ids = BitmapIdAllocator::new();
    // SAFETY: an ID range has no memory-safety requirement.
    unsafe { ids.init(0, 4096) }.expect("id range");
    let irq = ids.alloc_id(4, 4).expect("four aligned IDs");
    ids.alloc_fixed_id(1000).expect("a fixed ID");
    println!(
        "bitmap ids       size {}, used {} (4 IDs at {irq}, fixed 1000), 1000 allocated again: {:?}",
        ids.size(),
        ids.used(),
        ids.alloc_fixed_id(1000)
    );
}
