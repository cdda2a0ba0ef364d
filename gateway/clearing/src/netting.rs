//! Multilateral netting of a month's confirmed statements (部级统一清分).
//!
//! Each confirmed statement (insured I → treatment T, amount C) makes T receivable C and I
//! payable C. A province's **net position** is Σ receivable − Σ payable (receivable positive,
//! payable negative); the positions sum to zero exactly.
//!
//! **Transfers: direct, payer province → receiver province**, not through a central account.
//! The 2016 notice moves money from the insured place's provincial finance account (财政专户)
//! straight to the treatment place's; the ministry splits and clears (清分) but holds no money,
//! so a central clearing account would be an account nobody has. Each province is on one side
//! only and its transfers add up to its one net amount; there are at most n − 1 transfers for n
//! provinces with a non-zero position (each transfer settles at least one province, the last
//! two), which is the minimum unless some proper group of provinces nets to zero by itself
//! (finding such groups is subset-sum, and n is at most 34).
//!
//! Payers are matched to receivers along the largest gross relationships first: the pair where
//! the payer owes the receiver most before netting (then by province codes, for determinism).
//! So a transfer usually follows a real flow of patients, and the receiver usually holds the
//! payer's prepayment, which it may draw on if the transfer is overdue ([`crate::prepayment`]).
//!
//! **These multilateral transfers need the whole matrix** — every statement between every pair
//! of provinces, as the ministry's platform has it. A province's gateway holds only the
//! statements its province is party to: its own net position is exact, but the other provinces'
//! positions in its matrix are partial, and transfers matched on partial positions differ from
//! gateway to gateway (A's file could pay B what B's matrix says C owes it). So a gateway
//! settles **bilaterally** ([`NettingMatrix::bilateral_transfers`]): each pair's two directions
//! netted into one transfer, which both sides compute from the same two statements. Its
//! position is still the one net amount of the matrix; it is settled through one transfer per
//! counter-province.

use std::collections::BTreeMap;

use medsettle_canonical::{Admdvs, Fault, Money};
use medsettle_settlement::YearMonth;
use serde::{Deserialize, Serialize};

use crate::error::{ClearingError, NETTING_RULE, Result};
use crate::statement::{Statement, compact_month};

/// One confirmed statement as the netting sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrossLine {
    pub stmt_id: String,
    pub insured_province: Admdvs,
    pub treatment_province: Admdvs,
    /// The confirmed fund total: owed by the insured to the treatment province (negative when
    /// the month's reversals outweigh its settlements).
    pub amount: Money,
}

/// One movement of money between provinces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetTransfer {
    /// `X<YYYYMM><payer><receiver>`: deterministic, one per pair and month (invariant 5).
    pub transfer_id: String,
    pub payer: Admdvs,
    pub receiver: Admdvs,
    /// > 0.
    pub amount: Money,
}

/// The month's gross statements and every province's net position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NettingMatrix {
    pub month: YearMonth,
    /// One line per province pair, ordered by (insured, treatment).
    pub gross: Vec<GrossLine>,
    /// Receivable positive, payable negative; every province of `gross`, zero included.
    pub net: BTreeMap<Admdvs, Money>,
}

/// The month of a transfer id `X<YYYYMM><payer><receiver>` (`None` for any other text).
pub fn transfer_month(transfer_id: &str) -> Option<YearMonth> {
    let rest = transfer_id.strip_prefix('X')?;
    if rest.len() != 18 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    YearMonth::parse(&format!("{}-{}", &rest[..4], &rest[4..6]))
}

impl NettingMatrix {
    /// The matrix of `month` from its statements: every one must be answered, of `month`, and
    /// the only one of its province pair.
    pub fn from_statements(month: YearMonth, statements: &[Statement]) -> Result<NettingMatrix> {
        let mut gross = Vec::with_capacity(statements.len());
        for s in statements {
            if s.month != month {
                return Err(netting_err(format!(
                    "{} is not a statement of {month}",
                    s.stmt_id
                )));
            }
            if !s.is_replied() {
                return Err(netting_err(format!(
                    "{} has no reply yet: the month cannot be netted before every statement is answered",
                    s.stmt_id
                )));
            }
            gross.push(GrossLine {
                stmt_id: s.stmt_id.clone(),
                insured_province: s.insured_province,
                treatment_province: s.treatment_province,
                amount: s.confirmed_fund(),
            });
        }
        NettingMatrix::from_gross(month, gross)
    }

    /// The matrix from gross lines directly (one per province pair, two different provinces).
    pub fn from_gross(month: YearMonth, mut gross: Vec<GrossLine>) -> Result<NettingMatrix> {
        gross.sort_by_key(|g| (g.insured_province, g.treatment_province));
        let mut net: BTreeMap<Admdvs, Money> = BTreeMap::new();
        for (i, g) in gross.iter().enumerate() {
            if g.insured_province == g.treatment_province {
                return Err(netting_err(format!(
                    "{}: a province does not clear with itself",
                    g.stmt_id
                )));
            }
            if i > 0
                && (
                    gross[i - 1].insured_province,
                    gross[i - 1].treatment_province,
                ) == (g.insured_province, g.treatment_province)
            {
                return Err(netting_err(format!(
                    "{} and {} are the same province pair",
                    gross[i - 1].stmt_id,
                    g.stmt_id
                )));
            }
            *net.entry(g.treatment_province).or_default() += g.amount;
            *net.entry(g.insured_province).or_default() -= g.amount;
        }
        let m = NettingMatrix { month, gross, net };
        m.assert_balanced();
        Ok(m)
    }

    /// A province's net position (zero for a province the month does not involve).
    pub fn net_of(&self, province: Admdvs) -> Money {
        self.net.get(&province).copied().unwrap_or_default()
    }

    /// What `insured` owes `treatment` before netting (0 when they have no statement).
    pub fn gross_between(&self, insured: Admdvs, treatment: Admdvs) -> Money {
        self.gross
            .iter()
            .find(|g| g.insured_province == insured && g.treatment_province == treatment)
            .map(|g| g.amount)
            .unwrap_or_default()
    }

    /// The transfers that settle every net position (see the module documentation).
    pub fn transfers(&self) -> Vec<NetTransfer> {
        let mut remaining = self.net.clone();
        let payers = self
            .net
            .iter()
            .filter(|(_, n)| n.is_negative())
            .map(|(p, _)| *p);
        let receivers: Vec<Admdvs> = self
            .net
            .iter()
            .filter(|(_, n)| **n > Money::ZERO)
            .map(|(p, _)| *p)
            .collect();
        let mut pairs: Vec<(Money, Admdvs, Admdvs)> = payers
            .flat_map(|p| receivers.iter().map(move |r| (p, *r)))
            .map(|(p, r)| (self.gross_between(p, r), p, r))
            .collect();
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let ym = compact_month(self.month);
        let mut out = Vec::new();
        for (_, payer, receiver) in pairs {
            let amount = (-remaining[&payer]).min(remaining[&receiver]);
            if amount > Money::ZERO {
                *remaining.get_mut(&payer).expect("a payer") += amount;
                *remaining.get_mut(&receiver).expect("a receiver") -= amount;
                out.push(NetTransfer {
                    transfer_id: format!("X{ym}{payer}{receiver}"),
                    payer,
                    receiver,
                    amount,
                });
            }
        }
        assert!(
            remaining.values().all(|m| m.is_zero()),
            "netting left {remaining:?}"
        );
        let moving = self.net.values().filter(|n| !n.is_zero()).count();
        assert!(
            out.len() < moving.max(1),
            "{} transfers for {moving} provinces",
            out.len()
        );
        out
    }

    /// One transfer per province pair: what `P` owes `Q` (`P`'s insured treated in `Q`) less what
    /// `Q` owes `P`, paid by whichever owes more; nothing for a pair that nets to zero. Sound
    /// from any subset of the statements that holds both directions of a pair (see the module
    /// documentation), and its transfers settle every net position too.
    pub fn bilateral_transfers(&self) -> Vec<NetTransfer> {
        let ym = compact_month(self.month);
        let pairs: std::collections::BTreeSet<(Admdvs, Admdvs)> = self
            .gross
            .iter()
            .map(|g| {
                let (a, b) = (g.insured_province, g.treatment_province);
                (a.min(b), a.max(b))
            })
            .collect();
        pairs
            .into_iter()
            .filter_map(|(p, q)| {
                let owed = self.gross_between(p, q) - self.gross_between(q, p);
                let (payer, receiver, amount) = match owed.fen().signum() {
                    1 => (p, q, owed),
                    -1 => (q, p, -owed),
                    _ => return None,
                };
                Some(NetTransfer {
                    transfer_id: format!("X{ym}{payer}{receiver}"),
                    payer,
                    receiver,
                    amount,
                })
            })
            .collect()
    }

    /// Σ net = 0, exactly (each statement is receivable on one side and payable on the other).
    fn assert_balanced(&self) {
        let sum: Money = self.net.values().copied().sum();
        assert!(
            sum.is_zero(),
            "net positions of {} sum to {sum}",
            self.month
        );
    }
}

fn netting_err(message: String) -> ClearingError {
    ClearingError::rule_err(NETTING_RULE, Fault::Internal, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(code: &str) -> Admdvs {
        Admdvs::parse(code).unwrap()
    }

    fn g(ins: &str, trt: &str, yuan: i64) -> GrossLine {
        GrossLine {
            stmt_id: format!("CLR-{ins}-{trt}"),
            insured_province: p(ins),
            treatment_province: p(trt),
            amount: Money::from_fen(yuan * 100),
        }
    }

    #[test]
    fn three_provinces_that_each_owe_and_are_owed() {
        let month = YearMonth::parse("2024-05").unwrap();
        let m = NettingMatrix::from_gross(
            month,
            vec![
                g("110000", "310000", 500),
                g("310000", "110000", 200),
                g("310000", "440000", 300),
                g("440000", "310000", 100),
                g("440000", "110000", 400),
                g("110000", "440000", 50),
            ],
        )
        .unwrap();
        // 110000: +200 +400 −500 −50 = +50; 310000: +500 +100 −200 −300 = +100;
        // 440000: +300 +50 −100 −400 = −150.
        assert_eq!(m.net_of(p("110000")), Money::from_fen(5_000));
        assert_eq!(m.net_of(p("310000")), Money::from_fen(10_000));
        assert_eq!(m.net_of(p("440000")), Money::from_fen(-15_000));
        assert_eq!(m.net.values().copied().sum::<Money>(), Money::ZERO);
        let t = m.transfers();
        // 440000 owed 110000 400 gross and 310000 100: the larger relationship first.
        assert_eq!(
            t.iter()
                .map(|t| (t.payer.as_str(), t.receiver.as_str(), t.amount.fen()))
                .collect::<Vec<_>>(),
            vec![("440000", "110000", 5_000), ("440000", "310000", 10_000)]
        );
        assert_eq!(t[1].transfer_id, "X202405440000310000");
        assert_eq!(
            transfer_month(&t[1].transfer_id).map(|m| m.to_string()),
            Some("2024-05".to_owned())
        );
        assert_eq!(transfer_month("P2024054400003100001"), None);
    }

    fn moves(t: &[NetTransfer]) -> Vec<(&str, &str, i64)> {
        t.iter()
            .map(|t| (t.payer.as_str(), t.receiver.as_str(), t.amount.fen()))
            .collect()
    }

    /// What each province's gateway sees: the statements its province is party to.
    fn view_of(lines: &[GrossLine], province: &str) -> NettingMatrix {
        let month = YearMonth::parse("2024-05").unwrap();
        let own: Vec<GrossLine> = lines
            .iter()
            .filter(|l| l.insured_province == p(province) || l.treatment_province == p(province))
            .cloned()
            .collect();
        NettingMatrix::from_gross(month, own).unwrap()
    }

    #[test]
    fn gateways_with_partial_views_agree_on_bilateral_transfers_and_not_on_matched_ones() {
        // 110000's insured owe 310000 100, 310000's insured owe 440000 100: 310000 nets to
        // zero, 110000 pays 100, 440000 receives 100.
        let lines = vec![g("110000", "310000", 100), g("310000", "440000", 100)];
        let bj = view_of(&lines, "110000");
        let sh = view_of(&lines, "310000");
        let gd = view_of(&lines, "440000");
        // each gateway's own position is exact
        assert_eq!(bj.net_of(p("110000")), Money::from_fen(-10_000));
        assert_eq!(sh.net_of(p("310000")), Money::ZERO);
        assert_eq!(gd.net_of(p("440000")), Money::from_fen(10_000));
        // matched on partial positions, the three files disagree: Beijing's pays Shanghai,
        // Shanghai's matrix has Beijing pay Guangdong, Guangdong's expects Shanghai
        assert_eq!(moves(&bj.transfers()), vec![("110000", "310000", 10_000)]);
        assert_eq!(moves(&sh.transfers()), vec![("110000", "440000", 10_000)]);
        assert_eq!(moves(&gd.transfers()), vec![("310000", "440000", 10_000)]);
        // pair by pair every side computes the same transfers
        let all = vec![("110000", "310000", 10_000), ("310000", "440000", 10_000)];
        assert_eq!(moves(&sh.bilateral_transfers()), all);
        assert_eq!(moves(&bj.bilateral_transfers()), all[..1].to_vec());
        assert_eq!(moves(&gd.bilateral_transfers()), all[1..].to_vec());
    }

    #[test]
    fn bilateral_transfers_net_each_pair_and_settle_every_position() {
        let month = YearMonth::parse("2024-05").unwrap();
        let m = NettingMatrix::from_gross(
            month,
            vec![
                g("110000", "310000", 500),
                g("310000", "110000", 200),
                g("310000", "440000", 300),
                g("440000", "310000", 300),
                g("440000", "110000", 400),
            ],
        )
        .unwrap();
        let t = m.bilateral_transfers();
        // 110000↔310000 nets to 300 owed by 110000; 310000↔440000 to nothing
        assert_eq!(
            moves(&t),
            vec![("110000", "310000", 30_000), ("440000", "110000", 40_000)]
        );
        let mut settled: BTreeMap<Admdvs, Money> = BTreeMap::new();
        for x in &t {
            *settled.entry(x.receiver).or_default() += x.amount;
            *settled.entry(x.payer).or_default() -= x.amount;
        }
        for (province, net) in &m.net {
            assert_eq!(settled.get(province).copied().unwrap_or_default(), *net);
        }
    }

    #[test]
    fn a_pair_twice_or_a_province_with_itself_is_refused() {
        let month = YearMonth::parse("2024-05").unwrap();
        let twice = NettingMatrix::from_gross(
            month,
            vec![g("110000", "310000", 1), g("110000", "310000", 2)],
        );
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("same province pair")
        );
        let itself = NettingMatrix::from_gross(month, vec![g("110000", "110000", 1)]);
        assert_eq!(itself.unwrap_err().rule(), NETTING_RULE);
        let empty = NettingMatrix::from_gross(month, vec![]).unwrap();
        assert!(empty.transfers().is_empty());
    }
}
