//! A HIS vendor running the certification scenarios (`specs/certification.md`) against a
//! gateway with a session open for its institution — well-behaved, as a certified HIS must
//! be, or sloppy on purpose (the tests check that the session's report fails exactly what the
//! sloppy one does wrong):
//!
//! - **well-behaved**: a lost answer or a 503 is followed by the same request again; a
//!   settlement that times out is reversed with 2601; a business refusal is shown and not
//!   retried; `inf_time` is the HIS's clock; every request has its own msgid;
//! - **sloppy**: sends `inf_time` an hour off, reuses a msgid for another request, never
//!   reverses after a timeout, and sends a refused settlement again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use medsettle_certify::Scenario;
use serde_json::{Value, json};

use crate::his::{
    EnvelopeBuilder, FeeLine, HisConnection, Insured, Sender, expect_success,
    outpatient_until_settlement, yuan_number,
};

/// How the vendor's HIS behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manner {
    WellBehaved,
    Sloppy,
}

/// A vendor's HIS: where it connects, as whom, how it behaves.
pub struct Vendor {
    pub addr: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    pub sender: Sender,
    pub manner: Manner,
    /// How long the HIS waits for an answer before it gives up on it.
    pub answer_timeout: Duration,
}

/// How far the sloppy HIS's clock is off.
const SLOPPY_CLOCK_OFFSET: time::Duration = time::Duration::hours(1);

impl Vendor {
    /// The HIS's envelope builder (its msgid sequence): one per HIS, kept across scenarios.
    pub fn builder(&self) -> EnvelopeBuilder {
        let now = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
        let base = time::PrimitiveDateTime::new(
            now.date(),
            now.time().replace_nanosecond(0).unwrap_or(now.time()),
        );
        EnvelopeBuilder::new(self.sender.clone(), base)
    }

    async fn connect(&self) -> Result<HisConnection> {
        HisConnection::connect(self.addr, self.tls.clone()).await
    }

    /// `inf_time` as this HIS's clock says (an hour off for the sloppy one).
    fn stamp(&self, mut env: Value) -> Value {
        if self.manner == Manner::Sloppy
            && let Some(t) = env["inf_time"].as_str()
            && let Ok(parsed) = time::PrimitiveDateTime::parse(
                t,
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
            )
        {
            let off = parsed + SLOPPY_CLOCK_OFFSET;
            env["inf_time"] = json!(crate::his::datetime_text(off));
        }
        env
    }

    async fn call(&self, conn: &mut HisConnection, env: &Value) -> Result<(u16, Value)> {
        conn.call(&self.stamp(env.clone())).await
    }
}

/// Run `scenario` as this vendor's HIS would, for person `p`, its msgids from `b`.
pub async fn run(
    vendor: &Vendor,
    b: &mut EnvelopeBuilder,
    scenario: Scenario,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<()> {
    let mut conn = vendor.connect().await?;
    match scenario {
        Scenario::OutpatientAccount
        | Scenario::LostAnswer
        | Scenario::Unavailable
        | Scenario::TimeoutReverse
        | Scenario::RefusalNotRetried => {
            let (_, settle) = prepared(vendor, &mut conn, b, p, lines, visit_no).await?;
            settle_with_fault(vendor, &mut conn, b, p, &settle, scenario).await?;
        }
        Scenario::FeesCancelSettle => {
            fees_cancel_settle(vendor, &mut conn, b, p, lines, visit_no).await?
        }
        Scenario::LegacyTwoPhase => {
            let when = now_text();
            let settled =
                crate::legacy::guizhou_outpatient(&mut conn, p, lines, visit_no, &when).await?;
            crate::legacy::guizhou_confirm(&mut conn, &settled.jylsh, &settled.jyyzm)
                .await?
                .ok("confirm")?;
        }
        Scenario::InpatientAcrossMidnight => {
            across_midnight(vendor, &mut conn, b, p, lines, visit_no).await?
        }
    }
    if vendor.manner == Manner::Sloppy {
        // Reuses a msgid: a second person query under the first one's msgid.
        let query =
            |b: &mut EnvelopeBuilder, cert_type: &str| {
                b.envelope("1101", &p.insuplc_admdvs, json!({"data": {
                "mdtrt_cert_type": cert_type, "mdtrt_cert_no": p.certno, "psn_cert_type": "01"
            }}))
            };
        let first = query(b, "02");
        vendor.call(&mut conn, &first).await?;
        let mut reused = query(b, "01");
        reused["msgid"] = first["msgid"].clone();
        vendor.call(&mut conn, &reused).await?;
    }
    Ok(())
}

/// 1101 → 2201 → 2204 → 2206 with this vendor's clock; the settlement returned unsent.
async fn prepared(
    vendor: &Vendor,
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<(String, Value)> {
    if vendor.manner == Manner::WellBehaved {
        return outpatient_until_settlement(conn, b, p, lines, visit_no).await;
    }
    // The sloppy HIS's clock: the same requests, inf_time an hour off.
    let mut clocked = ClockedConnection { vendor, conn };
    clocked.outpatient(b, p, lines, visit_no).await
}

/// Requests sent through [`Vendor::call`]: with this HIS's clock (an hour off when sloppy).
struct ClockedConnection<'a> {
    vendor: &'a Vendor,
    conn: &'a mut HisConnection,
}

impl ClockedConnection<'_> {
    async fn ok(&mut self, env: &Value, what: &str) -> Result<Value> {
        let (s, a) = self.vendor.call(self.conn, env).await?;
        expect_success(s, &a, what)
    }

    async fn outpatient(
        &mut self,
        b: &mut EnvelopeBuilder,
        p: &Insured,
        lines: &[FeeLine],
        visit_no: u64,
    ) -> Result<(String, Value)> {
        let when = now_text();
        let reg = b.envelope("2201", &p.insuplc_admdvs, json!({"data": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "ipt_otp_no": format!("MZC{visit_no:08}"), "atddr_no": "D0001", "dr_name": "门诊医生",
            "dept_code": "0301", "dept_name": "内科", "caty": "03"
        }}));
        let out = self.ok(&reg, "2201").await?;
        let mdtrt_id = out["data"]["mdtrt_id"]
            .as_str()
            .ok_or_else(|| anyhow!("2201 without mdtrt_id"))?
            .to_owned();
        let fees = b.envelope(
            "2204",
            &p.insuplc_admdvs,
            json!({"feedetail": fee_lines(&mdtrt_id, p, lines, "CB1", &when)}),
        );
        self.ok(&fees, "2204").await?;
        let settle = b.envelope(
            "2207",
            &p.insuplc_admdvs,
            json!({"data": settle_data(&mdtrt_id, p, lines, "CB1")}),
        );
        Ok((mdtrt_id, settle))
    }
}

fn now_text() -> String {
    let t = time::OffsetDateTime::now_utc().to_offset(medsettle_canonical::CHINA_OFFSET);
    crate::his::datetime_text(time::PrimitiveDateTime::new(t.date(), t.time()))
}

fn fee_lines(
    mdtrt_id: &str,
    p: &Insured,
    lines: &[FeeLine],
    batch: &str,
    when: &str,
) -> Vec<Value> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| json!({
            "feedetl_sn": format!("{batch}-{:04}", i + 1), "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
            "chrg_bchno": batch, "rx_circ_flag": "0", "fee_ocur_time": when,
            "med_list_codg": l.med_list_codg, "medins_list_codg": format!("H{}", l.med_list_codg),
            "det_item_fee_sumamt": yuan_number(l.amount_fen()),
            "cnt": l.units, "pric": yuan_number(l.pric_fen),
            "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001",
            "bilg_dr_name": "门诊医生", "hosp_appr_flag": "1"
        }))
        .collect()
}

fn settle_data(mdtrt_id: &str, p: &Insured, lines: &[FeeLine], batch: &str) -> Value {
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    json!({
        "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "med_type": "11",
        "medfee_sumamt": yuan_number(total), "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": batch, "acct_used_flag": "1", "insutype": p.insutype
    })
}

/// Send the settlement and react to what the scenario's fault does to it.
async fn settle_with_fault(
    vendor: &Vendor,
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    settle: &Value,
    scenario: Scenario,
) -> Result<()> {
    let sent = vendor.stamp(settle.clone());
    let msgid = sent["msgid"].as_str().unwrap_or_default().to_owned();
    let first = tokio::time::timeout(vendor.answer_timeout, conn.call(&sent)).await;
    match first {
        // The answer never came (the connection ended, or the wait ran out).
        Ok(Err(_)) | Err(_) => {
            *conn = vendor.connect().await?;
            match (scenario, vendor.manner) {
                (Scenario::TimeoutReverse, Manner::Sloppy) => Ok(()),
                (Scenario::TimeoutReverse, Manner::WellBehaved) => {
                    let reverse = b.envelope(
                        "2601",
                        &p.insuplc_admdvs,
                        json!({"data": {
                            "psn_no": p.psn_no, "omsgid": msgid, "oinfno": "2207"
                        }}),
                    );
                    let (s, a) = vendor.call(conn, &reverse).await?;
                    expect_success(s, &a, "2601").map(|_| ())
                }
                // The answer was lost: the same request again (idempotent by msgid).
                _ => {
                    let (s, a) = conn.call(&sent).await?;
                    expect_success(s, &a, "2207 again").map(|_| ())
                }
            }
        }
        Ok(Ok((503, _))) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (s, a) = conn.call(&sent).await?;
            expect_success(s, &a, "2207 after 503").map(|_| ())
        }
        Ok(Ok((s, a))) => match expect_success(s, &a, "2207") {
            Ok(_) => Ok(()),
            // A business refusal: the cashier sees it; only the sloppy HIS sends it again.
            Err(refusal) if vendor.manner == Manner::Sloppy => {
                let (s, a) = conn.call(&sent).await?;
                let _ = expect_success(s, &a, "2207 retried");
                let _ = refusal;
                Ok(())
            }
            Err(refusal) if scenario == Scenario::RefusalNotRetried => {
                let _ = refusal;
                Ok(())
            }
            Err(e) => Err(e),
        },
    }
}

/// 2201; fees in two batches (2204 each); the second cancelled (2205); the first settled.
async fn fees_cancel_settle(
    vendor: &Vendor,
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
) -> Result<()> {
    if lines.len() < 2 {
        bail!("fees-cancel-settle needs two fee lines");
    }
    let when = now_text();
    let mut s = ClockedConnection { vendor, conn };
    let reg = b.envelope(
        "2201",
        &p.insuplc_admdvs,
        json!({"data": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": when,
            "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
            "ipt_otp_no": format!("MZF{visit_no:08}"), "atddr_no": "D0001", "dr_name": "门诊医生",
            "dept_code": "0301", "dept_name": "内科", "caty": "03"
        }}),
    );
    let out = s.ok(&reg, "2201").await?;
    let mdtrt_id = out["data"]["mdtrt_id"]
        .as_str()
        .ok_or_else(|| anyhow!("2201 without mdtrt_id"))?
        .to_owned();
    let (kept, cancelled) = lines.split_at(1);
    for (batch, part) in [("CB1", kept), ("CB2", cancelled)] {
        let fees = b.envelope(
            "2204",
            &p.insuplc_admdvs,
            json!({"feedetail": fee_lines(&mdtrt_id, p, part, batch, &when)}),
        );
        s.ok(&fees, "2204").await?;
    }
    let cancel = b.envelope(
        "2205",
        &p.insuplc_admdvs,
        json!({"data": {
            "mdtrt_id": mdtrt_id, "chrg_bchno": "CB2", "psn_no": p.psn_no
        }}),
    );
    s.ok(&cancel, "2205").await?;
    let settle = b.envelope(
        "2207",
        &p.insuplc_admdvs,
        json!({"data": settle_data(&mdtrt_id, p, kept, "CB1")}),
    );
    s.ok(&settle, "2207").await.map(|_| ())
}

/// Admitted yesterday evening (2401), fees (2301), pre-settled (2303), settled (2304),
/// discharged today (2402).
async fn across_midnight(
    vendor: &Vendor,
    conn: &mut HisConnection,
    b: &mut EnvelopeBuilder,
    p: &Insured,
    lines: &[FeeLine],
    stay_no: u64,
) -> Result<()> {
    let today = time::OffsetDateTime::now_utc()
        .to_offset(medsettle_canonical::CHINA_OFFSET)
        .date();
    let yesterday = today
        .previous_day()
        .ok_or_else(|| anyhow!("no yesterday"))?;
    let begn = format!("{yesterday} 22:00:00");
    let fee_at = format!("{yesterday} 23:00:00");
    let end = format!("{today} 00:30:00");
    let mut s = ClockedConnection { vendor, conn };
    let diag = json!([{
        "psn_no": p.psn_no, "diag_type": "1", "maindiag_flag": "1", "diag_srt_no": 1,
        "diag_code": "K35.800", "diag_name": "急性阑尾炎", "diag_dept": "外科",
        "dise_dor_no": "D0101", "dise_dor_name": "住院医生", "diag_time": begn
    }]);
    let adm = b.envelope("2401", &p.insuplc_admdvs, json!({
        "mdtrtinfo": {
            "psn_no": p.psn_no, "insutype": p.insutype, "begntime": begn, "mdtrt_cert_type": "02",
            "mdtrt_cert_no": p.certno, "med_type": "21", "ipt_no": format!("ZYM{stay_no:08}"),
            "atddr_no": "D0101", "chfpdr_name": "主任医生", "adm_diag_dscr": "急性阑尾炎",
            "adm_dept_codg": "0501", "adm_dept_name": "外科", "adm_bed": "12",
            "dscg_maindiag_code": "K35.800", "dscg_maindiag_name": "急性阑尾炎"
        },
        "diseinfo": diag.clone()
    }));
    let out = s.ok(&adm, "2401").await?;
    let mdtrt_id = out["result"]["mdtrt_id"]
        .as_str()
        .ok_or_else(|| anyhow!("2401 without mdtrt_id"))?
        .to_owned();
    let feedetail: Vec<Value> = lines.iter().enumerate().map(|(i, l)| json!({
        "feedetl_sn": format!("N{:04}", i + 1), "mdtrt_id": mdtrt_id, "psn_no": p.psn_no,
        "med_type": "21", "fee_ocur_time": fee_at, "med_list_codg": l.med_list_codg,
        "medins_list_codg": format!("H{}", l.med_list_codg),
        "det_item_fee_sumamt": yuan_number(l.amount_fen()), "cnt": l.units, "pric": yuan_number(l.pric_fen),
        "bilg_dept_codg": "0501", "bilg_dept_name": "外科", "bilg_dr_codg": "D0101", "bilg_dr_name": "住院医生"
    })).collect();
    let fees = b.envelope("2301", &p.insuplc_admdvs, json!({"feedetail": feedetail}));
    s.ok(&fees, "2301").await?;
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let data = json!({
        "psn_no": p.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno,
        "medfee_sumamt": yuan_number(total), "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "acct_used_flag": "1", "insutype": p.insutype, "mid_setl_flag": "0"
    });
    let pre = b.envelope("2303", &p.insuplc_admdvs, json!({"data": data.clone()}));
    s.ok(&pre, "2303").await?;
    let settle = b.envelope("2304", &p.insuplc_admdvs, json!({"data": data}));
    s.ok(&settle, "2304").await?;
    let dscg = b.envelope(
        "2402",
        &p.insuplc_admdvs,
        json!({
            "dscginfo": {
                "mdtrt_id": mdtrt_id, "psn_no": p.psn_no, "insutype": p.insutype, "endtime": end,
                "dscg_dept_codg": "0501", "dscg_dept_name": "外科", "dscg_way": "1"
            },
            "diseinfo": diag
        }),
    );
    s.ok(&dscg, "2402").await.map(|_| ())
}
