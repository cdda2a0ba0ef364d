//! Monthly clearing between provinces on the running gateway (`specs/interregion.md` §clearing,
//! the 2016 national notice): the pure rules are `medsettle_clearing`'s; this module feeds them
//! the cross-region ledger rows, exchanges statements and replies with the peers, and keeps
//! what was sent and answered.
//!
//! One run for a month ([`NationalService::run_clearing`]), idempotent, as often as wanted:
//! 1. as **place of treatment**: the month's statements (one per insured province) from the
//!    rows this gateway treated, plus the lines refused last month, sent to each peer (XPRV21,
//!    paged, same message ids each run) and kept (`xr.clearing_out`);
//! 2. as **insured place**: every statement received for the month is checked line by line
//!    against this gateway's own rows — a line it has, with the same amounts, is confirmed;
//!    any other is refused with the reason — and the reply sent (XPRV22) and kept;
//! 3. the replies received for this gateway's statements are applied: refused lines are
//!    carried to the next month (`xr.clearing_carry`);
//! 4. the statements answered on both sides are netted (`NettingMatrix`): each province pays
//!    or receives one amount; due dates on the working-day calendar; the prepayment each
//!    insured province owes this place (two months of the prior year's payments).

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money};
use medsettle_clearing as clr;
use medsettle_interregion as xr;
use medsettle_settlement::YearMonth;
use medsettle_store::{JournalRecord, StateWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tracing::warn;

use crate::interregion::{LedgerRow, Peer, ledger_rows};
use crate::national::NationalService;

/// State keyspace of clearing statements, replies and prepayment notices received; key
/// `<sender namespace>\0<infno>:<msgid>`, value the message input.
pub const SPACE_XR_CLEARING_IN: &str = "xr.clearing_in";
/// State keyspace of the clearing statements this gateway sent, page by page; key
/// `<stmt_id>\0<startrow, 10 digits>`, value the XPRV21 input.
pub const SPACE_XR_CLEARING_OUT: &str = "xr.clearing_out";
/// Journal kind of a clearing step kept by this gateway (a statement sent, a reply sent or
/// applied, lines carried).
pub const KIND_XR_CLEARING: &str = "interregion.clearing";
/// State keyspace of replies: key `<stmt_id>\0<first seqno of the page, 10 digits>` (received,
/// one entry per page) or `<stmt_id>\0` (sent, whole), value a [`KeptReply`].
pub const SPACE_XR_CLEARING_REPLY: &str = "xr.clearing_reply";
/// State keyspace of lines carried into a month: key `<YYYY-MM>\0<stmt_id>`, value the
/// `CarriedLine`s (JSON).
pub const SPACE_XR_CLEARING_CARRY: &str = "xr.clearing_carry";

/// A reply to a statement, as the side that made it or received it keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptReply {
    pub stmt_id: String,
    /// `sent` (this gateway is the insured place) or `received`.
    pub direction: String,
    /// Confirm or refuse, by the statement's `seqno`.
    pub lines: Vec<clr::ReplyLine>,
    /// `yyyy-MM-dd`.
    pub replied_on: String,
    pub confirmed_fund_pay_sumamt: Money,
}

/// One statement as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementView {
    pub stmt_id: String,
    /// `treatment` (this gateway is owed) or `insured` (it owes).
    pub role: String,
    pub insured_province: String,
    pub treatment_province: String,
    pub count: i64,
    pub medfee_sumamt: Money,
    pub fund_pay_sumamt: Money,
    pub lines: usize,
    pub carried_in: usize,
    pub sent: bool,
    pub replied: bool,
    pub confirmed_fund_pay_sumamt: Money,
    pub refused_fund_pay_sumamt: Money,
    pub refused_lines: u32,
    /// `yyyy-MM-dd`, and whether the calendar that dated it is provisional.
    pub statement_due: Option<String>,
    pub transfer_due: Option<String>,
    pub confirmed_late: bool,
    pub csv: String,
}

/// What one clearing run did and found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClearingReport {
    pub month: String,
    pub statements: Vec<StatementView>,
    /// Net position per province (receivable positive), over the statements answered.
    pub net: Vec<(String, Money)>,
    pub transfers: Vec<clr::NetTransfer>,
    /// Prepayment each insured province owes this place for the month's year.
    pub prepayments: Vec<PrepaymentView>,
    /// Peers that could not be reached, statements that could not be made.
    pub errors: Vec<String>,
    /// The statements answered on both sides, as the netting used them (for the books).
    pub answered: Vec<clr::Statement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepaymentView {
    pub insured_province: String,
    pub treatment_province: String,
    pub year: i32,
    pub prior_year_fund_pay_sumamt: Money,
    pub required: Money,
}

/// A ledger row as the clearing rules read it.
pub(crate) fn clearing_row_of(r: &LedgerRow) -> Option<clr::ClearingRow> {
    let setl_time = xr::dates::parse_datetime(&r.setl_time)?.assume_offset(CHINA_OFFSET);
    Some(clr::ClearingRow {
        omsgid: r.omsgid.clone(),
        // the insured place's id: the one both sides know
        setl_id: if r.side == "insured" {
            r.setl_id.clone()
        } else {
            r.peer_setl_id.clone()
        },
        mdtrt_id: r.mdtrt_id.clone(),
        medins_no: r.medins_no.clone(),
        certno: None,
        insuplc_admdvs: Admdvs::parse(&r.insuplc_admdvs).ok()?,
        mdtrtarea_admvs: Admdvs::parse(&r.mdtrtarea_admvs).ok()?,
        setl_time,
        medfee_sumamt: r.medfee_sumamt,
        fund_pay_sumamt: r.fund_pay_sumamt,
        aaa113: r.aaa113,
        fulamt_advpay_flag: false,
    })
}

fn xr_month(m: YearMonth) -> xr::YearMonth {
    xr::YearMonth::new(m.year, u8::from(m.month)).expect("a calendar month")
}

fn next_month(m: YearMonth) -> YearMonth {
    let next = m.month.next();
    YearMonth {
        year: if next == time::Month::January {
            m.year + 1
        } else {
            m.year
        },
        month: next,
    }
}

fn day(d: time::Date) -> String {
    xr::dates::format_date(d)
}

impl NationalService {
    fn rows_by_side(&self, side: &str) -> Result<Vec<clr::ClearingRow>, StoreError> {
        Ok(ledger_rows(self.store.as_ref())?
            .iter()
            .filter(|r| r.side == side)
            .filter_map(|r| {
                let row = clearing_row_of(r);
                if row.is_none() {
                    warn!(omsgid = %r.omsgid, "a cross-region ledger row cannot be cleared");
                }
                row
            })
            .collect())
    }

    fn carried_into(&self, month: YearMonth) -> Result<Vec<clr::CarriedLine>, StoreError> {
        let mut prefix = month.to_string().into_bytes();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.store.scan_prefix(SPACE_XR_CLEARING_CARRY, &prefix)? {
            let (_, v) = item?;
            if let Ok(lines) = serde_json::from_slice::<Vec<clr::CarriedLine>>(&v) {
                out.extend(lines);
            }
        }
        Ok(out)
    }

    /// The reply to a statement, its pages joined (a reply of more than
    /// `REPLY_LINES_PER_MESSAGE_MAX` lines travels in several messages).
    fn kept_reply(&self, stmt_id: &str) -> Result<Option<KeptReply>, StoreError> {
        let mut prefix = stmt_id.as_bytes().to_vec();
        prefix.push(0);
        let mut whole: Option<KeptReply> = None;
        for item in self.store.scan_prefix(SPACE_XR_CLEARING_REPLY, &prefix)? {
            let (_, v) = item?;
            let Ok(page) = serde_json::from_slice::<KeptReply>(&v) else {
                continue;
            };
            match &mut whole {
                None => whole = Some(page),
                Some(w) => {
                    w.lines.extend(page.lines);
                    w.replied_on = w.replied_on.clone().max(page.replied_on);
                    w.confirmed_fund_pay_sumamt += page.confirmed_fund_pay_sumamt;
                }
            }
        }
        if let Some(w) = &mut whole {
            w.lines.sort();
            w.lines.dedup_by_key(|l| l.seqno);
        }
        Ok(whole)
    }

    async fn keep(&self, what: Value, writes: Vec<StateWrite>) -> Result<(), StoreError> {
        let mut record = JournalRecord::new(
            KIND_XR_CLEARING,
            serde_json::to_vec(&what).expect("JSON serializes"),
        );
        for w in writes {
            record = record.with_write(w);
        }
        let appended = self.store.append(record)?;
        self.store.wait_durable(appended.ticket).await
    }

    /// The peer that settles the insured places of `province`.
    fn peer_for_province(&self, province: &Admdvs) -> Option<std::sync::Arc<Peer>> {
        self.peers
            .iter()
            .find(|p| {
                p.admdvs
                    .iter()
                    .any(|a| province.as_str().starts_with(&a[..2]))
            })
            .cloned()
    }

    /// The peer whose regions include the place of treatment `province`.
    fn peer_treating(&self, province: &Admdvs) -> Option<std::sync::Arc<Peer>> {
        self.peer_for_province(province)
    }

    /// One clearing run for `month` (see the module documentation); with `exchange` false,
    /// only what is known here is reported (nothing sent: `settle clearing status`).
    pub async fn run_clearing(
        &self,
        month: YearMonth,
        exchange: bool,
    ) -> Result<ClearingReport, StoreError> {
        let calendar = self.engine.as_ref().map(|e| e.config().calendar.clone());
        let now = OffsetDateTime::now_utc().to_offset(CHINA_OFFSET);
        let mut errors = Vec::new();
        let mut views = Vec::new();
        let mut answered: Vec<clr::Statement> = Vec::new();

        // 1 and 3: this gateway as the place of treatment
        let treated = self.rows_by_side("treatment")?;
        let carried = self.carried_into(month)?;
        let ours = match clr::clearing_month(&treated, month, &carried) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("statements as place of treatment: {e}"));
                Vec::new()
            }
        };
        for mut s in ours {
            let sent = if exchange {
                match self.send_statement(&s, calendar.as_ref(), now).await {
                    Ok(()) => true,
                    Err(e) => {
                        errors.push(format!("{}: {e}", s.stmt_id));
                        false
                    }
                }
            } else {
                let mut prefix = s.stmt_id.as_bytes().to_vec();
                prefix.push(0);
                self.store
                    .scan_prefix(SPACE_XR_CLEARING_OUT, &prefix)?
                    .next()
                    .is_some()
            };
            if let Some(reply) = self.kept_reply(&s.stmt_id)?
                && let Some(replied_on) = xr::dates::parse_date(&reply.replied_on)
            {
                match s.apply_reply(&reply.lines, replied_on) {
                    Ok(outcome) => {
                        if !outcome.carried.is_empty() {
                            let mut key = next_month(month).to_string().into_bytes();
                            key.push(0);
                            key.extend_from_slice(s.stmt_id.as_bytes());
                            if self.store.get(SPACE_XR_CLEARING_CARRY, &key)?.is_none() {
                                let json = serde_json::to_vec(&outcome.carried)
                                    .expect("carried lines serialize");
                                self.keep(
                                    serde_json::json!({"carried": s.stmt_id, "into": next_month(month).to_string()}),
                                    vec![StateWrite::put(SPACE_XR_CLEARING_CARRY, key, json)],
                                )
                                .await?;
                            }
                        }
                    }
                    Err(e) => errors.push(format!("{}: the reply does not apply: {e}", s.stmt_id)),
                }
            }
            views.push(self.view(&s, "treatment", sent, calendar.as_ref()));
            if s.is_replied() {
                answered.push(s);
            }
        }

        // 2: this gateway as the insured place
        let insured = self.rows_by_side("insured")?;
        let own = clr::clearing_month(&insured, month, &[]).unwrap_or_default();
        for received in self.statements_received(month)? {
            let reply = match self.kept_reply(&received.stmt_id)? {
                Some(r) => r,
                None if !exchange => continue,
                None => match self.reply_to(&received, &insured, now).await {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push(format!("{}: {e}", received.stmt_id));
                        continue;
                    }
                },
            };
            // our own view of the statement, answered the same way line by line (by the key
            // both sides share, not by position)
            let Some(mut mine) = own.iter().find(|s| s.stmt_id == received.stmt_id).cloned() else {
                // every line refused: nothing of it is ours
                continue;
            };
            let by_key: std::collections::BTreeMap<(String, i64), &clr::ReplyLine> = received
                .lines
                .iter()
                .filter_map(|l| {
                    reply
                        .lines
                        .iter()
                        .find(|r| r.seqno == l.seqno)
                        .map(|r| ((l.omsgid.clone(), l.aaa113.wire()), r))
                })
                .collect();
            let lines: Vec<clr::ReplyLine> = mine
                .lines
                .iter()
                .map(
                    |l| match by_key.get(&(l.row.omsgid.clone(), i64::from(l.row.aaa113))) {
                        Some(r) if r.confirm => clr::ReplyLine::confirm(l.seqno),
                        Some(r) => clr::ReplyLine::refuse(l.seqno, &r.reason),
                        None => clr::ReplyLine::refuse(l.seqno, "not on the statement received"),
                    },
                )
                .collect();
            if let Some(on) = xr::dates::parse_date(&reply.replied_on)
                && let Err(e) = mine.apply_reply(&lines, on)
            {
                errors.push(format!("{}: {e}", mine.stmt_id));
            }
            views.push(self.view(&mine, "insured", true, calendar.as_ref()));
            if mine.is_replied() {
                answered.push(mine);
            }
        }

        // 4: netting over what both sides answered
        // a statement appears twice when this gateway is on both sides of it (never: a
        // region does not treat its own insured as cross-region), once otherwise
        let (net, transfers) = match clr::NettingMatrix::from_statements(month, &answered) {
            Ok(m) => (
                m.net.iter().map(|(p, v)| (p.to_string(), *v)).collect(),
                m.bilateral_transfers(),
            ),
            Err(e) => {
                if !answered.is_empty() {
                    errors.push(format!("netting: {e}"));
                }
                (Vec::new(), Vec::new())
            }
        };
        let prepayments = self.prepayments(month, &treated);
        Ok(ClearingReport {
            month: month.to_string(),
            statements: views,
            net,
            transfers,
            prepayments,
            errors,
            answered,
        })
    }

    fn view(
        &self,
        s: &clr::Statement,
        role: &str,
        sent: bool,
        calendar: Option<&medsettle_settlement::Calendar>,
    ) -> StatementView {
        let due = calendar.and_then(|c| s.due_dates(c).ok());
        StatementView {
            stmt_id: s.stmt_id.clone(),
            role: role.to_owned(),
            insured_province: s.insured_province.to_string(),
            treatment_province: s.treatment_province.to_string(),
            count: s.count,
            medfee_sumamt: s.medfee_sumamt,
            fund_pay_sumamt: s.fund_pay_sumamt,
            lines: s.lines.len(),
            carried_in: s.lines.iter().filter(|l| l.carried_from.is_some()).count(),
            sent,
            replied: s.is_replied(),
            confirmed_fund_pay_sumamt: s.confirmed_fund(),
            refused_fund_pay_sumamt: s.refused_fund(),
            refused_lines: s.reply.as_ref().map_or(0, |r| r.outcome.refused_lines),
            statement_due: due.as_ref().map(|d| day(d.statement_due.value)),
            transfer_due: due
                .as_ref()
                .and_then(|d| d.transfer_due.as_ref().map(|t| day(t.value))),
            confirmed_late: due.as_ref().is_some_and(|d| d.confirmed_late),
            csv: s.to_csv(),
        }
    }

    /// Two months of the prior year's cross-province fund payments, per insured province
    /// this place treated for (the notice's prepayment; what the insured province owes here).
    fn prepayments(&self, month: YearMonth, treated: &[clr::ClearingRow]) -> Vec<PrepaymentView> {
        let mut prior: std::collections::BTreeMap<(Admdvs, Admdvs), Money> = Default::default();
        for r in treated
            .iter()
            .filter(|r| r.setl_time.year() == month.year - 1)
        {
            *prior
                .entry((r.insured_province(), r.treatment_province()))
                .or_default() += r.fund_pay_sumamt;
        }
        let mut pairs: std::collections::BTreeSet<(Admdvs, Admdvs)> = treated
            .iter()
            .map(|r| (r.insured_province(), r.treatment_province()))
            .collect();
        pairs.extend(prior.keys().copied());
        pairs
            .into_iter()
            .map(|(ins, trt)| {
                let p = prior.get(&(ins, trt)).copied().unwrap_or_default();
                PrepaymentView {
                    insured_province: ins.to_string(),
                    treatment_province: trt.to_string(),
                    year: month.year,
                    prior_year_fund_pay_sumamt: p,
                    required: clr::prepayment_required(p),
                }
            })
            .collect()
    }

    /// XPRV21 for one statement, page by page, kept as sent. The message ids derive from the
    /// statement and page, so a rerun resends the same messages (the peer answers again).
    async fn send_statement(
        &self,
        s: &clr::Statement,
        calendar: Option<&medsettle_settlement::Calendar>,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let peer = self
            .peer_for_province(&s.insured_province)
            .ok_or_else(|| format!("no peer settles {}", s.insured_province))?;
        let calendar = calendar.ok_or("no working-day calendar to date the statement")?;
        let due = s.due_dates(calendar).map_err(|e| e.to_string())?;
        let stmt_due = due.statement_due.value;
        // the transfer is due 10 working days after confirmation; before it, the latest the
        // notice allows if confirmed on the statement's due date
        let pay_due = clr::transfer_due(calendar, stmt_due)
            .map_err(|e| e.to_string())?
            .value;
        let lines: Vec<xr::StatementLine> = s
            .lines
            .iter()
            .map(|l| xr::StatementLine {
                seqno: l.seqno,
                omsgid: l.row.omsgid.clone(),
                setl_id: l.row.setl_id.clone(),
                mdtrt_id: l.row.mdtrt_id.clone(),
                medins_no: l.row.medins_no.clone(),
                setl_time: xr::china_datetime(l.row.setl_time),
                medfee_sumamt: l.row.medfee_sumamt,
                fund_pay_sumamt: l.row.fund_pay_sumamt,
                aaa113: if l.row.aaa113 < 0 {
                    xr::TxKind::Reversal
                } else {
                    xr::TxKind::Forward
                },
                carried_from: l.carried_from.map(xr_month),
            })
            .collect();
        let pages: Vec<&[xr::StatementLine]> = if lines.is_empty() {
            vec![&[]]
        } else {
            lines.chunks(xr::STATEMENT_LINES_PER_MESSAGE_MAX).collect()
        };
        for (i, page) in pages.iter().enumerate() {
            let startrow = u32::try_from(i * xr::STATEMENT_LINES_PER_MESSAGE_MAX + 1)
                .map_err(|e| e.to_string())?;
            let statement = xr::ClearingStatement {
                stmt_id: s.stmt_id.clone(),
                clr_month: xr_month(s.month),
                insuplc_prov: s.insured_province,
                mdtrtarea_prov: s.treatment_province,
                cnt: u32::try_from(s.count).map_err(|e| e.to_string())?,
                medfee_sumamt: s.medfee_sumamt,
                fund_pay_sumamt: s.fund_pay_sumamt,
                stmt_due_date: stmt_due,
                pay_due_date: pay_due,
                startrow,
                lines: page.to_vec(),
            };
            let input = xr::PeerRequest::Statement(statement).to_input();
            let msgid: String = format!("S{}{:04}", s.stmt_id, i)
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let env = xr::RequestEnvelope {
                ver: xr::VERSION.to_owned(),
                infno: xr::Infno::Xprv21,
                msgid,
                mdtrtarea_admvs: self.receiver_admdvs,
                insuplc_admdvs: s.insured_province,
                // fixed per statement page: a rerun sends the same bytes
                send_time: format!("{} 00:00:00", day(stmt_due)),
                input: input.clone(),
            };
            let _ = now;
            let answer = crate::interregion::send_message(&peer, xr::Infno::Xprv21, &env).await?;
            if answer.infcode != 0 {
                return Err(format!(
                    "statement refused: [{}] {}",
                    answer.rule, answer.err_msg
                ));
            }
            let mut key = s.stmt_id.as_bytes().to_vec();
            key.push(0);
            key.extend_from_slice(format!("{startrow:010}").as_bytes());
            if self
                .store
                .get(SPACE_XR_CLEARING_OUT, &key)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                self.keep(
                    serde_json::json!({"statement_sent": s.stmt_id, "startrow": startrow}),
                    vec![StateWrite::put(
                        SPACE_XR_CLEARING_OUT,
                        key,
                        serde_json::to_vec(&input).expect("JSON serializes"),
                    )],
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Every statement received for `month`, pages joined (complete ones only).
    fn statements_received(
        &self,
        month: YearMonth,
    ) -> Result<Vec<xr::ClearingStatement>, StoreError> {
        let mut pages: std::collections::BTreeMap<String, Vec<xr::ClearingStatement>> =
            Default::default();
        for item in self.store.scan_prefix(SPACE_XR_CLEARING_IN, b"")? {
            let (_, v) = item?;
            let Ok(input) = serde_json::from_slice::<Value>(&v) else {
                continue;
            };
            if let Ok(xr::PeerRequest::Statement(s)) = xr::decode_input(xr::Infno::Xprv21, &input)
                && s.clr_month == xr_month(month)
            {
                pages.entry(s.stmt_id.clone()).or_default().push(s);
            }
        }
        Ok(pages
            .into_values()
            .filter_map(|mut ps| {
                ps.sort_by_key(|p| p.startrow);
                ps.dedup_by_key(|p| p.startrow);
                xr::check_statement_complete(&ps).ok()?;
                let mut whole = ps[0].clone();
                whole.lines = ps.into_iter().flat_map(|p| p.lines).collect();
                Some(whole)
            })
            .collect())
    }

    /// Check a received statement line by line against this side's rows, send the reply and
    /// keep it.
    async fn reply_to(
        &self,
        s: &xr::ClearingStatement,
        insured: &[clr::ClearingRow],
        now: OffsetDateTime,
    ) -> Result<KeptReply, String> {
        let peer = self
            .peer_treating(&s.mdtrtarea_prov)
            .ok_or_else(|| format!("no peer for {}", s.mdtrtarea_prov))?;
        let mine: std::collections::BTreeMap<(String, i64), (Money, Money)> = {
            let mut m: std::collections::BTreeMap<(String, i64), (Money, Money)> =
                Default::default();
            for r in insured {
                let e = m
                    .entry((r.omsgid.clone(), i64::from(r.aaa113)))
                    .or_default();
                // a row delivered twice is one row
                *e = (r.medfee_sumamt, r.fund_pay_sumamt);
            }
            m
        };
        let lines: Vec<xr::ReplyLine> = s
            .lines
            .iter()
            .map(|l| {
                let key = (l.omsgid.clone(), l.aaa113.wire());
                let reason = match mine.get(&key) {
                    Some((medfee, fund))
                        if *medfee == l.medfee_sumamt && *fund == l.fund_pay_sumamt =>
                    {
                        None
                    }
                    Some((medfee, fund)) => Some(format!(
                        "amounts here are {medfee} / {fund}, not {} / {}",
                        l.medfee_sumamt, l.fund_pay_sumamt
                    )),
                    None => Some("no such settlement at the insured place".to_owned()),
                };
                xr::ReplyLine {
                    seqno: l.seqno,
                    flag: if reason.is_none() {
                        xr::ReplyFlag::Confirm
                    } else {
                        xr::ReplyFlag::Refuse
                    },
                    reason,
                }
            })
            .collect();
        let today = now.date();
        let mut confirmed = Money::ZERO;
        for (page, chunk) in lines.chunks(xr::REPLY_LINES_PER_MESSAGE_MAX).enumerate() {
            let reply = xr::ClearingReply {
                stmt_id: s.stmt_id.clone(),
                clr_month: s.clr_month,
                lines: chunk.to_vec(),
            };
            let msgid: String = format!("R{}{page:04}", s.stmt_id)
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let env = xr::RequestEnvelope {
                ver: xr::VERSION.to_owned(),
                infno: xr::Infno::Xprv22,
                msgid,
                mdtrtarea_admvs: s.mdtrtarea_prov,
                insuplc_admdvs: self.receiver_admdvs,
                send_time: format!("{} 00:00:00", day(today)),
                input: xr::PeerRequest::Reply(reply.clone()).to_input(),
            };
            let answer = crate::interregion::send_message(&peer, xr::Infno::Xprv22, &env).await?;
            if answer.infcode != 0 {
                return Err(format!(
                    "reply refused: [{}] {}",
                    answer.rule, answer.err_msg
                ));
            }
            let ack = xr::ReplyAnswer::from_output(answer.output.as_ref().ok_or("no output")?)
                .map_err(|e| e.to_string())?;
            xr::check_reply_answer(&s.lines, &reply, &ack).map_err(|e| e.to_string())?;
            confirmed += ack.confirmed_fund_pay_sumamt;
        }
        let kept = KeptReply {
            stmt_id: s.stmt_id.clone(),
            direction: "sent".into(),
            lines: lines
                .iter()
                .map(|l| clr::ReplyLine {
                    seqno: l.seqno,
                    confirm: l.flag == xr::ReplyFlag::Confirm,
                    reason: l.reason.clone().unwrap_or_default(),
                })
                .collect(),
            replied_on: day(today),
            confirmed_fund_pay_sumamt: confirmed,
        };
        let mut key = s.stmt_id.as_bytes().to_vec();
        key.push(0);
        self.keep(
            serde_json::json!({"reply_sent": s.stmt_id}),
            vec![StateWrite::put(
                SPACE_XR_CLEARING_REPLY,
                key,
                serde_json::to_vec(&kept).expect("a reply serializes"),
            )],
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(kept)
    }
}

/// What the statement's sender keeps of a reply it received (called from the peer handler,
/// in the same record as the message).
pub(crate) fn received_reply_write(
    reply: &xr::ClearingReply,
    answer: &xr::ReplyAnswer,
    replied_on: time::Date,
) -> StateWrite {
    let kept = KeptReply {
        stmt_id: reply.stmt_id.clone(),
        direction: "received".into(),
        lines: reply
            .lines
            .iter()
            .map(|l| clr::ReplyLine {
                seqno: l.seqno,
                confirm: l.flag == xr::ReplyFlag::Confirm,
                reason: l.reason.clone().unwrap_or_default(),
            })
            .collect(),
        replied_on: day(replied_on),
        confirmed_fund_pay_sumamt: answer.confirmed_fund_pay_sumamt,
    };
    // one entry per page, keyed by its first line
    let mut key = reply.stmt_id.as_bytes().to_vec();
    key.push(0);
    let first = reply.lines.first().map_or(0, |l| l.seqno);
    key.extend_from_slice(format!("{first:010}").as_bytes());
    StateWrite::put(
        SPACE_XR_CLEARING_REPLY,
        key,
        serde_json::to_vec(&kept).expect("a reply serializes"),
    )
}
