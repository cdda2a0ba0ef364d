//! Settlement output (`setlinfo` + `setldetail`, §2.4) ↔ canonical [`SettledClaim`].
//!
//! A successful 2207/2304 exchange is a settlement; a successful 2208/2305 exchange is a
//! reversal (every amount negated, `reversal_of.setl_id` = the request's `setl_id`). The
//! claim takes `msgid`, `fixmedins_code`, `mdtrtarea_admvs`, `insuplc_admdvs` and `infno`
//! from the request envelope, and the identities of §2.5 are checked with an
//! [`IdentityPolicy`].

use medsettle_canonical::{
    CHINA_OFFSET, FundLine, IdentityPolicy, Money, ReversalLink, RuleId, SettledClaim,
    SettlementAmounts, Violation, check_identities,
};
use serde_json::Map;
use time::Date;

use crate::envelope::RequestEnvelope;
use crate::error::NhsaError;
use crate::field::{Errors, N1, join};
use crate::tx::TxInput;
use crate::tx::settle::{SetlDetail, SetlInfo, SettleOutput};

/// What the request of a settling exchange says about the visit.
#[derive(Debug, Clone, Default)]
struct RequestFacts {
    psn_no: Option<String>,
    mdtrt_id: Option<String>,
    med_type: Option<String>,
    insutype: Option<String>,
    medfee_sumamt: Option<Money>,
    original_setl_id: Option<String>,
}

fn request_facts(input: &TxInput) -> Option<RequestFacts> {
    Some(match input {
        TxInput::T2207(x) => RequestFacts {
            psn_no: Some(x.data.psn_no.clone()),
            mdtrt_id: Some(x.data.mdtrt_id.clone()),
            med_type: Some(x.data.med_type.clone()),
            insutype: Some(x.data.insutype.clone()),
            medfee_sumamt: Some(x.data.medfee_sumamt),
            original_setl_id: None,
        },
        TxInput::T2304(x) => RequestFacts {
            psn_no: Some(x.data.psn_no.clone()),
            mdtrt_id: Some(x.data.mdtrt_id.clone()),
            med_type: None,
            insutype: Some(x.data.insutype.clone()),
            medfee_sumamt: Some(x.data.medfee_sumamt),
            original_setl_id: None,
        },
        TxInput::T2208(x) => RequestFacts {
            psn_no: Some(x.data.psn_no.clone()),
            mdtrt_id: Some(x.data.mdtrt_id.clone()),
            original_setl_id: Some(x.data.setl_id.clone()),
            ..RequestFacts::default()
        },
        TxInput::T2305(x) => RequestFacts {
            psn_no: Some(x.data.psn_no.clone()),
            mdtrt_id: Some(x.data.mdtrt_id.clone()),
            original_setl_id: Some(x.data.setl_id.clone()),
            ..RequestFacts::default()
        },
        _ => return None,
    })
}

/// Where the settlement output sits in an exchange file; identity and pairing violations
/// are reported under it.
pub const RESPONSE_OUTPUT_PATH: &str = "response.output";

/// Build the canonical claim of a successful settling (2207/2304) or reversing (2208/2305)
/// exchange and check its identities. `out` is the decoded response output.
pub fn claim_from_exchange(
    request: &RequestEnvelope,
    input: &TxInput,
    out: &SettleOutput,
    policy: &IdentityPolicy,
) -> Result<SettledClaim, NhsaError> {
    // The claim's kind is the transaction table's; the facts are the typed request's.
    let (Some(kind), Some(facts)) = (input.transaction().claim_kind(), request_facts(input)) else {
        return Err(NhsaError::one(
            RuleId::NHSA_ENV_EXCHANGE,
            "request.infno",
            format!("infno `{}` does not settle a claim", request.infno),
        ));
    };
    let s = &out.setlinfo;
    let base = join(RESPONSE_OUTPUT_PATH, "setlinfo");
    let mut errs = Errors::default();
    let mut pair = |field: &str, got: Option<&str>, want: Option<&str>| {
        if let (Some(got), Some(want)) = (got, want)
            && !got.is_empty()
            && got != want
        {
            errs.push(
                RuleId::NHSA_ENV_EXCHANGE,
                join(&base, field),
                format!("{field} `{got}` does not match the request's `{want}`"),
            );
        }
    };
    pair("mdtrt_id", Some(&s.mdtrt_id), facts.mdtrt_id.as_deref());
    pair("psn_no", s.psn_no.as_deref(), facts.psn_no.as_deref());
    pair(
        "medins_setl_id",
        s.medins_setl_id.as_deref(),
        Some(&request.msgid),
    );
    if let Some(sent) = facts.medfee_sumamt
        && sent != s.medfee_sumamt
    {
        errs.push(
            RuleId::NHSA_ENV_EXCHANGE,
            join(&base, "medfee_sumamt"),
            format!(
                "medfee_sumamt {} does not match the request's {sent}",
                s.medfee_sumamt
            ),
        );
    }
    let (Some(setl_id), Some(setl_time)) = (s.setl_id.clone(), s.setl_time) else {
        // decode_output reports these as FMT-REQUIRED for settling transactions
        errs.push(
            RuleId::FMT_REQUIRED,
            join(&base, "setl_id"),
            "a settlement result needs setl_id and setl_time",
        );
        return Err(NhsaError::new(errs.violations));
    };
    let z = |m: Option<Money>| m.unwrap_or(Money::ZERO);
    let amounts = SettlementAmounts {
        medfee_sumamt: s.medfee_sumamt,
        fulamt_ownpay_amt: z(s.fulamt_ownpay_amt),
        overlmt_selfpay: z(s.overlmt_selfpay),
        preselfpay_amt: z(s.preselfpay_amt),
        inscp_scp_amt: z(s.inscp_scp_amt),
        act_pay_dedc: z(s.act_pay_dedc),
        hifp_pay: z(s.hifp_pay),
        pool_prop_selfpay: s.pool_prop_selfpay,
        cvlserv_pay: z(s.cvlserv_pay),
        hifes_pay: z(s.hifes_pay),
        hifmi_pay: z(s.hifmi_pay),
        hifob_pay: z(s.hifob_pay),
        maf_pay: z(s.maf_pay),
        hifdm_pay: z(s.hifdm_pay),
        oth_pay: z(s.oth_pay),
        fund_pay_sumamt: z(s.fund_pay_sumamt),
        psn_part_amt: z(s.psn_part_amt),
        acct_pay: z(s.acct_pay),
        psn_cash_pay: z(s.psn_cash_pay),
        hosp_part_amt: z(s.hosp_part_amt),
        balc: s.balc,
        acct_mulaid_pay: z(s.acct_mulaid_pay),
    };
    let claim = SettledClaim {
        kind,
        infno: request.infno.clone(),
        msgid: request.msgid.clone(),
        setl_id,
        mdtrt_id: s.mdtrt_id.clone(),
        psn_no: s
            .psn_no
            .clone()
            .filter(|p| !p.is_empty())
            .or(facts.psn_no)
            .unwrap_or_default(),
        psn_name: s.psn_name.clone(),
        fixmedins_code: request.fixmedins_code.clone(),
        fixmedins_name: Some(request.fixmedins_name.clone()),
        mdtrtarea_admvs: request.mdtrtarea_admvs,
        insuplc_admdvs: request.insuplc_admdvs,
        clr_optins: s.clr_optins.map(|a| a.as_str().to_owned()),
        insutype: s
            .insutype
            .clone()
            .filter(|t| !t.is_empty())
            .or(facts.insutype)
            .unwrap_or_default(),
        psn_type: s.psn_type.clone(),
        med_type: s
            .med_type
            .clone()
            .filter(|t| !t.is_empty())
            .or(facts.med_type)
            .unwrap_or_default(),
        clr_type: s.clr_type.clone(),
        clr_way: s.clr_way.clone(),
        setl_time: setl_time.assume_offset(CHINA_OFFSET),
        amounts,
        setldetail: out.setldetail.iter().map(fund_line).collect(),
        reversal_of: facts.original_setl_id.map(|id| ReversalLink {
            setl_id: Some(id),
            msgid: None,
            infno: None,
        }),
    };
    let report = check_identities(&claim, policy);
    for v in report.errors {
        errs.violations.push(locate(v));
    }
    if errs.is_empty() {
        Ok(claim)
    } else {
        Err(NhsaError::new(errs.violations))
    }
}

/// Identity paths are relative to the output (`setlinfo.medfee_sumamt`).
fn locate(mut v: Violation) -> Violation {
    v.path = if v.path.starts_with("setl") {
        join(RESPONSE_OUTPUT_PATH, &v.path)
    } else if v.path == "reversal_of" {
        "request.input.data.setl_id".to_owned()
    } else {
        v.path
    };
    v
}

fn fund_line(d: &SetlDetail) -> FundLine {
    FundLine {
        fund_pay_type: d.fund_pay_type.clone(),
        fund_pay_type_name: d.fund_pay_type_name.clone(),
        inscp_scp_amt: d.inscp_scp_amt,
        crt_payb_lmt_amt: d.crt_payb_lmt_amt,
        fund_payamt: d.fund_payamt,
        setl_proc_info: d.setl_proc_info.clone(),
    }
}

/// Person fields of `setlinfo` that the canonical claim does not keep; the answer carries
/// them when the caller knows them (from 1101 or the settlement core).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonExtras {
    pub psn_cert_type: Option<String>,
    pub certno: Option<String>,
    pub gend: Option<String>,
    pub naty: Option<String>,
    pub brdy: Option<Date>,
    /// Age in years with one decimal (`34.0`).
    pub age: Option<N1>,
    pub cvlserv_flag: Option<String>,
    pub mdtrt_cert_type: Option<String>,
}

/// The `setlinfo` + `setldetail` of a settled claim (2207/2304/2208/2305 output).
/// `medins_setl_id` is the claim's `msgid`; every amount is written, zeros included.
pub fn settle_output_for_claim(
    claim: &SettledClaim,
    person: Option<&PersonExtras>,
) -> SettleOutput {
    let a = &claim.amounts;
    let p = person.cloned().unwrap_or_default();
    let setlinfo = SetlInfo {
        mdtrt_id: claim.mdtrt_id.clone(),
        setl_id: Some(claim.setl_id.clone()),
        psn_no: Some(claim.psn_no.clone()),
        psn_name: claim.psn_name.clone(),
        psn_cert_type: p.psn_cert_type,
        certno: p.certno,
        gend: p.gend,
        naty: p.naty,
        brdy: p.brdy,
        age: p.age,
        insutype: Some(claim.insutype.clone()),
        psn_type: claim.psn_type.clone(),
        cvlserv_flag: p.cvlserv_flag,
        setl_time: Some({
            let t = claim.setl_time.to_offset(CHINA_OFFSET);
            time::PrimitiveDateTime::new(t.date(), t.time())
        }),
        mdtrt_cert_type: p.mdtrt_cert_type,
        med_type: Some(claim.med_type.clone()),
        medfee_sumamt: a.medfee_sumamt,
        fulamt_ownpay_amt: Some(a.fulamt_ownpay_amt),
        overlmt_selfpay: Some(a.overlmt_selfpay),
        preselfpay_amt: Some(a.preselfpay_amt),
        inscp_scp_amt: Some(a.inscp_scp_amt),
        act_pay_dedc: Some(a.act_pay_dedc),
        hifp_pay: Some(a.hifp_pay),
        pool_prop_selfpay: a.pool_prop_selfpay,
        cvlserv_pay: Some(a.cvlserv_pay),
        hifes_pay: Some(a.hifes_pay),
        hifmi_pay: Some(a.hifmi_pay),
        hifob_pay: Some(a.hifob_pay),
        maf_pay: Some(a.maf_pay),
        hosp_part_amt: Some(a.hosp_part_amt),
        oth_pay: Some(a.oth_pay),
        fund_pay_sumamt: Some(a.fund_pay_sumamt),
        psn_part_amt: Some(a.psn_part_amt),
        acct_pay: Some(a.acct_pay),
        psn_cash_pay: Some(a.psn_cash_pay),
        balc: a.balc,
        acct_mulaid_pay: Some(a.acct_mulaid_pay),
        medins_setl_id: Some(claim.msgid.clone()),
        clr_optins: claim
            .clr_optins
            .as_deref()
            .and_then(|c| medsettle_canonical::Admdvs::parse(c).ok()),
        clr_way: claim.clr_way.clone(),
        clr_type: claim.clr_type.clone(),
        hifdm_pay: Some(a.hifdm_pay),
        exp_content: None,
        extra: Map::new(),
    };
    let setldetail = claim
        .setldetail
        .iter()
        .map(|l| SetlDetail {
            fund_pay_type: l.fund_pay_type.clone(),
            inscp_scp_amt: l.inscp_scp_amt,
            crt_payb_lmt_amt: l.crt_payb_lmt_amt,
            fund_payamt: l.fund_payamt,
            fund_pay_type_name: l.fund_pay_type_name.clone().or_else(|| {
                medsettle_canonical::codes::fund_pay_type_name(&l.fund_pay_type).map(str::to_owned)
            }),
            setl_proc_info: l.setl_proc_info.clone(),
            extra: Map::new(),
        })
        .collect();
    SettleOutput {
        setlinfo,
        setldetail,
        extra: Map::new(),
    }
}
