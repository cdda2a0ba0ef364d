//! The HIS side of the legacy dialects (`specs/legacy.md`): what a vendor's shim DLL does —
//! the input XML in GBK posted to `/legacy/<profile>/<transaction>`, the answer's out-of-band
//! values read from the `X-Legacy-*` headers — and whole Guizhou (Yinhai `prm_`) visits with
//! their two-phase commit, as a Guizhou HIS makes them.

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;

use crate::his::{FeeLine, HisConnection, Insured};

/// One answer of a legacy call.
#[derive(Debug, Clone)]
pub struct LegacyReply {
    pub status: u16,
    /// `X-Legacy-Appcode`: ≥ 0 success.
    pub appcode: i64,
    /// `X-Legacy-Appmsg`, decoded.
    pub appmsg: String,
    pub jylsh: Option<String>,
    pub jyyzm: Option<String>,
    /// The answer XML, decoded from its charset.
    pub xml: String,
}

impl LegacyReply {
    /// The text of the first element named `tag` (`prm_yka103`, `RETURNNUM`, …), if any.
    pub fn field(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.xml.find(&open)? + open.len();
        let end = self.xml[start..].find(&format!("</{tag}>"))? + start;
        Some(&self.xml[start..end])
    }

    /// The answer as a success, or an error with its message.
    pub fn ok(self, what: &str) -> Result<LegacyReply> {
        if self.status == 200 && self.appcode >= 0 {
            Ok(self)
        } else {
            bail!(
                "{what}: HTTP {} appcode {} {}",
                self.status,
                self.appcode,
                self.appmsg
            )
        }
    }
}

/// POST `body` to `/legacy/<profile>/<transaction>` with call arguments `args`.
pub async fn call(
    conn: &mut HisConnection,
    profile: &str,
    transaction: &str,
    args: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<LegacyReply> {
    let headers: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| (format!("x-legacy-arg-{k}"), (*v).to_owned()))
        .collect();
    let (status, h, body) = conn
        .post_with_headers(
            &format!("/legacy/{profile}/{transaction}"),
            "application/xml",
            &headers,
            Bytes::from(body),
        )
        .await?;
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let charset = header("content-type")
        .and_then(|c| c.split("charset=").nth(1).map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| "UTF-8".into());
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes())
        .ok_or_else(|| anyhow!("unknown charset {charset}"))?;
    let (xml, _, _) = encoding.decode(&body);
    let appmsg = header("x-legacy-appmsg").unwrap_or_default();
    Ok(LegacyReply {
        status,
        appcode: header("x-legacy-appcode")
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("answer without X-Legacy-Appcode (HTTP {status}): {xml}"))?,
        appmsg: percent_encoding::percent_decode_str(&appmsg)
            .decode_utf8_lossy()
            .into_owned(),
        jylsh: header("x-legacy-jylsh"),
        jyyzm: header("x-legacy-jyyzm"),
        xml: xml.into_owned(),
    })
}

/// A Yinhai `prm_` input document in GBK: scalars (prefixed unless `prefixed` is false), then
/// rows in a `<dataset>`, then the `<proxy>1</proxy>` trailer the COM writes.
pub fn guizhou_input(
    scalars: &[(&str, String)],
    rows: &[Vec<(&str, String)>],
    prefixed: bool,
) -> Vec<u8> {
    let mut x = String::from(r#"<?xml version="1.0" encoding="GBK" standalone="yes" ?><input>"#);
    let prefix = if prefixed { "prm_" } else { "" };
    for (k, v) in scalars {
        x.push_str(&format!("<{prefix}{k}>{}</{prefix}{k}>", escape(v)));
    }
    if !rows.is_empty() {
        x.push_str("<dataset>");
        for row in rows {
            x.push_str("<row>");
            for (k, v) in row {
                x.push_str(&format!("<{k}>{}</{k}>", escape(v)));
            }
            x.push_str("</row>");
        }
        x.push_str("</dataset>");
    }
    x.push_str("<proxy>1</proxy></input>");
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&x);
    debug_assert!(!unmappable, "GBK cannot hold {x}");
    bytes.into_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `ykb065` of an insurance type (the Guizhou profile's table read backwards).
pub fn ykb065_of(insutype: &str) -> &'static str {
    match insutype {
        "390" => "3",
        "340" => "4",
        _ => "1",
    }
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Fee rows of a Yinhai 31/48 call: `yka105` numbered from `prefix`.
fn fee_rows(lines: &[FeeLine], prefix: &str, when: &str) -> Vec<Vec<(&'static str, String)>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            vec![
                ("yka105", format!("{prefix}{:04}", i + 1)),
                ("yke123", when.to_owned()),
                ("yka002", l.med_list_codg.clone()),
                ("ykd125", format!("H{}", l.med_list_codg)),
                ("yka315", yuan(l.amount_fen())),
                ("akc226", format!("{}.0000", l.units)),
                ("akc225", yuan(l.pric_fen)),
            ]
        })
        .collect()
}

/// What a settled Guizhou call left: the ids and the answer.
#[derive(Debug, Clone)]
pub struct GuizhouSettled {
    pub mdtrt_id: String,
    pub setl_id: String,
    pub jylsh: String,
    pub jyyzm: String,
    pub answer: LegacyReply,
}

/// Confirm a two-phase call.
pub async fn guizhou_confirm(
    conn: &mut HisConnection,
    jylsh: &str,
    jyyzm: &str,
) -> Result<LegacyReply> {
    let body = guizhou_input(
        &[("jylsh", jylsh.to_owned()), ("jyyzm", jyyzm.to_owned())],
        &[],
        true,
    );
    call(conn, "guizhou", "confirm", &[], body).await
}

/// Cancel a two-phase call.
pub async fn guizhou_cancel(conn: &mut HisConnection, jylsh: &str) -> Result<LegacyReply> {
    let body = guizhou_input(&[("jylsh", jylsh.to_owned())], &[], true);
    call(conn, "guizhou", "cancel", &[], body).await
}

/// A Guizhou outpatient visit in one 48 call (register, fees, settle); not yet confirmed.
pub async fn guizhou_outpatient(
    conn: &mut HisConnection,
    p: &Insured,
    lines: &[FeeLine],
    visit_no: u64,
    when: &str,
) -> Result<GuizhouSettled> {
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let body = guizhou_input(
        &[
            ("aac001", p.psn_no.clone()),
            ("ykb065", ykb065_of(&p.insutype).into()),
            ("aka130", "11".into()),
            ("ykc010", format!("MZ{visit_no:010}")),
            ("aae036", when.to_owned()),
            ("yka097", "0101".into()),
            ("yka098", "内科".into()),
            ("ykd102", "D0001".into()),
            ("yka099", "门诊医生".into()),
            ("hisfyze", yuan(total)),
            ("aae011", "0001".into()),
            ("ykc141", "收费员".into()),
        ],
        &fee_rows(lines, "M", when),
        true,
    );
    let r = call(conn, "guizhou", "48", &[], body).await?.ok("48")?;
    settled(r, "48")
}

fn settled(r: LegacyReply, what: &str) -> Result<GuizhouSettled> {
    let get = |tag: &str| {
        r.field(tag)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what} answer without {tag}: {}", r.xml))
    };
    Ok(GuizhouSettled {
        mdtrt_id: get("prm_akc190")?,
        setl_id: get("prm_yka103")?,
        jylsh: r.jylsh.clone().context("no X-Legacy-Jylsh")?,
        jyyzm: r.jyyzm.clone().context("no X-Legacy-Jyyzm")?,
        answer: r,
    })
}

/// A Guizhou inpatient stay: 21 admission → 31 fee lines → 43 pre-settlement → 41 settlement
/// (not yet confirmed).
pub async fn guizhou_inpatient(
    conn: &mut HisConnection,
    p: &Insured,
    lines: &[FeeLine],
    stay_no: u64,
    when: &str,
) -> Result<GuizhouSettled> {
    let ykb065 = ykb065_of(&p.insutype).to_owned();
    let admit = guizhou_input(
        &[
            ("aac001", p.psn_no.clone()),
            ("ykb065", ykb065.clone()),
            ("aka130", "31".into()),
            ("akc192", when.to_owned()),
            ("ykc010", format!("ZY{stay_no:010}")),
            ("akc193", "K35.800".into()),
            ("akc140", "急性阑尾炎".into()),
            ("yka097", "0501".into()),
            ("yka098", "外科".into()),
            ("ykd102", "D0101".into()),
            ("yka099", "住院医生".into()),
            ("akc030", "12".into()),
        ],
        &[],
        true,
    );
    let r = call(conn, "guizhou", "21", &[], admit).await?.ok("21")?;
    let akc190 = r
        .field("prm_akc190")
        .ok_or_else(|| anyhow!("21 answer without prm_akc190: {}", r.xml))?
        .to_owned();
    let mut rows = fee_rows(lines, "Z", when);
    for row in &mut rows {
        row.extend([
            ("yka097", "0501".to_owned()),
            ("yka098", "外科".to_owned()),
            ("ykd102", "D0101".to_owned()),
            ("yka099", "住院医生".to_owned()),
        ]);
    }
    let fees = guizhou_input(
        &[
            ("akc190", akc190.clone()),
            ("aac001", p.psn_no.clone()),
            ("aka130", "31".into()),
        ],
        &rows,
        false,
    );
    let r = call(conn, "guizhou", "31", &[], fees).await?.ok("31")?;
    if r.xml.contains("<code>-") {
        bail!("31 refused a line: {}", r.xml);
    }
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let settle_fields = vec![
        ("akc190", akc190.clone()),
        ("yab003", "9901".to_owned()),
        ("aka130", "31".to_owned()),
        ("ykb065", ykb065),
        ("hisfyze", yuan(total)),
        ("aae011", "0001".to_owned()),
        ("ykc141", "收费员".to_owned()),
        ("aac001", p.psn_no.clone()),
    ];
    let pre = guizhou_input(&settle_fields, &[], true);
    call(conn, "guizhou", "43", &[], pre).await?.ok("43")?;
    let settle = guizhou_input(&settle_fields, &[], true);
    let r = call(conn, "guizhou", "41", &[], settle).await?.ok("41")?;
    settled(r, "41")
}

/// The call header of a Shijiazhuang `HOSDATA` request (reference §1D).
pub struct SjzHeader<'a> {
    pub fixmedins_code: &'a str,
    pub msgno: &'a str,
    /// The HIS's sender serial (`MSGID`): the call's key.
    pub msgid: &'a str,
    /// The visit number the HIS assigned (`AKC190`).
    pub akc190: &'a str,
    pub card_no: &'a str,
    pub insutype: &'a str,
    /// `YYYYMMDDHH24MISS`.
    pub opttime: &'a str,
    /// The call this one reverses (`ORGMSGNO`, `ORGMSGID`).
    pub original: Option<(&'a str, &'a str)>,
}

/// A `HOSDATA/REQUESTDATA` document in UTF-8: the header, then `inner` (INPUT, KC21XML,
/// KC22XML) as given.
pub fn sjz_request(h: &SjzHeader<'_>, inner: &str) -> Vec<u8> {
    let (orgmsgno, orgmsgid) = h.original.unwrap_or(("", ""));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><HOSDATA><REQUESTDATA><AAE140>{}</AAE140><AAC001>0</AAC001><AKB020>{}</AKB020><AKC190>{}</AKC190><AKC020>{}</AKC020><AKA130>11</AKA130><MSGNO>{}</MSGNO><MSGID>{}</MSGID><GRANTID></GRANTID><ORGMSGNO>{orgmsgno}</ORGMSGNO><ORGMSGID>{orgmsgid}</ORGMSGID><OPERID>0001</OPERID><OPERNAME>收费员</OPERNAME><BATNO></BATNO><OPTTIME>{}</OPTTIME>{inner}</REQUESTDATA></HOSDATA>"#,
        h.insutype, h.fixmedins_code, h.akc190, h.card_no, h.msgno, h.msgid, h.opttime
    )
    .into_bytes()
}

/// A Shijiazhuang outpatient settlement (1108): the visit, its fee lines and the total in one
/// call. `opttime` is `YYYYMMDDHH24MISS`.
pub fn sjz_outpatient_body(
    fixmedins_code: &str,
    p: &Insured,
    lines: &[FeeLine],
    msgid: &str,
    visit_no: u64,
    opttime: &str,
) -> Vec<u8> {
    let total: i64 = lines.iter().map(FeeLine::amount_fen).sum();
    let akc190 = format!("MZ{visit_no:010}");
    let card = format!("C{}", p.psn_no);
    let mut inner = format!(
        "<INPUT><AAC001>{}</AAC001><AAE072>FP{visit_no:08}</AAE072><AKC190>{akc190}</AKC190><AKC264>{}</AKC264></INPUT>\
         <KC21XML><AKC192>{opttime}</AKC192><BKF040>0101</BKF040><AKC025>内科</AKC025><BKF050>D0001</BKF050><AKC008>门诊医生</AKC008></KC21XML><KC22XML>",
        p.psn_no,
        yuan(total)
    );
    for (i, l) in lines.iter().enumerate() {
        inner.push_str(&format!(
            "<KC22ROW><AKC378>{}</AKC378><AKC221>{opttime}</AKC221><AKC222>{}</AKC222><AKC515>H{}</AKC515><AKC225>{}</AKC225><AKC226>{}</AKC226><AKC227>{}</AKC227></KC22ROW>",
            i + 1,
            l.med_list_codg,
            l.med_list_codg,
            yuan(l.pric_fen),
            l.units,
            yuan(l.amount_fen())
        ));
    }
    inner.push_str("</KC22XML>");
    sjz_request(
        &SjzHeader {
            fixmedins_code,
            msgno: "1108",
            msgid,
            akc190: &akc190,
            card_no: &card,
            insutype: &p.insutype,
            opttime,
            original: None,
        },
        &inner,
    )
}
