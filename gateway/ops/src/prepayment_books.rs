//! A prepayment's acknowledged movements in this province's books: each posted once to the
//! settlement ledger (`medsettle_clearing::prepayment_postings`, audited) and, when this
//! province is the one that pays (the insured province a top-up, the holder a refund), dropped
//! as a payment file in the outbox. Every step is idempotent — the posting by its key, the
//! payment file by its batch id, both the movement's reference — so each run does all of them
//! again safely.

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money};
use medsettle_clearing as clr;
use medsettle_service::interregion_prepayment::{PrepaymentAccount, notice_movement};
use serde::Serialize;

use crate::Operations;

/// What a prepayment run put in the books.
#[derive(Debug, Default, Serialize)]
pub struct PrepaymentBooks {
    /// Ledger keys posted (`prepayment/<reference>/<movement>`), this run or before.
    pub posted: Vec<String>,
    /// Payment batches this province sends (the movements' references).
    pub payment_batches: Vec<String>,
    pub notes: Vec<String>,
}

/// Post and pay every acknowledged movement of `accounts`.
pub fn books(ops: &Operations, accounts: &[PrepaymentAccount]) -> PrepaymentBooks {
    let mut b = PrepaymentBooks::default();
    let config = ops.config();
    let engine = ops.engine();
    let ours = clr::province_of(config.receiver_admdvs);
    let entity = clr::province_entity(ours);
    for a in accounts {
        let (Ok(insured), Ok(treatment)) = (
            Admdvs::parse(&a.insured_province),
            Admdvs::parse(&a.treatment_province),
        ) else {
            continue;
        };
        let side = if a.side == "holder" {
            clr::PrepaymentSide::Holder
        } else {
            clr::PrepaymentSide::Insured
        };
        for n in a.notices.iter().filter(|n| n.acknowledged) {
            let Some(m) = notice_movement(n) else {
                continue;
            };
            let month = n
                .month
                .as_deref()
                .and_then(medsettle_settlement::YearMonth::parse);
            let postings = match clr::prepayment_postings(insured, treatment, side, &m, month) {
                Ok(p) => p,
                Err(e) => {
                    b.notes.push(format!("{}: {e}", n.reference));
                    continue;
                }
            };
            let key = format!("prepayment/{}/{}", n.reference, n.movement);
            // the prepayment is no one's expenditure: the expectation is zero
            let expected = [(entity.clone(), Money::ZERO)].into();
            let pays = clr::prepayment_payer(insured, treatment, m.kind) == Some(ours);
            // what this province pays, so its bank receipts post like any payment's
            let payments = clr::prepayment_payment_source(insured, treatment, m.kind)
                .filter(|_| pays)
                .map(|source| medsettle_engine::ProvincePayment {
                    payment_id: n.reference.clone(),
                    payer: entity.clone(),
                    payee: if ours == insured { treatment } else { insured }.to_string(),
                    amount: m.amount,
                    source,
                })
                .into_iter()
                .collect();
            match engine.post_province_clearing(
                ops.store().as_ref(),
                &key,
                postings,
                expected,
                payments,
            ) {
                Ok(_) => b.posted.push(key),
                Err(e) => {
                    b.notes.push(format!("ledger {key}: {e}"));
                    continue;
                }
            }
            if !pays {
                continue;
            }
            match pay(ops, insured, treatment, n, &m) {
                Ok(batch) => b.payment_batches.push(batch),
                Err(e) => b.notes.push(format!("payment file {}: {e}", n.reference)),
            }
        }
    }
    b
}

/// Drop the movement's payment file; the same file each time (dated by the notice), which the
/// outbox recognises as already dropped.
fn pay(
    ops: &Operations,
    insured: Admdvs,
    treatment: Admdvs,
    n: &medsettle_service::interregion_prepayment::KeptNotice,
    m: &clr::PrepaymentMovement,
) -> anyhow::Result<String> {
    let config = ops.config();
    let due = time::Date::parse(
        &n.due_date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )?;
    let sent = time::PrimitiveDateTime::parse(
        &n.send_time,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )?
    .assume_offset(CHINA_OFFSET);
    let batch = clr::prepayment_payment_batch(
        insured,
        treatment,
        m,
        &province_accounts(config),
        config.settlement.debtor.clone(),
        due,
        sent,
    )?;
    let cfg = crate::open::filedrop_config(config)?;
    medsettle_filedrop::Outbox::drop_batch(ops.store().as_ref(), &cfg, &batch)?;
    Ok(batch.batch_id)
}

/// The provinces' finance accounts clearing money is paid into: the peers' `clearing_account`,
/// by the province of their first region.
pub(crate) fn province_accounts(
    config: &crate::config::Config,
) -> medsettle_clearing::ProvinceAccounts {
    config
        .peer
        .iter()
        .filter_map(|p| {
            let account = p.clearing_account.clone()?;
            let prefix = p.admdvs.first()?.get(..2)?;
            let province = medsettle_canonical::Admdvs::parse(&format!("{prefix}0000")).ok()?;
            Some((province, account))
        })
        .collect()
}
