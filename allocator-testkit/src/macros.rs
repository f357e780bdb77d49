//! The macros that turn the checks into `#[test]` functions.

/// Expands to `mod conformance` (or `mod <name>` with the `mod name,` form)
/// holding one `#[test]` per [`byte`](crate::byte) check.
///
/// ```ignore
/// allocator_testkit::byte_allocator_tests!(MyAllocator::new(), allocator_testkit::ByteConfig::new());
/// allocator_testkit::byte_allocator_tests!(mod tiny, MyAllocator::new(), allocator_testkit::ByteConfig::tiny());
/// allocator_testkit::byte_allocator_tests!(mod some, MyAllocator::new(), allocator_testkit::ByteConfig::tiny(), only [recovery, realloc]);
/// ```
///
/// `make` is an expression giving a fresh, uninitialised allocator; it is
/// evaluated inside the new module, which imports everything of the module
/// the macro is called in. `only [..]` names the checks to run, where a
/// configuration (a tiny one under Miri, say) cannot afford them all.
#[macro_export]
macro_rules! byte_allocator_tests {
    (mod $name:ident, $make:expr, $cfg:expr, only [$($check:ident),* $(,)?] $(,)?) => {
        $crate::__conformance_module!($name, byte, $make, $cfg, [$($check),*]);
    };
    (mod $name:ident, $make:expr, $cfg:expr $(,)?) => {
        $crate::__conformance_module!($name, byte, $make, $cfg, [
            random_churn, recovery, out_of_memory, zero_size, realloc, regions, before_init, tiny_regions,
            unaligned_regions, overflowing_regions, overlapping_regions, init_twice, huge_layouts, alignments,
            neighbour_frees, realloc_chains, padded_values, remove_regions, max_layout, usable_sizes, found_sizes
        ]);
    };
    ($make:expr, $cfg:expr $(,)?) => {
        $crate::byte_allocator_tests!(mod conformance, $make, $cfg);
    };
}

/// Expands to `mod page_conformance` (or `mod <name>`) holding one `#[test]`
/// per [`page`](crate::page) check; arguments as for
/// [`byte_allocator_tests!`](crate::byte_allocator_tests), with a
/// [`PageConfig`](crate::PageConfig).
#[macro_export]
macro_rules! page_allocator_tests {
    (mod $name:ident, $make:expr, $cfg:expr $(,)?) => {
        $crate::__conformance_module!($name, page, $make, $cfg, [
            random_churn, recovery, regions, before_init, bad_arguments, huge_requests, bad_regions
        ]);
    };
    ($make:expr, $cfg:expr $(,)?) => {
        $crate::page_allocator_tests!(mod page_conformance, $make, $cfg);
    };
}

/// Expands to `mod id_conformance` (or `mod <name>`) holding one `#[test]`
/// per [`id`](crate::id) check; arguments as for
/// [`byte_allocator_tests!`](crate::byte_allocator_tests), with an
/// [`IdConfig`](crate::IdConfig).
#[macro_export]
macro_rules! id_allocator_tests {
    (mod $name:ident, $make:expr, $cfg:expr $(,)?) => {
        $crate::__conformance_module!($name, id, $make, $cfg, [
            random_churn, exhaustion, before_init, bad_arguments, beyond_capacity, bad_ranges
        ]);
    };
    ($make:expr, $cfg:expr $(,)?) => {
        $crate::id_allocator_tests!(mod id_conformance, $make, $cfg);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_module {
    ($name:ident, $suite:ident, $make:expr, $cfg:expr, [$($check:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[test]
                fn $check() {
                    $crate::$suite::$check(&|| $make, &$cfg);
                }
            )*
        }
    };
}
