//! The suites pass for correct reference allocators.

mod reference;

use allocator_testkit::{ByteConfig, IdConfig, PageConfig};
use reference::{BitmapIds, BitmapPages, FreeList};

allocator_testkit::byte_allocator_tests!(FreeList::new(), ByteConfig::new());
allocator_testkit::byte_allocator_tests!(mod byte_tiny, FreeList::new(), ByteConfig::tiny());
allocator_testkit::byte_allocator_tests!(
    mod byte_region_aligned_only,
    FreeList::new(),
    ByteConfig::new().with_region_align(64).with_max_align(1 << 16).with_align_above_region(false)
);
allocator_testkit::page_allocator_tests!(BitmapPages::new(), PageConfig::new());
allocator_testkit::page_allocator_tests!(mod page_tiny, BitmapPages::new(), PageConfig::tiny());
allocator_testkit::id_allocator_tests!(BitmapIds::new(), IdConfig::new());
allocator_testkit::id_allocator_tests!(
    mod id_offset_capacity,
    BitmapIds::with_capacity(4096),
    IdConfig::new().with_start(1000).with_size(1000).with_capacity(4096)
);
