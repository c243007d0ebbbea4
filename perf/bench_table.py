#!/usr/bin/env python3
"""Tables and plots for perf/run (standard library only; plots need gnuplot).

  bench_table.py table LINES OUTDIR [MACHINE]
        JSON lines from the bench_* programs -> a table on stdout, and
        OUTDIR/bench.md with the table and OUTDIR/bench-ratios.png
  bench_table.py demo DIR OUTDIR
        the demo's files in DIR (load-*.json, srv.json, stats.jsonl,
        access.log, info, timeline-*.dat, hist-*.dat) -> a table on
        stdout, and OUTDIR/demo.md with the table, OUTDIR/demo-latency.png
        and OUTDIR/demo-throughput.png
  bench_table.py machine
        one line naming this machine: CPU model, vCPUs, kernel, date

A measurement line is {"bench", "urt", "peer", "peer_name", "unit", "ratio",
"target", "better": "lower"|"higher"}; with "target_kind": "absolute" the
target bounds urt's own value, otherwise the urt/peer ratio. A target of 0
(or none) marks an informational line: no verdict.
"""
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def num(v):
    """A short human form of a number."""
    if v is None:
        return "n/a"
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


BAD_LINES = []  # lines that were not JSON: a benchmark printed garbage


def read_lines(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"bench_table: skipping bad line: {line[:200]}", file=sys.stderr)
                BAD_LINES.append(line)
    return out


def machine():
    """'AMD EPYC, 2 vCPUs (KVM guest), Linux 6.18, 2025-11-26'."""
    model, hyper = "unknown CPU", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and " hypervisor" in line:
                    hyper = "hypervisor"
    except OSError:
        pass
    virt = ""
    if shutil.which("systemd-detect-virt"):
        found = {}
        for flag in ("--vm", "--container"):
            r = subprocess.run(["systemd-detect-virt", flag], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip() not in ("", "none"):
                found[flag] = r.stdout.strip()
        parts = ([f"{found['--vm'].upper()} guest"] if "--vm" in found else []) + \
                ([f"in a {found['--container']} container"] if "--container" in found else [])
        if parts:
            virt = f" ({', '.join(parts)})"
    if not virt and hyper:
        virt = " (virtual machine)"
    return (f"{model}, {os.cpu_count()} vCPUs{virt}, Linux {platform.release()}, "
            f"{datetime.date.today().isoformat()}")


def gnuplot(script, **params):
    """Run perf/<script> with params as gnuplot variables; False if no gnuplot."""
    if not shutil.which("gnuplot"):
        return False
    args = "; ".join(f"{k}='{v}'" for k, v in params.items())
    r = subprocess.run(["gnuplot", "-e", args, os.path.join(HERE, script)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"bench_table: gnuplot {script} failed: {r.stderr.strip()}", file=sys.stderr)
        return False
    return True


def render(header, rows):
    """Aligned text table and a markdown table, as two strings."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    text = "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])
    md = "\n".join(["| " + " | ".join(header) + " |",
                    "|" + "|".join("---" for _ in header) + "|"] +
                   ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])
    return text, md


# ---- bench ---------------------------------------------------------------

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


def cmd_table(lines_path, outdir, where=None):
    ms = read_lines(lines_path)
    header = ["benchmark", "urt", "peer (name)", "unit", "ratio", "target", "met/short"]
    rows, plot = [], []
    for m in ms:
        target, v = verdict(m)
        peer = f"{num(m.get('peer'))} ({m.get('peer_name', '?')})" if m.get("peer") else \
            f"- ({m.get('peer_name') or 'none'})"
        has_ratio = m.get("peer") and m.get("ratio") is not None
        ratio = f"{m['ratio']:.3f}x" if has_ratio else "-"
        rows.append([m.get("bench", "?"), num(m.get("urt")), peer, m.get("unit", ""),
                     ratio, target, v])
        if has_ratio:
            # the bar chart shows "how many times better than the peer"
            # (> 1 good whichever direction the unit runs) against the
            # target turned the same way
            lower = m.get("better", "lower") == "lower"
            r = float(m["ratio"])
            good = (1 / r if lower else r) if r > 0 else 0
            t = m.get("target") if m.get("target_kind") != "absolute" else None
            tgood = (1 / t if lower else t) if t else float("nan")
            plot.append((m.get("bench", "?"), good, tgood, v))
    text, md = render(header, rows)
    print(text)
    met = sum(1 for r in rows if r[-1] == "met")
    short = sum(1 for r in rows if r[-1] == "short")
    summary = f"{met} met, {short} short, {len(rows) - met - short} without a verdict"
    print(f"\n{summary}")
    nonum = [m.get("bench", "?") for m in ms
             if not isinstance(m.get("urt"), (int, float)) or m["urt"] != m["urt"]]
    for name in nonum:
        print(f"bench_table: {name}: urt's value is not a number", file=sys.stderr)
    os.makedirs(outdir, exist_ok=True)
    png = os.path.join(outdir, "bench-ratios.png")
    dat = os.path.join(outdir, "bench-ratios.dat")
    with open(dat, "w") as f:
        f.write("# index name advantage target_advantage color(1 met, 2 short, 3 no verdict)\n")
        for i, (name, good, tgood, v) in enumerate(plot):
            color = {"met": 1, "short": 2}.get(v, 3)
            f.write(f"{i} {name} {good:.4f} {tgood:.4f} {color}\n")
    have_png = bool(plot) and gnuplot("plot_bench.gp", data=dat, out=png)
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write("# urt benchmarks\n\n"
                "Written by `perf/run bench`; method in docs/benchmarks.md. "
                "urt and its peer ran interleaved (A B A B ...) in the same run; "
                "values are medians.\n\n")
        if where:
            f.write(f"Machine: {where}.\n\n")
        f.write(md + "\n")
        f.write(f"\n{summary}.\n")
        if have_png:
            f.write("\n![urt's advantage over each peer](bench-ratios.png)\n\n"
                    "Bars: how many times better urt is than its peer (peer/urt "
                    "when lower is better, urt/peer when higher is); above 1 urt "
                    "wins. Marks: the target on the same scale. Green met, red "
                    "short, grey no verdict.\n")
    return 1 if nonum or BAD_LINES else 0


# ---- demo ----------------------------------------------------------------

def sum_key(obj, key):
    """Sum every numeric value named key anywhere in obj; None if none."""
    total, found = 0, False
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            for k, v in o.items():
                if k == key and isinstance(v, (int, float)):
                    total, found = total + v, True
                else:
                    stack.append(v)
        elif isinstance(o, list):
            stack.extend(o)
    return total if found else None


def server_stats(path):
    """Totals over every loop's URT_STATS line: loop counters and the
    offload/log sections when present (None when absent or null)."""
    lines = [l for l in read_lines(path) if isinstance(l.get("loop"), dict)]
    loop = {}
    for l in lines:
        for k, v in l["loop"].items():
            if isinstance(v, (int, float)) and k != "id":
                loop[k] = loop.get(k, 0) + v
    offload = [l["offload"] for l in lines if l.get("offload")]
    log = [l["log"] for l in lines if l.get("log")]
    # one process-wide section repeated on every loop's line: take the last
    return {
        "loops": len(lines), "loop": loop,
        "offload_jobs": sum_key(offload[-1], "done") if offload else None,
        "log_written": sum_key(log[-1], "written") if log else None,
        "log_dropped": sum_key(log[-1], "dropped") if log else None,
    }


def load_hist(path, bins_per_octave=8):
    """Fine buckets (lo hi corrected raw) -> coarse log-spaced bins:
    [(lo_us, hi_us, corrected_pct, raw_pct)]."""
    import math
    fine = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            lo, hi, c, r = (int(x) for x in line.split())
            fine.append((lo, hi, c, r))
    tc = sum(x[2] for x in fine) or 1
    tr = sum(x[3] for x in fine) or 1
    coarse = {}
    for lo, hi, c, r in fine:
        k = int(math.floor(math.log2(max(lo, 1)) * bins_per_octave))
        a = coarse.setdefault(k, [0, 0])
        a[0] += c
        a[1] += r
    out = []
    for k in sorted(coarse):
        lo = 2 ** (k / bins_per_octave) / 1e3
        hi = 2 ** ((k + 1) / bins_per_octave) / 1e3
        out.append((lo, hi, 100.0 * coarse[k][0] / tc, 100.0 * coarse[k][1] / tr))
    return out


def cmd_demo(d, outdir):
    closed = (read_lines(os.path.join(d, "load-closed.json")) or [{}])[-1]
    opened = (read_lines(os.path.join(d, "load-open.json")) or [{}])[-1]
    if not closed:
        sys.exit("bench_table: urt-load printed no result")
    srv = (read_lines(os.path.join(d, "srv.json")) or [{}])[-1]
    st = server_stats(os.path.join(d, "stats.jsonl"))
    lp = st["loop"]
    with open(os.path.join(d, "info")) as f:
        info = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    server = info.get("server", "urt-echo")
    reqs = closed.get("requests", 0) + opened.get("requests", 0)
    per_req = lambda v: num(v / reqs) if v is not None and reqs else "n/a"
    log_written, log_dropped = st["log_written"], st["log_dropped"]
    log_note = "the logger's counters (URT_STATS \"log\" section)"
    access = os.path.join(d, "access.log")
    if log_written is None and os.path.exists(access):
        with open(access, "rb") as f:
            log_written = sum(1 for _ in f)
        log_note = "lines in the access log (no \"log\" stats section)"
    if server != "urt-http":
        log_note = "urt-echo writes no access log"
    cpu_us = float(info.get("ticks", 0)) * 1e6 / float(info.get("hz", 100))
    mode = closed.get("mode", "echo")
    unit = "requests" if mode == "http" else "round trips"
    ticks = lp.get("ticks")
    o = opened or {}
    rows = [
        [f"{unit}/s (closed loop)", num(closed.get("rps")),
         f"{closed.get('conns')} connections, each waits for its reply, {closed.get('seconds', 0):.1f} s"],
        [f"{unit}/s (open loop)", num(o.get("rps")) if o else "n/a",
         f"fixed rate {num(o.get('rate'))}/s (half the closed-loop rate), {o.get('seconds', 0):.1f} s" if o else "skipped"],
        ["latency p50", f"{num(o.get('p50_us'))} us" if o else "n/a",
         "open loop, from each request's due time (coordinated omission corrected)"],
        ["latency p99", f"{num(o.get('p99_us'))} us" if o else "n/a",
         f"uncorrected (from the actual send): {num(o.get('raw_p99_us'))} us" if o else ""],
        ["latency p99.9", f"{num(o.get('p999_us'))} us" if o else "n/a",
         f"uncorrected: {num(o.get('raw_p999_us'))} us" if o else ""],
        ["latency max", f"{num(o.get('max_us'))} us" if o else "n/a",
         f"closed loop: p50 {num(closed.get('p50_us'))} us, p99 {num(closed.get('p99_us'))} us, max {num(closed.get('max_us'))} us"],
        ["io_uring_enter per request", per_req(lp.get("enters")),
         f"server loop counters (URT_STATS), over {num(reqs)} {unit}"],
        ["CQEs per tick", num(lp["cqes"] / ticks) if ticks else "n/a",
         f"{num(lp.get('cqes'))} CQEs in {num(ticks)} ticks"],
        ["server CPU per request", f"{num(cpu_us / reqs)} us" if reqs else "n/a",
         f"/proc/<pid>/stat utime+stime, {info.get('ticks')} ticks at {info.get('hz')} Hz"],
        ["offload jobs", num(st["offload_jobs"]), "URT_STATS \"offload\" section" if st["offload_jobs"] is not None else "no offload section in the stats"],
        ["log records written", num(log_written) if server == "urt-http" else "n/a", log_note],
        ["log records dropped", num(log_dropped), "the logger's counters" if log_dropped is not None else "no \"log\" stats section"],
        ["stalls", num(lp.get("stalls")), "stall detector (tasks holding the loop > 100 ms)"],
        ["errors", num(closed.get("errors", 0) + o.get("errors", 0)),
         "client-side: failed connections, bad replies" + (f"; non-2xx {o.get('non2xx', 0) + closed.get('non2xx', 0)}" if mode == "http" else "")],
    ]
    title = f"{server} demo"
    text, md = render([title, "value", "note"], rows)
    print(text)
    # plots: throughput over time (both phases), latency histogram (open loop)
    tl = os.path.join(d, "timeline.dat")
    with open(tl, "w") as f:
        f.write("# seconds requests_per_second phase(0 closed, 1 open)\n")
        off = 0.0
        for phase, name in enumerate(("closed", "open")):
            p = os.path.join(d, f"timeline-{name}.dat")
            if not os.path.exists(p):
                continue
            last = off
            with open(p) as g:
                for line in g:
                    if line.startswith("#") or not line.strip():
                        continue
                    t, v = line.split()
                    last = off + float(t)
                    f.write(f"{last:.2f} {v} {phase}\n")
            f.write("\n\n")  # a gnuplot data block per phase
            off = last
    hd = os.path.join(d, "latency.dat")
    hsrc = os.path.join(d, "hist-open.dat")
    if not os.path.exists(hsrc):
        hsrc = os.path.join(d, "hist-closed.dat")
    with open(hd, "w") as f:
        f.write("# lo_us hi_us corrected_percent raw_percent\n")
        if os.path.exists(hsrc):
            for lo, hi, c, r in load_hist(hsrc):
                f.write(f"{lo:.3f} {hi:.3f} {c:.4f} {r:.4f}\n")
    lat_png = os.path.join(outdir, "demo-latency.png")
    tp_png = os.path.join(outdir, "demo-throughput.png")
    ok1 = gnuplot("plot_demo.gp", what="latency", data=hd, out=lat_png, title=title)
    ok2 = gnuplot("plot_demo.gp", what="throughput", data=tl, out=tp_png, title=title)
    with open(os.path.join(outdir, "demo.md"), "w") as f:
        f.write(f"# {title}\n\nWritten by `perf/run demo` on {machine()}.\n\n")
        f.write(f"{info.get('note', '')}\n\n")
        f.write(md + "\n")
        if ok1:
            f.write("\n## Latency histogram (open loop)\n\n![latency](demo-latency.png)\n")
        if ok2:
            f.write("\n## Throughput over time\n\n![throughput](demo-throughput.png)\n")
    rel = os.path.relpath(outdir)
    print(f"\nwritten: {rel}/demo.md" + (f", {rel}/demo-latency.png" if ok1 else "") +
          (f", {rel}/demo-throughput.png" if ok2 else "") +
          ("" if ok1 and ok2 else " (no gnuplot: no plots)"))


def main(argv):
    if len(argv) in (4, 5) and argv[1] == "table":
        sys.exit(cmd_table(argv[2], argv[3], argv[4] if len(argv) == 5 else None))
    elif len(argv) == 4 and argv[1] == "demo":
        cmd_demo(argv[2], argv[3])
    elif len(argv) == 2 and argv[1] == "machine":
        print(machine())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
