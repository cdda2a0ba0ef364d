//! The console's form posts (`POST /console/act/<action>`) as the operator action's JSON body:
//! `application/x-www-form-urlencoded` for the buttons' small forms, `multipart/form-data` for
//! the closings, whose inputs are finance's CSV files (`medsettle_console::CloseForm`). The
//! body built here is the one `medsettle settle month|quarter|year` sends to `POST /ops/…`
//! (the files' texts in the fields the command fills from `--declarations` …), so the action
//! that runs is the same.

use medsettle_console::{FormInput, InputKind, percent_decode};
use serde_json::{Map, Value};

/// Most parts a multipart form may have (a closing form has at most 9 with its `op_id`).
pub const FORM_PARTS_MAX: usize = 32;

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// The file's name for a file input (empty when none was chosen), `None` for a field.
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// A form's operation id and the action's fields.
pub type FormFields = (String, Map<String, Value>);

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of parameter `key` in a header's parameters (`name="x"; filename="y"`).
fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, _) = content_type.split_once(';')?;
    (kind.trim().eq_ignore_ascii_case("multipart/form-data"))
        .then(|| param(content_type, "boundary"))
        .flatten()
        .filter(|b| !b.is_empty())
}

/// One part's head: its name and, for a file, the file's name.
fn part_head(head: &str) -> Result<(String, Option<String>), String> {
    let disposition = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(v)
        })
        .ok_or("a part without Content-Disposition")?;
    let name = param(disposition, "name").ok_or("a part without a name")?;
    Ok((name, param(disposition, "filename")))
}

/// The parts of a `multipart/form-data` body (RFC 7578). `Err` says what is malformed.
pub fn parse_multipart(boundary: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let start = find(body, open.as_bytes()).ok_or("no opening boundary")?;
    let mut rest = &body[start + open.len()..];
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        if parts.len() == FORM_PARTS_MAX {
            return Err(format!("more than {FORM_PARTS_MAX} parts"));
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary not followed by a line break")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part without its head's end")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "a part head not UTF-8")?;
        let (name, filename) = part_head(head)?;
        rest = &rest[head_end + 4..];
        let end = find(rest, delimiter.as_bytes()).ok_or("a part without its closing boundary")?;
        parts.push(Part {
            name,
            filename,
            data: rest[..end].to_vec(),
        });
        rest = &rest[end + delimiter.len()..];
    }
    Ok(parts)
}

/// An `application/x-www-form-urlencoded` body: the operation id and every other field as a
/// string. `path` is refused: it names a file on the gateway's machine, not from a browser.
pub fn urlencoded_fields(body: &[u8]) -> Result<FormFields, String> {
    let mut fields = Map::new();
    let mut op_id = None;
    for pair in String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err("the form is not valid form encoding".into());
        };
        match k.as_str() {
            "op_id" => op_id = Some(v),
            "path" => return Err("`path` is not a field of the console's forms".into()),
            _ => {
                fields.insert(k, Value::String(v));
            }
        }
    }
    Ok((op_id.ok_or("the form has no op_id")?, fields))
}

/// A closing form's parts as the action's fields, by `inputs`: a number as a JSON number, a
/// file as its text (or `{"name", "text"}`), text as typed. An input left empty (no file
/// chosen, nothing typed) is left out, so an optional field is absent as it is when the
/// command is run without its flag, and a required one is refused by the action by name.
pub fn closing_fields(inputs: &[FormInput], parts: &[Part]) -> Result<FormFields, String> {
    let mut fields = Map::new();
    let mut op_id = None;
    for p in parts {
        if p.name == "op_id" {
            op_id = Some(String::from_utf8(p.data.clone()).map_err(|_| "op_id: not UTF-8")?);
            continue;
        }
        let input = inputs
            .iter()
            .find(|i| i.name == p.name)
            .ok_or_else(|| format!("`{}` is not a field of this form", p.name))?;
        if let Some(v) = field_value(input, p)? {
            fields.insert(p.name.clone(), v);
        }
    }
    Ok((op_id.ok_or("the form has no op_id")?, fields))
}

/// One input's value in the action's body; `None` when it was left empty.
fn field_value(input: &FormInput, p: &Part) -> Result<Option<Value>, String> {
    let text = String::from_utf8(p.data.clone()).map_err(|_| {
        format!(
            "`{}`{}: not UTF-8 text (save the CSV as UTF-8)",
            input.name,
            p.filename
                .as_deref()
                .map_or(String::new(), |f| format!(" ({f})"))
        )
    })?;
    let file_name = p.filename.clone().unwrap_or_default();
    let chosen = !text.is_empty() || !file_name.is_empty();
    Ok(match input.kind {
        InputKind::File | InputKind::NamedFile if !chosen => None,
        InputKind::File => Some(Value::String(text)),
        InputKind::NamedFile => Some(serde_json::json!({"name": file_name, "text": text})),
        InputKind::Text | InputKind::Date | InputKind::Number if text.trim().is_empty() => None,
        InputKind::Text | InputKind::Date => Some(Value::String(text.trim().to_owned())),
        InputKind::Number => {
            let n: i64 = text.trim().parse().map_err(|_| {
                format!("`{}`: `{}` is not a whole number", input.name, text.trim())
            })?;
            Some(Value::from(n))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsettle_console::CloseForm;

    /// A body as Chromium sends a multipart form: CRLF lines, a file part with its name and
    /// type, an empty file input, the closing boundary.
    fn body(boundary: &str) -> Vec<u8> {
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"op_id\"\r\n\r\nconsole-1-2-3\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"period\"\r\n\r\n2026-11\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"pay_date\"\r\n\r\n2026-12-01\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"declarations_csv\"; filename=\"decl.csv\"\r\nContent-Type: text/csv\r\n\r\n\
             fixmedins_code,month,fund_amount,claim_count\r\nH1,2026-11,2000.00,3\r\n\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"deductions_csv\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n\
             --{b}--\r\n",
            b = boundary
        )
        .into_bytes()
    }

    #[test]
    fn a_monthly_form_becomes_the_body_the_command_line_sends() {
        let ct = "multipart/form-data; boundary=----WebKitFormBoundaryAbC";
        let b = boundary(ct).unwrap();
        let parts = parse_multipart(&b, &body(&b)).unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[3].filename.as_deref(), Some("decl.csv"));
        let (op_id, fields) =
            closing_fields(CloseForm::inputs_of("settle/month").unwrap(), &parts).unwrap();
        assert_eq!(op_id, "console-1-2-3");
        // The file's text as sent (its CRLF lines kept), the empty file input left out.
        let action = crate::actions::Action::from_request(
            "settle/month",
            &serde_json::to_vec(&fields).unwrap(),
        )
        .unwrap();
        let crate::actions::Action::SettleMonth(m) = action else {
            panic!("{action:?}")
        };
        assert_eq!(m.period, "2026-11");
        assert_eq!(m.pay_date, "2026-12-01");
        assert_eq!(
            m.declarations_csv,
            "fixmedins_code,month,fund_amount,claim_count\r\nH1,2026-11,2000.00,3\r\n"
        );
        assert_eq!(m.deductions_csv, None);
    }

    #[test]
    fn years_are_numbers_and_named_files_keep_their_names() {
        let parts = vec![
            Part {
                name: "op_id".into(),
                filename: None,
                data: b"x".to_vec(),
            },
            Part {
                name: "year".into(),
                filename: None,
                data: b"2026".to_vec(),
            },
            Part {
                name: "scores_csv".into(),
                filename: Some("scores.csv".into()),
                data: b"fixmedins_code,score\nH1,95\n".to_vec(),
            },
        ];
        let (_, f) = closing_fields(CloseForm::inputs_of("settle/year").unwrap(), &parts).unwrap();
        assert_eq!(f["year"], serde_json::json!(2026));
        assert_eq!(f["scores_csv"]["name"], "scores.csv");
        let mut bad = parts.clone();
        bad[1].data = b"twenty".to_vec();
        let e = closing_fields(CloseForm::inputs_of("settle/year").unwrap(), &bad).unwrap_err();
        assert!(e.contains("`year`"), "{e}");
        let mut bad = parts.clone();
        bad[2].name = "path".into();
        assert!(closing_fields(CloseForm::inputs_of("settle/year").unwrap(), &bad).is_err());
        let mut bad = parts;
        bad[2].data = vec![0xb8, 0xdf];
        let e = closing_fields(CloseForm::inputs_of("settle/year").unwrap(), &bad).unwrap_err();
        assert!(e.contains("scores.csv") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert!(boundary("application/x-www-form-urlencoded").is_none());
        assert!(boundary("multipart/form-data").is_none());
        assert!(parse_multipart("b", b"no boundary here").is_err());
        assert!(
            parse_multipart(
                "b",
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"
            )
            .is_err()
        );
        assert!(parse_multipart("b", b"--b\r\nX: y\r\n\r\nv\r\n--b--").is_err());
        let many: String = (0..=FORM_PARTS_MAX)
            .map(|i| format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n"))
            .collect::<String>()
            + "--b--";
        assert!(
            parse_multipart("b", many.as_bytes())
                .unwrap_err()
                .contains("parts")
        );
        assert_eq!(
            urlencoded_fields(b"op_id=a&date=2026-12-01").unwrap().0,
            "a"
        );
        assert!(urlencoded_fields(b"op_id=a&path=%2Fetc").is_err());
        assert!(urlencoded_fields(b"date=1").is_err());
    }
}
