//! Between the national wire (the nhsa adapter's typed transactions) and the embedded core's
//! own request and answer types. Both sides use national field names; this module only moves
//! values across, converting representations (wire flags "1"/"0", `PrimitiveDateTime` ↔ the
//! core's `yyyy-MM-dd HH:mm:ss` text, scaled quantities).

use medsettle_canonical::{Admdvs, ClaimKind, FundLine, Money, RuleId, SettledClaim, Violation};
use medsettle_core::{CoreAnswer, CoreRequest, Quantity, SetlInfo, UnitPrice, txn};
use medsettle_nhsa::tx::settle::SettleOutput;
use medsettle_nhsa::{PersonExtras, Scaled, TxInput, settle_output_for_claim};
use serde_json::{Map, Value, json};
use time::PrimitiveDateTime;
use time::macros::format_description;

fn text_time(t: PrimitiveDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .expect("formats")
}

fn flag(v: &str) -> bool {
    v == "1"
}

fn opt_text(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// The fields 2206/2207 and 2303/2304 share (nhsa-interface.md §2.2–2.3), plus the ones a
/// transaction adds. The four input structs are distinct types with the same field names.
macro_rules! settle_req {
    ($d:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        #[allow(unused_mut)] // the list of extra fields may be empty
        let mut req = txn::SettleReq {
            psn_no: $d.psn_no,
            mdtrt_id: $d.mdtrt_id,
            mdtrt_cert_type: Some($d.mdtrt_cert_type),
            mdtrt_cert_no: Some($d.mdtrt_cert_no),
            insutype: Some($d.insutype),
            psn_setlway: Some($d.psn_setlway),
            acct_used_flag: flag(&$d.acct_used_flag),
            medfee_sumamt: Some($d.medfee_sumamt),
            ..Default::default()
        };
        $(req.$field = $value;)*
        req
    }};
    // 2207/2303/2304 also carry the invoice number and the totals the HIS states (checked by
    // the core against the uploaded detail, or taken as given when there is none).
    ($d:ident with totals { $($field:ident: $value:expr),* $(,)? }) => {{
        let invono = opt_text(&$d.invono);
        let totals = (
            $d.fulamt_ownpay_amt,
            $d.overlmt_selfpay,
            $d.preselfpay_amt,
            $d.inscp_scp_amt,
        );
        let mut req = settle_req!($d { $($field: $value),* });
        req.invono = invono;
        (
            req.fulamt_ownpay_amt,
            req.overlmt_selfpay,
            req.preselfpay_amt,
            req.inscp_scp_amt,
        ) = totals;
        req
    }};
}

/// Map a decoded national input to the core's request.
pub fn to_core(tx: TxInput) -> Result<CoreRequest, Violation> {
    Ok(match tx {
        TxInput::T1101(x) => CoreRequest::PersonInfo(txn::Req1101 {
            mdtrt_cert_type: x.data.mdtrt_cert_type,
            mdtrt_cert_no: x.data.mdtrt_cert_no,
            psn_cert_type: x.data.psn_cert_type,
            certno: x.data.certno,
            psn_name: x.data.psn_name,
        }),
        TxInput::T9001(x) => CoreRequest::SignIn(txn::Req9001 {
            opter_no: x.signIn.opter_no,
            mac: x.signIn.mac,
            ip: x.signIn.ip,
        }),
        TxInput::T9002(x) => CoreRequest::SignOut(txn::Req9002 {
            sign_no: x.signOut.sign_no,
            opter_no: x.signOut.opter_no,
        }),
        TxInput::T2201(x) => {
            let d = x.data;
            CoreRequest::Register(txn::Req2201 {
                psn_no: d.psn_no,
                insutype: d.insutype,
                begntime: text_time(d.begntime),
                mdtrt_cert_type: d.mdtrt_cert_type,
                mdtrt_cert_no: d.mdtrt_cert_no,
                ipt_otp_no: d.ipt_otp_no,
                atddr_no: Some(d.atddr_no),
                dr_name: Some(d.dr_name),
                dept_code: Some(d.dept_code),
                dept_name: Some(d.dept_name),
                caty: Some(d.caty),
            })
        }
        TxInput::T2202(x) => CoreRequest::CancelRegistration(txn::Req2202 {
            psn_no: x.data.psn_no,
            mdtrt_id: x.data.mdtrt_id,
            ipt_otp_no: x.data.ipt_otp_no,
        }),
        TxInput::T2401(x) => {
            let m = x.mdtrtinfo;
            CoreRequest::Admit(txn::Req2401 {
                psn_no: m.psn_no,
                insutype: m.insutype,
                begntime: text_time(m.begntime),
                mdtrt_cert_type: m.mdtrt_cert_type,
                mdtrt_cert_no: m.mdtrt_cert_no,
                med_type: m.med_type,
                ipt_no: m.ipt_no,
                adm_dept_codg: Some(m.adm_dept_codg),
                adm_dept_name: Some(m.adm_dept_name),
            })
        }
        TxInput::T2402(x) => {
            let d = x.dscginfo;
            CoreRequest::Discharge(txn::Req2402 {
                mdtrt_id: d.mdtrt_id,
                psn_no: d.psn_no,
                endtime: text_time(d.endtime),
                dscg_way: Some(d.dscg_way),
            })
        }
        TxInput::T2204(x) => CoreRequest::OutpatientFees(
            x.feedetail
                .into_iter()
                .map(|l| txn::FeeDetailIn {
                    feedetl_sn: l.feedetl_sn,
                    init_feedetl_sn: None,
                    mdtrt_id: l.mdtrt_id,
                    psn_no: l.psn_no,
                    chrg_bchno: Some(l.chrg_bchno),
                    fee_ocur_time: Some(text_time(l.fee_ocur_time)),
                    med_list_codg: l.med_list_codg,
                    medins_list_codg: l.medins_list_codg,
                    det_item_fee_sumamt: Some(l.det_item_fee_sumamt),
                    cnt: Quantity::from_units(l.cnt.units()),
                    pric: UnitPrice::from_units(l.pric.units()),
                })
                .collect(),
        ),
        TxInput::T2205(x) => CoreRequest::OutpatientFeesCancel(txn::Req2205 {
            mdtrt_id: x.data.mdtrt_id,
            chrg_bchno: x.data.chrg_bchno,
            psn_no: x.data.psn_no,
        }),
        TxInput::T2301(x) => CoreRequest::InpatientFees(
            x.feedetail
                .into_iter()
                .map(|l| txn::FeeDetailIn {
                    feedetl_sn: l.feedetl_sn,
                    init_feedetl_sn: opt_text(&l.init_feedetl_sn),
                    mdtrt_id: l.mdtrt_id,
                    psn_no: l.psn_no,
                    chrg_bchno: None,
                    fee_ocur_time: Some(text_time(l.fee_ocur_time)),
                    med_list_codg: l.med_list_codg,
                    medins_list_codg: l.medins_list_codg,
                    det_item_fee_sumamt: Some(l.det_item_fee_sumamt),
                    cnt: Quantity::from_units(l.cnt.units()),
                    pric: UnitPrice::from_units(l.pric.units()),
                })
                .collect(),
        ),
        TxInput::T2302(x) => CoreRequest::InpatientFeesCancel(
            x.data
                .into_iter()
                .map(|d| txn::Req2302 {
                    feedetl_sn: d.feedetl_sn,
                    mdtrt_id: d.mdtrt_id,
                    psn_no: d.psn_no,
                })
                .collect(),
        ),
        TxInput::T2206(x) => {
            let d = x.data;
            CoreRequest::OutpatientPreSettle(settle_req!(d {
                med_type: Some(d.med_type),
                chrg_bchno: Some(d.chrg_bchno),
            }))
        }
        TxInput::T2207(x) => {
            let d = x.data;
            CoreRequest::OutpatientSettle(settle_req!(d with totals {
                med_type: Some(d.med_type),
                chrg_bchno: Some(d.chrg_bchno),
            }))
        }
        TxInput::T2303(x) => {
            let d = x.data;
            CoreRequest::InpatientPreSettle(settle_req!(d with totals {}))
        }
        TxInput::T2304(x) => {
            let d = x.data;
            CoreRequest::InpatientSettle(settle_req!(d with totals {}))
        }
        TxInput::T2208(x) => CoreRequest::OutpatientSettleCancel(txn::ReqCancelSettlement {
            setl_id: x.data.setl_id,
            mdtrt_id: x.data.mdtrt_id,
            psn_no: x.data.psn_no,
        }),
        TxInput::T2305(x) => CoreRequest::InpatientSettleCancel(txn::ReqCancelSettlement {
            setl_id: x.data.setl_id,
            mdtrt_id: x.data.mdtrt_id,
            psn_no: x.data.psn_no,
        }),
        TxInput::T2601(x) => CoreRequest::Reverse(txn::Req2601 {
            psn_no: x.data.psn_no,
            omsgid: x.data.omsgid,
            oinfno: x.data.oinfno,
        }),
        other => {
            return Err(Violation::new(
                RuleId::NHSA_ENV_INFNO,
                "infno",
                format!(
                    "transaction {} is not served by the settlement core",
                    other.infno()
                ),
            ));
        }
    })
}

/// An amount as the wire writes it: a JSON number with exactly two decimals (`59.50`). The
/// number is built from its text, never from a float.
pub fn yuan(m: Money) -> Value {
    Value::Number(serde_json::from_str(&m.to_yuan_string()).expect("decimal text is a JSON number"))
}

/// An exact decimal as a JSON number with `D` decimals (`cnt` 16,4, `pric` 16,6, `age` 4,1).
fn scaled<const D: u32>(units: i64) -> Value {
    let text = medsettle_canonical::money::format_scaled(units, D);
    Value::Number(serde_json::from_str(&text).expect("decimal text is a JSON number"))
}

fn extras_of(s: &SetlInfo) -> PersonExtras {
    PersonExtras {
        psn_cert_type: Some(s.psn_cert_type.clone()),
        certno: Some(s.certno.clone()),
        gend: Some(s.gend.clone()),
        naty: Some(s.naty.clone()),
        brdy: medsettle_canonical_date(&s.brdy),
        age: Some(Scaled(i64::from(s.age) * 10)),
        cvlserv_flag: Some(s.cvlserv_flag.clone()),
        mdtrt_cert_type: s.mdtrt_cert_type.clone(),
    }
}

fn medsettle_canonical_date(text: &str) -> Option<time::Date> {
    time::Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// The person fields of a settlement answer, for [`medsettle_nhsa::answer_for_claim`].
pub fn person_extras(answer: &CoreAnswer) -> Option<PersonExtras> {
    match answer {
        CoreAnswer::Settlement { setlinfo, .. } => Some(extras_of(setlinfo)),
        _ => None,
    }
}

/// The wire `output` of a core answer. Settlements with a claim are encoded by the adapter's
/// own encoder (`answer_for_claim`); this covers the rest, including pre-settlement, whose
/// `setl_id`, `setl_time`, `clr_optins` and `clr_way` are null (nhsa-interface.md §2.2).
pub fn output_for(answer: &CoreAnswer, infno: &str, ctx_code: &str, admdvs: Admdvs) -> Value {
    match answer {
        CoreAnswer::PersonInfo { baseinfo, insuinfo } => json!({
            "baseinfo": {
                "psn_no": baseinfo.psn_no,
                "psn_cert_type": baseinfo.psn_cert_type,
                "certno": baseinfo.certno,
                "psn_name": baseinfo.psn_name,
                "gend": baseinfo.gend,
                "naty": baseinfo.naty,
                "brdy": baseinfo.brdy,
                "age": scaled::<1>(i64::from(baseinfo.age) * 10),
            },
            "insuinfo": insuinfo.iter().map(|i| json!({
                "balc": i.balc.map(yuan).unwrap_or(Value::Null),
                "insutype": i.insutype,
                "psn_type": i.psn_type,
                "psn_insu_stas": i.psn_insu_stas,
                "cvlserv_flag": i.cvlserv_flag,
                "insuplc_admdvs": i.insuplc_admdvs,
                "emp_name": i.emp_name,
            })).collect::<Vec<_>>(),
            "idetinfo": [],
        }),
        CoreAnswer::SignIn { sign_time, sign_no } => {
            json!({"signinoutb": {"sign_time": sign_time, "sign_no": sign_no}})
        }
        CoreAnswer::SignOut { sign_time } => json!({"signoutoutb": {"sign_time": sign_time}}),
        CoreAnswer::Visit {
            mdtrt_id,
            psn_no,
            ipt_otp_no,
        } => {
            if infno == "2401" {
                json!({"result": {"mdtrt_id": mdtrt_id}})
            } else {
                json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_otp_no}})
            }
        }
        CoreAnswer::Done => Value::Object(Map::new()),
        CoreAnswer::FeeResults { result } => json!({
            "result": result.iter().map(|r| {
                let s = &r.split;
                json!({
                    "feedetl_sn": r.feedetl_sn,
                    "det_item_fee_sumamt": yuan(s.det_item_fee_sumamt),
                    "cnt": scaled::<4>(s.cnt.units()),
                    "pric": scaled::<6>(s.pric.units()),
                    "pric_uplmt_amt": s.pric_uplmt_amt.map(|p| scaled::<6>(p.units())).unwrap_or(Value::Null),
                    "selfpay_prop": scaled::<4>(s.selfpay_prop.bp()),
                    "fulamt_ownpay_amt": yuan(s.fulamt_ownpay_amt),
                    "overlmt_amt": yuan(s.overlmt_amt),
                    "preselfpay_amt": yuan(s.preselfpay_amt),
                    "inscp_scp_amt": yuan(s.inscp_scp_amt),
                    "chrgitm_lv": s.chrgitm_lv.wire_code(),
                    "med_chrgitm_type": s.med_chrgitm_type.code(),
                    "memo": if s.listed { "" } else { "目录外项目，按自费处理 (list code not in the catalogue: self-pay)" },
                })
            }).collect::<Vec<_>>()
        }),
        CoreAnswer::FeesCancelled { feedetl_sn } => json!({"result": {"feedetl_sn": feedetl_sn}}),
        CoreAnswer::Settlement { .. } => medsettle_nhsa::Record::to_wire(
            &settle_output_for(answer, infno, ctx_code, admdvs)
                .expect("a settlement answer has a settle output"),
        ),
        CoreAnswer::NothingToReverse { omsgid, oinfno } => json!({
            "data": {"omsgid": omsgid, "oinfno": oinfno, "rslt": "0",
                     "rslt_dscr": "原交易未产生结算，无需冲正；原报文ID已作废，迟到的原交易将被拒绝 (the original message settled nothing; nothing to reverse; its msgid is closed and refused if it arrives later)"}
        }),
    }
}

/// The typed output of a (pre-)settlement answer ([`output_for`] before it becomes a `Value`),
/// `None` for any other answer: written straight to bytes with `medsettle_nhsa::Wire`.
pub fn settle_output_for(
    answer: &CoreAnswer,
    infno: &str,
    ctx_code: &str,
    admdvs: Admdvs,
) -> Option<SettleOutput> {
    let CoreAnswer::Settlement {
        setlinfo,
        setldetail,
    } = answer
    else {
        return None;
    };
    let claim = claim_shape(setlinfo, setldetail, infno, ctx_code, admdvs);
    let mut out = settle_output_for_claim(&claim, Some(&extras_of(setlinfo)));
    out.setlinfo.setl_id = setlinfo.setl_id.clone();
    if setlinfo.setl_time.is_none() {
        out.setlinfo.setl_time = None;
    }
    out.setlinfo.medins_setl_id = setlinfo.medins_setl_id.clone();
    out.setlinfo.clr_optins = setlinfo
        .clr_optins
        .as_deref()
        .and_then(|c| Admdvs::parse(c).ok());
    out.setlinfo.clr_way = setlinfo.clr_way.clone();
    Some(out)
}

/// A settled-claim shaped view of a (pre-)settlement answer, to reuse the adapter's encoder.
fn claim_shape(
    s: &SetlInfo,
    setldetail: &[FundLine],
    infno: &str,
    code: &str,
    admdvs: Admdvs,
) -> SettledClaim {
    SettledClaim {
        kind: if s.amounts.medfee_sumamt.is_negative() {
            ClaimKind::Reversal
        } else {
            ClaimKind::Settlement
        },
        infno: infno.to_owned(),
        msgid: s.medins_setl_id.clone().unwrap_or_default(),
        setl_id: s.setl_id.clone().unwrap_or_default(),
        mdtrt_id: s.mdtrt_id.clone(),
        psn_no: s.psn_no.clone(),
        psn_name: Some(s.psn_name.clone()),
        fixmedins_code: code.to_owned(),
        fixmedins_name: None,
        mdtrtarea_admvs: admdvs,
        insuplc_admdvs: None,
        clr_optins: s.clr_optins.clone(),
        insutype: s.insutype.clone(),
        psn_type: Some(s.psn_type.clone()),
        med_type: s.med_type.clone(),
        clr_type: s.clr_type.clone(),
        clr_way: s.clr_way.clone(),
        setl_time: s
            .setl_time
            .as_deref()
            .and_then(|t| {
                PrimitiveDateTime::parse(
                    t,
                    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
                )
                .ok()
            })
            .map(|t| t.assume_offset(medsettle_canonical::CHINA_OFFSET))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        amounts: s.amounts.clone(),
        setldetail: setldetail.to_vec(),
        reversal_of: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use medsettle_nhsa::Infno;

    use super::*;

    /// The core's request enum (its serde tags) names exactly the base transactions the table
    /// says the core computes: the list the service kept of them is gone, and the core keeps
    /// its own types.
    #[test]
    fn the_core_serves_exactly_the_tables_core_transactions() {
        let unknown =
            serde_json::from_value::<CoreRequest>(json!({"infno": "none", "input": null}))
                .unwrap_err()
                .to_string();
        assert!(unknown.starts_with("unknown variant `none`"), "{unknown}");
        // `unknown variant `none`, expected one of `1101`, `9001`, …`
        let core: BTreeSet<&str> = unknown.split('`').skip(3).step_by(2).collect();
        let table: BTreeSet<&str> = Infno::ALL
            .into_iter()
            .filter(|i| i.base() == *i && i.core_computes())
            .map(Infno::as_str)
            .collect();
        assert_eq!(core, table);
        // the list written in this module before the transaction table
        let before: BTreeSet<&str> = [
            "1101", "9001", "9002", "2201", "2202", "2401", "2402", "2204", "2205", "2301", "2302",
            "2206", "2207", "2303", "2304", "2208", "2305", "2601",
        ]
        .into();
        assert_eq!(table, before);
    }

    /// The core reverses by msgid (2601) exactly the base transactions that make a claim in
    /// the table: its own short list (`processor.rs`, the core knows no adapter) agrees.
    #[test]
    fn the_core_reverses_by_msgid_the_tables_claim_transactions() {
        let spec = |name: &str| {
            let path = format!("{}/../../specs/policy/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let core = medsettle_core::Core::new(
            medsettle_core::PolicyBook::from_toml_str(&spec("example.toml")).unwrap(),
            medsettle_core::Catalogue::from_toml_str(&spec("catalogue-example.toml")).unwrap(),
        );
        let view = medsettle_core::MemView::default();
        let ctx = medsettle_core::RequestCtx {
            msgid: "H44030000001202406011030150002".into(),
            fixmedins_code: "H44030000001".into(),
            inst_level: medsettle_canonical::InstitutionLevel::Level3,
            mdtrtarea_admvs: Admdvs::parse("440300").unwrap(),
            now: time::OffsetDateTime::UNIX_EPOCH,
            id_seed: 1,
        };
        for i in Infno::ALL.into_iter().filter(|i| i.base() == *i) {
            let req = CoreRequest::Reverse(txn::Req2601 {
                psn_no: "P1".into(),
                omsgid: "H44030000001202406011030150001".into(),
                oinfno: i.as_str().into(),
            });
            let refused = core.handle(req, &ctx, &view).err();
            let unsupported = refused.as_ref().and_then(|r| r.refusal_code())
                == Some(medsettle_core::RefusalCode::ReversalUnsupported);
            assert_eq!(!unsupported, i.claim_kind().is_some(), "{i}: {refused:?}");
        }
    }

    /// Each stated total lands in its own field (the four are all `Option<Money>`, so a swap
    /// would compile).
    #[test]
    fn settlement_inputs_keep_their_stated_totals() {
        let data = json!({
            "psn_no": "P1", "mdtrt_cert_type": "02", "mdtrt_cert_no": "C1", "med_type": "11",
            "medfee_sumamt": 100.00, "psn_setlway": "01", "mdtrt_id": "M1", "chrg_bchno": "B1",
            "acct_used_flag": "1", "insutype": "310", "invono": "INV1", "mid_setl_flag": "0",
            "fulamt_ownpay_amt": 10.00, "overlmt_selfpay": 1.00, "preselfpay_amt": 5.00,
            "inscp_scp_amt": 84.00
        });
        for infno in ["2207", "2303", "2304"] {
            let tx = medsettle_nhsa::decode_input(infno, &json!({ "data": data })).unwrap();
            let req = match to_core(tx).unwrap() {
                CoreRequest::OutpatientSettle(r)
                | CoreRequest::InpatientPreSettle(r)
                | CoreRequest::InpatientSettle(r) => r,
                other => panic!("{infno} mapped to {}", other.infno()),
            };
            assert_eq!(req.medfee_sumamt, Some(Money::from_fen(10_000)), "{infno}");
            assert_eq!(
                req.fulamt_ownpay_amt,
                Some(Money::from_fen(1_000)),
                "{infno}"
            );
            assert_eq!(req.overlmt_selfpay, Some(Money::from_fen(100)), "{infno}");
            assert_eq!(req.preselfpay_amt, Some(Money::from_fen(500)), "{infno}");
            assert_eq!(req.inscp_scp_amt, Some(Money::from_fen(8_400)), "{infno}");
            assert_eq!(req.invono.as_deref(), Some("INV1"), "{infno}");
            assert!(req.acct_used_flag, "{infno}");
            assert_eq!((req.psn_no.as_str(), req.mdtrt_id.as_str()), ("P1", "M1"));
        }
    }
}
