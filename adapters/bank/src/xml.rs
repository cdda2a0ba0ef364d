//! Minimal XML writing (escaping, deterministic indentation) and a hardened streaming reader.
//!
//! The reader never expands entities: a DOCTYPE is refused outright (it is the only way to
//! declare entities, so refusing it closes billion-laughs and external-entity attacks), and
//! only the five predefined entities and character references are resolved. Size and depth
//! are bounded before and during parsing.

use quick_xml::Reader;
use quick_xml::events::Event;

use medsettle_canonical::Money;

use crate::common::{decode_strict, is_allowed_text_char, parse_amount};
use crate::error::{BankError, rule};
use crate::receipts::DecodeLimits;

/// Append `text` with the XML special characters escaped (valid in text and attributes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// A tiny indenting writer: same calls, same bytes.
pub struct XmlWriter {
    pub out: String,
    depth: usize,
}

impl XmlWriter {
    pub fn new(capacity: usize) -> XmlWriter {
        let mut out = String::with_capacity(capacity);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        XmlWriter { out, depth: 0 }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    pub fn open(&mut self, name: &str) {
        self.open_attr(name, None);
    }

    pub fn open_attr(&mut self, name: &str, attr: Option<(&str, &str)>) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        if let Some((k, v)) = attr {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push_str(">\n");
        self.depth += 1;
    }

    pub fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    pub fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_attr(name, None, text);
    }

    pub fn leaf_attr(&mut self, name: &str, attr: Option<(&str, &str)>, text: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        if let Some((k, v)) = attr {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    pub fn finish(self) -> Vec<u8> {
        assert_eq!(self.depth, 0, "unbalanced XML writer");
        self.out.into_bytes()
    }
}

/// One open element on the reader's stack: local name and attributes (local names).
#[derive(Debug)]
pub struct Frame {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Frame {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What the walker reports: an element opened, or closed with its own direct text.
pub enum XmlEvent<'a> {
    Start,
    End { text: &'a str },
}

/// Whether the open-element path ends with `suffix` (local names).
pub fn ends_with(path: &[Frame], suffix: &[&str]) -> bool {
    path.len() >= suffix.len()
        && path[path.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(f, s)| f.name == *s)
}

/// `A/B/C` for error locations.
pub fn path_string(path: &[Frame]) -> String {
    let names: Vec<&str> = path.iter().map(|f| f.name.as_str()).collect();
    names.join("/")
}

/// The encoding an XML declaration names, looked up within the first bytes (ASCII-compatible
/// encodings only; UTF-16 files are not something banks send us and are refused).
fn declared_encoding(
    file: &str,
    bytes: &[u8],
) -> Result<&'static encoding_rs::Encoding, BankError> {
    let head = &bytes[..bytes.len().min(200)];
    if !head.starts_with(b"<?xml") {
        return Ok(encoding_rs::UTF_8);
    }
    let end = head
        .windows(2)
        .position(|w| w == b"?>")
        .unwrap_or(head.len());
    let decl = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let Some(pos) = decl.find("encoding") else {
        return Ok(encoding_rs::UTF_8);
    };
    let rest = &decl[pos + "encoding".len()..];
    let value: String = rest
        .trim_start_matches([' ', '=', '"', '\''])
        .chars()
        .take_while(|c| !matches!(c, '"' | '\'' | ' '))
        .collect();
    match value.as_str() {
        "utf-8" | "utf8" => Ok(encoding_rs::UTF_8),
        // encoding_rs decodes GBK as its superset gb18030, which is what Chinese banks mean.
        "gbk" | "gb2312" | "gb18030" | "cp936" => Ok(encoding_rs::GB18030),
        other => Err(BankError::malformed(
            file,
            "XML declaration",
            rule::TEXT_ENCODING,
            format!("unsupported encoding {other:?}; expected UTF-8 or GBK/GB18030"),
        )),
    }
}

/// Decode bytes to text strictly, honouring a UTF-8 BOM or the declared encoding.
fn to_text(file: &str, bytes: &[u8]) -> Result<String, BankError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let enc = declared_encoding(file, bytes)?;
    if enc == encoding_rs::UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(BankError::BadEncoding {
                file: file.to_owned(),
                location: format!("byte {}", e.valid_up_to()),
                encoding: "UTF-8",
            }),
        };
    }
    decode_strict(enc, bytes).ok_or_else(|| BankError::BadEncoding {
        file: file.to_owned(),
        location: "somewhere in the file".to_owned(),
        encoding: "GB18030",
    })
}

/// Walk an XML document, calling `on` for every element start and end (with the element's
/// direct text, entity references resolved). Returns the root element's namespace.
pub fn walk(
    file: &str,
    bytes: &[u8],
    limits: &DecodeLimits,
    mut on: impl FnMut(&[Frame], XmlEvent<'_>) -> Result<(), BankError>,
) -> Result<String, BankError> {
    limits.check_size(file, bytes.len())?;
    let text = to_text(file, bytes)?;
    let mut reader = Reader::from_str(&text);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Frame> = Vec::with_capacity(16);
    let mut buf = String::new();
    let mut root_ns = String::new();
    let mut root_done = false;
    let err = |reader: &Reader<&[u8]>, stack: &[Frame], detail: String, rule: &'static str| {
        BankError::malformed(
            file,
            format!(
                "byte {} in {}",
                reader.buffer_position(),
                if stack.is_empty() {
                    "(document)".to_owned()
                } else {
                    path_string(stack)
                }
            ),
            rule,
            detail,
        )
    };
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => return Err(err(&reader, &stack, e.to_string(), rule::XML_WELL_FORMED)),
        };
        match ev {
            Event::Start(e) => {
                if root_done {
                    return Err(err(
                        &reader,
                        &stack,
                        "content after the root element".into(),
                        rule::XML_WELL_FORMED,
                    ));
                }
                if stack.len() >= limits.xml_depth_max {
                    return Err(BankError::LimitExceeded {
                        file: file.to_owned(),
                        limit: "xml_depth_max",
                        actual: stack.len() as u64 + 1,
                        max: limits.xml_depth_max as u64,
                    });
                }
                let name = e.local_name().as_ref().to_owned();
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a =
                        a.map_err(|x| err(&reader, &stack, x.to_string(), rule::XML_WELL_FORMED))?;
                    let key = a.key.as_ref();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|x| err(&reader, &stack, x.to_string(), rule::XML_NO_DTD))?
                        .into_owned();
                    if stack.is_empty() && key == "xmlns" {
                        root_ns = value.clone();
                    }
                    let local = key.rsplit(':').next().unwrap_or(key).to_owned();
                    attrs.push((local, value));
                }
                stack.push(Frame { name, attrs });
                buf.clear();
                on(&stack, XmlEvent::Start)?;
            }
            Event::End(_) => {
                on(&stack, XmlEvent::End { text: &buf })?;
                buf.clear();
                stack.pop();
                if stack.is_empty() {
                    root_done = true;
                }
            }
            Event::Empty(_) => unreachable!("expand_empty_elements is on"),
            Event::Text(t) => {
                let t = t.xml10_content();
                if stack.is_empty() {
                    if !t.trim().is_empty() {
                        return Err(err(
                            &reader,
                            &stack,
                            "text outside the root element".into(),
                            rule::XML_WELL_FORMED,
                        ));
                    }
                } else {
                    buf.push_str(&t);
                }
            }
            Event::CData(c) => {
                let c = c.into_inner();
                buf.push_str(&c);
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) if is_allowed_text_char(c) || matches!(c, '\t' | '\n' | '\r') => c,
                    Ok(Some(c)) => {
                        return Err(err(
                            &reader,
                            &stack,
                            format!("character reference to U+{:04X}", u32::from(c)),
                            rule::XML_WELL_FORMED,
                        ));
                    }
                    Ok(None) => match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err(err(
                                &reader,
                                &stack,
                                format!("entity &{other}; is not expanded"),
                                rule::XML_NO_DTD,
                            ));
                        }
                    },
                    Err(e) => {
                        return Err(err(&reader, &stack, e.to_string(), rule::XML_WELL_FORMED));
                    }
                };
                buf.push(c);
            }
            Event::DocType(_) => {
                return Err(err(
                    &reader,
                    &stack,
                    "DOCTYPE is refused (no DTDs, no entity declarations)".into(),
                    rule::XML_NO_DTD,
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !root_done || !stack.is_empty() {
        return Err(BankError::malformed(
            file,
            "end of file",
            rule::XML_WELL_FORMED,
            "document ends before the root element is closed (truncated?)",
        ));
    }
    Ok(root_ns)
}

/// A decoding error at an element of a bank file (`file`, element path, rule, detail).
pub fn bad(file: &str, at: String, rule: &'static str, detail: impl Into<String>) -> BankError {
    BankError::malformed(file, at, rule, detail)
}

/// An ISO 20022 amount element (`<…Amt Ccy="CNY">1234.50</…Amt>`) exactly in fen; another
/// currency or an amount with a fraction of a fen is an error naming the element.
pub fn cny_amount(file: &str, path: &[Frame], text: &str) -> Result<Money, BankError> {
    let at = path_string(path);
    if let Some(ccy) = path.last().and_then(|f| f.attr("Ccy"))
        && ccy != "CNY"
    {
        return Err(bad(
            file,
            at,
            rule::AMOUNT_RANGE,
            format!("currency {ccy:?} is not CNY"),
        ));
    }
    parse_amount(text).ok_or_else(|| {
        bad(
            file,
            at,
            rule::AMOUNT_EXACT_FEN,
            format!("{text:?} is not an exact amount in fen"),
        )
    })
}
