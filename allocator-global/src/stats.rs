//! Statistics published under the allocator's lock and read without it.

use core::sync::atomic::{AtomicUsize, Ordering, fence};

/// A snapshot of a [`GlobalAllocator`](crate::GlobalAllocator)'s statistics.
///
/// All fields come from the same moment (between two operations), so
/// `used_bytes + available_bytes <= total_bytes` holds in every snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Statistics {
    /// The bytes the byte allocator manages (`ByteAllocator::total_bytes`).
    pub total_bytes: usize,
    /// The bytes of live blocks, as the byte allocator reserves them
    /// (`ByteAllocator::used_bytes`).
    pub used_bytes: usize,
    /// The bytes still free (`ByteAllocator::available_bytes`).
    pub available_bytes: usize,
    /// How many times the heap grew from its page source.
    pub grow_count: usize,
    /// The bytes taken from the page source, in all.
    pub grown_bytes: usize,
    /// How many allocations (and reallocations) failed.
    pub failed_allocs: usize,
}

/// The published statistics: a sequence lock over atomics. Writers hold the
/// allocator's lock (so there is one writer at a time); readers never block
/// a writer and retry if a write overlapped their read.
pub(crate) struct AtomicStatistics {
    /// Odd while a write is in progress.
    sequence: AtomicUsize,
    pub(crate) total_bytes: AtomicUsize,
    pub(crate) used_bytes: AtomicUsize,
    pub(crate) available_bytes: AtomicUsize,
    pub(crate) grow_count: AtomicUsize,
    pub(crate) grown_bytes: AtomicUsize,
    pub(crate) failed_allocs: AtomicUsize,
}

impl AtomicStatistics {
    pub(crate) const fn new() -> Self {
        Self {
            sequence: AtomicUsize::new(0),
            total_bytes: AtomicUsize::new(0),
            used_bytes: AtomicUsize::new(0),
            available_bytes: AtomicUsize::new(0),
            grow_count: AtomicUsize::new(0),
            grown_bytes: AtomicUsize::new(0),
            failed_allocs: AtomicUsize::new(0),
        }
    }

    /// Publishes `stats`. Only called with the allocator's lock held, so
    /// writes never race each other.
    pub(crate) fn publish(&self, stats: &Statistics) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence number before the data stores for readers.
        fence(Ordering::Release);
        self.total_bytes.store(stats.total_bytes, Ordering::Relaxed);
        self.used_bytes.store(stats.used_bytes, Ordering::Relaxed);
        self.available_bytes.store(stats.available_bytes, Ordering::Relaxed);
        self.grow_count.store(stats.grow_count, Ordering::Relaxed);
        self.grown_bytes.store(stats.grown_bytes, Ordering::Relaxed);
        self.failed_allocs.store(stats.failed_allocs, Ordering::Relaxed);
        self.sequence.store(sequence.wrapping_add(2), Ordering::Release);
    }

    /// A consistent snapshot, without taking the allocator's lock.
    pub(crate) fn snapshot(&self) -> Statistics {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let stats = Statistics {
                total_bytes: self.total_bytes.load(Ordering::Relaxed),
                used_bytes: self.used_bytes.load(Ordering::Relaxed),
                available_bytes: self.available_bytes.load(Ordering::Relaxed),
                grow_count: self.grow_count.load(Ordering::Relaxed),
                grown_bytes: self.grown_bytes.load(Ordering::Relaxed),
                failed_allocs: self.failed_allocs.load(Ordering::Relaxed),
            };
            // Orders the data loads before the second sequence load.
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return stats;
            }
        }
    }

    /// One field, alone: a single atomic load (no snapshot consistency).
    pub(crate) fn load(field: &AtomicUsize) -> usize {
        field.load(Ordering::Relaxed)
    }
}
