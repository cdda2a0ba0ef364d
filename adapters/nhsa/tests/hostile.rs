//! Hostile input never panics: arbitrary bytes, and arbitrary mutations of a valid exchange,
//! either decode or are refused with violations.

use medsettle_nhsa::{Options, to_canonical};
use proptest::prelude::*;

const EXCHANGE: &str = include_str!(
    "../../../conformance/cases/nhsa/048-exchange-2304-inpatient-real-shape/input.json"
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = to_canonical(&bytes, &Options::default());
    }

    #[test]
    fn mutated_exchanges_never_panic(pos in 0usize..EXCHANGE.len(), byte in any::<u8>(), cut in 0usize..EXCHANGE.len()) {
        let mut b = EXCHANGE.as_bytes().to_vec();
        b[pos] = byte;
        let _ = to_canonical(&b, &Options::default());
        let _ = to_canonical(&EXCHANGE.as_bytes()[..cut], &Options::default());
        if let Err(e) = to_canonical(&b, &Options::default()) {
            prop_assert!(!e.violations.is_empty());
        }
    }
}
