//! `medsettle translate`: one message between the national dialect and the canonical schema.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use medsettle_canonical::{CHINA_OFFSET, IdentityPolicy, SettledClaim};
use medsettle_nhsa::{AnswerContext, Options, answer_for_claim};

use crate::exit::BadInput;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dialect {
    /// The national JSON interface (request, response, or exchange {"request","response"}).
    Nhsa,
    /// The canonical schema (a settled claim).
    Canonical,
}

#[derive(Args)]
pub struct TranslateArgs {
    #[arg(long, value_enum)]
    pub from: Dialect,
    #[arg(long, value_enum)]
    pub to: Dialect,
    /// Identity rules to only warn about (e.g. NHSA-ID-2 for a known provincial quirk).
    #[arg(long = "warn-only")]
    pub warn_only: Vec<String>,
    /// The transaction a lone response answers (responses do not carry their infno).
    #[arg(long)]
    pub infno: Option<String>,
    /// Longest `card|token` certificate number accepted (`mdtrt_cert_no`, a provincial shape).
    #[arg(long, default_value_t = medsettle_nhsa::MDTRT_CERT_NO_MAX_DEFAULT)]
    pub mdtrt_cert_no_max: usize,
    /// Input file; `-` or absent reads standard input.
    pub file: Option<PathBuf>,
}

fn read_input(file: &Option<PathBuf>) -> Result<Vec<u8>> {
    match file.as_deref() {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display())),
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn run(args: TranslateArgs) -> Result<()> {
    let bytes = read_input(&args.file)?;
    match (args.from, args.to) {
        (Dialect::Nhsa, Dialect::Canonical) => {
            let options = Options {
                identity_policy: IdentityPolicy {
                    warn_only: args.warn_only.clone(),
                },
                infno: args.infno.clone(),
                tolerance: medsettle_nhsa::Tolerance {
                    mdtrt_cert_no_max: args.mdtrt_cert_no_max,
                    ..medsettle_nhsa::Tolerance::default()
                },
                ..Options::default()
            };
            // The canonical JSON, with what was repaired of a provincial shape recorded.
            let decoded = medsettle_nhsa::decode(&bytes, &options)
                .map_err(|e| BadInput::new(e.to_string()))?;
            println!("{}", serde_json::to_string_pretty(&decoded.to_json())?);
        }
        (Dialect::Canonical, Dialect::Nhsa) => {
            let claim: SettledClaim = serde_json::from_slice(&bytes)
                .map_err(|e| BadInput::new(format!("not a canonical settled claim: {e}")))?;
            let report = medsettle_canonical::check_identities(
                &claim,
                &IdentityPolicy {
                    warn_only: args.warn_only.clone(),
                },
            );
            if !report.errors.is_empty() {
                bail!(BadInput::new(medsettle_canonical::describe(&report.errors)));
            }
            let t = claim.setl_time.to_offset(CHINA_OFFSET);
            let stamp = format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            let ctx = AnswerContext {
                inf_refmsgid: format!("{}{stamp}{:010}", claim.mdtrtarea_admvs, 0),
                refmsg_time: format!("{stamp}000"),
                respond_time: format!("{stamp}000"),
                person: None,
            };
            let envelope = answer_for_claim(&claim, &ctx);
            println!("{}", String::from_utf8(envelope.to_bytes())?);
        }
        (a, b) => bail!(BadInput::new(format!(
            "no translation from {a:?} to {b:?}: use nhsa↔canonical"
        ))),
    }
    Ok(())
}
