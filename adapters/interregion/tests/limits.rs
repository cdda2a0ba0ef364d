//! The largest legitimate messages fit the body limit and decode: the row limits, field
//! lengths and `BODY_BYTES_MAX` agree with each other.

use medsettle_canonical::Money;
use medsettle_interregion::*;
use serde_json::{Value, json};

const AMOUNT: &str = "-99999999999999.99";

fn longest(prefix: &str, n: usize) -> String {
    format!("{prefix}{}", "9".repeat(n - prefix.len()))
}

fn request_bytes(infno: &str, input: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ver": "1", "infno": infno, "msgid": longest("M", MSGID_CHARS_MAX),
        "mdtrtarea_admvs": "990100", "insuplc_admdvs": "880100",
        "send_time": "2024-06-01 08:00:00", "input": input
    }))
    .unwrap()
}

#[test]
fn a_full_statement_page_fits() {
    let cnt = STATEMENT_LINES_PER_MESSAGE_MAX;
    let lines: Vec<Value> = (0..cnt)
        .map(|i| {
            json!({
                "seqno": 999_999_000 + i, "omsgid": longest(&format!("O{i}x"), MSGID_CHARS_MAX),
                "setl_id": longest("S", ID_CHARS_MAX), "mdtrt_id": longest("D", ID_CHARS_MAX),
                "medins_no": longest("H", ID_CHARS_MAX), "setl_time": "2024-04-30 23:59:59",
                "medfee_sumamt": AMOUNT, "fund_pay_sumamt": AMOUNT, "aaa113": -1, "carried_from": "202404"
            })
        })
        .collect();
    let input = json!({
        "stmt_id": longest("T", STMT_ID_CHARS_MAX), "clr_month": "202405", "insuplc_prov": "880000",
        "mdtrtarea_prov": "990000", "cnt": COUNT_MAX, "medfee_sumamt": AMOUNT, "fund_pay_sumamt": AMOUNT,
        "stmt_due_date": "2024-06-07", "pay_due_date": "2024-06-21", "startrow": 999_999_000, "lines": lines
    });
    let bytes = request_bytes("XPRV21", input);
    assert!(bytes.len() <= BODY_BYTES_MAX, "{} bytes", bytes.len());
    let (_, request) = decode_request(&bytes, &Limits::default()).unwrap();
    let PeerRequest::Statement(s) = request else {
        unreachable!()
    };
    assert_eq!(s.lines.len(), cnt);
}

#[test]
fn a_full_reconciliation_page_and_answer_fit() {
    let rows: Vec<Value> = (0..RECON_ROWS_PER_MESSAGE_MAX)
        .map(|i| {
            json!({
                "omsgid": longest(&format!("O{i:04}x"), MSGID_CHARS_MAX), "setl_id": longest("S", ID_CHARS_MAX),
                "mdtrt_id": longest("D", ID_CHARS_MAX), "setl_time": "2024-05-20 23:59:59",
                "medfee_sumamt": AMOUNT, "fund_pay_sumamt": AMOUNT, "aaa113": -1, "fulamt_advpay_flag": "1"
            })
        })
        .collect();
    let input =
        json!({"recon_date": "2024-05-20", "rows_total": COUNT_MAX, "startrow": 1, "rows": rows});
    let bytes = request_bytes("XPRV12", input);
    assert!(bytes.len() <= BODY_BYTES_MAX, "{} bytes", bytes.len());
    assert!(decode_request(&bytes, &Limits::default()).is_ok());

    let differences = (0..DIFFERENCES_PER_ANSWER_MAX)
        .map(|i| Difference {
            omsgid: longest(&format!("O{i:04}x"), MSGID_CHARS_MAX),
            aaa113: TxKind::Reversal,
            kind: DifferenceKind::AmountDiffers,
            sender_medfee_sumamt: Some(Money::parse_yuan(AMOUNT).unwrap()),
            receiver_medfee_sumamt: Some(Money::parse_yuan("-99999999999999.98").unwrap()),
            sender_fund_pay_sumamt: Some(Money::parse_yuan(AMOUNT).unwrap()),
            receiver_fund_pay_sumamt: Some(Money::parse_yuan(AMOUNT).unwrap()),
        })
        .collect();
    let answer = PeerAnswer::ReconDetail(ReconDetailAnswer { differences });
    let ctx = AnswerContext {
        inf_refmsgid: longest("A", MSGID_CHARS_MAX),
        refmsg_time: "2024-05-21 01:00:00".into(),
        respond_time: "2024-05-21 01:00:01".into(),
    };
    let bytes = AnswerEnvelope::done(answer.to_output(), &ctx).encode();
    assert!(bytes.len() <= BODY_BYTES_MAX, "{} bytes", bytes.len());
    let back = AnswerEnvelope::decode(&bytes).unwrap();
    assert_eq!(
        decode_output(Infno::Xprv12, back.output.as_ref().unwrap()).unwrap(),
        answer
    );
}

#[test]
fn a_full_reply_fits_even_with_escaped_reasons() {
    // the widest reasons: 4-byte characters, which a peer may also send as 12-byte \u escapes
    let reason = "𠀀".repeat(REASON_CHARS_MAX);
    let lines: Vec<Value> = (0..REPLY_LINES_PER_MESSAGE_MAX)
        .map(|i| json!({"seqno": 999_999_000 + i, "flag": "0", "reason": reason}))
        .collect();
    let bytes = request_bytes(
        "XPRV22",
        json!({"stmt_id": longest("T", STMT_ID_CHARS_MAX), "clr_month": "202405", "lines": lines}),
    );
    let escaped = bytes.len() + REPLY_LINES_PER_MESSAGE_MAX * REASON_CHARS_MAX * (12 - 4);
    assert!(escaped <= BODY_BYTES_MAX, "{escaped} bytes");
    assert!(decode_request(&bytes, &Limits::default()).is_ok());
}
