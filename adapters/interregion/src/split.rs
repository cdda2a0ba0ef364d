//! XPRV01 output — the split: what the insured place's funds pay and what the person pays,
//! for the summary the place of treatment sent. The place of treatment settles the hospital
//! with it, so it is checked like any settlement that enters the journal (`DESIGN.md` §3
//! invariant 7) and against the summary it answers.

use medsettle_canonical::{
    Admdvs, ClaimKind, FundLine, FundLineKind, Money, SettledClaim, SettlementAmounts,
    fund_line_kind,
};
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::dates::format_datetime;
use crate::envelope::RequestEnvelope;
use crate::field::{Field, Node, Out, Shape, check_len, index, join, opt, req};
use crate::infno::Infno;
use crate::limits::{CODE_CHARS_MAX, ID_CHARS_MAX, NAME_CHARS_MAX, SETLDETAIL_LINES_MAX};
use crate::refusal::{Refusal, rule};
use crate::summary::SummaryHeader;

/// Fields of XPRV01 `output`.
pub const SPLIT_OUTPUT_FIELDS: &[Field] = &[req("setlinfo"), req("setldetail")];

/// Fields of XPRV01 `output.setlinfo`.
pub const SETLINFO_FIELDS: &[Field] = &[
    req("setl_id"),
    req("mdtrt_id"),
    req("psn_no"),
    req("psn_name"),
    req("insutype"),
    req("psn_type"),
    req("setl_time"),
    req("medfee_sumamt"),
    req("fulamt_ownpay_amt"),
    req("overlmt_selfpay"),
    req("preselfpay_amt"),
    req("inscp_scp_amt"),
    req("act_pay_dedc"),
    req("hifp_pay"),
    opt("pool_prop_selfpay"),
    req("cvlserv_pay"),
    req("hifes_pay"),
    req("hifmi_pay"),
    req("hifob_pay"),
    req("maf_pay"),
    req("hifdm_pay"),
    req("oth_pay"),
    req("fund_pay_sumamt"),
    req("psn_part_amt"),
    req("acct_pay"),
    req("psn_cash_pay"),
    req("hosp_part_amt"),
    opt("balc"),
    req("acct_mulaid_pay"),
    req("clr_optins"),
];

/// Fields of one XPRV01 `output.setldetail[]` line.
pub const FUND_LINE_FIELDS: &[Field] = &[req("fund_pay_type"), req("fund_payamt")];

/// The insured place's split of one summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The insured place's settlement id (for a pre-settlement, the id of the quote).
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub psn_name: String,
    pub insutype: String,
    /// 人员类别 at the insured place.
    pub psn_type: String,
    /// When the insured place settled, China time. Both sides date the claim by it.
    pub setl_time: PrimitiveDateTime,
    pub amounts: SettlementAmounts,
    /// Fund lines (`fund_pay_type`, `fund_payamt` only on this wire).
    pub setldetail: Vec<FundLine>,
    /// The insured place's clearing agency.
    pub clr_optins: Admdvs,
}

/// The money fields of `setlinfo` in wire order (the two optional ones apart).
fn money_fields(a: &SettlementAmounts) -> [(&'static str, Money); 20] {
    [
        ("medfee_sumamt", a.medfee_sumamt),
        ("fulamt_ownpay_amt", a.fulamt_ownpay_amt),
        ("overlmt_selfpay", a.overlmt_selfpay),
        ("preselfpay_amt", a.preselfpay_amt),
        ("inscp_scp_amt", a.inscp_scp_amt),
        ("act_pay_dedc", a.act_pay_dedc),
        ("hifp_pay", a.hifp_pay),
        ("cvlserv_pay", a.cvlserv_pay),
        ("hifes_pay", a.hifes_pay),
        ("hifmi_pay", a.hifmi_pay),
        ("hifob_pay", a.hifob_pay),
        ("maf_pay", a.maf_pay),
        ("hifdm_pay", a.hifdm_pay),
        ("oth_pay", a.oth_pay),
        ("fund_pay_sumamt", a.fund_pay_sumamt),
        ("psn_part_amt", a.psn_part_amt),
        ("acct_pay", a.acct_pay),
        ("psn_cash_pay", a.psn_cash_pay),
        ("hosp_part_amt", a.hosp_part_amt),
        ("acct_mulaid_pay", a.acct_mulaid_pay),
    ]
}

fn read_amounts(n: &Node<'_>) -> Result<SettlementAmounts, Refusal> {
    Ok(SettlementAmounts {
        medfee_sumamt: n.money("medfee_sumamt")?,
        fulamt_ownpay_amt: n.money("fulamt_ownpay_amt")?,
        overlmt_selfpay: n.money("overlmt_selfpay")?,
        preselfpay_amt: n.money("preselfpay_amt")?,
        inscp_scp_amt: n.money("inscp_scp_amt")?,
        act_pay_dedc: n.money("act_pay_dedc")?,
        hifp_pay: n.money("hifp_pay")?,
        pool_prop_selfpay: n.opt_ratio("pool_prop_selfpay")?,
        cvlserv_pay: n.money("cvlserv_pay")?,
        hifes_pay: n.money("hifes_pay")?,
        hifmi_pay: n.money("hifmi_pay")?,
        hifob_pay: n.money("hifob_pay")?,
        maf_pay: n.money("maf_pay")?,
        hifdm_pay: n.money("hifdm_pay")?,
        oth_pay: n.money("oth_pay")?,
        fund_pay_sumamt: n.money("fund_pay_sumamt")?,
        psn_part_amt: n.money("psn_part_amt")?,
        acct_pay: n.money("acct_pay")?,
        psn_cash_pay: n.money("psn_cash_pay")?,
        hosp_part_amt: n.money("hosp_part_amt")?,
        balc: n.opt_money("balc")?,
        acct_mulaid_pay: n.money("acct_mulaid_pay")?,
    })
}

/// An identity `lhs = rhs` that must hold, refused under `rule_id` at `path` otherwise.
fn expect(
    rule_id: &'static str,
    path: String,
    lhs: Money,
    rhs: Money,
    formula: &str,
) -> Result<(), Refusal> {
    if lhs == rhs {
        Ok(())
    } else {
        Err(Refusal::new(
            rule_id,
            path,
            format!("{formula} does not hold: {lhs} ≠ {rhs}"),
        ))
    }
}

impl Split {
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<Split, Refusal> {
        let node = Node::open(v, root, SPLIT_OUTPUT_FIELDS)?;
        let info = node.object("setlinfo", SETLINFO_FIELDS)?;
        let lines = node.array("setldetail")?;
        let lines_path = node.at("setldetail");
        check_len(
            lines,
            &lines_path,
            0,
            SETLDETAIL_LINES_MAX,
            rule::SPLIT_DETAIL_LINES,
        )?;
        let mut setldetail = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let n = Node::open(line, &index(&lines_path, i), FUND_LINE_FIELDS)?;
            setldetail.push(FundLine {
                fund_pay_type: n.text("fund_pay_type", Shape::Digits(6))?,
                fund_pay_type_name: None,
                inscp_scp_amt: None,
                crt_payb_lmt_amt: None,
                fund_payamt: n.money("fund_payamt")?,
                setl_proc_info: None,
            });
        }
        let split = Split {
            setl_id: info.text("setl_id", Shape::Id(ID_CHARS_MAX))?,
            mdtrt_id: info.text("mdtrt_id", Shape::Id(ID_CHARS_MAX))?,
            psn_no: info.text("psn_no", Shape::Id(ID_CHARS_MAX))?,
            psn_name: info.text("psn_name", Shape::Words(NAME_CHARS_MAX))?,
            insutype: info.text("insutype", Shape::Alnum(CODE_CHARS_MAX))?,
            psn_type: info.text("psn_type", Shape::Alnum(CODE_CHARS_MAX))?,
            setl_time: info.datetime("setl_time")?,
            amounts: read_amounts(&info)?,
            setldetail,
            clr_optins: info.region("clr_optins")?,
        };
        split.check_at(root)?;
        Ok(split)
    }

    /// Decode a peer's XPRV01 output, checking every identity.
    pub fn from_output(output: &Value) -> Result<Split, Refusal> {
        Split::decode_at(output, "output")
    }

    /// The output object.
    pub fn to_output(&self) -> Value {
        let a = &self.amounts;
        let mut info = Out::new()
            .text("setl_id", &self.setl_id)
            .text("mdtrt_id", &self.mdtrt_id)
            .text("psn_no", &self.psn_no)
            .text("psn_name", &self.psn_name)
            .text("insutype", &self.insutype)
            .text("psn_type", &self.psn_type)
            .text("setl_time", &format_datetime(self.setl_time));
        for (name, m) in money_fields(a) {
            info = info.money(name, m);
            // The two optional fields sit where the national setlinfo has them.
            match name {
                "hifp_pay" => info = info.opt_ratio("pool_prop_selfpay", a.pool_prop_selfpay),
                "hosp_part_amt" => info = info.opt_money("balc", a.balc),
                _ => {}
            }
        }
        let info = info.text("clr_optins", self.clr_optins.as_str()).done();
        let lines = self
            .setldetail
            .iter()
            .map(|l| {
                Out::new()
                    .text("fund_pay_type", &l.fund_pay_type)
                    .money("fund_payamt", l.fund_payamt)
                    .done()
            })
            .collect();
        Out::new()
            .value("setlinfo", info)
            .value("setldetail", Value::Array(lines))
            .done()
    }

    /// Check the split's own identities (what [`Split::from_output`] checks).
    pub fn check(&self) -> Result<(), Refusal> {
        self.check_at("output")
    }

    fn check_at(&self, root: &str) -> Result<(), Refusal> {
        let info = join(root, "setlinfo");
        let at = |name: &str| join(&info, name);
        self.check_ranges(root)?;
        let a = &self.amounts;
        expect(
            rule::SPLIT_SCOPE_PARTS,
            at("medfee_sumamt"),
            a.medfee_sumamt,
            a.fulamt_ownpay_amt + a.overlmt_selfpay + a.preselfpay_amt + a.inscp_scp_amt,
            "medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt",
        )?;
        expect(
            rule::SPLIT_FUND_PARTS,
            at("fund_pay_sumamt"),
            a.fund_pay_sumamt,
            a.hifp_pay
                + a.cvlserv_pay
                + a.hifes_pay
                + a.hifmi_pay
                + a.hifob_pay
                + a.maf_pay
                + a.oth_pay
                + a.hifdm_pay,
            "fund_pay_sumamt = hifp_pay + cvlserv_pay + hifes_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay + hifdm_pay",
        )?;
        self.check_lines(root)?;
        expect(
            rule::SPLIT_HOSPITAL_PART,
            at("hosp_part_amt"),
            a.hosp_part_amt,
            Money::ZERO,
            "hosp_part_amt = 0 (the insured place assigns nothing to a hospital it does not contract)",
        )?;
        expect(
            rule::SPLIT_PERSON_PART,
            at("psn_part_amt"),
            a.psn_part_amt,
            a.medfee_sumamt - a.fund_pay_sumamt,
            "psn_part_amt = medfee_sumamt − fund_pay_sumamt",
        )?;
        expect(
            rule::SPLIT_ACCOUNT_CASH,
            at("psn_cash_pay"),
            a.acct_pay + a.psn_cash_pay,
            a.psn_part_amt,
            "acct_pay + psn_cash_pay = psn_part_amt",
        )
    }

    /// No amount of a split is negative, and the ratio is a share.
    fn check_ranges(&self, root: &str) -> Result<(), Refusal> {
        let info = join(root, "setlinfo");
        let a = &self.amounts;
        let named = money_fields(a)
            .into_iter()
            .chain(a.balc.map(|b| ("balc", b)));
        for (name, m) in named {
            if m.is_negative() {
                return Err(Refusal::new(
                    rule::SPLIT_RANGE,
                    join(&info, name),
                    format!("{m} is negative; a split has no negative amount"),
                ));
            }
        }
        if let Some(r) = a.pool_prop_selfpay.filter(|r| !r.is_within_unit()) {
            return Err(Refusal::new(
                rule::SPLIT_RANGE,
                join(&info, "pool_prop_selfpay"),
                format!("{r} is not a share between 0 and 1"),
            ));
        }
        Ok(())
    }

    /// Fund lines: non-negative, each type once, and summing to the setlinfo figures.
    fn check_lines(&self, root: &str) -> Result<(), Refusal> {
        let lines_path = join(root, "setldetail");
        for (i, line) in self.setldetail.iter().enumerate() {
            let path = join(&index(&lines_path, i), "fund_payamt");
            if line.fund_payamt.is_negative() {
                return Err(Refusal::new(rule::SPLIT_RANGE, path, "is negative"));
            }
            if let Some(first) = self.setldetail[..i]
                .iter()
                .position(|l| l.fund_pay_type == line.fund_pay_type)
            {
                return Err(Refusal::new(
                    rule::SPLIT_DETAIL_LINES,
                    join(&index(&lines_path, i), "fund_pay_type"),
                    format!(
                        "fund type {} is already on setldetail[{first}]",
                        line.fund_pay_type
                    ),
                ));
            }
        }
        let a = &self.amounts;
        let sum_of = |kind: FundLineKind| -> (Money, bool) {
            let mut listed = false;
            let mut sum = Money::ZERO;
            for l in self
                .setldetail
                .iter()
                .filter(|l| fund_line_kind(&l.fund_pay_type) == kind)
            {
                listed = true;
                sum += l.fund_payamt;
            }
            (sum, listed)
        };
        let (funds, _) = sum_of(FundLineKind::Fund);
        expect(
            rule::SPLIT_FUND_LINES,
            lines_path.clone(),
            funds,
            a.fund_pay_sumamt,
            "Σ setldetail[fund types].fund_payamt = fund_pay_sumamt",
        )?;
        // Account and hospital lines are optional; when listed they must agree.
        if let (account, true) = sum_of(FundLineKind::PersonalAccount) {
            expect(
                rule::SPLIT_FUND_LINES,
                lines_path.clone(),
                account,
                a.acct_pay,
                "Σ setldetail[personal account].fund_payamt = acct_pay",
            )?;
        }
        if let (hospital, true) = sum_of(FundLineKind::HospitalBorne) {
            expect(
                rule::SPLIT_FUND_LINES,
                lines_path,
                hospital,
                a.hosp_part_amt,
                "Σ setldetail[999996].fund_payamt = hosp_part_amt",
            )?;
        }
        Ok(())
    }

    /// The settled claim the place of treatment journals for this split of the summary sent
    /// in `env`.
    pub fn to_settled_claim(&self, env: &RequestEnvelope, header: &SummaryHeader) -> SettledClaim {
        SettledClaim {
            kind: ClaimKind::Settlement,
            infno: Infno::Xprv01.as_str().to_owned(),
            msgid: env.msgid.clone(),
            setl_id: self.setl_id.clone(),
            mdtrt_id: self.mdtrt_id.clone(),
            psn_no: self.psn_no.clone(),
            psn_name: Some(self.psn_name.clone()),
            fixmedins_code: header.fixmedins_code.clone(),
            fixmedins_name: header.fixmedins_name.clone(),
            mdtrtarea_admvs: env.mdtrtarea_admvs,
            insuplc_admdvs: Some(env.insuplc_admdvs),
            clr_optins: Some(self.clr_optins.as_str().to_owned()),
            insutype: self.insutype.clone(),
            psn_type: Some(self.psn_type.clone()),
            med_type: header.med_type.clone(),
            clr_type: None,
            clr_way: None,
            setl_time: self
                .setl_time
                .assume_offset(medsettle_canonical::CHINA_OFFSET),
            amounts: self.amounts.clone(),
            setldetail: self.setldetail.clone(),
            reversal_of: None,
        }
    }
}

/// Check that `split` answers the summary whose header is `summary`: the same visit, person
/// and total, and no account payment the person did not allow.
pub fn check_split_against(summary: &SummaryHeader, split: &Split) -> Result<(), Refusal> {
    let at = |name: &str| format!("output.setlinfo.{name}");
    let differs = |name: &str, ours: &str, theirs: &str| {
        Err(Refusal::new(
            rule::SPLIT_NOT_FOR_SUMMARY,
            at(name),
            format!("the summary sent {ours}, the split answers {theirs}"),
        ))
    };
    if split.amounts.medfee_sumamt != summary.medfee_sumamt {
        return differs(
            "medfee_sumamt",
            &summary.medfee_sumamt.to_string(),
            &split.amounts.medfee_sumamt.to_string(),
        );
    }
    if split.mdtrt_id != summary.mdtrt_id {
        return differs("mdtrt_id", &summary.mdtrt_id, &split.mdtrt_id);
    }
    if split.psn_no != summary.psn_no {
        return differs("psn_no", &summary.psn_no, &split.psn_no);
    }
    if !summary.acct_used_flag && !split.amounts.acct_pay.is_zero() {
        return Err(Refusal::new(
            rule::SPLIT_ACCOUNT_NOT_ALLOWED,
            at("acct_pay"),
            format!(
                "{} from the personal account, but the summary said acct_used_flag \"0\"",
                split.amounts.acct_pay
            ),
        ));
    }
    Ok(())
}
