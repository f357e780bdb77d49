//! What every CPU runs (collections and page runs, contents checked) and the
//! out-of-memory test.

use alloc::{
    boxed::Box,
    collections::{BTreeMap, TryReserveError},
    format,
    string::String,
    vec::Vec,
};
use core::fmt::Write;

use allocator_global::AllocError;

use crate::{KERNEL_MEMORY, PAGE_SIZE, RAM_SIZE, arch, check};

/// xorshift64*: a small, seeded, per-CPU random source.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A kernel object behind a trait object.
trait Shape {
    fn area(&self) -> u64;
    fn name(&self) -> String;
}

struct Square(u64);
struct Rectangle(u64, u64);
struct Named {
    label: String,
    cells: Vec<u64>,
}

impl Shape for Square {
    fn area(&self) -> u64 {
        self.0 * self.0
    }
    fn name(&self) -> String {
        format!("square {}", self.0)
    }
}

impl Shape for Rectangle {
    fn area(&self) -> u64 {
        self.0 * self.1
    }
    fn name(&self) -> String {
        format!("rectangle {}x{}", self.0, self.1)
    }
}

impl Shape for Named {
    fn area(&self) -> u64 {
        self.cells.iter().sum()
    }
    fn name(&self) -> String {
        self.label.clone()
    }
}

/// One round of the workloads on CPU `cpu`.
pub fn round(cpu: usize, round: usize, rng: &mut Rng) {
    let tag = |i: usize| ((cpu as u64) << 48) ^ ((round as u64) << 24) ^ i as u64;

    // Vec: grows by pushing (realloc), contents checked.
    let len = 1 + rng.below(3000);
    let mut numbers = Vec::new();
    for i in 0..len {
        numbers.push(tag(i));
    }
    check!(numbers.iter().enumerate().all(|(i, &x)| x == tag(i)), "round {round}: Vec corrupted");
    numbers.truncate(len / 2);
    numbers.shrink_to_fit();
    check!(
        numbers.iter().enumerate().all(|(i, &x)| x == tag(i)),
        "round {round}: Vec corrupted by shrinking"
    );

    // BTreeMap<u64, String>: inserts, lookups, removals.
    let mut map = BTreeMap::new();
    let keys: Vec<u64> = (0..1 + rng.below(96)).map(|_| rng.next()).collect();
    for (i, &key) in keys.iter().enumerate() {
        map.insert(key, format!("cpu{cpu}-round{round}-{i}"));
    }
    for (i, key) in keys.iter().enumerate() {
        let value = map.get(key);
        // A repeated key keeps its last value.
        let last = keys.iter().rposition(|k| k == key).unwrap_or(i);
        check!(
            value.map(String::as_str) == Some(format!("cpu{cpu}-round{round}-{last}").as_str()),
            "round {round}: BTreeMap lost key {key:#x}"
        );
    }
    for key in keys.iter().step_by(2) {
        map.remove(key);
    }
    check!(
        keys.iter().step_by(2).all(|key| !map.contains_key(key)),
        "round {round}: BTreeMap kept removed keys"
    );

    // Box<dyn Shape>: objects of three sizes behind one trait.
    let mut shapes: Vec<Box<dyn Shape>> = Vec::new();
    let mut expected = 0u64;
    for i in 0..1 + rng.below(48) {
        let side = 1 + rng.below(1000) as u64;
        let shape: Box<dyn Shape> = match i % 3 {
            0 => Box::new(Square(side)),
            1 => Box::new(Rectangle(side, side + 1)),
            _ => Box::new(Named { label: format!("named {side}"), cells: (0..side % 64).collect() }),
        };
        expected += match i % 3 {
            0 => side * side,
            1 => side * (side + 1),
            _ => (0..side % 64).sum(),
        };
        shapes.push(shape);
    }
    check!(
        shapes.iter().map(|s| s.area()).sum::<u64>() == expected,
        "round {round}: Box<dyn Shape> areas wrong"
    );
    check!(shapes[0].name().starts_with("square "), "round {round}: Box<dyn Shape> name wrong");

    // String: formatted, grown, checked.
    let mut text = String::new();
    for i in 0..1 + rng.below(64) {
        let _ = write!(text, "{cpu}:{round}:{i};");
    }
    check!(
        text.split(';')
            .filter(|part| !part.is_empty())
            .enumerate()
            .all(|(i, part)| part == format!("{cpu}:{round}:{i}")),
        "round {round}: String corrupted"
    );
    drop((numbers, map, shapes, text));

    // Page runs from the same object: aligned, inside RAM, contents checked.
    let pages = 1 + rng.below(8);
    let align = PAGE_SIZE << rng.below(4);
    match KERNEL_MEMORY.heap().alloc_pages(pages, align) {
        Ok(start) => {
            check!(start % align == 0, "round {round}: page run at {start:#x} not aligned to {align:#x}");
            check!(
                start >= arch::kernel_end() && start + pages * PAGE_SIZE <= arch::RAM_START + RAM_SIZE,
                "round {round}: page run at {start:#x} outside RAM"
            );
            let words = pages * PAGE_SIZE / 8;
            let base = core::ptr::with_exposed_provenance_mut::<u64>(start);
            for i in 0..words {
                // SAFETY: the run is ours until `dealloc_pages`: RAM handed
                // out by the frame allocator, identity-mapped and writable.
                unsafe { base.add(i).write_volatile(tag(i) ^ start as u64) };
            }
            for i in 0..words {
                // SAFETY: as above.
                let word = unsafe { base.add(i).read_volatile() };
                check!(
                    word == tag(i) ^ start as u64,
                    "round {round}: page run at {start:#x} corrupted at word {i}"
                );
            }
            // SAFETY: allocated above with `pages` pages, no longer used.
            unsafe { KERNEL_MEMORY.heap().dealloc_pages(start, pages) };
        }
        Err(error) => {
            crate::console::fail(format_args!("round {round}: alloc_pages({pages}, {align:#x}): {error:?}"))
        }
    }

    // Every 16 rounds: a large buffer, beyond the slab classes.
    if round.is_multiple_of(16) {
        let size = (256 << 10) << rng.below(3);
        let mut buffer = alloc::vec![0u8; size];
        check!(buffer.iter().all(|&b| b == 0), "round {round}: zeroed buffer not zero");
        buffer.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        check!(
            buffer.iter().enumerate().all(|(i, &b)| b == i as u8),
            "round {round}: large buffer corrupted"
        );
    }
}

/// Fills the heap with 1 MiB blocks until it is out of memory; returns how
/// many it got.
fn fill(blocks: &mut [Option<Vec<u8>>]) -> Result<usize, &'static str> {
    for (n, slot) in blocks.iter_mut().enumerate() {
        let mut block = Vec::new();
        match block.try_reserve_exact(1 << 20) {
            Ok(()) => {
                block.push(n as u8);
                *slot = Some(block);
            }
            Err(_) => return Ok(n),
        }
    }
    Err("the heap never ran out of memory")
}

/// Runs the heap out of memory on this CPU (the others are idle) and checks
/// it is an error that the heap recovers from. Returns the bytes the heap
/// held at the failure.
pub fn out_of_memory() -> usize {
    // A request larger than the RAM: an error, nothing taken.
    let mut huge: Vec<u8> = Vec::new();
    let error: Result<(), TryReserveError> = huge.try_reserve_exact(2 * RAM_SIZE);
    check!(error.is_err(), "a {} MiB Vec was granted", (2 * RAM_SIZE) >> 20);
    let total = KERNEL_MEMORY.heap().total_pages();
    let pages = KERNEL_MEMORY.heap().alloc_pages(total + 1, PAGE_SIZE);
    check!(pages == Err(AllocError::NoMemory), "alloc_pages(all + 1): {pages:?}");
    let one = KERNEL_MEMORY.heap().alloc_pages(1, PAGE_SIZE);
    check!(one.is_ok(), "alloc_pages(1) after a failed one: {one:?}");
    if let Ok(page) = one {
        // SAFETY: allocated just above, unused.
        unsafe { KERNEL_MEMORY.heap().dealloc_pages(page, 1) };
    }

    // Exhaustion: take the whole RAM in 1 MiB blocks, free it, take it again.
    const SLOTS: usize = RAM_SIZE >> 20;
    let mut blocks: [Option<Vec<u8>>; SLOTS] = [const { None }; SLOTS];
    let first = fill(&mut blocks).unwrap_or_else(|reason| crate::console::fail(format_args!("{reason}")));
    check!(first > 0, "not one 1 MiB block before the heap ran out");
    let held = KERNEL_MEMORY.statistics().used_bytes;
    check!(
        blocks.iter().flatten().enumerate().all(|(n, block)| block.len() == 1 && block[0] == n as u8),
        "a block changed while the heap was full"
    );
    blocks.iter_mut().for_each(|slot| *slot = None);
    // Normal allocation works again at once.
    let mut map = BTreeMap::new();
    for i in 0..1000u32 {
        map.insert(i, format!("{i}"));
    }
    check!(map.get(&999).map(String::as_str) == Some("999"), "BTreeMap after out of memory");
    drop(map);
    let second = fill(&mut blocks).unwrap_or_else(|reason| crate::console::fail(format_args!("{reason}")));
    check!(second >= first, "after recovering, {second} 1 MiB blocks fit where {first} did (a leak)");
    blocks.iter_mut().for_each(|slot| *slot = None);
    held
}
