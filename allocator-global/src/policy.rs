//! [`GrowthPolicy`]: how a growing heap takes chunks and gives them back.

#[cfg(doc)]
use crate::{GlobalAllocator, Growing, PageSource};

/// How a [`GlobalAllocator`] grows: the size of the first chunk it takes from
/// its [`PageSource`], doubling after every growth up to a cap.
///
/// A request larger than the next chunk gets a chunk of its own size; the
/// cap only bounds the doubling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrowthPolicy {
    first_chunk: usize,
    max_chunk: usize,
    keep_free: usize,
}

impl GrowthPolicy {
    /// 64 KiB first, doubling up to 16 MiB; wholly free chunks go back while
    /// 16 MiB stay available.
    pub const DEFAULT: Self = Self::new(64 << 10, 16 << 20);

    /// Chunks of `first_chunk` bytes first, doubling after every growth up to
    /// `max_chunk` bytes (a `max_chunk` below `first_chunk` keeps every chunk
    /// at `first_chunk`). Both are rounded up to the source's granule when
    /// used. Wholly free chunks go back to the source while `max_chunk`
    /// bytes stay available ([`with_keep_free`](Self::with_keep_free)).
    pub const fn new(first_chunk: usize, max_chunk: usize) -> Self {
        let max_chunk = if max_chunk < first_chunk { first_chunk } else { max_chunk };
        Self { first_chunk, max_chunk, keep_free: max_chunk }
    }

    /// The same policy, keeping at most about `keep_free` bytes of free
    /// memory before wholly free chunks go back to the source (the
    /// hysteresis that keeps a heap at a boundary from taking and returning
    /// the same chunk over and over). `0` returns every free chunk at once.
    pub const fn with_keep_free(mut self, keep_free: usize) -> Self {
        self.keep_free = keep_free;
        self
    }

    /// The free bytes kept before chunks go back.
    pub const fn keep_free(&self) -> usize {
        self.keep_free
    }

    /// The size of the first chunk.
    pub const fn first_chunk(&self) -> usize {
        self.first_chunk
    }

    /// The cap of the doubling.
    pub const fn max_chunk(&self) -> usize {
        self.max_chunk
    }
}

impl Default for GrowthPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}
