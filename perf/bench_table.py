#!/usr/bin/env python3
"""Tables for perf/run (standard library only).

  bench_table.py table LINES MD     JSON lines from the bench_* programs ->
                                    a table on stdout and in MD (markdown)
  bench_table.py demo LOAD SRV TICKS HZ
                                    urt-load's and urt-echo's JSON lines and
                                    the server's utime+stime ticks -> a table

A measurement line is {"bench", "urt", "peer", "peer_name", "unit", "ratio",
"target", "better": "lower"|"higher"}; with "target_kind": "absolute" the
target bounds urt's own value, otherwise the urt/peer ratio. A target of 0
(or none) marks an informational line: no verdict.
"""
import json
import sys


def num(v):
    """A short human form of a number."""
    if v is None:
        return "-"
    v = float(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def read_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"bench_table: skipping bad line: {line}", file=sys.stderr)
    return out


def verdict(m):
    """(target text, 'met' | 'short' | 'n/a') for one measurement."""
    target = m.get("target")
    lower = m.get("better", "lower") == "lower"
    op = "<=" if lower else ">="
    if not target:  # absent or 0: informational, nothing to meet
        return "-", "n/a"
    if m.get("target_kind") == "absolute":
        value, text = m.get("urt"), f"{op} {target:g} {m.get('unit', '')}".strip()
    else:
        value, text = m.get("ratio"), f"{op} {target:g}x"
        if not m.get("peer"):
            return text, "n/a"  # no peer measured: no ratio to judge
    if value is None:
        return text, "n/a"
    ok = value <= target if lower else value >= target
    return text, "met" if ok else "short"


def render(header, rows):
    """Aligned text table and a markdown table, as two strings."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    text = "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
    md = "\n".join(["| " + " | ".join(header) + " |",
                    "|" + "|".join("---" for _ in header) + "|"] +
                   ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])
    return text, md


def cmd_table(lines_path, md_path):
    ms = read_lines(lines_path)
    header = ["benchmark", "urt", "peer (name)", "unit", "ratio", "target", "met/short"]
    rows = []
    for m in ms:
        target, v = verdict(m)
        peer = f"{num(m.get('peer'))} ({m.get('peer_name', '?')})" if m.get("peer") else \
            f"- ({m.get('peer_name', 'none')})"
        ratio = f"{m['ratio']:.3f}x" if m.get("peer") and m.get("ratio") is not None else "-"
        rows.append([m.get("bench", "?"), num(m.get("urt")), peer, m.get("unit", ""),
                     ratio, target, v])
    text, md = render(header, rows)
    print(text)
    met = sum(1 for r in rows if r[-1] == "met")
    short = sum(1 for r in rows if r[-1] == "short")
    print(f"\n{met} met, {short} short, {len(rows) - met - short} without a verdict")
    with open(md_path, "w") as f:
        f.write("# urt benchmarks\n\n"
                "Written by `perf/run bench`; method in docs/benchmarks.md.\n\n")
        f.write(md + "\n")
        f.write(f"\n{met} met, {short} short, {len(rows) - met - short} without a verdict.\n")


def cmd_demo(load_path, srv_path, ticks, hz):
    load = read_lines(load_path)
    srv = read_lines(srv_path)
    if not load:
        sys.exit("bench_table: urt-load printed no result")
    ld = load[-1]
    sv = srv[-1] if srv else {}
    rts = ld.get("round_trips", 0)
    served = sv.get("bytes", 0) / ld.get("size", 64) if sv else 0
    cpu_us = float(ticks) * 1e6 / float(hz)
    rows = [
        ["round trips/s", num(ld.get("rtps")), f"{ld.get('conns')} connections, {ld.get('size')}-byte ping-pong, {ld.get('seconds', 0):.1f} s"],
        ["latency p50", f"{num(ld.get('p50_us'))} us", "urt-load's histogram"],
        ["latency p99", f"{num(ld.get('p99_us'))} us", f"p99.9 {num(ld.get('p999_us'))} us, max {num(ld.get('max_us'))} us"],
        ["io_uring_enter per round trip",
         num(sv["enters"] / served) if sv and served else "-",
         "urt_loop_stats_get: enters / round trips served"],
        ["server CPU per round trip",
         f"{num(cpu_us / rts)} us" if rts else "-",
         f"/proc/<pid>/stat utime+stime: {int(ticks)} ticks at {int(hz)} Hz"],
    ]
    text, _ = render(["urt-echo demo", "value", "note"], rows)
    print(text)


def main(argv):
    if len(argv) == 4 and argv[1] == "table":
        cmd_table(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "demo":
        cmd_demo(argv[2], argv[3], argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
