//! `MmapSource`: chunks mapped from the kernel go back to it when the heap
//! gives them up; resident and mapped memory drop, as the kernel reports in
//! /proc/self/status (Linux; elsewhere the test has nothing to read and
//! returns).
#![cfg(unix)]

use std::alloc::Layout;

use allocator_global::{ByteAllocator, Growing, GrowthPolicy, MmapSource};
use allocator_tlsf::TlsfByteAllocator;

const MIB: usize = 1 << 20;

/// `VmRSS` and `VmSize` of this process, in bytes.
fn resident_and_mapped() -> Option<(usize, usize)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<usize> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmSize:")?))
}

#[test]
fn memory_goes_back_to_the_kernel() {
    let Some(start) = resident_and_mapped() else { return };
    let mut heap = Growing::with_policy(
        TlsfByteAllocator::new(),
        MmapSource::new(),
        GrowthPolicy::new(4 * MIB, 16 * MIB),
    );
    let l = Layout::from_size_align(MIB, 8).unwrap();
    let blocks: Vec<_> = (0..128)
        .map(|i| {
            let block = heap.alloc(l).unwrap();
            // SAFETY: a live 1 MiB block: touching it makes it resident.
            unsafe { block.as_ptr().write_bytes(i as u8, MIB) };
            block
        })
        .collect();
    let (full_rss, full_mapped) = resident_and_mapped().unwrap();
    assert!(full_rss >= start.0 + 120 * MIB, "128 MiB written are resident: {full_rss} from {}", start.0);
    for block in blocks {
        // SAFETY: allocated above with `l`.
        unsafe { heap.dealloc(block, l) };
    }
    heap.trim();
    let (rss, mapped) = resident_and_mapped().unwrap();
    let stats = heap.growth_statistics();
    assert_eq!(stats.held_bytes, 0, "{stats:?}");
    assert!(full_rss - rss >= 120 * MIB, "resident memory drops: {full_rss} -> {rss}");
    assert!(full_mapped - mapped >= 120 * MIB, "mapped memory drops: {full_mapped} -> {mapped}");
}
