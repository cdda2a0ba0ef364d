//! The x-tif gateway signature (nhsa-interface.md §1.4 item 1): `x-tif-signature` = lowercase
//! hex SHA-256 of `timestamp + token + nonce + timestamp`. The body is not signed, so the
//! signature only proves the sender knows the paas token at about this time; the nonce cache
//! stops the same headers being used twice.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Header carrying the paas id.
pub const HEADER_PAASID: &str = "x-tif-paasid";
/// Header carrying the Unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "x-tif-timestamp";
/// Header carrying the single-use random string.
pub const HEADER_NONCE: &str = "x-tif-nonce";
/// Header carrying the signature.
pub const HEADER_SIGNATURE: &str = "x-tif-signature";
/// Longest accepted timestamp text: u64 seconds have at most 20 digits.
const TIMESTAMP_DIGITS_MAX: usize = 20;

/// A client's x-tif settings, resolved from the configuration.
#[derive(Clone)]
pub struct TifClient {
    pub paasid: String,
    pub token: String,
    pub required: bool,
}

impl std::fmt::Debug for TifClient {
    // The token is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TifClient")
            .field("paasid", &self.paasid)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// The signature a client must send: lowercase hex SHA-256 of
/// `timestamp + token + nonce + timestamp`. Public so tests and client tooling build headers
/// with the same function the server checks with.
pub fn tif_signature(timestamp: &str, token: &str, nonce: &str) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(token.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    hex::encode(h.finalize())
}

/// Compare without an early exit, so the time taken does not reveal how many leading
/// characters of a guessed signature were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the check concluded for an accepted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TifOutcome {
    /// Headers present and valid.
    Verified,
    /// The client's signature is optional and it sent no x-tif headers.
    NotSent,
}

/// Why the x-tif headers were refused. `Display` is the text for `err_msg`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TifRejection {
    #[error("header {0} is missing (x-tif signature required for this client)")]
    Missing(&'static str),
    #[error("header {0} is not valid text")]
    NotText(&'static str),
    #[error("x-tif-paasid does not match this client's certificate")]
    WrongPaasid,
    #[error("x-tif-timestamp must be Unix seconds (digits only)")]
    BadTimestamp,
    #[error(
        "x-tif-timestamp {timestamp} is {distance_seconds} s away from the server clock (allowed {skew_seconds} s)"
    )]
    Skewed {
        timestamp: u64,
        distance_seconds: u64,
        skew_seconds: u64,
    },
    #[error("x-tif-nonce is empty or longer than {0} bytes")]
    BadNonce(usize),
    #[error("x-tif-signature does not match")]
    BadSignature,
    #[error("x-tif-nonce was already used")]
    Replayed,
    /// Not the client's fault: answered 503 so it retries with a fresh nonce.
    #[error("too many recent x-tif nonces to remember; retry shortly")]
    CacheFull,
}

/// Remembered nonces, each until its timestamp leaves the skew window; bounded in size.
#[derive(Debug, Default)]
struct NonceCache {
    present: HashSet<(String, String)>,
    by_expiry: BTreeSet<(u64, String, String)>,
}

impl NonceCache {
    fn purge(&mut self, now_unix: u64) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 >= now_unix {
                break;
            }
            let (_, client, nonce) = self.by_expiry.pop_first().expect("first exists");
            self.present.remove(&(client, nonce));
        }
    }
}

/// Checks x-tif headers and remembers nonces.
#[derive(Debug)]
pub struct TifVerifier {
    skew_seconds: u64,
    nonce_bytes_max: usize,
    nonce_cache_max: usize,
    cache: Mutex<NonceCache>,
}

impl TifVerifier {
    pub fn new(skew_seconds: u64, nonce_bytes_max: usize, nonce_cache_max: usize) -> Self {
        TifVerifier {
            skew_seconds,
            nonce_bytes_max,
            nonce_cache_max,
            cache: Mutex::new(NonceCache::default()),
        }
    }

    /// Check one request's headers for `client_name` at `now_unix` (seconds). The nonce is
    /// remembered only once everything else passed, so forged requests cannot fill the cache.
    pub fn check(
        &self,
        client_name: &str,
        tif: &TifClient,
        headers: &HeaderMap,
        now_unix: u64,
    ) -> Result<TifOutcome, TifRejection> {
        let get = |name: &'static str| -> Result<Option<&str>, TifRejection> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .map(Some)
                    .map_err(|_| TifRejection::NotText(name)),
            }
        };
        let paasid = get(HEADER_PAASID)?;
        let timestamp = get(HEADER_TIMESTAMP)?;
        let nonce = get(HEADER_NONCE)?;
        let signature = get(HEADER_SIGNATURE)?;
        if !tif.required
            && paasid.is_none()
            && timestamp.is_none()
            && nonce.is_none()
            && signature.is_none()
        {
            return Ok(TifOutcome::NotSent);
        }
        let paasid = paasid.ok_or(TifRejection::Missing(HEADER_PAASID))?;
        let timestamp = timestamp.ok_or(TifRejection::Missing(HEADER_TIMESTAMP))?;
        let nonce = nonce.ok_or(TifRejection::Missing(HEADER_NONCE))?;
        let signature = signature.ok_or(TifRejection::Missing(HEADER_SIGNATURE))?;

        if paasid != tif.paasid {
            return Err(TifRejection::WrongPaasid);
        }
        if timestamp.is_empty()
            || timestamp.len() > TIMESTAMP_DIGITS_MAX
            || !timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(TifRejection::BadTimestamp);
        }
        let ts: u64 = timestamp.parse().map_err(|_| TifRejection::BadTimestamp)?;
        let distance_seconds = ts.abs_diff(now_unix);
        if distance_seconds > self.skew_seconds {
            return Err(TifRejection::Skewed {
                timestamp: ts,
                distance_seconds,
                skew_seconds: self.skew_seconds,
            });
        }
        if nonce.is_empty() || nonce.len() > self.nonce_bytes_max {
            return Err(TifRejection::BadNonce(self.nonce_bytes_max));
        }
        let expected = tif_signature(timestamp, &tif.token, nonce);
        if !constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(TifRejection::BadSignature);
        }

        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.purge(now_unix);
        let key = (client_name.to_owned(), nonce.to_owned());
        if cache.present.contains(&key) {
            return Err(TifRejection::Replayed);
        }
        if cache.present.len() >= self.nonce_cache_max {
            // Forgetting an unexpired nonce would reopen a replay; refuse instead.
            return Err(TifRejection::CacheFull);
        }
        // A replay of this nonce passes the clock check until ts + skew; remember it that long.
        cache.by_expiry.insert((
            ts.saturating_add(self.skew_seconds),
            key.0.clone(),
            key.1.clone(),
        ));
        cache.present.insert(key);
        Ok(TifOutcome::Verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NOW: u64 = 1_750_000_000;

    fn client(required: bool) -> TifClient {
        TifClient {
            paasid: "paas-1".into(),
            token: "s3cret".into(),
            required,
        }
    }

    fn headers(paasid: &str, ts: u64, nonce: &str, token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let ts = ts.to_string();
        h.insert(HEADER_PAASID, HeaderValue::from_str(paasid).unwrap());
        h.insert(HEADER_TIMESTAMP, HeaderValue::from_str(&ts).unwrap());
        h.insert(HEADER_NONCE, HeaderValue::from_str(nonce).unwrap());
        h.insert(
            HEADER_SIGNATURE,
            HeaderValue::from_str(&tif_signature(&ts, token, nonce)).unwrap(),
        );
        h
    }

    #[test]
    fn signature_is_sha256_of_ts_token_nonce_ts() {
        // Independent computation of the documented formula.
        let expected = hex::encode(Sha256::digest(b"1700000000tokn-1700000000"));
        assert_eq!(tif_signature("1700000000", "tok", "n-"), expected);
        assert_eq!(expected, expected.to_lowercase());
    }

    #[test]
    fn good_headers_pass_once_then_replay_is_refused() {
        let v = TifVerifier::new(300, 128, 10);
        let h = headers("paas-1", NOW, "nonce-a", "s3cret");
        assert_eq!(
            v.check("his", &client(true), &h, NOW),
            Ok(TifOutcome::Verified)
        );
        assert_eq!(
            v.check("his", &client(true), &h, NOW + 1),
            Err(TifRejection::Replayed)
        );
        // the same nonce from another client is that client's business
        assert_eq!(
            v.check("other", &client(true), &h, NOW),
            Ok(TifOutcome::Verified)
        );
    }

    #[test]
    fn nonce_is_forgotten_only_when_the_timestamp_can_no_longer_pass() {
        let v = TifVerifier::new(300, 128, 10);
        let h = headers("paas-1", NOW, "n", "s3cret");
        v.check("his", &client(true), &h, NOW).unwrap();
        // at NOW+300 the timestamp is still acceptable, so the nonce must still be known
        assert_eq!(
            v.check("his", &client(true), &h, NOW + 300),
            Err(TifRejection::Replayed)
        );
        // one second later the clock check refuses it anyway
        assert!(matches!(
            v.check("his", &client(true), &h, NOW + 301),
            Err(TifRejection::Skewed { .. })
        ));
        assert!(v.cache.lock().unwrap().present.len() <= 1);
    }

    #[test]
    fn wrong_token_paasid_skew_and_missing_are_refused() {
        let v = TifVerifier::new(300, 128, 10);
        let c = client(true);
        assert_eq!(
            v.check("his", &c, &headers("paas-1", NOW, "n1", "wrong"), NOW),
            Err(TifRejection::BadSignature)
        );
        assert_eq!(
            v.check("his", &c, &headers("paas-2", NOW, "n2", "s3cret"), NOW),
            Err(TifRejection::WrongPaasid)
        );
        assert!(matches!(
            v.check(
                "his",
                &c,
                &headers("paas-1", NOW - 301, "n3", "s3cret"),
                NOW
            ),
            Err(TifRejection::Skewed {
                distance_seconds: 301,
                ..
            })
        ));
        assert!(matches!(
            v.check(
                "his",
                &c,
                &headers("paas-1", NOW + 301, "n4", "s3cret"),
                NOW
            ),
            Err(TifRejection::Skewed { .. })
        ));
        assert_eq!(
            v.check("his", &c, &HeaderMap::new(), NOW),
            Err(TifRejection::Missing(HEADER_PAASID))
        );
        let mut partial = headers("paas-1", NOW, "n5", "s3cret");
        partial.remove(HEADER_SIGNATURE);
        assert_eq!(
            v.check("his", &client(false), &partial, NOW),
            Err(TifRejection::Missing(HEADER_SIGNATURE)),
            "optional means absent, not half-present"
        );
        assert_eq!(
            v.check("his", &client(false), &HeaderMap::new(), NOW),
            Ok(TifOutcome::NotSent)
        );
        // a refused signature does not burn the nonce
        assert_eq!(
            v.check("his", &c, &headers("paas-1", NOW, "n1", "s3cret"), NOW),
            Ok(TifOutcome::Verified)
        );
    }

    #[test]
    fn cache_is_bounded_and_refuses_rather_than_forgets() {
        let v = TifVerifier::new(300, 128, 2);
        let c = client(true);
        v.check("his", &c, &headers("paas-1", NOW, "a", "s3cret"), NOW)
            .unwrap();
        v.check("his", &c, &headers("paas-1", NOW, "b", "s3cret"), NOW)
            .unwrap();
        assert_eq!(
            v.check("his", &c, &headers("paas-1", NOW, "c", "s3cret"), NOW),
            Err(TifRejection::CacheFull)
        );
        // once the first two expire there is room again
        assert_eq!(
            v.check(
                "his",
                &c,
                &headers("paas-1", NOW + 301, "c", "s3cret"),
                NOW + 301
            ),
            Ok(TifOutcome::Verified)
        );
    }
}
