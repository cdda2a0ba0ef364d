//! Properties of every decoder: valid messages of every infno round-trip exactly (encode →
//! decode → equal), hostile bytes and values never panic, and broken identities are refused
//! with their rule and path.

use medsettle_canonical::{Admdvs, FeeCategory, FundLine, Money, Ratio, SettlementAmounts};
use medsettle_interregion::*;
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::Value;
use time::{Date, Duration, Month, PrimitiveDateTime, Time};

// ---- small values --------------------------------------------------------------------------

fn fen(max: i64) -> impl Strategy<Value = Money> {
    (0..=max).prop_map(Money::from_fen)
}

fn id() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Za-z0-9_-]{0,29}"
}

fn msgid() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,40}"
}

fn code() -> impl Strategy<Value = String> {
    "[0-9A-Z]{1,6}"
}

fn name() -> impl Strategy<Value = String> {
    "[\\p{Han}A-Za-z·]{1,20}"
}

fn date() -> impl Strategy<Value = Date> {
    (2000..=2098i32, 1..=12u8, 1..=28u8)
        .prop_map(|(y, m, d)| Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap())
}

fn time_of_day() -> impl Strategy<Value = Time> {
    (0..24u8, 0..60u8, 0..60u8).prop_map(|(h, m, s)| Time::from_hms(h, m, s).unwrap())
}

fn datetime() -> impl Strategy<Value = PrimitiveDateTime> {
    (date(), time_of_day()).prop_map(|(d, t)| PrimitiveDateTime::new(d, t))
}

fn month() -> impl Strategy<Value = YearMonth> {
    // from 2002, so a line carried 23 months back is still in 2000
    (2002..=2098i32, 1..=12u8).prop_map(|(y, m)| YearMonth::new(y, m).unwrap())
}

/// A date-time inside `m`.
fn in_month(m: YearMonth, day: u8, t: Time) -> PrimitiveDateTime {
    let last = m.last_day();
    let d = Date::from_calendar_date(m.year(), last.month(), 1 + day % last.day()).unwrap();
    PrimitiveDateTime::new(d, t)
}

/// Two regions of different provinces: the place of treatment and the insured place.
fn regions() -> impl Strategy<Value = (Admdvs, Admdvs)> {
    (11..=50u32, 0..100u32, 51..=99u32, 0..100u32, any::<bool>()).prop_map(
        |(p1, c1, p2, c2, swap)| {
            let a = Admdvs::parse(&format!("{p1:02}{c1:02}00")).unwrap();
            let b = Admdvs::parse(&format!("{p2:02}{c2:02}00")).unwrap();
            if swap { (b, a) } else { (a, b) }
        },
    )
}

// ---- XPRV01 ----------------------------------------------------------------------------------

prop_compose! {
    fn summary()(
        categories in subsequence(FeeCategory::ALL_CODES.to_vec(), 1..=14),
        parts in prop::collection::vec((fen(1_000_000_000), fen(1_000_000_000), fen(100_000_000), fen(10_000_000)), 14),
        ids in (id(), id(), id(), id()),
        names in (prop::option::of(name()), prop::option::of(name())),
        codes in (code(), prop::sample::select(vec!["11", "14", "21", "24", "52", "2101", "9901"]), code(), code()),
        begntime in (2000..=2097i32, 1..=12u8, 1..=28u8, time_of_day()).prop_map(|(y, m, d, t)| PrimitiveDateTime::new(Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap(), t)),
        stay_s in 0..(90 * 86_400i64),
        with_end in any::<bool>(),
        flags in (any::<bool>(), any::<bool>()),
    ) -> Summary {
        let iteminfo: Vec<CategoryLine> = categories.iter().zip(parts).map(|(c, (a, b, o, x))| CategoryLine {
            med_chrgitm: FeeCategory::parse(c).unwrap(),
            amt: a + b + o + x,
            claa_sumfee: a,
            clab_amt: b,
            fulamt_ownpay_amt: o,
            oth_amt: x,
        }).collect();
        let end = begntime + Duration::seconds(stay_s);
        Summary {
            header: SummaryHeader {
                mdtrt_id: ids.0,
                psn_no: ids.1,
                certno: ids.2,
                psn_name: names.0,
                insutype: codes.0,
                med_type: codes.1.to_owned(),
                fixmedins_code: ids.3,
                fixmedins_name: names.1,
                hosp_lv: codes.2,
                begntime,
                endtime: (with_end || is_inpatient(codes.1)).then_some(end),
                medfee_sumamt: iteminfo.iter().map(|l| l.amt).sum(),
                acct_used_flag: flags.0,
                setl_kind: if flags.1 { SetlKind::Final } else { SetlKind::Pre },
            },
            iteminfo,
        }
    }
}

/// National fund codes for the fund parts, in `SettlementAmounts` order.
const FUND_CODES: [&str; 8] = [
    "310100", "320100", "370100", "390200", "330100", "610100", "999997", "350100",
];

prop_compose! {
    fn split()(
        fund_parts in prop::collection::vec(prop_oneof![Just(0i64), 0..1_000_000_000i64], 8),
        person in fen(1_000_000_000),
        scope in (0..=1_000_000u64, 0..=1_000_000u64, 0..=1_000_000u64),
        acct_share in 0..=1_000u64,
        list_account in any::<bool>(),
        ids in (id(), id(), id(), name(), code(), code()),
        ratio in prop::option::of(0..=10_000i64),
        balc in prop::option::of(fen(1_000_000)),
        setl_time in datetime(),
        clr in (11..=99u32, 0..100u32),
    ) -> Split {
        let f: Vec<Money> = fund_parts.iter().copied().map(Money::from_fen).collect();
        let fund: Money = f.iter().copied().sum();
        let medfee = fund + person;
        // split medfee into ownpay, overlimit, preselfpay and in-scope, each a share of the rest
        let share = |of: Money, per_million: u64| Money::from_fen((i128::from(of.fen()) * i128::from(per_million) / 1_000_000) as i64);
        let own = share(medfee, scope.0 / 3);
        let over = share(medfee - own, scope.1 / 3);
        let pre = share(medfee - own - over, scope.2 / 3);
        let acct = share(person, acct_share * 1_000);
        let mut setldetail: Vec<FundLine> = FUND_CODES.iter().zip(&f).filter(|(_, m)| !m.is_zero()).map(|(c, m)| line(c, *m)).collect();
        if list_account && !acct.is_zero() {
            setldetail.push(line("310200", acct));
        }
        Split {
            setl_id: ids.0,
            mdtrt_id: ids.1,
            psn_no: ids.2,
            psn_name: ids.3,
            insutype: ids.4,
            psn_type: ids.5,
            setl_time,
            amounts: SettlementAmounts {
                medfee_sumamt: medfee,
                fulamt_ownpay_amt: own,
                overlmt_selfpay: over,
                preselfpay_amt: pre,
                inscp_scp_amt: medfee - own - over - pre,
                act_pay_dedc: share(medfee - own - over - pre, 100_000),
                hifp_pay: f[0],
                pool_prop_selfpay: ratio.map(Ratio::from_bp),
                cvlserv_pay: f[1],
                hifes_pay: f[2],
                hifmi_pay: f[3],
                hifob_pay: f[4],
                maf_pay: f[5],
                oth_pay: f[6],
                hifdm_pay: f[7],
                fund_pay_sumamt: fund,
                psn_part_amt: person,
                acct_pay: acct,
                psn_cash_pay: person - acct,
                hosp_part_amt: Money::ZERO,
                balc,
                acct_mulaid_pay: Money::ZERO,
            },
            setldetail,
            clr_optins: Admdvs::parse(&format!("{:02}{:02}00", clr.0, clr.1)).unwrap(),
        }
    }
}

fn line(code: &str, m: Money) -> FundLine {
    FundLine {
        fund_pay_type: code.to_owned(),
        fund_pay_type_name: None,
        inscp_scp_amt: None,
        crt_payb_lmt_amt: None,
        fund_payamt: m,
        setl_proc_info: None,
    }
}

// ---- XPRV02, XPRV03 ------------------------------------------------------------------------

fn reversal() -> impl Strategy<Value = Reversal> {
    (msgid(), id(), id(), id()).prop_map(|(omsgid, setl_id, mdtrt_id, psn_no)| Reversal {
        omsgid,
        setl_id,
        mdtrt_id,
        psn_no,
    })
}

fn reversal_done() -> impl Strategy<Value = ReversalDone> {
    (id(), id(), datetime(), 0..1_000_000_000i64, 0..=1_000u64).prop_map(
        |(setl_id, osetl_id, setl_time, medfee, share)| ReversalDone {
            setl_id,
            osetl_id,
            setl_time,
            medfee_sumamt: Money::from_fen(-medfee),
            fund_pay_sumamt: Money::from_fen(-(medfee * share as i64 / 1_000)),
        },
    )
}

fn status_query() -> impl Strategy<Value = StatusQuery> {
    let changing: Vec<Infno> = Infno::ALL
        .into_iter()
        .filter(|i| i.changes_state())
        .collect();
    (prop::sample::select(changing), msgid(), any::<bool>()).prop_map(|(oinfno, omsgid, seal)| {
        StatusQuery {
            oinfno,
            omsgid,
            seal,
        }
    })
}

fn status_answer() -> impl Strategy<Value = StatusAnswer> {
    let states = vec![
        StatusState::Applied,
        StatusState::Reversed,
        StatusState::Absent,
        StatusState::Sealed,
    ];
    (prop::sample::select(states), split()).prop_map(|(state, split)| StatusAnswer {
        state,
        answer: state.took_effect().then(|| split.to_output()),
    })
}

// ---- XPRV11, XPRV12 ------------------------------------------------------------------------

/// Count, medfee and fund of one direction: amounts of the right sign, fund within medfee.
fn direction_sums(kind: TxKind) -> impl Strategy<Value = (u32, Money, Money)> {
    (0..100u32, 0..1_000_000_000_000i64, 0..=1_000u64).prop_map(move |(cnt, medfee, share)| {
        if cnt == 0 {
            return (0, Money::ZERO, Money::ZERO);
        }
        let fund = medfee * share as i64 / 1_000;
        match kind {
            TxKind::Forward => (cnt, Money::from_fen(medfee), Money::from_fen(fund)),
            TxKind::Reversal => (cnt, Money::from_fen(-medfee), Money::from_fen(-fund)),
        }
    })
}

fn day_totals_strategy() -> impl Strategy<Value = DayTotals> {
    (
        direction_sums(TxKind::Forward),
        direction_sums(TxKind::Reversal),
    )
        .prop_map(|(f, r)| DayTotals {
            fwd_cnt: f.0,
            fwd_medfee_sumamt: f.1,
            fwd_fund_pay_sumamt: f.2,
            rev_cnt: r.0,
            rev_medfee_sumamt: r.1,
            rev_fund_pay_sumamt: r.2,
        })
}

fn signed(kind: TxKind, medfee: i64, share: u64) -> (Money, Money) {
    let fund = medfee * share as i64 / 1_000;
    match kind {
        TxKind::Forward => (Money::from_fen(medfee), Money::from_fen(fund)),
        TxKind::Reversal => (Money::from_fen(-medfee), Money::from_fen(-fund)),
    }
}

/// A row's data besides its key: setl_id, mdtrt_id, time of day, |medfee| in fen, fund share
/// in 1/1000, full-advance flag.
type RowData = (String, String, Time, i64, u64, bool);

/// Unique keys in ascending order, each with row data.
fn keyed_rows(max: usize) -> impl Strategy<Value = Vec<((String, TxKind), RowData)>> {
    prop::collection::btree_map(
        (
            msgid(),
            prop_oneof![Just(TxKind::Forward), Just(TxKind::Reversal)],
        ),
        (
            id(),
            id(),
            time_of_day(),
            0..1_000_000_000i64,
            0..=1_000u64,
            any::<bool>(),
        ),
        0..max,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn recon_rows(day: Date, keyed: Vec<((String, TxKind), RowData)>) -> Vec<ReconRow> {
    keyed
        .into_iter()
        .map(
            |((omsgid, kind), (setl_id, mdtrt_id, t, medfee, share, adv))| {
                let (m, f) = signed(kind, medfee, share);
                ReconRow {
                    omsgid,
                    setl_id,
                    mdtrt_id,
                    setl_time: PrimitiveDateTime::new(day, t),
                    medfee_sumamt: m,
                    fund_pay_sumamt: f,
                    aaa113: kind,
                    fulamt_advpay_flag: adv,
                }
            },
        )
        .collect()
}

fn recon_detail() -> impl Strategy<Value = ReconDetail> {
    (date(), keyed_rows(20), 1..1_000u32, 0..1_000u32).prop_map(|(day, keyed, startrow, extra)| {
        let rows = recon_rows(day, keyed);
        ReconDetail {
            recon_date: day,
            rows_total: startrow - 1 + rows.len() as u32 + extra,
            startrow,
            rows,
        }
    })
}

fn difference() -> impl Strategy<Value = (DifferenceKind, i64, i64, i64, i64)> {
    let kinds = vec![
        DifferenceKind::MissingAtReceiver,
        DifferenceKind::MissingAtSender,
        DifferenceKind::AmountDiffers,
    ];
    (
        prop::sample::select(kinds),
        -1_000_000i64..1_000_000,
        -1_000_000i64..1_000_000,
        1..1_000i64,
        any::<bool>(),
    )
        .prop_map(|(k, m, f, d, which)| {
            (
                k,
                m,
                f,
                if which { d } else { 0 },
                if which { 0 } else { d },
            )
        })
}

fn recon_detail_answer() -> impl Strategy<Value = ReconDetailAnswer> {
    prop::collection::btree_map(
        (
            msgid(),
            prop_oneof![Just(TxKind::Forward), Just(TxKind::Reversal)],
        ),
        difference(),
        0..20,
    )
    .prop_map(|m| ReconDetailAnswer {
        differences: m
            .into_iter()
            .map(|((omsgid, aaa113), (kind, medfee, fund, dm, df))| {
                let (s, r) = match kind {
                    DifferenceKind::MissingAtReceiver => (Some((medfee, fund)), None),
                    DifferenceKind::MissingAtSender => (None, Some((medfee, fund))),
                    DifferenceKind::AmountDiffers => {
                        (Some((medfee, fund)), Some((medfee + dm, fund + df)))
                    }
                };
                Difference {
                    omsgid,
                    aaa113,
                    kind,
                    sender_medfee_sumamt: s.map(|s| Money::from_fen(s.0)),
                    receiver_medfee_sumamt: r.map(|r| Money::from_fen(r.0)),
                    sender_fund_pay_sumamt: s.map(|s| Money::from_fen(s.1)),
                    receiver_fund_pay_sumamt: r.map(|r| Money::from_fen(r.1)),
                }
            })
            .collect(),
    })
}

// ---- XPRV21, XPRV22, XPRV31 ------------------------------------------------------------------

prop_compose! {
    fn statement(insuplc_prov: Admdvs, mdtrtarea_prov: Admdvs)(
        stmt_id in id(),
        clr_month in month(),
        keyed in keyed_rows(20),
        carried in prop::collection::vec(prop::option::of(1..24u32), 20),
        days in prop::collection::vec(0..31u8, 20),
        medins in id(),
        whole in any::<bool>(),
        startrow in 1..1_000u32,
        extra in 1..1_000u32,
        totals in (-1_000_000_000i64..1_000_000_000, -1_000_000_000i64..1_000_000_000),
        due in (1..30i64, 0..30i64),
    ) -> ClearingStatement {
        let startrow = if whole { 1 } else { startrow };
        let lines: Vec<StatementLine> = keyed.into_iter().enumerate().map(|(i, ((omsgid, kind), (setl_id, mdtrt_id, t, medfee, share, _)))| {
            let carried_from = carried[i].map(|back| {
                let months = clr_month.year() * 12 + i32::from(clr_month.month()) - 1 - back as i32;
                YearMonth::new(months / 12, (months % 12 + 1) as u8).unwrap()
            });
            let (m, f) = signed(kind, medfee, share);
            StatementLine {
                seqno: startrow + i as u32,
                omsgid,
                setl_id,
                mdtrt_id,
                medins_no: medins.clone(),
                setl_time: in_month(carried_from.unwrap_or(clr_month), days[i], t),
                medfee_sumamt: m,
                fund_pay_sumamt: f,
                aaa113: kind,
                carried_from,
            }
        }).collect();
        let n = lines.len() as u32;
        let (cnt, medfee_sumamt, fund_pay_sumamt) = if whole {
            (n, lines.iter().map(|l| l.medfee_sumamt).sum(), lines.iter().map(|l| l.fund_pay_sumamt).sum())
        } else {
            (startrow - 1 + n + extra, Money::from_fen(totals.0), Money::from_fen(totals.1))
        };
        let stmt_due_date = clr_month.last_day() + Duration::days(due.0);
        ClearingStatement {
            stmt_id, clr_month, insuplc_prov, mdtrtarea_prov, cnt, medfee_sumamt, fund_pay_sumamt,
            stmt_due_date,
            pay_due_date: stmt_due_date + Duration::days(due.1),
            startrow, lines,
        }
    }
}

fn clearing_reply() -> impl Strategy<Value = ClearingReply> {
    (
        id(),
        month(),
        prop::collection::btree_map(
            1..1_000_000u32,
            (any::<bool>(), prop::option::of(name())),
            1..20,
        ),
    )
        .prop_map(|(stmt_id, clr_month, m)| ClearingReply {
            stmt_id,
            clr_month,
            lines: m
                .into_iter()
                .map(|(seqno, (confirm, reason))| ReplyLine {
                    seqno,
                    flag: if confirm {
                        ReplyFlag::Confirm
                    } else {
                        ReplyFlag::Refuse
                    },
                    reason: if confirm {
                        reason
                    } else {
                        Some(reason.unwrap_or_else(|| "无此结算".into()))
                    },
                })
                .collect(),
        })
}

prop_compose! {
    fn prepayment(insuplc_prov: Admdvs, mdtrtarea_prov: Admdvs)(
        year in 2000..=2099i32,
        prior in fen(10_000_000_000_000),
        balance in fen(10_000_000_000_000),
        equal in any::<bool>(),
        drawn in prop::option::of(1i64..=10_000_000_000_000),
        reference in "[A-Z0-9]{1,40}",
        due_date in date(),
    ) -> PrepaymentNotice {
        let required_amt = prepayment_required(prior);
        let balance = if equal { required_amt } else { balance };
        let (movement, movement_amt) = match drawn {
            // a drawdown of at most the balance held
            Some(d) if balance > Money::ZERO => {
                (Movement::Drawdown, Money::from_fen(d.min(balance.fen())))
            }
            _ => prepayment_movement(required_amt, balance),
        };
        let balance_after = match movement {
            Movement::TopUp => balance + movement_amt,
            Movement::Refund | Movement::Drawdown => balance - movement_amt,
            Movement::Unchanged => balance,
        };
        PrepaymentNotice { year, insuplc_prov, mdtrtarea_prov, prior_year_fund_pay_sumamt: prior, required_amt, balance, movement, movement_amt, balance_after, reference, due_date }
    }
}

/// A valid request of any infno with an envelope it fits.
fn request() -> impl Strategy<Value = (RequestEnvelope, PeerRequest)> {
    (regions(), msgid(), prop::option::of(datetime())).prop_flat_map(
        |((treatment, insured), msgid, sent)| {
            let (ip, tp) = (province_of(insured), province_of(treatment));
            let body = prop_oneof![
                summary().prop_map(PeerRequest::Summary),
                reversal().prop_map(PeerRequest::Reversal),
                status_query().prop_map(PeerRequest::Status),
                (date(), day_totals_strategy()).prop_map(|(recon_date, totals)| {
                    PeerRequest::ReconTotals(ReconTotals { recon_date, totals })
                }),
                recon_detail().prop_map(PeerRequest::ReconDetail),
                statement(ip, tp).prop_map(PeerRequest::Statement),
                clearing_reply().prop_map(PeerRequest::Reply),
                prepayment(ip, tp).prop_map(PeerRequest::Prepayment),
            ];
            body.prop_map(move |request| {
                let env = RequestEnvelope {
                    ver: VERSION.to_owned(),
                    infno: request.infno(),
                    msgid: msgid.clone(),
                    mdtrtarea_admvs: treatment,
                    insuplc_admdvs: insured,
                    send_time: sent.map(dates::format_datetime).unwrap_or_default(),
                    input: request.to_input(),
                };
                (env, request)
            })
        },
    )
}

/// A valid answer of any infno.
fn answer() -> impl Strategy<Value = PeerAnswer> {
    prop_oneof![
        split().prop_map(PeerAnswer::Split),
        reversal_done().prop_map(PeerAnswer::ReversalDone),
        status_answer().prop_map(PeerAnswer::Status),
        (any::<bool>(), day_totals_strategy()).prop_map(|(agree, totals)| PeerAnswer::ReconTotals(
            ReconTotalsAnswer {
                stmt_rslt: if agree {
                    StmtResult::Agree
                } else {
                    StmtResult::Differ
                },
                totals,
            }
        )),
        recon_detail_answer().prop_map(PeerAnswer::ReconDetail),
        (0..=COUNT_MAX).prop_map(
            |received_rows| PeerAnswer::StatementReceipt(StatementReceipt { received_rows })
        ),
        (0..1_000u32, 0..1_000u32, -1_000_000_000i64..1_000_000_000).prop_map(|(c, r, m)| {
            PeerAnswer::Reply(ReplyAnswer {
                confirmed_cnt: c,
                refused_cnt: r,
                confirmed_fund_pay_sumamt: Money::from_fen(m),
            })
        }),
        Just(PeerAnswer::Prepayment(PrepaymentAck)),
    ]
}

// ---- hostile values ------------------------------------------------------------------------

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "-?[0-9]{1,20}(\\.[0-9]{1,5})?(e-?[0-9]{1,3})?"
            .prop_map(|t| serde_json::from_str(&t).unwrap_or(Value::Null)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "XPRV01",
            "0",
            "1",
            "-1",
            "2024-05-20 12:00:00",
            "202405",
            "110000",
            "25600.00",
            "pre",
            "final"
        ])
        .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "summary",
                        "iteminfo",
                        "amt",
                        "lines",
                        "rows",
                        "seqno",
                        "omsgid",
                        "state",
                        "answer",
                        "setlinfo",
                        "setldetail",
                        "x"
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Every path (JSON pointer) inside `v`, the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            pointers(
                c,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

/// `v` with the value at one of its paths replaced (or, for the root, the whole value).
fn mutate(v: &Value, pick: prop::sample::Index, with: Value) -> Value {
    let mut paths = Vec::new();
    pointers(v, String::new(), &mut paths);
    let path = pick.get(&paths);
    let mut out = v.clone();
    if path.is_empty() {
        return with;
    }
    *out.pointer_mut(path)
        .unwrap_or_else(|| panic!("no {path} in {v}")) = with;
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_requests_of_every_infno_round_trip((env, request) in request()) {
        let bytes = env.encode();
        let (env2, request2) = decode_request(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(&env2, &env);
        prop_assert_eq!(&request2, &request);
        prop_assert_eq!(env2.encode(), bytes);
        prop_assert!(env.idempotency_key().is_ok());
    }

    #[test]
    fn valid_answers_of_every_infno_round_trip(answer in answer(), refmsgid in msgid(), t in datetime()) {
        let ctx = AnswerContext {
            inf_refmsgid: refmsgid,
            refmsg_time: dates::format_datetime(t),
            respond_time: dates::format_datetime(t),
        };
        let envelope = AnswerEnvelope::done(answer.to_output(), &ctx);
        let bytes = envelope.encode();
        let back = AnswerEnvelope::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &envelope);
        let typed = decode_output(answer.infno(), back.output.as_ref().unwrap()).unwrap();
        prop_assert_eq!(typed, answer);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits::default();
        let _ = RequestEnvelope::decode(&bytes, &limits);
        let _ = AnswerEnvelope::decode_with_limits(&bytes, &limits);
        let _ = decode_request(&bytes, &limits);
    }

    #[test]
    fn arbitrary_json_never_panics_any_decoder(v in json_value()) {
        for infno in Infno::ALL {
            let _ = decode_input(infno, &v);
            let _ = decode_output(infno, &v);
        }
        let text = serde_json::to_vec(&v).unwrap();
        let _ = decode_request(&text, &Limits::default());
        let _ = AnswerEnvelope::decode(&text);
    }

    #[test]
    fn mutated_messages_never_panic((env, request) in request(), answer in answer(), pick in any::<prop::sample::Index>(), with in json_value(), cut in any::<prop::sample::Index>()) {
        let input = mutate(&request.to_input(), pick, with.clone());
        if let Err(r) = decode_input(request.infno(), &input) {
            prop_assert!(rule::ALL.contains(&r.rule));
        }
        let output = mutate(&answer.to_output(), pick, with);
        let _ = decode_output(answer.infno(), &output);
        // a message cut anywhere is refused, never a panic
        let bytes = RequestEnvelope { input, ..env }.encode();
        let _ = decode_request(&bytes[..cut.index(bytes.len() + 1)], &Limits::default());
    }

    #[test]
    fn a_line_whose_parts_do_not_sum_is_refused_at_its_amt(s in summary(), pick in any::<prop::sample::Index>(), delta in 1..1_000_000i64) {
        let i = pick.index(s.iteminfo.len());
        let mut broken = s.clone();
        broken.iteminfo[i].amt += Money::from_fen(delta);
        let r = decode_input(Infno::Xprv01, &broken.to_input()).unwrap_err();
        prop_assert_eq!(r.rule, rule::SUM_LINE_PARTS);
        prop_assert_eq!(r.path, format!("input.iteminfo[{i}].amt"));
        // the untouched summary decodes to itself
        prop_assert_eq!(decode_input(Infno::Xprv01, &s.to_input()).unwrap(), PeerRequest::Summary(s));
    }

    #[test]
    fn a_split_whose_fund_lines_do_not_sum_is_refused(s in split(), delta in 1..1_000_000i64) {
        let mut broken = s.clone();
        match broken.setldetail.iter_mut().find(|l| l.kind() == medsettle_canonical::FundLineKind::Fund) {
            Some(l) => l.fund_payamt += Money::from_fen(delta),
            None => broken.setldetail.push(line("390100", Money::from_fen(delta))),
        }
        let r = Split::from_output(&broken.to_output()).unwrap_err();
        prop_assert_eq!(r.rule, rule::SPLIT_FUND_LINES);
        prop_assert_eq!(r.path, "output.setldetail");
        prop_assert!(Split::from_output(&s.to_output()).is_ok());
    }

    #[test]
    fn a_day_reconciles_with_itself(keyed in keyed_rows(30), day in date()) {
        let rows = recon_rows(day, keyed);
        prop_assert!(reconcile_detail(&rows, &rows).is_empty());
        let totals = day_totals(&rows);
        let sent = ReconTotals { recon_date: day, totals };
        let answer = ReconTotalsAnswer::compare(&sent, &totals);
        prop_assert_eq!(answer.stmt_rslt, StmtResult::Agree);
        prop_assert!(check_totals_answer(&sent, &answer).is_ok());
        // dropping one row on the receiver's side shows exactly that row missing there
        if let Some((first, rest)) = rows.split_first() {
            let d = reconcile_detail(&rows, rest);
            prop_assert_eq!(d.len(), 1);
            prop_assert_eq!(d[0].kind, DifferenceKind::MissingAtReceiver);
            prop_assert_eq!(&d[0].omsgid, &first.omsgid);
            prop_assert_eq!(ReconTotalsAnswer::compare(&sent, &day_totals(rest)).stmt_rslt, StmtResult::Differ);
        }
    }
}
