//! The conformance suite of the allocator workspace.
