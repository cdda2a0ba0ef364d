//! 3260 提取异地清分明细 — the place of treatment's hospitals extract the month's
//! cross-province clearing detail ("就医地使用此交易提取…月度结算清分明细，供医疗机构进行确认
//! 处理"), at most [`PAGE_ROWS_MAX`] rows per call, paged by `startrow`
//! (`reference/legacy-and-cross-region.md` §4.1; `specs/nhsa/3260.toml`).
//!
//! Input `data{trt_year, trt_month, startrow}`, output `data[]` — the node names of the public
//! HIS clients (HSA `InsureUnifiedRemoteBOImpl.java` reads `output.data` as a list; a Java
//! client's `Output3260Data` list under `output.data`). The interface has no total and no
//! has-more flag: clients ask again from `startrow + rows` until a page has fewer than
//! [`PAGE_ROWS_MAX`] rows, so the gateway answers exactly `{"data": [...]}` and a page past
//! the end is `{"data": []}` (this gateway's choice, stated in the table). `startrow` is a
//! position among the institution's lines of the month ([`page_range`]), not a `seqno`.
//!
//! The year, month and row-number fields of 3260–3262 are typed here ([`TrtYear`],
//! [`TrtMonth`], [`RowNo`]): text of the national shape (`yyyy`, `MM` 01–12) and a 1-based
//! row number, each refused at its path with the rule of its kind (`FMT-DATE`, `FMT-NUMBER`).
//!
//! Building a page (the service's side):
//! ```
//! use medsettle_canonical::{Admdvs, Money};
//! use medsettle_nhsa::tx::t3260::{Detail3260, Out3260};
//! use medsettle_nhsa::field::Scaled;
//! use time::macros::datetime;
//!
//! let row = Detail3260 {
//!     seqno: Scaled(1),
//!     mdtrtarea: Admdvs::parse("990100").unwrap(),
//!     medins_no: "H99010000001".into(),
//!     certno: None,
//!     mdtrt_id: "YD9901202405000007".into(),
//!     mdtrt_setl_time: Detail3260::china_time(datetime!(2024-05-20 02:00:00 UTC)),
//!     setl_sn: "S0001".into(),
//!     fulamt_advpay_flag: Detail3260::advpay_flag(false),
//!     medfee_sumamt: Money::from_fen(2_560_000),
//!     optins_pay_sumamt: Money::from_fen(1_814_000),
//!     extra: Default::default(),
//! };
//! let output = Out3260::new(vec![row]).encode();
//! assert_eq!(
//!     output.to_string(),
//!     r#"{"data":[{"seqno":1,"mdtrtarea":"990100","medins_no":"H99010000001","mdtrt_id":"YD9901202405000007","mdtrt_setl_time":"2024-05-20 10:00:00","setl_sn":"S0001","fulamt_advpay_flag":"0","medfee_sumamt":25600.00,"optins_pay_sumamt":18140.00}]}"#
//! );
//! ```

use medsettle_canonical::{Admdvs, CHINA_OFFSET, Money, RuleId};
use serde::Serializer;
use serde_json::Value;
use time::{Month, OffsetDateTime, PrimitiveDateTime};

use crate::field::kinds::*;
use crate::field::{
    Errors, FieldPath, FieldSpec, FieldValue, N0, REQUEST_TIME_BEFORE, REQUEST_TIME_NOT_BEFORE,
    Record, Scaled,
};
use crate::record;

/// Rows per 3260 page, at most: "提取数据每次不能超过100条" (HSA `InsureUnifiedRemoteBOImpl`).
pub const PAGE_ROWS_MAX: usize = 100;

// ---------------------------------------------------------------- the typed fields

/// `trt_year` (结算年度): the year as four digits, `2024`. A request's year lies in the
/// plausible window of request times (2000 … 2099, [`REQUEST_TIME_NOT_BEFORE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrtYear(i32);

impl TrtYear {
    /// A year of the plausible window, or `None`.
    pub fn new(year: i32) -> Option<TrtYear> {
        (REQUEST_TIME_NOT_BEFORE.year()..REQUEST_TIME_BEFORE.year())
            .contains(&year)
            .then_some(TrtYear(year))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// `trt_month` (结算月份): the month as two digits `01` … `12` ("格式为：MM如1月为01").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrtMonth(u8);

impl TrtMonth {
    /// A month 1–12, or `None`.
    pub fn new(month: u8) -> Option<TrtMonth> {
        (1..=12).contains(&month).then_some(TrtMonth(month))
    }

    /// 1–12.
    pub fn number(self) -> u8 {
        self.0
    }

    pub fn month(self) -> Month {
        Month::try_from(self.0).expect("a TrtMonth holds 1–12")
    }
}

/// A 1-based row number (`startrow` 开始行数): a number or decimal text, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowNo(u32);

impl RowNo {
    /// A row number ≥ 1, or `None`.
    pub fn new(row: u32) -> Option<RowNo> {
        (row >= 1).then_some(RowNo(row))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The 0-based index of the row.
    pub fn index(self) -> usize {
        usize::try_from(self.0 - 1).expect("u32 fits usize")
    }
}

/// The value of `digits` ASCII digits exactly (no sign, no space, no other length).
fn digits_value(s: &str, digits: usize) -> Option<u32> {
    (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl FieldValue for TrtYear {
    const EMPTY_TEXT_IS_ABSENT: bool = false;

    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        // text within its length first (`FMT-TYPE`, `FMT-LENGTH`), as any `char` field
        let s = String::decode(v, path, spec, errs)?;
        let Some(year) = digits_value(&s, 4).and_then(|y| i32::try_from(y).ok()) else {
            errs.push(
                RuleId::FMT_DATE,
                path,
                format!("{} ({}) = `{s}` is not a year `yyyy`", spec.name, spec.zh),
            );
            return None;
        };
        match TrtYear::new(year) {
            Some(y) => Some(y),
            None if errs.answer => Some(TrtYear(year)),
            None => {
                errs.push(
                    RuleId::FMT_DATE,
                    path,
                    format!(
                        "{} ({}) = `{s}` is outside the plausible window {} … {} (REQUEST_TIME_NOT_BEFORE, REQUEST_TIME_BEFORE)",
                        spec.name,
                        spec.zh,
                        REQUEST_TIME_NOT_BEFORE.year(),
                        REQUEST_TIME_BEFORE.year() - 1
                    ),
                );
                None
            }
        }
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(format!("{:04}", self.0))
    }

    fn serialize_wire<S: Serializer>(&self, _: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:04}", self.0))
    }

    /// The wire text (`"2024"`): the canonical form of a `char` field.
    fn canonical(&self) -> Value {
        Value::String(format!("{:04}", self.0))
    }
}

impl FieldValue for TrtMonth {
    const EMPTY_TEXT_IS_ABSENT: bool = false;

    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        // text within its length first (`FMT-TYPE`, `FMT-LENGTH`), as any `char` field
        let s = String::decode(v, path, spec, errs)?;
        let month = digits_value(&s, 2)
            .and_then(|m| u8::try_from(m).ok())
            .and_then(TrtMonth::new);
        if month.is_none() {
            errs.push(
                RuleId::FMT_DATE,
                path,
                format!(
                    "{} ({}) = `{s}` is not a month `MM` 01–12 (January is `01`)",
                    spec.name, spec.zh
                ),
            );
        }
        month
    }

    fn encode(&self, _: &FieldSpec) -> Value {
        Value::String(format!("{:02}", self.0))
    }

    fn serialize_wire<S: Serializer>(&self, _: &FieldSpec, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:02}", self.0))
    }

    /// The wire text (`"06"`): the canonical form of a `char` field.
    fn canonical(&self) -> Value {
        Value::String(format!("{:02}", self.0))
    }
}

impl FieldValue for RowNo {
    fn decode(v: &Value, path: FieldPath<'_>, spec: &FieldSpec, errs: &mut Errors) -> Option<Self> {
        let n = N0::decode(v, path, spec, errs)?;
        let row = u32::try_from(n.units()).ok().and_then(RowNo::new);
        if row.is_none() {
            errs.push(
                RuleId::FMT_NUMBER,
                path,
                format!(
                    "{} ({}) = {n} is not a row number: rows are numbered 1 … {}",
                    spec.name,
                    spec.zh,
                    u32::MAX
                ),
            );
        }
        row
    }

    fn encode(&self, spec: &FieldSpec) -> Value {
        N0::from(*self).encode(spec)
    }

    fn canonical(&self) -> Value {
        Value::from(self.0)
    }
}

impl From<RowNo> for N0 {
    fn from(r: RowNo) -> N0 {
        Scaled(i64::from(r.0))
    }
}

// ---------------------------------------------------------------- input

record! {
    /// 3260 input `data`: the month and the first row wanted.
    pub struct Data3260 {
        trt_year: req TrtYear = char(4), "结算年度", "clearing year yyyy";
        trt_month: req TrtMonth = char(2), "结算月份", "clearing month MM, 01-12";
        startrow: req RowNo = num(10, 0), "开始行数", "first row wanted: its 1-based position among the institution's lines";
    }
}

record! {
    /// 3260 input.
    pub struct In3260 {
        data: req (Data3260) = NESTED, "输入", "month and first row";
    }
}

// ---------------------------------------------------------------- output

record! {
    /// One line of the month's clearing detail (3260 output `data[]`).
    pub struct Detail3260 {
        seqno: req N0 = num(10, 0), "顺序号", "line number, ascending in the month's detail";
        mdtrtarea: req Admdvs = ADMDVS, "就医地医保区划", "place of treatment";
        medins_no: req String = char(30), "医疗机构编号", "institution of treatment";
        certno: opt String = char(50), "证件号码", "certificate number (absent when the settlement journal has none)";
        mdtrt_id: req String = char(30), "就诊登记号", "visit id";
        mdtrt_setl_time: req PrimitiveDateTime = DATETIME, "就诊结算时间", "settlement time";
        setl_sn: req String = char(30), "结算流水号", "settlement id (setl_id): what 3261 confirms";
        fulamt_advpay_flag: req String = char(3), "全额垫付标志", "0 settled by the hospital (医院报销), 1 paid in full, reimbursed (零星报销)";
        medfee_sumamt: req Money = MONEY, "总费用", "total medical fee";
        optins_pay_sumamt: req Money = MONEY, "经办机构支付总额", "fund payment (fund_pay_sumamt)";
    }
}

record! {
    /// 3260 output: one page, at most [`PAGE_ROWS_MAX`] lines.
    pub struct Out3260 {
        data: req [Detail3260] = NESTED, "清分明细", "the page's lines, in seqno order";
    }
}

impl Detail3260 {
    /// `mdtrt_setl_time` as the interface writes it: China time without an offset.
    pub fn china_time(t: OffsetDateTime) -> PrimitiveDateTime {
        let t = t.to_offset(CHINA_OFFSET);
        PrimitiveDateTime::new(t.date(), t.time())
    }

    /// `fulamt_advpay_flag`: `1` when the insured paid in full and is reimbursed (全额垫付,
    /// 零星报销), `0` when the hospital settled it directly.
    pub fn advpay_flag(paid_in_full: bool) -> String {
        if paid_in_full { "1" } else { "0" }.to_owned()
    }
}

impl Out3260 {
    /// A page of `rows` (in `seqno` order; `[]` past the end). More than [`PAGE_ROWS_MAX`]
    /// rows is a bug of the caller: the interface allows at most 100 per call.
    pub fn new(rows: Vec<Detail3260>) -> Out3260 {
        assert!(
            rows.len() <= PAGE_ROWS_MAX,
            "a 3260 page has at most {PAGE_ROWS_MAX} rows, not {}",
            rows.len()
        );
        Out3260 {
            data: rows,
            extra: Default::default(),
        }
    }

    /// The wire JSON of `output`: `{"data": [...]}`, national field names, amounts with two
    /// decimals, times `yyyy-MM-dd HH:mm:ss`.
    pub fn encode(&self) -> Value {
        self.to_wire()
    }
}

/// The rows of a page: the 0-based index range of `total` rows that `startrow` asks for, at
/// most [`PAGE_ROWS_MAX`]; empty past the end.
pub fn page_range(startrow: RowNo, total: usize) -> std::ops::Range<usize> {
    let start = startrow.index().min(total);
    start..total.min(start.saturating_add(PAGE_ROWS_MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tx::{TxInput, decode_input};

    fn input(data: Value) -> Result<TxInput, Vec<(String, String)>> {
        decode_input("3260", &json!({ "data": data })).map_err(|e| {
            e.violations
                .into_iter()
                .map(|v| (v.rule.0.to_owned(), v.path))
                .collect()
        })
    }

    #[test]
    fn decodes_the_clients_shapes() {
        // HSA sends startrow as a number, the Java client as text.
        for startrow in [json!(1), json!("101")] {
            let tx = input(json!({"trt_year": "2024", "trt_month": "05", "startrow": startrow}))
                .unwrap();
            let TxInput::T3260(x) = tx else {
                panic!("{tx:?}")
            };
            assert_eq!(
                (x.data.trt_year.get(), x.data.trt_month.month()),
                (2024, Month::May)
            );
            assert!([1, 101].contains(&x.data.startrow.get()));
        }
    }

    #[test]
    fn refuses_months_years_and_rows_out_of_shape() {
        let bad = |data: Value, rule: &str, path: &str| {
            let got = input(data).unwrap_err();
            assert!(
                got.contains(&(rule.to_owned(), path.to_owned())),
                "{rule} at {path}: {got:?}"
            );
        };
        for month in ["1", "00", "13", "5 ", "０５", "-1"] {
            bad(
                json!({"trt_year": "2024", "trt_month": month, "startrow": 1}),
                "FMT-DATE",
                "input.data.trt_month",
            );
        }
        for year in ["24", "1999", "2100", "２０２４", "+202"] {
            bad(
                json!({"trt_year": year, "trt_month": "05", "startrow": 1}),
                "FMT-DATE",
                "input.data.trt_year",
            );
        }
        bad(
            json!({"trt_year": "20240", "trt_month": "05", "startrow": 1}),
            "FMT-LENGTH",
            "input.data.trt_year",
        );
        // text on the wire, like every char field
        bad(
            json!({"trt_year": 2024, "trt_month": 5, "startrow": 1}),
            "FMT-TYPE",
            "input.data.trt_month",
        );
        for startrow in [
            json!(0),
            json!(-1),
            json!("0"),
            json!(1.5),
            json!(4_294_967_296u64),
        ] {
            bad(
                json!({"trt_year": "2024", "trt_month": "05", "startrow": startrow}),
                "FMT-NUMBER",
                "input.data.startrow",
            );
        }
        bad(
            json!({"trt_year": "2024", "trt_month": "05"}),
            "FMT-REQUIRED",
            "input.data.startrow",
        );
    }

    #[test]
    fn pages_are_at_most_a_hundred_rows() {
        let row = |n| RowNo::new(n).unwrap();
        assert_eq!(page_range(row(1), 250), 0..100);
        assert_eq!(page_range(row(101), 250), 100..200);
        assert_eq!(page_range(row(201), 250), 200..250);
        assert_eq!(page_range(row(251), 250), 250..250);
        assert_eq!(page_range(row(u32::MAX), 3), 3..3);
        assert_eq!(page_range(row(1), 0), 0..0);
    }

    fn row() -> Detail3260 {
        Detail3260 {
            seqno: Scaled(1),
            mdtrtarea: Admdvs::parse("440300").unwrap(),
            medins_no: "H44030000001".into(),
            certno: None,
            mdtrt_id: "M1".into(),
            mdtrt_setl_time: Detail3260::china_time(OffsetDateTime::UNIX_EPOCH),
            setl_sn: "S1".into(),
            fulamt_advpay_flag: Detail3260::advpay_flag(true),
            medfee_sumamt: Money::from_fen(100),
            optins_pay_sumamt: Money::from_fen(80),
            extra: Default::default(),
        }
    }

    #[test]
    #[should_panic(expected = "at most 100 rows")]
    fn a_page_of_more_than_a_hundred_rows_is_a_bug() {
        let _ = Out3260::new(vec![row(); PAGE_ROWS_MAX + 1]);
    }

    #[test]
    fn a_page_decodes_as_it_was_encoded_and_its_shape_is_inferred() {
        use crate::tx::{OutputShape, TxOutput, decode_output, infer_output_shape};
        for rows in [vec![], vec![row(); PAGE_ROWS_MAX]] {
            let page = Out3260::new(rows);
            let wire = page.encode();
            assert_eq!(
                decode_output("3260", &wire).unwrap(),
                TxOutput::ClearingDetail(page)
            );
            assert_eq!(infer_output_shape(&wire), Some(OutputShape::ClearingDetail));
        }
        assert_eq!(
            row().to_wire()["mdtrt_setl_time"],
            json!("1970-01-01 08:00:00")
        );
        assert_eq!(row().to_wire()["fulamt_advpay_flag"], json!("1"));
        assert_eq!(row().to_wire()["medfee_sumamt"].to_string(), "1.00");
        // a 2201 answer's `data` object is still a registration
        let reg = json!({"data": {"mdtrt_id": "M1", "psn_no": "P1", "ipt_otp_no": "O1"}});
        assert_eq!(infer_output_shape(&reg), Some(OutputShape::Register));
    }
}
