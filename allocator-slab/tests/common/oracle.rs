//! The class a table must pick, by brute force: shared by the unit tests
//! (`src/tests/classes.rs`, exhaustively) and the property tests
//! (`tests/props.rs`, generated layouts).

// The including module brings `SizeClasses` into scope: the crate's own
// unit tests and the integration tests see it by different paths.
use super::SizeClasses;

/// The class of `(size, align)` by brute force: the smallest whose size is
/// at least `size` and whose blocks (aligned to the largest power of two
/// dividing the size) are aligned to `align`; `None` for the backing
/// allocator. Above [`SizeClasses::EXACT_FIT_ABOVE`], a size (rounded up to
/// 8) whose smallest fitting class would leave more than an eighth of its
/// block unused goes to the backing allocator.
pub fn expected_class<C: SizeClasses>(size: usize, align: usize) -> Option<usize> {
    let rounded = size.next_multiple_of(8);
    if let Some(&fitting) = C::SIZES.iter().find(|&&class| class >= size)
        && rounded > C::EXACT_FIT_ABOVE
        && (fitting - rounded) * 8 > fitting
    {
        return None;
    }
    C::SIZES.iter().position(|&class| class >= size && (class & class.wrapping_neg()) >= align)
}
