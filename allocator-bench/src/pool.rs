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
    /// Mapped by [`Pool::unfaulted`] (unmapped on drop), not taken from
    /// `System`.
    mapped: bool,
}

impl Pool {
    /// A pool of `size` bytes (rounded up to whole pages), pre-faulted, or
    /// `None` when the system has not that much memory.
    pub fn new(size: usize) -> Option<Self> {
        let layout = Layout::from_size_align(size.max(POOL_ALIGN), POOL_ALIGN).ok()?.pad_to_align();
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { System.alloc(layout) })?;
        let pool = Self { base, layout, mapped: false };
        for offset in (0..layout.size()).step_by(POOL_ALIGN) {
            // SAFETY: `offset < layout.size()`, inside the allocation.
            unsafe { base.add(offset).write_volatile(0) };
        }
        Some(pool)
    }

    /// A pool of `size` bytes (rounded up to whole pages) freshly mapped
    /// from the kernel and never touched, so [`resident_bytes`](Self::resident_bytes)
    /// counts the pages a contestant has touched. Linux (glibc) only (`None`
    /// elsewhere, or when the mapping fails).
    pub fn unfaulted(size: usize) -> Option<Self> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let layout = Layout::from_size_align(size.max(POOL_ALIGN), POOL_ALIGN).ok()?.pad_to_align();
            // SAFETY: an anonymous private mapping at an address of the
            // kernel's choice affects no existing memory.
            let base = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    layout.size(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return None;
            }
            Some(Self { base: NonNull::new(base.cast())?, layout, mapped: true })
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            let _ = size;
            None
        }
    }

    /// The bytes of the pool resident in memory (whole pages, by `mincore`),
    /// or `None` where that cannot be asked.
    pub fn resident_bytes(&self) -> Option<usize> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: `sysconf` has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
            let mut vec = vec![0u8; self.size().div_ceil(page)];
            // SAFETY: the pool is a mapping of `size()` bytes starting at a
            // page boundary (POOL_ALIGN is a multiple of the page size on
            // the systems we run on; mincore fails otherwise, caught below)
            // and `vec` has a byte per page.
            let status =
                unsafe { libc::mincore(self.base.as_ptr().cast(), self.size(), vec.as_mut_ptr().cast()) };
            (status == 0).then(|| vec.iter().filter(|&&b| b & 1 != 0).count() * page)
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            None
        }
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
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if self.mapped {
            // SAFETY: `base` is the start of our mapping of `layout.size()`
            // bytes, used by nothing once the pool goes.
            unsafe { libc::munmap(self.base.as_ptr().cast(), self.layout.size()) };
            return;
        }
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

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot call mincore")]
    fn an_unfaulted_pool_counts_the_pages_touched() {
        let pool = Pool::unfaulted(1 << 20).unwrap();
        assert_eq!(pool.resident_bytes(), Some(0));
        for offset in [0, 4096, 3 * 4096 + 17] {
            // SAFETY: inside the pool.
            unsafe { pool.base().add(offset).write(1) };
        }
        assert_eq!(pool.resident_bytes(), Some(3 * 4096));
    }
}
