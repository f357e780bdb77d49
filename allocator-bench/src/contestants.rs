//! The contestants: one object-safe interface, an adapter per allocator
//! family, and the list the CLI chooses from.
//!
//! Every contestant is driven through `dyn Contestant`, so each pays the same
//! indirect call per operation. Where an allocator has no in-place
//! `realloc`, the adapter allocates, copies and frees, as the
//! `GlobalAlloc`/`Allocator` default would.

use std::{
    alloc::Layout,
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    ptr::NonNull,
};

use crate::pool::Pool;

mod peers;

pub use peers::{Ax, BuddySystem, Bump, LinkedList, Rlsf, SystemAlloc, Talc};

/// What the suites call: a byte allocator owning one pool.
///
/// Layouts passed here always have a non-zero size (the suites never ask for
/// zero bytes, and `GlobalAlloc` callers may not).
pub trait Contestant {
    /// A block for `layout`, or `None` when out of memory.
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` came from this contestant for `layout` and is live.
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a block to `new_size` bytes (same alignment), preserving its
    /// contents; `None` leaves the old block live.
    ///
    /// # Safety
    ///
    /// `ptr` came from this contestant for `layout` and is live; `new_size`
    /// is non-zero and forms a valid layout with `layout.align()`.
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>>;
}

/// Allocate, copy, free: `realloc` for allocators that have nothing better.
///
/// # Safety
///
/// As for [`Contestant::realloc`].
pub(crate) unsafe fn realloc_by_copy<C: Contestant + ?Sized>(
    c: &mut C,
    ptr: NonNull<u8>,
    layout: Layout,
    new_size: usize,
) -> Option<NonNull<u8>> {
    let new_layout = Layout::from_size_align(new_size, layout.align()).ok()?;
    let new = c.alloc(new_layout)?;
    // SAFETY: both blocks are live, distinct, and at least `min` bytes long.
    unsafe { new.as_ptr().copy_from_nonoverlapping(ptr.as_ptr(), layout.size().min(new_size)) };
    // SAFETY: `ptr` is live for `layout` (caller's contract); its bytes moved.
    unsafe { c.dealloc(ptr, layout) };
    Some(new)
}

/// Who wrote a contestant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// This workspace's backends.
    Ours,
    /// `ax-allocator` 0.5.6, the ArceOS crate ours replace.
    Upstream,
    /// Other allocators from crates.io, used raw.
    Peer,
    /// The system allocator (glibc malloc here): no pool.
    System,
    /// The bump allocator: never frees, the floor of what allocating costs.
    Floor,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ours => "ours",
            Self::Upstream => "ax-allocator 0.5.6",
            Self::Peer => "peer",
            Self::System => "system",
            Self::Floor => "floor",
        })
    }
}

/// Makes a contestant over `[base, base + size)`.
///
/// Safety: the region is valid, writable, used by nothing else while the
/// contestant lives, and `base` carries the pool's provenance.
type MakeFn = unsafe fn(NonNull<u8>, usize) -> Result<Box<dyn Contestant>, String>;

/// A contestant the CLI can choose.
pub struct Backend {
    /// The name printed in tables and matched by `--backend`.
    pub name: &'static str,
    /// Who wrote it.
    pub family: Family,
    /// One line on what it is.
    pub about: &'static str,
    make: MakeFn,
}

impl Backend {
    /// Whether it allocates from the pool (all but the system allocator).
    pub fn uses_pool(&self) -> bool {
        self.family != Family::System
    }

    /// Whether `filter` (a name or a family: `ours`, `ax`, `peers`) selects it.
    pub fn matches(&self, filter: &str) -> bool {
        filter == self.name
            || matches!(
                (filter, self.family),
                ("ours", Family::Ours) | ("ax" | "upstream", Family::Upstream) | ("peers", Family::Peer)
            )
    }

    /// A fresh contestant over the whole of `pool`.
    pub fn instantiate<'p>(&self, pool: &'p mut Pool) -> Result<Instance<'p>, String> {
        let size = pool.size();
        self.instantiate_in(pool, size)
    }

    /// A fresh contestant over the first `size` bytes of `pool` (all of it
    /// when `size` is larger).
    pub fn instantiate_in<'p>(&self, pool: &'p mut Pool, size: usize) -> Result<Instance<'p>, String> {
        // SAFETY: `pool` is borrowed mutably for as long as the instance
        // lives, so nothing else uses its bytes meanwhile; `base()` carries
        // the provenance of the whole pool, and the region lies inside it.
        let inner = unsafe { (self.make)(pool.base(), size.min(pool.size())) }?;
        Ok(Instance { inner, _pool: PhantomData })
    }
}

/// A live contestant, borrowing its pool.
pub struct Instance<'p> {
    inner: Box<dyn Contestant>,
    _pool: PhantomData<&'p mut Pool>,
}

impl Deref for Instance<'_> {
    type Target = dyn Contestant;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl DerefMut for Instance<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.inner
    }
}

/// Any of our backends, through `allocator_traits::ByteAllocator`.
pub struct Ours<A>(A);

impl<A: allocator_traits::ByteAllocator + Default + 'static> Ours<A> {
    /// A fresh `A`, initialised over the region (the direct suite wraps it
    /// in `AllocatorRc`).
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`].
    pub unsafe fn engine(base: NonNull<u8>, size: usize) -> Result<A, String> {
        let mut allocator = A::default();
        // SAFETY: the region is ours alone (caller's contract); its address
        // is exposed so the allocator can rebuild a pointer from it.
        unsafe { allocator.init(base.as_ptr().expose_provenance(), size) }
            .map_err(|e| format!("init: {e}"))?;
        Ok(allocator)
    }

    /// The contestant over the region, boxed.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`].
    pub unsafe fn boxed(base: NonNull<u8>, size: usize) -> Result<Box<Self>, String> {
        // SAFETY: forwarded contract.
        Ok(Box::new(Self(unsafe { Self::engine(base, size) }?)))
    }

    /// As [`boxed`](Self::boxed), as a `dyn Contestant`.
    ///
    /// # Safety
    ///
    /// As for [`MakeFn`].
    unsafe fn make(base: NonNull<u8>, size: usize) -> Result<Box<dyn Contestant>, String> {
        // SAFETY: forwarded contract.
        Ok(unsafe { Self::boxed(base, size) }?)
    }
}

impl<A: allocator_traits::ByteAllocator> Contestant for Ours<A> {
    fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.alloc(layout).ok()
    }
    unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, layout: Layout, new_size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded contract.
        unsafe { self.0.realloc(ptr, layout, new_size) }.ok()
    }
}

/// The slab heap over our TLSF with the other size-class tables the crate
/// offers, beside the default one (`slab`): the suites that compare memory
/// use run them when `slab` runs.
pub fn slab_tables() -> Vec<Backend> {
    type Slab<C> = allocator_slab::SlabByteAllocator<allocator_tlsf::TlsfByteAllocator, C>;
    vec![
        Backend {
            name: "slab-fine4096",
            family: Family::Ours,
            about: "SlabByteAllocator<TlsfByteAllocator, FineClassesTo4096> (quarter steps to 4 KiB)",
            make: Ours::<Slab<allocator_slab::FineClassesTo4096>>::make,
        },
        Backend {
            name: "slab-pow2",
            family: Family::Ours,
            about: "SlabByteAllocator<TlsfByteAllocator, PowerOfTwoClasses> (the table of earlier versions)",
            make: Ours::<Slab<allocator_slab::PowerOfTwoClasses>>::make,
        },
    ]
}

/// Every contestant, ours first, in table order.
pub fn all() -> Vec<Backend> {
    vec![
        Backend {
            name: "tlsf",
            family: Family::Ours,
            about: "allocator_tlsf::TlsfByteAllocator",
            make: Ours::<allocator_tlsf::TlsfByteAllocator>::make,
        },
        Backend {
            name: "buddy",
            family: Family::Ours,
            about: "allocator_buddy::BuddyByteAllocator",
            make: Ours::<allocator_buddy::BuddyByteAllocator>::make,
        },
        Backend {
            name: "slab",
            family: Family::Ours,
            about: "allocator_slab::SlabByteAllocator (over our TLSF, the default)",
            make: Ours::<allocator_slab::SlabByteAllocator>::make,
        },
        Backend {
            name: "slab-buddy",
            family: Family::Ours,
            about: "allocator_slab::SlabByteAllocator<BuddyByteAllocator> (over our buddy)",
            make: Ours::<allocator_slab::SlabByteAllocator<allocator_buddy::BuddyByteAllocator>>::make,
        },
        Backend {
            name: "ax-tlsf",
            family: Family::Upstream,
            about: "ax_allocator::TlsfByteAllocator (rlsf inside)",
            make: Ax::<ax_allocator::TlsfByteAllocator>::make,
        },
        Backend {
            name: "ax-slab",
            family: Family::Upstream,
            about: "ax_allocator::SlabByteAllocator (ax_slab_allocator 0.4 over buddy_system_allocator 0.12)",
            make: Ax::<ax_allocator::SlabByteAllocator>::make,
        },
        Backend {
            name: "ax-buddy",
            family: Family::Upstream,
            about: "ax_allocator::BuddyByteAllocator (buddy_system_allocator 0.12)",
            make: Ax::<ax_allocator::BuddyByteAllocator>::make,
        },
        Backend {
            name: "talc",
            family: Family::Peer,
            about: "talc 5.1 base allocator over one claimed span",
            make: Talc::make,
        },
        Backend {
            name: "rlsf",
            family: Family::Peer,
            about: "rlsf 0.2 Tlsf<u32, u32, 32, 32>, raw",
            make: Rlsf::make,
        },
        Backend {
            name: "buddy_system_allocator",
            family: Family::Peer,
            about: "buddy_system_allocator 0.13 Heap<32>, raw",
            make: BuddySystem::make,
        },
        Backend {
            name: "linked_list_allocator",
            family: Family::Peer,
            about: "linked_list_allocator 0.10 Heap, first fit, raw",
            make: LinkedList::make,
        },
        Backend {
            name: "system",
            family: Family::System,
            about: "std::alloc::System (glibc malloc); not pool-bound",
            make: SystemAlloc::make,
        },
        Backend {
            name: "bump",
            family: Family::Floor,
            about: "bump allocator that never frees: the floor",
            make: Bump::make,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn bump_aligns_fills_and_never_reuses() {
        let mut pool = Pool::new(4096).unwrap();
        let mut bump = Bump::new(pool.base(), 4096);
        let a = bump.alloc(layout(3, 1)).unwrap();
        let b = bump.alloc(layout(8, 64)).unwrap();
        assert_eq!(a, pool.base());
        assert_eq!(b.addr().get() % 64, 0);
        assert_eq!(bump.used(), 64 + 8);
        // SAFETY: `a` is live for its layout.
        unsafe { bump.dealloc(a, layout(3, 1)) };
        let c = bump.alloc(layout(8, 8)).unwrap();
        assert!(c > b, "freed memory is never handed out again");
        assert_eq!(bump.alloc(layout(4096, 8)), None, "the pool is exhausted");
        let _ = &mut pool;
    }

    #[test]
    fn bump_rewinds_only_the_newest_block() {
        let pool = Pool::new(4096).unwrap();
        let mut bump = Bump::new(pool.base(), 4096);
        let a = bump.alloc(layout(100, 8)).unwrap();
        let b = bump.alloc(layout(100, 8)).unwrap();
        // SAFETY: `b` is live for (100, 8).
        unsafe { bump.dealloc(b, layout(100, 8)) };
        assert_eq!(bump.used(), 104, "the newest block went back");
        // SAFETY: `a` is live for (100, 8); no longer the newest after `b`.
        unsafe { bump.dealloc(a, layout(100, 8)) };
        assert_eq!(bump.used(), 104, "an older block never does");
    }

    #[test]
    fn bump_reallocs_the_newest_block_in_place() {
        let pool = Pool::new(4096).unwrap();
        let mut bump = Bump::new(pool.base(), 4096);
        let first = bump.alloc(layout(16, 8)).unwrap();
        let newest = bump.alloc(layout(16, 8)).unwrap();
        // SAFETY: `newest` is live for (16, 8).
        let grown = unsafe { bump.realloc(newest, layout(16, 8), 1000) }.unwrap();
        assert_eq!(grown, newest);
        assert_eq!(bump.used(), 16 + 1000);
        // SAFETY: `first` is live and is written before it moves.
        unsafe { first.as_ptr().write_bytes(0xab, 16) };
        // SAFETY: `first` is live for (16, 8).
        let moved = unsafe { bump.realloc(first, layout(16, 8), 32) }.unwrap();
        assert_ne!(moved, first, "an older block moves");
        // SAFETY: `moved` holds the 16 copied bytes.
        assert_eq!(unsafe { moved.as_ptr().read() }, 0xab);
        // SAFETY: `moved` is the newest block, live for (32, 8).
        assert_eq!(unsafe { bump.realloc(moved, layout(32, 8), 1 << 20) }, None, "too large even in place");
    }

    #[test]
    fn every_contestant_allocates_and_frees_on_a_small_pool() {
        for backend in all() {
            // A fresh pool each, small under Miri (which interprets every
            // byte's state: one 1 MiB pool reused by all exhausts its memory).
            let mut pool = Pool::new(if cfg!(miri) { 64 << 10 } else { 1 << 20 }).unwrap();
            let mut c = backend.instantiate(&mut pool).unwrap();
            let l = layout(100, 16);
            let p = c.alloc(l).unwrap_or_else(|| panic!("{}", backend.name));
            assert_eq!(p.addr().get() % 16, 0, "{}", backend.name);
            // SAFETY: `p` is live for `l`.
            let q = unsafe { c.realloc(p, l, 5000) }.unwrap();
            // SAFETY: `q` is live for (5000, 16).
            unsafe { c.dealloc(q, layout(5000, 16)) };
        }
    }

    #[test]
    fn filters_select_by_name_and_family() {
        let backends = all();
        let pick = |f: &str| backends.iter().filter(|b| b.matches(f)).map(|b| b.name).collect::<Vec<_>>();
        assert_eq!(pick("talc"), ["talc"]);
        assert_eq!(pick("ax"), ["ax-tlsf", "ax-slab", "ax-buddy"]);
        assert!(pick("ours").contains(&"tlsf"));
        assert!(pick("nothing").is_empty());
    }
}
