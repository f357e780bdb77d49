//! allocator-bitmap (under construction).
#![no_std]
