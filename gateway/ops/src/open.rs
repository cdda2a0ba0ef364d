//! Opening what a configuration names: the journal, the embedded core, the instant-settlement
//! engine, the working-day calendar and the bank file drop. The gateway opens them once at
//! start; an operator command with no gateway running opens them itself.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use medsettle_core::{Catalogue, Core, PersonRegistry, PolicyBook};
use medsettle_engine::{Engine, EngineConfig};
use medsettle_filedrop::{FileDropConfig, FormatConfig};
use medsettle_service::PersonIndex;
use medsettle_settlement::{Calendar, SettlementPolicy};
use medsettle_store::{SledStore, Store};
use time::Date;

use crate::config::{Config, read};
use crate::error::BadInput;

/// Default warning window for the calendar's end (`[settlement] calendar_warn_days`, `medsettle
/// calendar coverage --warn-days`): 60 days. The State Council publishes the next year's
/// holidays in November; 60 days before 31 December leaves the operator a month after that.
pub const CALENDAR_WARN_DAYS_DEFAULT: u32 = 60;

/// Open the journal of `config`, saying clearly when another process holds it.
pub fn open_store(config: &Config) -> Result<Arc<SledStore>> {
    let dir = config.journal_dir();
    SledStore::open(&dir, config.store.clone())
        .map(Arc::new)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the journal at {}: {e} (is another medsettle process using it? A \
                 running `serve` writes {} so that operator commands reach it instead)",
                dir.display(),
                config.gateway_file().display()
            )
        })
}

/// The embedded core and person index from the configured files.
pub fn load_core(config: &Config) -> Result<(Core, PersonIndex)> {
    let bad = |what: &std::path::Path, e: medsettle_core::CoreRefusal| {
        anyhow::Error::from(BadInput::new(format!("{}: {e}", what.display())))
    };
    let policy = PolicyBook::from_toml_str(&read(&config.core.policy)?)
        .map_err(|e| bad(&config.core.policy, e))?;
    let catalogue = Catalogue::from_toml_str(&read(&config.core.catalogue)?)
        .map_err(|e| bad(&config.core.catalogue, e))?;
    let persons = PersonRegistry::from_toml_str(&read(&config.core.persons)?)
        .map_err(|e| bad(&config.core.persons, e))?;
    Ok((Core::new(policy, catalogue), PersonIndex::new(&persons)))
}

/// The instant-settlement engine of the configured pool region.
pub fn build_engine(config: &Config) -> Result<Engine> {
    let policy = SettlementPolicy::from_toml_str(&read(&config.settlement.policy)?)
        .map_err(|e| BadInput::new(format!("{}: {e}", config.settlement.policy.display())))?;
    let calendar = load_calendar(&config.settlement.calendar)?;
    Ok(Engine::new(EngineConfig::new(
        policy,
        calendar,
        config.institutions()?,
        config.settlement.debtor.clone(),
    )))
}

/// Load the calendar: operator files when given (one per year, as in specs/calendar/),
/// otherwise the embedded one.
pub fn load_calendar(files: &[PathBuf]) -> Result<Calendar> {
    if files.is_empty() {
        return Ok(Calendar::embedded());
    }
    let texts = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("reading calendar {}", f.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Calendar::from_toml_strs(&refs)
        .map_err(|e| BadInput::new(format!("calendar files: {e}")).into())
}

/// Today's date in China, the date the gateway's settlement days are counted in.
pub fn today_in_china() -> Date {
    time::OffsetDateTime::now_utc()
        .to_offset(medsettle_canonical::CHINA_OFFSET)
        .date()
}

/// The file drop under `data/bank`, in the configured payment format.
pub fn filedrop_config(config: &Config) -> Result<FileDropConfig> {
    let mut cfg = FileDropConfig::under(&config.bank_dir());
    cfg.format = match config.bank.format.as_deref().unwrap_or("pain001") {
        "pain001" => FormatConfig::Pain001,
        "gbk" => FormatConfig::Delimited {
            profile: config.bank.profile.clone(),
        },
        other => anyhow::bail!(BadInput::new(format!(
            "bank.format: `{other}` is not pain001 or gbk"
        ))),
    };
    cfg.validate()
        .map_err(|e| BadInput::new(format!("bank: {e}")))?;
    Ok(cfg)
}
