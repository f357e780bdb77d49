//! The conformance suite of the allocator workspace.
//!
//! Every backend runs the same checks, generic over the traits of
//! `allocator-traits`: seeded random sequences checked against a model of what
//! is live, the statistics invariants, out-of-memory and full recovery, several
//! regions added in random address order, and the bad-input matrix.
//!
//! # Using it from a backend
//!
//! Add the crate as a dev-dependency (`allocator-testkit.workspace = true`),
//! then, in a test file or a `#[cfg(test)]` module:
//!
//! ```ignore
//! use allocator_testkit::ByteConfig;
//! use allocator_tlsf::TlsfByteAllocator;
//!
//! // One `#[test]` per check, inside `mod conformance`.
//! allocator_testkit::byte_allocator_tests!(TlsfByteAllocator::new(), ByteConfig::new());
//! // A second run in the same module needs its own module name.
//! allocator_testkit::byte_allocator_tests!(mod small_regions,
//!     TlsfByteAllocator::new(), ByteConfig::new().with_region_size(64 * 1024));
//! ```
//!
//! The first argument is an expression that makes a fresh, *uninitialised*
//! allocator; each check calls it as often as it needs and hands the allocator
//! memory from a [`Pool`]. The second is the configuration: what the backend
//! promises (its region alignment, the largest alignment it serves, its
//! smallest region) and how much work to do (`ops`, `seeds`; Miri wants
//! [`ByteConfig::tiny`]).
//!
//! [`page_allocator_tests!`] and [`id_allocator_tests!`] do the same for
//! [`PageAllocator`](allocator_traits::PageAllocator)s (with a
//! [`PageConfig`]) and
//! [`IdAllocator`](allocator_traits::IdAllocator)s (with an
//! [`IdConfig`]). The checks are also plain functions in
//! [`byte`], [`page`] and [`id`], and the models ([`byte::Model`],
//! [`Intervals`]) are public, so fuzz targets and property tests reuse them.
//!
//! [`props`] holds proptest strategies for operation sequences and runners
//! that check every step against the models (issue 6.1), and decoders of
//! fuzzers' byte tapes into the same operations.
//!
//! # The bad-input matrix
//!
//! | Input | Expected | Check |
//! |---|---|---|
//! | any call before `init` | `alloc`: `NoMemory`; statistics 0 | `byte::before_init`, `page::before_init`, `id::before_init` |
//! | regions of 0, 1, 4095 bytes (below `min_region_size`) | `InvalidParam`, nothing written | `byte::tiny_regions`, `page::bad_regions` |
//! | unaligned start or end | trimmed inwards or `InvalidParam`, nothing written outside | `byte::unaligned_regions`, `page::bad_regions` |
//! | range whose end overflows (`usize::MAX - 100`, 4096) | `InvalidParam` (`init` and `add_memory`) | `byte::overflowing_regions`, `page::bad_regions`, `id::bad_ranges` |
//! | overlapping or duplicate `add_memory` | `MemoryOverlap`, nothing written | `byte::overlapping_regions`, `page::bad_regions`, `id::bad_ranges` |
//! | `init` twice | `MemoryOverlap` or `InvalidParam` | `byte::init_twice`, `page::bad_regions`, `id::bad_ranges` |
//! | layouts larger than the heap, up to `isize::MAX` | `NoMemory` | `byte::huge_layouts`, `byte::realloc` |
//! | alignments 1 to 1 GiB | served aligned, or `NoMemory`/`InvalidParam` | `byte::alignments` |
//! | zero-size layouts | aligned, unique, in-region pointers | `byte::zero_size` |
//! | `alloc_pages(0)`, bad page alignments | `InvalidParam` | `page::bad_arguments` |
//! | huge page counts and alignments | `NoMemory` (alignments: or `InvalidParam`) | `page::huge_requests` |
//! | `alloc_pages_at` outside the region / on used pages | an error / `NoMemory` | `page::huge_requests`, `page::random_churn` |
//! | `alloc_id(0)`, non-power-of-two alignment | `InvalidParam` | `id::bad_arguments` |
//! | IDs beyond capacity | `alloc_fixed_id`: `InvalidParam`; `dealloc_id` ignored | `id::beyond_capacity` |
//!
//! Every check panics with a message naming the seed and the operation when
//! the allocator breaks the contract; rerun with that seed
//! (`ByteConfig::new().with_seed(..).with_seeds(1)`) to reproduce it.

pub mod byte;
pub mod id;
mod intervals;
mod macros;
pub mod page;
mod pattern;
mod pool;
pub mod props;
mod provenance;
mod rng;

pub use byte::ByteConfig;
pub use id::IdConfig;
pub use intervals::Intervals;
pub use page::PageConfig;
pub use pattern::{fill_pattern, pattern_byte, verify_pattern};
pub use pool::{KeptPools, Pool};
pub use rng::Rng;

/// The layout of `size` bytes aligned to `align`, for tests: panics when
/// they form none (an alignment that is not a power of two, a size past
/// `isize::MAX`).
pub fn layout(size: usize, align: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(size, align).expect("a valid layout")
}

/// `[context, step n]`, the start of a failure message: formatted only when
/// a check fails. (Checks run after every operation; formatting eagerly is
/// most of their cost under Miri.)
///
/// ```
/// let at = allocator_testkit::At::new("seed 3", 17);
/// assert_eq!(at.to_string(), "[seed 3, step 17]");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    context: &'a str,
    step: usize,
}

impl<'a> At<'a> {
    /// Where a check stands: `step` of the run named `context`.
    ///
    /// Borrows only `context`, so the caller may change other fields of the
    /// struct that holds it while `At` lives.
    pub fn new(context: &'a str, step: usize) -> Self {
        Self { context, step }
    }
}

impl core::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[{}, step {}]", self.context, self.step)
    }
}

/// `native` natively, `miri` under Miri: a test's size (bytes, pages,
/// operations) cut down for the interpreter, which is some thousand times
/// slower than native code. The Miri figure should keep the test's shape
/// (the same alignments, holes and exhaustion), only smaller.
///
/// ```
/// let pool_size = allocator_testkit::scaled(1 << 20, 64 << 10);
/// assert_eq!(pool_size, if cfg!(miri) { 64 << 10 } else { 1 << 20 });
/// ```
pub const fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

/// An [`AllocError`](allocator_traits::AllocError) list as text, for messages.
fn describe<T: core::fmt::Debug>(items: &[T]) -> String {
    items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(" or ")
}
