//! Bytes ↔ text: the declared encoding honoured strictly, answers in the caller's encoding.
//!
//! GBK and GB2312 are read with encoding_rs's GB18030 decoder (a superset: every GBK byte
//! sequence decodes), without replacement: an invalid sequence is [`LEG_ENCODING`] naming its
//! byte offset. UTF-8 is strict. Answers are written with encoding_rs's GBK encoder, which
//! never writes the four-byte GB18030 sequences: a character outside GBK is detected per value
//! so the refusal can name the field, and the answer falls back to GB18030 when the profile
//! allows it.

use encoding_rs::{DecoderResult, GB18030, GBK, UTF_8};
use serde::Serialize;

use crate::error::{LEG_ENCODING, LEG_ENCODING_DECLARED, LegacyError, Result};

/// The character encodings of the legacy dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Encoding {
    Utf8,
    Gbk,
    Gb18030,
    Gb2312,
}

impl Encoding {
    /// The label written in an XML declaration.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gbk => "GBK",
            Encoding::Gb18030 => "GB18030",
            Encoding::Gb2312 => "GB2312",
        }
    }

    /// Parse a declared label (case-insensitive; `UTF8` and `CP936` accepted as aliases).
    pub fn from_label(label: &str) -> Option<Encoding> {
        Some(match label.trim().to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" => Encoding::Utf8,
            "GBK" | "CP936" => Encoding::Gbk,
            "GB18030" => Encoding::Gb18030,
            "GB2312" => Encoding::Gb2312,
            _ => return None,
        })
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What reading the bytes found.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
    /// `(what, detail)` tolerances applied (BOM, missing declaration).
    pub repairs: Vec<(String, String)>,
    /// Bytes before the text (a BOM) — offsets in the text are shifted by this much for UTF-8.
    pub bom_len: usize,
}

/// The `encoding="…"` of a leading XML declaration, read from the raw bytes (the declaration
/// is ASCII in every encoding we accept).
pub fn declared_label(bytes: &[u8]) -> Option<String> {
    let b = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let b = &b[start..];
    if !b.starts_with(b"<?xml") {
        return None;
    }
    let end = b.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&b[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    let close = rest.find(quote)?;
    Some(rest[..close].to_owned())
}

/// Decode a request body. `default` is the profile's encoding when nothing is declared;
/// `allowed` the encodings it accepts; `declaration_expected`: a missing declaration is a
/// repair (Guizhou, Shijiazhuang, SOAP) rather than the dialect's norm (Yunnan).
pub fn decode_body(
    bytes: &[u8],
    default: Encoding,
    allowed: &[Encoding],
    declaration_expected: bool,
) -> Result<Decoded> {
    let mut repairs = Vec::new();
    let has_bom = bytes.starts_with(BOM);
    let declared = declared_label(bytes);
    let encoding = match &declared {
        Some(label) => Encoding::from_label(label).ok_or_else(|| {
            LegacyError::new(
                LEG_ENCODING_DECLARED,
                "encoding",
                format!("declared encoding `{label}` is not one this gateway reads"),
            )
        })?,
        None if has_bom => Encoding::Utf8,
        None => {
            if declaration_expected {
                repairs.push((
                    "declaration".to_owned(),
                    format!(
                        "no XML declaration: read as {} (the profile's default)",
                        default.label()
                    ),
                ));
            }
            default
        }
    };
    if !allowed.contains(&encoding) {
        return Err(LegacyError::new(
            LEG_ENCODING_DECLARED,
            "encoding",
            format!(
                "{} is not allowed by this profile (allowed: {})",
                encoding.label(),
                allowed
                    .iter()
                    .map(|e| e.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut bom_len = 0;
    let body = if has_bom {
        if encoding != Encoding::Utf8 {
            return Err(LegacyError::new(
                LEG_ENCODING_DECLARED,
                "encoding",
                format!(
                    "a UTF-8 byte-order mark in a body declared {}",
                    encoding.label()
                ),
            )
            .at(0));
        }
        repairs.push(("bom".to_owned(), "UTF-8 byte-order mark removed".to_owned()));
        bom_len = BOM.len();
        &bytes[BOM.len()..]
    } else {
        bytes
    };
    let text = match encoding {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(s) => s.to_owned(),
            Err(e) => {
                let rule = if declared.is_some() {
                    LEG_ENCODING_DECLARED
                } else {
                    LEG_ENCODING
                };
                let off = bom_len + e.valid_up_to();
                return Err(LegacyError::new(
                    rule,
                    "encoding",
                    format!("invalid UTF-8 byte sequence at byte offset {off}"),
                )
                .at(off));
            }
        },
        Encoding::Gbk | Encoding::Gb2312 | Encoding::Gb18030 => decode_gb(body, encoding)?,
    };
    Ok(Decoded {
        text,
        encoding,
        repairs,
        bom_len,
    })
}

/// GB18030 decoding without replacement; the first malformed sequence is named by offset.
fn decode_gb(body: &[u8], encoding: Encoding) -> Result<String> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let cap = decoder
        .max_utf8_buffer_length_without_replacement(body.len())
        .unwrap_or(body.len().saturating_mul(3) + 16);
    let mut out = String::with_capacity(cap);
    let (result, read) = decoder.decode_to_string_without_replacement(body, &mut out, true);
    match result {
        DecoderResult::InputEmpty => Ok(out),
        DecoderResult::Malformed(bad, after) => {
            let off = read - usize::from(bad) - usize::from(after);
            Err(LegacyError::new(
                LEG_ENCODING,
                "encoding",
                format!(
                    "invalid {} byte sequence at byte offset {off} (0x{})",
                    encoding.label(),
                    body[off..(off + usize::from(bad)).min(body.len())]
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect::<String>()
                ),
            )
            .at(off))
        }
        DecoderResult::OutputFull => Err(LegacyError::new(
            LEG_ENCODING,
            "encoding",
            "decoder output buffer too small (internal)",
        )),
    }
}

/// Whether `s` can be written in `encoding` without loss.
pub fn encodable(s: &str, encoding: Encoding) -> bool {
    match encoding {
        Encoding::Utf8 | Encoding::Gb18030 => true,
        Encoding::Gbk => s.is_ascii() || !GBK.encode(s).2,
        Encoding::Gb2312 => {
            s.is_ascii() || {
                let (bytes, _, unmappable) = GBK.encode(s);
                !unmappable && gb2312_only(&bytes)
            }
        }
    }
}

/// Every two-byte sequence is in the GB2312 area (lead A1–F7, trail A1–FE).
fn gb2312_only(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(&t) if (0xA1..=0xF7).contains(&b) && (0xA1..=0xFE).contains(&t) => i += 2,
            _ => return false,
        }
    }
    true
}

/// Encode text already checked with [`encodable`].
pub fn encode(s: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => s.as_bytes().to_vec(),
        Encoding::Gbk | Encoding::Gb2312 => GBK.encode(s).0.into_owned(),
        Encoding::Gb18030 => GB18030.encode(s).0.into_owned(),
    }
}

/// Encode, replacing what `encoding` cannot hold with `?` (error answers must always go out).
pub fn encode_lossy(s: &str, encoding: Encoding) -> Vec<u8> {
    if encodable(s, encoding) {
        return encode(s, encoding);
    }
    let safe: String = s
        .chars()
        .map(|c| {
            let mut b = [0u8; 4];
            if encodable(c.encode_utf8(&mut b), encoding) {
                c
            } else {
                '?'
            }
        })
        .collect();
    encode(&safe, encoding)
}

/// Decode an answer we wrote (tests and `decode_answer`): lenient about nothing.
pub fn decode_strict(bytes: &[u8], encoding: Encoding) -> Result<String> {
    match encoding {
        Encoding::Utf8 => UTF_8
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|c| c.into_owned())
            .ok_or_else(|| LegacyError::new(LEG_ENCODING, "encoding", "invalid UTF-8")),
        _ => decode_gb(bytes, encoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_round_trip_and_offsets() {
        let (bytes, _, bad) = GBK.encode("<a>张三</a>");
        assert!(!bad);
        let d = decode_body(&bytes, Encoding::Gbk, &[Encoding::Gbk], false).unwrap();
        assert_eq!(d.text, "<a>张三</a>");
        let mut broken = bytes.to_vec();
        broken[5] = 0xFF; // second byte of 张 -> invalid lead/trail
        let e = decode_body(&broken, Encoding::Gbk, &[Encoding::Gbk], false).unwrap_err();
        assert_eq!(e.rule, LEG_ENCODING);
        assert!(e.byte_offset.is_some());
    }

    #[test]
    fn declared_labels() {
        assert_eq!(
            declared_label(b"<?xml version=\"1.0\" encoding=\"GBK\" standalone=\"yes\" ?><a/>"),
            Some("GBK".to_owned())
        );
        assert_eq!(declared_label(b"<a/>"), None);
        let e = decode_body(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
            Encoding::Gbk,
            &[Encoding::Gbk],
            true,
        )
        .unwrap_err();
        assert_eq!(e.rule, LEG_ENCODING_DECLARED);
    }

    #[test]
    fn gbk_cannot_hold_four_byte_chars() {
        assert!(encodable("张三", Encoding::Gbk));
        assert!(!encodable("𠀀", Encoding::Gbk));
        assert!(encodable("𠀀", Encoding::Gb18030));
        assert_eq!(GB18030.encode("𠀀").0.len(), 4);
        assert!(encodable("张", Encoding::Gb2312));
        assert!(!encodable("㐀", Encoding::Gb2312));
    }
}
