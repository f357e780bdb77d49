//! allocator-buddy (under construction).
#![no_std]
