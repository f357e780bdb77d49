//! Where a [`GlobalAllocator`](crate::GlobalAllocator) gets more memory when
//! its byte allocator runs dry.

use allocator_traits::{AllocError, AllocResult, PageAllocator};

/// A supplier of memory chunks for a growing heap.
///
/// When the byte allocator of a [`GlobalAllocator`](crate::GlobalAllocator)
/// reports [`AllocError::NoMemory`], the allocator asks its source for a
/// chunk, hands it to the byte allocator with `add_memory` (or `init`, the
/// first time) and retries; if that still fails it grows once more with a
/// larger estimate (for a buddy byte allocator, which needs a naturally
/// aligned power of two) and retries a last time: at most two growths and
/// two retries per request.
///
/// The source is called **with the allocator's lock held**: it must not
/// allocate through the same `GlobalAllocator` (that would deadlock), and on
/// a kernel it should be quick.
///
/// # Safety
///
/// Every chunk `[start, start + size)` that [`alloc_chunk`](Self::alloc_chunk)
/// returns must be valid, writable memory, used by nothing else, that stays
/// valid for as long as the allocator (and every block carved from the chunk)
/// lives, and whose address carries exposed provenance: the allocator passes
/// it straight to [`BaseAllocator::add_memory`](allocator_traits::BaseAllocator::add_memory).
pub unsafe trait PageSource {
    /// The granule of this source: a power of two; every size asked of
    /// [`alloc_chunk`](Self::alloc_chunk) is a non-zero multiple of it.
    fn granule(&self) -> usize;

    /// Takes a chunk of exactly `size` bytes (a non-zero multiple of
    /// [`granule`](Self::granule)) and returns its start address.
    ///
    /// [`AllocError::NoMemory`] when the source cannot give that much.
    fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize>;

    /// Takes back a chunk: one the byte allocator refused, or one the heap
    /// gave up because it became wholly free (see
    /// [`Growing`](crate::Growing)).
    ///
    /// # Safety
    ///
    /// `[start, start + size)` was returned by
    /// [`alloc_chunk(size)`](Self::alloc_chunk) of this source and nothing
    /// uses it.
    unsafe fn dealloc_chunk(&mut self, start: usize, size: usize);

    /// Whether every chunk [`alloc_chunk`](Self::alloc_chunk) returns is
    /// zero-filled (fresh anonymous mappings are). A caller may then skip
    /// zeroing memory it takes straight from the source, such as
    /// [`GlobalAllocator::alloc_chunk`](crate::GlobalAllocator::alloc_chunk)'s
    /// direct chunks under a C `calloc`. Memory that was ever handed out by
    /// the heap and freed is never known to be zero, whatever this says.
    ///
    /// Part of the trait's `unsafe` promise: `true` only if it holds for
    /// every chunk. The provided implementation says `false`.
    fn zeroed(&self) -> bool {
        false
    }
}

/// No source: the heap is fixed to the memory given to
/// [`GlobalAllocator::init`](crate::GlobalAllocator::init) and
/// [`add_memory`](crate::GlobalAllocator::add_memory); an allocation that does
/// not fit fails (a null pointer from `GlobalAlloc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoSource;

impl NoSource {
    /// The source that never gives memory.
    pub const fn new() -> Self {
        Self
    }
}

// SAFETY: `alloc_chunk` never returns a chunk.
unsafe impl PageSource for NoSource {
    fn granule(&self) -> usize {
        1
    }

    fn alloc_chunk(&mut self, _size: usize) -> AllocResult<usize> {
        Err(AllocError::NoMemory)
    }

    unsafe fn dealloc_chunk(&mut self, _start: usize, _size: usize) {}
}

/// A page allocator (a kernel's frame allocator, for example
/// `BitmapPageAllocator`) as the source of a growing heap.
///
/// Chunks are whole runs of `P::PAGE_SIZE` pages, aligned to a page. The
/// addresses the page allocator hands out are used directly as memory. A page
/// allocator does not promise that (it may manage physical page numbers that
/// nothing maps), so [`new`](Self::new) is `unsafe`: its caller promises it.
/// On a kernel whose frames are not identity-mapped, initialise the page
/// allocator with the (linearly mapped) virtual addresses of the frames.
///
/// In a [`GlobalAllocator`](crate::GlobalAllocator), the page allocator is
/// also reachable directly through
/// [`alloc_pages`](crate::GlobalAllocator::alloc_pages) and
/// [`dealloc_pages`](crate::GlobalAllocator::dealloc_pages), so one static
/// is the whole memory subsystem.
///
/// ```compile_fail,E0133
/// // Safe code cannot make one: pages are not memory until someone promises so.
/// let source = allocator_global::PageAllocatorSource::new(());
/// ```
#[derive(Debug)]
pub struct PageAllocatorSource<P> {
    pages: P,
}

impl<P> PageAllocatorSource<P> {
    /// The source over `pages` (initialised now or later, through
    /// [`GlobalAllocator::init_pages`](crate::GlobalAllocator::init_pages)).
    ///
    /// # Safety
    ///
    /// Every page `pages` manages, now or after a later `init`/`add_memory`,
    /// is mapped, writable memory at the address the page allocator hands
    /// out, used by nothing but this page allocator, whose address carries
    /// exposed provenance, and that outlives the source and every block carved
    /// from it. (A page allocator's own `init` promises only that the page
    /// numbers are unused.)
    pub const unsafe fn new(pages: P) -> Self {
        Self { pages }
    }

    /// The page allocator.
    pub fn page_allocator(&self) -> &P {
        &self.pages
    }

    /// The page allocator, mutably (to `init` it before the source is put
    /// into a `GlobalAllocator`).
    pub fn page_allocator_mut(&mut self) -> &mut P {
        &mut self.pages
    }

    /// The page allocator, taken back.
    pub fn into_inner(self) -> P {
        self.pages
    }
}

// SAFETY: the pages come from `P::alloc_pages`, whose `unsafe impl` promises
// disjoint runs inside the managed ranges; the caller of the `unsafe`
// `PageAllocatorSource::new` promised those ranges are mapped, writable memory
// used by nothing else that outlives the source. A run of pages stays
// allocated in `P` while the heap owns it.
unsafe impl<P: PageAllocator> PageSource for PageAllocatorSource<P> {
    fn granule(&self) -> usize {
        P::PAGE_SIZE
    }

    fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize> {
        if size == 0 || size % P::PAGE_SIZE != 0 {
            return Err(AllocError::InvalidParam);
        }
        self.pages.alloc_pages(size / P::PAGE_SIZE, P::PAGE_SIZE)
    }

    unsafe fn dealloc_chunk(&mut self, start: usize, size: usize) {
        // SAFETY: the chunk came from `alloc_chunk(size)`, that is from
        // `alloc_pages(size / PAGE_SIZE, ..)` of `self.pages`, and is unused
        // (caller's contract).
        unsafe { self.pages.dealloc_pages(start, size / P::PAGE_SIZE) }
    }
}

#[cfg(feature = "std")]
pub use system::SystemSource;

#[cfg(all(feature = "std", unix))]
pub use mmap::MmapSource;

#[cfg(all(feature = "std", unix))]
mod mmap {
    use allocator_traits::{AllocError, AllocResult};

    use super::PageSource;

    /// Chunks mapped straight from the kernel with `mmap` and unmapped with
    /// `munmap` when the heap gives them back: resident memory really drops,
    /// and the process's `malloc` is never called, so a heap over it can be
    /// the process's `#[global_allocator]` or its C `malloc` without
    /// recursing.
    ///
    /// Anonymous private mappings, readable and writable, zero-filled by the
    /// kernel; the granule is the system's page size.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct MmapSource;

    impl MmapSource {
        /// The source over anonymous mappings.
        pub const fn new() -> Self {
            Self
        }
    }

    // SAFETY: every chunk is a fresh anonymous mapping of `size` bytes,
    // readable and writable, which nothing else uses; its address is exposed
    // (`with_exposed_provenance` in the engines finds it: a pointer from
    // `mmap` carries the provenance of the mapping). It is unmapped only by
    // `dealloc_chunk`, after the heap gave it up.
    unsafe impl PageSource for MmapSource {
        fn granule(&self) -> usize {
            // SAFETY: `sysconf` has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(page).ok().filter(|p| p.is_power_of_two()).unwrap_or(4096)
        }

        fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize> {
            if size == 0 {
                return Err(AllocError::InvalidParam);
            }
            // SAFETY: a new anonymous private mapping; no existing memory is
            // touched (no MAP_FIXED).
            let ptr = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED || ptr.is_null() {
                return Err(AllocError::NoMemory);
            }
            Ok(ptr.cast::<u8>().expose_provenance())
        }

        unsafe fn dealloc_chunk(&mut self, start: usize, size: usize) {
            let ptr = core::ptr::with_exposed_provenance_mut::<libc::c_void>(start);
            // SAFETY: `[start, start + size)` is a whole mapping from
            // `alloc_chunk(size)` that nothing uses any more (caller's
            // contract). A failure leaves the mapping in place: a leak,
            // never a fault.
            unsafe { libc::munmap(ptr, size) };
        }

        /// Anonymous mappings are zero-filled by the kernel.
        fn zeroed(&self) -> bool {
            true
        }
    }
}

#[cfg(feature = "std")]
mod system {
    use core::alloc::{GlobalAlloc, Layout};

    use allocator_traits::{AllocError, AllocResult, region::addr_to_ptr};

    use super::PageSource;

    /// Large page-aligned chunks from the operating system's allocator
    /// ([`std::alloc::System`]), so a [`GlobalAllocator`](crate::GlobalAllocator)
    /// can be a host program's `#[global_allocator]`.
    ///
    /// Chunks go back to `System` when the heap gives them up (wholly free,
    /// see [`Growing`](crate::Growing)); whether the process's resident
    /// memory drops then is the system allocator's business (glibc unmaps
    /// large blocks). [`MmapSource`](crate::MmapSource) maps and unmaps
    /// directly, without the process's `malloc`.
    ///
    /// `System` does not go through the Rust global allocator, so using it
    /// under the allocator's lock does not re-enter.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct SystemSource;

    impl SystemSource {
        /// The alignment (and size granule) of every chunk: 4 KiB.
        pub const CHUNK_ALIGN: usize = 4096;

        /// The source over `std::alloc::System`.
        pub const fn new() -> Self {
            Self
        }
    }

    // SAFETY: every chunk is a fresh `System` allocation of `size` bytes
    // (exposed provenance), owned by the heap from then on and freed by
    // `dealloc_chunk` only once the heap no longer uses it.
    unsafe impl PageSource for SystemSource {
        fn granule(&self) -> usize {
            Self::CHUNK_ALIGN
        }

        fn alloc_chunk(&mut self, size: usize) -> AllocResult<usize> {
            if size == 0 {
                return Err(AllocError::InvalidParam);
            }
            let layout =
                Layout::from_size_align(size, Self::CHUNK_ALIGN).map_err(|_| AllocError::NoMemory)?;
            // SAFETY: `layout` has a non-zero size.
            let ptr = unsafe { std::alloc::System.alloc(layout) };
            if ptr.is_null() { Err(AllocError::NoMemory) } else { Ok(ptr.expose_provenance()) }
        }

        unsafe fn dealloc_chunk(&mut self, start: usize, size: usize) {
            let (Some(ptr), Ok(layout)) =
                (addr_to_ptr(start), Layout::from_size_align(size, Self::CHUNK_ALIGN))
            else {
                return;
            };
            // SAFETY: the chunk came from `alloc_chunk(size)`, i.e. from
            // `System.alloc` with this very layout, and is unused (caller's
            // contract); `addr_to_ptr` recovers the provenance exposed there.
            unsafe { std::alloc::System.dealloc(ptr.as_ptr(), layout) }
        }
    }
}
