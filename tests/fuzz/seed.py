#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into DIR/<target>/ from the repository's real
inputs (conformance cases, legacy and bank fixtures, specs/**/*.toml, the samples in
tests/fuzz/seeds/). Each seed carries the selector its target reads (first byte, or for
`legacy` a first line `<profile> <transaction>`): see tests/fuzz/src/lib.rs.

usage: seed.py DIR
"""
import base64
import hashlib
import io
import json
import pathlib
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "fuzz" / "seeds"

# Selector orders: keep in step with CONFIG_KINDS, CSV_KINDS and bank_receipts() in src/lib.rs.
CONFIG = {
    0: ["tests/fuzz/seeds/medsettle.toml"],
    1: ["specs/sample/institutions.toml"],
    2: ["specs/bank/*.toml"],
    3: ["specs/legacy/*.toml"],
    4: ["specs/sample/settlement-policy.toml", "specs/settlement/*.toml"],
    5: ["specs/policy/example.toml", "specs/sample/policy.toml"],
    6: ["specs/policy/catalogue-example.toml", "specs/sample/catalogue.toml"],
    7: ["specs/policy/persons-example.toml", "specs/sample/persons.toml"],
    8: ["specs/calendar/*.toml"],
    9: ["specs/sample/institutions.toml"],
}
CSV = {
    0: "declarations.csv",
    1: "deductions.csv",
    2: "advances.csv",
    3: "special_cases.csv",
    4: "dip_cases.csv",
    5: "stmt3202.csv",
}


def files(pattern):
    return sorted(p for p in ROOT.glob(pattern) if p.is_file())


def main(out):
    out = pathlib.Path(out)
    n = {}

    def put(target, data):
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        n[target] = n.get(target, 0) + 1

    # 1. national messages: every conformance input (requests, responses, exchanges)
    for p in files("conformance/cases/**/input.*"):
        put("nhsa", p.read_bytes())

    # 2. 9101: the detail file as text and zipped, as base64 / byte array / whole input
    text = (SEEDS / "detail_9101.txt").read_bytes()
    zips = []
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", method) as z:
            z.writestr("detail.txt", text)
        zips.append(b.getvalue())
    gbk = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,acct_pay,refd_setl_flag\n" \
          "S1,M1,张三,1.00,0.50,0.00,0\n"
    for body in [text, gbk.encode("gbk"), b"\xef\xbb\xbf" + text] + zips:
        put("upload_9101", b"\x00" + body)
        put("upload_9101", b"\x01" + body)
    for body in [text] + zips:
        inp = {"fsUploadIn": {"in": base64.b64encode(body).decode(), "filename": "d.zip",
                              "fixmedins_code": "H44030300001"}}
        put("upload_9101", b"\x02" + json.dumps(inp).encode())

    # 3. bank receipts: every golden file under every decoder
    golden = files("adapters/bank/tests/golden/*")
    for p in golden:
        for sel in range(10):  # 5 decoders x (default limits, tight limits)
            put("bank_receipts", bytes([sel]) + p.read_bytes())

    # 4. triggers: one valid trigger per golden file, and a few near misses
    for p in golden:
        data = p.read_bytes()
        t = (f"file_name={p.name}\nsize_bytes={len(data)}\n"
             f"sha256={hashlib.sha256(data).hexdigest()}\ncount=3\ncontrol_sum=1234.56\n")
        put("trigger", t.encode())
    put("trigger", b"file_name=a.txt\nsize_bytes=0\nsha256=" + b"0" * 64 + b"\ncount=0\ncontrol_sum=0.00\n")
    put("trigger", b"file_name=a.txt\nsize_bytes=1\nsha256=" + b"f" * 64 + b"\ncount=1\ncontrol_sum=1.5\n")

    # 5. configuration
    for sel, patterns in CONFIG.items():
        for pat in patterns:
            for p in files(pat):
                put("config", bytes([sel]) + p.read_bytes())

    # 6. legacy: every fixture, under "<profile> <transaction>" from its name
    for p in files("adapters/legacy/tests/fixtures/*/*.xml"):
        profile = p.parent.name
        tx = p.stem.split("-")[0]
        put("legacy", f"{profile} {tx}\n".encode() + p.read_bytes())

    # 7. settlement CSV
    for sel, name in CSV.items():  # plain, and of the period 2025-10 (sel + 6)
        put("settlement_csv", bytes([sel]) + (SEEDS / name).read_bytes())
        put("settlement_csv", bytes([sel + 6]) + (SEEDS / name).read_bytes())

    # 8. amounts
    for line in (SEEDS / "money.txt").read_bytes().splitlines():
        put("money", line)

    for t, c in sorted(n.items()):
        print(f"{t}: {c} seeds")


if __name__ == "__main__":
    main(sys.argv[1])
