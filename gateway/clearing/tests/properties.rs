//! Properties of random months: statements add up, confirmed + refused = total, net positions
//! sum to zero, the transfers settle exactly the net positions, and the ledger audit passes.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, Money, ReceiptStatus};
use medsettle_clearing::*;
use medsettle_settlement::ledger::{Expectations, Ledger};
use medsettle_settlement::{Calendar, YearMonth};
use proptest::prelude::*;
use time::macros::{date, datetime};

const REGIONS: [&str; 5] = ["110100", "310100", "440300", "500100", "650100"];

/// (insured, treatment, fund fen, reversed in the month, refused)
type Spec = (usize, usize, i64, bool, bool);

fn rows_of(specs: &[Spec]) -> (Vec<ClearingRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    for (n, &(i, t, fund, reversed, refuse)) in specs.iter().enumerate() {
        if i == t {
            continue;
        }
        let at =
            datetime!(2025-05-01 08:00 +8) + time::Duration::minutes(i64::try_from(n).unwrap());
        let f = ClearingRow {
            omsgid: format!("M{n:04}"),
            setl_id: format!("S{n:04}"),
            mdtrt_id: format!("V{n:04}"),
            medins_no: format!("H{}{}", &REGIONS[t][..4], n % 3),
            certno: None,
            insuplc_admdvs: Admdvs::parse(REGIONS[i]).unwrap(),
            mdtrtarea_admvs: Admdvs::parse(REGIONS[t]).unwrap(),
            setl_time: at,
            medfee_sumamt: Money::from_fen(fund * 3 / 2),
            fund_pay_sumamt: Money::from_fen(fund),
            aaa113: AAA113_FORWARD,
            fulamt_advpay_flag: n % 7 == 0,
        };
        if reversed {
            rows.push(ClearingRow {
                setl_id: format!("R{n:04}"),
                setl_time: at + time::Duration::hours(1),
                medfee_sumamt: -f.medfee_sumamt,
                fund_pay_sumamt: -f.fund_pay_sumamt,
                aaa113: AAA113_REVERSAL,
                ..f.clone()
            });
        }
        if refuse {
            refused.push(f.omsgid.clone());
        }
        rows.push(f);
    }
    (rows, refused)
}

fn answered(specs: &[Spec]) -> Vec<Statement> {
    let (rows, refused) = rows_of(specs);
    let mut statements = clearing_month(&rows, YearMonth::parse("2025-05").unwrap(), &[]).unwrap();
    for s in &mut statements {
        s.lines
            .iter()
            .for_each(|l| assert_eq!(l.carried_from, None));
        let reply: Vec<ReplyLine> = s
            .lines
            .iter()
            .map(|l| {
                if refused.contains(&l.row.omsgid) {
                    ReplyLine::refuse(l.seqno, "disputed")
                } else {
                    ReplyLine::confirm(l.seqno)
                }
            })
            .collect();
        let o = s.apply_reply(&reply, date!(2025 - 06 - 04)).unwrap();
        assert_eq!(
            o.confirmed_fund_pay_sumamt + o.refused_fund_pay_sumamt,
            s.fund_pay_sumamt
        );
    }
    statements
}

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (
            0..5usize,
            0..5usize,
            0..50_000_000i64,
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.15),
        ),
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn statements_add_up_and_nets_sum_to_zero(specs in specs()) {
        let statements = answered(&specs);
        for s in &statements {
            prop_assert_eq!(s.fund_pay_sumamt, s.lines.iter().map(|l| l.row.fund_pay_sumamt).sum::<Money>());
            prop_assert_eq!(s.count, s.lines.iter().map(|l| i64::from(l.row.aaa113)).sum::<i64>());
            prop_assert!(s.lines.iter().enumerate().all(|(i, l)| l.seqno as usize == i + 1));
        }
        let m = NettingMatrix::from_statements(YearMonth::parse("2025-05").unwrap(), &statements).unwrap();
        prop_assert_eq!(m.net.values().copied().sum::<Money>(), Money::ZERO);
        // Applying the transfers to zero balances gives exactly the net positions.
        let transfers = m.transfers();
        let mut balance: BTreeMap<Admdvs, Money> = BTreeMap::new();
        for t in &transfers {
            prop_assert!(t.amount > Money::ZERO);
            *balance.entry(t.receiver).or_default() += t.amount;
            *balance.entry(t.payer).or_default() -= t.amount;
        }
        for (p, net) in &m.net {
            prop_assert_eq!(balance.get(p).copied().unwrap_or_default(), *net, "{}", p);
        }
        prop_assert!(balance.keys().all(|p| m.net.contains_key(p)));
        // Each province on one side only, at most n − 1 transfers.
        for t in &transfers {
            prop_assert!(m.net[&t.payer].is_negative() && m.net[&t.receiver] > Money::ZERO);
        }
        let moving = m.net.values().filter(|n| !n.is_zero()).count();
        prop_assert!(transfers.len() < moving.max(1));
    }

    #[test]
    fn the_ledger_audit_passes_for_any_month(specs in specs()) {
        let statements = answered(&specs);
        prop_assume!(!statements.is_empty());
        let mc = MonthClearing::new(YearMonth::parse("2025-05").unwrap(), &statements, &Calendar::embedded()).unwrap();
        let confirmed = mc.expected_expenditure();
        let receivable: BTreeMap<String, Money> = mc
            .matrix
            .net
            .iter()
            .map(|(p, n)| (province_entity(*p), if n.is_negative() { Money::ZERO } else { -*n }))
            .collect();
        let mut ledger = Ledger::new();
        let expect = Expectations { confirmed: confirmed.clone(), receivable };
        ledger.post("clearing", clearing_postings(&mc), &expect).unwrap();
        let mut settle = Vec::new();
        for t in &mc.transfers {
            settle.extend(transfer_receipt_postings(&mc, t, None, ReceiptStatus::Paid));
            settle.extend(arrival_postings(&mc, t));
        }
        let zero = confirmed.keys().map(|k| (k.clone(), Money::ZERO)).collect();
        let report = ledger.post("settled", settle, &Expectations { confirmed, receivable: zero }).unwrap();
        let report = report.expect("a new batch");
        {
            for (p, net) in &mc.matrix.net {
                let pos = report.positions.get(&province_entity(*p)).copied().unwrap_or_default();
                prop_assert_eq!(pos.paid, -*net);
                prop_assert_eq!(pos.in_transit, Money::ZERO);
            }
        }
    }

    /// Each province's gateway sees only its own statements; pair by pair it computes the same
    /// transfers as the complete matrix, they settle its exact position, and its books (the
    /// month, then the transfers paid and arrived) pass the audit.
    #[test]
    fn every_gateway_settles_its_pairs_alike_from_its_own_statements(specs in specs()) {
        let month = YearMonth::parse("2025-05").unwrap();
        let statements = answered(&specs);
        prop_assume!(!statements.is_empty());
        let all = NettingMatrix::from_statements(month, &statements).unwrap();
        let complete = all.bilateral_transfers();
        for province in all.net.keys() {
            let own: Vec<_> = statements
                .iter()
                .filter(|s| s.insured_province == *province || s.treatment_province == *province)
                .cloned()
                .collect();
            let mc = MonthClearing::bilateral(month, &own, &Calendar::embedded()).unwrap();
            prop_assert_eq!(mc.matrix.net_of(*province), all.net_of(*province));
            let mine: Vec<_> = complete
                .iter()
                .filter(|t| t.payer == *province || t.receiver == *province)
                .cloned()
                .collect();
            prop_assert_eq!(&mc.transfers, &mine);
            let settled: Money = mine
                .iter()
                .map(|t| if t.receiver == *province { t.amount } else { -t.amount })
                .sum();
            prop_assert_eq!(settled, all.net_of(*province));
            let entity = province_entity(*province);
            let confirmed: BTreeMap<String, Money> = mc
                .expected_expenditure()
                .into_iter()
                .filter(|(e, _)| *e == entity)
                .collect();
            let mut ledger = Ledger::new();
            let expect = Expectations { confirmed: confirmed.clone(), receivable: BTreeMap::new() };
            let books: Vec<_> = clearing_postings(&mc)
                .into_iter()
                .filter(|t| t.debit.institution() == entity)
                .collect();
            ledger.post("clearing", books, &expect).unwrap();
            let mut settle = Vec::new();
            for t in &mc.transfers {
                if t.payer == *province {
                    settle.extend(transfer_receipt_postings(&mc, t, None, ReceiptStatus::Paid));
                } else {
                    settle.extend(arrival_postings(&mc, t));
                }
            }
            let report = ledger.post("settled", settle, &expect).unwrap().expect("a new batch");
            let pos = report.positions.get(&entity).copied().unwrap_or_default();
            prop_assert_eq!(pos.paid, -all.net_of(*province));
            prop_assert_eq!(pos.receivable, Money::ZERO);
        }
    }
}
