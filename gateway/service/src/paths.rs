//! The national paths this service answers and forwards by: the per-service paths under
//! `/fsi/api/`, derived from the adapter's transaction table ([`Infno`]). The transport routes
//! by them ([`medsettle_server::Service::national_paths`]) and the upstream client sends by
//! them ([`medsettle_server::UpstreamClient::with_service_paths`]); neither knows a
//! transaction itself.

use medsettle_nhsa::Infno;
use medsettle_server::ServicePaths;

/// Every transaction's per-service path, path → infno (`hospSettService/settV2` → `2304`).
pub fn national_paths() -> ServicePaths {
    ServicePaths::new(
        Infno::ALL
            .into_iter()
            .filter_map(|i| i.service_path().map(|p| (p, i.as_str()))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path of the table is served and names its transaction; the transactions without
    /// a path (2401, 2402, 3203, 3203A, 3260, 3261, 3262, 9002) have none.
    #[test]
    fn every_service_path_of_the_table_is_served() {
        let paths = national_paths();
        for i in Infno::ALL {
            match i.service_path() {
                Some(p) => {
                    assert_eq!(paths.infno(p), Some(i.as_str()), "{i}");
                    assert_eq!(paths.path(i.as_str()), Some(p), "{i}");
                }
                None => assert_eq!(paths.path(i.as_str()), None, "{i}"),
            }
        }
        assert_eq!(
            paths.len(),
            27,
            "the per-service paths served before the table"
        );
        let without: Vec<&str> = Infno::ALL
            .into_iter()
            .filter(|i| i.service_path().is_none())
            .map(Infno::as_str)
            .collect();
        assert_eq!(
            without,
            [
                "2401", "2402", "3203", "3203A", "3260", "3261", "3262", "9002"
            ]
        );
    }
}
