//! Routing: which paths exist, which transaction a per-service path names
//! (nhsa-interface.md §1.3), and the national error envelope (§1.2) gateway refusals use.

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

/// Per-service paths under `/fsi/api/` and the transaction each names
/// (nhsa-interface.md §1.3, OH `ClassHelper.cs` `GetPubWay`).
pub const SERVICE_PATHS: &[(&str, &str)] = &[
    ("signInSignOutService/signIn", "9001"),
    ("fileupload/upload", "9101"),
    ("fileupload/download", "9102"),
    ("fsiPsnInfoService/queryPsnInfo", "1101"),
    ("outpatientDocInfoService/outpatientRregistration", "2201"),
    (
        "outpatientDocInfoService/outpatientRegistrationCancel",
        "2202",
    ),
    ("outpatientDocInfoService/outpatientMdtrtinfoUp", "2203"),
    ("outpatientDocInfoService/outpatientMdtrtinfoUpA", "2203A"),
    ("outpatientDocInfoService/outpatientFeeListUp", "2204"),
    ("outpatientDocInfoService/outpatientFeeListUpCancel", "2205"),
    ("outpatientSettleService/preSettletment", "2206"),
    ("outpatientSettleService/preSettletmentA", "2206A"),
    ("outpatientSettleService/saveSettletmentV2", "2207"),
    ("outpatientSettleService/saveSettletment", "2207A"),
    ("outpatientSettleService/cancleSettletment", "2208"),
    ("hospFeeDtlService/feeDtlUp", "2301"),
    ("hospFeeDtlService/feeDtlCl", "2302"),
    ("hospSettService/preSett", "2303"),
    ("hospSettService/settV2", "2304"),
    ("hospSettService/settCl", "2305"),
    ("reverseService/revsMethod", "2601"),
    ("ybSettlementStmtService/stmtTotal", "3201"),
    ("ybSettlementStmtService/stmtDetail", "3202"),
    ("medinfoupload/setllistinfoupld", "4101"),
    ("medinfoupload/setllistinfoupldA", "4101A"),
    ("fsiIntegratedQueryService/querySetlInfo", "5203"),
    ("fsiIntegratedQueryService/queryFeeList", "5204"),
];

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
    Metrics,
    /// An operator endpoint (operator certificates only): a path under [`PATH_OPS_PREFIX`].
    Operator,
    /// A national-interface endpoint; `infno` is `Some` for per-service paths.
    National {
        infno: Option<&'static str>,
    },
    NotFound,
}

/// Route a path (without query). National paths are served bare and under each prefix;
/// the operational paths only bare (they are not part of the national interface).
pub fn route(path: &str, prefixes: &[String]) -> Route {
    match path {
        PATH_HEALTHZ => return Route::Healthz,
        PATH_READYZ => return Route::Readyz,
        PATH_METRICS => return Route::Metrics,
        _ => {}
    }
    if path.starts_with(PATH_OPS_PREFIX) {
        return Route::Operator;
    }
    let national = national_infno(path).or_else(|| {
        prefixes
            .iter()
            .find_map(|p| path.strip_prefix(p.as_str()).and_then(national_infno))
    });
    match national {
        Some(infno) => Route::National { infno },
        None => Route::NotFound,
    }
}

/// `Some(None)` for the single endpoint, `Some(Some(infno))` for a per-service path.
fn national_infno(path: &str) -> Option<Option<&'static str>> {
    if path == PATH_CALL_SERVICE || path == PATH_CALL_FSI_SERVICE {
        return Some(None);
    }
    let rest = path.strip_prefix("/fsi/api/")?;
    SERVICE_PATHS
        .iter()
        .find(|(p, _)| *p == rest)
        .map(|(_, infno)| Some(*infno))
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
        assert_eq!(route("/ops/journal/stats", &p), Route::Operator);
        assert_eq!(route("/ops/settle/month", &p), Route::Operator);
        assert_eq!(
            route("/ebus/rio_fsi/ops/journal/stats", &p),
            Route::NotFound
        );
        assert_eq!(route("/ops", &p), Route::NotFound);
    }

    #[test]
    fn per_service_paths_name_their_transaction() {
        let none: Vec<String> = vec![];
        assert_eq!(
            route("/fsi/api/hospSettService/settV2", &none),
            Route::National {
                infno: Some("2304")
            }
        );
        assert_eq!(
            route("/fsi/api/outpatientSettleService/saveSettletmentV2", &none),
            Route::National {
                infno: Some("2207")
            }
        );
        assert_eq!(
            route(PATH_CALL_SERVICE, &none),
            Route::National { infno: None }
        );
        assert_eq!(
            route("/fsi/api/hospSettService/settv2", &none),
            Route::NotFound
        );
        assert_eq!(route("/fsi/api/", &none), Route::NotFound);
        assert_eq!(route("/", &none), Route::NotFound);
    }

    #[test]
    fn prefixes_apply_to_national_paths_only() {
        let p = vec!["/ebus/rio_fsi".to_owned()];
        assert_eq!(
            route("/ebus/rio_fsi/fsi/api/reverseService/revsMethod", &p),
            Route::National {
                infno: Some("2601")
            }
        );
        assert_eq!(
            route("/ebus/rio_fsi/fsi/api/reverseService/revsMethod", &[]),
            Route::NotFound
        );
        assert_eq!(route("/ebus/rio_fsi/healthz", &p), Route::NotFound);
        assert_eq!(route("/ebus/rio_fsi", &p), Route::NotFound);
    }

    #[test]
    fn every_table_entry_is_unique() {
        let mut paths: Vec<_> = SERVICE_PATHS.iter().map(|(p, _)| *p).collect();
        let mut infnos: Vec<_> = SERVICE_PATHS.iter().map(|(_, i)| *i).collect();
        paths.sort();
        paths.dedup();
        infnos.sort();
        infnos.dedup();
        assert_eq!(paths.len(), SERVICE_PATHS.len());
        assert_eq!(infnos.len(), SERVICE_PATHS.len());
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
