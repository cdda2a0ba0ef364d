//! The trigger (`.ok`) file written after a payment file (bank-files.md §4): the bank picks a
//! data file up only when its trigger exists and the size, hash and totals match, so a
//! half-written or half-uploaded file is never processed.
//!
//! Format (ASCII, LF, fixed key order, so rendering is deterministic):
//! ```text
//! file_name=YBBF_440300_20250102_0001.txt
//! size_bytes=1234
//! sha256=<64 lowercase hex>
//! count=3
//! control_sum=1234.56
//! ```

use medsettle_canonical::Money;
use sha2::{Digest, Sha256};

use crate::error::{BankError, rule};

/// Largest trigger file we parse; a real one is about 200 bytes.
pub const TRIGGER_BYTES_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerFile {
    pub file_name: String,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the data file.
    pub sha256: String,
    pub count: u64,
    pub control_sum: Money,
}

impl TriggerFile {
    /// The trigger for `data` (the exact bytes written) named `file_name`.
    pub fn for_file(file_name: &str, data: &[u8], count: u64, control_sum: Money) -> TriggerFile {
        TriggerFile {
            file_name: file_name.to_owned(),
            size_bytes: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
            count,
            control_sum,
        }
    }

    /// Whether `data` is the file this trigger announces (size and hash).
    pub fn matches(&self, data: &[u8]) -> bool {
        self.size_bytes == data.len() as u64 && self.sha256 == hex::encode(Sha256::digest(data))
    }

    /// `<file_name>.ok`
    pub fn trigger_name(&self) -> String {
        format!("{}.ok", self.file_name)
    }
}

fn bad(detail: impl Into<String>, line: usize) -> BankError {
    BankError::malformed(
        "(trigger)",
        format!("line {line}"),
        rule::TRIGGER_FORMAT,
        detail,
    )
}

/// Render the trigger deterministically. The file name must be a plain name.
pub fn render(t: &TriggerFile) -> Result<Vec<u8>, BankError> {
    if t.file_name.is_empty()
        || t.file_name.len() > 255
        || !t.file_name.is_ascii()
        || t.file_name.contains(['/', '\\', '\n', '\r', '='])
        || t.file_name.chars().any(|c| c.is_ascii_control())
    {
        return Err(BankError::batch(
            &t.file_name,
            "trigger file_name",
            rule::TRIGGER_FORMAT,
            "file name must be 1..=255 printable ASCII characters without path separators or '='",
        ));
    }
    if t.sha256.len() != 64
        || !t
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(BankError::batch(
            &t.file_name,
            "trigger sha256",
            rule::TRIGGER_FORMAT,
            "sha256 must be 64 lowercase hex digits",
        ));
    }
    if t.control_sum.is_negative() {
        return Err(BankError::batch(
            &t.file_name,
            "trigger control_sum",
            rule::AMOUNT_POSITIVE,
            "control sum is negative",
        ));
    }
    Ok(format!(
        "file_name={}\nsize_bytes={}\nsha256={}\ncount={}\ncontrol_sum={}\n",
        t.file_name,
        t.size_bytes,
        t.sha256,
        t.count,
        t.control_sum.to_yuan_string()
    )
    .into_bytes())
}

/// Parse a trigger written by [`render`]: exact keys, in order, nothing else.
pub fn parse(bytes: &[u8]) -> Result<TriggerFile, BankError> {
    if bytes.len() > TRIGGER_BYTES_MAX {
        return Err(BankError::LimitExceeded {
            file: "(trigger)".into(),
            limit: "trigger_bytes_max",
            actual: bytes.len() as u64,
            max: TRIGGER_BYTES_MAX as u64,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| BankError::BadEncoding {
        file: "(trigger)".into(),
        location: format!("byte {}", e.valid_up_to()),
        encoding: "UTF-8",
    })?;
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| bad("must end with a line feed (truncated?)", 0))?;
    let lines: Vec<&str> = body.split('\n').collect();
    const KEYS: [&str; 5] = ["file_name", "size_bytes", "sha256", "count", "control_sum"];
    if lines.len() != KEYS.len() {
        return Err(bad(
            format!("expected {} lines, found {}", KEYS.len(), lines.len()),
            lines.len(),
        ));
    }
    let mut values = [""; 5];
    for (i, (line, key)) in lines.iter().zip(KEYS).enumerate() {
        values[i] = line
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .ok_or_else(|| bad(format!("expected `{key}=`"), i + 1))?;
    }
    let num = |i: usize| -> Result<u64, BankError> {
        let v = values[i];
        if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("{} {v:?} is not a number", KEYS[i]), i + 1));
        }
        v.parse()
            .map_err(|_| bad(format!("{} out of range", KEYS[i]), i + 1))
    };
    let t = TriggerFile {
        file_name: values[0].to_owned(),
        size_bytes: num(1)?,
        sha256: values[2].to_owned(),
        count: num(3)?,
        control_sum: crate::common::parse_amount(values[4])
            .ok_or_else(|| bad("control_sum is not an exact amount", 5))?,
    };
    // Re-render to apply the same field rules as writing (and prove the round trip).
    let again = render(&t).map_err(|e| bad(e.to_string(), 0))?;
    if again != bytes {
        return Err(bad(
            "not in canonical form (e.g. control_sum must have exactly two decimals)",
            0,
        ));
    }
    Ok(t)
}
