//! The journal as operators see it (`journal stats|export`, `GET /ops/journal/stats`,
//! `GET /ops/journal/export?from=OFFSET`): one rendering for the command and the endpoint.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use medsettle_store::{JournalRecord, Store, StoreError, StoreStats};
use serde_json::{Value, json};

/// What `journal stats [--json]` prints: pretty JSON or the table.
pub fn stats_output(journal_dir: &Path, s: &StoreStats, json: bool) -> Result<String> {
    if json {
        Ok(serde_json::to_string_pretty(s)? + "\n")
    } else {
        Ok(stats_text(journal_dir, s))
    }
}

/// The `journal stats` table.
pub fn stats_text(journal_dir: &Path, s: &StoreStats) -> String {
    let mut t = String::new();
    let mut line = |l: String| {
        t.push_str(&l);
        t.push('\n');
    };
    line(format!("journal        {}", journal_dir.display()));
    line(format!("records        {}", s.record_count));
    line(format!(
        "last offset    {}",
        s.last_offset.map_or("-".into(), |o| o.to_string())
    ));
    line(format!("durability     {:?}", s.durability));
    line(format!("disk bytes     {}", s.disk_bytes));
    line(format!("writable       {}", s.writable));
    line(format!(
        "corrupt        {}",
        if s.corrupt_offsets.is_empty() {
            "none".to_owned()
        } else {
            format!("{:?}", s.corrupt_offsets)
        }
    ));
    line("by kind:".into());
    for (k, n) in &s.per_kind {
        line(format!("  {k:<24} {n}"));
    }
    line("consumers (next offset to read):".into());
    if s.consumer_offsets.is_empty() {
        line("  (none)".into());
    }
    for (c, o) in &s.consumer_offsets {
        line(format!("  {c:<24} {o}"));
    }
    t
}

/// One `journal export` line: the record as canonical JSON, or the error reading it (a
/// corrupt record is reported where it is, never skipped).
pub fn export_line(item: Result<(u64, JournalRecord), StoreError>) -> Value {
    match item {
        Ok((offset, r)) => {
            let payload: Value = serde_json::from_slice(&r.payload).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&r.payload).into_owned())
            });
            json!({
                "offset": offset,
                "kind": r.kind,
                "fixmedins_code": r.key.as_ref().map(|k| &k.0),
                "msgid": r.key.as_ref().map(|k| &k.1),
                "record": payload,
            })
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// Most lines one `GET /ops/journal/export` answers; `?limit=` may ask for fewer. An answer
/// with fewer lines than asked for ends at the last durable record; otherwise ask again with
/// `from` one past the last line's offset.
pub const OPS_EXPORT_LINES_MAX: usize = 10_000;

/// The export endpoint's answer: lines from `from`, at most `limit`, durable records only
/// (an operator sees what was acknowledged, never a record a crash could still take back).
/// Built on `export`, not `read_from` (which also stops at the durable offset), because a
/// corrupt record must be a line saying so, as in `journal export`, not the end of the answer.
pub fn export_page(store: &dyn Store, from: u64, limit: usize) -> String {
    let mut body = String::new();
    let Some(durable) = store.durable_offset() else {
        return body;
    };
    for item in store.export(from).take(limit) {
        if let Ok((offset, _)) = &item
            && *offset > durable
        {
            break;
        }
        let _ = writeln!(body, "{}", export_line(item));
    }
    body
}

/// `from` and `limit` of an export query (`from=OFFSET&limit=N`, both optional).
pub fn export_query(query: Option<&str>) -> Result<(u64, usize), String> {
    let (mut from, mut limit) = (0, OPS_EXPORT_LINES_MAX);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "from" => {
                from = value
                    .parse()
                    .map_err(|_| format!("from: `{value}` is not a journal offset"))?
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=OPS_EXPORT_LINES_MAX).contains(n))
                    .ok_or_else(|| format!("limit: `{value}` is not 1..={OPS_EXPORT_LINES_MAX}"))?
            }
            other => return Err(format!("`{other}` is not a parameter (from, limit)")),
        }
    }
    Ok((from, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_queries() {
        assert_eq!(export_query(None), Ok((0, OPS_EXPORT_LINES_MAX)));
        assert_eq!(export_query(Some("from=12&limit=5")), Ok((12, 5)));
        assert!(export_query(Some("from=x")).unwrap_err().contains("from"));
        assert!(export_query(Some("limit=0")).unwrap_err().contains("limit"));
        assert!(export_query(Some("limit=10001")).is_err());
        assert!(export_query(Some("since=3")).unwrap_err().contains("since"));
    }
}
