//! Requests and answers of the core, in national field names (`nhsa-interface.md` §2).
//!
//! These are the core's own types: the wire adapter maps the JSON envelope to and from them.
//! Money is [`Money`] (fen), counts and prices are exact scaled integers, times are text
//! `yyyy-MM-dd HH:mm:ss` in China time as the interface writes them.

use medsettle_canonical::{FundLine, Money, SettlementAmounts};
use serde::{Deserialize, Serialize};

use crate::catalogue::{LineSplit, Quantity, UnitPrice};

/// 1101 人员信息获取 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req1101 {
    /// 01 e-voucher, 02 ID card, 03 social-security card.
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    #[serde(default)]
    pub psn_cert_type: Option<String>,
    #[serde(default)]
    pub certno: Option<String>,
    #[serde(default)]
    pub psn_name: Option<String>,
}

/// 9001 签到 `signIn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req9001 {
    pub opter_no: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub ip: String,
}

/// 9002 签退 `signOut`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req9002 {
    pub sign_no: String,
    pub opter_no: String,
}

/// 2201 门诊挂号 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2201 {
    pub psn_no: String,
    pub insutype: String,
    pub begntime: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    pub ipt_otp_no: String,
    #[serde(default)]
    pub atddr_no: Option<String>,
    #[serde(default)]
    pub dr_name: Option<String>,
    #[serde(default)]
    pub dept_code: Option<String>,
    #[serde(default)]
    pub dept_name: Option<String>,
    #[serde(default)]
    pub caty: Option<String>,
}

/// 2202 挂号撤销 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2202 {
    pub psn_no: String,
    pub mdtrt_id: String,
    pub ipt_otp_no: String,
}

/// 2401 入院办理 `mdtrtinfo` (the settlement-relevant part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2401 {
    pub psn_no: String,
    pub insutype: String,
    pub begntime: String,
    pub mdtrt_cert_type: String,
    pub mdtrt_cert_no: String,
    pub med_type: String,
    pub ipt_no: String,
    #[serde(default)]
    pub adm_dept_codg: Option<String>,
    #[serde(default)]
    pub adm_dept_name: Option<String>,
}

/// 2402 出院办理 `dscginfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2402 {
    pub mdtrt_id: String,
    pub psn_no: String,
    pub endtime: String,
    #[serde(default)]
    pub dscg_way: Option<String>,
}

/// One `feedetail[]` line of 2204 / 2301.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeDetailIn {
    /// Unique within the visit.
    pub feedetl_sn: String,
    #[serde(default)]
    pub init_feedetl_sn: Option<String>,
    pub mdtrt_id: String,
    pub psn_no: String,
    /// 2204 only: the charge batch.
    #[serde(default)]
    pub chrg_bchno: Option<String>,
    #[serde(default)]
    pub fee_ocur_time: Option<String>,
    pub med_list_codg: String,
    #[serde(default)]
    pub medins_list_codg: String,
    /// When sent, must equal `cnt × pric` exactly.
    #[serde(default)]
    pub det_item_fee_sumamt: Option<Money>,
    pub cnt: Quantity,
    pub pric: UnitPrice,
}

/// 2205 门诊费用明细撤销 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2205 {
    pub mdtrt_id: String,
    /// `"0000"` = every unsettled line of the visit.
    pub chrg_bchno: String,
    pub psn_no: String,
}

/// One `data[]` entry of 2302 住院费用明细撤销.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2302 {
    /// `"0000"` = every unsettled line of the visit.
    pub feedetl_sn: String,
    pub mdtrt_id: String,
    pub psn_no: String,
}

/// 2206/2207 and 2303/2304 `data`. Totals left out are computed from the uploaded detail;
/// totals sent must agree with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleReq {
    pub psn_no: String,
    pub mdtrt_id: String,
    #[serde(default)]
    pub mdtrt_cert_type: Option<String>,
    #[serde(default)]
    pub mdtrt_cert_no: Option<String>,
    /// Required for outpatient unless registration knew it; inpatient takes 2401's.
    #[serde(default)]
    pub med_type: Option<String>,
    #[serde(default)]
    pub insutype: Option<String>,
    #[serde(default)]
    pub psn_setlway: Option<String>,
    /// Outpatient: settle only this batch (`"0000"` or absent = every unsettled line).
    #[serde(default)]
    pub chrg_bchno: Option<String>,
    /// `acct_used_flag` = 1.
    #[serde(default)]
    pub acct_used_flag: bool,
    #[serde(default)]
    pub invono: Option<String>,
    #[serde(default)]
    pub medfee_sumamt: Option<Money>,
    #[serde(default)]
    pub fulamt_ownpay_amt: Option<Money>,
    #[serde(default)]
    pub overlmt_selfpay: Option<Money>,
    #[serde(default)]
    pub preselfpay_amt: Option<Money>,
    #[serde(default)]
    pub inscp_scp_amt: Option<Money>,
}

/// 2208 / 2305 结算撤销 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReqCancelSettlement {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
}

/// 2601 冲正 `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req2601 {
    pub psn_no: String,
    /// The original request's msgid.
    pub omsgid: String,
    /// The original transaction number.
    pub oinfno: String,
}

/// A request to the core; the variant decides the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "infno", content = "input")]
pub enum CoreRequest {
    #[serde(rename = "1101")]
    PersonInfo(Req1101),
    #[serde(rename = "9001")]
    SignIn(Req9001),
    #[serde(rename = "9002")]
    SignOut(Req9002),
    #[serde(rename = "2201")]
    Register(Req2201),
    #[serde(rename = "2202")]
    CancelRegistration(Req2202),
    #[serde(rename = "2401")]
    Admit(Req2401),
    #[serde(rename = "2402")]
    Discharge(Req2402),
    #[serde(rename = "2204")]
    OutpatientFees(Vec<FeeDetailIn>),
    #[serde(rename = "2205")]
    OutpatientFeesCancel(Req2205),
    #[serde(rename = "2301")]
    InpatientFees(Vec<FeeDetailIn>),
    #[serde(rename = "2302")]
    InpatientFeesCancel(Vec<Req2302>),
    #[serde(rename = "2206")]
    OutpatientPreSettle(SettleReq),
    #[serde(rename = "2207")]
    OutpatientSettle(SettleReq),
    #[serde(rename = "2303")]
    InpatientPreSettle(SettleReq),
    #[serde(rename = "2304")]
    InpatientSettle(SettleReq),
    #[serde(rename = "2208")]
    OutpatientSettleCancel(ReqCancelSettlement),
    #[serde(rename = "2305")]
    InpatientSettleCancel(ReqCancelSettlement),
    #[serde(rename = "2601")]
    Reverse(Req2601),
}

impl CoreRequest {
    pub fn infno(&self) -> &'static str {
        match self {
            CoreRequest::PersonInfo(_) => "1101",
            CoreRequest::SignIn(_) => "9001",
            CoreRequest::SignOut(_) => "9002",
            CoreRequest::Register(_) => "2201",
            CoreRequest::CancelRegistration(_) => "2202",
            CoreRequest::Admit(_) => "2401",
            CoreRequest::Discharge(_) => "2402",
            CoreRequest::OutpatientFees(_) => "2204",
            CoreRequest::OutpatientFeesCancel(_) => "2205",
            CoreRequest::InpatientFees(_) => "2301",
            CoreRequest::InpatientFeesCancel(_) => "2302",
            CoreRequest::OutpatientPreSettle(_) => "2206",
            CoreRequest::OutpatientSettle(_) => "2207",
            CoreRequest::InpatientPreSettle(_) => "2303",
            CoreRequest::InpatientSettle(_) => "2304",
            CoreRequest::OutpatientSettleCancel(_) => "2208",
            CoreRequest::InpatientSettleCancel(_) => "2305",
            CoreRequest::Reverse(_) => "2601",
        }
    }
}

/// 1101 `baseinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseInfo {
    pub psn_no: String,
    pub psn_cert_type: String,
    pub certno: String,
    pub psn_name: String,
    pub gend: String,
    pub naty: String,
    pub brdy: String,
    /// Full years at the request time.
    pub age: u32,
}

/// 1101 `insuinfo[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuInfo {
    /// Account balance before any settlement of this request; `None` = no account.
    pub balc: Option<Money>,
    pub insutype: String,
    pub psn_type: String,
    /// 1 = insured (参保缴费).
    pub psn_insu_stas: String,
    pub cvlserv_flag: String,
    pub emp_name: String,
    pub insuplc_admdvs: String,
}

/// One 2204/2301 `result[]` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeDetailResult {
    pub feedetl_sn: String,
    #[serde(flatten)]
    pub split: LineSplit,
}

/// `setlinfo` of 2206/2207/2303/2304/2208/2305 (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetlInfo {
    pub mdtrt_id: String,
    /// `None` on pre-settlement.
    pub setl_id: Option<String>,
    pub psn_no: String,
    pub psn_name: String,
    pub psn_cert_type: String,
    pub certno: String,
    pub gend: String,
    pub naty: String,
    pub brdy: String,
    pub age: u32,
    pub insutype: String,
    pub psn_type: String,
    pub cvlserv_flag: String,
    /// `None` on pre-settlement.
    pub setl_time: Option<String>,
    pub mdtrt_cert_type: Option<String>,
    pub med_type: String,
    #[serde(flatten)]
    pub amounts: SettlementAmounts,
    /// The settling request's msgid; `None` on pre-settlement.
    pub medins_setl_id: Option<String>,
    pub clr_optins: Option<String>,
    pub clr_way: Option<String>,
    pub clr_type: Option<String>,
}

/// What the core answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreAnswer {
    /// 1101
    PersonInfo {
        baseinfo: BaseInfo,
        insuinfo: Vec<InsuInfo>,
    },
    /// 9001 `signinoutb`
    SignIn { sign_time: String, sign_no: String },
    /// 9002 `signoutoutb`
    SignOut { sign_time: String },
    /// 2201 / 2401
    Visit {
        mdtrt_id: String,
        psn_no: String,
        ipt_otp_no: String,
    },
    /// 2202 / 2402: no business output.
    Done,
    /// 2204 / 2301
    FeeResults { result: Vec<FeeDetailResult> },
    /// 2205 / 2302: the lines removed.
    FeesCancelled { feedetl_sn: Vec<String> },
    /// 2206 / 2207 / 2303 / 2304 / 2208 / 2305, and 2601 when it reversed something.
    Settlement {
        setlinfo: Box<SetlInfo>,
        setldetail: Vec<FundLine>,
    },
    /// 2601 whose `omsgid` produced no settlement: there was nothing to reverse. The `omsgid`
    /// is now closed (a [`crate::Tombstone`]): if it arrives later it is refused.
    NothingToReverse { omsgid: String, oinfno: String },
}
