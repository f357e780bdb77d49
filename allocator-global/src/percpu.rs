//! Per-CPU caches in front of a shared [`GlobalAllocator`]: magazines of
//! small blocks, so most allocations and frees take no shared lock.

use core::{
    alloc::{GlobalAlloc, Layout},
    cell::UnsafeCell,
    marker::PhantomData,
    ptr::{self, NonNull},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use allocator_traits::{AllocError, AllocResult, ByteAllocator};

use crate::{DefaultRawMutex, GlobalAllocator, NoSource, PageSource, Statistics, emergency};

/// Where the caller runs: the index of the current CPU (or of the thread's
/// slot on a host). It is a hint for locality only: any value is correct
/// (it is taken modulo the number of caches), so the trait is safe.
pub trait CpuId {
    /// The current CPU's index; `0..CPUS` keeps every CPU on its own cache.
    fn current() -> usize;
}

/// A single CPU: every context shares cache 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleCpu;

impl CpuId for SingleCpu {
    #[inline]
    fn current() -> usize {
        0
    }
}

/// Per-thread slots on a host: each thread takes the next slot round-robin
/// the first time it allocates, and keeps it. With more threads than slots,
/// threads share slots (a busy slot is bypassed, never waited for).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSlots;

#[cfg(feature = "std")]
impl CpuId for ThreadSlots {
    #[inline]
    fn current() -> usize {
        use core::cell::Cell;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        std::thread_local! {
            // No destructor: a `const` thread-local of a `Copy` type registers
            // nothing, so its first use cannot allocate (and re-enter).
            static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        SLOT.try_with(|slot| {
            let mut index = slot.get();
            if index == usize::MAX {
                index = NEXT.fetch_add(1, Ordering::Relaxed);
                slot.set(index);
            }
            index
        })
        .unwrap_or(0)
    }
}

/// The largest size the caches serve; larger (or more aligned than
/// [`CLASS_ALIGN`]) layouts go to the shared heap directly.
pub const MAX_CACHED_SIZE: usize = 4096;

/// Every cached block is aligned to this (class sizes are multiples of it).
pub const CLASS_ALIGN: usize = 16;

/// The size classes: a quarter of a power of two apart above 128 bytes.
const CLASS_SIZES: [usize; 28] = [
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280,
    1536, 1792, 2048, 2560, 3072, 3584, 4096,
];

/// The number of size classes.
pub const NUM_CLASSES: usize = CLASS_SIZES.len();

/// Blocks a magazine holds (per class, per CPU).
pub const MAGAZINE: usize = 32;

/// Blocks moved between a magazine and the depot or the shared heap at once:
/// half a magazine, so a CPU alternating alloc and free at the boundary does
/// not ping-pong.
const BATCH: usize = MAGAZINE / 2;

/// Full batches each class's depot holds for all CPUs.
pub const DEPOT_BATCHES: usize = 8;

/// The class of every size up to [`MAX_CACHED_SIZE`], in steps of
/// [`CLASS_ALIGN`]: `CLASS_OF[(size + 15) / 16]`. One load, no search.
const CLASS_OF: [u8; MAX_CACHED_SIZE / CLASS_ALIGN + 1] = {
    let mut table = [0u8; MAX_CACHED_SIZE / CLASS_ALIGN + 1];
    let mut step = 0;
    let mut class = 0;
    while step < table.len() {
        while CLASS_SIZES[class] < step * CLASS_ALIGN {
            class += 1;
        }
        table[step] = class as u8;
        step += 1;
    }
    table
};

/// The class of a layout the caches serve, or `None`.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > MAX_CACHED_SIZE || layout.align() > CLASS_ALIGN {
        return None;
    }
    Some(CLASS_OF[size.div_ceil(CLASS_ALIGN)] as usize)
}

/// The layout every block of `class` is allocated with from the shared heap,
/// so that blocks of one class are interchangeable.
#[inline]
fn class_layout(class: usize) -> Layout {
    // SAFETY: class sizes are non-zero multiples of the power of two
    // `CLASS_ALIGN`, far below `isize::MAX`.
    unsafe { Layout::from_size_align_unchecked(CLASS_SIZES[class], CLASS_ALIGN) }
}

/// Cached blocks of one class: a stack.
struct Magazine {
    len: usize,
    blocks: [*mut u8; MAGAZINE],
}

/// One CPU's caches, on cache lines of its own.
#[repr(align(128))]
struct Slot {
    /// Held while a context uses the magazines; only ever taken with a
    /// `try`, so an interrupt handler (or a thread sharing the slot) that
    /// finds it held goes to the shared heap instead of waiting.
    busy: AtomicBool,
    /// The bytes of the blocks cached here, read by
    /// [`PerCpu::statistics`] without the slot.
    cached_bytes: AtomicUsize,
    magazines: UnsafeCell<[Magazine; NUM_CLASSES]>,
}

impl Slot {
    // Only an initialiser for `[Slot::EMPTY; CPUS]`: each use is a fresh
    // slot, never a shared one.
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Self = Self {
        busy: AtomicBool::new(false),
        cached_bytes: AtomicUsize::new(0),
        magazines: UnsafeCell::new(
            [const { Magazine { len: 0, blocks: [ptr::null_mut(); MAGAZINE] } }; NUM_CLASSES],
        ),
    };

    /// The magazines, if no other context uses them now.
    #[inline]
    fn try_take(&self) -> Option<SlotGuard<'_>> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        Some(SlotGuard { slot: self })
    }
}

/// Exclusive use of a slot's magazines.
struct SlotGuard<'a> {
    slot: &'a Slot,
}

impl SlotGuard<'_> {
    #[inline]
    fn magazine(&mut self, class: usize) -> &mut Magazine {
        // SAFETY: the guard holds `busy`, so no other context reaches the
        // magazines until it is dropped; `&mut self` keeps one borrow at a
        // time.
        unsafe { &mut (*self.slot.magazines.get())[class] }
    }

    #[inline]
    fn add_cached(&self, bytes: usize) {
        let cached = self.slot.cached_bytes.load(Ordering::Relaxed);
        self.slot.cached_bytes.store(cached.wrapping_add(bytes), Ordering::Relaxed);
    }

    #[inline]
    fn sub_cached(&self, bytes: usize) {
        let cached = self.slot.cached_bytes.load(Ordering::Relaxed);
        self.slot.cached_bytes.store(cached.wrapping_sub(bytes), Ordering::Relaxed);
    }
}

impl Drop for SlotGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.slot.busy.store(false, Ordering::Release);
    }
}

/// Full batches of one class, shared by the CPUs (Bonwick's depot): a CPU
/// whose magazine overflows leaves a batch here, a CPU whose magazine runs
/// dry takes one, and the shared heap's lock is left alone.
#[repr(align(128))]
struct DepotClass {
    /// Held while a context moves a batch; only ever taken with a `try` (a
    /// busy depot is bypassed for the shared heap).
    busy: AtomicBool,
    /// The batches held, read by the statistics without the flag.
    len: AtomicUsize,
    batches: UnsafeCell<[[*mut u8; BATCH]; DEPOT_BATCHES]>,
}

impl DepotClass {
    // Only an initialiser for `[DepotClass::EMPTY; NUM_CLASSES]`.
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Self = Self {
        busy: AtomicBool::new(false),
        len: AtomicUsize::new(0),
        batches: UnsafeCell::new([[ptr::null_mut(); BATCH]; DEPOT_BATCHES]),
    };

    /// Runs `f` on the batches and their count if no other context moves a
    /// batch now.
    #[inline]
    fn try_with<T>(
        &self,
        f: impl FnOnce(&mut [[*mut u8; BATCH]; DEPOT_BATCHES], &mut usize) -> T,
    ) -> Option<T> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        let mut len = self.len.load(Ordering::Relaxed);
        // SAFETY: `busy` is held: no other context reaches the batches until
        // the release store below.
        let result = f(unsafe { &mut *self.batches.get() }, &mut len);
        self.len.store(len, Ordering::Relaxed);
        self.busy.store(false, Ordering::Release);
        Some(result)
    }
}

/// Per-CPU caches in front of a shared, locked, growing heap: the memory
/// subsystem of a multi-core kernel, or a host's `#[global_allocator]`.
///
/// Layouts up to [`MAX_CACHED_SIZE`] bytes aligned to at most
/// [`CLASS_ALIGN`] are served from the current CPU's magazine of their size
/// class (Bonwick's magazines, Linux SLUB's sheaves): a pop or a push under
/// the CPU's own slot flag, no shared lock, no shared cache line. A full
/// magazine leaves its older half, as one batch, in the class's depot
/// (Bonwick's depot layer, shared by the CPUs, at most [`DEPOT_BATCHES`]
/// batches); an empty one takes a batch from the depot, or else
/// [`MAGAZINE`]` / 2` blocks from the shared heap under one lock. Every cached block is a block
/// of the shared heap with its class's layout, so a block freed on another
/// CPU simply joins that CPU's magazine (no remote-free list). Larger
/// layouts go to the heap directly.
///
/// The kernel supplies the CPU through [`CpuId`] (a hint: any value is
/// correct). A context finding its CPU's slot busy (an interrupt handler
/// that interrupted an allocation, or a thread sharing a slot) uses the
/// shared heap directly, so the caches need no interrupt masking and never
/// wait; the shared heap's lock `R` is what interrupt handlers rely on
/// ([`IrqSafeSpin`](crate::IrqSafeSpin)).
///
/// Bounded: at most [`MAGAZINE`] blocks per class per CPU, and
/// [`DEPOT_BATCHES`]` * MAGAZINE / 2` per class in the depot.
/// [`drain`](Self::drain) gives every cached block back (a CPU going
/// offline, memory pressure), and an allocation that fails drains the
/// caches and retries before it reports `NoMemory`. Statistics: cached
/// blocks count as available, not used, at their class size (exact where the
/// engine charges a block its class size, as the slab does for classes that
/// are its own; after [`drain`](Self::drain), exact for every engine).
///
/// # Invariants
///
/// - A block is in at most one magazine or depot batch, and a cached block
///   (in a magazine or the depot) is a live block
///   of the shared heap allocated with its class's layout (class size, [`CLASS_ALIGN`]); the
///   heap's `used_bytes` counts it, and `cached_bytes` of its slot (or the
///   depot's batch count) counts its class size.
/// - A slot's magazines are touched only by the context holding its `busy`
///   flag.
pub struct PerCpu<B, S = NoSource, R = DefaultRawMutex, C = SingleCpu, const CPUS: usize = 1> {
    heap: GlobalAllocator<B, S, R>,
    slots: [Slot; CPUS],
    depot: [DepotClass; NUM_CLASSES],
    _cpu: PhantomData<fn() -> C>,
}

// SAFETY: a slot's magazines are reached only under its `busy` flag (an
// acquire swap / release store pair), and the blocks they point to belong to
// the shared heap, which is `Sync` through its lock.
unsafe impl<B: Send, S: Send, R: lock_api::RawMutex + Sync, C, const CPUS: usize> Sync
    for PerCpu<B, S, R, C, CPUS>
{
}

impl<B, S, R: lock_api::RawMutex, C, const CPUS: usize> PerCpu<B, S, R, C, CPUS> {
    /// Caches in front of `heap`. `const`, so it can be a `static` and a
    /// `#[global_allocator]`.
    pub const fn new(heap: GlobalAllocator<B, S, R>) -> Self {
        Self { heap, slots: [Slot::EMPTY; CPUS], depot: [DepotClass::EMPTY; NUM_CLASSES], _cpu: PhantomData }
    }

    /// The shared heap (for `init`, `add_memory`, page frames, `trim`).
    pub const fn heap(&self) -> &GlobalAllocator<B, S, R> {
        &self.heap
    }
}

impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex, C: CpuId, const CPUS: usize>
    PerCpu<B, S, R, C, CPUS>
{
    #[inline]
    fn slot(&self) -> &Slot {
        &self.slots[C::current() % CPUS]
    }

    /// Allocates a block for `layout`: from the current CPU's magazine when
    /// the layout is cached, else from the shared heap.
    ///
    /// # Errors
    ///
    /// [`AllocError::NoMemory`] when neither the caches (drained and
    /// retried) nor the shared heap have room; the heap's errors for large
    /// layouts.
    #[inline]
    pub fn alloc_block(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        let Some(class) = class_of(layout) else {
            return self.alloc_shared(layout);
        };
        if let Some(mut guard) = self.slot().try_take() {
            let magazine = guard.magazine(class);
            if magazine.len > 0 {
                magazine.len -= 1;
                let block = magazine.blocks[magazine.len];
                guard.sub_cached(CLASS_SIZES[class]);
                // SAFETY: cached blocks are live, non-null blocks.
                return Ok(unsafe { NonNull::new_unchecked(block) });
            }
            return self.refill(&mut guard, class);
        }
        self.alloc_shared(class_layout(class))
    }

    /// The magazine of `class` is empty: take a batch from the shared heap
    /// and serve one of it.
    #[cold]
    #[inline(never)]
    fn refill(&self, guard: &mut SlotGuard<'_>, class: usize) -> AllocResult<NonNull<u8>> {
        // A full batch another CPU left in the depot, if there is one.
        let magazine = guard.magazine(class);
        let from_depot = self.depot[class].try_with(|batches, len| {
            if *len == 0 {
                return false;
            }
            *len -= 1;
            magazine.blocks[..BATCH].copy_from_slice(&batches[*len]);
            true
        });
        if from_depot == Some(true) {
            magazine.len = BATCH - 1;
            let block = magazine.blocks[BATCH - 1];
            // The batch was counted as cached in the depot; one block leaves.
            guard.add_cached((BATCH - 1) * CLASS_SIZES[class]);
            // SAFETY: depot batches hold live, non-null blocks of `class`.
            return Ok(unsafe { NonNull::new_unchecked(block) });
        }
        let layout = class_layout(class);
        let mut batch = [NonNull::dangling(); BATCH];
        let got = match self.heap.alloc_batch(layout, &mut batch) {
            Ok(got) => got,
            Err(_) => {
                // The other CPUs' caches may hold what the heap lacks.
                self.drain_others(guard);
                self.heap.alloc_batch(layout, &mut batch)?
            }
        };
        let magazine = guard.magazine(class);
        for &block in &batch[1..got] {
            magazine.blocks[magazine.len] = block.as_ptr();
            magazine.len += 1;
        }
        guard.add_cached((got - 1) * CLASS_SIZES[class]);
        Ok(batch[0])
    }

    /// A large layout, or a cached one while the CPU's slot is busy:
    /// straight from the heap (after draining the caches, if it is out of
    /// memory: they may hold what it lacks).
    #[inline]
    fn alloc_shared(&self, layout: Layout) -> AllocResult<NonNull<u8>> {
        match self.heap.alloc_block(layout) {
            Err(AllocError::NoMemory) if self.drain() > 0 => self.heap.alloc_block(layout),
            result => result,
        }
    }

    /// Frees the block at `ptr`: into the current CPU's magazine when the
    /// layout is cached (half the magazine goes back to the heap when it is
    /// full), else to the shared heap.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by this allocator for `layout` and is not freed
    /// yet.
    #[inline]
    pub unsafe fn dealloc_block(&self, ptr: NonNull<u8>, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract; large layouts came from the heap.
            return unsafe { self.heap.dealloc_block(ptr, layout) };
        };
        if emergency::holds(ptr) {
            return;
        }
        if let Some(mut guard) = self.slot().try_take() {
            let magazine = guard.magazine(class);
            if magazine.len == MAGAZINE {
                self.overflow(&mut guard, class);
            }
            let magazine = guard.magazine(class);
            magazine.blocks[magazine.len] = ptr.as_ptr();
            magazine.len += 1;
            guard.add_cached(CLASS_SIZES[class]);
            return;
        }
        // SAFETY: the caller's contract; cached layouts are allocated from
        // the heap with their class's layout.
        unsafe { self.heap.dealloc_block(ptr, class_layout(class)) };
    }

    /// A full magazine: its oldest half goes to the depot, or to the shared
    /// heap when the depot is full or busy.
    #[cold]
    #[inline(never)]
    fn overflow(&self, guard: &mut SlotGuard<'_>, class: usize) {
        let magazine = guard.magazine(class);
        let to_depot = self.depot[class].try_with(|batches, len| {
            if *len == DEPOT_BATCHES {
                return false;
            }
            batches[*len].copy_from_slice(&magazine.blocks[..BATCH]);
            *len += 1;
            true
        });
        if to_depot != Some(true) {
            // SAFETY: `*mut u8` and `NonNull<u8>` have one layout; the oldest
            // half of a full magazine holds live, non-null blocks of `class`,
            // each cached once, which leave it here.
            let oldest =
                unsafe { core::slice::from_raw_parts(magazine.blocks.as_ptr().cast::<NonNull<u8>>(), BATCH) };
            // SAFETY: as above.
            unsafe { self.heap.dealloc_batch(oldest, class_layout(class)) };
        }
        magazine.blocks.copy_within(BATCH.., 0);
        magazine.len -= BATCH;
        guard.sub_cached(BATCH * CLASS_SIZES[class]);
    }

    /// Gives every cached block of every CPU, and every batch of the depot,
    /// back to the shared heap (slots and depot classes in use right now are
    /// skipped) and returns the bytes given back.
    ///
    /// A CPU going offline, memory pressure, or a `trim` of the heap first
    /// (cached blocks keep the heap's chunks from being wholly free).
    pub fn drain(&self) -> usize {
        let in_slots: usize =
            self.slots.iter().filter_map(Slot::try_take).map(|mut guard| self.flush(&mut guard)).sum();
        in_slots + self.drain_depot()
    }

    /// Gives every batch of the depot back to the shared heap; returns the
    /// bytes.
    fn drain_depot(&self) -> usize {
        let mut bytes = 0;
        for (class, depot) in self.depot.iter().enumerate() {
            bytes += depot
                .try_with(|batches, len| {
                    for batch in &batches[..*len] {
                        // SAFETY: `*mut u8` and `NonNull<u8>` have one layout;
                        // depot batches hold live, non-null blocks of `class`,
                        // each held once, which leave the depot here.
                        let blocks = unsafe {
                            core::slice::from_raw_parts(batch.as_ptr().cast::<NonNull<u8>>(), BATCH)
                        };
                        // SAFETY: as above.
                        unsafe { self.heap.dealloc_batch(blocks, class_layout(class)) };
                    }
                    let freed = *len * BATCH * CLASS_SIZES[class];
                    *len = 0;
                    freed
                })
                .unwrap_or(0);
        }
        bytes
    }

    /// [`drain`](Self::drain), then [`trim`](GlobalAllocator::trim) of the
    /// shared heap; returns the bytes the heap gave back to its source.
    pub fn trim(&self) -> usize {
        self.drain();
        self.heap.trim()
    }

    /// Drains every slot but the one `held` (which its caller uses).
    fn drain_others(&self, held: &SlotGuard<'_>) -> usize {
        let in_slots: usize = self
            .slots
            .iter()
            .filter(|slot| !ptr::eq(*slot, held.slot))
            .filter_map(Slot::try_take)
            .map(|mut guard| self.flush(&mut guard))
            .sum();
        in_slots + self.drain_depot()
    }

    /// Gives every block of a held slot back; returns the bytes.
    fn flush(&self, guard: &mut SlotGuard<'_>) -> usize {
        let mut bytes = 0;
        for (class, &size) in CLASS_SIZES.iter().enumerate() {
            let magazine = guard.magazine(class);
            let len = magazine.len;
            if len == 0 {
                continue;
            }
            // SAFETY: `*mut u8` and `NonNull<u8>` have one layout; the first
            // `len` entries are live, non-null cached blocks of `class`, each
            // cached once, and leave the magazine here.
            let blocks =
                unsafe { core::slice::from_raw_parts(magazine.blocks.as_ptr().cast::<NonNull<u8>>(), len) };
            // SAFETY: as above.
            unsafe { self.heap.dealloc_batch(blocks, class_layout(class)) };
            magazine.len = 0;
            bytes += len * size;
        }
        guard.sub_cached(bytes);
        bytes
    }

    /// The shared heap's statistics, with the cached blocks counted as
    /// available instead of used (the per-CPU counters summed, no slot
    /// taken).
    pub fn statistics(&self) -> Statistics {
        let mut stats = self.heap.statistics();
        let cached = self.cached_bytes().min(stats.used_bytes);
        stats.used_bytes -= cached;
        stats.available_bytes += cached;
        stats
    }

    /// The bytes cached in every CPU's magazines and in the depot now.
    pub fn cached_bytes(&self) -> usize {
        let in_slots: usize = self.slots.iter().map(|slot| slot.cached_bytes.load(Ordering::Relaxed)).sum();
        let in_depot: usize = self
            .depot
            .iter()
            .zip(CLASS_SIZES)
            .map(|(depot, size)| depot.len.load(Ordering::Relaxed) * BATCH * size)
            .sum();
        in_slots + in_depot
    }
}

// SAFETY: blocks come from the shared heap (valid, disjoint, aligned: its
// `GlobalAlloc` promise) either directly or through a magazine, which holds
// each freed block once and hands it out once; class layouts are at least as
// large and as aligned as the layouts they serve. Failures return null; a
// panic never unwinds out (it aborts).
unsafe impl<B: ByteAllocator, S: PageSource, R: lock_api::RawMutex, C: CpuId, const CPUS: usize> GlobalAlloc
    for PerCpu<B, S, R, C, CPUS>
{
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let guard = emergency::AbortOnUnwind;
        let block = self.alloc_block(layout).map_or(ptr::null_mut(), NonNull::as_ptr);
        core::mem::forget(guard);
        block
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let guard = emergency::AbortOnUnwind;
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc::dealloc`'s contract.
            unsafe { self.dealloc_block(block, layout) };
        }
        core::mem::forget(guard);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(block) = NonNull::new(ptr) else { return ptr::null_mut() };
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let guard = emergency::AbortOnUnwind;
        let (old_class, new_class) = (class_of(layout), class_of(new_layout));
        let result = if old_class.is_none() && new_class.is_none() {
            // SAFETY: a large block of the heap with `layout`.
            unsafe { self.heap.realloc_block(block, layout, new_size) }
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        } else if old_class == new_class {
            ptr
        } else {
            match self.alloc_block(new_layout) {
                Ok(new) => {
                    // SAFETY: distinct live blocks of at least the copied
                    // length; `block` is freed once, with its layout.
                    unsafe {
                        allocator_traits::move_block(block, layout.size(), new, new_size);
                        self.dealloc_block(block, layout);
                    }
                    new.as_ptr()
                }
                Err(_) => ptr::null_mut(),
            }
        };
        core::mem::forget(guard);
        result
    }
}
