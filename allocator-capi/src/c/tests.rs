//! The C rules, over heaps in this process (no symbols exported).
