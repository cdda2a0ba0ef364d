"""An independent oracle of medsettle's canonical form for national-interface messages.

It reads the field tables in specs/nhsa/*.toml (not the Rust code) and converts a request or
response the way specs/canonical-schema.md says: amounts to integer fen, ratios to 1/10 000,
counts to integers, quantities to exact decimal text with their scale, date-times to
ISO 8601 +08:00, unknown keys under "extra". Used by gen_nhsa_cases.py to write the
expected.json of accept cases that are not settled claims (claims are written by hand).
"""
import json
import pathlib
import tomllib
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs" / "nhsa"
ALIASES = {"2206A": "2206", "2207A": "2207", "3203A": "3203", "4101A": "4101"}


def tree(rows):
    """rows with paths a.b[].c -> nested {name: (row, children)}"""
    root = {}
    for r in rows:
        node = root
        segs = r["path"].split(".")
        for s in segs[:-1]:
            node = node[s.removesuffix("[]")][1]
        root_name = segs[-1]
        node[root_name] = (r, {})
    return root


def load(infno):
    base = ALIASES.get(infno, infno)
    t = tomllib.loads((SPECS / f"{base}.toml").read_text())
    return tree(t.get("input", [])), tree(t.get("output", [])), t["has_output"]


def envelope():
    t = tomllib.loads((SPECS / "envelope.toml").read_text())
    return tree(t["request"]), tree(t["response"])


def absent(row, v):
    if v is None:
        return True
    if v == "" and row["type"] != "char":
        return True
    return False


def scalar(row, v):
    t = row["type"]
    if t in ("char", "date", "admdvs", "json"):
        return v
    if t == "datetime":
        d, tm = v.split(" ")
        return f"{d}T{tm}+08:00"
    d = Decimal(str(v))
    if t == "money":
        fen = d * 100
        assert fen == fen.to_integral_value(), v
        return int(fen)
    if t == "ratio":
        bp = d * 10000
        assert bp == bp.to_integral_value(), v
        return int(bp)
    if t == "num":
        scale = row["scale"]
        if scale == 0:
            return int(d)
        return str(d.quantize(Decimal(1).scaleb(-scale)))
    raise ValueError(t)


def obj(fields, value):
    out = {}
    for name, (row, children) in fields.items():
        if name not in value or absent(row, value[name]):
            continue
        v = value[name]
        if row["type"] == "object":
            out[name] = obj(children, v)
        elif row["type"] == "array":
            out[name] = [obj(children, x) for x in v]
        else:
            out[name] = scalar(row, v)
    extra = {k: v for k, v in value.items() if k not in fields}
    if extra:
        out["extra"] = extra
    return out


def loads(text):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def request(msg):
    req_env, _ = envelope()
    infno = msg["infno"]
    inp, _, _ = load(infno)
    env = obj({k: x for k, x in req_env.items() if k not in ("infno", "input")},
              {k: v for k, v in msg.items() if k not in ("infno", "input")})
    extra = env.pop("extra", None)
    out = {"kind": "request", "infno": infno, **env}
    if extra:
        out["extra"] = extra
    out["input"] = obj(inp, msg["input"])
    return out


def response(msg, infno, shape_infno=None):
    _, resp_env = envelope()
    env = obj({k: x for k, x in resp_env.items() if k != "output"},
              {k: v for k, v in msg.items() if k != "output"})
    env["infcode"] = int(Decimal(str(msg["infcode"])))
    extra = env.pop("extra", None)
    out = {"kind": "response", "infno": infno, **env}
    if extra:
        out["extra"] = extra
    raw = msg.get("output")
    if raw == "":
        raw = None
    if env["infcode"] != 0:
        out["output"] = raw
    else:
        _, outp, has_output = load(shape_infno or infno)
        out["output"] = obj(outp, raw) if has_output else (raw or {})
    return out
