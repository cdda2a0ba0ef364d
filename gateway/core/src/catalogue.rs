//! The medical-insurance catalogue (医保目录) and the classification of fee-detail lines.
//!
//! A line's amount is `cnt × pric` computed exactly in integers (cnt has 4 decimals, pric 6, so
//! the product is in 1/10¹⁰ yuan) and must be a whole number of fen (rule NHSA-ID-8). It is then
//! split into the four parts of §2.5 item 8: full self-pay (自费 items), over the price cap,
//! 乙类 pre-self-pay, and in scope. A list code the catalogue does not know is self-pay with a
//! warning: the core never guesses a level.

use std::collections::BTreeMap;
use std::fmt;

use medsettle_canonical::money::{div_round_half_away, format_scaled, parse_scaled};
use medsettle_canonical::{ChargeLevel, DecimalError, FeeCategory, Money, Ratio, RuleId};
use serde::{Deserialize, Serialize};

use crate::error::{CoreRefusal, CoreWarning, WARN_UNKNOWN_LIST_CODE};
use crate::policy::parse_unit_ratio;

/// Units of [`Quantity`] per one.
pub const QUANTITY_ONE: i64 = 10_000;
/// Units of [`UnitPrice`] per yuan.
pub const PRICE_ONE: i64 = 1_000_000;
/// 1/10¹⁰ yuan (quantity unit × price unit) per fen.
const PRODUCT_UNITS_PER_FEN: i128 = (QUANTITY_ONE as i128) * (PRICE_ONE as i128) / 100;

/// A count with 4 decimals (`cnt`, 16,4), in units of 1/10 000. Negative on refund lines.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    pub const fn from_units(units: i64) -> Quantity {
        Quantity(units)
    }
    pub const fn units(self) -> i64 {
        self.0
    }
    pub fn parse(text: &str) -> Result<Quantity, DecimalError> {
        parse_scaled(text, 4).map(Quantity)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(self.0, 4))
    }
}

/// A unit price with 6 decimals (`pric`, 16,6), in units of 1/1 000 000 yuan.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnitPrice(i64);

impl UnitPrice {
    pub const fn from_units(units: i64) -> UnitPrice {
        UnitPrice(units)
    }
    pub const fn units(self) -> i64 {
        self.0
    }
    pub fn parse(text: &str) -> Result<UnitPrice, DecimalError> {
        parse_scaled(text, 6).map(UnitPrice)
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(self.0, 6))
    }
}

/// `cnt × pric` in fen, exactly, or `None` when the product has a fraction of a fen.
pub fn exact_amount(cnt: Quantity, pric: UnitPrice) -> Option<Money> {
    let product = i128::from(cnt.0) * i128::from(pric.0);
    if product % PRODUCT_UNITS_PER_FEN != 0 {
        return None;
    }
    i64::try_from(product / PRODUCT_UNITS_PER_FEN)
        .ok()
        .map(Money::from_fen)
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueItem {
    pub med_list_codg: String,
    pub name: String,
    pub med_chrgitm_type: FeeCategory,
    pub chrgitm_lv: ChargeLevel,
    /// 乙类 only; `None` = the scheme's default proportion.
    pub selfpay_prop: Option<Ratio>,
    /// 限价: the highest unit price the funds recognise.
    pub pric_uplmt_amt: Option<UnitPrice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    item: Vec<RawItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    med_list_codg: String,
    name: String,
    med_chrgitm_type: String,
    chrgitm_lv: String,
    selfpay_prop: Option<String>,
    pric_uplmt_amt: Option<String>,
}

/// The catalogue: list code → classification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    items: BTreeMap<String, CatalogueItem>,
}

impl Catalogue {
    /// Parse and validate a catalogue file (`specs/policy/catalogue-example.toml`).
    pub fn from_toml_str(text: &str) -> Result<Catalogue, CoreRefusal> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
            CoreRefusal::config("catalogue", format!("not a valid catalogue file: {e}"))
        })?;
        let mut items = BTreeMap::new();
        for (i, r) in raw.item.iter().enumerate() {
            let p = format!("item[{i}]");
            if r.med_list_codg.is_empty() || r.med_list_codg.len() > 50 {
                return Err(CoreRefusal::config(
                    format!("{p}.med_list_codg"),
                    "a list code has 1 to 50 characters",
                ));
            }
            let med_chrgitm_type = FeeCategory::parse(&r.med_chrgitm_type).ok_or_else(|| {
                CoreRefusal::config(
                    format!("{p}.med_chrgitm_type"),
                    format!("`{}` is not a fee category 01–14", r.med_chrgitm_type),
                )
            })?;
            let chrgitm_lv = ChargeLevel::parse(&r.chrgitm_lv).ok_or_else(|| {
                CoreRefusal::config(
                    format!("{p}.chrgitm_lv"),
                    format!("`{}` is not 1 (甲), 2 (乙) or 3 (自费)", r.chrgitm_lv),
                )
            })?;
            let selfpay_prop = r
                .selfpay_prop
                .as_deref()
                .map(|t| parse_unit_ratio(&format!("{p}.selfpay_prop"), t))
                .transpose()?;
            if selfpay_prop.is_some() && chrgitm_lv != ChargeLevel::ClassB {
                return Err(CoreRefusal::config(
                    format!("{p}.selfpay_prop"),
                    "only 乙类 (chrgitm_lv 2) items have a pre-self-pay proportion",
                ));
            }
            let pric_uplmt_amt = r
                .pric_uplmt_amt
                .as_deref()
                .map(|t| {
                    let v = UnitPrice::parse(t).map_err(|e| {
                        CoreRefusal::config(
                            format!("{p}.pric_uplmt_amt"),
                            format!("not a price with at most 6 decimals: {e}"),
                        )
                    })?;
                    if v.units() < 0 {
                        return Err(CoreRefusal::config(
                            format!("{p}.pric_uplmt_amt"),
                            "a price cap cannot be negative",
                        ));
                    }
                    Ok(v)
                })
                .transpose()?;
            let item = CatalogueItem {
                med_list_codg: r.med_list_codg.clone(),
                name: r.name.clone(),
                med_chrgitm_type,
                chrgitm_lv,
                selfpay_prop,
                pric_uplmt_amt,
            };
            if items.insert(r.med_list_codg.clone(), item).is_some() {
                return Err(CoreRefusal::config(
                    format!("{p}.med_list_codg"),
                    format!("`{}` is listed twice", r.med_list_codg),
                ));
            }
        }
        Ok(Catalogue { items })
    }

    pub fn from_items(items: impl IntoIterator<Item = CatalogueItem>) -> Catalogue {
        Catalogue {
            items: items
                .into_iter()
                .map(|i| (i.med_list_codg.clone(), i))
                .collect(),
        }
    }

    pub fn get(&self, med_list_codg: &str) -> Option<&CatalogueItem> {
        self.items.get(med_list_codg)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The classification of one fee line: the national 2204/2301 `result[]` numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSplit {
    pub det_item_fee_sumamt: Money,
    pub cnt: Quantity,
    pub pric: UnitPrice,
    pub pric_uplmt_amt: Option<UnitPrice>,
    pub selfpay_prop: Ratio,
    pub fulamt_ownpay_amt: Money,
    pub overlmt_amt: Money,
    pub preselfpay_amt: Money,
    pub inscp_scp_amt: Money,
    pub chrgitm_lv: ChargeLevel,
    pub med_chrgitm_type: FeeCategory,
    /// Whether the list code was found in the catalogue.
    pub listed: bool,
}

/// Classify one line. `path` is the line's field path (e.g. `input.feedetail[3]`) for errors.
/// `det_item_fee_sumamt` is what the sender stated, if anything; it must equal `cnt × pric`.
pub fn classify_line(
    catalogue: &Catalogue,
    preselfpay_prop_default: Ratio,
    path: &str,
    med_list_codg: &str,
    cnt: Quantity,
    pric: UnitPrice,
    det_item_fee_sumamt: Option<Money>,
) -> Result<(LineSplit, Option<CoreWarning>), CoreRefusal> {
    if pric.units() < 0 {
        return Err(CoreRefusal::rule(
            RuleId::FMT_MONEY,
            format!("{path}.pric"),
            "a unit price cannot be negative (refunds carry a negative cnt)",
        ));
    }
    let amount = exact_amount(cnt, pric).ok_or_else(|| {
        CoreRefusal::rule(
            RuleId::NHSA_ID_8,
            format!("{path}.det_item_fee_sumamt"),
            format!("cnt {cnt} × pric {pric} is not a whole number of fen; the line cannot be settled exactly"),
        )
    })?;
    if let Some(stated) = det_item_fee_sumamt
        && stated != amount
    {
        return Err(CoreRefusal::rule(
            RuleId::NHSA_ID_8,
            format!("{path}.det_item_fee_sumamt"),
            format!("det_item_fee_sumamt {stated} ≠ cnt {cnt} × pric {pric} = {amount}"),
        ));
    }
    let Some(item) = catalogue.get(med_list_codg) else {
        let warning = CoreWarning {
            code: WARN_UNKNOWN_LIST_CODE,
            path: format!("{path}.med_list_codg"),
            message: format!(
                "list code `{med_list_codg}` is not in the catalogue; the line is full self-pay"
            ),
        };
        let split = LineSplit {
            det_item_fee_sumamt: amount,
            cnt,
            pric,
            pric_uplmt_amt: None,
            selfpay_prop: Ratio::ONE,
            fulamt_ownpay_amt: amount,
            overlmt_amt: Money::ZERO,
            preselfpay_amt: Money::ZERO,
            inscp_scp_amt: Money::ZERO,
            chrgitm_lv: ChargeLevel::SelfPay,
            med_chrgitm_type: FeeCategory::parse("14").expect("14 is a category"),
            listed: false,
        };
        return Ok((split, Some(warning)));
    };
    let mut split = LineSplit {
        det_item_fee_sumamt: amount,
        cnt,
        pric,
        pric_uplmt_amt: item.pric_uplmt_amt,
        selfpay_prop: Ratio::ZERO,
        fulamt_ownpay_amt: Money::ZERO,
        overlmt_amt: Money::ZERO,
        preselfpay_amt: Money::ZERO,
        inscp_scp_amt: Money::ZERO,
        chrgitm_lv: item.chrgitm_lv,
        med_chrgitm_type: item.med_chrgitm_type,
        listed: true,
    };
    if item.chrgitm_lv == ChargeLevel::SelfPay {
        split.selfpay_prop = Ratio::ONE;
        split.fulamt_ownpay_amt = amount;
        return Ok((split, None));
    }
    if let Some(cap) = item.pric_uplmt_amt
        && pric > cap
    {
        // (pric − cap) × cnt, rounded half away from zero once, so a refund line's over-limit
        // part is exactly the negation of the charge's.
        let over = i128::from(pric.units() - cap.units()) * i128::from(cnt.units());
        split.overlmt_amt = Money::from_fen(
            div_round_half_away(over, PRODUCT_UNITS_PER_FEN)
                .try_into()
                .expect("bounded by the line amount"),
        );
    }
    let rest = amount - split.overlmt_amt;
    if item.chrgitm_lv == ChargeLevel::ClassB {
        split.selfpay_prop = item.selfpay_prop.unwrap_or(preselfpay_prop_default);
        split.preselfpay_amt = rest.mul_ratio_half_up(split.selfpay_prop);
    }
    split.inscp_scp_amt = rest - split.preselfpay_amt;
    Ok((split, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = r#"
[[item]]
med_list_codg = "A1"
name = "甲类药"
med_chrgitm_type = "09"
chrgitm_lv = "1"
[[item]]
med_list_codg = "B1"
name = "乙类药"
med_chrgitm_type = "09"
chrgitm_lv = "2"
selfpay_prop = "0.05"
[[item]]
med_list_codg = "C1"
name = "限价材料"
med_chrgitm_type = "08"
chrgitm_lv = "2"
pric_uplmt_amt = "100.00"
[[item]]
med_list_codg = "Z1"
name = "自费项目"
med_chrgitm_type = "14"
chrgitm_lv = "3"
"#;

    fn cat() -> Catalogue {
        Catalogue::from_toml_str(CATALOGUE).unwrap()
    }

    fn q(t: &str) -> Quantity {
        Quantity::parse(t).unwrap()
    }
    fn p(t: &str) -> UnitPrice {
        UnitPrice::parse(t).unwrap()
    }
    fn m(t: &str) -> Money {
        Money::parse_yuan(t).unwrap()
    }

    fn four_parts(s: &LineSplit) -> Money {
        s.fulamt_ownpay_amt + s.overlmt_amt + s.preselfpay_amt + s.inscp_scp_amt
    }

    #[test]
    fn the_2204_sample_line_rounds_half_up() {
        // §2.5 item 8: 4.52 × 0.05 = 0.226 → 0.23
        let (s, w) =
            classify_line(&cat(), Ratio::ZERO, "l", "B1", q("1"), p("4.52"), None).unwrap();
        assert!(w.is_none());
        assert_eq!(s.preselfpay_amt, m("0.23"));
        assert_eq!(s.inscp_scp_amt, m("4.29"));
        assert_eq!(four_parts(&s), s.det_item_fee_sumamt);
    }

    #[test]
    fn over_the_price_cap_is_overlimit() {
        let ratio = Ratio::parse("0.10").unwrap();
        let (s, _) = classify_line(
            &cat(),
            ratio,
            "l",
            "C1",
            q("3"),
            p("120.00"),
            Some(m("360.00")),
        )
        .unwrap();
        assert_eq!(s.overlmt_amt, m("60.00"));
        assert_eq!(s.preselfpay_amt, m("30.00")); // scheme default 10 % of the capped 300
        assert_eq!(s.inscp_scp_amt, m("270.00"));
        assert_eq!(four_parts(&s), m("360.00"));
        // a refund line mirrors the charge exactly
        let (r, _) = classify_line(&cat(), ratio, "l", "C1", q("-3"), p("120.00"), None).unwrap();
        assert_eq!(r.overlmt_amt, -s.overlmt_amt);
        assert_eq!(r.preselfpay_amt, -s.preselfpay_amt);
    }

    #[test]
    fn self_pay_and_unknown_codes_are_full_self_pay() {
        let (s, w) = classify_line(&cat(), Ratio::ZERO, "l", "Z1", q("2"), p("5"), None).unwrap();
        assert!(w.is_none());
        assert_eq!(s.fulamt_ownpay_amt, m("10.00"));
        let (s, w) = classify_line(&cat(), Ratio::ZERO, "x", "NOPE", q("2"), p("5"), None).unwrap();
        let w = w.expect("a warning for an unknown code");
        assert_eq!(w.code, WARN_UNKNOWN_LIST_CODE);
        assert_eq!(w.path, "x.med_list_codg");
        assert_eq!(s.fulamt_ownpay_amt, m("10.00"));
        assert_eq!(s.chrgitm_lv, ChargeLevel::SelfPay);
        assert!(!s.listed);
    }

    #[test]
    fn inexact_products_and_wrong_sums_are_nhsa_id_8() {
        let e =
            classify_line(&cat(), Ratio::ZERO, "l", "A1", q("0.3333"), p("1"), None).unwrap_err();
        assert_eq!(e.code(), "NHSA-ID-8");
        let e = classify_line(&cat(), Ratio::ZERO, "l", "A1", q("2"), p("1"), Some(m("3")))
            .unwrap_err();
        assert_eq!(e.code(), "NHSA-ID-8");
        assert_eq!(e.path(), "l.det_item_fee_sumamt");
        // 0.5 × 0.010000 = 0.005 yuan: half a fen is not exact either
        assert!(exact_amount(q("0.5"), p("0.01")).is_none());
        assert_eq!(exact_amount(q("0.25"), p("0.04")), Some(m("0.01")));
    }

    #[test]
    fn catalogue_validation_names_the_key() {
        let e = Catalogue::from_toml_str(
            &CATALOGUE.replace("\"09\"\nchrgitm_lv = \"1\"", "\"15\"\nchrgitm_lv = \"1\""),
        )
        .unwrap_err();
        assert_eq!(e.path(), "item[0].med_chrgitm_type");
        let e = Catalogue::from_toml_str(&format!(
            "{CATALOGUE}\n[[item]]\nmed_list_codg = \"A1\"\nname = \"x\"\nmed_chrgitm_type = \"01\"\nchrgitm_lv = \"1\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("twice"));
    }
}
