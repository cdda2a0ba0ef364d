//! The one XML reader of every dialect: hostile input refused early, a small element tree
//! built under limits, then flattened into `(field key, value)` pairs and rows.
//!
//! Field keys: the element's local name, lower-cased, with the profile's prefix (`prm_`)
//! removed, preceded by the container path below the profile's body element
//! (`input/aac001`, `kc21xml/akc192`, `header/system/funid`). Attribute values are fields too
//! (`<para funid="…"/>` gives `…/funid`), so element and attribute dialects read the same.
//! Rows are the elements named by the profile's row tags, wherever they are.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::Limits;
use crate::error::{LEG_ENVELOPE, LEG_LIMIT, LEG_XML, LEG_XML_DOCTYPE, LegacyError, Result};

/// One element.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// The qualified name as written (`soap:Envelope`).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The local name, lower-cased.
    pub fn local(&self) -> String {
        local_lower(&self.name)
    }

    /// The first child with this lower-cased local name.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local() == local)
    }
}

pub fn local_lower(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_ascii_lowercase()
}

/// Refuse DOCTYPE and ENTITY declarations before any parsing: on the raw bytes, which is
/// safe for GBK too (`<` is never a GBK trail byte).
pub fn refuse_doctype(bytes: &[u8]) -> Result<()> {
    for pat in [&b"<!DOCTYPE"[..], &b"<!ENTITY"[..]] {
        if let Some(at) = bytes
            .windows(pat.len())
            .position(|w| w.eq_ignore_ascii_case(pat))
        {
            return Err(LegacyError::new(
                LEG_XML_DOCTYPE,
                "DOCTYPE",
                format!(
                    "{} at byte offset {at}: document type and entity declarations are refused",
                    String::from_utf8_lossy(pat)
                ),
            )
            .at(at));
        }
    }
    Ok(())
}

fn xml_err(msg: impl Into<String>, pos: u64) -> LegacyError {
    LegacyError::new(
        LEG_XML,
        "xml",
        format!("{} (at text offset {pos})", msg.into()),
    )
}

fn limit_err(limit: &str, msg: String) -> LegacyError {
    LegacyError::new(LEG_LIMIT, limit, msg)
}

/// Most elements in one document: a full fee upload ([`Limits::ROWS_MAX`] rows of about 30
/// fields) fits; a body of millions of empty elements does not become a tree of millions of
/// nodes (about 100 bytes each).
pub const ELEMENTS_MAX: usize = 200_000;

/// Parse the decoded text into its root element.
pub fn parse(text: &str, limits: &Limits) -> Result<Element> {
    let mut reader = Reader::from_str(text);
    let mut elements = 0usize;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| xml_err(e.to_string(), pos))?;
        match ev {
            Event::Start(e) => {
                elements = count_element(elements)?;
                let el = open_element(&e, &stack, &root, limits, pos)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                elements = count_element(elements)?;
                let el = open_element(&e, &stack, &root, limits, pos)?;
                close(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| xml_err("an end tag without start", pos))?;
                close(el, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                push_text(&mut stack, &root, &s, limits, pos)?;
            }
            Event::CData(t) => {
                let s: &str = t.as_ref();
                let s = s.to_owned();
                push_text(&mut stack, &root, &s, limits, pos)?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name: &str = r.as_ref();
                        match name {
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "amp" => "&".into(),
                            "apos" => "'".into(),
                            "quot" => "\"".into(),
                            other => {
                                return Err(xml_err(format!("undefined entity &{other};"), pos));
                            }
                        }
                    }
                    Err(e) => return Err(xml_err(format!("character reference: {e}"), pos)),
                };
                push_text(&mut stack, &root, &c, limits, pos)?;
            }
            Event::DocType(_) => {
                return Err(LegacyError::new(
                    LEG_XML_DOCTYPE,
                    "DOCTYPE",
                    "document type declarations are refused",
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(xml_err(
            format!("<{}> is not closed", open.name),
            reader.buffer_position(),
        ));
    }
    root.ok_or_else(|| xml_err("no root element", 0))
}

fn count_element(n: usize) -> Result<usize> {
    if n + 1 > ELEMENTS_MAX {
        return Err(limit_err(
            "elements_max",
            format!("more than {ELEMENTS_MAX} elements (elements_max)"),
        ));
    }
    Ok(n + 1)
}

/// A start tag as an element, checked against the limits.
fn open_element(
    e: &quick_xml::events::BytesStart<'_>,
    stack: &[Element],
    root: &Option<Element>,
    limits: &Limits,
    pos: u64,
) -> Result<Element> {
    let name: String = e.name().as_ref().to_owned();
    if root.is_some() {
        return Err(xml_err(format!("a second root element <{name}>"), pos));
    }
    if stack.len() + 1 > limits.depth_max {
        return Err(limit_err(
            "depth_max",
            format!("elements nest deeper than {} (depth_max)", limits.depth_max),
        ));
    }
    let mut attrs = Vec::new();
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|err| xml_err(format!("attribute: {err}"), pos))?;
        if attrs.len() + 1 > limits.attributes_max {
            return Err(limit_err(
                "attributes_max",
                format!(
                    "<{name}> has more than {} attributes (attributes_max)",
                    limits.attributes_max
                ),
            ));
        }
        let key: String = a.key.as_ref().to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| xml_err(format!("attribute {key}: {err}"), pos))?;
        if value.len() > limits.text_bytes_max {
            return Err(limit_err(
                "text_bytes_max",
                format!(
                    "attribute {key} is longer than {} bytes",
                    limits.text_bytes_max
                ),
            ));
        }
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(
    stack: &mut [Element],
    root: &Option<Element>,
    s: &str,
    limits: &Limits,
    pos: u64,
) -> Result<()> {
    match stack.last_mut() {
        Some(el) => {
            if el.text.len() + s.len() > limits.text_bytes_max {
                return Err(limit_err(
                    "text_bytes_max",
                    format!(
                        "the text of <{}> is longer than {} bytes (text_bytes_max)",
                        el.name, limits.text_bytes_max
                    ),
                ));
            }
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(xml_err(
            if root.is_some() {
                "text after the root element"
            } else {
                "text before the root element"
            },
            pos,
        )),
    }
}

/// One field value read from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The value with surrounding whitespace removed.
    pub value: String,
    /// The name as written (`prm_akc190`, `AKC190`, `funid`).
    pub wire: String,
    /// Whether the name carried the profile's prefix.
    pub prefixed: bool,
    /// Whether whitespace around the value was removed.
    pub trimmed: bool,
}

/// One row (`<row>`, `<KC22ROW>`, …).
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The row tag, lower-cased.
    pub tag: String,
    pub fields: BTreeMap<String, Field>,
}

/// The message as fields and rows.
#[derive(Debug, Clone, Default)]
pub struct Flat {
    pub scalars: BTreeMap<String, Field>,
    pub rows: Vec<Row>,
    /// Whitespace-only text between elements was found.
    pub stray_whitespace: bool,
    /// Ignored elements found (`proxy`), with their values.
    pub ignored: Vec<(String, String)>,
    /// Container paths present (lower-cased local names joined by `/`).
    pub containers: Vec<String>,
}

/// How to flatten.
pub struct FlattenSpec<'a> {
    pub prefix: &'a str,
    pub row_tags: &'a [String],
    pub ignore: &'a [String],
    pub rows_max: usize,
}

/// Flatten the children of `body`.
pub fn flatten(body: &Element, spec: &FlattenSpec<'_>) -> Result<Flat> {
    let mut flat = Flat::default();
    if !body.children.is_empty() && !body.text.trim().is_empty() {
        return Err(mixed(body));
    }
    flat.stray_whitespace |= !body.children.is_empty() && !body.text.is_empty();
    attrs_into(body, "", spec, &mut flat.scalars)?;
    walk(body, "", "", spec, &mut flat)?;
    Ok(flat)
}

fn mixed(el: &Element) -> LegacyError {
    LegacyError::new(
        LEG_ENVELOPE,
        el.local(),
        format!("<{}> holds both elements and text", el.name),
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}/{name}")
    }
}

/// `(key, prefixed)` of a leaf name.
fn field_name(name: &str, prefix: &str) -> (String, bool) {
    let local = local_lower(name);
    // `get`: the prefix's byte length may fall inside a multi-byte character of the name.
    if !prefix.is_empty()
        && local.len() > prefix.len()
        && local
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    {
        (local[prefix.len()..].to_owned(), true)
    } else {
        (local, false)
    }
}

fn insert(map: &mut BTreeMap<String, Field>, key: String, field: Field) -> Result<()> {
    match map.get(&key) {
        Some(old) if old.value != field.value => Err(LegacyError::new(
            LEG_ENVELOPE,
            field.wire.clone(),
            format!(
                "{} is given twice with different values (`{}` and `{}`)",
                field.wire, old.value, field.value
            ),
        )),
        Some(_) => Ok(()),
        None => {
            map.insert(key, field);
            Ok(())
        }
    }
}

fn attrs_into(
    el: &Element,
    path: &str,
    spec: &FlattenSpec<'_>,
    out: &mut BTreeMap<String, Field>,
) -> Result<()> {
    for (k, v) in &el.attrs {
        if k.contains(':') || k == "xmlns" {
            continue; // namespace declarations and qualified (envelope) attributes
        }
        let (name, prefixed) = field_name(k, spec.prefix);
        let value = v.trim();
        insert(
            out,
            join(path, &name),
            Field {
                value: value.to_owned(),
                wire: k.clone(),
                prefixed,
                trimmed: value.len() != v.len(),
            },
        )?;
    }
    Ok(())
}

fn walk(
    el: &Element,
    path: &str,
    wire_path: &str,
    spec: &FlattenSpec<'_>,
    flat: &mut Flat,
) -> Result<()> {
    for child in &el.children {
        let local = child.local();
        if spec.ignore.contains(&local) {
            flat.ignored
                .push((child.name.clone(), child.text.trim().to_owned()));
            continue;
        }
        if spec.row_tags.contains(&local) {
            if flat.rows.len() + 1 > spec.rows_max {
                return Err(limit_err(
                    "rows_max",
                    format!("more than {} rows (rows_max)", spec.rows_max),
                ));
            }
            let mut row = Row {
                tag: local.clone(),
                fields: BTreeMap::new(),
            };
            attrs_into(child, "", spec, &mut row.fields)?;
            row_walk(child, "", spec, &mut row, &mut flat.stray_whitespace)?;
            flat.rows.push(row);
            continue;
        }
        if child.children.is_empty() {
            leaf(child, path, wire_path, spec, &mut flat.scalars)?;
        } else {
            if !child.text.trim().is_empty() {
                return Err(mixed(child));
            }
            flat.stray_whitespace |= !child.text.is_empty();
            let p = join(path, &local);
            let w = join(
                wire_path,
                child.name.rsplit(':').next().unwrap_or(&child.name),
            );
            flat.containers.push(p.clone());
            attrs_into(child, &p, spec, &mut flat.scalars)?;
            walk(child, &p, &w, spec, flat)?;
        }
    }
    Ok(())
}

fn row_walk(
    el: &Element,
    path: &str,
    spec: &FlattenSpec<'_>,
    row: &mut Row,
    stray: &mut bool,
) -> Result<()> {
    if !el.children.is_empty() && !el.text.trim().is_empty() {
        return Err(mixed(el));
    }
    *stray |= !el.children.is_empty() && !el.text.is_empty();
    for child in &el.children {
        if child.children.is_empty() {
            leaf(child, path, "", spec, &mut row.fields)?;
        } else {
            let p = join(path, &child.local());
            attrs_into(child, &p, spec, &mut row.fields)?;
            row_walk(child, &p, spec, row, stray)?;
        }
    }
    Ok(())
}

/// A leaf element: its text is a field unless it only carries attributes (`<para usr="…"/>`).
fn leaf(
    el: &Element,
    path: &str,
    wire_path: &str,
    spec: &FlattenSpec<'_>,
    out: &mut BTreeMap<String, Field>,
) -> Result<()> {
    attrs_into(el, path, spec, out)?;
    if !el.attrs.is_empty() && el.text.trim().is_empty() {
        return Ok(());
    }
    let (name, prefixed) = field_name(&el.name, spec.prefix);
    let value = el.text.trim();
    insert(
        out,
        join(path, &name),
        Field {
            value: value.to_owned(),
            wire: join(wire_path, &el.name),
            prefixed,
            trimmed: value.len() != el.text.len(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(rows: &'a [String], ignore: &'a [String]) -> FlattenSpec<'a> {
        FlattenSpec {
            prefix: "prm_",
            row_tags: rows,
            ignore,
            rows_max: 10,
        }
    }

    #[test]
    fn parses_and_flattens() {
        let t = "<input><prm_akc190> ZY1 </prm_akc190><dataset><row><yka105>M1</yka105></row></dataset><proxy>1</proxy><para usr=\"a\"/></input>";
        let root = parse(t, &Limits::default()).unwrap();
        assert_eq!(root.name, "input");
        let rows = vec!["row".to_owned()];
        let ign = vec!["proxy".to_owned()];
        let f = flatten(&root, &spec(&rows, &ign)).unwrap();
        assert_eq!(f.scalars["akc190"].value, "ZY1");
        assert!(f.scalars["akc190"].trimmed && f.scalars["akc190"].prefixed);
        assert_eq!(f.scalars["usr"].value, "a");
        assert_eq!(f.rows[0].fields["yka105"].value, "M1");
        assert_eq!(f.ignored.len(), 1);
    }

    #[test]
    fn entities_and_limits() {
        let root = parse("<a><b>x&amp;y&#x5F20;</b></a>", &Limits::default()).unwrap();
        assert_eq!(root.children[0].text, "x&y张");
        assert_eq!(
            parse("<a><b>&foo;</b></a>", &Limits::default())
                .unwrap_err()
                .rule,
            LEG_XML
        );
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(
            parse(&deep, &Limits::default()).unwrap_err().rule,
            LEG_LIMIT
        );
        assert_eq!(
            parse("<a><b></a>", &Limits::default()).unwrap_err().rule,
            LEG_XML
        );
        assert_eq!(
            parse("<a/><b/>", &Limits::default()).unwrap_err().rule,
            LEG_XML
        );
        assert_eq!(
            refuse_doctype(b"<!DOCTYPE x [<!ENTITY a \"b\">]><x/>")
                .unwrap_err()
                .rule,
            LEG_XML_DOCTYPE
        );
    }
}
