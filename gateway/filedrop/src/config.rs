//! Configuration of the file drop. Every limit and interval is a named constant here with its
//! unit; directories have no default because putting payment files in a guessed place is
//! worse than refusing to start.

use std::path::{Path, PathBuf};

use medsettle_bank::{BankProfile, DecodeLimits, Pain001Options, PaymentFileFormat};
use serde::{Deserialize, Serialize};

use crate::error::{FileDropError, rule};

/// Default for [`FileDropConfig::poll_interval_ms`]: how often the inbox (and the simulated
/// bank) look for new files, milliseconds.
pub const POLL_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// Default for [`FileDropConfig::receipt_bytes_max`]: largest receipt file read, bytes (64 MiB;
/// a million delimited rows is about 150 MiB, far beyond one bank answer in practice).
pub const RECEIPT_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;
/// Default for [`FileDropConfig::receipt_rows_max`]: most rows accepted in one receipt file.
pub const RECEIPT_ROWS_MAX_DEFAULT: usize = 1_000_000;
/// Default for [`FileDropConfig::files_per_scan_max`]: most inbox files handled by one
/// [`crate::Inbox::scan_once`], so one call's time stays bounded; the rest wait for the next.
pub const FILES_PER_SCAN_MAX_DEFAULT: usize = 1_000;
/// Name of the simulated bank's own directory when [`FileDropConfig::simulator_dir`] is unset:
/// `<parent of outbox_dir>/bank-sim`.
pub const SIMULATOR_DIR_NAME_DEFAULT: &str = "bank-sim";

/// How payment files are rendered (and how the simulated bank reads them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatConfig {
    /// ISO 20022 pain.001.001.03, file `<batch_id>.xml`.
    #[default]
    Pain001,
    /// A delimited file per a bank profile (`specs/bank/*.toml`); `profile` unset means the
    /// built-in canonical GBK profile. The file name comes from the profile's template.
    Delimited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<PathBuf>,
    },
}

/// The `[bank.filedrop]` section of the gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDropConfig {
    /// Where payment files and their `.ok` triggers are dropped for the bank.
    pub outbox_dir: PathBuf,
    /// Where the bank drops receipt files and their `.ok` triggers.
    pub inbox_dir: PathBuf,
    /// Where applied (and duplicate) receipt files are moved.
    pub archive_dir: PathBuf,
    /// Where undecodable files and conflicting files (same name, other content) are moved.
    pub rejected_dir: PathBuf,
    #[serde(default)]
    pub format: FormatConfig,
    /// `InitgPty/Nm` of pain.001 files; unset uses the debtor account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiating_party_name: Option<String>,
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_receipt_bytes")]
    pub receipt_bytes_max: usize,
    #[serde(default = "default_receipt_rows")]
    pub receipt_rows_max: usize,
    #[serde(default = "default_files_per_scan")]
    pub files_per_scan_max: usize,
    /// The simulated bank's state directory (it is the far side of the boundary, so its
    /// memory is not in the gateway's store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator_dir: Option<PathBuf>,
}

fn default_poll() -> u64 {
    POLL_INTERVAL_MS_DEFAULT
}
fn default_receipt_bytes() -> usize {
    RECEIPT_BYTES_MAX_DEFAULT
}
fn default_receipt_rows() -> usize {
    RECEIPT_ROWS_MAX_DEFAULT
}
fn default_files_per_scan() -> usize {
    FILES_PER_SCAN_MAX_DEFAULT
}

impl FileDropConfig {
    /// A configuration with every directory under `base` (`outbox`, `inbox`, `archive`,
    /// `rejected`, `bank-sim`) and default limits; handy for tests and the demo.
    pub fn under(base: &Path) -> FileDropConfig {
        FileDropConfig {
            outbox_dir: base.join("outbox"),
            inbox_dir: base.join("inbox"),
            archive_dir: base.join("archive"),
            rejected_dir: base.join("rejected"),
            format: FormatConfig::default(),
            initiating_party_name: None,
            poll_interval_ms: POLL_INTERVAL_MS_DEFAULT,
            receipt_bytes_max: RECEIPT_BYTES_MAX_DEFAULT,
            receipt_rows_max: RECEIPT_ROWS_MAX_DEFAULT,
            files_per_scan_max: FILES_PER_SCAN_MAX_DEFAULT,
            simulator_dir: Some(base.join(SIMULATOR_DIR_NAME_DEFAULT)),
        }
    }

    /// Checks limits and that the four directories are distinct.
    pub fn validate(&self) -> Result<(), FileDropError> {
        let bad = |field: &'static str, detail: &str| {
            Err(FileDropError::Config {
                field,
                rule: rule::CONFIG,
                detail: detail.to_owned(),
            })
        };
        if self.poll_interval_ms == 0 || self.poll_interval_ms > 3_600_000 {
            return bad("poll_interval_ms", "must be 1..=3600000");
        }
        if self.receipt_bytes_max < 1024 {
            return bad("receipt_bytes_max", "must be at least 1024 bytes");
        }
        if self.receipt_rows_max == 0 {
            return bad("receipt_rows_max", "must be at least 1");
        }
        if self.files_per_scan_max == 0 {
            return bad("files_per_scan_max", "must be at least 1");
        }
        let dirs = [
            &self.outbox_dir,
            &self.inbox_dir,
            &self.archive_dir,
            &self.rejected_dir,
        ];
        for (i, a) in dirs.iter().enumerate() {
            for b in &dirs[i + 1..] {
                if a == b {
                    return bad(
                        "outbox_dir/inbox_dir/archive_dir/rejected_dir",
                        "the four directories must be distinct",
                    );
                }
            }
        }
        Ok(())
    }

    /// The simulated bank's directory (see [`SIMULATOR_DIR_NAME_DEFAULT`]).
    pub fn simulator_dir(&self) -> PathBuf {
        self.simulator_dir.clone().unwrap_or_else(|| {
            self.outbox_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join(SIMULATOR_DIR_NAME_DEFAULT)
        })
    }

    /// The payment file format with its bank profile loaded.
    pub fn payment_format(&self) -> Result<PaymentFileFormat, FileDropError> {
        match &self.format {
            FormatConfig::Pain001 => Ok(PaymentFileFormat::Pain001),
            FormatConfig::Delimited { profile: None } => {
                Ok(PaymentFileFormat::Delimited(BankProfile::default_gbk()))
            }
            FormatConfig::Delimited { profile: Some(p) } => {
                let text = std::fs::read_to_string(p).map_err(|e| FileDropError::Io {
                    path: p.clone(),
                    op: "read bank profile",
                    source: e,
                })?;
                let profile = BankProfile::from_toml(&text).map_err(|e| FileDropError::Bank {
                    file: p.display().to_string(),
                    source: Box::new(e),
                })?;
                Ok(PaymentFileFormat::Delimited(profile))
            }
        }
    }

    pub(crate) fn pain001_options(&self) -> Pain001Options {
        Pain001Options {
            initiating_party_name: self.initiating_party_name.clone(),
            ..Pain001Options::default()
        }
    }

    pub(crate) fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            file_bytes_max: self.receipt_bytes_max,
            rows_max: self.receipt_rows_max,
            ..DecodeLimits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_defaults_and_refuses_unknown_keys() {
        let cfg: FileDropConfig = toml::from_str(
            "outbox_dir = \"/d/out\"\ninbox_dir = \"/d/in\"\narchive_dir = \"/d/arc\"\nrejected_dir = \"/d/rej\"\n[format]\nkind = \"delimited\"\n",
        )
        .unwrap();
        assert_eq!(cfg.poll_interval_ms, POLL_INTERVAL_MS_DEFAULT);
        assert_eq!(cfg.format, FormatConfig::Delimited { profile: None });
        assert_eq!(cfg.simulator_dir(), PathBuf::from("/d/bank-sim"));
        cfg.validate().unwrap();
        assert!(matches!(
            cfg.payment_format().unwrap(),
            PaymentFileFormat::Delimited(_)
        ));

        let typo = toml::from_str::<FileDropConfig>(
            "outbox_dir = \"a\"\ninbox_dir = \"b\"\narchive_dir = \"c\"\nrejected_dir = \"d\"\npoll_interval = 5\n",
        );
        assert!(typo.is_err());

        let mut same = FileDropConfig::under(Path::new("/x"));
        same.archive_dir = same.inbox_dir.clone();
        assert!(same.validate().is_err());
    }
}
