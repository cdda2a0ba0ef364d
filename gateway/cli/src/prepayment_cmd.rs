//! `medsettle settle prepayment [status|draw]`: the prepayment between provinces (预付金,
//! `specs/interregion.md` §6.8 and §14.4) on the running gateway.

use anyhow::{Context, Result};
use medsettle_ops::Config;
use medsettle_ops::remote::running_only;
use medsettle_service::interregion_prepayment::{PrepaymentAccount, PrepaymentReport};

use crate::exit::BadInput;
use crate::interregion_cmd::ok_body;

/// What `settle prepayment` was asked.
pub enum PrepaymentAsk {
    /// A run for the year (notices sent, movements posted and paid), or its report only.
    Year { year: i32, status_only: bool },
    /// Draw the insured province's overdue transfer of the month.
    Draw { month: String, insured: String },
}

pub fn prepayment(config: &Config, ask: PrepaymentAsk, json: bool) -> Result<()> {
    let (status, body) = match &ask {
        PrepaymentAsk::Year {
            year,
            status_only: true,
        } => running_only(config, &format!("interregion/prepayment?year={year}"), None)?,
        PrepaymentAsk::Year { year, .. } => running_only(
            config,
            "interregion/prepayment",
            Some(serde_json::json!({ "year": year }).to_string().into_bytes()),
        )?,
        PrepaymentAsk::Draw { month, insured } => running_only(
            config,
            "interregion/prepayment/draw",
            Some(
                serde_json::json!({ "month": month, "insured": insured })
                    .to_string()
                    .into_bytes(),
            ),
        )?,
    };
    // a draw the rules refuse (not overdue yet, nothing held) is the operator's to see
    if status == 409 {
        return Err(BadInput::new(String::from_utf8_lossy(&body).trim_end().to_owned()).into());
    }
    let text = ok_body(status, &body)?;
    if json {
        println!("{text}");
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_str(&text).context("the gateway's report")?;
    let accounts: Vec<PrepaymentAccount> = match ask {
        PrepaymentAsk::Year { .. } => {
            let r: PrepaymentReport =
                serde_json::from_value(v.clone()).context("the gateway's report")?;
            for e in &r.errors {
                println!("error: {e}");
            }
            if !r.errors.is_empty() {
                print_accounts(&r.accounts, &v["books"]);
                anyhow::bail!("the prepayment run met errors");
            }
            r.accounts
        }
        PrepaymentAsk::Draw { .. } => {
            vec![serde_json::from_value(v.clone()).context("the gateway's account")?]
        }
    };
    print_accounts(&accounts, &v["books"]);
    Ok(())
}

fn print_accounts(accounts: &[PrepaymentAccount], books: &serde_json::Value) {
    for a in accounts {
        println!(
            "prepayment {} held by {} for {} ({}): own prior-year fund {}, required {}, balance {}",
            a.insured_province,
            a.treatment_province,
            a.year,
            a.side,
            a.own_prior_year_fund_pay_sumamt,
            a.required,
            a.balance
        );
        for n in &a.notices {
            println!(
                "  {} {} {} ({} → {}), due {}{}",
                n.reference,
                n.movement,
                n.amount,
                n.balance,
                n.balance_after,
                n.due_date,
                if n.acknowledged {
                    ""
                } else {
                    ", not acknowledged yet"
                }
            );
        }
    }
    for note in books["notes"].as_array().into_iter().flatten() {
        println!("note: {}", note.as_str().unwrap_or_default());
    }
    for b in books["payment_batches"].as_array().into_iter().flatten() {
        println!("payment file: {}", b.as_str().unwrap_or_default());
    }
}
