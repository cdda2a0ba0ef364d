//! Seeded choices for generated HIS traffic (the demo's hospitals): the same seed gives the
//! same visits. SplitMix64 (Steele, Lea and Flood, 2014): statistically good enough to vary
//! traffic, tiny, and no cryptographic promise — nothing here guards anything.

use std::ops::{Bound, RangeBounds};

/// A deterministic stream of choices.
#[derive(Debug, Clone)]
pub struct Draw {
    state: u64,
}

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number within `range` (not empty). The modulo bias is below 2⁻⁵⁰ for the small
    /// ranges traffic uses.
    pub fn within(&mut self, range: impl RangeBounds<usize>) -> usize {
        let low = match range.start_bound() {
            Bound::Included(&l) => l,
            Bound::Excluded(&l) => l + 1,
            Bound::Unbounded => 0,
        };
        let high = match range.end_bound() {
            Bound::Included(&h) => h,
            Bound::Excluded(&h) => h.checked_sub(1).expect("a non-empty range"),
            Bound::Unbounded => usize::MAX,
        };
        assert!(low <= high, "an empty range");
        let span = (high - low) as u64 + 1;
        low + (self.next_u64() % span) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_and_stays_in_range() {
        let (mut a, mut b) = (Draw::new(7), Draw::new(7));
        let xs: Vec<usize> = (0..1000).map(|_| a.within(3..=9)).collect();
        let ys: Vec<usize> = (0..1000).map(|_| b.within(3..=9)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (3..=9).contains(x)));
        // Every value of a small range comes up.
        for v in 3..=9 {
            assert!(xs.contains(&v), "{v} never drawn");
        }
        assert_eq!(Draw::new(1).within(5..6), 5);
        assert_ne!(Draw::new(1).next_u64(), Draw::new(2).next_u64());
    }
}
