//! A peer region's gateway as the place of treatment reaches it: its client, its settings and
//! the exchanges being handled with it in this process. Its own module so that the national
//! pipeline can hold peers without importing the exchange (`crate::interregion`), which builds
//! on the pipeline.

use std::collections::HashSet;
use std::sync::Mutex;

use medsettle_canonical::Admdvs;
use medsettle_server::upstream::UpstreamClient;
use serde::{Deserialize, Serialize};

/// Default deadline for reaching the peer within one HIS request, milliseconds: under a
/// HIS's usual 30 s timeout with room for the resolution.
pub const PEER_DEADLINE_MS_DEFAULT: u64 = 10_000;
/// Default first pause between two sends of the same message, milliseconds; doubled each
/// time up to [`PEER_BACKOFF_MAX_MS_DEFAULT`].
pub const PEER_BACKOFF_MS_DEFAULT: u64 = 200;
/// Default ceiling of the pause between two sends, milliseconds.
pub const PEER_BACKOFF_MAX_MS_DEFAULT: u64 = 2_000;
/// Default attempts of a resolution (status query, reversal) before the marker is left to
/// the background resolver.
pub const PEER_RESOLVE_ATTEMPTS_DEFAULT: u32 = 3;
/// Default interval of the background resolver, milliseconds.
pub const PEER_RESOLVER_INTERVAL_MS_DEFAULT: u64 = 5_000;

/// How hard the place of treatment tries to reach a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    /// Deadline for reaching the peer within one HIS request, ms. Default 10000; 1..=120000.
    #[serde(default = "deadline_default")]
    pub deadline_ms: u64,
    /// First pause between sends, ms. Default 200; at least 1.
    #[serde(default = "backoff_default")]
    pub backoff_ms: u64,
    /// Longest pause between sends, ms. Default 2000; at least `backoff_ms`.
    #[serde(default = "backoff_max_default")]
    pub backoff_max_ms: u64,
    /// Attempts of a resolution within a request. Default 3; 1..=20.
    #[serde(default = "resolve_attempts_default")]
    pub resolve_attempts: u32,
    /// Background resolver interval, ms. Default 5000; at least 100.
    #[serde(default = "resolver_interval_default")]
    pub resolver_interval_ms: u64,
}

fn deadline_default() -> u64 {
    PEER_DEADLINE_MS_DEFAULT
}
fn backoff_default() -> u64 {
    PEER_BACKOFF_MS_DEFAULT
}
fn backoff_max_default() -> u64 {
    PEER_BACKOFF_MAX_MS_DEFAULT
}
fn resolve_attempts_default() -> u32 {
    PEER_RESOLVE_ATTEMPTS_DEFAULT
}
fn resolver_interval_default() -> u64 {
    PEER_RESOLVER_INTERVAL_MS_DEFAULT
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            deadline_ms: PEER_DEADLINE_MS_DEFAULT,
            backoff_ms: PEER_BACKOFF_MS_DEFAULT,
            backoff_max_ms: PEER_BACKOFF_MAX_MS_DEFAULT,
            resolve_attempts: PEER_RESOLVE_ATTEMPTS_DEFAULT,
            resolver_interval_ms: PEER_RESOLVER_INTERVAL_MS_DEFAULT,
        }
    }
}

impl PeerSettings {
    /// Every value in range, or which one is not.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=120_000).contains(&self.deadline_ms) {
            return Err("deadline_ms: must be 1..=120000".into());
        }
        if self.backoff_ms == 0 || self.backoff_max_ms < self.backoff_ms {
            return Err("backoff_ms: at least 1, and backoff_max_ms at least backoff_ms".into());
        }
        if !(1..=20).contains(&self.resolve_attempts) {
            return Err("resolve_attempts: must be 1..=20".into());
        }
        if self.resolver_interval_ms < 100 {
            return Err("resolver_interval_ms: at least 100".into());
        }
        Ok(())
    }
}

/// Another region's gateway that settles the insured places of `admdvs`.
pub struct Peer {
    pub name: String,
    /// Insured-place codes or prefixes routed to this peer.
    pub admdvs: Vec<String>,
    pub client: UpstreamClient,
    pub settings: PeerSettings,
    /// HIS requests `(code, msgid)` whose exchange with this peer is being handled in this
    /// process, by the request or by the resolver: never both at once.
    in_flight: Mutex<HashSet<Vec<u8>>>,
}

/// Holds a request's claim on its exchange; released on drop (a cancelled future frees it).
pub(crate) struct Claim<'a> {
    set: &'a Mutex<HashSet<Vec<u8>>>,
    key: Vec<u8>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Peer {
    pub fn new(
        name: String,
        admdvs: Vec<String>,
        client: UpstreamClient,
        settings: PeerSettings,
    ) -> Peer {
        Peer {
            name,
            admdvs,
            client,
            settings,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn claim(&self, key: &[u8]) -> Option<Claim<'_>> {
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(key.to_vec()) {
            return None;
        }
        Some(Claim {
            set: &self.in_flight,
            key: key.to_vec(),
        })
    }

    pub fn routes(&self, insuplc: &Admdvs) -> bool {
        self.admdvs
            .iter()
            .any(|p| insuplc.as_str().starts_with(p.as_str()))
    }
}
