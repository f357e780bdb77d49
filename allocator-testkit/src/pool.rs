//! Real memory for allocators under test, fenced by guard bytes.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use allocator_traits::Region;

/// The smallest and largest guard on each side of a pool.
const GUARD_MIN: usize = 64;
const GUARD_MAX: usize = 4096;

/// The guard pattern, repeated every 256 bytes from the start of the std
/// allocation: a pattern, not a constant, so a shifted write shows.
const GUARD_PATTERN: [u8; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = 0xA5 ^ (i as u8).wrapping_mul(29);
        i += 1;
    }
    table
};

/// Calls `each(offset, expected)` over `[from, to)` in chunks of the guard
/// pattern (so checks are `memcmp`s, quick even under Miri).
fn guard_chunks(from: usize, to: usize, mut each: impl FnMut(usize, &[u8])) {
    let mut offset = from;
    while offset < to {
        let phase = offset % GUARD_PATTERN.len();
        let len = (GUARD_PATTERN.len() - phase).min(to - offset);
        each(offset, &GUARD_PATTERN[phase..phase + len]);
        offset += len;
    }
}

/// A region of memory from `std::alloc`, zero-filled, with guard bytes of a
/// known pattern before and after it; freed on drop.
///
/// The start is aligned to exactly `align`: it is a multiple of `align` but
/// not of `2 * align`, so an allocator cannot pass an alignment check by the
/// luck of a better-aligned region.
///
/// The pool must outlive the allocator that manages it: keep pools in a
/// variable declared *before* the allocator, or in a struct field declared
/// *after* it (fields drop in declaration order). On drop, outside a panic,
/// the guards are checked.
#[derive(Debug)]
pub struct Pool {
    /// The std allocation (guards included).
    base: NonNull<u8>,
    layout: Layout,
    /// Offset of the region from `base`: the guard before it.
    lead: usize,
    /// The guard after the region.
    tail: usize,
    size: usize,
    /// The region's address, with its provenance exposed.
    start: usize,
}

impl Pool {
    /// A zero-filled region of `size` bytes whose start is aligned to exactly
    /// `align` (a power of two).
    ///
    /// # Panics
    ///
    /// If `align` is not a power of two or the memory cannot be allocated.
    pub fn new(size: usize, align: usize) -> Self {
        assert!(align.is_power_of_two(), "Pool alignment {align} is not a power of two");
        let guard = align.clamp(GUARD_MIN, GUARD_MAX);
        // The std allocation is aligned to 2 * align; the region starts at an
        // odd multiple of `align` past it, after at least `guard` bytes.
        let mut lead = guard.next_multiple_of(align);
        if lead % (2 * align) == 0 {
            lead += align;
        }
        let total = lead.checked_add(size).and_then(|s| s.checked_add(guard)).expect("Pool size overflows");
        let layout = Layout::from_size_align(total, 2 * align).expect("Pool layout");
        // SAFETY: `layout` has a non-zero size (`guard` is at least 64).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(base) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        // SAFETY: `lead < total`, so the offset stays inside the allocation.
        let start = unsafe { base.add(lead) }.as_ptr().expose_provenance();
        let pool = Self { base, layout, lead, tail: guard, size, start };
        for (from, to) in pool.guards() {
            guard_chunks(from, to, |offset, pattern| {
                // SAFETY: guard ranges lie inside the allocation, outside the
                // region; the pattern is a distinct constant.
                unsafe {
                    base.add(offset).as_ptr().copy_from_nonoverlapping(pattern.as_ptr(), pattern.len())
                };
            });
        }
        pool
    }

    /// The guard ranges, as offsets from `base`: before and after the region.
    fn guards(&self) -> [(usize, usize); 2] {
        let after = self.lead + self.size;
        [(0, self.lead), (after, after + self.tail)]
    }

    /// The region's first address, with its provenance exposed: pass it to
    /// `init`/`add_memory`.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The region's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The region as `[start, start + size)`.
    pub fn region(&self) -> Region {
        Region { start: self.start, end: self.start + self.size }
    }

    /// A pointer to the region's first byte.
    pub fn ptr(&self) -> NonNull<u8> {
        // SAFETY: `lead` is inside the allocation (see `new`).
        unsafe { self.base.add(self.lead) }
    }

    /// Panics if `[offset, offset + len)` is not inside the region.
    fn check_range(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.size),
            "range {offset}+{len} is outside the pool of {} bytes",
            self.size
        );
    }

    /// Writes `byte` to `[offset, offset + len)` of the region (a sentinel:
    /// see [`assert_filled`](Self::assert_filled)).
    ///
    /// Only for parts of the region no allocator uses right now.
    ///
    /// # Panics
    ///
    /// If the range is not inside the region.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) {
        self.check_range(offset, len);
        // SAFETY: the range is inside the region (checked), which this pool
        // owns; the caller promises no allocator uses it.
        unsafe { self.ptr().add(offset).as_ptr().write_bytes(byte, len) };
    }

    /// Panics, naming `what`, unless every byte of `[offset, offset + len)`
    /// of the region is `byte`.
    pub fn assert_filled(&self, offset: usize, len: usize, byte: u8, what: &str) {
        self.check_range(offset, len);
        // SAFETY: the range is inside the region (checked); the pool memory is
        // initialised (zero-filled at creation) and nobody writes it while we
        // read (single-threaded tests).
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr().add(offset).as_ptr(), len) };
        // Compare in chunks (a `memcmp` each, few iterations under Miri),
        // then find the byte.
        let expected = [byte; 4096];
        let differs = bytes.chunks(expected.len()).any(|chunk| chunk != &expected[..chunk.len()]);
        if let Some(i) = if differs { bytes.iter().position(|&b| b != byte) } else { None } {
            panic!(
                "{what}: byte at region offset {} (address {:#x}) is {:#04x}, expected the untouched {byte:#04x}",
                offset + i,
                self.start + offset + i,
                bytes[i]
            );
        }
    }

    /// Panics if anything wrote to the guard bytes before or after the region.
    pub fn check_guards(&self) {
        if let Some(message) = self.guard_violation() {
            panic!("{message}");
        }
    }

    /// A description of the first overwritten guard byte, if any.
    fn guard_violation(&self) -> Option<String> {
        let mut violation = None;
        for (from, to) in self.guards() {
            guard_chunks(from, to, |offset, pattern| {
                if violation.is_some() {
                    return;
                }
                // SAFETY: guard ranges lie inside the allocation and were
                // initialised in `new`; nothing writes them while we read.
                let got =
                    unsafe { std::slice::from_raw_parts(self.base.add(offset).as_ptr(), pattern.len()) };
                // A `memcmp` first: the byte-wise search only runs on a hit.
                if got == pattern {
                    return;
                }
                if let Some(i) = got.iter().zip(pattern).position(|(g, p)| g != p) {
                    let offset = offset + i;
                    let (side, distance) = if offset < self.lead {
                        ("before", self.lead - offset)
                    } else {
                        ("after", offset - self.lead - self.size + 1)
                    };
                    violation = Some(format!(
                        "guard byte {distance} byte(s) {side} the pool region [{:#x}, {:#x}) was overwritten \
                         ({:#04x} instead of {:#04x})",
                        self.start,
                        self.start + self.size,
                        got[i],
                        pattern[i]
                    ));
                }
            });
        }
        violation
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let violation = if std::thread::panicking() { None } else { self.guard_violation() };
        // SAFETY: `base` was allocated in `new` with `layout` and is freed once.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) };
        if let Some(message) = violation {
            panic!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_aligned_and_zeroed() {
        for align in [1, 8, 64, 4096, 1 << 16] {
            let pool = Pool::new(10_000, align);
            assert_eq!(pool.start() % align, 0);
            assert_eq!(pool.start() % (2 * align), align, "align {align}");
            assert_eq!(pool.region().size(), 10_000);
            pool.assert_filled(0, 10_000, 0, "fresh pool");
            pool.fill(100, 50, 0xCC);
            pool.assert_filled(100, 50, 0xCC, "filled");
            pool.check_guards();
        }
    }

    #[test]
    #[should_panic(expected = "before the pool region")]
    fn guard_before_detects_underrun() {
        let pool = Pool::new(128, 16);
        // SAFETY: one byte before the region is a guard byte of the same
        // allocation.
        unsafe { pool.ptr().sub(1).write(0) };
        pool.check_guards();
    }

    #[test]
    #[should_panic(expected = "after the pool region")]
    fn guard_after_detects_overrun() {
        let pool = Pool::new(128, 16);
        // SAFETY: the byte just past the region is a guard byte of the same
        // allocation.
        unsafe { pool.ptr().add(128).write(0) };
        drop(pool);
    }

    #[test]
    #[should_panic(expected = "untouched")]
    fn assert_filled_detects_writes() {
        let pool = Pool::new(64, 8);
        pool.fill(0, 64, 0xEE);
        // SAFETY: offset 10 is inside the region.
        unsafe { pool.ptr().add(10).write(1) };
        pool.assert_filled(0, 64, 0xEE, "sentinel");
    }
}

/// The pools a harness keeps alive for its allocator, and the one way it
/// hands their memory over (`init` or `add_memory`). Index it as a slice.
#[derive(Debug, Default)]
pub struct KeptPools(Vec<Pool>);

impl KeptPools {
    /// Keeps `pool` alive as long as these pools (without handing it over).
    pub fn keep(&mut self, pool: Pool) -> &Pool {
        self.0.push(pool);
        self.0.last().expect("just pushed")
    }

    /// Hands `region`, which must lie in a kept pool (checked: it panics
    /// otherwise), to `alloc` with `init` (`first`) or `add_memory`, and
    /// returns the allocator's answer.
    ///
    /// # Safety
    ///
    /// These pools outlive `alloc` and every block it hands out, and no other
    /// allocator is handed memory of `region`.
    pub unsafe fn hand_over<A: allocator_traits::BaseAllocator + ?Sized>(
        &self,
        alloc: &mut A,
        region: Region,
        first: bool,
    ) -> allocator_traits::AllocResult {
        assert!(
            self.0.iter().any(|p| p.region().start <= region.start && region.end <= p.region().end),
            "{region:?} is not memory of a pool this harness keeps"
        );
        // SAFETY: the region lies inside a kept pool (checked), which
        // outlives the allocator and is handed to it alone (caller's
        // contract).
        unsafe {
            if first {
                alloc.init(region.start, region.size())
            } else {
                alloc.add_memory(region.start, region.size())
            }
        }
    }
}

impl core::ops::Deref for KeptPools {
    type Target = [Pool];
    fn deref(&self) -> &[Pool] {
        &self.0
    }
}
