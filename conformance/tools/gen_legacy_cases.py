#!/usr/bin/env python3
"""Writes conformance/cases/legacy-<profile>/ for the four built-in legacy profiles.

The expected outcomes are written from the reference (legacy-and-cross-region.md §1–§3, §5;
nhsa-interface.md §2) and the profile documentation (specs/legacy/*.toml, README.md): the
field map of each transaction is spelled out again below, by hand, and never taken from the
Rust code. Inputs are the exact bytes a HIS sends: GBK where the dialect is GBK.

Re-run after editing (numbering follows declaration order):
    python3 conformance/tools/gen_legacy_cases.py
"""
import json
import os
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cases")

# ----------------------------------------------------------------------------- helpers


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


class Suite:
    def __init__(self, profile):
        self.profile = profile
        self.dir = os.path.join(ROOT, f"legacy-{profile}")
        self.n = 0
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)

    def case(self, name, description, tx, body, *, kind="request", args=None, expected=None,
             rules=None, fields=None, options=None, outputs=None, xml=None):
        self.n += 1
        d = os.path.join(self.dir, f"{self.n:03d}-{name}")
        os.makedirs(d)
        lines = [f'dialect = "legacy:{self.profile}"', f'kind = "{kind}"',
                 f"description = {toml_value(description)}", f"transaction = {toml_value(tx)}"]
        if args:
            lines.append("")
            lines.append("[args]")
            for k, v in args.items():
                lines.append(f"{k} = {toml_value(v)}")
        lines.append("")
        lines.append("[expected]")
        if rules:
            lines.append('outcome = "reject"')
            lines.append(f"rules = {toml_value(rules)}")
            if fields:
                lines.append(f"fields = {toml_value(fields)}")
        else:
            lines.append('outcome = "accept"')
        if options:
            lines.append("")
            lines.append("[options]")
            for k, v in options.items():
                lines.append(f"{k} = {toml_value(v)}")
        with open(os.path.join(d, "case.toml"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(d, "input.xml"), "wb") as f:
            f.write(body)
        if expected is not None:
            with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
                json.dump(expected, f, ensure_ascii=False, indent=1)
                f.write("\n")
        if outputs is not None:
            with open(os.path.join(d, "outputs.json"), "w", encoding="utf-8") as f:
                f.write(outputs if isinstance(outputs, str) else json.dumps(outputs, ensure_ascii=False))
        if xml is not None:
            with open(os.path.join(d, "expected.xml"), "wb") as f:
                f.write(xml)


def el(name, value):
    return f"<{name}>{value}</{name}>"


def els(pairs):
    return "".join(el(k, v) for k, v in pairs if v is not None)


def gbk(s):
    return s.encode("gbk")


def gb18030(s):
    return s.encode("gb18030")


def utf8(s):
    return s.encode("utf-8")


def money(text):
    """A legacy amount (2 decimals, or 4 ending in 00) as the national 2-decimal string."""
    neg = text.startswith("-")
    t = text[1:] if neg else text
    i, _, f = t.partition(".")
    f = (f + "00")[:2]
    return ("-" if neg else "") + str(int(i)) + "." + f


def fen_text(v):
    """A national amount (JSON number text or string) formatted with 2 decimals."""
    s = str(v)
    neg = s.startswith("-")
    t = s[1:] if neg else s
    i, _, f = t.partition(".")
    assert all(c == "0" for c in f[2:]), s
    f = (f + "00")[:2]
    return ("-" if neg else "") + str(int(i or "0")) + "." + f


def quantity(text, scale):
    i, _, f = text.partition(".")
    if len(f) > scale:
        f = f[:scale]
        return i + ("." + f if f else "")
    return text


def compact_to_national(s):
    """YYYYMMDDHH24MISS → yyyy-MM-dd HH:mm:ss."""
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]} {s[8:10]}:{s[10:12]}:{s[12:14]}"


def national_to_compact(s):
    return s.replace("-", "").replace(" ", "").replace(":", "")


def call(profile, tx, encoding, steps, *, definition=None, kind="national", two_phase=False,
         sender_serial=None, reverses=None, fixmedins_code=None, insuplc_admdvs=None,
         mdtrtarea_admvs=None, psn_no=None, opter=None, opter_name=None, repairs=(), derived=()):
    return {
        "profile": profile,
        "transaction": tx,
        "definition": definition or tx,
        "encoding": encoding,
        "kind": kind,
        "two_phase": two_phase,
        "sender_serial": sender_serial,
        "reverses": reverses,
        "fixmedins_code": fixmedins_code,
        "insuplc_admdvs": insuplc_admdvs,
        "mdtrtarea_admvs": mdtrtarea_admvs,
        "psn_no": psn_no,
        "opter": opter,
        "opter_name": opter_name,
        "steps": steps,
        # the runner compares notes by the field they name; `what` is prose
        "repairs": [{"field": f} for f in repairs],
        "derived": [{"field": f} for f in derived],
    }


def step(infno, inp, carry=(), lookup=()):
    s = {"infno": infno, "input": inp, "carry": [
        {"from_step": a, "from": b, "to": c} for a, b, c in carry]}
    if lookup:
        s["lookup"] = [{"from_step": a, "from": b, "to": c} for a, b, c in lookup]
    return s


def drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


# Hostile documents shared by every profile
DEEP = "<input>" + "<a>" * 30 + "x" + "</a>" * 30 + "</input>"
WIDE = "<input " + " ".join(f'a{i}="x"' for i in range(100)) + "/>"
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><input>&lol3;</input>')
DOCTYPE = '<?xml version="1.0"?><!DOCTYPE input SYSTEM "http://example.invalid/x.dtd"><input/>'

# ----------------------------------------------------------------------------- code tables
# From the reference (§1A, §2, §3) as documented in specs/legacy/*.toml.

GZ_AKA130 = {"11": "11", "18": "14", "31": "21", "M31": "52", "M11": "51", "M13": "53", "M12": "53"}
GZ_YKB065 = {"1": "310", "2": "310", "3": "390", "4": "340"}
GZ_AKC021 = {"11": "1101", "12": "1101", "21": "1201", "22": "1201", "31": "1300", "32": "1360", "33": "1300"}
YIBIN = {"11": "09", "12": "11", "13": "10", "21": "03", "29": "05", "31": "07", "32": "01", "38": "01",
         "40": "03", "41": "08", "50": "05", "60": "05", "81": "08", "91": "14", "92": "14"}
SELF_PAY_YIBIN = {"92"}
AKA065 = {"1": "1", "2": "2", "3": "3", "4": "2"}
HEBEI_AKA063 = {"01": "09", "02": "10", "03": "11", "04": "06", "05": "04", "06": "03", "07": "05",
                "08": "08", "09": "09", "10": "14", "11": "14", "12": "01", "13": "03", "14": "05",
                "15": "05", "16": "14", "17": "06", "18": "03", "19": "05", "20": "14", "21": "14"}
SELF_PAY_HEBEI = {"10", "21"}
SJZ_AKA130 = {"11": "11", "13": "13", "14": "14", "21": "21", "51": "51", "52": "52"}
SJZ_AAE140 = {"0": "310", "310": "310", "390": "390", "340": "340", "1": "310", "2": "310", "3": "390", "4": "340"}
YD_AKA130 = {"11": "11", "13": "13", "14": "14", "21": "21", "25": "21", "52": "52"}
YD_INPATIENT = {"21", "25", "52"}
YD_AAE140 = {"310": "310", "390": "390", "340": "340"}
OTHER_AKA111 = {"01": "09", "02": "10", "03": "04", "04": "03", "05": "05", "06": "03", "07": "06",
                "08": "05", "09": "01", "10": "07", "11": "08", "12": "14", "13": "12", "99": "14"}

# ============================================================================= guizhou

GZ_DECL = '<?xml version="1.0" encoding="GBK" standalone="yes" ?>'


def gz_doc(pairs, rows=None, decl=GZ_DECL, prefix="prm_", proxy=True, sep=""):
    body = sep.join(el(prefix + k, v) for k, v in pairs if v is not None)
    if rows is not None:
        body += "<dataset>" + "".join("<row>" + els(r) + "</row>" for r in rows) + "</dataset>"
    if proxy:
        body += "<proxy>1</proxy>"
    return decl + "<input>" + body + "</input>"


GZ41 = [("akc190", "ZY9901202405000001"), ("yab003", "9901"), ("aka130", "31"), ("ykb065", "1"),
        ("hisfyze", "12345.67"), ("yka110", "FP00000001"), ("aae013", "出院结算"), ("aae011", "0001"),
        ("ykc141", "测试员"), ("aac001", "9900000001")]


def with_(pairs, **kw):
    out = []
    seen = set()
    for k, v in pairs:
        if k in kw:
            seen.add(k)
            if kw[k] is not None:
                out.append((k, kw[k]))
        else:
            out.append((k, v))
    for k, v in kw.items():
        if k not in seen and v is not None:
            out.append((k, v))
    return out


def gz_settle_expected(pairs, infno, repairs=("proxy",), encoding="Gbk", invono=True):
    v = dict(pairs)
    data = {"mdtrt_id": v["akc190"], "psn_no": v["aac001"], "med_type": GZ_AKA130[v["aka130"]],
            "insutype": GZ_YKB065[v["ykb065"]], "medfee_sumamt": money(v["hisfyze"])}
    if invono and v.get("yka110"):
        data["invono"] = v["yka110"]
    data.update({"mdtrt_cert_type": "03", "mdtrt_cert_no": v["aac001"], "psn_setlway": "01",
                 "acct_used_flag": "1", "mid_setl_flag": "0"})
    derived = [f"{infno}/data/{f}" for f in
               ("mdtrt_cert_type", "mdtrt_cert_no", "psn_setlway", "acct_used_flag", "mid_setl_flag")]
    tx = "41" if infno == "2304" else "43"
    return call("guizhou", tx, encoding, [step(infno, {"data": data})], two_phase=(tx == "41"),
                psn_no=v["aac001"], opter=v.get("aae011"), opter_name=v.get("ykc141"),
                repairs=list(repairs), derived=derived)


GZ_ROW1 = [("yka105", "M0001"), ("yke123", "2024-05-11 08:00:00"), ("yka002", "XA01ABD075A002010100483"),
           ("ykd125", "YP0001"), ("yka315", "45.20"), ("akc226", "2"), ("akc225", "22.60"),
           ("yka097", "0501"), ("yka098", "外科"), ("ykd102", "D0101"), ("yka099", "赵医生"),
           ("aka063", "11"), ("aka065", "1")]
GZ_ROW2 = [("yka105", "M0002"), ("yke123", "2024-05-11 09:00:00"), ("yka002", "110200001"),
           ("ykd125", "CW001"), ("yka315", "60.00"), ("akc226", "1.0000"), ("akc225", "60.000000"),
           ("yka097", "0501"), ("yka098", "外科"), ("ykd102", "D0101"), ("yka099", "赵医生"),
           ("aka063", "92")]

GZ31_SCALARS = [("akc190", "ZY9901202405000001"), ("aka130", "31"), ("yab003", "9901"),
                ("aac001", "9900000001"), ("ykb065", "1")]


def gz_fee_line(r, scalars=None, step_rows=False):
    r = dict(r)
    line = {}
    if scalars is not None:
        line["mdtrt_id"] = scalars["akc190"]
        line["psn_no"] = scalars["aac001"]
        line["med_type"] = GZ_AKA130[scalars["aka130"]]
    line.update({"feedetl_sn": r["yka105"], "fee_ocur_time": r["yke123"], "med_list_codg": r["yka002"],
                 "medins_list_codg": r["ykd125"], "det_item_fee_sumamt": money(r["yka315"]),
                 "cnt": quantity(r["akc226"], 4), "pric": quantity(r["akc225"], 6)})
    for k, n in (("yka097", "bilg_dept_codg"), ("yka098", "bilg_dept_name"), ("ykd102", "bilg_dr_codg"),
                 ("yka099", "bilg_dr_name"), ("yka100", "acord_dept_codg"), ("yka101", "acord_dept_name"),
                 ("ykd106", "orders_dr_code"), ("yka102", "orders_dr_name"), ("yke186", "hosp_appr_flag"),
                 ("yke201", "tcmdrug_used_way")):
        if r.get(k):
            line[n] = r[k]
    if r.get("aka063"):
        line["med_chrgitm_type"] = YIBIN[r["aka063"]]
    if r.get("aka065"):
        line["chrgitm_lv"] = AKA065[r["aka065"]]
    if r.get("aka063") in SELF_PAY_YIBIN:
        line["chrgitm_lv"] = "3"
    return line


def gz31_expected(scalars, rows, repairs=("proxy",)):
    s = dict(scalars)
    lines = [gz_fee_line(r, s) for r in rows]
    return call("guizhou", "31", "Gbk", [step("2301", {"feedetail": lines})], psn_no=s["aac001"],
                repairs=list(repairs))


GZ48 = [("aac001", "9900000001"), ("ykb065", "1"), ("aka130", "11"), ("akc021", "11"),
        ("ykc010", "MZ20240511001"), ("aae036", "2024-05-11 07:55:00"), ("yka097", "0301"),
        ("yka098", "内科"), ("ykd102", "D0012"), ("yka099", "王医生"), ("hisfyze", "105.20"),
        ("yka110", "FP00000002"), ("aae011", "0001"), ("ykc141", "测试员")]
GZ48_ROW1 = [p for p in GZ_ROW1 if p[0] not in ("yka097", "yka098", "ykd102", "yka099")]
GZ48_ROW2 = GZ_ROW2


def gz48_expected(pairs, rows, repairs=("proxy",)):
    v = dict(pairs)
    reg = {"psn_no": v["aac001"], "insutype": GZ_YKB065[v["ykb065"]]}
    if v.get("akc021"):
        reg["psn_type"] = GZ_AKC021[v["akc021"]]
    reg.update({"ipt_otp_no": v["ykc010"], "dept_code": v["yka097"], "dept_name": v["yka098"],
                "atddr_no": v["ykd102"], "dr_name": v["yka099"], "mdtrt_cert_type": "03",
                "mdtrt_cert_no": v["aac001"], "caty": v["yka097"]})
    derived = ["2201/data/mdtrt_cert_type", "2201/data/mdtrt_cert_no", "2201/data/caty"]
    if v.get("aae036"):
        reg["begntime"] = v["aae036"]
    else:
        reg["begntime"] = dict(rows[0])["yke123"]
        derived.append("2201/data/begntime")
    lines = []
    defaults_used = set()
    for r in rows:
        line = gz_fee_line(r)
        line["psn_no"] = v["aac001"]
        line["chrg_bchno"] = "1"
        line["rx_circ_flag"] = "0"
        for n, src in (("bilg_dept_codg", "dept_code"), ("bilg_dept_name", "dept_name"),
                       ("bilg_dr_codg", "atddr_no"), ("bilg_dr_name", "dr_name")):
            if n not in line:
                line[n] = reg[src]
                defaults_used.add(n)
        if "hosp_appr_flag" not in line:
            line["hosp_appr_flag"] = "0"
            defaults_used.add("hosp_appr_flag")
        line["mdtrt_id"] = ""
        lines.append(line)
    derived += ["2204/feedetail/*/chrg_bchno", "2204/feedetail/*/rx_circ_flag"]
    derived += [f"2204/feedetail/*/{n}" for n in sorted(defaults_used)]
    settle = {"psn_no": v["aac001"], "insutype": GZ_YKB065[v["ykb065"]], "med_type": GZ_AKA130[v["aka130"]],
              "medfee_sumamt": money(v["hisfyze"])}
    if v.get("yka110"):
        settle["invono"] = v["yka110"]
    settle.update({"mdtrt_cert_type": "03", "mdtrt_cert_no": v["aac001"], "psn_setlway": "01",
                   "chrg_bchno": "1", "acct_used_flag": "1", "mdtrt_id": ""})
    derived += [f"2207/data/{f}" for f in
                ("mdtrt_cert_type", "mdtrt_cert_no", "psn_setlway", "chrg_bchno", "acct_used_flag")]
    carry1 = [(0, "/data/mdtrt_id", f"/feedetail/{i}/mdtrt_id") for i in range(len(rows))]
    steps = [step("2201", {"data": reg}), step("2204", {"feedetail": lines}, carry1),
             step("2207", {"data": settle}, [(0, "/data/mdtrt_id", "/data/mdtrt_id")])]
    return call("guizhou", "48", "Gbk", steps, two_phase=True, psn_no=v["aac001"], opter=v.get("aae011"),
                opter_name=v.get("ykc141"), repairs=list(repairs), derived=derived)


GZ21 = [("aac001", "9900000001"), ("ykb065", "1"), ("aka130", "31"), ("akc192", "2024-05-10"),
        ("ykc010", "ZY20240510001"), ("akc193", "K35.800"), ("akc140", "急性阑尾炎"), ("yka097", "0501"),
        ("yka098", "外科"), ("ykd102", "D0101"), ("yka099", "赵医生"), ("akc030", "12"),
        ("aae011", "0001"), ("ykc141", "测试员")]


def gz21_expected(pairs, repairs=("proxy", "prm_akc192")):
    v = dict(pairs)
    t = v["akc192"] if len(v["akc192"]) == 19 else v["akc192"] + " 00:00:00"
    name = v.get("akc140") or v["akc193"]
    info = {"psn_no": v["aac001"], "insutype": GZ_YKB065[v["ykb065"]], "med_type": GZ_AKA130[v["aka130"]],
            "begntime": t, "ipt_no": v["ykc010"], "dscg_maindiag_code": v["akc193"],
            "dscg_maindiag_name": name, "adm_diag_dscr": name, "adm_dept_codg": v["yka097"],
            "adm_dept_name": v["yka098"], "atddr_no": v["ykd102"], "chfpdr_name": v["yka099"],
            "adm_bed": v.get("akc030") or "0", "mdtrt_cert_type": "03", "mdtrt_cert_no": v["aac001"]}
    if v.get("ykc009"):
        info["medrcdno"] = v["ykc009"]
    dise = {"psn_no": v["aac001"], "diag_time": t, "diag_code": v["akc193"], "diag_name": name,
            "diag_dept": v["yka098"], "dise_dor_no": v["ykd102"], "dise_dor_name": v["yka099"],
            "diag_type": "1", "maindiag_flag": "1", "diag_srt_no": "1"}
    derived = ["2401/mdtrtinfo/mdtrt_cert_type", "2401/mdtrtinfo/mdtrt_cert_no"]
    if not v.get("akc140"):
        derived += ["2401/mdtrtinfo/dscg_maindiag_name", "2401/mdtrtinfo/adm_diag_dscr", "2401/diseinfo/0/diag_name"]
    if not v.get("akc030"):
        derived.append("2401/mdtrtinfo/adm_bed")
    derived += ["2401/diseinfo/0/diag_type", "2401/diseinfo/0/maindiag_flag", "2401/diseinfo/0/diag_srt_no"]
    return call("guizhou", "21", "Gbk", [step("2401", {"mdtrtinfo": info, "diseinfo": [dise]})],
                psn_no=v["aac001"], opter=v.get("aae011"), opter_name=v.get("ykc141"),
                repairs=list(repairs), derived=derived)


OUT_2304 = {"setlinfo": {"mdtrt_id": "ZY9901202405000001", "setl_id": "JS9901202405000001",
                         "psn_no": "9900000001", "psn_name": "张三", "gend": "1", "psn_type": "1101",
                         "setl_time": "2024-05-20 10:30:00", "medfee_sumamt": 12345.67,
                         "fulamt_ownpay_amt": 345.67, "preselfpay_amt": 500.00, "inscp_scp_amt": 11500.00,
                         "act_pay_dedc": 800.00, "hifp_pay": 9095.00, "hifob_pay": 0, "cvlserv_pay": 0,
                         "fund_pay_sumamt": 9095.00, "psn_part_amt": 3250.67, "acct_pay": 1000.00,
                         "psn_cash_pay": 2250.67, "balc": 234.56, "clr_optins": "990100", "clr_way": "1",
                         "clr_type": "21"},
            "setldetail": [{"fund_pay_type": "310100", "fund_payamt": 9095.00}]}
# the JSON text with the decimals as the platform writes them (12345.67, 500.00 …)
OUT_2304_TEXT = ('{"setlinfo":{"mdtrt_id":"ZY9901202405000001","setl_id":"JS9901202405000001","psn_no":"9900000001",'
                 '"psn_name":"%s","gend":"1","psn_type":"%s","setl_time":"2024-05-20 10:30:00","medfee_sumamt":12345.67,'
                 '"fulamt_ownpay_amt":345.67,"preselfpay_amt":500.00,"inscp_scp_amt":11500.00,"act_pay_dedc":800.00,'
                 '"hifp_pay":9095.00,"hifob_pay":0,"hifmi_pay":%s,"cvlserv_pay":0,"fund_pay_sumamt":9095.00,"psn_part_amt":3250.67,'
                 '"acct_pay":1000.00,"psn_cash_pay":2250.67,"balc":234.56,"clr_optins":"990100","clr_way":"1","clr_type":"21"},'
                 '"setldetail":[{"fund_pay_type":"310100","fund_payamt":9095.00}]}')


def gz_answer(fields, encoding="GBK"):
    body = "".join(el("prm_" + k, v) for k, v in fields)
    return f'<?xml version="1.0" encoding="{encoding}" standalone="yes" ?><output>{body}</output>'


def gz41_answer_fields(name="张三", psn_type_legacy="11", yka062="0.00"):
    return [("akc190", "ZY9901202405000001"), ("yka103", "JS9901202405000001"), ("aac001", "9900000001"),
            ("aac003", name), ("aac004", "1"), ("akc021", psn_type_legacy), ("aae036", "2024-05-20 10:30:00"),
            ("yka055", "12345.67"), ("yka056", "345.67"), ("yka057", "500.00"), ("yka111", "11500.00"),
            ("yka058", "800.00"), ("yka248", "9095.00"), ("yka062", yka062), ("yke030", "0.00"),
            ("yka065", "1000.00"), ("akc087", "234.56"), ("ykb037", "990100"), ("yka054", "1")]


def guizhou():
    s = Suite("guizhou")
    gz41 = gbk(gz_doc(GZ41))
    # --- valid flows, one per transaction
    s.case("41-fixture-5-1", "§5.1 inpatient settlement, verbatim: → 2304 with the defaults derived",
           "41", gbk(GZ_DECL + "\n" + gz_doc(GZ41, decl="")), expected=gz_settle_expected(GZ41, "2304"))
    s.case("03-card", "03 身份识别 by card number → 1101 (mdtrt_cert_type 03)", "03",
           gbk(gz_doc([("akb020", "H99010000001"), ("akc020", "C99000001"), ("aac003", "张三"),
                       ("aae011", "0001"), ("ykc141", "测试员")])),
           expected=call("guizhou", "03", "Gbk", [step("1101", {"data": {
               "mdtrt_cert_no": "C99000001", "psn_name": "张三", "mdtrt_cert_type": "03"}})],
               fixmedins_code="H99010000001", opter="0001", opter_name="测试员", repairs=["proxy"],
               derived=["1101/data/mdtrt_cert_type"]))
    s.case("03-id-number", "03 by ID number aac002 → 1101 (mdtrt_cert_type 02, psn_cert_type 01)", "03",
           gbk(gz_doc([("aac002", "990101199001010000")])),
           expected=call("guizhou", "03", "Gbk", [step("1101", {"data": {
               "mdtrt_cert_no": "990101199001010000", "certno": "990101199001010000",
               "mdtrt_cert_type": "02", "psn_cert_type": "01"}})], repairs=["proxy"],
               derived=["1101/data/mdtrt_cert_type", "1101/data/psn_cert_type"]))
    s.case("21-admission", "21 入院办理 → 2401; the admission date is a date (read as midnight)", "21",
           gbk(gz_doc(GZ21)), expected=gz21_expected(GZ21))
    p21 = with_(GZ21, akc140=None, akc030=None, akc192="2024-05-10 08:30:00")
    s.case("21-admission-defaults", "21 without diagnosis name and bed: the code and bed 0 derived", "21",
           gbk(gz_doc(p21)), expected=gz21_expected(p21, repairs=("proxy",)))
    s.case("31-fee-upload", "31 费用明细写入: scalars without prefix, two dataset rows → 2301", "31",
           gbk(gz_doc(GZ31_SCALARS, rows=[GZ_ROW1, GZ_ROW2], prefix="")),
           expected=gz31_expected(GZ31_SCALARS, [GZ_ROW1, GZ_ROW2]))
    s.case("42-settlement-reversal", "42 结算回退 → 2305 by yka103", "42",
           gbk(gz_doc([("akc190", "ZY9901202405000001"), ("yka103", "JS9901202405000001"),
                       ("aac001", "9900000001"), ("aae011", "0001"), ("ykc141", "测试员")])),
           expected=call("guizhou", "42", "Gbk", [step("2305", {"data": {
               "mdtrt_id": "ZY9901202405000001", "setl_id": "JS9901202405000001", "psn_no": "9900000001"}})],
               psn_no="9900000001", opter="0001", opter_name="测试员", repairs=["proxy"]))
    p43 = [p for p in GZ41 if p[0] != "yka110"]
    s.case("43-pre-settlement", "43 住院模拟结算 → 2303", "43", gbk(gz_doc(p43)),
           expected=gz_settle_expected(p43, "2303"))
    s.case("48-outpatient", "48 门诊结算 → 2201 → 2204 → 2207, mdtrt_id carried from 2201", "48",
           gbk(gz_doc(GZ48, rows=[GZ48_ROW1, GZ48_ROW2])), expected=gz48_expected(GZ48, [GZ48_ROW1, GZ48_ROW2]))
    p48 = with_(GZ48, aae036=None, akc021=None)
    s.case("48-outpatient-no-visit-time", "48 without aae036: 2201 begntime = the first line's time", "48",
           gbk(gz_doc(p48, rows=[GZ48_ROW1])), expected=gz48_expected(p48, [GZ48_ROW1]))
    for tx, pairs, kind in (
            ("confirm", [("jylsh", "41C9901TEST0001"), ("jyyzm", "123456")],
             {"confirm": {"jylsh": "41C9901TEST0001", "jyyzm": "123456"}}),
            ("cancel", [("jylsh", "41C9901TEST0001")], {"cancel": {"jylsh": "41C9901TEST0001"}}),
            ("getuncertaintytrade", [("jybh", "41")], {"uncertain": {"jybh": "41"}})):
        s.case(f"{tx}", f"two-phase control call {tx}: no national step", tx, gbk(gz_doc(pairs)),
               expected=call("guizhou", tx, "Gbk", [], kind=kind, repairs=["proxy"]))
    # --- every recode table entry
    for code in GZ_AKA130:
        p = with_(GZ41, aka130=code)
        s.case(f"recode-aka130-{code}", f"aka130 {code} → med_type {GZ_AKA130[code]}", "41", gbk(gz_doc(p)),
               expected=gz_settle_expected(p, "2304"))
    for code in GZ_YKB065:
        p = with_(GZ41, ykb065=code)
        s.case(f"recode-ykb065-{code}", f"ykb065 {code} → insutype {GZ_YKB065[code]}", "41", gbk(gz_doc(p)),
               expected=gz_settle_expected(p, "2304"))
    for code in GZ_AKC021:
        p = with_(GZ48, akc021=code)
        s.case(f"recode-akc021-{code}", f"akc021 {code} → psn_type {GZ_AKC021[code]} (2201)", "48",
               gbk(gz_doc(p, rows=[GZ48_ROW1])), expected=gz48_expected(p, [GZ48_ROW1]))
    rows = []
    codes = list(YIBIN)
    lv = list(AKA065)
    for i, code in enumerate(codes):
        r = with_(GZ_ROW1, yka105=f"M{i + 1:04d}", aka063=code, aka065=lv[i % 4])
        rows.append(r)
    s.case("recode-aka063-yibin-all", "every aka063 (Yinhai two-digit) and aka065 entry; 92 自费 → 14 + chrgitm_lv 3",
           "31", gbk(gz_doc(GZ31_SCALARS, rows=rows, prefix="")), expected=gz31_expected(GZ31_SCALARS, rows))
    for code, rule_msg in (("G11", "work injury"), ("G31", "work injury")):
        s.case(f"recode-aka130-{code}-refused", f"aka130 {code}: {rule_msg} is not medical insurance", "41",
               gbk(gz_doc(with_(GZ41, aka130=code))), rules=["LEG-RECODE"], fields=["prm_aka130"])
    s.case("recode-aka130-unknown", "aka130 77 is in no table", "41", gbk(gz_doc(with_(GZ41, aka130="77"))),
           rules=["LEG-RECODE"], fields=["prm_aka130"])
    s.case("recode-ykb065-unknown", "ykb065 5 is in no table", "41", gbk(gz_doc(with_(GZ41, ykb065="5"))),
           rules=["LEG-RECODE"], fields=["prm_ykb065"])
    s.case("recode-akc021-unknown", "akc021 13 is in no table", "48",
           gbk(gz_doc(with_(GZ48, akc021="13"), rows=[GZ48_ROW1])), rules=["LEG-RECODE"], fields=["prm_akc021"])
    s.case("recode-aka063-elided-code", "aka063 22: a code the reference elides is refused, not guessed", "31",
           gbk(gz_doc(GZ31_SCALARS, rows=[with_(GZ_ROW1, aka063="22")], prefix="")),
           rules=["LEG-RECODE"], fields=["aka063"])
    # --- GBK edge cases and tolerances
    p = with_(GZ41, ykc141="测试𠀀")
    s.case("gb18030-four-byte-name", "a GB18030 four-byte character in a name, declared GB18030", "41",
           gb18030(gz_doc(p, decl=GZ_DECL.replace("GBK", "GB18030"))),
           expected=gz_settle_expected(p, "2304", encoding="Gb18030"))
    s.case("gbk-declared-four-byte-name", "the same bytes declared GBK: read with the GB18030 decoder", "41",
           gb18030(gz_doc(p)), expected=gz_settle_expected(p, "2304"))
    p = with_(GZ41, hisfyze="12345.6700")
    s.case("amount-4-decimals", "hisfyze 12345.6700: 4 decimals ending in 00, repaired", "41", gbk(gz_doc(p)),
           expected=gz_settle_expected(p, "2304", repairs=("proxy", "prm_hisfyze")))
    s.case("amount-4-decimals-non-zero", "hisfyze 12345.6789 refused naming the field", "41",
           gbk(gz_doc(with_(GZ41, hisfyze="12345.6789"))), rules=["LEG-AMOUNT"], fields=["prm_hisfyze"])
    s.case("amount-3-decimals", "hisfyze 1.234 refused", "41", gbk(gz_doc(with_(GZ41, hisfyze="1.234"))),
           rules=["LEG-AMOUNT"], fields=["prm_hisfyze"])
    s.case("amount-thousands-separator", "hisfyze 12,345.67 refused", "41",
           gbk(gz_doc(with_(GZ41, hisfyze="12,345.67"))), rules=["LEG-AMOUNT"], fields=["prm_hisfyze"])
    s.case("amount-exponent", "hisfyze 1.2E4 refused", "41", gbk(gz_doc(with_(GZ41, hisfyze="1.2E4"))),
           rules=["LEG-AMOUNT"], fields=["prm_hisfyze"])
    s.case("stray-whitespace", "spaces between elements (a builder quirk, §1A)", "41",
           gbk(gz_doc(GZ41, sep="  ")), expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "xml")))
    p = with_(GZ41, aac001=" 9900000001 ")
    s.case("value-whitespace", "spaces around a value are removed", "41", gbk(gz_doc(p)),
           expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "prm_aac001")))
    p = with_(GZ41, yka110="")
    s.case("empty-optional-element", "an empty optional element is absent", "41", gbk(gz_doc(p)),
           expected=gz_settle_expected(p, "2304", repairs=("proxy", "prm_yka110")))
    s.case("empty-required-element", "an empty required element is refused", "41",
           gbk(gz_doc(with_(GZ41, akc190=""))), rules=["LEG-FIELD"], fields=["prm_akc190"])
    s.case("utf8-bom", "a UTF-8 BOM with a UTF-8 declaration", "41",
           b"\xef\xbb\xbf" + utf8(gz_doc(GZ41, decl=GZ_DECL.replace("GBK", "UTF-8"))),
           expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "bom"), encoding="Utf8"))
    s.case("utf8-bom-gbk-declared", "a UTF-8 BOM before a GBK declaration", "41", b"\xef\xbb\xbf" + gz41,
           rules=["LEG-ENCODING-DECLARED"])
    s.case("crlf", "CRLF line ends between elements", "41", gbk(gz_doc(GZ41, decl=GZ_DECL + "\r\n", sep="\r\n")),
           expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "crlf", "xml")))
    s.case("no-declaration", "no XML declaration: GBK, the profile default", "41", gbk(gz_doc(GZ41, decl="")),
           expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "declaration")))
    s.case("gb2312-declared", "GB2312 declared", "41", gbk(gz_doc(GZ41, decl=GZ_DECL.replace("GBK", "GB2312"))),
           expected=gz_settle_expected(GZ41, "2304", encoding="Gb2312"))
    s.case("no-proxy", "without the <proxy>1</proxy> trailer", "41", gbk(gz_doc(GZ41, proxy=False)),
           expected=gz_settle_expected(GZ41, "2304", repairs=()))
    p = [(("prm_" + k) if k != "aac001" else "aac001", v) for k, v in GZ41]
    s.case("prefix-missing", "one scalar without prm_: read, recorded", "41", gbk(gz_doc(p, prefix="")),
           expected=gz_settle_expected(GZ41, "2304", repairs=("proxy", "aac001")))
    s.case("entities", "predefined and character references in a value", "42",
           gbk(gz_doc([("akc190", "ZY&amp;1&#x41;"), ("yka103", "JS1"), ("aac001", "9900000001")])),
           expected=call("guizhou", "42", "Gbk", [step("2305", {"data": {
               "mdtrt_id": "ZY&1A", "setl_id": "JS1", "psn_no": "9900000001"}})],
               psn_no="9900000001", repairs=["proxy"]))
    # --- hostile and malformed input
    s.case("doctype", "a DOCTYPE is refused before parsing", "41", utf8(DOCTYPE), rules=["LEG-XML-DOCTYPE"])
    s.case("billion-laughs", "entity expansion (billion laughs) is refused", "41", utf8(LAUGHS),
           rules=["LEG-XML-DOCTYPE"])
    s.case("deep-nesting", "31 levels of nesting (depth_max 16)", "41", utf8(DEEP), rules=["LEG-LIMIT"],
           fields=["depth_max"])
    s.case("many-attributes", "100 attributes on one element (attributes_max 64)", "41", utf8(WIDE),
           rules=["LEG-LIMIT"], fields=["attributes_max"])
    s.case("too-many-rows", "three rows with rows_max 2", "31",
           gbk(gz_doc(GZ31_SCALARS, rows=[GZ_ROW1, GZ_ROW2, GZ_ROW1], prefix="")),
           rules=["LEG-LIMIT"], fields=["rows_max"], options={"rows_max": 2})
    s.case("body-too-large", "a body over body_bytes_max (200)", "41", gz41, rules=["LEG-LIMIT"],
           fields=["body_bytes_max"], options={"body_bytes_max": 200})
    s.case("text-too-long", "a value over text_bytes_max (16)", "41", gz41, rules=["LEG-LIMIT"],
           fields=["text_bytes_max"], options={"text_bytes_max": 16})
    s.case("declared-latin1", "ISO-8859-1 declared: not an encoding of this dialect", "41",
           gbk(gz_doc(GZ41, decl=GZ_DECL.replace("GBK", "ISO-8859-1"))), rules=["LEG-ENCODING-DECLARED"],
           fields=["encoding"])
    s.case("utf8-declared-gbk-bytes", "GBK bytes under a UTF-8 declaration", "41",
           gbk(gz_doc(GZ41, decl=GZ_DECL.replace("GBK", "UTF-8"))), rules=["LEG-ENCODING-DECLARED"])
    bad = bytearray(gz41)
    at = bad.index(gbk("测试员"))
    bad[at + 1] = 0x20  # lead byte followed by a space: invalid
    s.case("invalid-gbk-sequence", "an invalid GBK byte sequence (lead byte + 0x20)", "41", bytes(bad),
           rules=["LEG-ENCODING"], fields=["encoding"])
    bad = bytearray(gz41)
    bad[at] = 0xFF
    s.case("invalid-byte-ff", "byte 0xFF is no GBK lead byte", "41", bytes(bad), rules=["LEG-ENCODING"])
    s.case("truncated", "a truncated document", "41", gz41[:-20], rules=["LEG-XML"])
    s.case("undefined-entity", "&nbsp; is not an XML entity", "41", gbk(gz_doc(with_(GZ41, aae013="a&nbsp;b"))),
           rules=["LEG-XML"])
    s.case("wrong-root", "<output> is not a request", "41", gbk(gz_doc(GZ41).replace("input>", "output>")),
           rules=["LEG-ENVELOPE"], fields=["output"])
    s.case("duplicate-field", "prm_aac001 twice with different values", "41",
           gbk(gz_doc(GZ41 + [("aac001", "9900000002")])), rules=["LEG-ENVELOPE"], fields=["prm_aac001"])
    s.case("unknown-transaction", "transaction 99 is not served", "99", gz41, rules=["LEG-TX"], fields=["99"])
    s.case("missing-required", "41 without prm_akc190", "41", gbk(gz_doc(with_(GZ41, akc190=None))),
           rules=["LEG-FIELD"], fields=["prm_akc190"])
    s.case("bad-date", "akc192 2024-02-30 is not a date", "21", gbk(gz_doc(with_(GZ21, akc192="2024-02-30"))),
           rules=["LEG-DATE"], fields=["prm_akc192"])
    s.case("48-without-rows", "48 needs its fee rows", "48", gbk(gz_doc(GZ48)), rules=["LEG-FIELD"], fields=["row"])
    s.case("03-without-credential", "03 needs akc020 or aac002", "03", gbk(gz_doc([("aae011", "0001")])),
           rules=["LEG-FIELD"], fields=["prm_akc020|prm_aac002"])
    s.case("confirm-without-jyyzm", "confirm needs jylsh and jyyzm", "confirm",
           gbk(gz_doc([("jylsh", "41C9901TEST0001")])), rules=["LEG-FIELD"], fields=["prm_jyyzm"])
    # a refusal answered in the dialect: out of band, empty <output>, GBK
    s.case("refusal-answer", "a G31 refusal answered: appcode < 0 out of band, an empty <output>", "41",
           gbk(gz_doc(with_(GZ41, aka130="G31"))), rules=["LEG-RECODE"], fields=["prm_aka130"],
           xml=gbk(GZ_DECL + "<output></output>"))
    # --- answers
    s.case("answer-41", "the §5.2 answer encoded from the national 2304 output", "41", gz41, kind="answer",
           outputs="[" + OUT_2304_TEXT % ("张三", "1101", "null") + "]", xml=gbk(gz_answer(gz41_answer_fields())))
    s.case("answer-41-hifmi", "yka062 = hifob_pay + hifmi_pay; psn_type 1202 answers akc021 21", "41", gz41,
           kind="answer", outputs="[" + OUT_2304_TEXT % ("张三", "1202", "150.25") + "]",
           xml=gbk(gz_answer(gz41_answer_fields(psn_type_legacy="21", yka062="150.25"))))
    s.case("answer-41-psn-type-unknown", "a psn_type with no akc021 code answers an empty akc021", "41", gz41,
           kind="answer", outputs="[" + OUT_2304_TEXT % ("张三", "1501", "null") + "]",
           xml=gbk(gz_answer(gz41_answer_fields(psn_type_legacy=""))))
    s.case("answer-41-gb18030-name", "a name outside GBK: the answer goes out in GB18030", "41", gz41,
           kind="answer", outputs="[" + OUT_2304_TEXT % ("张𠀀", "1101", "null") + "]",
           xml=gb18030(gz_answer(gz41_answer_fields(name="张𠀀"), encoding="GB18030")))
    s.case("answer-41-xml-specials", "a name with & and < is escaped", "41", gz41, kind="answer",
           outputs="[" + OUT_2304_TEXT % ("A&B<C", "1101", "null") + "]",
           xml=gbk(gz_answer(gz41_answer_fields(name="A&amp;B&lt;C"))))
    s.case("answer-41-bad-amount", "a national amount with three decimals cannot be answered", "41", gz41,
           kind="answer", outputs="[" + (OUT_2304_TEXT % ("张三", "1101", "null")).replace("234.56", "234.567") + "]",
           rules=["LEG-AMOUNT"], fields=["prm_akc087"])
    s.case("answer-41-bad-time", "a national setl_time that is not a time", "41", gz41, kind="answer",
           outputs="[" + (OUT_2304_TEXT % ("张三", "1101", "null")).replace("2024-05-20 10:30:00", "20240520") + "]",
           rules=["LEG-DATE"], fields=["prm_aae036"])
    s.case("answer-21", "21 answers the insurer's visit id in prm_akc190", "21", gbk(gz_doc(GZ21)),
           kind="answer", outputs=[{"result": {"mdtrt_id": "990000000123"}}],
           xml=gbk(gz_answer([("akc190", "990000000123")])))
    out31 = ('[{"result":[{"feedetl_sn":"M0001","det_item_fee_sumamt":45.20,"cnt":2,"pric":22.6,"fulamt_ownpay_amt":0,'
             '"preselfpay_amt":4.52,"inscp_scp_amt":40.68},{"feedetl_sn":"M0002","det_item_fee_sumamt":"60.00","cnt":1,'
             '"pric":60,"fulamt_ownpay_amt":"60.00"}]}]')
    rows_xml = ("<row><akc190>ZY9901202405000001</akc190><yka105>M0001</yka105><yka317>0.00</yka317><yka318>4.52</yka318>"
                "<yka319>40.68</yka319><code>1</code><message></message></row>"
                "<row><akc190>ZY9901202405000001</akc190><yka105>M0002</yka105><yka317>60.00</yka317><yka318></yka318>"
                "<yka319></yka319><code>1</code><message></message></row>")
    s.case("answer-31-rows", "31 answers one <row> per line with code and message (§1A)", "31",
           gbk(gz_doc(GZ31_SCALARS, rows=[GZ_ROW1, GZ_ROW2], prefix="")), kind="answer", outputs=out31,
           xml=gbk(GZ_DECL + "<output>" + rows_xml + "</output>"))
    s.case("refusal-31-row-status", "a 31 refusal carries the §5.2 row status (code -1, message)", "31",
           gbk(gz_doc(GZ31_SCALARS, rows=[with_(GZ_ROW1, aka063="22")], prefix="")),
           rules=["LEG-RECODE"], fields=["aka063"],
           xml=gbk(GZ_DECL + "<output><row><code>-1</code><message>[LEG-RECODE] aka063: row 1: `22` is not in table aka063 (收费类别 aka063 (Yinhai two-digit scheme) → med_chrgitm_type 01–14)</message></row></output>"))
    out48 = [{"data": {"mdtrt_id": "990000000777", "psn_no": "9900000001", "ipt_otp_no": "MZ20240511001"}},
             {"result": []},
             json.loads(OUT_2304_TEXT % ("张三", "1101", "null"))]
    s.case("answer-48", "48 answers the registration's visit id and the 2207 settlement", "48",
           gbk(gz_doc(GZ48, rows=[GZ48_ROW1])), kind="answer",
           outputs=json.dumps(out48, ensure_ascii=False).replace("12345.67", "12345.67"),
           xml=gbk(gz_answer([("akc190", "990000000777"), ("yka103", "JS9901202405000001"), ("aac001", "9900000001"),
                              ("aac003", "张三"), ("aae036", "2024-05-20 10:30:00"), ("yka055", "12345.67"),
                              ("yka056", "345.67"), ("yka057", "500.00"), ("yka111", "11500.00"), ("yka058", "800.00"),
                              ("yka248", "9095.00"), ("yka062", "0.00"), ("yke030", "0.00"), ("yka065", "1000.00"),
                              ("akc087", "234.56")])))
    s.case("answer-03", "03 answers the person: dates, recoded insutype, balance", "03",
           gbk(gz_doc([("akc020", "C99000001")])), kind="answer",
           outputs='[{"baseinfo":{"psn_no":"9900000001","certno":"990101199001010000","psn_name":"张三","gend":"1",'
                   '"brdy":"1990-01-01"},"insuinfo":[{"insutype":"390","psn_type":"1501","balc":0,'
                   '"insuplc_admdvs":"990100","emp_name":"示例公司"}]}]',
           xml=gbk(gz_answer([("aac001", "9900000001"), ("aac002", "990101199001010000"), ("aac003", "张三"),
                              ("aac004", "1"), ("aac006", "1990-01-01"), ("akc021", ""), ("ykb065", "3"),
                              ("akc087", "0.00"), ("yab139", "990100"), ("aab004", "示例公司")])))
    return s.n


# ============================================================================= shijiazhuang

SJZ_DECL = '<?xml version="1.0" encoding="UTF-8"?>'
SJZ_HEADER = [("AAE140", "0"), ("AAC001", "0"), ("AKB020", "H99010000001"), ("AKC190", "MZ20240520001"),
              ("AKC020", "C99000001"), ("AKA130", "11"), ("MSGNO", None), ("MSGID", None), ("GRANTID", ""),
              ("ORGMSGNO", ""), ("ORGMSGID", ""), ("OPERID", "0001"), ("OPERNAME", "测试员"), ("BATNO", "B001"),
              ("OPTTIME", "20240520103000")]
SJZ_INPUT = [("AAC001", "9900000001"), ("AAE072", "FP20240520001"), ("AKC190", "MZ20240520001"), ("AKC264", "100.00")]
SJZ_KC21 = [("AKC190", "MZ20240520001"), ("AKA130", "11"), ("AKC192", "20240520100000"), ("AKC193", "J06.900"),
            ("AAE011", "0001"), ("AAE036", "20240520103000"), ("AKC008", "王医生"), ("AKC025", "内科"),
            ("BKF040", "0301"), ("BKF050", "D0012")]
SJZ_ROW1 = [("AKC190", "MZ20240520001"), ("AKC220", "CF001"), ("AKC221", "20240520101000"), ("AKC515", "YP0001"),
            ("AKC516", "阿莫西林胶囊"), ("AKC222", "XJ01CAA040E001010101445"), ("AKC223", "阿莫西林"),
            ("AKC225", "2.26"), ("AKC226", "2"), ("AKC227", "4.52"), ("AKA063", "01"), ("AKA065", "1"),
            ("AKC378", "L0001")]
SJZ_ROW2 = [("AKC190", "MZ20240520001"), ("AKC220", "CF001"), ("AKC221", "20240520101500"), ("AKC515", "ZL0002"),
            ("AKC516", "静脉输液"), ("AKC222", "001102000010000"), ("AKC225", "95.48"), ("AKC226", "1"),
            ("AKC227", "95.48"), ("AKA063", "21"), ("AKC378", "L0002")]


def sjz_doc(msgno, msgid, header=None, inp=None, kc21=None, rows=None, decl=SJZ_DECL, sep=""):
    h = [(k, msgno if k == "MSGNO" else msgid if k == "MSGID" else v) for k, v in (header or SJZ_HEADER)]
    body = sep.join(el(k, v) for k, v in h if v is not None)
    if inp is not None:
        body += "<INPUT>" + els(inp) + "</INPUT>"
    if kc21 is not None:
        body += "<KC21XML>" + els(kc21) + "</KC21XML>"
    if rows is not None:
        body += "<KC22XML>" + "".join("<KC22ROW>" + els(r) + "</KC22ROW>" for r in rows) + "</KC22XML>"
    return decl + "<HOSDATA><REQUESTDATA>" + body + "</REQUESTDATA></HOSDATA>"


def sjz_outpatient_expected(tx, msgid, header, inp, kc21, rows, encoding="Utf8", repairs=()):
    h, i, k = dict(header), dict(inp), dict(kc21)
    reg = {"psn_no": i["AAC001"], "ipt_otp_no": h["AKC190"], "mdtrt_cert_no": h["AKC020"],
           "insutype": SJZ_AAE140[h["AAE140"]], "begntime": compact_to_national(k["AKC192"]),
           "dept_code": k["BKF040"], "dept_name": k["AKC025"], "atddr_no": k["BKF050"], "dr_name": k["AKC008"],
           "mdtrt_cert_type": "03", "caty": k["BKF040"]}
    derived = ["2201/data/mdtrt_cert_type", "2201/data/caty"]
    lines = []
    used = set()
    for n, r in enumerate(rows):
        r = dict(r)
        line = {"psn_no": i["AAC001"]}
        if r.get("AKC378"):
            line["feedetl_sn"] = r["AKC378"]
        if r.get("AKC220"):
            line["rxno"] = r["AKC220"]
        line.update({"fee_ocur_time": compact_to_national(r["AKC221"]), "med_list_codg": r["AKC222"],
                     "medins_list_codg": r["AKC515"], "pric": quantity(r["AKC225"], 6),
                     "cnt": quantity(r["AKC226"], 4), "det_item_fee_sumamt": money(r["AKC227"])})
        if tx == "1108":
            for key, nat in (("BKF040", "bilg_dept_codg"), ("AKC025", "bilg_dept_name"),
                             ("BKF050", "bilg_dr_codg"), ("AKC008", "bilg_dr_name")):
                if r.get(key):
                    line[nat] = r[key]
        if r.get("AKA063"):
            line["med_chrgitm_type"] = HEBEI_AKA063[r["AKA063"]]
        if r.get("AKA065"):
            line["chrgitm_lv"] = AKA065[r["AKA065"]]
        if r.get("AKA063") in SELF_PAY_HEBEI:
            line["chrgitm_lv"] = "3"
        if "feedetl_sn" not in line:
            line["feedetl_sn"] = str(n + 1)
            used.add("feedetl_sn")
        line["chrg_bchno"] = "1"
        line["rx_circ_flag"] = "0"
        for nat, src in (("bilg_dept_codg", "dept_code"), ("bilg_dept_name", "dept_name"),
                         ("bilg_dr_codg", "atddr_no"), ("bilg_dr_name", "dr_name")):
            if nat not in line:
                line[nat] = reg[src]
                used.add(nat)
        line["hosp_appr_flag"] = "0"
        line["mdtrt_id"] = ""
        lines.append(line)
    if "feedetl_sn" in used:
        derived.append("2204/feedetail/*/feedetl_sn")
    derived += ["2204/feedetail/*/chrg_bchno", "2204/feedetail/*/rx_circ_flag"]
    derived += [f"2204/feedetail/*/{n}" for n in ("bilg_dept_codg", "bilg_dept_name", "bilg_dr_codg", "bilg_dr_name")
                if n in used]
    derived.append("2204/feedetail/*/hosp_appr_flag")
    last = "2207" if tx == "1108" else "2206"
    settle = {"psn_no": i["AAC001"], "mdtrt_cert_no": h["AKC020"], "insutype": SJZ_AAE140[h["AAE140"]],
              "med_type": SJZ_AKA130[h["AKA130"]], "medfee_sumamt": money(i["AKC264"])}
    if tx == "1108" and i.get("AAE072"):
        settle["invono"] = i["AAE072"]
    settle.update({"mdtrt_cert_type": "03", "psn_setlway": "01", "chrg_bchno": "1", "acct_used_flag": "1",
                   "mdtrt_id": ""})
    derived += [f"{last}/data/{f}" for f in ("mdtrt_cert_type", "psn_setlway", "chrg_bchno", "acct_used_flag")]
    steps = [step("2201", {"data": reg}),
             step("2204", {"feedetail": lines}, [(0, "/data/mdtrt_id", f"/feedetail/{n}/mdtrt_id") for n in range(len(rows))]),
             step(last, {"data": settle}, [(0, "/data/mdtrt_id", "/data/mdtrt_id")])]
    return call("shijiazhuang", tx, encoding, steps, sender_serial=msgid, fixmedins_code=h["AKB020"],
                psn_no=i["AAC001"], opter=h["OPERID"], opter_name=h["OPERNAME"], repairs=list(repairs),
                derived=derived)


def hdr(**kw):
    return [(k, kw.get(k, v)) for k, v in SJZ_HEADER]


def shijiazhuang():
    s = Suite("shijiazhuang")
    M1, M2 = "H9901000000120240520103000002", "H9901000000120240520110000004"
    base = utf8(sjz_doc("1108", M1, inp=SJZ_INPUT, kc21=SJZ_KC21, rows=[SJZ_ROW1, SJZ_ROW2]))

    def p1108(header=SJZ_HEADER, inp=SJZ_INPUT, kc21=SJZ_KC21, rows=(SJZ_ROW1, SJZ_ROW2), **kw):
        return sjz_doc("1108", M1, header=header, inp=inp, kc21=kc21, rows=list(rows), **kw)

    def e1108(header=SJZ_HEADER, inp=SJZ_INPUT, kc21=SJZ_KC21, rows=(SJZ_ROW1, SJZ_ROW2), **kw):
        return sjz_outpatient_expected("1108", M1, header, inp, kc21, list(rows), **kw)

    s.case("1108-outpatient", "1108 门诊结算 → 2201 (ipt_otp_no = the HIS's AKC190) → 2204 → 2207", "1108", base,
           expected=e1108())
    s.case("1107-pre-settlement", "1107 门诊预结算 → 2201 → 2204 → 2206", "1107",
           utf8(sjz_doc("1107", M1, inp=SJZ_INPUT[:1] + SJZ_INPUT[2:], kc21=SJZ_KC21, rows=[SJZ_ROW1, SJZ_ROW2])),
           expected=sjz_outpatient_expected("1107", M1, SJZ_HEADER, SJZ_INPUT, SJZ_KC21, [SJZ_ROW1, SJZ_ROW2]))
    s.case("1401-person-card", "1401 获取人员信息 with a card → 1101 (03)", "1401", utf8(sjz_doc("1401", M1)),
           expected=call("shijiazhuang", "1401", "Utf8", [step("1101", {"data": {
               "mdtrt_cert_no": "C99000001", "mdtrt_cert_type": "03"}})], sender_serial=M1,
               fixmedins_code="H99010000001", opter="0001", opter_name="测试员", derived=["1101/data/mdtrt_cert_type"]))
    s.case("1401-person-no-card", "1401 without a card: AAC001 carries the ID number (02)", "1401",
           utf8(sjz_doc("1401", M1, header=hdr(AKC020="", AAC001="990101199001010000"))),
           expected=call("shijiazhuang", "1401", "Utf8", [step("1101", {"data": {
               "mdtrt_cert_no": "990101199001010000", "mdtrt_cert_type": "02"}})], sender_serial=M1,
               fixmedins_code="H99010000001", opter="0001", opter_name="测试员",
               repairs=["AKC020"], derived=["1101/data/mdtrt_cert_type"]))
    s.case("1202-reversal", "1202 门诊结算回退 → 2208; setl_id and mdtrt_id looked up from ORGMSGID's answer", "1202",
           utf8(sjz_doc("1202", M2, header=hdr(ORGMSGNO="1108", ORGMSGID=M1),
                        inp=[("AAC001", "9900000001"), ("AKC190", "MZ20240520001")])),
           expected=call("shijiazhuang", "1202", "Utf8", [step("2208", {"data": {
               "psn_no": "9900000001", "setl_id": "", "mdtrt_id": ""}}, lookup=[
               (2, "/setlinfo/setl_id", "/data/setl_id"), (2, "/setlinfo/mdtrt_id", "/data/mdtrt_id")])],
               sender_serial=M2, reverses=M1, fixmedins_code="H99010000001", psn_no="9900000001",
               opter="0001", opter_name="测试员"))
    s.case("1202-without-orgmsgid", "1202 must name the original by ORGMSGID", "1202",
           utf8(sjz_doc("1202", M2, inp=[("AAC001", "9900000001")])), rules=["LEG-FIELD"], fields=["ORGMSGID"])
    # every recode entry
    for code in SJZ_AKA130:
        h = hdr(AKA130=code)
        s.case(f"recode-aka130-{code}", f"AKA130 {code} → med_type {SJZ_AKA130[code]}", "1108", utf8(p1108(header=h)),
               expected=e1108(header=h))
    s.case("recode-aka130-41-refused", "AKA130 41 药店购药 is refused", "1108", utf8(p1108(header=hdr(AKA130="41"))),
           rules=["LEG-RECODE"], fields=["AKA130"])
    for code in SJZ_AAE140:
        h = hdr(AAE140=code)
        s.case(f"recode-aae140-{code}", f"AAE140 {code} → insutype {SJZ_AAE140[code]}", "1108", utf8(p1108(header=h)),
               expected=e1108(header=h))
    rows = []
    for n, code in enumerate(HEBEI_AKA063):
        rows.append(with_(SJZ_ROW1, AKA063=code, AKC378=f"L{n + 1:04d}", AKA065=str(1 + n % 4)))
    s.case("recode-aka063-hebei-all", "every Hebei/Neusoft AKA063 01–21 and AKA065 entry; 10/21 自费 → 14 + lv 3", "1108",
           utf8(p1108(rows=rows)), expected=e1108(rows=rows))
    s.case("recode-aka063-unknown", "AKA063 22 is in no table", "1108", utf8(p1108(rows=[with_(SJZ_ROW1, AKA063="22")])),
           rules=["LEG-RECODE"], fields=["AKA063"])
    s.case("recode-aae140-unknown", "AAE140 410 (工伤) is in no table", "1108", utf8(p1108(header=hdr(AAE140="410"))),
           rules=["LEG-RECODE"], fields=["AAE140"])
    # values and tolerances
    rows = [with_(SJZ_ROW1, AKC378=None), with_(SJZ_ROW2, AKC378=None)]
    s.case("line-serial-derived", "lines without AKC378: the line number is the serial", "1108", utf8(p1108(rows=rows)),
           expected=e1108(rows=rows))
    rows = [with_(SJZ_ROW1, BKF040="0302", AKC025="儿科", BKF050="D0013", AKC008="李医生")]
    s.case("line-department", "a line's own department and doctor", "1108", utf8(p1108(rows=rows)),
           expected=e1108(rows=rows))
    inp = with_(SJZ_INPUT, AKC264="100.0000")
    s.case("amount-4-decimals", "INPUT/AKC264 100.0000 is read as 100.00", "1108", utf8(p1108(inp=inp)),
           expected=e1108(inp=inp, repairs=["INPUT/AKC264"]))
    s.case("amount-4-decimals-non-zero", "INPUT/AKC264 100.0001 is refused", "1108",
           utf8(p1108(inp=with_(SJZ_INPUT, AKC264="100.0001"))), rules=["LEG-AMOUNT"], fields=["INPUT/AKC264"])
    s.case("row-amount-bad", "a line amount 4.5x is refused", "1108", utf8(p1108(rows=[with_(SJZ_ROW1, AKC227="4.5x")])),
           rules=["LEG-AMOUNT"], fields=["AKC227"])
    s.case("date-bad", "KC21XML/AKC192 2024-05-20 is not YYYYMMDDHH24MISS", "1108",
           utf8(p1108(kc21=with_(SJZ_KC21, AKC192="2024-05-20"))), rules=["LEG-DATE"], fields=["KC21XML/AKC192"])
    s.case("date-impossible", "a line time 20240230101000 is not a date", "1108",
           utf8(p1108(rows=[with_(SJZ_ROW1, AKC221="20240230101000")])), rules=["LEG-DATE"], fields=["AKC221"])
    inp = with_(SJZ_INPUT, AAE072="")
    s.case("empty-optional", "an empty INPUT/AAE072 is absent", "1108", utf8(p1108(inp=inp)),
           expected=e1108(inp=with_(SJZ_INPUT, AAE072=None), repairs=["INPUT/AAE072"]))
    s.case("stray-whitespace", "newlines and spaces between header elements", "1108", utf8(p1108(sep="\n  ")),
           expected=e1108(repairs=["xml"]))
    s.case("crlf", "CRLF between header elements", "1108", utf8(p1108(sep="\r\n")), expected=e1108(repairs=["crlf", "xml"]))
    s.case("utf8-bom", "a UTF-8 BOM", "1108", b"\xef\xbb\xbf" + base, expected=e1108(repairs=["bom"]))
    s.case("no-declaration", "no declaration: UTF-8, the profile default", "1108", utf8(p1108(decl="")),
           expected=e1108(repairs=["declaration"]))
    s.case("gbk-declared", "GBK declared and sent: accepted", "1108", gbk(p1108(decl=SJZ_DECL.replace("UTF-8", "GBK"))),
           expected=e1108(encoding="Gbk"))
    h = hdr(OPERNAME="测试𠀀")
    s.case("four-byte-operator-name", "a four-byte character in OPERNAME (UTF-8)", "1108", utf8(p1108(header=h)),
           expected=e1108(header=h))
    s.case("utf8-declared-gbk-bytes", "GBK bytes under the UTF-8 declaration", "1108", gbk(p1108()),
           rules=["LEG-ENCODING-DECLARED"], fields=["encoding"])
    s.case("declared-utf16", "UTF-16 declared", "1108", utf8(p1108(decl=SJZ_DECL.replace("UTF-8", "UTF-16"))),
           rules=["LEG-ENCODING-DECLARED"])
    bad = bytearray(gbk(p1108(decl=SJZ_DECL.replace("UTF-8", "GBK"))))
    at = bad.index(gbk("测试员"))
    bad[at + 1] = 0x7F
    s.case("invalid-gbk-sequence", "an invalid GBK sequence under a GBK declaration", "1108", bytes(bad),
           rules=["LEG-ENCODING"], fields=["encoding"])
    # envelope and transaction
    s.case("msgno-differs", "MSGNO 1108 posted as 1107", "1107", base, rules=["LEG-TX"], fields=["MSGNO"])
    s.case("msgno-missing", "no MSGNO in the header", "1108",
           utf8(p1108(header=[p for p in SJZ_HEADER if p[0] != "MSGNO"])), rules=["LEG-ENVELOPE"])
    s.case("no-requestdata", "HOSDATA without REQUESTDATA", "1108", utf8(SJZ_DECL + "<HOSDATA><X/></HOSDATA>"),
           rules=["LEG-ENVELOPE"], fields=["REQUESTDATA"])
    s.case("wrong-root", "RESPONSEDATA sent as a request", "1108", utf8(SJZ_DECL + "<RESPONSEDATA/>"),
           rules=["LEG-ENVELOPE"], fields=["RESPONSEDATA"])
    s.case("unknown-transaction", "1105 (inpatient settlement) is not served yet", "1105", base, rules=["LEG-TX"])
    s.case("missing-person", "INPUT/AAC001 missing", "1108", utf8(p1108(inp=SJZ_INPUT[1:])),
           rules=["LEG-FIELD"], fields=["INPUT/AAC001"])
    s.case("no-lines", "1108 without KC22ROW lines", "1108", utf8(p1108(rows=())), rules=["LEG-FIELD"], fields=["KC22ROW"])
    s.case("doctype", "DOCTYPE", "1108", utf8(DOCTYPE), rules=["LEG-XML-DOCTYPE"])
    s.case("billion-laughs", "entity expansion", "1108", utf8(LAUGHS), rules=["LEG-XML-DOCTYPE"])
    s.case("deep-nesting", "deep nesting", "1108", utf8(DEEP), rules=["LEG-LIMIT"], fields=["depth_max"])
    s.case("many-attributes", "many attributes", "1108", utf8(WIDE), rules=["LEG-LIMIT"], fields=["attributes_max"])
    s.case("too-many-rows", "two lines with rows_max 1", "1108", base, rules=["LEG-LIMIT"], fields=["rows_max"],
           options={"rows_max": 1})
    s.case("malformed", "mismatched end tag", "1108", base.replace(b"</KC21XML>", b"</KC21>"), rules=["LEG-XML"])
    s.case("refusal-answer", "a refusal answered in the dialect: RETURNNUM -1 and the message", "1107", base,
           rules=["LEG-TX"], fields=["MSGNO"],
           xml=utf8(SJZ_DECL + "<HOSDATA><RESPONSEDATA><RETURNNUM>-1</RETURNNUM><ERRORMSG>[LEG-TX] MSGNO: MSGNO = `1108` "
                    "but the call is for `1107`</ERRORMSG><REFMSGID></REFMSGID><OUTPUT></OUTPUT></RESPONSEDATA></HOSDATA>"))
    # answers
    out = ('[{"data":{"mdtrt_id":"990000000123","psn_no":"9900000001","ipt_otp_no":"MZ20240520001"}},{"result":[]},'
           '{"setlinfo":{"mdtrt_id":"990000000123","setl_id":"990000000456","psn_no":"9900000001",'
           '"setl_time":"2024-05-20 10:30:16","medfee_sumamt":100.00,"fulamt_ownpay_amt":95.48,"preselfpay_amt":0,'
           '"inscp_scp_amt":4.52,"hifp_pay":3.16,"cvlserv_pay":0,"fund_pay_sumamt":3.16,"acct_pay":50.00,'
           '"psn_cash_pay":46.84,"balc":950.00},"setldetail":[]}]')
    ans = ("<HOSDATA><RESPONSEDATA><RETURNNUM>1</RETURNNUM><ERRORMSG></ERRORMSG><REFMSGID>990000000456</REFMSGID>"
           "<OUTPUT><AKC190>MZ20240520001</AKC190><AAC001>9900000001</AAC001><AKC264>100.00</AKC264>"
           "<AKC253>95.48</AKC253><AKC254>0.00</AKC254><AKC263>4.52</AKC263><AKC260>3.16</AKC260>"
           "<AKC707>0.00</AKC707><AKC780>3.16</AKC780><AKC255>50.00</AKC255><AKC261>46.84</AKC261>"
           "<AKC087>950.00</AKC087><AAE036>20240520103016</AAE036></OUTPUT></RESPONSEDATA></HOSDATA>")
    s.case("answer-1108", "the settlement answered: RETURNNUM 1, REFMSGID = setl_id, fund parts (§2)", "1108", base,
           kind="answer", outputs=out, xml=utf8(SJZ_DECL + ans))
    s.case("answer-1108-gbk", "a GBK request is answered in GBK", "1108", gbk(p1108(decl=SJZ_DECL.replace("UTF-8", "GBK"))),
           kind="answer", outputs=out, xml=gbk(SJZ_DECL.replace("UTF-8", "GBK") + ans))
    s.case("answer-1108-bad-amount", "a national amount 3.165 cannot be answered", "1108", base, kind="answer",
           outputs=out.replace('"hifp_pay":3.16', '"hifp_pay":3.165'), rules=["LEG-AMOUNT"], fields=["AKC260"])
    out1401 = ('[{"baseinfo":{"psn_no":"9900000001","certno":"990101199001010000","psn_name":"张三","gend":"1",'
               '"brdy":"1990-01-01"},"insuinfo":[{"insutype":"310","psn_type":"1101","balc":1000.00,'
               '"insuplc_admdvs":"130100","emp_name":"示例公司"}]}]')
    s.case("answer-1401", "the person answered: AAC006 YYYYMMDD, AAE140 0 for 310, AKC803 the insured area", "1401",
           utf8(sjz_doc("1401", M1)), kind="answer", outputs=out1401,
           xml=utf8(SJZ_DECL + "<HOSDATA><RESPONSEDATA><RETURNNUM>1</RETURNNUM><ERRORMSG></ERRORMSG><REFMSGID></REFMSGID>"
                    "<OUTPUT><AAC001>9900000001</AAC001><AAC002>990101199001010000</AAC002><AAC003>张三</AAC003>"
                    "<AAC004>1</AAC004><AAC006>19900101</AAC006><AKC021>1101</AKC021><AAE140>0</AAE140>"
                    "<AKC087>1000.00</AKC087><AKC803>130100</AKC803><AAB004>示例公司</AAB004></OUTPUT>"
                    "</RESPONSEDATA></HOSDATA>"))
    return s.n


# ============================================================================= yunnan

YD_ARGS = {"TransCode": None, "SenderSerialNo": "H990100000012024052010300001", "PersonNo": "8800000042",
           "SICardNo": "C88000042", "InsuredAreaNo": "880100", "OperatorNo": "0001"}
YD_ROW1 = [("AKC220", "CF001"), ("AKC231", "1"), ("AKC515", "YP0001"), ("AKC516", "阿莫西林胶囊"),
           ("AKC222", "XJ01CAA040E001010101445"), ("AKC223", "阿莫西林"), ("AKA063", "01"), ("AKA111", "01"),
           ("AKA065", "1"), ("AKC225", "2.26"), ("AKC226", "2"), ("AKC227", "4.52"),
           ("AKC221", "2024-05-20 10:10:00"), ("AKC201", "内科"), ("AAE014", "王医生")]
YD_ROW2 = [("AKC220", "CF001"), ("AKC231", "2"), ("AKC515", "JC0003"), ("AKC516", "胸部CT"), ("AKC222", "210300004"),
           ("AKC223", "CT平扫"), ("AKA063", "04"), ("AKA111", "04"), ("AKA065", "2"), ("AKC225", "300.00"),
           ("AKC226", "1"), ("AKC227", "300.00"), ("AKC221", "2024-05-20 10:20:00"), ("AKC201", "内科"),
           ("AAE014", "王医生")]
YD11 = [("AKC190", "MZ20240520001"), ("AKA130", "11"), ("AKC192", "2024-05-20 10:00:00"), ("AKC193", "J06.900"),
        ("AKC201", "内科"), ("AAE014", "王医生"), ("AAE011", "0001")]
YD14 = [("AKC190", "YD9901202405000007"), ("AKC221", "2024-05-20 10:30:00"), ("AAE072", "FP20240520009"),
        ("AKA050", "1"), ("AAE011", "0001"), ("AKC255", "0.00"), ("AKA130", "11"), ("AKC264", "304.52")]


def yd_doc(pairs, rows=None, decl="", sep=""):
    body = sep.join(el(k, v) for k, v in pairs if v is not None)
    if rows is not None:
        body += "".join("<ROW>" + els(r) + "</ROW>" for r in rows)
    return decl + "<input>" + body + "</input>"


def yd_args(tx, **kw):
    a = dict(YD_ARGS)
    a["TransCode"] = tx
    for k, v in kw.items():
        if v is None:
            a.pop(k, None)
        else:
            a[k] = v
    return a


def yd_call(tx, steps, a, definition=None, reverses=None, repairs=(), derived=(), encoding="Gbk"):
    return call("yunnan", tx, encoding, steps, definition=definition, sender_serial=a.get("SenderSerialNo"),
                reverses=reverses, insuplc_admdvs=a.get("InsuredAreaNo"), psn_no=a.get("PersonNo"),
                opter=a.get("OperatorNo"), repairs=list(repairs), derived=list(derived))


def yd11_expected(pairs, a, repairs=(), encoding="Gbk"):
    v = dict(pairs)
    data = {"psn_no": a["PersonNo"], "mdtrt_cert_no": a["SICardNo"], "ipt_otp_no": v["AKC190"],
            "med_type": YD_AKA130[v["AKA130"]], "begntime": v["AKC192"], "dept_code": v["AKC201"],
            "dr_name": v["AAE014"]}
    derived = []
    if v.get("AAE140"):
        data["insutype"] = YD_AAE140[v["AAE140"]]
    else:
        data["insutype"] = "310"
        derived.append("2201/data/insutype")
    if v.get("AAC002"):
        data["certno"] = v["AAC002"]
    if v.get("AAC003"):
        data["psn_name"] = v["AAC003"]
    data["mdtrt_cert_type"] = "03"
    derived.append("2201/data/mdtrt_cert_type")
    if v.get("AAC002"):
        data["psn_cert_type"] = "01"
        derived.append("2201/data/psn_cert_type")
    data.update({"dept_name": v["AKC201"], "atddr_no": v["AAE014"], "caty": v["AKC201"]})
    derived += ["2201/data/dept_name", "2201/data/atddr_no", "2201/data/caty"]
    return yd_call("11", [step("2201", {"data": data})], a, repairs=repairs, derived=derived, encoding=encoding)


def yd12_expected(akc190, rows, a, repairs=()):
    lines = []
    for r in rows:
        r = dict(r)
        line = {"mdtrt_id": akc190, "psn_no": a["PersonNo"], "feedetl_sn": r["AKC231"]}
        if r.get("AKC220"):
            line["rxno"] = r["AKC220"]
        line.update({"fee_ocur_time": r["AKC221"], "medins_list_codg": r["AKC515"], "med_list_codg": r["AKC222"],
                     "med_chrgitm_type": OTHER_AKA111[r["AKA111"]]})
        if r.get("AKA065"):
            line["chrgitm_lv"] = AKA065[r["AKA065"]]
        line.update({"pric": quantity(r["AKC225"], 6), "cnt": quantity(r["AKC226"], 4),
                     "det_item_fee_sumamt": money(r["AKC227"]), "bilg_dept_codg": r["AKC201"],
                     "bilg_dept_name": r["AKC201"], "bilg_dr_codg": r["AAE014"], "bilg_dr_name": r["AAE014"],
                     "chrg_bchno": "1", "rx_circ_flag": "0", "hosp_appr_flag": "0"})
        lines.append(line)
    return yd_call("12", [step("2204", {"feedetail": lines})], a, repairs=repairs,
                   derived=["2204/feedetail/*/chrg_bchno", "2204/feedetail/*/rx_circ_flag",
                            "2204/feedetail/*/hosp_appr_flag"])


def yd14_expected(pairs, a, repairs=(), tx="14"):
    v = dict(pairs)
    inpatient = tx == "14" and v["AKA130"] in YD_INPATIENT
    infno = "2304" if inpatient else {"14": "2207", "72": "2206"}[tx]
    data = {"psn_no": a["PersonNo"], "mdtrt_cert_no": a["SICardNo"], "mdtrt_id": v["AKC190"],
            "med_type": YD_AKA130[v["AKA130"]]}
    derived = []
    if v.get("AAE140"):
        data["insutype"] = YD_AAE140[v["AAE140"]]
    data["medfee_sumamt"] = money(v["AKC264"])
    if tx == "14" and v.get("AAE072"):
        data["invono"] = v["AAE072"]
    if not v.get("AAE140"):
        data["insutype"] = "310"
        derived.append(f"{infno}/data/insutype")
    data.update({"mdtrt_cert_type": "03", "psn_setlway": "01"})
    derived += [f"{infno}/data/mdtrt_cert_type", f"{infno}/data/psn_setlway"]
    if not inpatient:
        data["chrg_bchno"] = "1"
        derived.append(f"{infno}/data/chrg_bchno")
    data["acct_used_flag"] = "0"
    derived.append(f"{infno}/data/acct_used_flag")
    if inpatient:
        data["mid_setl_flag"] = "0"
        derived.append(f"{infno}/data/mid_setl_flag")
    return yd_call(tx, [step(infno, {"data": data})], a, definition="14@inpatient" if inpatient else tx,
                   repairs=repairs, derived=derived)


def yunnan():
    s = Suite("yunnan")
    a11, a12, a14, a72 = yd_args("11"), yd_args("12"), yd_args("14"), yd_args("72")
    a21 = yd_args("21", OldTransCode="14", OldSenderSerialNo="H990100000012024052010300001")
    a21["SenderSerialNo"] = "H990100000012024052011000002"
    s.case("11-registration", "11 就诊登记 → 2201; AKC190 is the hospital's number here (ipt_otp_no)", "11",
           gbk(yd_doc(YD11)), args=a11, expected=yd11_expected(YD11, a11))
    p = YD11 + [("AAE140", "390"), ("AAC002", "880101199001010000"), ("AAC003", "李四")]
    s.case("11-registration-cross-province", "11 with 险种 and the identity fields of a cross-province 2201", "11",
           gbk(yd_doc(p)), args=a11, expected=yd11_expected(p, a11))
    s.case("12-prescription-lines", "12 处方明细录入 → 2204, AKA111 recoded", "12",
           gbk(yd_doc([("AKC190", "YD9901202405000007")], rows=[YD_ROW1, YD_ROW2])), args=a12,
           expected=yd12_expected("YD9901202405000007", [YD_ROW1, YD_ROW2], a12))
    s.case("14-settlement-outpatient", "14 结算 → 2207 (outpatient AKA130)", "14", gbk(yd_doc(YD14)), args=a14,
           expected=yd14_expected(YD14, a14))
    for code in ("21", "25", "52"):
        p = with_(YD14, AKA130=code, AKC264="25600.00")
        s.case(f"14-settlement-inpatient-{code}", f"14 with AKA130 {code} routes to 2304", "14", gbk(yd_doc(p)), args=a14,
               expected=yd14_expected(p, a14))
    s.case("21-reversal", "21 反结算 → 2208; setl_id from the answer of OldSenderSerialNo's call", "21",
           gbk(yd_doc([("AKC190", "YD9901202405000007"), ("AAE011", "0001")])), args=a21,
           expected=yd_call("21", [step("2208", {"data": {"psn_no": "8800000042", "mdtrt_id": "YD9901202405000007",
                                                          "setl_id": ""}}, lookup=[(0, "/setlinfo/setl_id", "/data/setl_id")])],
                            a21, reverses="H990100000012024052010300001"))
    s.case("21-without-old-serial", "21 must name the settlement it reverses", "21",
           gbk(yd_doc([("AKC190", "YD9901202405000007")])), args=yd_args("21"), rules=["LEG-FIELD"],
           fields=["OldSenderSerialNo"])
    p72 = [("AKC190", "YD9901202405000007"), ("AKA130", "11"), ("AKC264", "304.52"), ("AKC255", "0.00")]
    s.case("72-pre-settlement", "72 预结算 → 2206", "72", gbk(yd_doc(p72)), args=a72,
           expected=yd14_expected(p72, a72, tx="72"))
    # recode tables
    for code in YD_AKA130:
        p = with_(YD14, AKA130=code)
        s.case(f"recode-aka130-{code}", f"AKA130 {code} → med_type {YD_AKA130[code]}", "14", gbk(yd_doc(p)), args=a14,
               expected=yd14_expected(p, a14))
    for code in YD_AAE140:
        p = YD14 + [("AAE140", code)]
        s.case(f"recode-aae140-{code}", f"AAE140 {code} → insutype {YD_AAE140[code]}", "14", gbk(yd_doc(p)), args=a14,
               expected=yd14_expected(p, a14))
    rows = [with_(YD_ROW1, AKC231=str(n + 1), AKA111=code, AKA065=str(1 + n % 4)) for n, code in enumerate(OTHER_AKA111)]
    s.case("recode-aka111-all", "every AKA111 (01–13/99) and AKA065 entry", "12",
           gbk(yd_doc([("AKC190", "YD9901202405000007")], rows=rows)), args=a12,
           expected=yd12_expected("YD9901202405000007", rows, a12))
    s.case("recode-aka111-unknown", "AKA111 14 is in no table", "12",
           gbk(yd_doc([("AKC190", "X")], rows=[with_(YD_ROW1, AKA111="14")])), args=a12, rules=["LEG-RECODE"],
           fields=["AKA111"])
    s.case("recode-aka130-unknown", "AKA130 99 is in no table", "14", gbk(yd_doc(with_(YD14, AKA130="99"))), args=a14,
           rules=["LEG-RECODE"], fields=["AKA130"])
    # arguments
    s.case("transcode-differs", "TransCode 72 on the path of 14", "14", gbk(yd_doc(YD14)), args=yd_args("72"),
           rules=["LEG-TX"], fields=["TransCode"])
    a = yd_args("14", TransCode=None)
    s.case("transcode-absent", "without TransCode the path names the transaction", "14", gbk(yd_doc(YD14)), args=a,
           expected=yd14_expected(YD14, a))
    s.case("insured-area-missing", "InsuredAreaNo routes the call: required", "14", gbk(yd_doc(YD14)),
           args=yd_args("14", InsuredAreaNo=None), rules=["LEG-FIELD"], fields=["InsuredAreaNo"])
    s.case("insured-area-not-admdvs", "InsuredAreaNo 8801 is not a 6-digit region", "14", gbk(yd_doc(YD14)),
           args=yd_args("14", InsuredAreaNo="8801"), rules=["LEG-FIELD"], fields=["InsuredAreaNo"])
    s.case("person-missing", "PersonNo missing", "14", gbk(yd_doc(YD14)), args=yd_args("14", PersonNo=None),
           rules=["LEG-FIELD"], fields=["PersonNo"])
    a = {k.lower(): v for k, v in yd_args("14").items()}
    s.case("argument-names-case", "argument names are case-insensitive", "14", gbk(yd_doc(YD14)), args=a,
           expected=yd14_expected(YD14, yd_args("14")))
    # values, encodings, tolerances
    p = with_(YD14, AKC264="304.5200")
    s.case("amount-4-decimals", "AKC264 304.5200", "14", gbk(yd_doc(p)), args=a14,
           expected=yd14_expected(p, a14, repairs=["AKC264"]))
    s.case("amount-4-decimals-non-zero", "AKC264 304.5234 refused", "14", gbk(yd_doc(with_(YD14, AKC264="304.5234"))),
           args=a14, rules=["LEG-AMOUNT"], fields=["AKC264"])
    s.case("date-only-time", "AKC192 2024-05-20 (a date) for a date-time: midnight, recorded", "11",
           gbk(yd_doc(with_(YD11, AKC192="2024-05-20"))), args=a11,
           expected=yd11_expected(with_(YD11, AKC192="2024-05-20 00:00:00"), a11, repairs=["AKC192"]))
    s.case("date-bad", "AKC221 2024/05/20 10:10:00 refused", "12",
           gbk(yd_doc([("AKC190", "X")], rows=[with_(YD_ROW1, AKC221="2024/05/20 10:10:00")])), args=a12,
           rules=["LEG-DATE"], fields=["AKC221"])
    p = with_(YD11, AKC201="内科𠀀")
    s.case("four-byte-department", "a GB18030 four-byte character in a value (GB18030 bytes, no declaration)", "11",
           gb18030(yd_doc(p)), args=a11, expected=yd11_expected(p, a11))
    s.case("utf8-declared", "a UTF-8 declaration is honoured", "11",
           utf8(yd_doc(YD11, decl='<?xml version="1.0" encoding="UTF-8"?>')), args=a11,
           expected=yd11_expected(YD11, a11, encoding="Utf8"))
    s.case("utf8-bom", "a UTF-8 BOM without declaration: UTF-8", "11", b"\xef\xbb\xbf" + utf8(yd_doc(YD11)), args=a11,
           expected=yd11_expected(YD11, a11, repairs=["bom"], encoding="Utf8"))
    s.case("stray-whitespace", "whitespace between elements", "14", gbk(yd_doc(YD14, sep=" \n")), args=a14,
           expected=yd14_expected(YD14, a14, repairs=["xml"]))
    s.case("crlf", "CRLF between elements", "14", gbk(yd_doc(YD14, sep="\r\n")), args=a14,
           expected=yd14_expected(YD14, a14, repairs=["crlf", "xml"]))
    s.case("empty-optional", "an empty AAE072 is absent", "14", gbk(yd_doc(with_(YD14, AAE072="")).replace("<AAE072></AAE072>", "<AAE072/>")),
           args=a14, expected=yd14_expected(with_(YD14, AAE072=None), a14, repairs=["AAE072"]))
    bad = bytearray(gbk(yd_doc(YD11)))
    at = bad.index(gbk("内科"))
    bad[at] = 0x80
    s.case("invalid-byte", "byte 0x80 alone is not GBK", "11", bytes(bad), args=a11, rules=["LEG-ENCODING"],
           fields=["encoding"])
    s.case("declared-big5", "Big5 declared", "11", gbk(yd_doc(YD11, decl='<?xml version="1.0" encoding="Big5"?>')),
           args=a11, rules=["LEG-ENCODING-DECLARED"])
    s.case("doctype", "DOCTYPE", "11", utf8(DOCTYPE), args=a11, rules=["LEG-XML-DOCTYPE"])
    s.case("billion-laughs", "entity expansion", "11", utf8(LAUGHS), args=a11, rules=["LEG-XML-DOCTYPE"])
    s.case("deep-nesting", "deep nesting", "11", utf8(DEEP), args=a11, rules=["LEG-LIMIT"], fields=["depth_max"])
    s.case("many-attributes", "many attributes", "11", utf8(WIDE), args=a11, rules=["LEG-LIMIT"], fields=["attributes_max"])
    s.case("too-many-rows", "two lines with rows_max 1", "12",
           gbk(yd_doc([("AKC190", "X")], rows=[YD_ROW1, YD_ROW2])), args=a12, rules=["LEG-LIMIT"],
           fields=["rows_max"], options={"rows_max": 1})
    s.case("wrong-root", "<output> is not a request", "11", gbk("<output/>"), args=a11, rules=["LEG-ENVELOPE"])
    s.case("unknown-transaction", "15 更新登记 is not served", "15", gbk(yd_doc(YD11)), args=yd_args("15"), rules=["LEG-TX"])
    # answers
    out14 = ('[{"setlinfo":{"mdtrt_id":"YD9901202405000007","setl_id":"880000000456","psn_no":"8800000042",'
             '"medfee_sumamt":304.52,"fulamt_ownpay_amt":0,"preselfpay_amt":30.00,"inscp_scp_amt":274.52,'
             '"act_pay_dedc":100.00,"hifp_pay":139.62,"hifob_pay":0,"hifmi_pay":0,"fund_pay_sumamt":139.62,'
             '"acct_pay":0,"psn_cash_pay":164.90,"balc":0},"setldetail":[]}]')
    ans14 = ("<output><AKC190>YD9901202405000007</AKC190><AAZ216>880000000456</AAZ216><AKC264>304.52</AKC264>"
             "<CKC120>0.00</CKC120><CKC121>30.00</CKC121><AKC290>100.00</AKC290><CKC156>139.62</CKC156>"
             "<CKC162>0.00</CKC162><AKC260>139.62</AKC260><AKC255>0.00</AKC255><AKC261>164.90</AKC261>"
             "<AKC087>0.00</AKC087></output>")
    s.case("answer-14", "the settlement answered with upper-case codes, no declaration (§1C)", "14", gbk(yd_doc(YD14)),
           args=a14, kind="answer", outputs=out14, xml=gbk(ans14))
    s.case("answer-11", "11 answers the centre's visit number in AKC190", "11", gbk(yd_doc(YD11)), args=a11,
           kind="answer", outputs='[{"data":{"mdtrt_id":"YD9901202405000007","psn_no":"8800000042","ipt_otp_no":"MZ20240520001"}}]',
           xml=gbk("<output><AKC190>YD9901202405000007</AKC190></output>"))
    out12 = ('[{"result":[{"feedetl_sn":"1","det_item_fee_sumamt":4.52,"cnt":2,"pric":2.26,"fulamt_ownpay_amt":0,'
             '"preselfpay_amt":0,"inscp_scp_amt":4.52,"chrgitm_lv":"1"},{"feedetl_sn":"2","det_item_fee_sumamt":300.00,'
             '"cnt":1,"pric":300,"fulamt_ownpay_amt":0,"preselfpay_amt":30.00,"inscp_scp_amt":270.00,"chrgitm_lv":"02"}]}]')
    s.case("answer-12-rows", "12 answers one <ROW> per line; an unknown chrgitm_lv passes as sent", "12",
           gbk(yd_doc([("AKC190", "YD9901202405000007")], rows=[YD_ROW1, YD_ROW2])), args=a12, kind="answer",
           outputs=out12,
           xml=gbk("<output><ROW><AKC231>1</AKC231><AKC227>4.52</AKC227><CKC120>0.00</CKC120><CKC121>0.00</CKC121>"
                   "<AKC263>4.52</AKC263><AKA065>1</AKA065></ROW><ROW><AKC231>2</AKC231><AKC227>300.00</AKC227>"
                   "<CKC120>0.00</CKC120><CKC121>30.00</CKC121><AKC263>270.00</AKC263><AKA065>02</AKA065></ROW></output>"))
    s.case("answer-14-bad-amount", "a national amount 139.625 cannot be answered", "14", gbk(yd_doc(YD14)), args=a14,
           kind="answer", outputs=out14.replace('"hifp_pay":139.62', '"hifp_pay":139.625'), rules=["LEG-AMOUNT"],
           fields=["CKC156"])
    s.case("refusal-answer", "a refusal: out of band, an empty <output>, no declaration", "14",
           gbk(yd_doc(with_(YD14, AKA130="99"))), args=a14, rules=["LEG-RECODE"], fields=["AKA130"],
           xml=gbk("<output></output>"))
    return s.n


# ============================================================================= mohrss

SOAP_DECL = '<?xml version="1.0" encoding="GBK"?>'


def soap(business, funid="F00.01.03", decl=SOAP_DECL, header_extra="", system="in:system", sep=""):
    paras = sep.join(f'<para {k}="{v}"/>' for k, v in business if v is not None)
    return (decl + '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            'soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><soap:Header>'
            f'<{system} xmlns:in="http://www.molss.gov.cn"><para usr="hisuser"/><para pwd="secret"/>'
            f'<para funid="{funid}"/></{system}>{header_extra}</soap:Header><soap:Body>'
            f'<in:business xmlns:in="http://www.molss.gov.cn/">{paras}</in:business></soap:Body></soap:Envelope>')


SOAP_BIZ = [("startrow", "1"), ("row_count", "-1"), ("pagesize", "500"), ("functionid", "F27.02"),
            ("aac002", "990101199001010000"), ("aac003", "张三")]


def soap_expected(biz, encoding="Gbk", repairs=()):
    v = dict(biz)
    data = {"mdtrt_cert_no": v["aac002"], "certno": v["aac002"]}
    if v.get("aac003"):
        data["psn_name"] = v["aac003"]
    data.update({"mdtrt_cert_type": "02", "psn_cert_type": "01"})
    return call("mohrss", "F00.01.03", encoding, [step("1101", {"data": data})], opter="hisuser",
                repairs=list(repairs), derived=["1101/data/mdtrt_cert_type", "1101/data/psn_cert_type"])


def soap_answer(rows, code="1", message="", encoding="GBK"):
    rs = "".join("<row " + " ".join(f'{k}="{v}"' for k, v in r) + "/>" for r in rows)
    return (f'<?xml version="1.0" encoding="{encoding}"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            'soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><soap:Header>'
            f'<result sessionID="" message="{message}"/></soap:Header><soap:Body><out:business xmlns:out="http://www.molss.gov.cn/">'
            f'<result result="{code}"/><result row_count="{len(rows)}"/>'
            + (f'<resultset name="querylist">{rs}</resultset>' if code == "1" else "")
            + "</out:business></soap:Body></soap:Envelope>")


def mohrss():
    s = Suite("mohrss")
    T = "F00.01.03"
    base = gbk(soap(SOAP_BIZ))
    s.case("person-query", "F00.01.03 + functionid F27.02 参保人员查询 → 1101 by ID number", T, base,
           expected=soap_expected(SOAP_BIZ))
    b = with_(SOAP_BIZ, aac003=None)
    s.case("person-query-no-name", "without aac003", T, gbk(soap(b)), expected=soap_expected(b))
    b = with_(SOAP_BIZ, aac003="张𠀀")
    s.case("four-byte-name", "a GB18030 four-byte character in aac003 (declared GB18030)", T,
           gb18030(soap(b, decl=SOAP_DECL.replace("GBK", "GB18030"))), expected=soap_expected(b, encoding="Gb18030"))
    s.case("four-byte-name-gbk-declared", "the same bytes declared GBK: read with the GB18030 decoder", T,
           gb18030(soap(b)), expected=soap_expected(b))
    b = with_(SOAP_BIZ, aac003=" 张三 ")
    s.case("value-whitespace", "spaces around an attribute value are removed", T, gbk(soap(b)),
           expected=soap_expected(SOAP_BIZ, repairs=["aac003"]))
    b = with_(SOAP_BIZ, aac003="")
    s.case("empty-optional", "an empty aac003 is absent", T, gbk(soap(b)),
           expected=soap_expected(with_(SOAP_BIZ, aac003=None), repairs=["aac003"]))
    b = with_(SOAP_BIZ, aac003="A&amp;B")
    s.case("attribute-entities", "an escaped & in an attribute value", T, gbk(soap(b)),
           expected=soap_expected(with_(SOAP_BIZ, aac003="A&B")))
    s.case("single-quotes", "attribute values in single quotes", T, gbk(soap(SOAP_BIZ).replace('aac002="990101199001010000"', "aac002='990101199001010000'")),
           expected=soap_expected(SOAP_BIZ))
    s.case("stray-whitespace", "newlines between the paras", T, gbk(soap(SOAP_BIZ, sep="\n")),
           expected=soap_expected(SOAP_BIZ, repairs=["xml"]))
    s.case("crlf", "CRLF between the paras", T, gbk(soap(SOAP_BIZ, sep="\r\n")),
           expected=soap_expected(SOAP_BIZ, repairs=["crlf", "xml"]))
    s.case("utf8-bom", "a UTF-8 BOM and declaration", T, b"\xef\xbb\xbf" + utf8(soap(SOAP_BIZ, decl=SOAP_DECL.replace("GBK", "UTF-8"))),
           expected=soap_expected(SOAP_BIZ, encoding="Utf8", repairs=["bom"]))
    s.case("no-declaration", "no declaration: GBK, the profile default", T, gbk(soap(SOAP_BIZ, decl="")),
           expected=soap_expected(SOAP_BIZ, repairs=["declaration"]))
    s.case("gb2312-declared", "GB2312 declared", T, gbk(soap(SOAP_BIZ, decl=SOAP_DECL.replace("GBK", "GB2312"))),
           expected=soap_expected(SOAP_BIZ, encoding="Gb2312"))
    s.case("clientsql-ignored", "a clientsql para (an SQL fragment) is never read", T,
           gbk(soap(SOAP_BIZ + [("clientsql", "( AC01.AAC002 = &apos;990101199001010000&apos;")])),
           expected=soap_expected(SOAP_BIZ))
    # functionid table
    for fid in ("F27.03", "F27.06", "F03.01.19"):
        s.case(f"functionid-{fid}-refused", f"functionid {fid}: no national transaction answers it", T,
               gbk(soap(with_(SOAP_BIZ, functionid=fid))), rules=["LEG-RECODE"], fields=["functionid"])
    s.case("functionid-unknown", "functionid F99 is in no table", T, gbk(soap(with_(SOAP_BIZ, functionid="F99"))),
           rules=["LEG-RECODE"], fields=["functionid"])
    s.case("functionid-missing", "functionid is required", T, gbk(soap(with_(SOAP_BIZ, functionid=None))),
           rules=["LEG-FIELD"], fields=["body/business/functionid"])
    s.case("aac002-missing", "the ID number is required (1101 takes a credential)", T,
           gbk(soap(with_(SOAP_BIZ, aac002=None))), rules=["LEG-FIELD"], fields=["body/business/aac002"])
    s.case("funid-differs", "funid F00.01.02 on the path of F00.01.03", T, gbk(soap(SOAP_BIZ, funid="F00.01.02")),
           rules=["LEG-TX"], fields=["funid"])
    s.case("funid-not-served", "F00.01.02 is not served", "F00.01.02", gbk(soap(SOAP_BIZ, funid="F00.01.02")),
           rules=["LEG-TX"])
    s.case("no-system-header", "the header has no in:system", T, gbk(soap(SOAP_BIZ, system="in:other")),
           rules=["LEG-ENVELOPE"])
    s.case("no-business", "the body has no in:business", T,
           gbk(soap(SOAP_BIZ).replace("in:business", "in:work")), rules=["LEG-ENVELOPE"], fields=["body/business"])
    s.case("wrong-root", "SOAP-ENV:Envelope is not this dialect's root", T,
           gbk(soap(SOAP_BIZ).replace("soap:Envelope", "SOAP-ENV:Envelope").replace('xmlns:soap="', 'xmlns:SOAP-ENV="x" xmlns:soap="')),
           rules=["LEG-ENVELOPE"], fields=["SOAP-ENV:Envelope"])
    s.case("duplicate-para", "aac002 twice with different values", T,
           gbk(soap(SOAP_BIZ + [("aac002", "990101199001019999")])), rules=["LEG-ENVELOPE"], fields=["aac002"])
    s.case("duplicate-attribute", "one para with aac002 twice is malformed", T,
           gbk(soap(SOAP_BIZ).replace('<para aac002="990101199001010000"/>', '<para aac002="1" aac002="2"/>')),
           rules=["LEG-XML"])
    # hostile
    s.case("doctype", "DOCTYPE", T, utf8(DOCTYPE), rules=["LEG-XML-DOCTYPE"])
    s.case("billion-laughs", "entity expansion", T, utf8(LAUGHS), rules=["LEG-XML-DOCTYPE"])
    s.case("deep-nesting", "deep nesting", T, utf8(DEEP), rules=["LEG-LIMIT"], fields=["depth_max"])
    s.case("many-attributes", "100 attributes on one para (attributes_max 64)", T,
           gbk(soap(SOAP_BIZ).replace('<para pagesize="500"/>', "<para " + " ".join(f'x{i}="1"' for i in range(100)) + "/>")),
           rules=["LEG-LIMIT"], fields=["attributes_max"])
    s.case("too-many-rows", "row elements in a request beyond rows_max", T,
           gbk(soap(SOAP_BIZ).replace("</in:business>", '<row a="1"/><row a="2"/><row a="3"/></in:business>')),
           rules=["LEG-LIMIT"], fields=["rows_max"], options={"rows_max": 2})
    s.case("long-attribute", "an attribute over text_bytes_max", T, base, rules=["LEG-LIMIT"], fields=["text_bytes_max"],
           options={"text_bytes_max": 10})
    s.case("body-too-large", "a body over body_bytes_max", T, base, rules=["LEG-LIMIT"], fields=["body_bytes_max"],
           options={"body_bytes_max": 100})
    bad = bytearray(base)
    at = bad.index(gbk("张三"))
    bad[at + 1] = 0x22  # lead byte + '"'
    s.case("invalid-gbk-sequence", "an invalid GBK sequence in an attribute", T, bytes(bad), rules=["LEG-ENCODING"],
           fields=["encoding"])
    s.case("declared-shift-jis", "Shift_JIS declared", T, gbk(soap(SOAP_BIZ, decl=SOAP_DECL.replace("GBK", "Shift_JIS"))),
           rules=["LEG-ENCODING-DECLARED"])
    s.case("utf8-declared-gbk-bytes", "GBK bytes under a UTF-8 declaration", T,
           gbk(soap(SOAP_BIZ, decl=SOAP_DECL.replace("GBK", "UTF-8"))), rules=["LEG-ENCODING-DECLARED"])
    s.case("unclosed", "an unclosed element", T, base.replace(b"</soap:Body>", b""), rules=["LEG-XML"])
    # answers
    out = ('[{"baseinfo":{"psn_no":"9900000001","certno":"990101199001010000","psn_name":"%s","gend":"1",'
           '"brdy":"1990-01-01"},"insuinfo":[%s]}]')
    ins1 = '{"insutype":"310","psn_type":"1101","balc":1000.00,"insuplc_admdvs":"990100","emp_name":"%s"}'
    ins2 = '{"insutype":"392","psn_type":"1501","balc":0,"insuplc_admdvs":"990100","emp_name":""}'

    def row(name="张三", emp="示例公司", insutype="310", psn_type="1101", balc="1000.00"):
        return [("aac001", "9900000001"), ("aac002", "990101199001010000"), ("aac003", name), ("aac004", "1"),
                ("aac006", "1990-01-01"), ("aae140", insutype), ("akc021", psn_type), ("aab004", emp),
                ("aab301", "990100"), ("akc087", balc)]
    s.case("answer-one-row", "the person answered as one attribute row in resultset querylist", T, base, kind="answer",
           outputs=out % ("张三", ins1 % "示例公司"), xml=gbk(soap_answer([row()])))
    s.case("answer-two-rows", "one row per insurance record; insutype 392 has no aae140 code: passed as sent", T, base,
           kind="answer", outputs=out % ("张三", ins1 % "示例公司" + "," + ins2),
           xml=gbk(soap_answer([row(), row(emp="", insutype="392", psn_type="1501", balc="0.00")])))
    s.case("answer-escaped", "attribute values escape & and \"", T, base, kind="answer",
           outputs=out % ("张三", ins1 % 'A&B \\"C\\"'), xml=gbk(soap_answer([row(emp="A&amp;B &quot;C&quot;")])))
    s.case("answer-gb18030-name", "a name outside GBK: answered in GB18030", T, base, kind="answer",
           outputs=out % ("张𠀀", ins1 % "示例公司"), xml=gb18030(soap_answer([row(name="张𠀀")], encoding="GB18030")))
    s.case("answer-bad-date", "a national brdy that is not a date", T, base, kind="answer",
           outputs=(out % ("张三", ins1 % "x")).replace("1990-01-01", "1990/01/01"), rules=["LEG-DATE"], fields=["aac006"])
    s.case("refusal-answer", "a refusal: result -1, row_count 0, the message in the header", T,
           gbk(soap(with_(SOAP_BIZ, functionid="F27.03"))), rules=["LEG-RECODE"], fields=["functionid"],
           xml=gbk(soap_answer([], code="-1", message="[LEG-RECODE] functionid: `F27.03` is refused by table functionid: "
                               "离退休人员查询 is a pension query: no national medical-insurance transaction answers it")))
    return s.n


if __name__ == "__main__":
    for f in (guizhou, shijiazhuang, yunnan, mohrss):
        print(f.__name__, f())
