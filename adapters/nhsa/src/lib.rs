//! medsettle-nhsa
