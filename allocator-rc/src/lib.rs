//! allocator-rc (under construction).
#![no_std]
