//! The prepayment (预付金) between provinces on the running gateway (`specs/interregion.md`
//! §6.8 and §10, the 2016 national notice §五(十二)–(十四)): the pure rules are
//! `medsettle_clearing::prepayment`'s; this module keeps the notices, sends them and derives
//! each pair's balance from them.
//!
//! - As **place of treatment** this gateway holds each peer province's prepayment. One run for a
//!   year ([`NationalService::run_prepayment`]) sizes it from its own rows of the prior year
//!   (two months of the fund payments), brings the balance forward from the last notice, and
//!   states the top-up, refund or "unchanged" in an XPRV31 notice to the peer. A transfer of a
//!   month's clearing the peer did not pay by its due date is drawn from the prepayment
//!   ([`NationalService::draw_prepayment`]), stated in a drawdown notice; the next run asks for
//!   the top-up that restores it.
//! - As **insured place** it keeps every notice it receives (`xr.prepayment_in`, by year, pair,
//!   reference and movement, in the same record as the message) and reports what it must pay.
//!
//! A notice is kept before it is sent (`xr.prepayment_out`, unacknowledged) and resent with the
//! same bytes until the peer acknowledges it, so a crash between the two neither loses nor
//! doubles it. The balance is what the last acknowledged notice left: the amount the two
//! agencies agree the place of treatment holds. The money itself moves by the payment file the
//! paying side drops (the operations layer's books), tracked by its bank receipts.

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money};
use medsettle_clearing as clr;
use medsettle_interregion as xr;
use medsettle_settlement::YearMonth;
use medsettle_store::{JournalRecord, StateWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::interregion::ledger_rows;
use crate::interregion_clearing::clearing_row_of;
use crate::national::NationalService;
use crate::peer::Peer;

/// State keyspace of the notices this gateway sent as place of treatment: key
/// `<year>\0<insured prov>\0<treatment prov>\0<n, 3 digits>`, value a [`KeptNotice`].
pub const SPACE_XR_PREPAYMENT_OUT: &str = "xr.prepayment_out";
/// State keyspace of the notices received as insured place: key
/// `<year>\0<insured prov>\0<treatment prov>\0<reference>\0<movement>`, value a [`KeptNotice`].
pub const SPACE_XR_PREPAYMENT_IN: &str = "xr.prepayment_in";
/// Journal kind of a prepayment notice kept or acknowledged here.
pub const KIND_XR_PREPAYMENT: &str = "interregion.prepayment";

/// Runs are one at a time in a process: a run reads the pair's notices and adds the next one.
static RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One notice, as the side that sent or received it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptNotice {
    pub year: i32,
    pub insured_province: String,
    pub treatment_province: String,
    pub reference: String,
    /// `top_up`, `refund`, `drawdown` or `none`.
    pub movement: String,
    pub amount: Money,
    pub balance: Money,
    pub balance_after: Money,
    pub required: Money,
    pub prior_year_fund_pay_sumamt: Money,
    /// `yyyy-MM-dd`.
    pub due_date: String,
    /// The month whose transfer a drawdown covers, `YYYY-MM`.
    pub month: Option<String>,
    /// Sent: the peer acknowledged it. Received: always.
    pub acknowledged: bool,
    pub msgid: String,
    /// `yyyy-MM-dd HH:mm:ss`, fixed when first kept: a resend is the same bytes.
    pub send_time: String,
}

/// One province pair's prepayment for a year, as this side sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepaymentAccount {
    /// `holder` (this gateway is the place of treatment) or `insured`.
    pub side: String,
    pub insured_province: String,
    pub treatment_province: String,
    pub year: i32,
    /// The prior year's fund payments between the two provinces in this side's own rows.
    pub own_prior_year_fund_pay_sumamt: Money,
    /// The year's requirement as stated (holder: from its own rows).
    pub required: Money,
    /// What the last acknowledged notice left.
    pub balance: Money,
    /// Every notice of the year, oldest first.
    pub notices: Vec<KeptNotice>,
}

/// What a prepayment run did and found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepaymentReport {
    pub year: i32,
    pub accounts: Vec<PrepaymentAccount>,
    /// Peers that could not be reached, notices that could not be made.
    pub errors: Vec<String>,
}

fn pair_prefix(year: i32, insured: Admdvs, treatment: Admdvs) -> Vec<u8> {
    format!("{year:04}\0{insured}\0{treatment}\0").into_bytes()
}

fn movement_word(kind: clr::MovementKind) -> &'static str {
    match kind {
        clr::MovementKind::TopUp => xr::Movement::TopUp.as_str(),
        clr::MovementKind::Refund => xr::Movement::Refund.as_str(),
        clr::MovementKind::Drawdown => xr::Movement::Drawdown.as_str(),
    }
}

/// The movement a kept notice applies to the balance (`None` for "unchanged").
pub fn notice_movement(n: &KeptNotice) -> Option<clr::PrepaymentMovement> {
    let kind = match n.movement.as_str() {
        "top_up" => clr::MovementKind::TopUp,
        "refund" => clr::MovementKind::Refund,
        "drawdown" => clr::MovementKind::Drawdown,
        _ => return None,
    };
    Some(clr::PrepaymentMovement {
        kind,
        amount: n.amount,
        balance_after: n.balance_after,
        reference: n.reference.clone(),
    })
}

impl KeptNotice {
    fn of_input(n: &xr::PrepaymentNotice, msgid: &str, send_time: &str) -> KeptNotice {
        KeptNotice {
            year: n.year,
            insured_province: n.insuplc_prov.to_string(),
            treatment_province: n.mdtrtarea_prov.to_string(),
            reference: n.reference.clone(),
            movement: n.movement.as_str().to_owned(),
            amount: n.movement_amt,
            balance: n.balance,
            balance_after: n.balance_after,
            required: n.required_amt,
            prior_year_fund_pay_sumamt: n.prior_year_fund_pay_sumamt,
            due_date: xr::dates::format_date(n.due_date),
            month: clr::transfer_month(&n.reference).map(|m| m.to_string()),
            acknowledged: true,
            msgid: msgid.to_owned(),
            send_time: send_time.to_owned(),
        }
    }

    fn to_input(&self) -> Option<xr::PrepaymentNotice> {
        let movement = match self.movement.as_str() {
            "top_up" => xr::Movement::TopUp,
            "refund" => xr::Movement::Refund,
            "drawdown" => xr::Movement::Drawdown,
            _ => xr::Movement::Unchanged,
        };
        Some(xr::PrepaymentNotice {
            year: self.year,
            insuplc_prov: Admdvs::parse(&self.insured_province).ok()?,
            mdtrtarea_prov: Admdvs::parse(&self.treatment_province).ok()?,
            prior_year_fund_pay_sumamt: self.prior_year_fund_pay_sumamt,
            required_amt: self.required,
            balance: self.balance,
            movement,
            movement_amt: self.amount,
            balance_after: self.balance_after,
            reference: self.reference.clone(),
            due_date: xr::dates::parse_date(&self.due_date)?,
        })
    }
}

/// A movement about to be stated.
struct Draft {
    movement: &'static str,
    amount: Money,
    reference: String,
    /// When a top-up or refund is due; the day of a drawdown.
    due: time::Date,
    /// The month a drawdown's transfer clears.
    month: Option<YearMonth>,
}

/// What the insured place keeps of a notice it received (called from the peer handler, in
/// the same record as the message): once per reference and movement, whatever the message id.
pub(crate) fn received_notice_write(
    n: &xr::PrepaymentNotice,
    env: &xr::RequestEnvelope,
) -> StateWrite {
    let kept = KeptNotice::of_input(n, &env.msgid, &env.send_time);
    let mut key = pair_prefix(n.year, n.insuplc_prov, n.mdtrtarea_prov);
    key.extend_from_slice(format!("{}\0{}", n.reference, n.movement.as_str()).as_bytes());
    StateWrite::put(
        SPACE_XR_PREPAYMENT_IN,
        key,
        serde_json::to_vec(&kept).expect("a notice serializes"),
    )
}

impl NationalService {
    fn own_province(&self) -> Admdvs {
        clr::province_of(self.receiver_admdvs)
    }

    /// The provinces of the peers, each with its peer.
    fn peer_provinces(&self) -> Vec<(Admdvs, std::sync::Arc<Peer>)> {
        let mut out: Vec<(Admdvs, std::sync::Arc<Peer>)> = Vec::new();
        for p in &self.peers {
            for a in &p.admdvs {
                let Some(prefix) = a.get(..2) else { continue };
                let Ok(province) = Admdvs::parse(&format!("{prefix}0000")) else {
                    continue;
                };
                if province != self.own_province() && !out.iter().any(|(q, _)| *q == province) {
                    out.push((province, p.clone()));
                }
            }
        }
        out
    }

    /// Net fund payments of `year` between `insured` and `treatment` in this side's rows.
    fn fund_of_year(
        &self,
        side: &str,
        year: i32,
        insured: Admdvs,
        treatment: Admdvs,
    ) -> Result<Money, StoreError> {
        Ok(ledger_rows(self.store.as_ref())?
            .iter()
            .filter(|r| r.side == side)
            .filter_map(clearing_row_of)
            .filter(|r| r.setl_time.year() == year)
            .filter(|r| (r.insured_province(), r.treatment_province()) == (insured, treatment))
            .map(|r| r.fund_pay_sumamt)
            .sum())
    }

    fn notices(&self, space: &str, prefix: &[u8]) -> Result<Vec<KeptNotice>, StoreError> {
        let mut out = Vec::new();
        for item in self.store.scan_prefix(space, prefix)? {
            let (_, v) = item?;
            if let Ok(n) = serde_json::from_slice::<KeptNotice>(&v) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The balance the last acknowledged notice of the pair left, in `year` or before.
    fn balance_brought_forward(
        &self,
        space: &str,
        year: i32,
        insured: Admdvs,
        treatment: Admdvs,
    ) -> Result<Money, StoreError> {
        for y in (xr::dates::YEAR_MIN..=year).rev() {
            let notices = self.notices(space, &pair_prefix(y, insured, treatment))?;
            let mut acknowledged: Vec<&KeptNotice> =
                notices.iter().filter(|n| n.acknowledged).collect();
            // received notices are keyed by reference, not sent order: the last by send time
            acknowledged.sort_by(|a, b| a.send_time.cmp(&b.send_time));
            if let Some(last) = acknowledged.last() {
                return Ok(last.balance_after);
            }
        }
        Ok(Money::ZERO)
    }

    /// The pair's account for `year` as holder: notices sent, balance, requirement from this
    /// side's own rows.
    fn holder_account(
        &self,
        year: i32,
        insured: Admdvs,
    ) -> Result<(PrepaymentAccount, clr::Prepayment), StoreError> {
        let treatment = self.own_province();
        let prior = self.fund_of_year("treatment", year - 1, insured, treatment)?;
        let notices = self.notices(
            SPACE_XR_PREPAYMENT_OUT,
            &pair_prefix(year, insured, treatment),
        )?;
        let balance =
            self.balance_brought_forward(SPACE_XR_PREPAYMENT_OUT, year, insured, treatment)?;
        let mut p = clr::Prepayment::for_year(insured, treatment, year, prior, Money::ZERO)
            .expect("a zero balance can be brought forward");
        p.balance = balance;
        let account = PrepaymentAccount {
            side: "holder".into(),
            insured_province: insured.to_string(),
            treatment_province: treatment.to_string(),
            year,
            own_prior_year_fund_pay_sumamt: prior,
            required: p.required,
            balance,
            notices,
        };
        Ok((account, p))
    }

    /// The pair's account for `year` as insured place, from the notices received.
    fn insured_account(
        &self,
        year: i32,
        treatment: Admdvs,
    ) -> Result<PrepaymentAccount, StoreError> {
        let insured = self.own_province();
        let mut notices = self.notices(
            SPACE_XR_PREPAYMENT_IN,
            &pair_prefix(year, insured, treatment),
        )?;
        notices.sort_by(|a, b| a.send_time.cmp(&b.send_time));
        Ok(PrepaymentAccount {
            side: "insured".into(),
            insured_province: insured.to_string(),
            treatment_province: treatment.to_string(),
            year,
            own_prior_year_fund_pay_sumamt: self.fund_of_year(
                "insured",
                year - 1,
                insured,
                treatment,
            )?,
            required: notices.last().map_or(Money::ZERO, |n| n.required),
            balance: self.balance_brought_forward(
                SPACE_XR_PREPAYMENT_IN,
                year,
                insured,
                treatment,
            )?,
            notices,
        })
    }

    /// Keep a notice this gateway sends (before sending it, and again once acknowledged).
    async fn keep_notice(&self, n: &KeptNotice, seq: usize) -> Result<(), StoreError> {
        let insured = Admdvs::parse(&n.insured_province).expect("a kept province");
        let treatment = Admdvs::parse(&n.treatment_province).expect("a kept province");
        let mut key = pair_prefix(n.year, insured, treatment);
        key.extend_from_slice(format!("{seq:03}").as_bytes());
        let record = JournalRecord::new(
            KIND_XR_PREPAYMENT,
            serde_json::to_vec(n).expect("a notice serializes"),
        )
        .with_write(StateWrite::put(
            SPACE_XR_PREPAYMENT_OUT,
            key,
            serde_json::to_vec(n).expect("a notice serializes"),
        ));
        let appended = self.store.append(record)?;
        self.store.wait_durable(appended.ticket).await
    }

    /// Send a kept notice to the peer of its insured province; kept acknowledged once the
    /// peer says so.
    async fn deliver_notice(
        &self,
        peer: &Peer,
        mut n: KeptNotice,
        seq: usize,
    ) -> Result<KeptNotice, String> {
        let input = n
            .to_input()
            .ok_or("a kept notice that does not read back")?;
        let env = xr::RequestEnvelope {
            ver: xr::VERSION.to_owned(),
            infno: xr::Infno::Xprv31,
            msgid: n.msgid.clone(),
            mdtrtarea_admvs: self.receiver_admdvs,
            insuplc_admdvs: input.insuplc_prov,
            send_time: n.send_time.clone(),
            input: xr::PeerRequest::Prepayment(input).to_input(),
        };
        let answer = crate::interregion::send_message(peer, xr::Infno::Xprv31, &env).await?;
        if answer.infcode != 0 {
            return Err(format!(
                "notice {} refused: [{}] {}",
                n.reference, answer.rule, answer.err_msg
            ));
        }
        xr::PrepaymentAck::from_output(answer.output.as_ref().ok_or("no output")?)
            .map_err(|e| e.to_string())?;
        n.acknowledged = true;
        self.keep_notice(&n, seq).await.map_err(|e| e.to_string())?;
        Ok(n)
    }

    /// Keep `n` as the pair's next notice and deliver it.
    async fn notify(
        &self,
        peer: &Peer,
        account: &mut PrepaymentAccount,
        n: KeptNotice,
    ) -> Result<(), String> {
        let seq = account.notices.len() + 1;
        self.keep_notice(&n, seq).await.map_err(|e| e.to_string())?;
        account.notices.push(n.clone());
        let n = self.deliver_notice(peer, n, seq).await?;
        account.balance = n.balance_after;
        *account.notices.last_mut().expect("just pushed") = n;
        Ok(())
    }

    /// The notice stating `draft` of prepayment `p` (its balance before the movement).
    fn notice_of(
        &self,
        p: &clr::Prepayment,
        prior: Money,
        draft: Draft,
        now: OffsetDateTime,
    ) -> KeptNotice {
        let balance_after = match draft.movement {
            "top_up" => p.balance + draft.amount,
            "refund" | "drawdown" => p.balance - draft.amount,
            _ => p.balance,
        };
        KeptNotice {
            year: p.year,
            insured_province: p.insured_province.to_string(),
            treatment_province: p.treatment_province.to_string(),
            msgid: format!("N{}", draft.reference),
            reference: draft.reference,
            movement: draft.movement.to_owned(),
            amount: draft.amount,
            balance: p.balance,
            balance_after,
            required: p.required,
            prior_year_fund_pay_sumamt: prior,
            due_date: xr::dates::format_date(draft.due),
            month: draft.month.map(|m| m.to_string()),
            acknowledged: false,
            send_time: xr::dates::format_datetime(xr::china_datetime(now)),
        }
    }

    /// One prepayment run for `year` (module documentation). With `exchange` false, only what
    /// is known here is reported (`settle prepayment status`).
    pub async fn run_prepayment(
        &self,
        year: i32,
        exchange: bool,
    ) -> Result<PrepaymentReport, StoreError> {
        let _one = RUN.lock().await;
        let now = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let calendar = self.engine.as_ref().map(|e| e.config().calendar.clone());
        let mut errors = Vec::new();
        let mut accounts = Vec::new();
        for (province, peer) in self.peer_provinces() {
            // as holder of the peer province's prepayment
            let (mut account, p) = self.holder_account(year, province)?;
            if exchange
                && let Err(e) = self
                    .settle_pair(&peer, &mut account, p, now, calendar.as_ref())
                    .await
            {
                errors.push(format!("{province} ← {}: {e}", self.own_province()));
            }
            if account.own_prior_year_fund_pay_sumamt != Money::ZERO || !account.notices.is_empty()
            {
                accounts.push(account);
            }
            // as insured place, from the peer's notices
            let mine = self.insured_account(year, province)?;
            if !mine.notices.is_empty() {
                accounts.push(mine);
            }
        }
        Ok(PrepaymentReport {
            year,
            accounts,
            errors,
        })
    }

    /// Resend the pair's unacknowledged notice, or send the year's adjustment when there is
    /// one (or a first "unchanged" notice, so the insured place knows the figures).
    async fn settle_pair(
        &self,
        peer: &Peer,
        account: &mut PrepaymentAccount,
        mut p: clr::Prepayment,
        now: OffsetDateTime,
        calendar: Option<&medsettle_settlement::Calendar>,
    ) -> Result<(), String> {
        if now.year() < p.year {
            return Err(format!(
                "the prepayment of {} is sized on {}'s payments, which are not over yet",
                p.year,
                p.year - 1
            ));
        }
        if let Some(seq) = account.notices.iter().position(|n| !n.acknowledged) {
            let n = self
                .deliver_notice(peer, account.notices[seq].clone(), seq + 1)
                .await?;
            account.notices[seq] = n;
            account.balance = account.notices[seq].balance_after;
            p.balance = account.balance;
        }
        let calendar = calendar.ok_or("no working-day calendar to date the notice")?;
        let due = clr::transfer_due(calendar, now.date())
            .map_err(|e| e.to_string())?
            .value;
        let reference = format!(
            "P{}{}{}{:03}",
            p.year,
            p.insured_province,
            p.treatment_province,
            account.notices.len() + 1
        );
        let prior = account.own_prior_year_fund_pay_sumamt;
        let draft = |movement, amount| Draft {
            movement,
            amount,
            reference: reference.clone(),
            due,
            month: None,
        };
        let n = match p.adjustment() {
            Some(m) => self.notice_of(&p, prior, draft(movement_word(m.kind), m.amount), now),
            // the figures are as stated last time: nothing to say
            None if account
                .notices
                .last()
                .is_some_and(|n| n.required == p.required) =>
            {
                return Ok(());
            }
            None => self.notice_of(&p, prior, draft("none", Money::ZERO), now),
        };
        self.notify(peer, account, n).await
    }

    /// Draw on `insured`'s prepayment for its transfer of `month`'s clearing to this province,
    /// overdue since its due date: at most the balance, stated to the peer in a drawdown
    /// notice. Idempotent: the transfer's drawdown is returned when already made.
    pub async fn draw_prepayment(
        &self,
        month: YearMonth,
        insured: Admdvs,
    ) -> Result<PrepaymentAccount, String> {
        let _one = RUN.lock().await;
        let now = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let insured = clr::province_of(insured);
        let (_, peer) = self
            .peer_provinces()
            .into_iter()
            .find(|(p, _)| *p == insured)
            .ok_or_else(|| format!("no peer settles {insured}"))?;
        let report = self
            .run_clearing(month, false)
            .await
            .map_err(|e| e.to_string())?;
        let calendar = self
            .engine
            .as_ref()
            .map(|e| e.config().calendar.clone())
            .ok_or("no working-day calendar to date the transfer")?;
        let mc = clr::MonthClearing::bilateral(month, &report.answered, &calendar)
            .map_err(|e| format!("{month} is not cleared: {e}"))?;
        let transfer = mc
            .transfers
            .iter()
            .find(|t| t.payer == insured && t.receiver == self.own_province())
            .ok_or_else(|| {
                format!(
                    "{month}'s clearing has no transfer from {insured} to {}",
                    self.own_province()
                )
            })?;
        let (mut account, mut p) = self
            .holder_account(now.year(), insured)
            .map_err(|e| e.to_string())?;
        if let Some(seq) = account
            .notices
            .iter()
            .position(|n| n.reference == transfer.transfer_id && n.movement == "drawdown")
        {
            if !account.notices[seq].acknowledged {
                account.notices[seq] = self
                    .deliver_notice(&peer, account.notices[seq].clone(), seq + 1)
                    .await?;
                account.balance = account.notices[seq].balance_after;
            }
            return Ok(account);
        }
        if let Some(seq) = account.notices.iter().position(|n| !n.acknowledged) {
            account.notices[seq] = self
                .deliver_notice(&peer, account.notices[seq].clone(), seq + 1)
                .await?;
            account.balance = account.notices[seq].balance_after;
        }
        p.balance = account.balance;
        let drawn = p
            .drawdown(transfer, mc.transfer_due.value, now.date())
            .map_err(|e| e.to_string())?;
        let m = drawn.movement.ok_or_else(|| {
            format!(
                "no prepayment of {insured} is held here: {} of {} stays owed",
                drawn.shortfall, transfer.transfer_id
            )
        })?;
        let prior = account.own_prior_year_fund_pay_sumamt;
        let draft = Draft {
            movement: "drawdown",
            amount: m.amount,
            reference: m.reference,
            due: now.date(),
            month: Some(month),
        };
        let n = self.notice_of(&p, prior, draft, now);
        self.notify(&peer, &mut account, n).await?;
        Ok(account)
    }
}
