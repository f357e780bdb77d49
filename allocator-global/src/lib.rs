//! allocator-global (under construction).
#![no_std]
