//! Routing: which paths exist, which transaction a per-service path names (by the table the
//! service supplies, [`ServicePaths`]; nhsa-interface.md §1.3), and the national error
//! envelope (§1.2) gateway refusals use.

use bytes::Bytes;
use medsettle_canonical::{CHINA_OFFSET, RuleId, Violation};
use time::OffsetDateTime;
use time::macros::format_description;

/// The single national endpoint; `infno` is in the body.
pub const PATH_CALL_SERVICE: &str = "/fsi/api/rsfComIfsService/callService";
/// The single endpoint as Jilin names it (served under the prefix `/mbs/fmi` if configured).
pub const PATH_CALL_FSI_SERVICE: &str = "/fsi/api/callFsiService/callService";
/// Liveness: 200 whenever the process serves.
pub const PATH_HEALTHZ: &str = "/healthz";
/// Readiness: 200 only while the readiness probe says ready.
pub const PATH_READYZ: &str = "/readyz";
/// Prometheus text exposition.
pub const PATH_METRICS: &str = "/metrics";
/// Operator only: every path under it is an operator action or status, answered by
/// [`crate::Service::operator`] (`specs/operations.md`).
pub const PATH_OPS_PREFIX: &str = "/ops/";
/// Operator only: the operator console (`specs/console.md`), routed like [`PATH_OPS_PREFIX`]
/// to [`crate::Service::operator`], which receives the whole path (`/console/…`, not stripped).
pub const PATH_CONSOLE_PREFIX: &str = "/console/";

/// HIS endpoints of the legacy provincial dialects: `/legacy/<profile>/<transaction>`,
/// routed as national requests (HIS certificates) and told apart by the service
/// (`specs/legacy.md`).
pub const PATH_LEGACY_PREFIX: &str = "/legacy/";
/// The cross-region peer endpoint (`specs/interregion.md`), served by the HIS service to
/// peer certificates.
pub const PATH_INTERREGION: &str = "/interregion/v1";

/// Where per-service paths live: `/fsi/api/<service path>`.
pub const PATH_NATIONAL_PREFIX: &str = "/fsi/api/";
/// Longest per-service path accepted in a [`ServicePaths`] table, bytes.
pub const SERVICE_PATH_BYTES_MAX: usize = 256;
/// Longest transaction number accepted in a [`ServicePaths`] table, bytes (`infno` is char 6).
pub const SERVICE_INFNO_BYTES_MAX: usize = 6;

/// The per-service paths under [`PATH_NATIONAL_PREFIX`] and the transaction each names
/// (nhsa-interface.md §1.3). The transport knows no transactions: the service supplies the
/// table ([`crate::Service::national_paths`]); the server routes by it and the upstream client
/// ([`crate::UpstreamClient::with_service_paths`]) sends by it. One path per transaction and
/// one transaction per path, so the table reads both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePaths {
    /// `(path under /fsi/api/, infno)`, in the order given.
    entries: Vec<(String, String)>,
}

impl ServicePaths {
    /// A table of `(path under /fsi/api/, infno)` pairs.
    ///
    /// # Panics
    /// If a path or transaction appears twice, or a path is empty, starts or ends with `/`,
    /// or an entry is over [`SERVICE_PATH_BYTES_MAX`] / [`SERVICE_INFNO_BYTES_MAX`]: the table
    /// is the service's code, not input, and a wrong one must not serve.
    pub fn new<P, I>(entries: impl IntoIterator<Item = (P, I)>) -> ServicePaths
    where
        P: Into<String>,
        I: Into<String>,
    {
        let mut table = ServicePaths::default();
        for (path, infno) in entries {
            let (path, infno) = (path.into(), infno.into());
            assert!(
                !path.is_empty()
                    && !path.starts_with('/')
                    && !path.ends_with('/')
                    && path.len() <= SERVICE_PATH_BYTES_MAX,
                "service path `{path}` must be relative to {PATH_NATIONAL_PREFIX}"
            );
            assert!(
                !infno.is_empty() && infno.len() <= SERVICE_INFNO_BYTES_MAX,
                "transaction `{infno}` of `{path}` must be 1..={SERVICE_INFNO_BYTES_MAX} bytes"
            );
            assert!(table.infno(&path).is_none(), "service path `{path}` twice");
            assert!(table.path(&infno).is_none(), "transaction `{infno}` twice");
            table.entries.push((path, infno));
        }
        table
    }

    /// The transaction `path` (under `/fsi/api/`) names.
    pub fn infno(&self, path: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, i)| i.as_str())
    }

    /// The path (under `/fsi/api/`) of transaction `infno`.
    pub fn path(&self, infno: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, i)| i == infno)
            .map(|(p, _)| p.as_str())
    }

    /// `(path, infno)` pairs, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(p, i)| (p.as_str(), i.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where a request goes; `'a` is the [`ServicePaths`] table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    Readyz,
    Metrics,
    /// An operator endpoint (operator certificates only): a path under [`PATH_OPS_PREFIX`]
    /// or [`PATH_CONSOLE_PREFIX`].
    Operator,
    /// A national-interface endpoint; `infno` is `Some` for per-service paths.
    National {
        infno: Option<&'a str>,
    },
    NotFound,
}

/// Route a path (without query). National paths — the single endpoints and the per-service
/// paths of `services` — are served bare and under each prefix; the operational paths only
/// bare (they are not part of the national interface).
pub fn route<'a>(path: &str, prefixes: &[String], services: &'a ServicePaths) -> Route<'a> {
    match path {
        PATH_HEALTHZ => return Route::Healthz,
        PATH_READYZ => return Route::Readyz,
        PATH_METRICS => return Route::Metrics,
        _ => {}
    }
    if path.starts_with(PATH_OPS_PREFIX) || path.starts_with(PATH_CONSOLE_PREFIX) {
        return Route::Operator;
    }
    if path.starts_with(PATH_LEGACY_PREFIX) || path == PATH_INTERREGION {
        return Route::National { infno: None };
    }
    let national = national_infno(path, services).or_else(|| {
        prefixes.iter().find_map(|p| {
            path.strip_prefix(p.as_str())
                .and_then(|rest| national_infno(rest, services))
        })
    });
    match national {
        Some(infno) => Route::National { infno },
        None => Route::NotFound,
    }
}

/// `Some(None)` for the single endpoint, `Some(Some(infno))` for a per-service path.
fn national_infno<'a>(path: &str, services: &'a ServicePaths) -> Option<Option<&'a str>> {
    if path == PATH_CALL_SERVICE || path == PATH_CALL_FSI_SERVICE {
        return Some(None);
    }
    let rest = path.strip_prefix(PATH_NATIONAL_PREFIX)?;
    services.infno(rest).map(Some)
}

/// `yyyyMMddHHmmssSSS` in China time, the envelope's time format.
pub fn envelope_time(t: OffsetDateTime) -> String {
    t.to_offset(CHINA_OFFSET)
        .format(format_description!(
            "[year][month][day][hour][minute][second][subsecond digits:3]"
        ))
        .expect("a fixed numeric format cannot fail for years 0..9999")
}

/// The receiver's region the transport quotes in the `inf_refmsgid` of its own refusals
/// (set once at start by whoever knows it; `000000` until then).
static RECEIVER_ADMDVS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sequence of the transport's own refusals. It counts from [`TRANSPORT_SEQUENCE_START`], a
/// range the service's id seeds (one per request, from 1) do not reach in decades, so a
/// transport refusal never shares an `inf_refmsgid` with a service answer of the same second.
static TRANSPORT_SEQUENCE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(TRANSPORT_SEQUENCE_START);

/// First sequence number of the transport's refusals.
pub const TRANSPORT_SEQUENCE_START: u64 = 9_000_000_000;

/// Set the region quoted by the transport's refusals (the first call wins).
pub fn set_receiver_admdvs(admdvs: &str) {
    let _ = RECEIVER_ADMDVS.set(admdvs.to_owned());
}

/// A fresh `inf_refmsgid` for a refusal made by the transport itself: region, the second the
/// request arrived, and a sequence number unique in this process.
pub fn transport_refmsgid(received: OffsetDateTime) -> String {
    let n = TRANSPORT_SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{}{}{:010}",
        RECEIVER_ADMDVS.get().map_or("000000", String::as_str),
        &envelope_time(received)[..14],
        TRANSPORT_SEQUENCE_START + (n - TRANSPORT_SEQUENCE_START) % 1_000_000_000
    )
}

/// A national failure envelope: `infcode` -1, `err_msg` = `[RULE] message`, no output, and
/// an `inf_refmsgid` of its own ([`transport_refmsgid`]).
pub fn national_error(rule: RuleId, message: &str, received: OffsetDateTime) -> Bytes {
    let body = serde_json::json!({
        "infcode": -1,
        "inf_refmsgid": transport_refmsgid(received),
        "refmsg_time": envelope_time(received),
        "respond_time": envelope_time(OffsetDateTime::now_utc()),
        "err_msg": Violation::new(rule, "", message).to_string(),
        "output": null,
    });
    Bytes::from(serde_json::to_vec(&body).expect("a json! value serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small table of the transport's own: the real one is the service's.
    fn services() -> ServicePaths {
        ServicePaths::new([
            ("hospSettService/settV2", "2304"),
            ("outpatientSettleService/saveSettletmentV2", "2207"),
            ("reverseService/revsMethod", "2601"),
        ])
    }

    /// China time, zero-padded to 17 digits; the first 14 are the seconds ids quote.
    #[test]
    fn envelope_times_are_china_time_and_padded() {
        let utc = time::macros::datetime!(2026-01-05 17:04:09.007 UTC);
        assert_eq!(envelope_time(utc), "20260106010409007");
        let late = time::macros::datetime!(2026-12-31 15:59:59.999 UTC);
        assert_eq!(envelope_time(late), "20261231235959999");
    }

    #[test]
    fn operator_paths_are_served_bare_only() {
        let p = vec!["/ebus/rio_fsi".to_owned()];
        let s = services();
        assert_eq!(route("/ops/journal/stats", &p, &s), Route::Operator);
        assert_eq!(route("/ops/settle/month", &p, &s), Route::Operator);
        assert_eq!(route("/console/", &p, &s), Route::Operator);
        assert_eq!(route("/console/alerts", &p, &s), Route::Operator);
        assert_eq!(route("/console", &p, &s), Route::NotFound);
        assert_eq!(
            route("/ebus/rio_fsi/ops/journal/stats", &p, &s),
            Route::NotFound
        );
        assert_eq!(route("/ops", &p, &s), Route::NotFound);
        assert_eq!(
            route("/legacy/guizhou/41", &p, &s),
            Route::National { infno: None }
        );
        assert_eq!(route("/legacy", &p, &s), Route::NotFound);
    }

    #[test]
    fn per_service_paths_name_their_transaction() {
        let none: Vec<String> = vec![];
        let s = services();
        let national = |infno| Route::National { infno };
        assert_eq!(
            route("/fsi/api/hospSettService/settV2", &none, &s),
            national(Some("2304"))
        );
        assert_eq!(
            route(
                "/fsi/api/outpatientSettleService/saveSettletmentV2",
                &none,
                &s
            ),
            national(Some("2207"))
        );
        assert_eq!(route(PATH_CALL_SERVICE, &none, &s), national(None));
        assert_eq!(route(PATH_CALL_FSI_SERVICE, &none, &s), national(None));
        assert_eq!(
            route("/fsi/api/hospSettService/settv2", &none, &s),
            Route::NotFound
        );
        assert_eq!(route("/fsi/api/", &none, &s), Route::NotFound);
        assert_eq!(route("/", &none, &s), Route::NotFound);
        // without a table only the single endpoints are national
        let empty = ServicePaths::default();
        assert_eq!(
            route("/fsi/api/hospSettService/settV2", &none, &empty),
            Route::NotFound
        );
        assert_eq!(route(PATH_CALL_SERVICE, &none, &empty), national(None));
    }

    #[test]
    fn prefixes_apply_to_national_paths_only() {
        let p = vec!["/ebus/rio_fsi".to_owned()];
        let s = services();
        assert_eq!(
            route("/ebus/rio_fsi/fsi/api/reverseService/revsMethod", &p, &s),
            Route::National {
                infno: Some("2601")
            }
        );
        assert_eq!(
            route("/ebus/rio_fsi/fsi/api/reverseService/revsMethod", &[], &s),
            Route::NotFound
        );
        assert_eq!(route("/ebus/rio_fsi/healthz", &p, &s), Route::NotFound);
        assert_eq!(route("/ebus/rio_fsi", &p, &s), Route::NotFound);
    }

    #[test]
    fn a_service_path_table_reads_both_ways() {
        let s = services();
        assert_eq!(s.len(), 3);
        assert_eq!(s.infno("reverseService/revsMethod"), Some("2601"));
        assert_eq!(s.path("2601"), Some("reverseService/revsMethod"));
        assert_eq!(s.infno("reverseService"), None);
        assert_eq!(s.path("2208"), None);
        assert_eq!(s.iter().count(), 3);
        assert!(ServicePaths::default().is_empty());
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_service_path_table_refuses_a_path_twice() {
        let _ = ServicePaths::new([("a/b", "2207"), ("a/b", "2208")]);
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_service_path_table_refuses_a_transaction_twice() {
        let _ = ServicePaths::new([("a/b", "2207"), ("a/c", "2207")]);
    }

    #[test]
    #[should_panic(expected = "relative")]
    fn a_service_path_table_refuses_an_absolute_path() {
        let _ = ServicePaths::new([("/fsi/api/a/b", "2207")]);
    }

    #[test]
    fn error_envelope_is_national_shaped() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let body = national_error(RuleId::GW_RATE, "slow down", t);
        let again = national_error(RuleId::GW_RATE, "slow down", t);
        let id = |b: &Bytes| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["inf_refmsgid"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(id(&body), id(&again), "every refusal has its own id");
        assert_eq!(id(&body).len(), 30);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["infcode"], -1);
        assert_eq!(v["err_msg"], "[GW-RATE] slow down");
        assert!(v["output"].is_null());
        // 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 in China
        assert_eq!(v["refmsg_time"], "20231115061320000");
    }
}
