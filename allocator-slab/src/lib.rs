//! allocator-slab (under construction).
#![no_std]
