//! `medsettle translate`: one message between a dialect and the canonical schema — the
//! national JSON interface both ways, and the legacy provincial dialects (`legacy:<profile>`):
//! a legacy call to its national steps, and national answers back to the legacy answer.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use medsettle_canonical::{CHINA_OFFSET, IdentityPolicy, SettledClaim};
use medsettle_nhsa::{AnswerContext, Options, answer_for_claim};

use crate::exit::BadInput;

/// `nhsa`, `canonical` or `legacy:<profile>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The national JSON interface (request, response, or exchange {"request","response"}).
    Nhsa,
    /// The canonical schema: a settled claim; for a legacy call, its national steps.
    Canonical,
    /// A legacy provincial dialect by its profile (`specs/legacy.md`).
    Legacy(String),
}

fn parse_dialect(s: &str) -> std::result::Result<Dialect, String> {
    match s {
        "nhsa" => Ok(Dialect::Nhsa),
        "canonical" => Ok(Dialect::Canonical),
        _ => match s.strip_prefix("legacy:") {
            Some(name) if medsettle_legacy::Profile::builtin(name).is_some() => {
                Ok(Dialect::Legacy(name.to_owned()))
            }
            _ => Err(format!(
                "`{s}` is not nhsa, canonical or legacy:<profile> (profiles: {})",
                medsettle_legacy::Profile::builtin_names().join(", ")
            )),
        },
    }
}

#[derive(Args)]
pub struct TranslateArgs {
    /// `nhsa`, `canonical` or `legacy:<profile>`.
    #[arg(long, value_parser = parse_dialect)]
    pub from: Dialect,
    /// `nhsa`, `canonical` or `legacy:<profile>`.
    #[arg(long, value_parser = parse_dialect)]
    pub to: Dialect,
    /// The legacy transaction (the path's `<transaction>`), for `legacy:<profile>`.
    #[arg(long)]
    pub transaction: Option<String>,
    /// A legacy call argument `Name=value` (the DLL's parameters, e.g. SenderSerialNo=…).
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// For `--to legacy:<profile>`: the legacy request the national answers answer.
    #[arg(long)]
    pub request: Option<PathBuf>,
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
    match (&args.from, &args.to) {
        (Dialect::Legacy(name), Dialect::Canonical) => {
            let (_, call) = legacy_call(name, &args, &bytes)?;
            println!("{}", serde_json::to_string_pretty(&call)?);
        }
        (Dialect::Canonical | Dialect::Nhsa, Dialect::Legacy(name)) => {
            let request = args.request.as_ref().ok_or_else(|| {
                BadInput::new("--to legacy:<profile> needs --request: the legacy call answered")
            })?;
            let request =
                std::fs::read(request).with_context(|| format!("reading {}", request.display()))?;
            let (profile, call) = legacy_call(name, &args, &request)?;
            let outputs = national_outputs(&bytes)?;
            let answer = medsettle_legacy::encode_answer(&profile, &call, &outputs)
                .map_err(|e| BadInput::new(e.to_string()))?;
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(&answer.body)?;
            out.flush()?;
            eprintln!("appcode {} {}", answer.appcode, answer.appmsg);
        }
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
            "no translation from {a:?} to {b:?}: use nhsa↔canonical, legacy:<profile> → canonical or canonical → legacy:<profile>"
        ))),
    }
    Ok(())
}

/// The legacy call in `bytes`, read with the built-in profile `name`.
fn legacy_call(
    name: &str,
    args: &TranslateArgs,
    bytes: &[u8],
) -> Result<(medsettle_legacy::Profile, medsettle_legacy::LegacyCall)> {
    let profile = medsettle_legacy::Profile::builtin(name)
        .ok_or_else(|| BadInput::new(format!("no legacy profile `{name}`")))?;
    let transaction = args
        .transaction
        .as_deref()
        .ok_or_else(|| BadInput::new("legacy:<profile> needs --transaction (e.g. 41)"))?;
    let call_args = args
        .args
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| BadInput::new(format!("--arg `{a}` is not NAME=VALUE")))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let call = medsettle_legacy::decode_call(
        &profile,
        transaction,
        &call_args,
        bytes,
        &medsettle_legacy::Limits::default(),
    )
    .map_err(|e| BadInput::new(e.to_string()))?;
    Ok((profile, call))
}

/// The national `output` of each step: a JSON array of answer envelopes (or of outputs).
fn national_outputs(bytes: &[u8]) -> Result<Vec<serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| BadInput::new(format!("national answers: not JSON: {e}")))?;
    let items = match v {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    Ok(items
        .into_iter()
        .map(|a| match a.get("output") {
            Some(out) if a.get("infcode").is_some() => out.clone(),
            _ => a,
        })
        .collect())
}
