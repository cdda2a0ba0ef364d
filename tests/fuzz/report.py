#!/usr/bin/env python3
"""Append a run's figures to tests/fuzz/figures.tsv (every run ever recorded) and rewrite the
table of RELIABILITY.md's "Fuzzing" section from it (between the fuzz-table markers; the rest
of the file is left alone).

usage: report.py RELIABILITY.md RESULTS.tsv MACHINE COMMAND
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
FIGURES = HERE / "figures.tsv"
COLUMNS = ["target", "started", "executions", "seconds", "exec_per_s", "cov", "ft", "corpus",
           "findings", "peak_rss", "run", "machine", "command"]
BEGIN, END = "<!-- fuzz-table:begin (tests/fuzz/report.py) -->", "<!-- fuzz-table:end -->"
ORDER = ["nhsa", "upload_9101", "bank_receipts", "trigger", "config", "legacy",
         "settlement_csv", "money"]
GOAL = 10_000_000


def main(md, results, machine, command):
    rows = []
    if FIGURES.exists():
        lines = FIGURES.read_text().splitlines()[1:]
        rows = [dict(zip(COLUMNS, l.split("\t"))) for l in lines if l.strip()]
    for l in pathlib.Path(results).read_text().splitlines():
        if l.strip():
            r = dict(zip(COLUMNS, l.split("\t")))
            r["machine"], r["command"] = machine, command.strip()
            rows.append(r)
    FIGURES.write_text("\t".join(COLUMNS) + "\n" + "".join(
        "\t".join(r.get(c, "") for c in COLUMNS) + "\n" for r in rows))

    latest, total, found = {}, {}, {}
    for r in rows:
        t = r["target"]
        latest[t] = r
        if r["findings"] == "none":  # runs that stopped on a finding do not count
            total[t] = total.get(t, 0) + int(r["executions"] or 0)
        else:
            total.setdefault(t, 0)
        if r["findings"] != "none":
            found.setdefault(t, []).append(r["findings"])
    out = [BEGIN, "",
           "| Target | Executions (last run) | Time | exec/s | cov / ft at the end | "
           "Peak RSS | Corpus saved | Findings (last run) | Executions of all runs without a finding |",
           "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for t in sorted(latest, key=lambda t: (ORDER.index(t) if t in ORDER else 99, t)):
        r = latest[t]
        goal = "" if total[t] >= GOAL else " (below 10 M)"
        out.append(f"| `{t}` | {int(r['executions']):,} | {r['seconds']} s | {int(r['exec_per_s']):,} | "
                   f"{r['cov']} / {r['ft']} | {r['peak_rss']} | {r['corpus']} | {r['findings']} | "
                   f"{total[t]:,}{goal} |")
    out.append("")
    cmds = sorted({(r["command"], r["machine"], r["started"][:10]) for r in latest.values()})
    for c, m, d in cmds:
        ts = ", ".join(f"`{t}`" for t, r in latest.items() if (r["command"], r["machine"], r["started"][:10]) == (c, m, d))
        out.append(f"- {ts}: `{c}` on {m}, {d}.")
    out.append(f"- Every run, with its date and command: `tests/fuzz/figures.tsv` ({len(rows)} rows).")
    out += ["", END]
    table = "\n".join(out)

    path = pathlib.Path(md)
    text = path.read_text() if path.exists() else "# Reliability\n\n## Fuzzing\n\n"
    if BEGIN in text and END in text:
        a, rest = text.split(BEGIN, 1)
        _, b = rest.split(END, 1)
        text = a + table + b
    else:
        if "## Fuzzing" not in text:
            text = text.rstrip("\n") + "\n\n## Fuzzing\n\n"
        head, tail = text.split("## Fuzzing", 1)
        # end of the section: the next "## " heading
        i = tail.find("\n## ")
        body, after = (tail, "") if i < 0 else (tail[:i], tail[i:])
        text = head + "## Fuzzing" + body.rstrip("\n") + "\n\n" + table + "\n" + after
    path.write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:5])
