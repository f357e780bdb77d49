//! allocator-tlsf (under construction).
#![no_std]
