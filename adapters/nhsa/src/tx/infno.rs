//! The transaction table: every transaction number (`infno`) medsettle serves, and for each
//! what the rest of the gateway derives from it — its national name, the per-service path it
//! is served under, whether the embedded core computes it, the claim it makes, and whether a
//! forwarder guards it with an in-doubt record. Every other list of transaction numbers (the
//! transport's routes, the upstream client's paths, the core's transactions, the forwarder's
//! default in-doubt set, settlement and reversal kinds) is derived from the one table here,
//! `TABLE`, read through [`Infno`]'s methods.
//!
//! A transaction is *decoded* when the adapter has typed input nodes for it (a module in
//! [`crate::tx`] and a field table in `specs/nhsa/`); the others are served without: 9101 and
//! 9102 as files, 2203, 5203 and 5204 only by forwarding upstream.

use medsettle_canonical::ClaimKind;

use super::input_fields_of;

/// A national transaction number medsettle serves. Letter-suffixed variants (`2207A`) are
/// transactions of their own that share their base's nodes ([`Infno::base`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Infno {
    T1101,
    T2201,
    T2202,
    T2203,
    T2203A,
    T2204,
    T2205,
    T2206,
    T2206A,
    T2207,
    T2207A,
    T2208,
    T2301,
    T2302,
    T2303,
    T2304,
    T2305,
    T2401,
    T2402,
    T2601,
    T3201,
    T3202,
    T3203,
    T3203A,
    T3260,
    T3261,
    T3262,
    T4101,
    T4101A,
    T5203,
    T5204,
    T9001,
    T9002,
    T9101,
    T9102,
}

/// Number of transactions medsettle serves.
pub const INFNO_COUNT: usize = 35;

/// One row of the transaction table; built with [`tx`] and the methods below, so that a row
/// states its name and only what differs from "a base transaction, no path, not computed, no
/// claim, not guarded".
#[derive(Debug, Clone, Copy)]
struct Row {
    infno: Infno,
    /// The wire spelling (`infno` of the envelope).
    code: &'static str,
    /// Chinese — English, as the national interface names it.
    name: &'static str,
    /// Itself, or the transaction whose nodes a letter variant shares.
    base: Infno,
    /// The per-service path under `/fsi/api/` (nhsa-interface.md §1.3, OH `ClassHelper.cs`
    /// `GetPubWay`), if the transaction has one.
    service_path: Option<&'static str>,
    /// The embedded core computes the answer (the others are accepted and journaled, answered
    /// by the settlement engine, handled as files, or only forwarded).
    core: bool,
    /// The canonical claim a successful exchange makes.
    claim: Option<ClaimKind>,
    /// Forwarded, it is journaled in doubt before sending and reversed by 2601 when
    /// unanswered — by default; `ForwardSettings::in_doubt_infnos` may name others.
    in_doubt: bool,
}

const fn tx(infno: Infno, code: &'static str) -> Row {
    Row {
        infno,
        code,
        name: "",
        base: infno,
        service_path: None,
        core: false,
        claim: None,
        in_doubt: false,
    }
}

impl Row {
    const fn named(mut self, name: &'static str) -> Row {
        self.name = name;
        self
    }
    const fn variant_of(mut self, base: Infno) -> Row {
        self.base = base;
        self
    }
    const fn path(mut self, service_path: &'static str) -> Row {
        self.service_path = Some(service_path);
        self
    }
    const fn core(mut self) -> Row {
        self.core = true;
        self
    }
    const fn settles(mut self) -> Row {
        self.claim = Some(ClaimKind::Settlement);
        self
    }
    const fn reverses(mut self) -> Row {
        self.claim = Some(ClaimKind::Reversal);
        self
    }
    const fn in_doubt(mut self) -> Row {
        self.in_doubt = true;
        self
    }
}

use Infno::*;

/// The one table, in the order of [`Infno`]'s variants (checked at compile time). In-doubt by
/// default: the transactions 2601 can reverse (§2.1, OH comment: 2207, 2208, 2304, 2305,
/// 2401) plus the letter variant of 2207.
const TABLE: &[Row; INFNO_COUNT] = &[
    tx(T1101, "1101")
        .named("人员信息获取 — person information")
        .path("fsiPsnInfoService/queryPsnInfo")
        .core(),
    tx(T2201, "2201")
        .named("门诊挂号 — outpatient registration")
        .path("outpatientDocInfoService/outpatientRregistration")
        .core(),
    tx(T2202, "2202")
        .named("门诊挂号撤销 — cancel outpatient registration")
        .path("outpatientDocInfoService/outpatientRegistrationCancel")
        .core(),
    tx(T2203, "2203")
        .named("门诊就诊信息上传 — outpatient visit-information upload")
        .path("outpatientDocInfoService/outpatientMdtrtinfoUp"),
    tx(T2203A, "2203A")
        .named("门诊就诊信息上传 — outpatient visit-information upload")
        .variant_of(T2203)
        .path("outpatientDocInfoService/outpatientMdtrtinfoUpA"),
    tx(T2204, "2204")
        .named("门诊费用明细信息上传 — outpatient fee-detail upload")
        .path("outpatientDocInfoService/outpatientFeeListUp")
        .core(),
    tx(T2205, "2205")
        .named("门诊费用明细信息撤销 — cancel outpatient fee detail")
        .path("outpatientDocInfoService/outpatientFeeListUpCancel")
        .core(),
    tx(T2206, "2206")
        .named("门诊预结算 — outpatient pre-settlement")
        .path("outpatientSettleService/preSettletment")
        .core(),
    tx(T2206A, "2206A")
        .named("门诊预结算 — outpatient pre-settlement")
        .variant_of(T2206)
        .path("outpatientSettleService/preSettletmentA")
        .core(),
    tx(T2207, "2207")
        .named("门诊结算 — outpatient settlement")
        .path("outpatientSettleService/saveSettletmentV2")
        .core()
        .settles()
        .in_doubt(),
    tx(T2207A, "2207A")
        .named("门诊结算 — outpatient settlement")
        .variant_of(T2207)
        .path("outpatientSettleService/saveSettletment")
        .core()
        .settles()
        .in_doubt(),
    tx(T2208, "2208")
        .named("门诊结算撤销 — reverse outpatient settlement")
        .path("outpatientSettleService/cancleSettletment")
        .core()
        .reverses()
        .in_doubt(),
    tx(T2301, "2301")
        .named("住院费用明细信息上传 — inpatient fee-detail upload")
        .path("hospFeeDtlService/feeDtlUp")
        .core(),
    tx(T2302, "2302")
        .named("住院费用明细撤销 — cancel inpatient fee detail")
        .path("hospFeeDtlService/feeDtlCl")
        .core(),
    tx(T2303, "2303")
        .named("住院预结算 — inpatient pre-settlement")
        .path("hospSettService/preSett")
        .core(),
    tx(T2304, "2304")
        .named("住院结算 — inpatient settlement")
        .path("hospSettService/settV2")
        .core()
        .settles()
        .in_doubt(),
    tx(T2305, "2305")
        .named("住院结算撤销 — reverse inpatient settlement")
        .path("hospSettService/settCl")
        .core()
        .reverses()
        .in_doubt(),
    tx(T2401, "2401")
        .named("入院办理 — admission")
        .core()
        .in_doubt(),
    tx(T2402, "2402").named("出院办理 — discharge").core(),
    tx(T2601, "2601")
        .named("冲正交易 — reversal by message id")
        .path("reverseService/revsMethod")
        .core(),
    tx(T3201, "3201")
        .named("医药机构费用结算对总账 — reconcile totals")
        .path("ybSettlementStmtService/stmtTotal"),
    tx(T3202, "3202")
        .named("医药机构费用结算对明细账 — reconcile details")
        .path("ybSettlementStmtService/stmtDetail"),
    tx(T3203, "3203").named("清算申请 — clearing application"),
    tx(T3203A, "3203A")
        .named("清算申请 — clearing application")
        .variant_of(T3203),
    // The hospitals' side of cross-province clearing (§4.1 of the cross-region reference):
    // answered from the gateway's clearing data, not by the core; nothing to reverse by 2601.
    tx(T3260, "3260")
        .named("提取异地清分明细 — extract the month's cross-province clearing detail"),
    tx(T3261, "3261").named("异地清分结果确认 — confirm the clearing result"),
    tx(T3262, "3262").named("异地清分结果确认回退 — roll a clearing confirmation back"),
    tx(T4101, "4101")
        .named("医疗保障基金结算清单信息上传 — settlement-list upload")
        .path("medinfoupload/setllistinfoupld"),
    tx(T4101A, "4101A")
        .named("医疗保障基金结算清单信息上传 — settlement-list upload")
        .variant_of(T4101)
        .path("medinfoupload/setllistinfoupldA"),
    tx(T5203, "5203")
        .named("结算信息查询 — query settlement information")
        .path("fsiIntegratedQueryService/querySetlInfo"),
    tx(T5204, "5204")
        .named("费用明细查询 — query fee details")
        .path("fsiIntegratedQueryService/queryFeeList"),
    tx(T9001, "9001")
        .named("签到 — sign in")
        .path("signInSignOutService/signIn")
        .core(),
    tx(T9002, "9002").named("签退 — sign out").core(),
    tx(T9101, "9101")
        .named("文件上传 — file upload")
        .path("fileupload/upload"),
    tx(T9102, "9102")
        .named("文件下载 — file download")
        .path("fileupload/download"),
];

// Row `i` describes variant `i`, so a variant finds its row by index; every row is named.
const _: () = {
    let mut i = 0;
    while i < INFNO_COUNT {
        assert!(TABLE[i].infno as usize == i, "TABLE is not in Infno order");
        assert!(!TABLE[i].name.is_empty(), "a TABLE row has no name");
        i += 1;
    }
};

const fn all() -> [Infno; INFNO_COUNT] {
    let mut all = [T1101; INFNO_COUNT];
    let mut i = 0;
    while i < INFNO_COUNT {
        all[i] = TABLE[i].infno;
        i += 1;
    }
    all
}

impl Infno {
    /// Every transaction, in table order (by number, a letter variant after its base).
    pub const ALL: [Infno; INFNO_COUNT] = all();

    const fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }

    /// The transaction `code` names, exactly as spelled on the wire (`2207A`, not `2207a`).
    pub fn parse(code: &str) -> Option<Infno> {
        TABLE.iter().find(|r| r.code == code).map(|r| r.infno)
    }

    /// The wire spelling: `2207`, `2207A`.
    pub const fn as_str(self) -> &'static str {
        self.row().code
    }

    /// The national name, Chinese — English.
    pub const fn name(self) -> &'static str {
        self.row().name
    }

    /// The transaction whose nodes this one shares: itself, or for a letter variant its base
    /// (`2207A` → `2207`).
    pub const fn base(self) -> Infno {
        self.row().base
    }

    /// The per-service path under `/fsi/api/` (`outpatientSettleService/saveSettletmentV2`
    /// for 2207), if the transaction has one.
    pub const fn service_path(self) -> Option<&'static str> {
        self.row().service_path
    }

    /// Whether the embedded core computes the answer (a letter variant as its base).
    pub const fn core_computes(self) -> bool {
        self.row().core
    }

    /// The canonical claim a successful exchange makes: a settlement (2207, 2207A, 2304) or a
    /// reversal (2208, 2305); `None` for the others (a 2601 reverses by msgid, not as a claim).
    pub const fn claim_kind(self) -> Option<ClaimKind> {
        self.row().claim
    }

    /// Whether a forwarder guards it with an in-doubt record by default.
    pub const fn in_doubt_by_default(self) -> bool {
        self.row().in_doubt
    }

    /// Whether the adapter decodes its input into typed nodes (its base has a module in
    /// [`crate::tx`] and a field table in `specs/nhsa/`).
    pub fn is_decoded(self) -> bool {
        input_fields_of(self.base()).is_some()
    }
}

impl std::fmt::Display for Infno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::tx::{base_infno, is_reversal, is_settlement, output_shape};

    /// The lists the table replaced, as they were written before it (the per-service paths
    /// of the transport, the adapter's transactions and letter aliases, the core's
    /// transactions, the forwarder's default in-doubt set, settling and reversing kinds).
    /// Every derived set must equal them: the refactor changed nothing.
    const SERVICE_PATHS_BEFORE: &[(&str, &str)] = &[
        ("signInSignOutService/signIn", "9001"),
        ("fileupload/upload", "9101"),
        ("fileupload/download", "9102"),
        ("fsiPsnInfoService/queryPsnInfo", "1101"),
        ("outpatientDocInfoService/outpatientRregistration", "2201"),
        (
            "outpatientDocInfoService/outpatientRegistrationCancel",
            "2202",
        ),
        ("outpatientDocInfoService/outpatientMdtrtinfoUp", "2203"),
        ("outpatientDocInfoService/outpatientMdtrtinfoUpA", "2203A"),
        ("outpatientDocInfoService/outpatientFeeListUp", "2204"),
        ("outpatientDocInfoService/outpatientFeeListUpCancel", "2205"),
        ("outpatientSettleService/preSettletment", "2206"),
        ("outpatientSettleService/preSettletmentA", "2206A"),
        ("outpatientSettleService/saveSettletmentV2", "2207"),
        ("outpatientSettleService/saveSettletment", "2207A"),
        ("outpatientSettleService/cancleSettletment", "2208"),
        ("hospFeeDtlService/feeDtlUp", "2301"),
        ("hospFeeDtlService/feeDtlCl", "2302"),
        ("hospSettService/preSett", "2303"),
        ("hospSettService/settV2", "2304"),
        ("hospSettService/settCl", "2305"),
        ("reverseService/revsMethod", "2601"),
        ("ybSettlementStmtService/stmtTotal", "3201"),
        ("ybSettlementStmtService/stmtDetail", "3202"),
        ("medinfoupload/setllistinfoupld", "4101"),
        ("medinfoupload/setllistinfoupldA", "4101A"),
        ("fsiIntegratedQueryService/querySetlInfo", "5203"),
        ("fsiIntegratedQueryService/queryFeeList", "5204"),
    ];
    const DECODED_BEFORE: &[&str] = &[
        "1101", "2201", "2202", "2204", "2205", "2206", "2207", "2208", "2301", "2302", "2303",
        "2304", "2305", "2401", "2402", "2601", "3201", "3202", "3203", "4101", "9001", "9002",
    ];
    /// Decoded transactions added to the table since (issue 19: the hospitals' side of
    /// cross-province clearing). Not computed by the core, no claim, not guarded, no path:
    /// the lists above stay as they were.
    const DECODED_ADDED: &[&str] = &["3260", "3261", "3262"];

    fn decoded_now() -> impl Iterator<Item = &'static str> {
        DECODED_BEFORE.iter().chain(DECODED_ADDED).copied()
    }
    const ALIASES_BEFORE: &[(&str, &str)] = &[
        ("2206A", "2206"),
        ("2207A", "2207"),
        ("3203A", "3203"),
        ("4101A", "4101"),
    ];
    const CORE_BEFORE: &[&str] = &[
        "1101", "9001", "9002", "2201", "2202", "2401", "2402", "2204", "2205", "2301", "2302",
        "2206", "2207", "2303", "2304", "2208", "2305", "2601",
    ];
    const IN_DOUBT_BEFORE: &[&str] = &["2207", "2207A", "2208", "2304", "2305", "2401"];
    const SETTLING_BEFORE: &[&str] = &["2207", "2304"];
    const REVERSING_BEFORE: &[&str] = &["2208", "2305"];

    fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        items.into_iter().collect()
    }

    fn codes(keep: impl Fn(Infno) -> bool) -> BTreeSet<&'static str> {
        Infno::ALL
            .into_iter()
            .filter(|i| keep(*i))
            .map(Infno::as_str)
            .collect()
    }

    #[test]
    fn codes_and_paths_are_unique() {
        let codes = set(Infno::ALL.map(Infno::as_str));
        assert_eq!(codes.len(), INFNO_COUNT);
        let paths: Vec<_> = Infno::ALL.iter().filter_map(|i| i.service_path()).collect();
        assert_eq!(set(paths.iter().copied()).len(), paths.len());
        for p in paths {
            assert!(
                !p.is_empty() && !p.starts_with('/') && !p.ends_with('/'),
                "{p}"
            );
        }
    }

    #[test]
    fn every_code_parses_and_round_trips() {
        for i in Infno::ALL {
            assert_eq!(Infno::parse(i.as_str()), Some(i));
            assert_eq!(i.to_string(), i.as_str());
            assert_eq!(
                format!("{i:?}"),
                format!("T{i}"),
                "a variant is named by its code"
            );
            assert!((4..=6).contains(&i.as_str().len()), "{i}: infno is char 6");
        }
        for unknown in ["", "2207a", " 2207", "22070", "9999", "2207B"] {
            assert_eq!(Infno::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn a_letter_variant_shares_its_base() {
        for i in Infno::ALL {
            let base = i.base();
            assert_eq!(base.base(), base, "{i}: a base is its own base");
            if base == i {
                continue;
            }
            assert_eq!(
                i.as_str(),
                format!("{base}A"),
                "{i} is {base} plus a letter"
            );
            assert_eq!(i.name(), base.name(), "{i}");
            assert_eq!(i.core_computes(), base.core_computes(), "{i}");
            assert_eq!(i.claim_kind(), base.claim_kind(), "{i}");
            assert_eq!(i.is_decoded(), base.is_decoded(), "{i}");
        }
    }

    #[test]
    fn derived_sets_equal_the_lists_they_replaced() {
        let paths: BTreeSet<(&str, &str)> = Infno::ALL
            .iter()
            .filter_map(|i| i.service_path().map(|p| (p, i.as_str())))
            .collect();
        assert_eq!(
            paths,
            SERVICE_PATHS_BEFORE
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(
            codes(|i| i.is_decoded() && i.base() == i),
            set(decoded_now())
        );
        let aliases: BTreeSet<(&str, &str)> = Infno::ALL
            .iter()
            .filter(|i| i.is_decoded() && i.base() != **i)
            .map(|i| (i.as_str(), i.base().as_str()))
            .collect();
        assert_eq!(aliases, ALIASES_BEFORE.iter().copied().collect());
        // The core was asked about base transactions only; a variant follows its base.
        assert_eq!(
            codes(|i| i.core_computes() && i.base() == i),
            set(CORE_BEFORE.iter().copied())
        );
        assert_eq!(
            codes(Infno::in_doubt_by_default),
            set(IN_DOUBT_BEFORE.iter().copied())
        );
        let settling = |i: Infno| i.claim_kind() == Some(ClaimKind::Settlement);
        let reversing = |i: Infno| i.claim_kind() == Some(ClaimKind::Reversal);
        assert_eq!(
            codes(|i| settling(i) && i.base() == i),
            set(SETTLING_BEFORE.iter().copied())
        );
        assert_eq!(
            codes(|i| reversing(i) && i.base() == i),
            set(REVERSING_BEFORE.iter().copied())
        );
    }

    /// The string functions answer as before, for every code and for codes medsettle does
    /// not know.
    #[test]
    fn string_lookups_follow_the_table() {
        let known_base = |code: &str| {
            decoded_now().find(|i| *i == code).or_else(|| {
                ALIASES_BEFORE
                    .iter()
                    .find(|(a, _)| *a == code)
                    .map(|(_, b)| *b)
            })
        };
        let mut probes: Vec<&str> = Infno::ALL.map(Infno::as_str).to_vec();
        probes.extend(["", "9999", "2207a", "2207B"]);
        for code in probes {
            let base = known_base(code);
            assert_eq!(base_infno(code), base, "{code}");
            assert_eq!(
                is_settlement(code),
                base.is_some_and(|b| SETTLING_BEFORE.contains(&b)),
                "{code}"
            );
            assert_eq!(
                is_reversal(code),
                base.is_some_and(|b| REVERSING_BEFORE.contains(&b)),
                "{code}"
            );
            assert_eq!(output_shape(code).is_some(), base.is_some(), "{code}");
        }
    }

    #[test]
    fn only_settlements_and_reversals_make_claims_and_only_they_are_reversed() {
        for i in Infno::ALL {
            if i.claim_kind().is_some() {
                assert!(i.is_decoded() && i.core_computes(), "{i}");
                assert_eq!(
                    output_shape(i.as_str()),
                    Some(crate::tx::OutputShape::Settlement)
                );
            }
        }
        // 2601 itself is never guarded: it is what resolves the others.
        assert!(!T2601.in_doubt_by_default());
    }

    /// 3260/3261/3262 are flagged as 3201/3202/3203 are: decoded, answered outside the core
    /// (from the clearing data), no claim, not guarded by an in-doubt record.
    #[test]
    fn cross_province_clearing_is_answered_outside_the_core() {
        for i in [T3260, T3261, T3262] {
            assert!(i.is_decoded() && i.base() == i, "{i}");
            assert!(!i.core_computes() && !i.in_doubt_by_default(), "{i}");
            assert_eq!((i.claim_kind(), i.service_path()), (None, None), "{i}");
            assert_eq!(
                (T3203.core_computes(), T3203.in_doubt_by_default()),
                (i.core_computes(), i.in_doubt_by_default())
            );
        }
    }
}
