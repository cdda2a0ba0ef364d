#!/usr/bin/env python3
"""Write conformance/cases/hostile/*: the hostile corpus of national-interface requests.

Each case is a request an attacker or a sloppy HIS could send, refused with the rule named in
its case.toml (issue 15, "a hostile corpus"). Every case starts from a valid request (the 2201,
2204, 2207, 2304, 2401, 3201 and 1101 inputs of gen_nhsa_cases.py, sent by institution
H44030000001 from region 440300 with a msgid of the national layout, so the gateway reads it as
far as the adapter does) and breaks exactly one thing. tests/hostile_corpus.rs sends every one
of them to the real gateway over mutual TLS and checks that each is refused naming its rule and
that nothing is journaled.

Re-run after editing (the hostile directory is rewritten whole; numbering follows declaration
order, so add new cases at the end of their class or at the end of the file):

    python3 conformance/tools/gen_hostile_cases.py
    cargo run -p medsettle-conformance -- conformance/cases/hostile

    # the valid bases, as accept cases, to check that each is accepted before it is broken
    python3 conformance/tools/gen_hostile_cases.py --bases /tmp/hostile-bases
    cargo run -p medsettle-conformance -- /tmp/hostile-bases

    # every case expecting a rule nobody reports: the failures list each case's violations,
    # to check that a case breaks one thing only
    python3 conformance/tools/gen_hostile_cases.py --probe /tmp/hostile-probe
    cargo run -p medsettle-conformance -- /tmp/hostile-probe
"""
import copy
import json
import pathlib
import re
import shutil
import sys
from decimal import Decimal

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_nhsa_cases as nhsa  # noqa: E402  (the valid inputs; its cases are not written)
import nhsa_oracle as oracle  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "conformance" / "cases" / "hostile"

CODE = "H44030000001"
AREA = "440300"
MSGID = CODE + "202406011030150001"
D = Decimal


# ---------------------------------------------------------------- JSON text, exactly
class Raw(str):
    """JSON text written verbatim (`NaN`, `+100.00`, `0x64`, a nested 40-level value)."""


class Pairs(list):
    """An object as (key, value) pairs: a key may appear twice."""


def enc(v):
    """The JSON text of `v`, in the layout json.dumps gives (`, ` and `: `, UTF-8 as is)."""
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, Pairs):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {enc(x)}" for k, x in v) + "}"
    if isinstance(v, dict):
        return enc(Pairs(v.items()))
    if isinstance(v, list):
        return "[" + ", ".join(enc(x) for x in v) + "]"
    if isinstance(v, Decimal):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


# ---------------------------------------------------------------- the valid bases
BASE_INFNOS = ("2201", "2204", "2207", "2304", "2401", "3201", "1101")


def base(infno):
    """A valid request of `infno` from H44030000001 in 440300, as a dict (a fresh copy)."""
    kw = dict(code=CODE, area=AREA, name="示例医院", msgid_tail=MSGID[len(CODE):])
    if infno == "1101":
        kw.update(sign_no="", insuplc="440300")
    return nhsa.req(infno, copy.deepcopy(nhsa.IN[infno]), **kw)


def steps(path):
    """`input.feedetail[1].cnt` → ["input", "feedetail", 1, "cnt"]."""
    out = []
    for part in path.split("."):
        m = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", part)
        if m.group(1):
            out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def at(obj, path):
    for s in steps(path):
        obj = obj[s]
    return obj


def parent(obj, path):
    st = steps(path)
    for s in st[:-1]:
        obj = obj[s]
    return obj, st[-1]


def with_(infno, path, value):
    """The base with the field at `path` set to `value` (added if absent)."""
    r = base(infno)
    p, k = parent(r, path)
    p[k] = value
    return r


def without(infno, path):
    r = base(infno)
    p, k = parent(r, path)
    del p[k]
    return r


def renamed(infno, path, new_key):
    """The base with the key at `path` renamed in place (the value and key order kept)."""
    r = base(infno)
    st = steps(path)
    p = r
    for s in st[:-2]:
        p = p[s]
    holder, key = (p, st[-2]) if len(st) > 1 else (None, None)
    obj = holder[key] if holder is not None else r
    items = [(new_key if k == st[-1] else k, v) for k, v in obj.items()]
    new = dict(items)
    if holder is None:
        return new
    holder[key] = new
    return r


def duplicated(infno, path, second):
    """The base with the key at `path` named a second time, right after the first, with the
    value `second` (the path of the duplicate is `path`)."""
    r = base(infno)
    st = steps(path)
    if len(st) == 1:
        holder, key, obj = None, None, r
    else:
        holder = r
        for s in st[:-2]:
            holder = holder[s]
        key = st[-2]
        obj = holder[key]
    pairs = Pairs()
    for k, v in obj.items():
        pairs.append((k, v))
        if k == st[-1]:
            pairs.append((k, second))
    if holder is None:
        return pairs
    holder[key] = pairs
    return r


def nest(levels, kind="object", leaf="1"):
    """A value nested `levels` deep (the value itself is one level)."""
    if kind == "object":
        return Raw('{"n": ' * levels + leaf + "}" * levels)
    if kind == "array":
        return Raw("[" * levels + leaf + "]" * levels)
    # alternating
    text = leaf
    for i in range(levels):
        text = "[" + text + "]" if i % 2 else '{"n": ' + text + "}"
    return Raw(text)


def text(v):
    return enc(v) + "\n"


def body_with(v, placeholder, raw_bytes):
    """The UTF-8 bytes of `v` with the text `placeholder` replaced by raw bytes."""
    b = text(v).encode("utf-8")
    ph = placeholder.encode("utf-8")
    assert b.count(ph) == 1, placeholder
    return b.replace(ph, raw_bytes)


# ---------------------------------------------------------------- cases
CASES = []
CLASS_OF = {}
current_class = None


def klass(name):
    global current_class
    current_class = name


def case(short, description, body, rules, paths=None):
    if isinstance(body, (dict, Pairs)):
        data = text(body).encode("utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = bytes(body)
    name = f"{len(CASES) + 1:03d}-{short}"
    CASES.append(dict(name=name, description=description, input=data, rules=rules, paths=paths or []))
    CLASS_OF[name] = current_class


B2207 = text(base("2207"))

# ================================================================ JSON structure
klass("JSON structure")
case("json-truncated-half", "the 2207 body cut in the middle (a connection dropped mid-send, a buffer flushed early)",
     B2207[: len(B2207) // 2], ["FMT-JSON"])
case("json-truncated-inside-string", "the body ends inside a string value",
     B2207[: B2207.index('"440000000123"') + 5], ["FMT-JSON"])
case("json-truncated-after-number", "the body ends right after the digits of an amount (no closing braces)",
     B2207[: B2207.index("100.00") + 6], ["FMT-JSON"])
case("json-missing-last-brace", "one closing brace short", B2207.rstrip()[:-1], ["FMT-JSON"])
case("json-trailing-garbage", "the object followed by text (a logging suffix glued to the body)",
     B2207.rstrip() + " OK\n", ["FMT-JSON"])
case("json-trailing-comma", "the object followed by a comma", B2207.rstrip() + ",\n", ["FMT-JSON"])
case("json-two-objects", "two request objects back to back: which one is the request?",
     B2207.rstrip() + B2207, ["FMT-JSON"])
case("json-two-objects-ndjson", "two requests as newline-delimited JSON in one body", B2207 + B2207, ["FMT-JSON"])
case("json-top-level-array", "the request wrapped in a one-element array", "[" + B2207.rstrip() + "]\n", ["FMT-JSON"])
case("json-top-level-string", "the request JSON-encoded twice: the body is a string holding the object",
     json.dumps(B2207.rstrip(), ensure_ascii=False) + "\n", ["FMT-JSON"])
case("json-top-level-number", "the body is the bare number 2207", "2207\n", ["FMT-JSON"])
case("json-top-level-null", "the body is null", "null", ["FMT-JSON"])
case("json-top-level-true", "the body is true", "true", ["FMT-JSON"])
case("json-empty-body", "an empty body", "", ["FMT-JSON"])
case("json-whitespace-body", "a body of whitespace only", " \r\n\t \n", ["FMT-JSON"])
case("json-nan-amount", "medfee_sumamt written as the bare token NaN (a float formatter's output)",
     with_("2207", "input.data.medfee_sumamt", Raw("NaN")), ["FMT-JSON"])
case("json-infinity-amount", "inscp_scp_amt written as Infinity", with_("2207", "input.data.inscp_scp_amt", Raw("Infinity")), ["FMT-JSON"])
case("json-minus-infinity-amount", "overlmt_selfpay written as -Infinity", with_("2207", "input.data.overlmt_selfpay", Raw("-Infinity")), ["FMT-JSON"])
case("json-leading-plus", "a JSON number with a leading '+' (+100.00)", with_("2207", "input.data.medfee_sumamt", Raw("+100.00")), ["FMT-JSON"])
case("json-hex-number", "an amount as a hexadecimal literal 0x64", with_("2207", "input.data.medfee_sumamt", Raw("0x64")), ["FMT-JSON"])
case("json-comma-decimal", "a decimal comma: 100,00 (a German or French locale)", with_("2207", "input.data.medfee_sumamt", Raw("100,00")), ["FMT-JSON"])
case("json-space-inside-number", "a space inside a number: 100. 00", with_("2207", "input.data.medfee_sumamt", Raw("100. 00")), ["FMT-JSON"])
case("json-thousands-space", "a thousands separator as a space: 1 000.00 in a fee line", 
     with_("2204", "input.feedetail[1].det_item_fee_sumamt", Raw("1 000.00")), ["FMT-JSON"])
case("json-leading-zero", "a number with a leading zero (0100.00), which JSON forbids",
     with_("2207", "input.data.medfee_sumamt", Raw("0100.00")), ["FMT-JSON"])
case("json-trailing-dot", "a number ending in a dot (100.)", with_("2207", "input.data.medfee_sumamt", Raw("100.")), ["FMT-JSON"])
case("json-leading-dot", "a number starting with a dot (.50)", with_("2207", "input.data.preselfpay_amt", Raw(".50")), ["FMT-JSON"])
case("json-single-quotes", "strings in single quotes (a Python repr sent as JSON)",
     B2207.replace('"infno": "2207"', "'infno': '2207'"), ["FMT-JSON"])
case("json-unquoted-key", "an unquoted key (JavaScript object literal)", B2207.replace('"infno":', "infno:"), ["FMT-JSON"])
case("json-trailing-comma-in-object", "a comma after the last member of input.data",
     B2207.replace('"inscp_scp_amt": 85.00}', '"inscp_scp_amt": 85.00,}'), ["FMT-JSON"])
case("json-comment", "a // comment inside the object", B2207.replace('"input": {', '"input": {// settlement\n'), ["FMT-JSON"])
case("json-raw-newline-in-string", "a raw line feed inside a string (opter_name), not escaped",
     body_with(with_("2207", "opter_name", "@@NL@@"), "@@NL@@", b"\xe5\xbc\xa0\n\xe4\xb8\x89"), ["FMT-JSON"])
case("json-bad-escape", "an invalid escape \\x41 inside a string", with_("2207", "opter_name", Raw(r'"\x41"')), ["FMT-JSON"])

# ================================================================ duplicate keys
klass("duplicate keys")
case("dup-envelope-infno", "infno named twice at the envelope (2207 then 2208): a reader could take either",
     duplicated("2207", "infno", "2208"), ["FMT-DUPLICATE-KEY"], ["infno"])
case("dup-envelope-msgid", "msgid named twice with two different ids: the idempotency key would be ambiguous",
     duplicated("2207", "msgid", CODE + "202406011030150002"), ["FMT-DUPLICATE-KEY"], ["msgid"])
case("dup-envelope-fixmedins-code", "fixmedins_code named twice, the same value both times",
     duplicated("2207", "fixmedins_code", CODE), ["FMT-DUPLICATE-KEY"], ["fixmedins_code"])
case("dup-envelope-mdtrtarea", "mdtrtarea_admvs named twice (440300, then 110105)",
     duplicated("2207", "mdtrtarea_admvs", "110105"), ["FMT-DUPLICATE-KEY"], ["mdtrtarea_admvs"])
case("dup-envelope-input", "input named twice: a second input with another total",
     duplicated("2207", "input", {"data": {**nhsa.IN["2207"]["data"], "medfee_sumamt": D("1.00")}}),
     ["FMT-DUPLICATE-KEY"], ["input"])
case("dup-envelope-escaped-key", "msgid named a second time spelled with an escape (\"msg\\u0069d\")",
     Raw(B2207.rstrip()[:-1] + ', "msg\\u0069d": "' + CODE + '202406011030150009"}'), ["FMT-DUPLICATE-KEY"], ["msgid"])
case("dup-input-data", "input.data named twice (the second a smaller settlement)",
     duplicated("2207", "input.data", {**nhsa.IN["2207"]["data"], "medfee_sumamt": D("1.00")}),
     ["FMT-DUPLICATE-KEY"], ["input.data"])
case("dup-input-feedetail", "input.feedetail named twice (the second list empty)",
     duplicated("2204", "input.feedetail", []), ["FMT-DUPLICATE-KEY"], ["input.feedetail"])
case("dup-data-psn-no", "psn_no named twice in input.data: two persons in one settlement",
     duplicated("2207", "input.data.psn_no", "44000000000000000002"), ["FMT-DUPLICATE-KEY"], ["input.data.psn_no"])
case("dup-data-acct-used-flag", "acct_used_flag named twice (1 then 0)",
     duplicated("2207", "input.data.acct_used_flag", "0"), ["FMT-DUPLICATE-KEY"], ["input.data.acct_used_flag"])
case("dup-data-unknown-key", "an unknown key named twice in input.data (even unknown keys are refused twice)",
     duplicated("2207", "input.data.invono", ""), ["FMT-DUPLICATE-KEY"], ["input.data.invono"])
case("dup-data-2304-medfee", "2304 medfee_sumamt named twice, both 23442.46",
     duplicated("2304", "input.data.medfee_sumamt", D("23442.46")), ["FMT-DUPLICATE-KEY"], ["input.data.medfee_sumamt"])
case("dup-3201-setl-optins", "3201 setl_optins named twice (440399, then 110000)",
     duplicated("3201", "input.data.setl_optins", "110000"), ["FMT-DUPLICATE-KEY"], ["input.data.setl_optins"])
case("dup-fee-line-amount", "the second fee line names det_item_fee_sumamt twice (95.48, then 0.01)",
     duplicated("2204", "input.feedetail[1].det_item_fee_sumamt", D("0.01")), ["FMT-DUPLICATE-KEY"],
     ["input.feedetail[1].det_item_fee_sumamt"])
case("dup-fee-line-cnt", "the first fee line names cnt twice",
     duplicated("2204", "input.feedetail[0].cnt", 200), ["FMT-DUPLICATE-KEY"], ["input.feedetail[0].cnt"])
case("dup-fee-line-exp-content", "a key named twice inside the second fee line's exp_content",
     duplicated("2204", "input.feedetail[1].exp_content.oprn_flag", "1"), ["FMT-DUPLICATE-KEY"],
     ["input.feedetail[1].exp_content.oprn_flag"])
case("dup-2401-diseinfo", "2401 diseinfo[0] names diag_code twice",
     duplicated("2401", "input.diseinfo[0].diag_code", "A00.000"), ["FMT-DUPLICATE-KEY"], ["input.diseinfo[0].diag_code"])
case("dup-2401-mdtrtinfo", "2401 mdtrtinfo names begntime twice",
     duplicated("2401", "input.mdtrtinfo.begntime", "2024-06-02 08:30:00"), ["FMT-DUPLICATE-KEY"],
     ["input.mdtrtinfo.begntime"])

# ================================================================ depth
klass("deep nesting")
case("depth-33-just-over", "exp_content nested so that the message is 33 levels deep, one over json_depth_max (32)",
     with_("2207", "input.data.exp_content", nest(30)), ["FMT-DEPTH"])
case("depth-fee-line-exp-content", "a fee line's exp_content nested 60 levels",
     with_("2204", "input.feedetail[1].exp_content", nest(60, "array")), ["FMT-DEPTH"])
case("depth-envelope-extra-key", "an unknown envelope key holding 64 nested arrays",
     with_("2207", "trace", nest(64, "array")), ["FMT-DEPTH"])
case("depth-2401-mdtrtinfo", "2401 mdtrtinfo.exp_content alternating objects and arrays, 50 levels",
     with_("2401", "input.mdtrtinfo.exp_content", nest(50, "mixed")), ["FMT-DEPTH"])
case("depth-instead-of-amount", "medfee_sumamt replaced by 40 nested arrays",
     with_("2207", "input.data.medfee_sumamt", nest(40, "array", "100.00")), ["FMT-DEPTH"])
case("depth-top-level-brackets", "100,000 opening brackets and nothing else (a parser-recursion bomb)",
     "[" * 100000, ["FMT-DEPTH"])
case("depth-unclosed-objects", "a valid envelope start followed by 1,000 unclosed objects",
     B2207.rstrip()[:-1] + ', "x": ' + '{"a": ' * 1000, ["FMT-DEPTH"])
case("depth-3201-data", "3201 data gets an unknown key nested 33 levels",
     with_("3201", "input.data.local", nest(33)), ["FMT-DEPTH"])

# ================================================================ encoding
klass("encoding")
case("enc-gbk-bytes", "opter_name sent as GBK bytes (张三 = D5C5 C8FD) in a body declared UTF-8",
     body_with(with_("2207", "opter_name", "@@X@@"), "@@X@@", "张三".encode("gbk")), ["FMT-ENCODING"])
case("enc-gbk-whole-body", "the whole 1101 body encoded in GBK (a HIS on a Chinese Windows code page)",
     text(base("1101")).encode("gbk"), ["FMT-ENCODING"])
case("enc-latin1-byte", "dr_name with a Latin-1 é (0xE9)",
     body_with(with_("2201", "input.data.dr_name", "@@X@@"), "@@X@@", b"M\xe9decin"), ["FMT-ENCODING"])
case("enc-invalid-byte-ff", "a 0xFF byte (never valid in UTF-8) in psn_no",
     body_with(with_("2207", "input.data.psn_no", "@@X@@"), "@@X@@", b"4400\xff0001"), ["FMT-ENCODING"])
case("enc-overlong-slash", "an overlong 2-byte encoding of '/' (C0 AF) in medins_list_codg",
     body_with(with_("2204", "input.feedetail[0].medins_list_codg", "@@X@@"), "@@X@@", b"YP\xc0\xaf0001"), ["FMT-ENCODING"])
case("enc-overlong-quote", "an overlong encoding of '\"' (C0 A2) trying to end a string early",
     body_with(with_("2207", "opter_name", "@@X@@"), "@@X@@", b"a\xc0\xa2, \xc0\xa2infno\xc0\xa2: \xc0\xa22208"), ["FMT-ENCODING"])
case("enc-overlong-3-byte", "a 3-byte overlong encoding (E0 80 AF) in fixmedins_name",
     body_with(with_("2207", "fixmedins_name", "@@X@@"), "@@X@@", b"\xe0\x80\xaf"), ["FMT-ENCODING"])
case("enc-cesu-surrogate", "a UTF-16 surrogate encoded as UTF-8 bytes (ED A0 80, CESU-8)",
     body_with(with_("2207", "opter_name", "@@X@@"), "@@X@@", b"\xed\xa0\x80"), ["FMT-ENCODING"])
case("enc-above-unicode", "a 4-byte sequence beyond U+10FFFF (F4 90 80 80)",
     body_with(with_("2207", "opter_name", "@@X@@"), "@@X@@", b"\xf4\x90\x80\x80"), ["FMT-ENCODING"])
case("enc-truncated-sequence", "医 cut to its first two bytes inside dr_name (王医生 → 王 + E5 8C)",
     body_with(with_("2201", "input.data.dr_name", "@@X@@"), "@@X@@", "王医生".encode()[:5]), ["FMT-ENCODING"])
case("enc-utf16le-bom", "the whole body in UTF-16LE with its BOM (FF FE)", text(base("2207")).encode("utf-16"), ["FMT-ENCODING"])
case("enc-utf16be-bom", "the whole body in UTF-16BE with its BOM (FE FF)",
     b"\xfe\xff" + text(base("2207")).encode("utf-16-be"), ["FMT-ENCODING"])
case("enc-utf16-bom-then-utf8", "a UTF-16LE BOM (FF FE) in front of a UTF-8 body",
     b"\xff\xfe" + text(base("2207")).encode("utf-8"), ["FMT-ENCODING"])
case("enc-two-utf8-boms", "two UTF-8 BOMs: the first is ignored, the second is not JSON",
     b"\xef\xbb\xbf\xef\xbb\xbf" + text(base("2207")).encode("utf-8"), ["FMT-JSON"])
case("enc-lone-high-surrogate", "a lone high surrogate escape \\ud800 in psn_name",
     with_("1101", "input.data.psn_name", Raw(r'"李\ud800"')), ["FMT-JSON"])
case("enc-lone-low-surrogate", "a lone low surrogate escape \\udc00 in opter_name",
     with_("2207", "opter_name", Raw(r'"\udc00张三"')), ["FMT-JSON"])
case("enc-surrogate-then-letter", "a high surrogate escape followed by a non-surrogate escape (\\ud83d\\u0041)",
     with_("2201", "input.data.dr_name", Raw(r'"\ud83d\u0041"')), ["FMT-JSON"])
case("enc-raw-nul-in-string", "a raw NUL byte inside psn_no (C-string truncation attack)",
     body_with(with_("2207", "input.data.psn_no", "@@X@@"), "@@X@@", b"44000000000000000001\x00X"), ["FMT-JSON"])
case("enc-raw-nul-after-object", "a raw NUL byte after the closing brace",
     text(base("2207")).encode().rstrip() + b"\x00", ["FMT-JSON"])

# ================================================================ wrong types
klass("wrong types")
case("type-char-as-number", "psn_no as a JSON number (leading digits of an id lost by a number type)",
     with_("2207", "input.data.psn_no", Raw("44000000000000000001")), ["FMT-TYPE"], ["input.data.psn_no"])
case("type-char-as-bool", "acct_used_flag as true", with_("2207", "input.data.acct_used_flag", True), ["FMT-TYPE"],
     ["input.data.acct_used_flag"])
case("type-char-as-object", "med_type as an object {\"code\": \"11\"}", with_("2207", "input.data.med_type", {"code": "11"}),
     ["FMT-TYPE"], ["input.data.med_type"])
case("type-char-as-array", "insutype as an array [\"310\"]", with_("2207", "input.data.insutype", ["310"]), ["FMT-TYPE"],
     ["input.data.insutype"])
case("type-money-as-bool", "medfee_sumamt as false", with_("2207", "input.data.medfee_sumamt", False), ["FMT-TYPE"],
     ["input.data.medfee_sumamt"])
case("type-money-as-object", "medfee_sumamt as an object {\"value\": 100.00, \"currency\": \"CNY\"}",
     with_("2207", "input.data.medfee_sumamt", {"value": D("100.00"), "currency": "CNY"}), ["FMT-TYPE"],
     ["input.data.medfee_sumamt"])
case("type-money-as-array", "a fee line amount as an array [4.52]",
     with_("2204", "input.feedetail[0].det_item_fee_sumamt", [D("4.52")]), ["FMT-TYPE"],
     ["input.feedetail[0].det_item_fee_sumamt"])
case("type-num-as-bool", "cnt as true", with_("2204", "input.feedetail[0].cnt", True), ["FMT-TYPE"], ["input.feedetail[0].cnt"])
case("type-num-as-object", "pric as an object", with_("2204", "input.feedetail[1].pric", {"yuan": D("95.48")}), ["FMT-TYPE"],
     ["input.feedetail[1].pric"])
case("type-count-as-array", "3201 fixmedins_setl_cnt as an array [321]", with_("3201", "input.data.fixmedins_setl_cnt", [321]),
     ["FMT-TYPE"], ["input.data.fixmedins_setl_cnt"])
case("type-datetime-as-number", "begntime as the number 20240601095800",
     with_("2201", "input.data.begntime", Raw("20240601095800")), ["FMT-TYPE"], ["input.data.begntime"])
case("type-datetime-as-epoch", "fee_ocur_time as Unix milliseconds",
     with_("2204", "input.feedetail[0].fee_ocur_time", Raw("1717207500000")), ["FMT-TYPE"], ["input.feedetail[0].fee_ocur_time"])
case("type-date-as-number", "3201 stmt_begndate as the number 20240601",
     with_("3201", "input.data.stmt_begndate", Raw("20240601")), ["FMT-TYPE"], ["input.data.stmt_begndate"])
case("type-admdvs-as-number", "mdtrtarea_admvs as the number 440300", with_("2207", "mdtrtarea_admvs", Raw("440300")),
     ["FMT-TYPE"], ["mdtrtarea_admvs"])
case("type-admdvs-in-input-as-number", "3201 setl_optins as the number 440399",
     with_("3201", "input.data.setl_optins", Raw("440399")), ["FMT-TYPE"], ["input.data.setl_optins"])
case("type-infno-as-number", "infno as the number 2207 (the adapter also reports NHSA-ENV-INFNO for the input it cannot type; the gateway stops at the envelope)", with_("2207", "infno", Raw("2207")), ["FMT-TYPE"], ["infno"])
case("type-msgid-as-array", "msgid as an array of its parts",
     with_("2207", "msgid", [CODE, "20240601103015", "0001"]), ["FMT-TYPE"], ["msgid"])
case("type-inf-time-as-number", "inf_time as Unix seconds", with_("2207", "inf_time", Raw("1717209015")), ["FMT-TYPE"], ["inf_time"])
case("type-opter-name-as-object", "opter_name as an object {\"zh\": \"张三\"}", with_("2207", "opter_name", {"zh": "张三"}),
     ["FMT-TYPE"], ["opter_name"])
case("type-fixmedins-code-as-array", "fixmedins_code as an array of two institutions",
     with_("2207", "fixmedins_code", [CODE, "H44030000002"]), ["FMT-TYPE"], ["fixmedins_code"])
case("type-sign-no-as-number", "the optional sign_no as a number", with_("2207", "sign_no", Raw("440000202406010800")), ["FMT-TYPE"],
     ["sign_no"])
case("type-data-as-string", "input.data as a string", with_("2207", "input.data", "psn_no=44000000000000000001"), ["FMT-TYPE"],
     ["input.data"])
case("type-data-as-number", "input.data as a number", with_("2201", "input.data", 1), ["FMT-TYPE"], ["input.data"])
case("type-feedetail-as-string", "input.feedetail as a string", with_("2204", "input.feedetail", "F0001,F0002"), ["FMT-TYPE"],
     ["input.feedetail"])
case("type-fee-line-as-string", "a fee line that is a string, not an object", with_("2204", "input.feedetail[1]", "F0002"),
     ["FMT-TYPE"], ["input.feedetail[1]"])
case("type-diseinfo-as-number", "2401 diseinfo as a number", with_("2401", "input.diseinfo", 1), ["FMT-TYPE"], ["input.diseinfo"])
case("type-diag-srt-no-as-bool", "2401 diag_srt_no as true", with_("2401", "input.diseinfo[0].diag_srt_no", True), ["FMT-TYPE"],
     ["input.diseinfo[0].diag_srt_no"])
case("type-mdtrtinfo-as-array", "2401 mdtrtinfo as an array of its object",
     with_("2401", "input.mdtrtinfo", [nhsa.IN["2401"]["mdtrtinfo"]]), ["FMT-TYPE"], ["input.mdtrtinfo"])

# ================================================================ input, infno
klass("input and infno")
case("input-array", "input as an array holding the data node", with_("2207", "input", [nhsa.IN["2207"]]), ["NHSA-ENV-INPUT"], ["input"])
case("input-encrypted-sm4", "input as SM4-encrypted hex text (the Jilin variant)",
     with_("2207", "input", "9f1c0b7e2a6d4c3b5e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5"), ["NHSA-ENV-INPUT"], ["input"])
case("input-json-in-string", "input as the JSON text of the object (encoded twice)",
     with_("2207", "input", json.dumps(nhsa.IN["2207"], default=str, ensure_ascii=False)), ["NHSA-ENV-INPUT"], ["input"])
case("input-number", "input as a number", with_("2207", "input", 0), ["NHSA-ENV-INPUT"], ["input"])
case("input-bool", "input as true", with_("2207", "input", True), ["NHSA-ENV-INPUT"], ["input"])
case("input-empty-object", "input {} for a 2207: the data node is missing", with_("2207", "input", {}), ["FMT-REQUIRED"],
     ["input.data"])
case("input-other-transactions-node", "a 2204 sent with a 2207's data node instead of feedetail",
     with_("2204", "input", copy.deepcopy(nhsa.IN["2207"])), ["FMT-REQUIRED"], ["input.feedetail"])
case("infno-unknown-letter-variant", "infno 2207B: no such letter variant", with_("2207", "infno", "2207B"), ["NHSA-ENV-INFNO"], ["infno"])
case("infno-letter-o", "infno 22O7 with a letter O", with_("2207", "infno", "22O7"), ["NHSA-ENV-INFNO"], ["infno"])
case("infno-lowercase-variant", "infno 2207a in lower case", with_("2207", "infno", "2207a"), ["NHSA-ENV-INFNO"], ["infno"])
case("infno-padded", "infno with a leading space", with_("2207", "infno", " 2207"), ["NHSA-ENV-INFNO"], ["infno"])
case("infno-zero", "infno 0000", with_("2207", "infno", "0000"), ["NHSA-ENV-INFNO"], ["infno"])
case("infno-over-long", "infno of 7 characters (2207001) (the adapter also reports NHSA-ENV-INFNO for the input it cannot type; the gateway stops at the envelope)", with_("2207", "infno", "2207001"), ["FMT-LENGTH"], ["infno"])
case("infno-injection", "infno carrying a path traversal (over-long) (the adapter also reports NHSA-ENV-INFNO for the input it cannot type; the gateway stops at the envelope)", with_("2207", "infno", "../../etc/passwd"), ["FMT-LENGTH"], ["infno"])
case("infno-null", "infno null (the adapter also reports NHSA-ENV-INFNO for the input it cannot type; the gateway stops at the envelope)", with_("2207", "infno", None), ["FMT-REQUIRED"], ["infno"])
case("infno-empty", "infno empty (the adapter also reports NHSA-ENV-INFNO for the input it cannot type; the gateway stops at the envelope)", with_("2207", "infno", ""), ["FMT-REQUIRED"], ["infno"])

# ================================================================ missing required envelope fields
klass("missing envelope fields")
for f in ("msgid", "mdtrtarea_admvs", "recer_sys_code", "infver", "opter_type", "opter", "opter_name",
          "inf_time", "fixmedins_code", "fixmedins_name", "input"):
    case(f"missing-{f.replace('_', '-')}", f"the envelope without {f}", without("2207", f), ["FMT-REQUIRED"], [f])
case("missing-insuplc-fee-lines", "insuplc_admdvs missing while the fee lines name a psn_no", without("2204", "insuplc_admdvs"),
     ["FMT-REQUIRED"], ["insuplc_admdvs"])
case("null-fixmedins-code", "fixmedins_code null", with_("2207", "fixmedins_code", None), ["FMT-REQUIRED"], ["fixmedins_code"])
case("empty-opter", "opter empty", with_("2207", "opter", ""), ["FMT-REQUIRED"], ["opter"])
case("renamed-msgid-camel", "msgId in camel case: msgid is missing", renamed("2207", "msgid", "msgId"), ["FMT-REQUIRED"], ["msgid"])
case("renamed-data-capital", "Data instead of data in input", renamed("2207", "input.data", "Data"), ["FMT-REQUIRED"], ["input.data"])

# ================================================================ missing or empty required input fields
klass("missing input fields")
case("missing-data-psn-no", "2207 without psn_no", without("2207", "input.data.psn_no"), ["FMT-REQUIRED"], ["input.data.psn_no"])
case("empty-money-required", "medfee_sumamt as \"\" (an empty amount is absent)", with_("2207", "input.data.medfee_sumamt", ""),
     ["FMT-REQUIRED"], ["input.data.medfee_sumamt"])
case("null-fee-line-cnt", "a fee line with cnt null", with_("2204", "input.feedetail[0].cnt", None), ["FMT-REQUIRED"],
     ["input.feedetail[0].cnt"])
case("null-feedetail", "input.feedetail null", with_("2204", "input.feedetail", None), ["FMT-REQUIRED"], ["input.feedetail"])
case("missing-mid-setl-flag", "2304 without mid_setl_flag", without("2304", "input.data.mid_setl_flag"), ["FMT-REQUIRED"],
     ["input.data.mid_setl_flag"])
case("missing-1101-cert-no", "1101 without mdtrt_cert_no", without("1101", "input.data.mdtrt_cert_no"), ["FMT-REQUIRED"],
     ["input.data.mdtrt_cert_no"])

# ================================================================ over-long text
klass("over-long text")
LONG = [
    ("2207", "input.data.mdtrt_id", "4" * 31),
    ("2207", "input.data.chrg_bchno", "CB" + "0" * 29),
    ("2207", "input.data.med_type", "1401040"),
    ("2207", "input.data.acct_used_flag", "0001"),
    ("2207", "input.data.invono", "FP" + "9" * 19),
    ("2204", "input.feedetail[0].feedetl_sn", "F" * 31),
    ("2204", "input.feedetail[1].medins_list_codg", "Z" * 151),
    ("2204", "input.feedetail[0].bilg_dr_name", "王" * 51),
    ("2204", "input.feedetail[0].sin_dos_dscr", "片" * 201),
    ("2201", "input.data.ipt_otp_no", "MZ" + "1" * 29),
    ("2201", "input.data.caty", "A" * 11),
    ("2201", "input.data.dept_name", "内" * 101),
    ("2401", "input.mdtrtinfo.adm_diag_dscr", "阑" * 201),
    ("2401", "input.diseinfo[0].diag_code", "K35.800" + "0" * 14),
    ("1101", "input.data.card_sn", "C" * 33),
    ("1101", "input.data.psn_name", "李" * 51),
    ("2207", "recer_sys_code", "YBXT-GATEWAY"),
    ("2207", "opter", "0" * 31),
    ("2207", "fixmedins_name", "医" * 201),
    ("2207", "dev_no", "D" * 101),
    ("2207", "cainfo", "A" * 1025),
    ("2207", "sign_no", "4" * 31),
    ("2207", "infver", "V1.0.10"),
    ("2207", "opter_type", "1001"),
    ("2207", "input.data.psn_no", "\U0001F600" * 31),
]
for infno, path, value in LONG:
    short = path.split(".")[-1].replace("_", "-")
    short = re.sub(r"\[\d+\]", "", short)
    n = len(value)
    case(f"long-{infno}-{short}", f"{infno} {path} of {n} characters", with_(infno, path, value), ["FMT-LENGTH"], [path])
case("long-cert-token-over-limit", "mdtrt_cert_no as card|token of 1,100 characters (above MDTRT_CERT_NO_MAX_DEFAULT 1024)",
     with_("2207", "input.data.mdtrt_cert_no", "440300199001011234|" + "T" * 1081), ["FMT-LENGTH"], ["input.data.mdtrt_cert_no"])

# ================================================================ money
klass("money")
MONEY = [
    ("three-decimals-ownpay", "2207", "input.data.fulamt_ownpay_amt", D("10.005"), "a third decimal"),
    ("four-decimals", "2207", "input.data.preselfpay_amt", D("5.0001"), "a fourth decimal"),
    ("three-decimals-fee-line", "2204", "input.feedetail[0].det_item_fee_sumamt", D("4.525"), "a fee line with a third decimal"),
    ("three-decimals-text-2304", "2304", "input.data.inscp_scp_amt", "18808.161", "a third decimal in text"),
    ("three-decimals-3201", "3201", "input.data.acct_pay", D("2000.001"), "a 3201 statement amount with a third decimal"),
    ("negative-three-decimals", "2207", "input.data.overlmt_selfpay", "-0.001", "minus a tenth of a fen"),
    ("exponent-not-exact", "2207", "input.data.medfee_sumamt", D("1.00001E2"), "1.00001E2 = 100.001"),
    ("exponent-fraction", "2207", "input.data.preselfpay_amt", D("5e-3"), "5e-3 = half a fen"),
    ("exponent-1e400", "2207", "input.data.medfee_sumamt", Raw("1e400"), "1e400 (a float would say inf)"),
    ("exponent-1e-400", "2207", "input.data.fulamt_ownpay_amt", Raw("1e-400"), "1e-400 (a float would say 0)"),
    ("exponent-huge-text", "2304", "input.data.medfee_sumamt", "9.9e99999999", "an exponent of eight digits in text"),
    ("exponent-over-precision", "2207", "input.data.inscp_scp_amt", D("1e17"), "1e17 exceeds 16,2"),
    ("text-leading-space", "2207", "input.data.medfee_sumamt", " 100.00", "text with a leading space"),
    ("text-trailing-space", "2207", "input.data.medfee_sumamt", "100.00 ", "text with a trailing space"),
    ("text-comma-decimal", "2207", "input.data.medfee_sumamt", "100,00", "a decimal comma in text"),
    ("text-hex", "2207", "input.data.medfee_sumamt", "0x64", "hexadecimal text"),
    ("text-currency-sign", "2207", "input.data.medfee_sumamt", "¥100.00", "a currency sign"),
    ("text-fullwidth-digits", "2207", "input.data.medfee_sumamt", "１００.００", "full-width digits"),
    ("text-infinity", "2207", "input.data.medfee_sumamt", "Infinity", "the text Infinity"),
    ("text-double-minus", "2207", "input.data.fulamt_ownpay_amt", "--10.00", "two minus signs"),
    ("text-leading-dot", "2207", "input.data.preselfpay_amt", ".50", "a leading dot in text"),
    ("text-trailing-dot", "2207", "input.data.preselfpay_amt", "5.", "a trailing dot in text"),
    ("text-fen-suffix", "3201", "input.data.fund_pay_sumamt", "800000分", "an amount in fen with a unit"),
    ("settlement-cap-negative", "2207", "input.data.medfee_sumamt", D("-100000000.01"), "−100,000,000.01 yuan: beyond SETTLEMENT_AMOUNT_FEN_MAX, either sign"),
    ("settlement-cap-2304", "2304", "input.data.medfee_sumamt", D("234424600.00"), "an inpatient settlement of 234 million yuan (a total in fen sent as yuan)"),
    ("settlement-cap-exponent", "2207", "input.data.medfee_sumamt", D("9.9e13"), "9.9e13 yuan: within 16,2 but beyond the settlement cap"),
    ("fee-line-cap-just-over", "2204", "input.feedetail[0].det_item_fee_sumamt", D("10000000.01"), "10,000,000.01 yuan: one fen over FEE_LINE_AMOUNT_FEN_MAX"),
    ("fee-line-150-billion-text", "2204", "input.feedetail[0].det_item_fee_sumamt", "150000000000.00", "150 billion yuan as text"),
    ("fee-line-negative-150-billion", "2204", "input.feedetail[1].det_item_fee_sumamt", D("-150000000000.00"), "a refund line of −150 billion yuan"),
    ("fee-line-cap-exponent", "2204", "input.feedetail[1].det_item_fee_sumamt", D("1.5E11"), "1.5E11 yuan written with an exponent"),
]
for short, infno, path, value, what in MONEY:
    case(f"money-{short}", f"{infno} {path} = {value}: {what}", with_(infno, path, value), ["FMT-MONEY"], [path])

# quantities (num kinds)
klass("quantities")
NUMS = [
    ("cnt-five-decimals", "2204", "input.feedetail[0].cnt", D("2.00001"), "cnt 16,4 with a fifth decimal"),
    ("pric-seven-decimals", "2204", "input.feedetail[0].pric", "2.2600001", "pric 16,6 with a seventh decimal"),
    ("cnt-1e400", "2204", "input.feedetail[1].cnt", Raw("1e400"), "cnt 1e400"),
    ("count-with-fraction", "3201", "input.data.fixmedins_setl_cnt", D("321.5"), "a count of settlements with a fraction"),
    ("count-over-precision", "3201", "input.data.fixmedins_setl_cnt", D("12345678901"), "a count of 11 digits (10,0)"),
    ("diag-srt-no-three-digits", "2401", "input.diseinfo[0].diag_srt_no", "100", "diag_srt_no 2,0 of three digits"),
]
for short, infno, path, value, what in NUMS:
    case(f"num-{short}", f"{infno} {path} = {value}: {what}", with_(infno, path, value), ["FMT-NUMBER"], [path])

# ================================================================ times and dates
klass("times and dates")
TIMES = [
    ("inf-time-2999", "2207", "inf_time", "2999-12-31 23:59:59", "a year 2999 placeholder"),
    ("begntime-2999", "2201", "input.data.begntime", "2999-01-01 00:00:00", "a visit beginning in 2999"),
    ("fee-time-1900", "2204", "input.feedetail[0].fee_ocur_time", "1900-01-01 00:00:00", "a fee in 1900 (a default date)"),
    ("2401-begntime-1900", "2401", "input.mdtrtinfo.begntime", "1900-01-01 08:30:00", "an admission in 1900"),
    ("window-last-second-before", "2207", "inf_time", "1999-12-31 23:59:59", "one second before REQUEST_TIME_NOT_BEFORE"),
    ("window-first-second-after", "2201", "input.data.begntime", "2100-01-01 00:00:00", "the first second of REQUEST_TIME_BEFORE"),
    ("feb-30", "2201", "input.data.begntime", "2024-02-30 09:58:00", "February 30"),
    ("feb-29-not-leap", "2204", "input.feedetail[1].fee_ocur_time", "2023-02-29 10:06:00", "February 29 of a common year"),
    ("april-31", "2401", "input.diseinfo[0].diag_time", "2024-04-31 08:40:00", "April 31"),
    ("hour-24", "2207", "inf_time", "2024-06-01 24:00:00", "24:00:00"),
    ("leap-second", "2201", "input.data.begntime", "2024-06-30 23:59:60", "a leap second 23:59:60"),
    ("minute-60", "2204", "input.feedetail[0].fee_ocur_time", "2024-06-01 10:60:00", "minute 60"),
    ("t-separator", "2201", "input.data.begntime", "2024-06-01T09:58:00", "an ISO T separator"),
    ("timezone-offset", "2207", "inf_time", "2024-06-01 10:30:15+08:00", "a timezone suffix +08:00"),
    ("timezone-z", "2401", "input.mdtrtinfo.begntime", "2024-06-01T00:30:00Z", "UTC with a Z"),
    ("milliseconds", "2204", "input.feedetail[0].fee_ocur_time", "2024-06-01 10:05:00.123", "milliseconds"),
    ("date-where-time-due", "2201", "input.data.begntime", "2024-06-01", "a date where a date-time is due"),
    ("inf-time-date-only", "2207", "inf_time", "2024-06-01", "inf_time as a date only"),
    ("compact-time", "2207", "inf_time", "20240601103015", "the compact msgid layout in inf_time"),
    ("slashes", "2204", "input.feedetail[1].fee_ocur_time", "2024/06/01 10:06:00", "slashes"),
    ("single-digit-fields", "2201", "input.data.begntime", "2024-6-1 9:58:00", "single-digit month, day and hour"),
    ("fullwidth-digits", "1101", "input.data.begntime", "２０２４-０６-０１ ０９:５８:００", "full-width digits"),
    ("year-zero", "2207", "inf_time", "0000-01-01 00:00:00", "year 0000"),
]
for short, infno, path, value, what in TIMES:
    case(f"time-{short}", f"{infno} {path} = \"{value}\": {what}", with_(infno, path, value), ["FMT-DATETIME"], [path])
DATES = [
    ("2999", "3201", "input.data.stmt_enddate", "2999-12-31", "a statement ending in 2999"),
    ("1900", "3201", "input.data.stmt_begndate", "1900-01-01", "a statement beginning in 1900"),
    ("feb-30", "3201", "input.data.stmt_enddate", "2024-02-30", "February 30"),
    ("with-time-of-day", "3201", "input.data.stmt_enddate", "2024-06-30 23:59:59", "a date-time where a date is due"),
    ("iso-with-t", "3201", "input.data.stmt_begndate", "2024-06-01T00:00:00", "an ISO date-time with a T"),
    ("chinese", "3201", "input.data.stmt_begndate", "2024年06月01日", "a date written in Chinese"),
    ("compact", "3201", "input.data.stmt_enddate", "20240630", "a compact date"),
]
for short, infno, path, value, what in DATES:
    case(f"date-{short}", f"{infno} {path} = \"{value}\": {what}", with_(infno, path, value), ["FMT-DATE"], [path])

# ================================================================ region codes
klass("region codes")
REGIONS = [
    ("mdtrtarea-5-digits", "2207", "mdtrtarea_admvs", "44030", "5 digits"),
    ("mdtrtarea-7-digits", "2201", "mdtrtarea_admvs", "4403000", "7 digits"),
    ("mdtrtarea-letter", "2207", "mdtrtarea_admvs", "44O300", "a letter O for a zero"),
    ("mdtrtarea-province-99", "2207", "mdtrtarea_admvs", "990300", "province 99, not the sender's city"),
    ("mdtrtarea-province-00", "2204", "mdtrtarea_admvs", "000000", "province 00"),
    ("mdtrtarea-other-city", "2207", "mdtrtarea_admvs", "440100", "Guangzhou: the sender's province, another city"),
    ("mdtrtarea-other-province", "2304", "mdtrtarea_admvs", "500112", "Chongqing, another province"),
    ("mdtrtarea-other-city-3201", "3201", "mdtrtarea_admvs", "445100", "another city of Guangdong on a 3201"),
    ("mdtrtarea-fullwidth", "2207", "mdtrtarea_admvs", "４４０３００", "full-width digits"),
    ("mdtrtarea-padded", "1101", "mdtrtarea_admvs", " 440300", "a leading space"),
    ("insuplc-5-digits", "2207", "insuplc_admdvs", "44039", "insuplc_admdvs of 5 digits"),
    ("insuplc-letters", "2401", "insuplc_admdvs", "GD0399", "letters"),
    ("insuplc-province-10", "2204", "insuplc_admdvs", "100000", "province 10 (below 11)"),
    ("setl-optins-4-digits", "3201", "input.data.setl_optins", "4403", "3201 setl_optins of 4 digits"),
    ("setl-optins-zero", "3201", "input.data.setl_optins", "000000", "3201 setl_optins 000000"),
]
for short, infno, path, value, what in REGIONS:
    case(f"region-{short}", f"{infno} {path} = \"{value}\": {what} (sender H44030000001, region 440300)",
         with_(infno, path, value), ["FMT-ADMDVS"], [path])

# ================================================================ msgid
klass("msgid layout")
MSGIDS = [
    ("other-institution", "H44030000002202406011030150001", "another institution's code"),
    ("lowercase-code", "h44030000001202406011030150001", "the code in lower case"),
    ("feb-30", CODE + "202402301030150001", "February 30"),
    ("hour-24", CODE + "202406012400000001", "hour 24"),
    ("minute-60", CODE + "202406011060000001", "minute 60"),
    ("second-60", CODE + "202406011030600001", "second 60"),
    ("month-00", CODE + "202400011030150001", "month 00"),
    ("letters-in-sequence", CODE + "20240601103015000A", "a letter in the sequence"),
    ("letters-in-time", CODE + "2024O6011030150001", "a letter O in the time"),
    ("short-sequence-2", CODE + "2024060110301501", "a 2-digit sequence"),
    ("code-only", CODE, "the institution code alone"),
    ("spaces", CODE + " 20240601103015 01", "spaces between the parts"),
    ("fullwidth-sequence", CODE + "20240601103015０００１", "a full-width sequence"),
]
for short, msgid, what in MSGIDS:
    case(f"msgid-{short}", f"msgid \"{msgid}\": {what}", with_("2207", "msgid", msgid), ["FMT-MSGID"], ["msgid"])
case("msgid-long-sequence", "msgid with a 5-digit sequence (31 characters)", with_("2207", "msgid", CODE + "2024060110301500001"),
     ["FMT-LENGTH", "FMT-MSGID"], ["msgid"])
case("msgid-trailing-newline", "msgid with a trailing line feed (31 characters)", with_("2207", "msgid", MSGID + "\n"),
     ["FMT-LENGTH", "FMT-MSGID"], ["msgid"])
case("msgid-uuid", "msgid as a UUID (36 characters, not the national layout)",
     with_("2207", "msgid", "3f2b8c1e-6d4a-4e8b-9c2f-1a7e5d3b9c04"), ["FMT-LENGTH", "FMT-MSGID"], ["msgid"])
case("msgid-empty", "msgid empty", with_("2207", "msgid", ""), ["FMT-REQUIRED"], ["msgid"])

# ================================================================ flags and codes
klass("flags and codes")
CODES = [
    ("acct-used-flag-y", "2207", "input.data.acct_used_flag", "Y"),
    ("acct-used-flag-minus-1", "2207", "input.data.acct_used_flag", "-1"),
    ("acct-used-flag-padded", "2207", "input.data.acct_used_flag", " 1"),
    ("acct-used-flag-01", "2304", "input.data.acct_used_flag", "01"),
    ("mid-setl-flag-2", "2304", "input.data.mid_setl_flag", "2"),
    ("mid-setl-flag-n", "2304", "input.data.mid_setl_flag", "N"),
    ("med-type-99-2401", "2401", "input.mdtrtinfo.med_type", "99"),
    ("med-type-10", "2207", "input.data.med_type", "10"),
    ("med-type-one-digit", "2207", "input.data.med_type", "1"),
    ("med-type-three-digits", "2207", "input.data.med_type", "110"),
    ("med-type-letters", "2207", "input.data.med_type", "1a"),
    ("med-type-trailing-space", "2207", "input.data.med_type", "11 "),
    ("med-type-fullwidth", "2401", "input.mdtrtinfo.med_type", "２１"),
]
for short, infno, path, value in CODES:
    case(f"code-{short}", f"{infno} {path} = \"{value}\": outside its value list", with_(infno, path, value), ["FMT-CODE"], [path])


# ================================================================ found by this corpus, refused since
klass("found by the corpus")


def with_all(infno, changes):
    """The base with every `(path, value)` of `changes` set."""
    r = base(infno)
    for path, value in changes:
        p, k = parent(r, path)
        p[k] = value
    return r


case("fee-line-cnt-times-pric", "2204 line: cnt 1500000 × pric 100000.00 (150 billion yuan) while det_item_fee_sumamt says 95.48",
     with_all("2204", [("input.feedetail[0].cnt", Decimal("1500000")), ("input.feedetail[0].pric", Decimal("100000.00"))]),
     ["FMT-MONEY"], ["input.feedetail[0].pric"])
case("settlement-negative-total", "2207 medfee_sumamt -100.00: a settlement's total is never negative",
     with_("2207", "input.data.medfee_sumamt", Decimal("-100.00")), ["FMT-MONEY"], ["input.data.medfee_sumamt"])
case("msgid-year-1900", "msgid time 1900-01-01 00:00:00: outside the plausible window",
     with_("2207", "msgid", "H44030000001" + "19000101000000" + "0001"), ["FMT-MSGID"], ["msgid"])
case("msgid-year-2999", "msgid time 2999-12-31 23:59:59: outside the plausible window",
     with_("2207", "msgid", "H44030000001" + "29991231235959" + "0001"), ["FMT-MSGID"], ["msgid"])

# ================================================================ write
def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def write_case(d, c, rules, paths):
    d.mkdir(parents=True)
    (d / "input.json").write_bytes(c["input"])
    lines = ['dialect = "nhsa"', 'kind = "request"', f"description = {toml_str(c['description'])}", "",
             "[expected]", 'outcome = "reject"', "rules = [" + ", ".join(toml_str(r) for r in rules) + "]"]
    if paths:
        lines.append("paths = [" + ", ".join(toml_str(p) for p in paths) + "]")
    (d / "case.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_bases(out):
    """The valid bases as accept cases (expected from nhsa_oracle), to check them first."""
    if out.exists():
        shutil.rmtree(out)
    for i, infno in enumerate(BASE_INFNOS, 1):
        d = out / f"{i:03d}-base-{infno}"
        d.mkdir(parents=True)
        t = text(base(infno))
        (d / "input.json").write_text(t, encoding="utf-8")
        (d / "expected.json").write_text(nhsa.dumps(oracle.request(nhsa.loads(t)), indent=2) + "\n", encoding="utf-8")
        (d / "case.toml").write_text(
            f'dialect = "nhsa"\nkind = "request"\ndescription = "the valid {infno} base of the hostile corpus"\n\n'
            '[expected]\noutcome = "accept"\n', encoding="utf-8")
    print(f"wrote {len(BASE_INFNOS)} bases to {out}")


def main(argv):
    if len(argv) == 3 and argv[1] == "--bases":
        return write_bases(pathlib.Path(argv[2]))
    probe = len(argv) == 3 and argv[1] == "--probe"
    out = pathlib.Path(argv[2]) if probe else OUT_DIR
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for c in CASES:
        if probe:
            write_case(out / c["name"], c, ["PROBE"], [])
        else:
            write_case(out / c["name"], c, c["rules"], c["paths"])
    counts = {}
    for n in names:
        counts[CLASS_OF[n]] = counts.get(CLASS_OF[n], 0) + 1
    for k, v in counts.items():
        print(f"{v:4d}  {k}")
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main(sys.argv)
