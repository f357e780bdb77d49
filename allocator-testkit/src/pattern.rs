//! The byte pattern written into every block, and its check.
//!
//! The pattern of a block is a window of a fixed random table, starting at an
//! offset chosen by the block's id, so neighbouring blocks differ, a block
//! copied to the wrong place shows, and filling and checking are `memcpy` and
//! `memcmp` (fast even in debug builds).

use std::ptr::NonNull;
use std::sync::OnceLock;

use crate::rng::{Rng, mix64};

/// The table's length: the pattern repeats with this period inside a block.
const TABLE_LEN: usize = 8192;

fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // All eight bytes of each random word: an eighth of the generator
        // calls (this runs once per test binary, interpreted under Miri).
        let mut rng = Rng::new(0x7E57_7AB1E);
        (0..TABLE_LEN / 8).flat_map(|_| rng.next_u64().to_le_bytes()).collect()
    })
}

/// Where the pattern of block `id` starts in the table.
fn table_offset(id: u64) -> usize {
    (mix64(id) % TABLE_LEN as u64) as usize
}

/// The pattern byte at `offset` of the block whose id is `id`.
pub fn pattern_byte(id: u64, offset: usize) -> u8 {
    table()[(table_offset(id) + offset) % TABLE_LEN]
}

/// Calls `each(offset, table_chunk)` over `[from, to)` of block `id`'s pattern.
fn for_chunks(id: u64, from: usize, to: usize, mut each: impl FnMut(usize, &[u8])) {
    let table = table();
    let mut offset = from;
    while offset < to {
        let at = (table_offset(id) + offset) % TABLE_LEN;
        let len = (to - offset).min(TABLE_LEN - at);
        each(offset, &table[at..at + len]);
        offset += len;
    }
}

/// Writes the pattern of block `id` to bytes `[from, to)` of the block at
/// `ptr`.
///
/// # Safety
///
/// `[ptr + from, ptr + to)` is valid for writes and no reference to it is live.
pub unsafe fn fill_pattern(ptr: NonNull<u8>, id: u64, from: usize, to: usize) {
    for_chunks(id, from, to, |offset, chunk| {
        // SAFETY: `[offset, offset + chunk.len())` lies in `[from, to)`,
        // writable by the caller's contract; the table is a distinct
        // allocation.
        unsafe { ptr.add(offset).as_ptr().copy_from_nonoverlapping(chunk.as_ptr(), chunk.len()) };
    });
}

/// Panics, naming `what`, unless bytes `[from, to)` of the block at `ptr`
/// hold the pattern of block `id`.
///
/// # Safety
///
/// `[ptr + from, ptr + to)` is valid for reads, initialised, and not written
/// while this runs.
pub unsafe fn verify_pattern(ptr: NonNull<u8>, id: u64, from: usize, to: usize, what: &str) {
    // SAFETY: forwarded.
    unsafe { verify_pattern_for(ptr, id, from, to, &what) };
}

/// [`verify_pattern`] with a message formatted only on failure.
///
/// # Safety
///
/// As for [`verify_pattern`].
pub(crate) unsafe fn verify_pattern_for(
    ptr: NonNull<u8>,
    id: u64,
    from: usize,
    to: usize,
    what: &dyn core::fmt::Display,
) {
    for_chunks(id, from, to, |offset, chunk| {
        // SAFETY: `[offset, offset + chunk.len())` lies in `[from, to)`,
        // readable and initialised by the caller's contract.
        let got = unsafe { std::slice::from_raw_parts(ptr.add(offset).as_ptr(), chunk.len()) };
        if got != chunk {
            let i = got.iter().zip(chunk).position(|(g, c)| g != c).unwrap_or(0);
            panic!(
                "{what}: the block at {:#x} was corrupted: byte {} is {:#04x}, expected {:#04x} \
                 (bytes [{from}, {to}) of block #{id} were checked)",
                ptr.as_ptr().addr(),
                offset + i,
                got[i],
                chunk[i]
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_verify_round_trips_across_the_period() {
        let mut buf = vec![0u8; TABLE_LEN * 2 + 100];
        let ptr = NonNull::new(buf.as_mut_ptr()).unwrap();
        let len = buf.len();
        // SAFETY: `ptr` covers `buf`, which is live and not borrowed.
        unsafe {
            fill_pattern(ptr, 9, 0, len);
            verify_pattern(ptr, 9, 0, len, "round trip");
            verify_pattern(ptr, 9, 5000, len, "suffix");
        }
        assert_eq!(buf[TABLE_LEN + 3], pattern_byte(9, TABLE_LEN + 3));
        assert_ne!((0..64).map(|i| pattern_byte(1, i)).collect::<Vec<_>>(), buf[..64].to_vec());
    }

    #[test]
    #[should_panic(expected = "byte 77 is")]
    fn verify_reports_the_corrupted_byte() {
        let mut buf = vec![0u8; 200];
        let ptr = NonNull::new(buf.as_mut_ptr()).unwrap();
        // SAFETY: `ptr` covers `buf`, which is live and not borrowed.
        unsafe { fill_pattern(ptr, 3, 0, 200) };
        buf[77] = !buf[77];
        let ptr = NonNull::new(buf.as_mut_ptr()).unwrap();
        // SAFETY: as above.
        unsafe { verify_pattern(ptr, 3, 0, 200, "corrupt") };
    }
}
