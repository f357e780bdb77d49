//! Differential test: the same seeded sequence of allocations, frees and
//! resizes runs through our [`TlsfByteAllocator`] and a raw
//! `rlsf::Tlsf<'static, u32, u32, FLLEN, SLLEN>` (the engine it wraps, with
//! its parameters), over pools of the same sizes and alignment, and both must
//! agree: the same offsets into the same pools, success and failure
//! together, and our `used_bytes` equal to the occupied blocks rlsf holds.
//!
//! The wrapper adds bookkeeping (region table, statistics, the checks of
//! `debug-checks`, on in these tests) but must not change a single placement,
//! except where it differs on purpose:
//!
//! - `realloc` shrinking a block to `1 / SHRINK_MOVE_RATIO` of its size or
//!   less moves it to a fresh block when one fits (rlsf's `reallocate`
//!   shrinks in place). The raw side models this exactly: `allocate`, copy,
//!   `deallocate`, and `reallocate` only when `allocate` fails. Every other
//!   resize is `reallocate` on both sides.
//! - Pools: the wrapper trims a region to [`GRANULARITY`] and refuses one
//!   that overlaps a managed one; rlsf rounds the same way. The pools here
//!   are 4 KiB-aligned, of any length, and disjoint, so both manage the same
//!   blocks (and each pool is below the wrapper's 128 GiB chunk size, so it
//!   is one rlsf pool on both sides).
//!
//! Zero-size layouts are no exception: rlsf itself serves them with a
//! minimum block, and the wrapper passes them through, so they are in the
//! sequence.

use core::{alloc::Layout, ptr::NonNull};

use allocator_testkit::{At, Rng, scaled};
use allocator_tlsf::{FLLEN, GRANULARITY, SHRINK_MOVE_RATIO, SLLEN, TlsfByteAllocator};
use allocator_traits::{AllocError, BaseAllocator, ByteAllocator};

type Raw = rlsf::Tlsf<'static, u32, u32, FLLEN, SLLEN>;

/// A zeroed, 4 KiB-aligned buffer from the system allocator, freed on drop.
struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Buffer {
    fn new(size: usize) -> Self {
        let layout = Layout::from_size_align(size, 4096).unwrap();
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
        Self { ptr, layout }
    }

    fn addr(&self) -> usize {
        self.ptr.as_ptr().expose_provenance()
    }

    fn slice(&self) -> NonNull<[u8]> {
        NonNull::slice_from_raw_parts(self.ptr, self.layout.size())
    }

    fn offset_of(&self, ptr: NonNull<u8>) -> Option<usize> {
        let addr = ptr.as_ptr().addr();
        (addr >= self.addr() && addr < self.addr() + self.layout.size()).then(|| addr - self.addr())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// `(pool index, offset)` of a pointer into one side's pools.
fn locate(pools: &[Buffer], ptr: NonNull<u8>) -> (usize, usize) {
    pools
        .iter()
        .enumerate()
        .find_map(|(i, pool)| pool.offset_of(ptr).map(|offset| (i, offset)))
        .expect("a pointer outside every pool")
}

/// The sum of the occupied blocks of the raw heap's pools.
fn raw_used(raw: &Raw, pools: &[Buffer]) -> usize {
    let mut used = 0;
    for pool in pools {
        // Iterate over the part rlsf took: the length rounded down to a
        // granule (the start is aligned).
        let len = pool.layout.size() & !(GRANULARITY - 1);
        let taken = NonNull::slice_from_raw_parts(pool.ptr, len);
        // SAFETY: `taken` is exactly the block rlsf accepted as a pool.
        used +=
            unsafe { raw.iter_blocks(taken) }.filter(|b| b.is_occupied()).map(|b| b.size()).sum::<usize>();
    }
    used
}

/// The raw side of our `realloc`, with its deliberate difference modelled.
///
/// # Safety
///
/// `ptr` is a live block of `raw` allocated with `old`.
unsafe fn raw_realloc(raw: &mut Raw, ptr: NonNull<u8>, old: Layout, new_size: usize) -> Option<NonNull<u8>> {
    let new = Layout::from_size_align(new_size, old.align()).ok()?;
    if new_size <= old.size() / SHRINK_MOVE_RATIO {
        if let Some(moved) = raw.allocate(new) {
            // SAFETY: `moved` is a fresh block of `new_size` bytes, disjoint
            // from `ptr`, which holds at least as many.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr.as_ptr(), moved.as_ptr(), new_size);
                raw.deallocate(ptr, old.align());
            }
            return Some(moved);
        }
    }
    // SAFETY: the caller's contract; `new` keeps the alignment.
    unsafe { raw.reallocate(ptr, new) }
}

/// A layout of the sequence: mostly small, sometimes zero-size, sometimes
/// large enough to fail.
fn random_layout(rng: &mut Rng, pool_size: usize) -> Layout {
    let size = match rng.below(20) {
        0 => 0,
        1 => rng.below(pool_size),
        2..=4 => rng.below(8192),
        _ => rng.below(512),
    };
    let align = if rng.below(10) == 0 { 1 << rng.below(13) } else { 1 << rng.below(5) };
    Layout::from_size_align(size, align).unwrap()
}

/// Runs `ops` seeded operations over pools of the given sizes on both sides
/// and checks that they agree at every step.
fn run(seed: u64, pool_sizes: &[usize], ops: usize) {
    let mut rng = Rng::new(seed);
    let ours_pools: Vec<Buffer> = pool_sizes.iter().map(|&size| Buffer::new(size)).collect();
    let raw_pools: Vec<Buffer> = pool_sizes.iter().map(|&size| Buffer::new(size)).collect();

    let mut ours = TlsfByteAllocator::new();
    let mut raw = Raw::new();
    for (i, (our_pool, raw_pool)) in ours_pools.iter().zip(&raw_pools).enumerate() {
        // SAFETY: the buffers are ours, disjoint, exposed, and outlive both
        // heaps (declared before them, dropped after).
        unsafe {
            if i == 0 {
                ours.init(our_pool.addr(), our_pool.layout.size()).unwrap();
            } else {
                ours.add_memory(our_pool.addr(), our_pool.layout.size()).unwrap();
            }
            raw.insert_free_block_ptr(raw_pool.slice()).unwrap();
        }
    }

    // Live blocks: (ours, raw, layout).
    let mut live: Vec<(NonNull<u8>, NonNull<u8>, Layout)> = Vec::new();
    let max_pool = pool_sizes.iter().copied().max().unwrap();
    let (mut allocs, mut failures) = (0, 0);
    let context = format!("seed {seed}");
    for step in 0..ops {
        let at = At::new(&context, step);
        match rng.below(8) {
            0..=3 => {
                let layout = random_layout(&mut rng, max_pool);
                let (a, b) = (ours.alloc(layout), raw.allocate(layout));
                match (a, b) {
                    (Ok(a), Some(b)) => {
                        assert_eq!(locate(&ours_pools, a), locate(&raw_pools, b), "{at}: alloc {layout:?}");
                        live.push((a, b, layout));
                        allocs += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!(e, AllocError::NoMemory, "{at}");
                        failures += 1;
                    }
                    (a, b) => panic!("{at}: alloc {layout:?}: ours {a:?}, rlsf {b:?}"),
                }
            }
            4 | 5 if !live.is_empty() => {
                let (a, b, layout) = live.swap_remove(rng.below(live.len()));
                // SAFETY: live blocks of each heap with their layout.
                unsafe {
                    ours.dealloc(a, layout);
                    raw.deallocate(b, layout.align());
                }
            }
            6 | 7 if !live.is_empty() => {
                let index = rng.below(live.len());
                let (a, b, layout) = live[index];
                let new_size = match rng.below(3) {
                    0 => rng.below(layout.size() / SHRINK_MOVE_RATIO + 1),
                    1 => rng.below(layout.size() + 1),
                    _ => rng.below(2 * layout.size() + 1024),
                };
                // SAFETY: live blocks of each heap with their layout.
                let (a2, b2) = unsafe {
                    (ours.realloc(a, layout, new_size), raw_realloc(&mut raw, b, layout, new_size))
                };
                match (a2, b2) {
                    (Ok(a2), Some(b2)) => {
                        assert_eq!(
                            locate(&ours_pools, a2),
                            locate(&raw_pools, b2),
                            "{at}: realloc {layout:?} to {new_size}"
                        );
                        live[index] = (a2, b2, Layout::from_size_align(new_size, layout.align()).unwrap());
                    }
                    (Err(e), None) => {
                        assert_eq!(e, AllocError::NoMemory, "{at}");
                        failures += 1;
                    }
                    (a2, b2) => panic!("{at}: realloc {layout:?} to {new_size}: ours {a2:?}, rlsf {b2:?}"),
                }
            }
            _ => {}
        }
        if step % 64 == 0 {
            assert_eq!(ours.used_bytes(), raw_used(&raw, &raw_pools), "{at}: used_bytes");
        }
    }
    assert!(allocs > ops / 4 && failures > 0, "the sequence allocates and fails: {allocs} / {failures}");
    for (a, b, layout) in live.drain(..) {
        // SAFETY: each live block is freed once.
        unsafe {
            ours.dealloc(a, layout);
            raw.deallocate(b, layout.align());
        }
    }
    assert_eq!(ours.used_bytes(), 0);
    assert_eq!(raw_used(&raw, &raw_pools), 0);
}

fn ops(n: usize) -> usize {
    if cfg!(miri) { n / 100 } else { n }
}

/// The seeds of a test: four natively, the first two under Miri (each seed
/// is a whole sequence; two keep the step budget of CI's Miri run).
fn seeds(first: u64) -> core::ops::Range<u64> {
    first..first + if cfg!(miri) { 2 } else { 4 }
}

#[test]
fn one_pool_agrees() {
    for seed in seeds(0) {
        run(seed, &[scaled(256 * 1024, 32 * 1024)], ops(20_000));
    }
}

#[test]
fn small_pool_near_exhaustion_agrees() {
    for seed in seeds(10) {
        run(seed, &[scaled(24 * 1024 + 17, 6 * 1024 + 17)], ops(20_000));
    }
}

#[test]
fn several_pools_agree() {
    for seed in seeds(20) {
        run(
            seed,
            &[
                scaled(64 * 1024, 16 * 1024),
                scaled(300 * 1024 + 5, 40 * 1024 + 5),
                scaled(16 * 1024, 8 * 1024),
            ],
            ops(20_000),
        );
    }
}
