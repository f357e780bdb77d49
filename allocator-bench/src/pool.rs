//! The memory every pool-based contestant allocates from.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    ptr::NonNull,
};

/// The alignment of the pool: a page, as the upstream benchmark's
/// `MemoryPool` gives it (ax slab refuses anything less).
pub const POOL_ALIGN: usize = 4096;

/// One block of memory, taken from the system allocator once and handed to
/// each contestant in turn ("a fresh pool of the same size": the same bytes,
/// re-initialised by every new contestant). Every page is touched once up
/// front, so no contestant pays for first-touch page faults.
pub struct Pool {
    base: NonNull<u8>,
    layout: Layout,
}

impl Pool {
    /// A pool of `size` bytes (rounded up to whole pages), pre-faulted, or
    /// `None` when the system has not that much memory.
    pub fn new(size: usize) -> Option<Self> {
        let layout = Layout::from_size_align(size.max(POOL_ALIGN), POOL_ALIGN).ok()?.pad_to_align();
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { System.alloc(layout) })?;
        let pool = Self { base, layout };
        for offset in (0..layout.size()).step_by(POOL_ALIGN) {
            // SAFETY: `offset < layout.size()`, inside the allocation.
            unsafe { base.add(offset).write_volatile(0) };
        }
        Some(pool)
    }

    /// The pool's size in bytes.
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    /// The first byte of the pool.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Whether `addr` lies in the pool.
    #[cfg(test)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base.addr().get()) < self.size()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: `base` came from `System.alloc(self.layout)`.
        unsafe { System.dealloc(self.base.as_ptr(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_aligned_and_knows_its_bounds() {
        let pool = Pool::new(10_000).unwrap();
        assert_eq!(pool.size(), 12_288);
        assert_eq!(pool.base().addr().get() % POOL_ALIGN, 0);
        let base = pool.base().addr().get();
        assert!(pool.contains(base));
        assert!(pool.contains(base + pool.size() - 1));
        assert!(!pool.contains(base + pool.size()));
        assert!(!pool.contains(base - 1));
    }
}
