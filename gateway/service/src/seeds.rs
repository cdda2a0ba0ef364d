//! Id seeds: the number that makes every id the gateway mints (`mdtrt_id`, `setl_id`,
//! `inf_refmsgid`, …) unique, also across restarts.
//!
//! A seed is an atomic counter. What survives a restart is a *reservation*: the highest seed
//! any journaled record may have used, a state write carried in a journal record like every
//! other state change (so a crash keeps it exactly when it keeps the record). At start the
//! counter resumes one above the largest reservation.
//!
//! Reserving once per [`SEED_BLOCK`] seeds instead of writing each seed saves a sled insert per
//! request (of five to eight). The record whose seed crosses the reserved ceiling carries the
//! next reservation, and no seed above the old ceiling is handed out until that record is in
//! the journal: a request with a later seed then journals at a later offset, and the store makes
//! records durable in offset order, so a record can never survive a crash that loses the
//! reservation covering its seed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Seeds reserved by one reservation write. A crash skips at most this many (ids only need to
/// be unique, not dense).
pub const SEED_BLOCK: u64 = 1024;

/// The gateway's seed counter and its reserved ceiling.
pub struct SeedAllocator {
    next: AtomicU64,
    /// Seeds below this are covered by a reservation in the journal (or by the state the
    /// gateway started from). Only raised under `reserving`, after the record carrying the
    /// reservation is journaled.
    ceiling: AtomicU64,
    /// Held by the request whose seed crosses `ceiling`, from taking its seed until its record
    /// is journaled (or it gives up); later crossers wait here.
    reserving: Mutex<()>,
}

/// A seed for a record that will be journaled.
pub struct Seed<'a> {
    pub value: u64,
    /// Set when this record must carry the next reservation: the highest seed it reserves,
    /// and the lock that keeps seeds above the old ceiling from being handed out meanwhile.
    reservation: Option<(u64, MutexGuard<'a, ()>)>,
}

impl Seed<'_> {
    /// The reservation this record must journal (the highest seed it reserves), if any.
    pub fn reservation(&self) -> Option<u64> {
        self.reservation.as_ref().map(|(highest, _)| *highest)
    }
}

impl SeedAllocator {
    /// Resume above `highest_reserved` (the largest stored reservation; `None` on a new store).
    pub fn resume(highest_reserved: Option<u64>) -> SeedAllocator {
        let start = highest_reserved.map_or(1, |h| h + 1);
        SeedAllocator {
            next: AtomicU64::new(start),
            ceiling: AtomicU64::new(start),
            reserving: Mutex::new(()),
        }
    }

    /// A seed for an answer that is not journaled (a refusal): unique in this run, never
    /// reserved.
    pub fn unjournaled(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// A seed for a record about to be journaled. If it carries a reservation, call
    /// [`SeedAllocator::journaled`] once the record is in the journal; dropping the seed
    /// without that leaves the ceiling where it was (the next crosser reserves instead).
    pub fn for_record(&self) -> Seed<'_> {
        let value = self.next.fetch_add(1, Ordering::SeqCst);
        if value < self.ceiling.load(Ordering::SeqCst) {
            return Seed {
                value,
                reservation: None,
            };
        }
        let guard = self.reserving.lock().unwrap_or_else(|p| p.into_inner());
        // Another crosser may have journaled a reservation covering this seed meanwhile.
        if value < self.ceiling.load(Ordering::SeqCst) {
            return Seed {
                value,
                reservation: None,
            };
        }
        Seed {
            value,
            reservation: Some((value + SEED_BLOCK - 1, guard)),
        }
    }

    /// The record of `seed` is in the journal: its reservation (if any) now covers later seeds.
    pub fn journaled(&self, seed: Seed<'_>) {
        if let Some((highest, _guard)) = seed.reservation {
            self.ceiling.fetch_max(highest + 1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_new_store_reserves_on_its_first_record_and_then_once_per_block() {
        let a = SeedAllocator::resume(None);
        let first = a.for_record();
        assert_eq!(first.value, 1);
        assert_eq!(first.reservation(), Some(SEED_BLOCK));
        a.journaled(first);
        for expected in 2..=SEED_BLOCK {
            let s = a.for_record();
            assert_eq!((s.value, s.reservation()), (expected, None));
            a.journaled(s);
        }
        let crossing = a.for_record();
        assert_eq!(crossing.value, SEED_BLOCK + 1);
        assert_eq!(crossing.reservation(), Some(2 * SEED_BLOCK));
    }

    #[test]
    fn a_restart_resumes_above_the_reservation_and_reserves_again() {
        let a = SeedAllocator::resume(Some(5000));
        let s = a.for_record();
        assert_eq!(s.value, 5001);
        assert_eq!(s.reservation(), Some(5000 + SEED_BLOCK));
    }

    #[test]
    fn a_crosser_that_gives_up_leaves_the_reservation_to_the_next() {
        let a = SeedAllocator::resume(None);
        let refused = a.for_record();
        assert!(refused.reservation().is_some());
        drop(refused); // refused by the core: nothing journaled
        let next = a.for_record();
        assert_eq!(next.value, 2);
        assert_eq!(next.reservation(), Some(1 + SEED_BLOCK));
    }

    #[test]
    fn unjournaled_seeds_are_unique_but_reserve_nothing() {
        let a = SeedAllocator::resume(Some(10));
        assert_eq!(a.unjournaled(), 11);
        assert_eq!(a.unjournaled(), 12);
        let s = a.for_record();
        assert_eq!((s.value, s.reservation()), (13, Some(12 + SEED_BLOCK)));
    }

    /// While a crosser's record is not yet journaled, a seed above the old ceiling is not
    /// handed out: it would be journaled before the reservation covering it.
    #[test]
    fn seeds_above_the_ceiling_wait_for_the_crossers_record() {
        let a = Arc::new(SeedAllocator::resume(None));
        let crosser = a.for_record();
        assert!(crosser.reservation().is_some());
        let (tx, rx) = mpsc::channel();
        let other = {
            let a = a.clone();
            std::thread::spawn(move || {
                let s = a.for_record();
                tx.send((s.value, s.reservation())).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "a seed above the ceiling was handed out before the reservation was journaled"
        );
        a.journaled(crosser);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            (2, None),
            "covered by the crosser's reservation once it is journaled"
        );
        other.join().unwrap();
    }
}
