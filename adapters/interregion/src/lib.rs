//! medsettle-interregion: the cross-region peer protocol (specs/interregion.md).
