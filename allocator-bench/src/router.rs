//! The routing global allocator: how the stable build runs the upstream
//! workloads' std `Vec`s and `BTreeMap`s on each contestant.
//!
//! The upstream benchmark writes `Vec::new_in(alloc)` and
//! `BTreeMap::new_in(alloc)`, which need nightly. Here the same code uses the
//! std collections unchanged, and the binary's `#[global_allocator]`
//! ([`Router`]) forwards each request of the measuring thread to the
//! contestant installed by [`time_routed`]. Everything else (other threads,
//! the harness between measurements) goes to the system allocator.
//!
//! - Allocation follows a `const` thread-local: the contestant when routing
//!   is on for this thread, the system otherwise.
//! - Freeing and reallocating follow the address: a block inside the
//!   contestant's range goes back to the contestant, anything else to the
//!   system. The system contestant claims the whole address space, so it
//!   takes exactly the same path as every other contestant.
//! - A counter of routed blocks still live must be zero when routing is
//!   switched off: a block of the pool that outlived its measurement would be
//!   freed to the wrong allocator later, so the run stops instead.
//!
//! Every contestant, the bump floor and the system allocator included, pays
//! the same overhead per call: one thread-local read, one range check, one
//! indirect call.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    ptr::{self, NonNull},
    time::Duration,
};

use crate::{contestants::Contestant, cputime::Stopwatch};

/// Where this thread's allocations go while routing is on.
#[derive(Clone, Copy)]
struct Route {
    target: NonNull<dyn Contestant>,
    /// The addresses the target owns: `lo..lo + len`.
    lo: usize,
    len: usize,
}

impl Route {
    fn owns(&self, ptr: *mut u8) -> bool {
        ptr.addr().wrapping_sub(self.lo) < self.len
    }
}

thread_local! {
    static ROUTE: Cell<Option<Route>> = const { Cell::new(None) };
    /// Blocks the target handed out minus blocks given back, while routed.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// The current route of this thread, if any (none during thread teardown).
fn current() -> Option<Route> {
    ROUTE.try_with(Cell::get).ok().flatten()
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

/// The binary's global allocator; see the [module](self) documentation.
pub struct Router;

// SAFETY: every block is freed and resized by the allocator that made it:
// pool blocks (by address) by the routed contestant, which is live and used
// by this thread only while the route is set, all others by `System`.
unsafe impl GlobalAlloc for Router {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match current() {
            Some(mut route) => {
                count(1);
                // SAFETY: `time_routed` keeps the target alive and otherwise
                // untouched while the route is set; only this thread sees it.
                let target = unsafe { route.target.as_mut() };
                target.alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
            }
            // SAFETY: forwarded contract.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match (current(), NonNull::new(ptr)) {
            (Some(mut route), Some(block)) if route.owns(ptr) => {
                count(-1);
                // SAFETY: as in `alloc`; the block lies in the target's range,
                // so the target made it (the live count guarantees no pool
                // block survives its route).
                unsafe { route.target.as_mut().dealloc(block, layout) }
            }
            // SAFETY: forwarded contract: the block is not the target's.
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (current(), NonNull::new(ptr)) {
            (Some(mut route), Some(block)) if route.owns(ptr) => {
                // SAFETY: as in `dealloc`; `GlobalAlloc::realloc` callers pass
                // a non-zero `new_size` that forms a layout.
                let moved = unsafe { route.target.as_mut().realloc(block, layout, new_size) };
                moved.map_or(ptr::null_mut(), NonNull::as_ptr)
            }
            // SAFETY: forwarded contract: the block is not the target's.
            _ => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

/// Stops the process if a measurement panics while routed: unwinding would
/// free pool blocks after the route is gone.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("allocator-bench: panic while routing to a contestant; aborting");
            std::process::abort();
        }
    }
}

/// Runs `work` with this thread's allocations routed to `target`, which owns
/// the addresses `range` (`0..usize::MAX` for the system allocator), and
/// returns the time `work` took on this thread's CPU clock (see
/// [`crate::cputime`]).
///
/// `work` must free everything it allocates before it returns (it can
/// return nothing else); a leak is an error, and the leaked blocks are never
/// freed (the process stops soon after: the caller reports it).
pub fn time_routed(
    target: &mut (dyn Contestant + 'static),
    range: (usize, usize),
    work: impl FnOnce(),
) -> Result<Duration, String> {
    let route = Route { target: NonNull::from(target), lo: range.0, len: range.1 };
    LIVE.set(0);
    let guard = AbortOnUnwind;
    ROUTE.set(Some(route));
    let watch = Stopwatch::start();
    work();
    let elapsed = watch.elapsed();
    ROUTE.set(None);
    drop(guard);
    match LIVE.get() {
        0 => Ok(elapsed),
        live => Err(format!("{live} routed blocks outlived the measurement")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{contestants::Bump, pool::Pool};

    #[test]
    fn std_collections_land_in_the_routed_pool() {
        let pool = Pool::new(1 << 20).unwrap();
        let mut bump = Bump::new(pool.base(), pool.size());
        let base = pool.base().addr().get();
        let mut inside = false;
        time_routed(&mut bump, (base, pool.size()), || {
            let v: Vec<u64> = (0..1000).collect();
            let newest: Vec<u8> = Vec::with_capacity(10);
            inside = pool.contains(v.as_ptr().addr()) && pool.contains(newest.as_ptr().addr());
            // Freed first, `v` stays counted by the bump allocator.
            drop(v);
        })
        .unwrap();
        assert!(inside, "the Vec was allocated from the pool");
        assert!(bump.used() >= 8000);
        let after: Vec<u64> = vec![1, 2, 3];
        assert!(!pool.contains(after.as_ptr().addr()), "routing is off again");
    }
}
