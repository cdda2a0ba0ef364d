//! medsettle-clearing: monthly clearing between provinces (specs/interregion.md §clearing).
