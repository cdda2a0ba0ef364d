//! `specs/interregion.md` and the code describe the same protocol: every field table lists the
//! node's fields with the same names, order and required-ness; the limits table has the code's
//! values; the rule table has the code's ids and names, in order.

use medsettle_interregion::field::Req;
use medsettle_interregion::spec::FIELD_TABLES;
use medsettle_interregion::{PROTOCOL_LIMITS, rule};

fn spec() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../specs/interregion.md"
    ))
    .expect("specs/interregion.md")
}

/// The cells of a table row, trimmed, without the outer pipes.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

/// Text between the first pair of backticks.
fn ticked(cell: &str) -> Option<&str> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(&cell[start..start + len])
}

/// Each `Fields of `node`:` paragraph, with its table's (name, req) rows.
fn field_tables(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut tables = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(node) = line.strip_prefix("Fields of ").and_then(ticked) else {
            continue;
        };
        let rows: Vec<(String, String)> = lines
            .by_ref()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| l.starts_with('|'))
            .skip(2) // header and separator
            .map(|l| {
                let c = cells(l);
                (
                    ticked(&c[0]).expect("a field name in backticks").to_owned(),
                    c[2].clone(),
                )
            })
            .collect();
        tables.push((node.to_owned(), rows));
    }
    tables
}

#[test]
fn field_tables_match_the_code() {
    let text = spec();
    let documented = field_tables(&text);
    let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
    let coded: Vec<&str> = FIELD_TABLES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, coded,
        "the spec's field tables and FIELD_TABLES list different nodes"
    );
    for ((node, rows), (_, fields)) in documented.iter().zip(FIELD_TABLES) {
        let spec_rows: Vec<(&str, &str)> =
            rows.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect();
        let code_rows: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| {
                let req = match f.req {
                    Req::Yes => "yes",
                    Req::No => "no",
                    Req::Cond => "cond.",
                };
                (f.name, req)
            })
            .collect();
        assert_eq!(
            spec_rows, code_rows,
            "fields of `{node}` differ between spec and code"
        );
    }
}

#[test]
fn limits_table_matches_the_code() {
    let text = spec();
    let documented: Vec<(String, u64)> = text
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            // a limits row: a constant's name, then its value
            let c = cells(l);
            let name = ticked(&c[0])?;
            let constant = name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            constant.then(|| {
                (
                    name.to_owned(),
                    c[1].parse::<u64>()
                        .unwrap_or_else(|_| panic!("a number in {l}")),
                )
            })
        })
        .collect();
    let coded: Vec<(String, u64)> = PROTOCOL_LIMITS
        .iter()
        .map(|(n, v)| ((*n).to_owned(), *v))
        .collect();
    assert_eq!(documented, coded);
}

#[test]
fn rule_table_matches_the_code() {
    let text = spec();
    let documented: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with("| `XR-"))
        .map(|l| {
            let c = cells(l);
            assert!(
                c.len() == 3 && !c[2].is_empty(),
                "rule row without a meaning: {l}"
            );
            (
                ticked(&c[0]).unwrap().to_owned(),
                ticked(&c[1]).unwrap().to_owned(),
            )
        })
        .collect();
    let coded: Vec<(String, String)> = rule::NAMES
        .iter()
        .map(|(name, id)| ((*id).to_owned(), (*name).to_owned()))
        .collect();
    assert_eq!(documented, coded);
    assert_eq!(rule::ALL.len(), rule::NAMES.len());
}
