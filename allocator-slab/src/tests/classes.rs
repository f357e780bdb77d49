//! The size-class tables: selection, waste, geometry, statistics, colours.

use super::*;

#[test]
fn placeholder() {
    let _ = FineClasses::count();
}
