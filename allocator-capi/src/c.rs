//! The C functions, generic over the heap and the errno setter:
//! [`c_malloc!`](crate::c_malloc) emits `extern "C"` wrappers of these.
//!
//! Each takes the heap `&H` and (where C sets errno) a `fn(Errno)`; the
//! rules are in the [crate documentation](crate#cs-rules-and-the-choices-made-where-c-leaves-one).
//!
//! # Two ways to free without a size
//!
//! **No header** (a heap with a [`Registry`] whose engine
//! finds sizes: [`CMalloc`] over TLSF, or over the slab heap
//! with an index of its slabs): the pointer C gets is the engine block
//! itself. `free` asks the engine for the size
//! ([`CHeap::dealloc_unsized`]), at alignment 16; the registry records the
//! two kinds of block the engine cannot size that way, huge chunks (by
//! size) and blocks aligned beyond 16 (by alignment), and `free` looks a
//! pointer up only when one of that kind is live and the pointer is
//! aligned as they are.
//!
//! **A header** (any other heap): every block starts with an engine block
//! (or a chunk) at `base`; the pointer C gets is `base + offset`, where
//! `offset` is 16 or the alignment asked for, whichever is larger. The 16
//! bytes before the pointer hold two words: the size of the engine block
//! (its layout is `(size, offset)`) or of the chunk, and `offset`, with bit
//! 0 set for a chunk.

use core::{alloc::Layout, ffi::c_void, ptr::NonNull};

#[cfg(doc)]
use crate::CMalloc;
use crate::{
    CHeap, Errno, MIN_ALIGN, PAGE_SIZE,
    registry::{MIN_RECORDED_ALIGN, Registry, Tag},
};

/// The registry, when the heap frees blocks without a header.
#[inline]
fn headerless<H: CHeap>(heap: &H) -> Option<&Registry> {
    heap.registry().filter(|_| heap.finds_block_sizes())
}

/// [`allocate`] with no header: a chunk of its own, recorded, at or above the
/// heap's direct threshold; an engine block otherwise, recorded if aligned
/// beyond 16.
fn allocate_headerless<H: CHeap>(
    heap: &H,
    registry: &Registry,
    size: usize,
    align: usize,
    zero: bool,
) -> Option<NonNull<u8>> {
    if size >= heap.direct_threshold() && align <= PAGE_SIZE {
        if let Some(chunk) = heap.alloc_chunk(size, PAGE_SIZE) {
            let fits = chunk.size >= size
                && chunk.size % PAGE_SIZE == 0
                && chunk.start.as_ptr().addr() % PAGE_SIZE == 0;
            if fits && registry.record(heap, chunk.start, Tag::Chunk { size: chunk.size, align }) {
                if zero && !chunk.zeroed {
                    // SAFETY: the chunk holds `size` bytes.
                    unsafe { chunk.start.write_bytes(0, size) };
                }
                return Some(chunk.start);
            }
            // SAFETY: a chunk of `alloc_chunk`, unused, given back once.
            unsafe { heap.dealloc_chunk(chunk.start, chunk.size) };
        }
    }
    let layout = Layout::from_size_align(size, align.max(MIN_ALIGN)).ok()?;
    let block = heap.alloc(layout)?;
    if layout.align() > MIN_ALIGN {
        debug_assert!(layout.align() >= MIN_RECORDED_ALIGN);
        if !registry.record(heap, block, Tag::Aligned(layout.align())) {
            // SAFETY: the block just allocated with `layout`, unused.
            unsafe { heap.dealloc(block, layout) };
            return None;
        }
    }
    if zero {
        // SAFETY: the block holds `size` bytes.
        unsafe { block.write_bytes(0, size) };
    }
    Some(block)
}

/// What a header-free block is, from the registry: a chunk, an engine
/// block aligned beyond 16, or a plain engine block. With `take`, the
/// record is dropped (the block is being freed).
fn kind<H: CHeap>(heap: &H, registry: &Registry, block: NonNull<u8>, take: bool) -> Tag {
    let recorded = if take { registry.take(heap, block) } else { registry.get(block) };
    recorded.unwrap_or(Tag::Aligned(MIN_ALIGN))
}

/// Frees a header-free block whose record (if any) `tag` was taken.
///
/// # Safety
///
/// `block` is a live header-free block of these functions, `tag` its kind.
unsafe fn release_headerless<H: CHeap>(heap: &H, block: NonNull<u8>, tag: Tag) {
    match tag {
        // SAFETY: the chunk `(block, size)` of `alloc_chunk`, freed once.
        Tag::Chunk { size, .. } => unsafe { heap.dealloc_chunk(block, size) },
        Tag::Aligned(align) => {
            // SAFETY: an engine block of this alignment. `dealloc_unsized`
            // fails only for the emergency arena's blocks, never freed.
            let _ = unsafe { heap.dealloc_unsized(block, align) };
        }
    }
}

/// The bytes of a header-free block (`None`: an emergency block, whose
/// size no engine records).
///
/// # Safety
///
/// `block` is a live header-free block of these functions, `tag` its kind.
unsafe fn size_headerless<H: CHeap>(heap: &H, block: NonNull<u8>, tag: Tag) -> Option<usize> {
    match tag {
        Tag::Chunk { size, .. } => Some(size),
        // SAFETY: an engine block of this alignment.
        Tag::Aligned(align) => unsafe { heap.block_size(block, align) },
    }
}

/// [`realloc`] of a header-free block to `size > 0` bytes.
///
/// # Safety
///
/// `block` is a live header-free block of these functions.
unsafe fn realloc_headerless<H: CHeap>(
    heap: &H,
    registry: &Registry,
    errno: fn(Errno),
    block: NonNull<u8>,
    size: usize,
) -> *mut c_void {
    let tag = kind(heap, registry, block, false);
    // SAFETY: the caller's contract.
    let Some(old_size) = (unsafe { size_headerless(heap, block, tag) }) else {
        return or_enomem(None, errno);
    };
    let align = match tag {
        Tag::Chunk { .. } if size <= old_size && size > old_size / 2 => {
            // A chunk that still fits and is at least half used stays.
            return block.as_ptr().cast();
        }
        Tag::Chunk { align, .. } => align,
        Tag::Aligned(align) => align,
    };
    let stays_engine_block =
        matches!(tag, Tag::Aligned(_)) && (align > MIN_ALIGN || size < heap.direct_threshold());
    if stays_engine_block {
        let Ok(layout) = Layout::from_size_align(old_size, align) else { return or_enomem(None, errno) };
        // SAFETY: `(old_size, align)` stands for the live block's layout
        // (`block_size`'s promise).
        let Some(moved) = (unsafe { heap.realloc(block, layout, size) }) else {
            return or_enomem(None, errno);
        };
        if align > MIN_ALIGN && moved != block {
            registry.moved(block, moved);
        }
        return moved.as_ptr().cast();
    }
    // A chunk that must change, or an engine block becoming huge: a new
    // block, the contents copied, the old freed.
    let Some(new) = allocate_headerless(heap, registry, size, align, false) else {
        return or_enomem(None, errno);
    };
    // SAFETY: the old block holds `old_size` bytes, the new one `size`; they
    // are distinct live blocks. The old block is freed once, its record
    // taken.
    unsafe {
        core::ptr::copy_nonoverlapping(block.as_ptr(), new.as_ptr(), old_size.min(size));
        release_headerless(heap, block, kind(heap, registry, block, true));
    }
    new.as_ptr().cast()
}

/// The bytes of the header before every pointer.
const HEADER: usize = 16;

// Every offset (at least `MIN_ALIGN`) leaves room for the header.
const _: () = assert!(MIN_ALIGN >= HEADER && HEADER == 2 * size_of::<usize>() || size_of::<usize>() < 8);

/// Bit 0 of the header's second word: the block is a chunk of its own.
const DIRECT: usize = 1;

/// What the header of a block says.
#[derive(Clone, Copy)]
struct Header {
    /// The engine block's size (its layout is `(size, offset)`) or the
    /// chunk's.
    size: usize,
    /// From the engine block's (or chunk's) start to the pointer: the
    /// block's alignment, at least 16.
    offset: usize,
    /// A chunk straight from the page source.
    direct: bool,
}

impl Header {
    /// Writes the header of the block whose pointer is `user`.
    ///
    /// # Safety
    ///
    /// The `HEADER` bytes before `user` are writable memory of the block.
    unsafe fn write(self, user: NonNull<u8>) {
        let words = user.cast::<usize>();
        // SAFETY: the caller's contract; `user` is 16-aligned, so the two
        // words before it are aligned.
        unsafe {
            words.sub(2).write(self.size);
            words.sub(1).write(self.offset | if self.direct { DIRECT } else { 0 });
        }
    }

    /// Reads the header of the block whose pointer is `user`.
    ///
    /// # Safety
    ///
    /// `user` is a live pointer of these functions (its header was written
    /// by [`write`](Self::write)).
    unsafe fn read(user: NonNull<u8>) -> Self {
        let words = user.cast::<usize>();
        // SAFETY: the caller's contract.
        let (size, tag) = unsafe { (words.sub(2).read(), words.sub(1).read()) };
        Self { size, offset: tag & !DIRECT, direct: tag & DIRECT != 0 }
    }

    /// The engine block's start.
    ///
    /// # Safety
    ///
    /// `user` is the pointer this header belongs to.
    unsafe fn base(self, user: NonNull<u8>) -> NonNull<u8> {
        // SAFETY: the block starts `offset` bytes before the pointer, in
        // the same allocation.
        unsafe { user.sub(self.offset) }
    }

    /// The engine block's layout (`None` for a chunk, or a corrupt header).
    fn layout(self) -> Option<Layout> {
        if self.direct { None } else { Layout::from_size_align(self.size, self.offset).ok() }
    }
}

/// Allocates `size` bytes aligned to `align` (a power of two, at least
/// [`MIN_ALIGN`]), zero-filled if `zero`: a chunk of its own at or above the
/// heap's direct threshold (zeroes written only if the chunk is not known to
/// be zero), an engine block otherwise.
fn allocate<H: CHeap>(heap: &H, size: usize, align: usize, zero: bool) -> Option<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && align >= MIN_ALIGN);
    if let Some(registry) = headerless(heap) {
        return allocate_headerless(heap, registry, size, align, zero);
    }
    let offset = align;
    debug_assert!(offset >= HEADER, "the header fits before the pointer");
    let total = size.checked_add(offset)?;
    if total >= heap.direct_threshold() && align <= PAGE_SIZE {
        if let Some(chunk) = heap.alloc_chunk(total, align) {
            if chunk.size >= total && chunk.start.as_ptr().addr() % align == 0 {
                // SAFETY: the chunk holds `chunk.size >= offset + size`
                // bytes, so the pointer and the header before it lie in it.
                let user = unsafe { chunk.start.add(offset) };
                // SAFETY: as above.
                unsafe { Header { size: chunk.size, offset, direct: true }.write(user) };
                if zero && !chunk.zeroed {
                    // SAFETY: `size` bytes from `user` lie in the chunk.
                    unsafe { user.write_bytes(0, size) };
                }
                return Some(user);
            }
            // SAFETY: a chunk of `alloc_chunk`, unused, given back once.
            unsafe { heap.dealloc_chunk(chunk.start, chunk.size) };
        }
    }
    let layout = Layout::from_size_align(total, align).ok()?;
    let base = heap.alloc(layout)?;
    // SAFETY: the block holds `offset + size` bytes.
    let user = unsafe { base.add(offset) };
    // SAFETY: the 16 bytes before `user` are the block's (`offset >= 16`).
    unsafe { Header { size: total, offset, direct: false }.write(user) };
    if zero {
        // SAFETY: `size` bytes from `user` lie in the block.
        unsafe { user.write_bytes(0, size) };
    }
    Some(user)
}

/// Frees a block given its pointer and header.
///
/// # Safety
///
/// `user` is a live pointer of these functions and `header` its header.
unsafe fn release<H: CHeap>(heap: &H, user: NonNull<u8>, header: Header) {
    // SAFETY: the caller's contract.
    let base = unsafe { header.base(user) };
    if header.direct {
        // SAFETY: the chunk `(base, size)` of `alloc_chunk`, freed once.
        unsafe { heap.dealloc_chunk(base, header.size) };
    } else if let Some(layout) = header.layout() {
        // SAFETY: an engine block with this layout (its header says so).
        unsafe { heap.dealloc(base, layout) };
    }
}

/// The result of an allocation: the pointer, or null with `ENOMEM` set.
fn or_enomem(block: Option<NonNull<u8>>, errno: fn(Errno)) -> *mut c_void {
    match block {
        Some(block) => block.as_ptr().cast(),
        None => {
            errno(Errno::NoMemory);
            core::ptr::null_mut()
        }
    }
}

/// C `malloc(size)`: `size` bytes aligned to 16; `malloc(0)` a unique
/// pointer; null with `ENOMEM` when out of memory.
///
/// # Safety
///
/// None beyond C's: the block is freed once, by [`free`] or [`realloc`] of
/// the same heap.
pub unsafe fn malloc<H: CHeap>(heap: &H, errno: fn(Errno), size: usize) -> *mut c_void {
    or_enomem(allocate(heap, size, MIN_ALIGN, false), errno)
}

/// C `free(ptr)`: a no-op for null.
///
/// # Safety
///
/// `ptr` is null or a live pointer returned by these functions over `heap`.
pub unsafe fn free<H: CHeap>(heap: &H, ptr: *mut c_void) {
    let Some(user) = NonNull::new(ptr.cast::<u8>()) else { return };
    if let Some(registry) = headerless(heap) {
        // SAFETY: the caller's contract: a live block of these functions,
        // its record (if any) taken once.
        return unsafe { release_headerless(heap, user, kind(heap, registry, user, true)) };
    }
    // SAFETY: the caller's contract: a live pointer of these functions.
    unsafe { release(heap, user, Header::read(user)) }
}

/// C `calloc(count, size)`: `count * size` zero bytes; null with `ENOMEM`
/// when the product overflows or memory runs out. A huge block from a
/// zero-filling source is not written.
///
/// # Safety
///
/// As for [`malloc`].
pub unsafe fn calloc<H: CHeap>(heap: &H, errno: fn(Errno), count: usize, size: usize) -> *mut c_void {
    let block = count.checked_mul(size).and_then(|bytes| allocate(heap, bytes, MIN_ALIGN, true));
    or_enomem(block, errno)
}

/// C `realloc(ptr, size)`: `malloc(size)` for a null `ptr`; frees `ptr` and
/// returns null for `size == 0`; else the block resized (in place where the
/// engine can), its first `min(old, size)` bytes kept, its alignment kept.
/// Null with `ENOMEM` when memory runs out, the old block untouched.
///
/// # Safety
///
/// As for [`free`].
pub unsafe fn realloc<H: CHeap>(heap: &H, errno: fn(Errno), ptr: *mut c_void, size: usize) -> *mut c_void {
    let Some(user) = NonNull::new(ptr.cast::<u8>()) else {
        return or_enomem(allocate(heap, size, MIN_ALIGN, false), errno);
    };
    if let Some(registry) = headerless(heap) {
        if size == 0 {
            // SAFETY: the caller's contract: a live block, freed once.
            unsafe { release_headerless(heap, user, kind(heap, registry, user, true)) };
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's contract.
        return unsafe { realloc_headerless(heap, registry, errno, user, size) };
    }
    // SAFETY: the caller's contract: a live pointer of these functions.
    let header = unsafe { Header::read(user) };
    if size == 0 {
        // SAFETY: as above.
        unsafe { release(heap, user, header) };
        return core::ptr::null_mut();
    }
    let Some(total) = size.checked_add(header.offset) else {
        return or_enomem(None, errno);
    };
    if header.direct && total <= header.size && total > header.size / 2 {
        // A chunk that still fits and is at least half used stays.
        return ptr;
    }
    if let (Some(layout), true) = (header.layout(), total < heap.direct_threshold()) {
        // SAFETY: `base` is the live engine block of `layout` (the header).
        let base = unsafe { header.base(user) };
        // SAFETY: as above.
        let Some(new_base) = (unsafe { heap.realloc(base, layout, total) }) else {
            return or_enomem(None, errno);
        };
        // SAFETY: the new block holds `total = offset + size` bytes, aligned
        // to `offset` as the old one was.
        let new_user = unsafe { new_base.add(header.offset) };
        // SAFETY: the header's bytes lie in the new block.
        unsafe { Header { size: total, offset: header.offset, direct: false }.write(new_user) };
        return new_user.as_ptr().cast();
    }
    // A chunk that must change, or an engine block becoming huge: a new
    // block, the contents copied, the old freed.
    let Some(new_user) = allocate(heap, size, header.offset, false) else {
        return or_enomem(None, errno);
    };
    let old_size = header.size - header.offset;
    // SAFETY: the old block holds `old_size` bytes from `user`, the new one
    // `size`; they are distinct live blocks. The old block is freed once.
    unsafe {
        core::ptr::copy_nonoverlapping(user.as_ptr(), new_user.as_ptr(), old_size.min(size));
        release(heap, user, header);
    }
    new_user.as_ptr().cast()
}

/// C `reallocarray(ptr, count, size)`: `realloc(ptr, count * size)`, or null
/// with `ENOMEM` (the block untouched) when the product overflows.
///
/// # Safety
///
/// As for [`free`].
pub unsafe fn reallocarray<H: CHeap>(
    heap: &H,
    errno: fn(Errno),
    ptr: *mut c_void,
    count: usize,
    size: usize,
) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: the caller's contract.
        Some(bytes) => unsafe { realloc(heap, errno, ptr, bytes) },
        None => or_enomem(None, errno),
    }
}

/// An aligned allocation of `size` bytes to `align` (a power of two; at
/// least 16 is given).
fn aligned<H: CHeap>(heap: &H, align: usize, size: usize) -> Option<NonNull<u8>> {
    allocate(heap, size, align.max(MIN_ALIGN), false)
}

/// C `posix_memalign(out, align, size)`: 0 with `*out` set; `EINVAL` for an
/// alignment that is not a power of two multiple of `sizeof(void *)`;
/// `ENOMEM` when out of memory. errno is never set and `*out` is written
/// only on success.
///
/// # Safety
///
/// `out` is valid for writing a pointer.
pub unsafe fn posix_memalign<H: CHeap>(heap: &H, out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
        return Errno::Invalid.code();
    }
    match aligned(heap, align, size) {
        Some(block) => {
            // SAFETY: the caller's contract.
            unsafe { out.write(block.as_ptr().cast()) };
            0
        }
        None => Errno::NoMemory.code(),
    }
}

/// C `aligned_alloc(align, size)`: null with `EINVAL` for an alignment that
/// is not a power of two (glibc 2.38's rule; any size accepted), null with
/// `ENOMEM` when out of memory.
///
/// # Safety
///
/// As for [`malloc`].
pub unsafe fn aligned_alloc<H: CHeap>(heap: &H, errno: fn(Errno), align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        errno(Errno::Invalid);
        return core::ptr::null_mut();
    }
    or_enomem(aligned(heap, align, size), errno)
}

/// C `memalign(align, size)`, as glibc's: an alignment that is not a power
/// of two is rounded up to one; one above `isize::MAX` is null with
/// `EINVAL`; null with `ENOMEM` when out of memory.
///
/// # Safety
///
/// As for [`malloc`].
pub unsafe fn memalign<H: CHeap>(heap: &H, errno: fn(Errno), align: usize, size: usize) -> *mut c_void {
    match align.checked_next_power_of_two().filter(|&a| a <= isize::MAX as usize / 2 + 1) {
        Some(align) => or_enomem(aligned(heap, align, size), errno),
        None => {
            errno(Errno::Invalid);
            core::ptr::null_mut()
        }
    }
}

/// C `valloc(size)`: `memalign(PAGE_SIZE, size)`.
///
/// # Safety
///
/// As for [`malloc`].
pub unsafe fn valloc<H: CHeap>(heap: &H, errno: fn(Errno), size: usize) -> *mut c_void {
    or_enomem(aligned(heap, PAGE_SIZE, size), errno)
}

/// C `pvalloc(size)`: `valloc` of `size` rounded up to a whole page (null
/// with `ENOMEM` if that overflows).
///
/// # Safety
///
/// As for [`malloc`].
pub unsafe fn pvalloc<H: CHeap>(heap: &H, errno: fn(Errno), size: usize) -> *mut c_void {
    let rounded = size.checked_add(PAGE_SIZE - 1).map(|s| s & !(PAGE_SIZE - 1));
    or_enomem(rounded.and_then(|size| aligned(heap, PAGE_SIZE, size)), errno)
}

/// C `malloc_usable_size(ptr)`: the bytes of the block the caller may use,
/// at least what it asked for (0 for null).
///
/// # Safety
///
/// As for [`free`].
pub unsafe fn malloc_usable_size<H: CHeap>(heap: &H, ptr: *mut c_void) -> usize {
    let Some(user) = NonNull::new(ptr.cast::<u8>()) else { return 0 };
    if let Some(registry) = headerless(heap) {
        // SAFETY: the caller's contract: a live block of these functions.
        return unsafe { size_headerless(heap, user, kind(heap, registry, user, false)) }.unwrap_or(0);
    }
    // SAFETY: the caller's contract: a live pointer of these functions.
    let header = unsafe { Header::read(user) };
    let whole = match header.layout() {
        // SAFETY: the live engine block of `layout`.
        Some(layout) => unsafe { heap.usable_size(header.base(user), layout) },
        None => header.size,
    };
    whole.saturating_sub(header.offset)
}

#[cfg(test)]
mod tests;
