//! The README's host example as this test binary's `#[global_allocator]`: a
//! slab heap growing from the system serves 8 GiB live without a ceiling
//! (the first edition aborted at 913 MiB: 64 regions of 16 MiB), where the
//! machine has the memory (it is skipped below 12 GiB available).

use allocator_global::{GlobalAllocator, SystemSource};
use allocator_slab::SlabByteAllocator;

#[global_allocator]
static ALLOCATOR: GlobalAllocator<SlabByteAllocator, SystemSource> =
    GlobalAllocator::new(SlabByteAllocator::new(), SystemSource::new());

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// `MemAvailable` from /proc/meminfo, where there is one.
fn available_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<usize>().ok()? * 1024)
}

#[test]
fn eight_gib_live_without_a_ceiling() {
    match available_memory() {
        Some(available) if available >= 12 * GIB => {}
        other => {
            eprintln!("skipped: needs 12 GiB available, the machine reports {other:?}");
            return;
        }
    }
    let blocks: Vec<Vec<u8>> = (0..8 * GIB / MIB).map(|i| vec![i as u8; MIB]).collect();
    let stats = ALLOCATOR.statistics();
    assert!(stats.used_bytes >= 8 * GIB, "{stats:?}");
    assert!(blocks.iter().enumerate().all(|(i, b)| b[0] == i as u8 && b[MIB - 1] == i as u8));
    drop(blocks);
    ALLOCATOR.trim();
    let stats = ALLOCATOR.statistics();
    assert!(stats.held_bytes < GIB, "the memory went back to the system: {stats:?}");
}
