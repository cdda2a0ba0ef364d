//! `medsettle demo`: the main job on the embedded default, end to end.
//!
//! 1. `init` a directory (the sample pool region 440300: four institutions, 200 insured
//!    persons, a benefit policy, a catalogue, a development CA and client certificates);
//! 2. start the real gateway (`medsettle serve`) as a child process;
//! 3. four hospitals send realistic HIS traffic over mutual TLS — registrations, fee uploads,
//!    pre-settlements, settlements, admissions and discharges, and some reversals;
//! 4. stop the gateway gracefully and summarize what the journal holds.
//!
//! `--dir DIR` keeps everything under DIR (its `medsettle.toml` then works with every
//! operator command); without it a fresh directory is made and its path printed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medsettle_canonical::{ClaimKind, ExchangeRecord, Money};
use medsettle_client::his::{self, EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender};
use medsettle_client::legacy;
use medsettle_client::traffic::Draw;
use medsettle_ops::open::{CALENDAR_WARN_DAYS_DEFAULT, build_engine, today_in_china};
use medsettle_store::Store;

use crate::exit::BadInput;

#[derive(Args)]
pub struct DemoArgs {
    /// Keep everything under DIR (created if missing; reused if it has a medsettle.toml).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Visits per institution.
    #[arg(long, default_value_t = 150)]
    pub visits: u32,
    /// Seed of the traffic generator (same seed, same traffic).
    #[arg(long, default_value_t = 20261122)]
    pub seed: u64,
}

/// The gateway as a child process; SIGTERM on drop if still running.
struct ChildGateway {
    child: Child,
    addr: std::net::SocketAddr,
}

impl ChildGateway {
    fn start(config: &Path) -> Result<ChildGateway> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("MEDSETTLE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting medsettle serve")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on https://")
            .ok_or_else(|| anyhow!("the gateway did not start: {line:?}"))?
            .parse()?;
        Ok(ChildGateway { child, addr })
    }

    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "the gateway exited with {status}");
        Ok(())
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Outpatient line sets (catalogue code, units, unit price in fen) the generator draws from.
const OUTPATIENT: &[(&str, u32, i64)] = &[
    ("DIAG001", 1, 2_000),
    ("GEN001", 1, 1_000),
    ("WM001", 2, 1_850),
    ("WM002", 3, 3_350),
    ("CPM001", 2, 2_780),
    ("LAB001", 1, 2_500),
    ("LAB002", 1, 6_800),
    ("EXAM002", 1, 18_000),
    ("REG001", 1, 1_200),
    ("XYZ999", 1, 4_500), // not in the catalogue: self-pay with a warning
];

const INPATIENT: &[(&str, u32, i64)] = &[
    ("BED001", 6, 6_000),
    ("NUR001", 6, 3_200),
    ("TRT001", 8, 4_500),
    ("MAT001", 12, 1_800),
    ("EXAM001", 1, 32_000),
    ("OPR001", 1, 350_000),
    ("TCM001", 5, 2_640),
    ("WM002", 10, 3_350),
];

fn pick(rng: &mut Draw, table: &[(&str, u32, i64)], n: usize) -> Vec<FeeLine> {
    let mut idx: Vec<usize> = (0..table.len()).collect();
    for i in (1..idx.len()).rev() {
        idx.swap(i, rng.within(0..=i));
    }
    idx.into_iter()
        .take(n)
        .map(|i| FeeLine {
            med_list_codg: table[i].0.to_owned(),
            units: table[i].1,
            pric_fen: table[i].2,
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    requests: u64,
    refused: u64,
    /// Visits settled in the Guizhou legacy dialect (48 + confirm).
    legacy: u64,
}

/// One outpatient visit in `LEGACY_SHARE` is sent as a Guizhou HIS sends it (GBK XML, 48 then
/// confirm): the day's batch mixes both dialects.
const LEGACY_SHARE: usize = 4;

async fn hospital(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    sender: Sender,
    persons: Arc<Vec<Insured>>,
    visits: u32,
    seed: u64,
    bar: ProgressBar,
) -> Result<Tally> {
    let mut rng = Draw::new(seed);
    let mut conn = HisConnection::connect(addr, tls).await?;
    let now = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    let base = time::PrimitiveDateTime::new(now.date(), now.time().replace_nanosecond(0)?);
    let mut b = EnvelopeBuilder::new(sender, base);
    let mut tally = Tally::default();
    for v in 0..u64::from(visits) {
        let p = &persons[rng.within(0..persons.len())];
        let inpatient = rng.within(0..10) == 0;
        let result = if inpatient {
            let n = rng.within(4..=INPATIENT.len());
            let lines = pick(&mut rng, INPATIENT, n);
            tally.requests += 6;
            his::inpatient_stay(&mut conn, &mut b, p, &lines, seed * 100_000 + v)
                .await
                .map(Some)
        } else if rng.within(0..LEGACY_SHARE) == 0 {
            let n = rng.within(1..=4);
            let lines = pick(&mut rng, OUTPATIENT, n);
            tally.requests += 2;
            let now = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
            let when = format!(
                "{} {:02}:{:02}:{:02}",
                now.date(),
                now.hour(),
                now.minute(),
                now.second()
            );
            // Settled provisionally, then confirmed as the HIS's own database has it.
            let r =
                match legacy::guizhou_outpatient(&mut conn, p, &lines, seed * 100_000 + v, &when)
                    .await
                {
                    Ok(s) => legacy::guizhou_confirm(&mut conn, &s.jylsh, &s.jyyzm)
                        .await?
                        .ok("confirm")
                        .map(|_| None),
                    Err(e) => Err(e),
                };
            tally.legacy += u64::from(r.is_ok());
            r
        } else {
            let n = rng.within(1..=4);
            let lines = pick(&mut rng, OUTPATIENT, n);
            tally.requests += 5;
            his::outpatient_visit(&mut conn, &mut b, p, &lines, seed * 100_000 + v)
                .await
                .map(Some)
        };
        match result {
            Ok(Some(settled)) if rng.within(0..20) == 0 => {
                tally.requests += 1;
                his::reverse(&mut conn, &mut b, p, &settled, inpatient).await?;
            }
            Ok(_) => {}
            Err(e) => {
                // A business refusal (e.g. a resident's account use) is part of real traffic.
                tally.refused += 1;
                bar.println(format!("  refused: {e}"));
            }
        }
        bar.inc(1);
    }
    Ok(tally)
}

pub fn run(args: DemoArgs) -> Result<()> {
    let dir = match args.dir {
        Some(d) => d,
        None => {
            let d = std::env::temp_dir().join(format!("medsettle-demo-{}", std::process::id()));
            println!("demo directory: {}", d.display());
            d
        }
    };
    let config_path = dir.join(medsettle_ops::init::CONFIG_FILE);
    if !config_path.exists() {
        medsettle_ops::init::run(&dir, "127.0.0.1:8443", false)?;
        println!("initialised {} (sample pool region 440300)", dir.display());
    }
    let config = medsettle_ops::config::load(&config_path)?;
    let institutions = config.institutions()?;
    let persons = Arc::new(his::insured_from_registry(&medsettle_ops::config::read(
        &config.core.persons,
    )?)?);
    // The demo settles claims today and closes the day at step 4: refuse at once, before any
    // traffic, if the engine cannot date that payment (the same computation step 4 makes).
    let today = today_in_china();
    let engine = build_engine(&config)?;
    if let Err(e) = engine.pay_date_for(today) {
        let coverage = engine
            .config()
            .calendar
            .coverage_on(today, CALENDAR_WARN_DAYS_DEFAULT);
        return Err(BadInput::new(format!(
            "the demo pays today's ({today}) claims on their payment date, which cannot be \
             computed: [{}] {e}; {coverage}",
            e.rule()
        ))
        .into());
    }
    drop(engine);

    println!("step 1/6  starting the gateway (medsettle serve, mutual TLS, fsync journal)");
    let gateway = ChildGateway::start(&config_path)?;
    println!("          listening on https://{}", gateway.addr);

    let total = u64::from(args.visits) * institutions.len() as u64;
    println!(
        "step 2/6  {} hospitals send {total} visits of HIS traffic",
        institutions.len()
    );
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("          {bar:40} {pos}/{len} visits {elapsed}")
            .expect("template"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let tallies = runtime.block_on(async {
        let mut tasks = Vec::new();
        for (n, inst) in institutions.iter().enumerate() {
            let cert = dir.join(format!("certs/clients/{}.pem", inst.fixmedins_code));
            let key = dir.join(format!("certs/clients/{}.key", inst.fixmedins_code));
            let tls = his::client_tls(&dir.join("certs/ca.pem"), &cert, &key)?;
            let sender = Sender {
                fixmedins_code: inst.fixmedins_code.clone(),
                fixmedins_name: inst.fixmedins_name.clone(),
                mdtrtarea_admvs: inst.admdvs.to_string(),
            };
            tasks.push(tokio::spawn(hospital(
                gateway.addr,
                tls,
                sender,
                persons.clone(),
                args.visits,
                args.seed + n as u64,
                bar.clone(),
            )));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await??);
        }
        anyhow::Ok(out)
    })?;
    bar.finish();
    gateway.stop()?;
    let requests: u64 = tallies.iter().map(|t| t.requests).sum();
    let refused: u64 = tallies.iter().map(|t| t.refused).sum();
    let legacy_visits: u64 = tallies.iter().map(|t| t.legacy).sum();
    println!(
        "          {requests} requests answered ({legacy_visits} visits in the Guizhou legacy dialect, GBK XML; {refused} visits refused by policy); gateway stopped cleanly"
    );

    println!("step 3/6  what the journal holds");
    print_journal_summary(&config)?;
    settle_and_pay(&config)?;
    println!("\nEverything is under {} — try:", dir.display());
    for cmd in ["journal stats", "settle status", "bank status"] {
        println!("  medsettle {cmd} --config {}", config_path.display());
    }
    Ok(())
}

/// Steps 4–6: close the day, drop the payment file, let the simulated bank answer, ingest.
fn settle_and_pay(config: &medsettle_ops::Config) -> Result<()> {
    let store = medsettle_ops::open::open_store(config)?;
    let engine = build_engine(config)?;
    let today = today_in_china();
    let pay_date = engine
        .pay_date_for(today)
        .map_err(|e| anyhow!("[{}] {e}", e.rule()))?;
    println!(
        "\nstep 4/6  close the day: claims settled {today} are paid on {pay_date} (T+1 working day)"
    );
    let exported = medsettle_ops::bank::export(config, &engine, store.as_ref(), pay_date)?;
    crate::exit::print(&medsettle_ops::bank::export_text(&exported))?;
    println!(
        "\nstep 5/6  the bank answers (simulated): one payment paid, one failed (closed account), one pending"
    );
    let close = &exported.day.close;
    let mut plan = medsettle_bank::simulator::OutcomePlan::all_paid(7);
    use medsettle_bank::simulator::{FailReason, Outcome};
    let ids: Vec<&str> = close
        .batch
        .payments
        .iter()
        .map(|p| p.payment_id.as_str())
        .collect();
    if let Some(id) = ids.get(1) {
        plan.overrides
            .insert((*id).to_owned(), Outcome::Failed(FailReason::ClosedAccount));
    }
    if let Some(id) = ids.get(2) {
        plan.overrides.insert((*id).to_owned(), Outcome::Pending);
    }
    let fd = medsettle_ops::open::filedrop_config(config)?;
    let sim = medsettle_filedrop::simulate_pass(&fd, &plan)?;
    for f in &sim.receipts_written {
        println!("          receipt {}", fd.inbox_dir.join(f).display());
    }
    println!(
        "\nstep 6/6  receipts ingested (each file once; only a receipt proves payment, IS-D-7)"
    );
    let report = medsettle_ops::bank::ingest(config, &engine, store.as_ref(), None)?;
    crate::exit::print(&medsettle_ops::bank::ingest_text(&report))?;
    let mut last: std::collections::BTreeMap<&str, &medsettle_canonical::Receipt> =
        Default::default();
    for r in &report.receipts_applied {
        last.insert(r.payment_id.as_str(), r);
    }
    println!("\n          the day's payments ({pay_date}):");
    println!(
        "          {:<14} {:>14} {:<9} bank says",
        "institution", "amount", "status"
    );
    for p in &close.batch.payments {
        let (status, why) = match last.get(p.payment_id.as_str()) {
            Some(r) => (
                format!("{:?}", r.status).to_lowercase(),
                r.reason.as_ref().map_or(String::new(), |x| {
                    format!("{} {}", x.iso_code.clone().unwrap_or_default(), x.text)
                }),
            ),
            None => ("sent".into(), String::new()),
        };
        println!(
            "          {:<14} {:>14} {:<9} {why}",
            p.payee_code,
            p.amount.to_string(),
            status
        );
    }
    println!(
        "          payment file {}",
        exported.drop.file_path.display()
    );
    println!("          reports      {}", config.reports_dir().display());
    Ok(())
}

/// Per institution: settled claims, reversals, and the amounts, read back from the journal.
fn print_journal_summary(config: &medsettle_ops::Config) -> Result<()> {
    let store = medsettle_ops::open::open_store(config)?;
    #[derive(Default)]
    struct Row {
        claims: u64,
        reversals: u64,
        medfee: Money,
        fund: Money,
        person: Money,
    }
    let mut rows: std::collections::BTreeMap<String, Row> = Default::default();
    for item in store.export(0) {
        let (_, r) = item?;
        if r.kind != medsettle_canonical::journal::KIND_SETTLEMENT {
            continue;
        }
        let rec: ExchangeRecord = serde_json::from_slice(&r.payload)?;
        let Some(claim) = rec.claim else { continue };
        let row = rows.entry(claim.fixmedins_code.clone()).or_default();
        match claim.kind {
            ClaimKind::Settlement => row.claims += 1,
            ClaimKind::Reversal => row.reversals += 1,
        }
        row.medfee += claim.amounts.medfee_sumamt;
        row.fund += claim.amounts.fund_pay_sumamt;
        row.person += claim.amounts.psn_part_amt;
    }
    println!(
        "          {:<14} {:>7} {:>9} {:>16} {:>16} {:>16}",
        "institution", "claims", "reversals", "medical fees", "fund pays", "persons pay"
    );
    for (code, r) in &rows {
        println!(
            "          {code:<14} {:>7} {:>9} {:>16} {:>16} {:>16}",
            r.claims,
            r.reversals,
            r.medfee.to_string(),
            r.fund.to_string(),
            r.person.to_string()
        );
    }
    let stats = store.stats()?;
    println!(
        "          journal: {} records, last offset {}, no corrupt records: {}",
        stats.record_count,
        stats.last_offset.map_or("-".into(), |o| o.to_string()),
        stats.corrupt_offsets.is_empty()
    );
    Ok(())
}
