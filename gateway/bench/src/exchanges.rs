//! Settlement traffic as the gateway journals it, for the benchmarks that need a journal of a
//! million records (`browse-bench`, `overview-bench`): national-interface exchange records —
//! the request as received, the answer as sent and, for 2207/2208, the canonical claim the
//! instant-settlement engine consumes — over [`DAYS`] days from [`START_UNIX_S`].
//!
//! Institutions are skewed (index ∝ u³: of 2,000, the largest has about 8 % of the traffic),
//! persons uniform, transactions by their share ([`INFNOS`]); a 2208 reverses one of the
//! recent settlements (its institution, person and amounts, negated). Deterministic for a seed.
//! Integer arithmetic only.

use std::collections::VecDeque;

use medsettle_canonical::{Admdvs, ClaimKind, FundLine, Money, SettledClaim, SettlementAmounts};
use medsettle_store::{IdempotentOutcome, JournalRecord, SledStore, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// First receive time: 2026-11-05 00:00:00 China time, Unix seconds.
pub const START_UNIX_S: i64 = 1_793_808_000;
/// The records are spread over this many days.
pub const DAYS: u64 = 30;
/// The pool region of the institutions.
pub const POOL: &str = "440300";
/// Transactions and their share of the traffic, per mille.
pub const INFNOS: [(&str, u64); 6] = [
    ("2207", 400),
    ("2206", 200),
    ("2204", 150),
    ("2201", 100),
    ("1101", 100),
    ("2208", 50),
];
/// Settlements a 2208 may reverse: the most recent ones, oldest first.
const RECENT_MAX: usize = 1_000;

/// The traffic's size.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub records: u64,
    pub institutions: u64,
    pub persons: u64,
    pub seed: u64,
}

/// The i-th institution's code (`H44030000001`-like, as the sample institutions).
pub fn code(i: u64) -> String {
    format!("H44030{i:06}")
}

/// The p-th person's `psn_no`.
pub fn person(p: u64) -> String {
    format!("4403000000{p:010}")
}

/// `YYYY-MM-DDTHH:MM:SS.mmm+08:00` of a Unix millisecond, China time.
pub fn china_time(ms: i64) -> String {
    let t = china(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+08:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn china(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a time in range")
        .to_offset(medsettle_canonical::CHINA_OFFSET)
}

/// The institution a uniform draw `u` of `0..institutions` stands for (skewed, u³).
pub fn skewed(u: u64, institutions: u64) -> u64 {
    u * u * u / (institutions * institutions)
}

/// Yields the records of a [`Shape`] in order.
pub struct Generator {
    shape: Shape,
    rng: StdRng,
    recent: VecDeque<SettledClaim>,
}

impl Generator {
    pub fn new(shape: Shape) -> Generator {
        Generator {
            shape,
            rng: StdRng::seed_from_u64(shape.seed),
            recent: VecDeque::new(),
        }
    }

    /// Record `i` (call with i = 0, 1, 2, …): the journal record and the answer bytes, as
    /// `append_idempotent` takes them.
    pub fn nth(&mut self, i: u64) -> (JournalRecord, Vec<u8>) {
        let s = self.shape;
        let inst = skewed(self.rng.random_range(0..s.institutions), s.institutions);
        let psn = person(self.rng.random_range(0..s.persons));
        let mut pick = self.rng.random_range(0..1000u64);
        let infno = INFNOS
            .iter()
            .find(|(_, share)| {
                let hit = pick < *share;
                pick = pick.saturating_sub(*share);
                hit
            })
            .map_or("2207", |(n, _)| *n);
        let span_ms = DAYS * 86_400_000;
        let at_ms =
            START_UNIX_S * 1000 + i64::try_from(i * span_ms / s.records.max(1)).unwrap_or(0);
        let reversed = if infno == "2208" {
            self.recent.pop_front()
        } else {
            None
        };
        let (code, psn, infno) = match &reversed {
            Some(c) => (c.fixmedins_code.clone(), c.psn_no.clone(), "2208"),
            None if infno == "2208" => (code(inst), psn, "2207"),
            None => (code(inst), psn, infno),
        };
        let e = exchange(i, &code, &psn, infno, at_ms, reversed.as_ref());
        if let Some(c) = &e.claim
            && c.kind == ClaimKind::Settlement
        {
            if self.recent.len() == RECENT_MAX {
                self.recent.pop_front();
            }
            self.recent.push_back(c.clone());
        }
        (e.record, e.answer)
    }
}

/// One exchange: the record, the answer bytes, the claim it carries (2207/2208).
pub struct Exchange {
    pub record: JournalRecord,
    pub answer: Vec<u8>,
    pub claim: Option<SettledClaim>,
}

/// The claim a 2207 of record `i` settles: fund `fen` through the pool fund (310100).
fn settlement(i: u64, code: &str, psn: &str, msgid: &str, fen: i64, at_ms: i64) -> SettledClaim {
    let amount = Money::from_fen(fen);
    SettledClaim {
        kind: ClaimKind::Settlement,
        infno: "2207".into(),
        msgid: msgid.to_owned(),
        setl_id: format!("ST{i:012}"),
        mdtrt_id: format!("MD{i:012}"),
        psn_no: psn.to_owned(),
        psn_name: Some("张三".into()),
        fixmedins_code: code.to_owned(),
        fixmedins_name: Some("深圳市示例医院".into()),
        mdtrtarea_admvs: Admdvs::parse(POOL).expect("the pool region"),
        insuplc_admdvs: Some(Admdvs::parse(POOL).expect("the pool region")),
        clr_optins: Some(POOL.into()),
        insutype: "310".into(),
        psn_type: Some("1101".into()),
        med_type: "11".into(),
        clr_type: Some("11".into()),
        clr_way: Some("1".into()),
        setl_time: china(at_ms),
        amounts: SettlementAmounts {
            medfee_sumamt: amount,
            inscp_scp_amt: amount,
            hifp_pay: amount,
            fund_pay_sumamt: amount,
            balc: Some(Money::from_fen(100_000)),
            ..SettlementAmounts::default()
        },
        setldetail: vec![FundLine {
            fund_pay_type: "310100".into(),
            fund_pay_type_name: Some("职工基本医疗保险统筹基金".into()),
            inscp_scp_amt: Some(amount),
            crt_payb_lmt_amt: None,
            fund_payamt: amount,
            setl_proc_info: None,
        }],
        reversal_of: None,
    }
}

/// One exchange record as the national service journals it (`exchange_payload`): the request
/// as received, the answer as sent, the claim for a settlement (2207) or a reversal (2208, of
/// `reverses`), the receive time.
pub fn exchange(
    i: u64,
    code: &str,
    psn: &str,
    infno: &str,
    received_ms: i64,
    reverses: Option<&SettledClaim>,
) -> Exchange {
    let at = china_time(received_ms);
    // As the national interface forms it: institution, send time to the second, a sequence.
    let msgid = format!(
        "{code}{}{:04}",
        &at[..19].replace(['-', 'T', ':'], ""),
        i % 10_000
    );
    let mdtrt = format!("MD{i:012}");
    let setl = format!("ST{i:012}");
    let fen = i64::try_from(5_000 + (i * 7_919) % 900_000).expect("small");
    let amount = Money::from_fen(fen).to_string();
    let request = format!(
        r#"{{"infno":"{infno}","msgid":"{msgid}","mdtrtarea_admvs":"440300","insuplc_admdvs":"440300","recer_sys_code":"MDS","dev_no":"","dev_safe_info":"","cainfo":"","signtype":"SM3","infver":"V1.0","opter_type":"1","opter":"0001","opter_name":"收费员","inf_time":"{}","fixmedins_code":"{code}","fixmedins_name":"深圳市示例医院","sign_no":"","input":{{"data":{{"psn_no":"{psn}","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","med_type":"11","medfee_sumamt":"{amount}","psn_setlway":"01","mdtrt_id":"{mdtrt}","chrg_bchno":"CB{i:010}","insutype":"310","acct_used_flag":"1","invono":"","fulamt_ownpay_amt":"0.00","overlmt_selfpay":"0.00","preselfpay_amt":"0.00","inscp_scp_amt":"{amount}"}}}}}}"#,
        &at[..19].replace('T', " ")
    );
    let answer = format!(
        r#"{{"infcode":0,"inf_refmsgid":"440300{}{i:010}","refmsg_time":"{}","respond_time":"{}","err_msg":null,"warn_msg":null,"output":{{"setlinfo":{{"setl_id":"{setl}","mdtrt_id":"{mdtrt}","psn_no":"{psn}","psn_name":"张三","psn_cert_type":"01","certno":"440300199001011234","gend":"1","naty":"01","brdy":"1990-01-01","age":36,"insutype":"310","psn_type":"1101","cvlserv_flag":"0","setl_time":"{}","mdtrt_cert_type":"02","med_type":"11","medfee_sumamt":"{amount}","fulamt_ownpay_amt":"0.00","overlmt_selfpay":"0.00","preselfpay_amt":"0.00","inscp_scp_amt":"{amount}","hifp_pay":"{amount}","pool_prop_selfpay":"0.00","cvlserv_pay":"0.00","hifes_pay":"0.00","hifmi_pay":"0.00","hifob_pay":"0.00","maf_pay":"0.00","oth_pay":"0.00","fund_pay_sumamt":"{amount}","psn_part_amt":"0.00","acct_pay":"0.00","psn_cash_pay":"0.00","hosp_part_amt":"0.00","balc":"1000.00","acct_mulaid_pay":"0.00","medins_setl_id":"{msgid}","clr_optins":"440300","clr_way":"1","clr_type":"11"}}}}}}"#,
        &at[..10].replace('-', ""),
        &at[..19].replace(['-', 'T', ':'], ""),
        &at[..19].replace(['-', 'T', ':'], ""),
        &at[..19].replace('T', " "),
    );
    let claim = match (infno, reverses) {
        ("2207", _) => Some(settlement(i, code, psn, &msgid, fen, received_ms)),
        ("2208", Some(original)) => {
            Some(original.reversal("2208", &msgid, &setl, china(received_ms)))
        }
        _ => None,
    };
    let claim_json = claim.as_ref().map_or(String::new(), |c| {
        format!(
            r#","claim":{}"#,
            serde_json::to_string(c).expect("a claim serializes")
        )
    });
    let payload = format!(
        r#"{{"infno":"{infno}","fixmedins_code":"{code}","msgid":"{msgid}","request":{request},"answer":{answer}{claim_json},"core":"embedded","received_at":"{at}"}}"#
    );
    let record = JournalRecord::new(
        if claim.is_some() {
            medsettle_canonical::journal::KIND_SETTLEMENT
        } else {
            "nhsa.request"
        },
        payload.into_bytes(),
    )
    .with_key(code.to_owned(), msgid);
    Exchange {
        record,
        answer: answer.into_bytes(),
        claim,
    }
}

/// The idempotency hash of record `i` (distinct per record; the benchmarks never repeat one).
pub fn sha(i: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&i.to_be_bytes());
    s
}

/// Appends the first `records` records of `traffic` to `store` as the national service appends
/// an exchange (idempotent, with its answer), handing each to `seen` first; progress on
/// standard error every 100,000; synced at the end.
pub fn append_all(
    store: &SledStore,
    traffic: &mut Generator,
    records: u64,
    mut seen: impl FnMut(u64, &JournalRecord),
) {
    let started = std::time::Instant::now();
    for i in 0..records {
        let (record, answer) = traffic.nth(i);
        seen(i, &record);
        match store
            .append_idempotent(record, sha(i), answer)
            .expect("append")
        {
            IdempotentOutcome::Appended { .. } => {}
            other => panic!("record {i} was not appended: {other:?}"),
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("fill: {} records, {:.1?}", i + 1, started.elapsed());
        }
    }
    store.sync().expect("sync");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlements_carry_the_claim_the_engine_reads_and_reversals_undo_one() {
        let mut g = Generator::new(Shape {
            records: 2_000,
            institutions: 50,
            persons: 100,
            seed: 1,
        });
        let (mut settled, mut reversed) = (0, 0);
        for i in 0..2_000 {
            let (record, _) = g.nth(i);
            let ex: medsettle_canonical::journal::ExchangeClaim =
                serde_json::from_slice(&record.payload).unwrap();
            match ex.claim {
                Some(c) if c.kind == ClaimKind::Settlement => {
                    settled += 1;
                    assert!(c.amounts.fund_pay_sumamt.fen() > 0);
                }
                Some(c) => {
                    reversed += 1;
                    assert!(c.amounts.fund_pay_sumamt.fen() < 0);
                    assert!(c.reversal_of.unwrap().setl_id.unwrap().starts_with("ST"));
                }
                None => assert_ne!(record.kind, medsettle_canonical::journal::KIND_SETTLEMENT),
            }
        }
        assert!(settled > 700 && reversed > 50, "{settled} {reversed}");
    }
}
