//! Per-message cost of the legacy adapter beside the national one (run: `cargo bench -p
//! medsettle-legacy --bench codec`). A bench binary, not a test: it prints figures and asserts
//! only that every message it times decodes and encodes.
//!
//! Legacy: a Guizhou 41 (§5.1, GBK) and a Guizhou 48 with its fee rows, each decoded to its
//! national steps and answered back in GBK. National: the 2207 and 2204 requests of the
//! conformance suite decoded (envelope + typed input), and a settlement answer written from
//! its canonical claim — the work the national adapter does for one request.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use medsettle_legacy::{Limits, Profile, decode_call, encode_answer};
use serde_json::{Value, json};

const ROUNDS: u32 = 20_000;

fn time_per_message(what: &str, mut f: impl FnMut()) {
    for _ in 0..ROUNDS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    let per = start.elapsed() / ROUNDS;
    // Tenths of a microsecond in integers (no float in this workspace's code).
    let ns = per.as_nanos();
    println!("{what:<58} {:>6}.{} µs", ns / 1000, (ns % 1000) / 100);
}

fn read(rel: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn setlinfo() -> Value {
    json!({"mdtrt_id":"ZY9901202405000001","setl_id":"JS9901202405000001","psn_no":"9900000001",
        "psn_name":"张三","gend":"1","psn_type":"1101","setl_time":"2024-05-20 10:30:00",
        "medfee_sumamt":"12345.67","fulamt_ownpay_amt":"345.67","preselfpay_amt":"500.00",
        "inscp_scp_amt":"11500.00","act_pay_dedc":"800.00","hifp_pay":"9095.00","hifob_pay":"0.00",
        "cvlserv_pay":"0.00","acct_pay":"1000.00","balc":"234.56","clr_optins":"9901","clr_way":"1",
        "fund_pay_sumamt":"9095.00","psn_cash_pay":"2250.67"})
}

fn main() {
    let gz = Profile::builtin("guizhou").expect("built-in profile");
    let limits = Limits::default();
    let b41 = read("adapters/legacy/tests/fixtures/guizhou/41.xml");
    let b48 = read("adapters/legacy/tests/fixtures/guizhou/48.xml");
    let c41 = decode_call(&gz, "41", &[], &b41, &limits).expect("41 decodes");
    let c48 = decode_call(&gz, "48", &[], &b48, &limits).expect("48 decodes");
    let out41 = vec![json!({ "setlinfo": setlinfo() })];
    let rows = c48.steps[1].input["feedetail"]
        .as_array()
        .map_or(0, Vec::len);
    let out48 = vec![
        json!({"data": {"mdtrt_id": "M1", "psn_no": "9900000001", "ipt_otp_no": "MZ1"}}),
        json!({"result": []}),
        json!({ "setlinfo": setlinfo() }),
    ];
    encode_answer(&gz, &c41, &out41).expect("41 answers");
    encode_answer(&gz, &c48, &out48).expect("48 answers");
    println!("{ROUNDS} rounds each, one thread");
    time_per_message("legacy guizhou 41 decode (GBK XML → 2304 step)", || {
        black_box(decode_call(&gz, "41", &[], black_box(&b41), &limits).unwrap());
    });
    time_per_message(
        "legacy guizhou 41 answer (national output → GBK XML)",
        || {
            black_box(encode_answer(&gz, &c41, black_box(&out41)).unwrap());
        },
    );
    time_per_message(
        &format!("legacy guizhou 48 decode ({rows} rows → 2201+2204+2207)"),
        || {
            black_box(decode_call(&gz, "48", &[], black_box(&b48), &limits).unwrap());
        },
    );
    time_per_message("legacy guizhou 48 answer", || {
        black_box(encode_answer(&gz, &c48, black_box(&out48)).unwrap());
    });

    let n2207 = read("conformance/cases/nhsa/007-request-2207/input.json");
    let n2204 = read("conformance/cases/nhsa/004-request-2204/input.json");
    let dl = medsettle_nhsa::DecodeLimits::default();
    let national = |bytes: &[u8]| {
        let env = medsettle_nhsa::RequestEnvelope::decode(bytes, &dl).unwrap();
        medsettle_nhsa::decode_input(&env.infno, &env.input).unwrap()
    };
    national(&n2207);
    national(&n2204);
    time_per_message("national 2207 decode (envelope + typed input)", || {
        black_box(national(black_box(&n2207)));
    });
    time_per_message("national 2204 decode (envelope + typed fee lines)", || {
        black_box(national(black_box(&n2204)));
    });
    let claim: medsettle_canonical::SettledClaim = serde_json::from_slice(&read(
        "conformance/cases/nhsa/043-exchange-2207-example-a-b/expected.json",
    ))
    .expect("a canonical claim");
    let ctx = medsettle_nhsa::AnswerContext {
        inf_refmsgid: "440300202406011030150000000001".into(),
        refmsg_time: "20240601103015000".into(),
        respond_time: "20240601103015001".into(),
        person: None,
    };
    time_per_message("national 2207 answer (claim → JSON envelope)", || {
        black_box(medsettle_nhsa::answer_for_claim(black_box(&claim), &ctx).to_bytes());
    });
}
