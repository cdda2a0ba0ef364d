//! Receipt decoders: hand-written golden inputs → expected canonical receipts, and refusals.

mod common;

use common::golden_dir;
use medsettle_bank::receipts::{self, DecodeLimits, FileKind, ReceiptFormat};
use medsettle_bank::{BankError, BankProfile, Fault, detect_format};
use medsettle_canonical::{Money, Receipt, ReceiptReason, ReceiptStatus};
use time::macros::date;

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join(name)).unwrap()
}

fn reason(iso: Option<&str>, bank: Option<&str>, text: &str) -> Option<ReceiptReason> {
    Some(ReceiptReason {
        iso_code: iso.map(Into::into),
        bank_code: bank.map(Into::into),
        text: text.into(),
    })
}

const BATCH: &str = "B440300-20250103-0001";

fn r(id: &str, status: ReceiptStatus) -> Receipt {
    Receipt {
        payment_id: id.into(),
        batch_id: Some(BATCH.into()),
        status,
        amount: None,
        bank_reference: None,
        value_date: None,
        reason: None,
    }
}

#[test]
fn pain002_golden_decodes_to_expected_receipts() {
    let bytes = golden("pain002_part.xml");
    assert_eq!(detect_format(&bytes), Some(FileKind::Pain002));
    let f = receipts::decode(&bytes, ReceiptFormat::Pain002, &DecodeLimits::default()).unwrap();
    assert_eq!(f.file_id, "CCB20250103RPT000017");
    assert_eq!(f.original_file_id.as_deref(), Some(BATCH));
    assert_eq!(f.group_status.as_ref().unwrap().code, "PART");
    let expected = vec![
        Receipt {
            amount: Some(Money::from_fen(123_456_789)),
            bank_reference: Some("CCB0103A77".into()),
            value_date: Some(date!(2025 - 01 - 03)),
            ..r("PAY-20250103-0001", ReceiptStatus::Paid)
        },
        Receipt {
            amount: Some(Money::from_fen(9_876_543)),
            reason: reason(Some("AC04"), Some("44"), "收款账户已销户 & 已通知"),
            ..r("PAY-20250103-0002", ReceiptStatus::Failed)
        },
        r("PAY-20250103-0003", ReceiptStatus::Pending),
    ];
    assert_eq!(f.rows, expected);
    assert_eq!(f.totals.declared_count, Some(3));
    assert_eq!(f.totals.declared_sum, Some(Money::from_fen(133_333_337)));
}

#[test]
fn pain002_whole_file_rejection_has_group_status_and_no_rows() {
    let f = receipts::decode(
        &golden("pain002_file_rejected.xml"),
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap();
    assert!(f.rows.is_empty());
    let g = f.group_status.unwrap();
    assert_eq!(g.code, "RJCT");
    assert_eq!(g.reason, reason(Some("AM10"), None, "控制总额不符"));
}

#[test]
fn pain002_bucket_totals_must_match_rows() {
    let text = String::from_utf8(golden("pain002_part.xml")).unwrap();
    let bad = text.replacen(
        "<DtldNbOfTxs>1</DtldNbOfTxs>\n        <DtldSts>RJCT",
        "<DtldNbOfTxs>2</DtldNbOfTxs>\n        <DtldSts>RJCT",
        1,
    );
    assert_ne!(bad, text);
    let e = receipts::decode(
        bad.as_bytes(),
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, BankError::TotalsMismatch { .. }), "{e}");
    assert_eq!(e.fault(), Fault::Bank);
    let bad = text.replace(
        "<DtldCtrlSum>1234567.89</DtldCtrlSum>",
        "<DtldCtrlSum>1234567.88</DtldCtrlSum>",
    );
    assert!(matches!(
        receipts::decode(
            bad.as_bytes(),
            ReceiptFormat::Pain002,
            &DecodeLimits::default()
        ),
        Err(BankError::TotalsMismatch { .. })
    ));
    // The RJCT bucket's sum is not what protects money (rejected rows often echo 0.00): a
    // difference there is noted, and the file is read.
    let noted = text.replace(
        "<DtldCtrlSum>98765.43</DtldCtrlSum>",
        "<DtldCtrlSum>98765.42</DtldCtrlSum>",
    );
    let f = receipts::decode(
        noted.as_bytes(),
        ReceiptFormat::Pain002,
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(f.rows.len(), 3);
    assert_eq!(f.notes.len(), 1, "{:?}", f.notes);
    assert!(f.notes[0].contains("98765.42"), "{:?}", f.notes);
    // a sub-fen amount is refused, never rounded
    let bad = text.replace("1234567.890</InstdAmt>", "1234567.891</InstdAmt>");
    assert_eq!(
        receipts::decode(
            bad.as_bytes(),
            ReceiptFormat::Pain002,
            &DecodeLimits::default()
        )
        .unwrap_err()
        .rule(),
        "bank.amount_exact_fen"
    );
}

#[test]
fn camt054_golden_decodes_paid_and_returned() {
    let bytes = golden("camt054_paid_and_return.xml");
    assert_eq!(detect_format(&bytes), Some(FileKind::Camt054));
    let f = receipts::decode(&bytes, ReceiptFormat::Camt054, &DecodeLimits::default()).unwrap();
    assert_eq!(f.file_id, "CCBNTF20250104000009");
    let expected = vec![
        Receipt {
            amount: Some(Money::from_fen(123_456_789)),
            bank_reference: Some("CCB0103A77".into()),
            value_date: Some(date!(2025 - 01 - 03)),
            ..r("PAY-20250103-0001", ReceiptStatus::Paid)
        },
        Receipt {
            amount: Some(Money::from_fen(9_876_543)),
            bank_reference: Some("CCB-BATCH-0103-1".into()),
            value_date: Some(date!(2025 - 01 - 03)),
            ..r("PAY-20250103-0002", ReceiptStatus::Paid)
        },
        Receipt {
            amount: Some(Money::from_fen(9_876_543)),
            bank_reference: Some("CCB-RTN-0104-3".into()),
            value_date: Some(date!(2025 - 01 - 04)),
            reason: reason(Some("AC04"), None, "收款账户已销户"),
            ..r("PAY-20250103-0002", ReceiptStatus::Returned)
        },
    ];
    assert_eq!(f.rows, expected);
    assert_eq!(
        f.totals.skipped_entries, 1,
        "the unrelated interest credit is counted, not lost"
    );
    // batch totals are checked
    let text = String::from_utf8(bytes).unwrap();
    let bad = text.replace("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>3</NbOfTxs>");
    assert!(matches!(
        receipts::decode(
            bad.as_bytes(),
            ReceiptFormat::Camt054,
            &DecodeLimits::default()
        ),
        Err(BankError::TotalsMismatch { .. })
    ));
}

#[test]
fn gbk_return_golden_decodes_with_status_letters() {
    let bytes = golden("gbk_return.txt");
    assert_eq!(detect_format(&bytes), Some(FileKind::Delimited));
    let p = BankProfile::default_gbk();
    let f = receipts::decode(
        &bytes,
        ReceiptFormat::GbkReturn(p),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(f.file_id, "RET-20250103-0001");
    let expected = vec![
        Receipt {
            amount: Some(Money::from_fen(123_456_789)),
            bank_reference: Some("CCB0103A77".into()),
            value_date: Some(date!(2025 - 01 - 03)),
            ..r("PAY-20250103-0001", ReceiptStatus::Paid)
        },
        Receipt {
            amount: Some(Money::from_fen(9_876_543)),
            bank_reference: Some("CCB0103A78".into()),
            reason: reason(Some("AC04"), Some("44"), "收款账户已销户"),
            ..r("PAY-20250103-0002", ReceiptStatus::Failed)
        },
        Receipt {
            amount: Some(Money::from_fen(5)),
            bank_reference: Some("CCB0103A79".into()),
            value_date: Some(date!(2025 - 01 - 04)),
            reason: reason(Some("BE01"), Some("49"), "户名不符，退票"),
            ..r("PAY-20250103-0003", ReceiptStatus::Returned)
        },
        r("PAY-20250103-0004", ReceiptStatus::Pending),
    ];
    assert_eq!(f.rows, expected);
}

#[test]
fn gbk_return_totals_mismatch_and_truncation_are_caught() {
    let p = BankProfile::default_gbk();
    let bytes = golden("gbk_return.txt");
    let dec = |b: &[u8]| {
        receipts::decode(
            b,
            ReceiptFormat::GbkReturn(p.clone()),
            &DecodeLimits::default(),
        )
    };
    let text = encoding_rs::GBK.decode(&bytes).0.into_owned();
    for (from, to) in [
        ("|4|1|", "|5|1|"),
        ("|1234567.89|2|", "|1234567.88|2|"),
        ("|2|98765.48|", "|1|98765.48|"),
    ] {
        let bad = encoding_rs::GBK
            .encode(&text.replacen(from, to, 1))
            .0
            .into_owned();
        assert!(
            matches!(dec(&bad), Err(BankError::TotalsMismatch { .. })),
            "{from} -> {to}"
        );
    }
    // a file cut after a full line: the count no longer matches
    let cut = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .unwrap()
        .0
        + 1;
    assert!(matches!(
        dec(&bytes[..cut]),
        Err(BankError::TotalsMismatch { .. })
    ));
    // cut mid-line: no line ending
    assert_eq!(
        dec(&bytes[..bytes.len() - 3]).unwrap_err().rule(),
        "bank.record_layout"
    );
    // unknown status letter
    let bad = encoding_rs::GBK
        .encode(&text.replace("|P|", "|X|"))
        .0
        .into_owned();
    assert_eq!(dec(&bad).unwrap_err().rule(), "bank.known_status_code");
}

#[test]
fn invalid_gbk_is_an_error_naming_the_line_never_replacement_chars() {
    let p = BankProfile::default_gbk();
    let mut bytes = golden("gbk_return.txt");
    let second_line = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    bytes[second_line + 3] = 0xFF; // never valid in GBK/GB18030
    let e = receipts::decode(
        &bytes,
        ReceiptFormat::GbkReturn(p),
        &DecodeLimits::default(),
    )
    .unwrap_err();
    match e {
        BankError::BadEncoding { location, .. } => assert_eq!(location, "line 2"),
        other => panic!("{other}"),
    }
    let mut xml = golden("pain002_part.xml");
    let i = xml.windows(4).position(|w| w == b"ACSC").unwrap();
    xml[i] = 0xFF;
    assert!(matches!(
        receipts::decode(&xml, ReceiptFormat::Pain002, &DecodeLimits::default()),
        Err(BankError::BadEncoding { .. })
    ));
}

#[test]
fn gbk_declared_xml_is_decoded_strictly() {
    let text = String::from_utf8(golden("pain002_part.xml"))
        .unwrap()
        .replace("encoding=\"UTF-8\"", "encoding=\"GBK\"");
    let gbk = encoding_rs::GBK.encode(&text).0.into_owned();
    let f = receipts::decode(&gbk, ReceiptFormat::Pain002, &DecodeLimits::default()).unwrap();
    assert_eq!(
        f.rows[1].reason.as_ref().unwrap().text,
        "收款账户已销户 & 已通知"
    );
}

#[test]
fn doctype_and_entities_are_refused() {
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>&lol2;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>"#;
    assert_eq!(
        receipts::decode(bomb, ReceiptFormat::Pain002, &DecodeLimits::default())
            .unwrap_err()
            .rule(),
        "bank.xml_no_dtd_or_entities"
    );
    let undeclared = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>"#;
    assert_eq!(
        receipts::decode(undeclared, ReceiptFormat::Pain002, &DecodeLimits::default())
            .unwrap_err()
            .rule(),
        "bank.xml_no_dtd_or_entities"
    );
}

#[test]
fn limits_are_enforced() {
    let bytes = golden("pain002_part.xml");
    let small = DecodeLimits {
        file_bytes_max: 100,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        receipts::decode(&bytes, ReceiptFormat::Pain002, &small),
        Err(BankError::LimitExceeded {
            limit: "file_bytes_max",
            ..
        })
    ));
    let shallow = DecodeLimits {
        xml_depth_max: 4,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        receipts::decode(&bytes, ReceiptFormat::Pain002, &shallow),
        Err(BankError::LimitExceeded {
            limit: "xml_depth_max",
            ..
        })
    ));
    let few = DecodeLimits {
        rows_max: 2,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        receipts::decode(&bytes, ReceiptFormat::Pain002, &few),
        Err(BankError::LimitExceeded {
            limit: "rows_max",
            ..
        })
    ));
    let gbk = golden("gbk_return.txt");
    assert!(matches!(
        receipts::decode(
            &gbk,
            ReceiptFormat::GbkReturn(BankProfile::default_gbk()),
            &few
        ),
        Err(BankError::LimitExceeded {
            limit: "rows_max",
            ..
        })
    ));
    let deep = format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02\"><BkToCstmrDbtCdtNtfctn>{}",
        "<a>".repeat(10_000)
    );
    assert!(matches!(
        receipts::decode(
            deep.as_bytes(),
            ReceiptFormat::Camt054,
            &DecodeLimits::default()
        ),
        Err(BankError::LimitExceeded { .. })
    ));
}

#[test]
fn truncated_xml_is_an_error() {
    let bytes = golden("camt054_paid_and_return.xml");
    for cut in [10, bytes.len() / 2, bytes.len() - 12] {
        let e = receipts::decode(
            &bytes[..cut],
            ReceiptFormat::Camt054,
            &DecodeLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.fault(), Fault::Bank, "{e}");
    }
}

/// Found by the fuzzer (RELIABILITY.md, "Fuzzing", finding 1): a `TxDtls` that encloses the
/// entry used to panic the decoder (and with it the inbox scan); it is a refusal now.
#[test]
fn camt054_txdtls_enclosing_an_entry_is_refused_not_a_panic() {
    let bytes = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><TxDtls><Ntfctn><Ntry><Amt Ccy="CNY">1.00</Amt></Ntry></Ntfctn></TxDtls></BkToCstmrDbtCdtNtfctn></Document>"#;
    let e = receipts::decode(bytes, ReceiptFormat::Camt054, &DecodeLimits::default())
        .expect_err("not the camt.054 structure");
    assert!(e.to_string().contains("TxDtls"), "{e}");
}
