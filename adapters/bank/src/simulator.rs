//! A pure bank simulator: reads a payment file the way a bank would, and answers with receipt
//! files according to an [`OutcomePlan`]. No I/O, no clock, no global randomness: the same
//! input and plan (seed included) give the same files, byte for byte.
//!
//! Generation 1 answers the file (paid / failed / pending); generation 2 settles what was
//! pending and returns (退票) what the plan says bounces. Optionally a duplicate delivery of
//! the first receipt file and a truncated copy are appended, for ingest tests.
//!
//! [`ReceiptShapes`] (the plan's `shapes`) makes the bank answer in the less tidy shapes real
//! banks use: a payment-information-level rejection without rows, an exception-style
//! pain.002, rows without `OrgnlEndToEndId`, rejections echoing `0.00`, camt.054 details
//! without amounts (optionally with an entry amount that is off), and returns of payments the
//! bank only ever reported pending. The default shapes are the tidy ones.

use std::collections::{BTreeMap, HashSet};

use medsettle_canonical::{Money, Receipt, ReceiptReason, ReceiptStatus};
use time::Date;

use crate::common::{iso_date, short_hash};
use crate::delimited::{self, ReturnHeader};
use crate::error::{BankError, rule};
use crate::pain001::{self, PaymentFile};
use crate::profile::BankProfile;
use crate::receipts::DecodeLimits;
use crate::{camt054, pain002};

/// The payment file's format.
// Built once per call; boxing the profile would only make the API noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentFileFormat {
    Pain001,
    Delimited(BankProfile),
}

/// Realistic failure reasons: ISO code, a CIB-style bank code and the bank's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailReason {
    /// AC04, 销户
    ClosedAccount,
    /// BE01, 户名不符
    NameMismatch,
    /// AC01, 账号不存在
    NoSuchAccount,
    /// AM04, 余额不足 (the fund account)
    InsufficientFunds,
    /// AC06, 冻结
    BlockedAccount,
}

impl FailReason {
    pub const ALL: [FailReason; 5] = [
        FailReason::ClosedAccount,
        FailReason::NameMismatch,
        FailReason::NoSuchAccount,
        FailReason::InsufficientFunds,
        FailReason::BlockedAccount,
    ];

    pub fn reason(self) -> ReceiptReason {
        let (iso, bank, text) = match self {
            FailReason::ClosedAccount => ("AC04", "44", "收款账户已销户"),
            FailReason::NameMismatch => ("BE01", "49", "收款人户名不符"),
            FailReason::NoSuchAccount => ("AC01", "42", "收款账号不存在"),
            FailReason::InsufficientFunds => ("AM04", "46", "付款账户余额不足"),
            FailReason::BlockedAccount => ("AC06", "45", "收款账户已冻结"),
        };
        ReceiptReason {
            iso_code: Some(iso.to_owned()),
            bank_code: Some(bank.to_owned()),
            text: text.to_owned(),
        }
    }
}

/// What happens to one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Paid,
    Failed(FailReason),
    /// Pending in generation 1, paid in generation 2.
    PendingThenPaid,
    /// Paid in generation 1, returned in generation 2.
    PaidThenReturned(FailReason),
    /// Pending in generation 1 and never answered again (a status query case).
    Pending,
}

impl Outcome {
    /// The status the payment ends in after all generations.
    pub fn final_status(self) -> ReceiptStatus {
        match self {
            Outcome::Paid | Outcome::PendingThenPaid => ReceiptStatus::Paid,
            Outcome::Failed(_) => ReceiptStatus::Failed,
            Outcome::PaidThenReturned(_) => ReceiptStatus::Returned,
            Outcome::Pending => ReceiptStatus::Pending,
        }
    }
}

/// Which receipt files the simulated bank sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptKinds {
    pub pain002: bool,
    pub camt054: bool,
    pub gbk_return: Option<BankProfile>,
}

/// How the simulated bank treats a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomePlan {
    pub seed: u64,
    /// Explicit outcomes by payment id; win over the random draw.
    pub overrides: BTreeMap<String, Outcome>,
    /// Of the other payments, how many per mille fail (random realistic reason), are pending
    /// then paid, or are paid then returned. The rest are paid.
    pub failed_per_mille: u16,
    pub pending_per_mille: u16,
    pub returned_per_mille: u16,
    pub receipts: ReceiptKinds,
    /// Deliver the first receipt file twice (same name, same bytes).
    pub duplicate_receipt: bool,
    /// Append a truncated copy of the first receipt file, named `TRUNC_<name>`.
    pub truncated_copy: bool,
    /// How the receipt files are shaped (default: one row per payment, every id and amount).
    pub shapes: ReceiptShapes,
}

/// How the simulated bank shapes its receipts; every option off by default. Each reproduces
/// a shape real banks send and the inbox must read without losing the bank's word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptShapes {
    /// The bank rejects the whole payment information: the generation-1 pain.002 has
    /// `GrpSts RJCT` and one `OrgnlPmtInfAndSts` with `PmtInfSts RJCT` and this reason, and no
    /// `TxInfAndSts`. Every payment fails ([`OutcomePlan::outcome_for`] says so; overrides
    /// and draws are ignored); a delimited return file still lists them one by one.
    pub payment_info_rejected: Option<FailReason>,
    /// Exception-style pain.002: `OrgnlNbOfTxs`/`OrgnlCtrlSum` and `NbOfTxsPerSts` count
    /// every transaction, but `TxInfAndSts` rows list only the rejected ones (a report without
    /// rejections has no rows at all). Paid and pending payments are then known from camt.054.
    pub exception_style: bool,
    /// pain.002 rows for these payment ids carry no `OrgnlEndToEndId`, only the given key.
    pub without_end_to_end_id: BTreeMap<String, RowKey>,
    /// pain.002 rejections echo this amount in `OrgnlTxRef/Amt` instead of the payment's
    /// (`Some(Money::ZERO)`: the common `0.00`).
    pub rejection_amount_echo: Option<Money>,
    /// camt.054 `TxDtls` of the paid (debit) entries carry no amount; only the entry's `Amt`
    /// and the batch's `TtlAmt` do.
    pub camt054_without_tx_amounts: bool,
    /// Added to the paid entries' `Amt`/`TtlAmt` (fen, may be negative; the result is at least
    /// 0): an entry that disagrees with its payments. Meant with `camt054_without_tx_amounts`
    /// (with amounts present the file contradicts itself and is refused whole).
    pub camt054_entry_amount_off_by_fen: i64,
    /// These payments are reported pending in generation 1 and returned (camt.054 `RtrInf`,
    /// delimited return row) in generation 2 with this reason, the bank never saying paid.
    /// [`OutcomePlan::outcome_for`] says [`Outcome::Pending`]: the gateway keeps them pending
    /// and raises an alert.
    pub returned_while_pending: BTreeMap<String, FailReason>,
}

/// How a pain.002 row names its payment when not by `OrgnlEndToEndId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKey {
    /// `OrgnlInstrId` carrying the payment id.
    InstrId,
    /// Only `OrgnlTxRef`: amount, creditor name and account.
    OriginalTxRef,
}

impl OutcomePlan {
    /// Everything paid; pain.002 and camt.054 answers.
    pub fn all_paid(seed: u64) -> OutcomePlan {
        OutcomePlan {
            seed,
            overrides: BTreeMap::new(),
            failed_per_mille: 0,
            pending_per_mille: 0,
            returned_per_mille: 0,
            receipts: ReceiptKinds {
                pain002: true,
                camt054: true,
                gbk_return: None,
            },
            duplicate_receipt: false,
            truncated_copy: false,
            shapes: ReceiptShapes::default(),
        }
    }

    /// This plan with the receipts in `shapes`.
    pub fn with_shapes(mut self, shapes: ReceiptShapes) -> OutcomePlan {
        self.shapes = shapes;
        self
    }

    /// The outcome for one payment: the override, else a draw that depends only on the seed
    /// and the payment id (not on the payment's position in the file).
    pub fn outcome_for(&self, payment_id: &str) -> Outcome {
        if let Some(why) = self.shapes.payment_info_rejected {
            return Outcome::Failed(why);
        }
        if self.shapes.returned_while_pending.contains_key(payment_id) {
            return Outcome::Pending;
        }
        if let Some(o) = self.overrides.get(payment_id) {
            return *o;
        }
        let mut rng = SplitMix(self.seed ^ fnv1a(payment_id.as_bytes()));
        let roll = (rng.next() % 1000) as u16;
        let reason = FailReason::ALL[(rng.next() % FailReason::ALL.len() as u64) as usize];
        let f = self.failed_per_mille;
        let p = f.saturating_add(self.pending_per_mille);
        let r = p.saturating_add(self.returned_per_mille);
        if roll < f {
            Outcome::Failed(reason)
        } else if roll < p {
            Outcome::PendingThenPaid
        } else if roll < r {
            Outcome::PaidThenReturned(reason)
        } else {
            Outcome::Paid
        }
    }
}

/// splitmix64: tiny, well-known, deterministic; enough for test scenarios (not crypto).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// What a bank checks before accepting a file: ids unique, CNAPS codes, amounts, names.
fn validate(file: &PaymentFile) -> Result<(), BankError> {
    let mut seen = HashSet::new();
    for p in &file.payments {
        let at = format!("payment {}", p.payment_id);
        let fail = |rule: &'static str, detail: &str| {
            Err(BankError::batch(&file.file_id, at.clone(), rule, detail))
        };
        if p.payment_id.is_empty() || !seen.insert(p.payment_id.as_str()) {
            return fail(rule::ID_UNIQUE, "empty or repeated end-to-end id");
        }
        if p.payee_cnaps.len() != 12 || !p.payee_cnaps.bytes().all(|b| b.is_ascii_digit()) {
            return fail(rule::CNAPS_12_DIGITS, "payee CNAPS code is not 12 digits");
        }
        if p.amount.fen() <= 0 {
            return fail(rule::AMOUNT_POSITIVE, "amount must be positive");
        }
        if p.payee_name.trim().is_empty() || p.payee_account.is_empty() {
            return fail(rule::NAME_REQUIRED, "payee name and account are required");
        }
    }
    Ok(())
}

fn receipt(
    file: &PaymentFile,
    id: &str,
    amount: Money,
    status: ReceiptStatus,
    generation: u8,
    date: Date,
    reason: Option<ReceiptReason>,
) -> Receipt {
    let paid_like = matches!(status, ReceiptStatus::Paid | ReceiptStatus::Returned);
    Receipt {
        payment_id: id.to_owned(),
        batch_id: Some(file.file_id.clone()),
        status,
        amount: Some(amount),
        bank_reference: Some(format!(
            "SIM{generation}{}",
            &short_hash(&[&file.file_id, id, &generation.to_string()])[..16]
        )),
        value_date: paid_like.then_some(date),
        reason,
    }
}

fn iso_code(s: ReceiptStatus) -> &'static str {
    match s {
        ReceiptStatus::Paid => "ACSC",
        ReceiptStatus::Failed => "RJCT",
        ReceiptStatus::Pending => "PDNG",
        ReceiptStatus::Accepted => "ACSP",
        ReceiptStatus::Returned => unreachable!("returns are not reported in pain.002"),
    }
}

/// The pain.002 answering one generation's `rows` in the plan's shapes; `None` when there is
/// nothing to report.
fn pain002_answer(
    file: &PaymentFile,
    plan: &OutcomePlan,
    rows: &[Receipt],
    msg_id: &str,
    created_at: &str,
) -> Option<Vec<u8>> {
    let shapes = &plan.shapes;
    // Rejections echoing another amount: the rows as the bank writes them.
    let echoed: Vec<Receipt> = rows
        .iter()
        .filter(|r| r.status != ReceiptStatus::Returned)
        .map(|r| match shapes.rejection_amount_echo {
            Some(a) if r.status == ReceiptStatus::Failed => Receipt {
                amount: Some(a),
                ..r.clone()
            },
            _ => r.clone(),
        })
        .collect();
    if echoed.is_empty() {
        return None;
    }
    let all: Vec<(&Receipt, &'static str)> =
        echoed.iter().map(|r| (r, iso_code(r.status))).collect();
    let mut codes: Vec<&str> = all.iter().map(|(_, c)| *c).collect();
    codes.sort_unstable();
    codes.dedup();
    let group = if codes.len() == 1 { codes[0] } else { "PART" };
    let mut report = pain002::Report::new(
        msg_id,
        created_at,
        &file.file_id,
        file.count,
        file.control_sum,
        group,
        all,
    );
    let pmt_reason = shapes.payment_info_rejected.map(FailReason::reason);
    if pmt_reason.is_some() {
        // Payment-information level: the status without rows, one bucket summarising them.
        let n = report.rows.len() as u64;
        let sum = report.rows.iter().filter_map(|(r, _)| r.amount).sum();
        report.rows.clear();
        report.summarised.push(("RJCT", n, sum));
        report.group_status = "RJCT";
        report.payment_info_status = Some(("RJCT", pmt_reason.as_ref()));
    } else if shapes.exception_style {
        let (listed, unlisted): (Vec<_>, Vec<_>) =
            report.rows.iter().copied().partition(|(_, c)| *c == "RJCT");
        let mut summary: BTreeMap<&'static str, (u64, Money)> = BTreeMap::new();
        for (r, c) in unlisted {
            let e = summary.entry(c).or_insert((0, Money::ZERO));
            e.0 += 1;
            e.1 += r.amount.unwrap_or(Money::ZERO);
        }
        report.summarised = summary.into_iter().map(|(c, (n, s))| (c, n, s)).collect();
        report.rows = listed;
    }
    for (r, _) in &report.rows {
        let Some(key) = shapes.without_end_to_end_id.get(&r.payment_id) else {
            continue;
        };
        let id = match key {
            RowKey::InstrId => pain002::RowId::InstrId,
            RowKey::OriginalTxRef => {
                let p = file
                    .payments
                    .iter()
                    .find(|p| p.payment_id == r.payment_id)?;
                pain002::RowId::TxRef {
                    account: p.payee_account.clone(),
                    name: p.payee_name.clone(),
                }
            }
        };
        report.row_ids.insert(r.payment_id.clone(), id);
    }
    Some(pain002::encode(&report))
}

/// Validate `payment_file` as a bank would and answer it per `plan`.
pub fn simulate(
    payment_file: &[u8],
    format: &PaymentFileFormat,
    plan: &OutcomePlan,
) -> Result<Vec<(String, Vec<u8>)>, BankError> {
    let limits = DecodeLimits::default();
    let file = match format {
        PaymentFileFormat::Pain001 => pain001::decode("(payment file)", payment_file, &limits)?,
        PaymentFileFormat::Delimited(p) => {
            delimited::decode_payments("(payment file)", payment_file, p, &limits)?
        }
    };
    validate(&file)?;
    let day1 = file.pay_date;
    let day2 = day1.next_day().unwrap_or(day1);
    let mut gen1 = Vec::with_capacity(file.payments.len());
    let mut gen2 = Vec::new();
    for p in &file.payments {
        let id = p.payment_id.as_str();
        let r = |status, generation, date, reason| {
            receipt(&file, id, p.amount, status, generation, date, reason)
        };
        if let Some(why) = plan.shapes.returned_while_pending.get(id) {
            gen1.push(r(ReceiptStatus::Pending, 1, day1, None));
            gen2.push(r(ReceiptStatus::Returned, 2, day2, Some(why.reason())));
            continue;
        }
        match plan.outcome_for(id) {
            Outcome::Paid => gen1.push(r(ReceiptStatus::Paid, 1, day1, None)),
            Outcome::Failed(why) => {
                gen1.push(r(ReceiptStatus::Failed, 1, day1, Some(why.reason())))
            }
            Outcome::Pending => gen1.push(r(ReceiptStatus::Pending, 1, day1, None)),
            Outcome::PendingThenPaid => {
                gen1.push(r(ReceiptStatus::Pending, 1, day1, None));
                gen2.push(r(ReceiptStatus::Paid, 2, day2, None));
            }
            Outcome::PaidThenReturned(why) => {
                gen1.push(r(ReceiptStatus::Paid, 1, day1, None));
                gen2.push(r(ReceiptStatus::Returned, 2, day2, Some(why.reason())));
            }
        }
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (generation, rows, date) in [(1u8, &gen1, day1), (2u8, &gen2, day2)] {
        if rows.is_empty() {
            continue;
        }
        let created_at = format!("{}T18:00:00+08:00", iso_date(date));
        let msg_id = |kind: &str| {
            format!(
                "{kind}{generation}-{}",
                &short_hash(&[&file.file_id, kind, &generation.to_string()])[..20]
            )
        };
        if plan.receipts.pain002
            && let Some(bytes) = pain002_answer(&file, plan, rows, &msg_id("P2"), &created_at)
        {
            out.push((format!("{}_pain002_{generation}.xml", file.file_id), bytes));
        }
        if let Some(profile) = &plan.receipts.gbk_return {
            let header = ReturnHeader {
                original_file_id: file.file_id.clone(),
                return_file_id: msg_id("RT"),
            };
            let bytes = delimited::encode_receipts(profile, &header, rows)?;
            out.push((format!("{}_RET_{generation}.txt", file.file_id), bytes));
        }
        if plan.receipts.camt054 {
            let mut entries = Vec::new();
            let paid: Vec<&Receipt> = rows
                .iter()
                .filter(|r| r.status == ReceiptStatus::Paid)
                .collect();
            if !paid.is_empty() {
                let sum: Money = paid.iter().filter_map(|r| r.amount).sum();
                let off = plan.shapes.camt054_entry_amount_off_by_fen;
                entries.push(camt054::NotifEntry {
                    omit_tx_amounts: plan.shapes.camt054_without_tx_amounts,
                    declared_amount: (off != 0)
                        .then(|| Money::from_fen(sum.fen().saturating_add(off).max(0))),
                    is_return: false,
                    booked: true,
                    value_date: date,
                    bank_reference: format!(
                        "SIMB{generation}{}",
                        &short_hash(&[&file.file_id, "debit", &generation.to_string()])[..16]
                    ),
                    original_msg_id: &file.file_id,
                    rows: paid,
                });
            }
            for r in rows.iter().filter(|r| r.status == ReceiptStatus::Returned) {
                entries.push(camt054::NotifEntry {
                    omit_tx_amounts: false,
                    declared_amount: None,
                    is_return: true,
                    booked: true,
                    value_date: date,
                    bank_reference: r.bank_reference.clone().unwrap_or_default(),
                    original_msg_id: &file.file_id,
                    rows: vec![r],
                });
            }
            if !entries.is_empty() {
                let id = msg_id("C54");
                let bytes = camt054::encode(&id, &created_at, "SIMULATED-FUND-ACCOUNT", &entries);
                out.push((format!("{}_camt054_{generation}.xml", file.file_id), bytes));
            }
        }
    }
    if let Some((name, bytes)) = out.first().cloned() {
        if plan.duplicate_receipt {
            out.push((name.clone(), bytes.clone()));
        }
        if plan.truncated_copy {
            // Cut somewhere in the middle 30%..90% of the file, chosen by the seed.
            let mut rng = SplitMix(plan.seed ^ fnv1a(name.as_bytes()));
            let lo = bytes.len() * 3 / 10;
            let span = (bytes.len() * 6 / 10).max(1) as u64;
            let cut = lo + (rng.next() % span) as usize;
            out.push((
                format!("TRUNC_{name}"),
                bytes[..cut.min(bytes.len().saturating_sub(1))].to_vec(),
            ));
        }
    }
    Ok(out)
}
