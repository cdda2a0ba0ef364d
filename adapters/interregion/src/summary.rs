//! XPRV01 input — the fee-category summary (大类费用清单) the place of treatment sends to the
//! insured place, which answers with its split ([`crate::Split`]).
//!
//! The lines are the national 4101 `iteminfo` shape (`legacy-and-cross-region.md` §3): one per
//! fee category, each split into 甲类, 乙类, 自费 and other. The insured place prices from these
//! totals alone, so every identity is checked on arrival: a line that does not add up would be
//! priced as something the hospital never charged.

use medsettle_canonical::{FeeCategory, InstitutionLevel, Money};
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::dates::format_datetime;
use crate::field::{Field, Node, Out, Shape, check_len, cond, index, join, opt, quote, req};
use crate::limits::{
    CERTNO_CHARS_MAX, CODE_CHARS_MAX, ID_CHARS_MAX, INSTITUTION_NAME_CHARS_MAX, ITEMINFO_LINES_MAX,
    NAME_CHARS_MAX,
};
use crate::refusal::{Refusal, rule};

/// Fields of XPRV01 `input`.
pub const SUMMARY_INPUT_FIELDS: &[Field] = &[req("summary"), req("iteminfo")];

/// Fields of XPRV01 `input.summary`.
pub const SUMMARY_HEADER_FIELDS: &[Field] = &[
    req("mdtrt_id"),
    req("psn_no"),
    req("certno"),
    opt("psn_name"),
    req("insutype"),
    req("med_type"),
    req("fixmedins_code"),
    opt("fixmedins_name"),
    req("hosp_lv"),
    req("begntime"),
    cond("endtime"),
    req("medfee_sumamt"),
    opt("acct_used_flag"),
    opt("setl_kind"),
];

/// Fields of one XPRV01 `input.iteminfo[]` line.
pub const CATEGORY_LINE_FIELDS: &[Field] = &[
    req("med_chrgitm"),
    req("amt"),
    req("claa_sumfee"),
    req("clab_amt"),
    req("fulamt_ownpay_amt"),
    req("oth_amt"),
];

/// Whether the insured place is asked to settle or only to quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetlKind {
    /// A pre-settlement (2206/2303 at the hospital): the insured place computes the split and
    /// changes nothing (no accumulator moves, nothing to reconcile or clear).
    Pre,
    /// A settlement (2207/2304): the insured place applies the split.
    Final,
}

const SETL_KINDS: &[(&str, SetlKind)] = &[("pre", SetlKind::Pre), ("final", SetlKind::Final)];
const FLAGS: &[(&str, bool)] = &[("0", false), ("1", true)];

impl SetlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetlKind::Pre => "pre",
            SetlKind::Final => "final",
        }
    }
}

/// `input.summary`: the visit and its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryHeader {
    /// 就诊ID at the place of treatment.
    pub mdtrt_id: String,
    /// 人员编号 at the insured place.
    pub psn_no: String,
    pub certno: String,
    pub psn_name: Option<String>,
    /// 险种类型 (`310`, `390`, …), kept as sent.
    pub insutype: String,
    /// 医疗类别 (`11`, `21`, …), kept as sent.
    pub med_type: String,
    pub fixmedins_code: String,
    pub fixmedins_name: Option<String>,
    /// 医院等级 as the national interface sends it; see [`SummaryHeader::institution_level`].
    pub hosp_lv: String,
    pub begntime: PrimitiveDateTime,
    /// Required for inpatient visits ([`is_inpatient`]).
    pub endtime: Option<PrimitiveDateTime>,
    pub medfee_sumamt: Money,
    /// Whether the person lets the personal account pay (`acct_used_flag` "1"); absent is
    /// "0", the choice that spends nothing without consent.
    pub acct_used_flag: bool,
    /// Absent is [`SetlKind::Pre`]: when a sender does not say, nothing is applied.
    pub setl_kind: SetlKind,
}

/// One `input.iteminfo[]` line: a fee category and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryLine {
    pub med_chrgitm: FeeCategory,
    pub amt: Money,
    /// 甲类
    pub claa_sumfee: Money,
    /// 乙类
    pub clab_amt: Money,
    /// 自费
    pub fulamt_ownpay_amt: Money,
    pub oth_amt: Money,
}

/// The XPRV01 input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: SummaryHeader,
    pub iteminfo: Vec<CategoryLine>,
}

/// Whether `med_type` is an inpatient visit, which must say when it ended: the national
/// inpatient codes are 2x (21 普通住院 … 28 日间手术, and local 2xxx refinements) and 52 生育住院.
pub fn is_inpatient(med_type: &str) -> bool {
    med_type.starts_with('2') || med_type == "52"
}

impl SummaryHeader {
    /// The level the insured place's policy keys on, when `hosp_lv` is one of the spellings
    /// the canonical schema reads (`1`/`2`/`3`, `0`/`9` unrated). Other codes (a provincial
    /// grade such as `02` 三级甲等) are carried as sent and left to the insured place to map.
    pub fn institution_level(&self) -> Option<InstitutionLevel> {
        InstitutionLevel::parse(&self.hosp_lv)
    }

    fn read(node: &Node<'_>) -> Result<SummaryHeader, Refusal> {
        let header = SummaryHeader {
            mdtrt_id: node.text("mdtrt_id", Shape::Id(ID_CHARS_MAX))?,
            psn_no: node.text("psn_no", Shape::Id(ID_CHARS_MAX))?,
            certno: node.text("certno", Shape::Id(CERTNO_CHARS_MAX))?,
            psn_name: node.opt_text("psn_name", Shape::Words(NAME_CHARS_MAX))?,
            insutype: node.text("insutype", Shape::Alnum(CODE_CHARS_MAX))?,
            med_type: node.text("med_type", Shape::Alnum(CODE_CHARS_MAX))?,
            fixmedins_code: node.text("fixmedins_code", Shape::Id(ID_CHARS_MAX))?,
            fixmedins_name: node
                .opt_text("fixmedins_name", Shape::Words(INSTITUTION_NAME_CHARS_MAX))?,
            hosp_lv: node.text("hosp_lv", Shape::Alnum(CODE_CHARS_MAX))?,
            begntime: node.datetime("begntime")?,
            endtime: node.opt_datetime("endtime")?,
            medfee_sumamt: node.money("medfee_sumamt")?,
            acct_used_flag: node.opt_code("acct_used_flag", FLAGS)?.unwrap_or(false),
            setl_kind: node
                .opt_code("setl_kind", SETL_KINDS)?
                .unwrap_or(SetlKind::Pre),
        };
        if header.medfee_sumamt.is_negative() {
            return Err(Refusal::new(
                rule::SUM_NEGATIVE,
                node.at("medfee_sumamt"),
                format!(
                    "{} is negative; a summary has no negative amount",
                    header.medfee_sumamt
                ),
            ));
        }
        match header.endtime {
            None if is_inpatient(&header.med_type) => Err(Refusal::new(
                rule::SUM_ENDTIME_REQUIRED,
                node.at("endtime"),
                format!(
                    "is required for the inpatient med_type {}",
                    quote(&header.med_type)
                ),
            )),
            Some(end) if end < header.begntime => Err(Refusal::new(
                rule::SUM_ENDTIME_ORDER,
                node.at("endtime"),
                format!(
                    "{} is before begntime {}",
                    format_datetime(end),
                    format_datetime(header.begntime)
                ),
            )),
            _ => Ok(header),
        }
    }

    fn write(&self) -> Value {
        Out::new()
            .text("mdtrt_id", &self.mdtrt_id)
            .text("psn_no", &self.psn_no)
            .text("certno", &self.certno)
            .opt_text("psn_name", self.psn_name.as_deref())
            .text("insutype", &self.insutype)
            .text("med_type", &self.med_type)
            .text("fixmedins_code", &self.fixmedins_code)
            .opt_text("fixmedins_name", self.fixmedins_name.as_deref())
            .text("hosp_lv", &self.hosp_lv)
            .datetime("begntime", self.begntime)
            .opt_datetime("endtime", self.endtime)
            .money("medfee_sumamt", self.medfee_sumamt)
            .text(
                "acct_used_flag",
                if self.acct_used_flag { "1" } else { "0" },
            )
            .text("setl_kind", self.setl_kind.as_str())
            .done()
    }
}

impl CategoryLine {
    fn read(node: &Node<'_>) -> Result<CategoryLine, Refusal> {
        let code = node.text("med_chrgitm", Shape::Alnum(CODE_CHARS_MAX))?;
        let med_chrgitm = FeeCategory::parse(&code).ok_or_else(|| {
            Refusal::new(
                rule::SUM_CATEGORY,
                node.at("med_chrgitm"),
                format!("{} is not a national fee category 01–14", quote(&code)),
            )
        })?;
        let line = CategoryLine {
            med_chrgitm,
            amt: node.money("amt")?,
            claa_sumfee: node.money("claa_sumfee")?,
            clab_amt: node.money("clab_amt")?,
            fulamt_ownpay_amt: node.money("fulamt_ownpay_amt")?,
            oth_amt: node.money("oth_amt")?,
        };
        for (name, m) in line.named_amounts() {
            if m.is_negative() {
                return Err(Refusal::new(
                    rule::SUM_NEGATIVE,
                    node.at(name),
                    format!("{m} is negative; a summary has no negative amount"),
                ));
            }
        }
        let parts = line.parts_sum();
        if parts != line.amt {
            return Err(Refusal::new(
                rule::SUM_LINE_PARTS,
                node.at("amt"),
                format!(
                    "{} ≠ claa_sumfee + clab_amt + fulamt_ownpay_amt + oth_amt = {parts}",
                    line.amt
                ),
            ));
        }
        Ok(line)
    }

    fn named_amounts(&self) -> [(&'static str, Money); 5] {
        [
            ("amt", self.amt),
            ("claa_sumfee", self.claa_sumfee),
            ("clab_amt", self.clab_amt),
            ("fulamt_ownpay_amt", self.fulamt_ownpay_amt),
            ("oth_amt", self.oth_amt),
        ]
    }

    /// 甲 + 乙 + 自费 + other, which `amt` must equal.
    pub fn parts_sum(&self) -> Money {
        self.claa_sumfee + self.clab_amt + self.fulamt_ownpay_amt + self.oth_amt
    }

    fn write(&self) -> Value {
        Out::new()
            .text("med_chrgitm", self.med_chrgitm.code())
            .money("amt", self.amt)
            .money("claa_sumfee", self.claa_sumfee)
            .money("clab_amt", self.clab_amt)
            .money("fulamt_ownpay_amt", self.fulamt_ownpay_amt)
            .money("oth_amt", self.oth_amt)
            .done()
    }
}

impl Summary {
    /// Decode an XPRV01 input found at `root` (`input`).
    pub(crate) fn decode_at(v: &Value, root: &str) -> Result<Summary, Refusal> {
        let node = Node::open(v, root, SUMMARY_INPUT_FIELDS)?;
        let header = SummaryHeader::read(&node.object("summary", SUMMARY_HEADER_FIELDS)?)?;
        let items = node.array("iteminfo")?;
        let items_path = node.at("iteminfo");
        check_len(
            items,
            &items_path,
            1,
            ITEMINFO_LINES_MAX,
            rule::SUM_LINE_COUNT,
        )?;
        let mut iteminfo: Vec<CategoryLine> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let line = CategoryLine::read(&Node::open(
                item,
                &index(&items_path, i),
                CATEGORY_LINE_FIELDS,
            )?)?;
            if let Some(first) = iteminfo
                .iter()
                .position(|l| l.med_chrgitm == line.med_chrgitm)
            {
                return Err(Refusal::new(
                    rule::SUM_CATEGORY_REPEATED,
                    join(&index(&items_path, i), "med_chrgitm"),
                    format!(
                        "category {} is already on iteminfo[{first}]",
                        line.med_chrgitm.code()
                    ),
                ));
            }
            iteminfo.push(line);
        }
        let total: Money = iteminfo.iter().map(|l| l.amt).sum();
        if total != header.medfee_sumamt {
            return Err(Refusal::new(
                rule::SUM_TOTAL,
                join(&node.at("summary"), "medfee_sumamt"),
                format!("{} ≠ Σ iteminfo.amt = {total}", header.medfee_sumamt),
            ));
        }
        Ok(Summary { header, iteminfo })
    }

    /// The input object.
    pub fn to_input(&self) -> Value {
        Out::new()
            .value("summary", self.header.write())
            .value(
                "iteminfo",
                Value::Array(self.iteminfo.iter().map(CategoryLine::write).collect()),
            )
            .done()
    }

    /// Totals over the categories: (甲类, 乙类, 自费, other). They sum to `medfee_sumamt`.
    pub fn category_totals(&self) -> (Money, Money, Money, Money) {
        let mut totals = (Money::ZERO, Money::ZERO, Money::ZERO, Money::ZERO);
        for l in &self.iteminfo {
            totals.0 += l.claa_sumfee;
            totals.1 += l.clab_amt;
            totals.2 += l.fulamt_ownpay_amt;
            totals.3 += l.oth_amt;
        }
        totals
    }
}
