#!/usr/bin/env python3
"""bench/report.py: turns one run's raw measurements (bench/results/tmp/run/out/) into
<out>.json, <out>.md and <out>.png, and prints the markdown. Called by bench/run.sh."""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import time

CONTENDERS = [
    ("mock", "mock (direct)"),
    ("nginx", "nginx proxy_pass"),
    ("gw-sqlite", "any-llm-gateway, SQLite"),
    ("gw-anthropic", "any-llm-gateway, SQLite, Anthropic dialect"),
    ("gw-postgres", "any-llm-gateway, PostgreSQL"),
    ("portkey", "Portkey gateway (node)"),
]
GATEWAYS = ("gw-sqlite", "gw-anthropic", "gw-postgres")
# The contender a translating dialect's CPU per request is compared with (same database).
RELAY_OF = {"gw-anthropic": "gw-sqlite"}

# DESIGN.md §5: every target but the absolute memory ones is a ratio to nginx in the same run
# (absolute times on a shared 2-core machine move by ±15 % from run to run).
T_THROUGHPUT = 0.80  # × nginx's throughput
T_ADD_P50 = 1.5  # × nginx's added p50
T_ADD_P99 = 2.0  # × nginx's added p99
T_ADD_TTFB = 1.5  # × nginx's added TTFB
T_RSS_IDLE_MB = 20
T_PER_STREAM = 1.0  # × nginx's KB per open stream
T_RSS_10K_MB = 200
T_XLATE_CPU = 1.20  # translated dialect's CPU per request × the relay's


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_num(path):
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def parse_wrk(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def first_line(path, prefix):
    """The first line of path that starts with prefix, or "" (also when path cannot be read)."""
    try:
        for line in open(path):
            if line.startswith(prefix):
                return line
    except OSError:
        pass
    return ""


def machine():
    cpu = first_line("/proc/cpuinfo", "model name").split(":", 1)[-1].strip()
    mem = first_line("/proc/meminfo", "MemTotal").split()
    mem = "%.1f GiB" % (int(mem[1]) / 1048576) if len(mem) > 1 else ""
    osname = first_line("/etc/os-release", "PRETTY_NAME=").split("=", 1)[-1].strip().strip('"')
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory": mem,
        "os": osname,
    }


def versions(args):
    v = {}
    v["any-llm-gateway"] = sh("%s --version" % args.gw_bin)
    v["nginx"] = sh("nginx -v 2>&1").replace("nginx version: ", "")
    v["wrk"] = sh("wrk -v 2>&1 | head -n 1").split(" [")[0]
    v["node"] = sh("node --version")
    pk = read_json(os.path.join(args.work, "..", "portkey", "node_modules", "@portkey-ai", "gateway", "package.json"))
    v["portkey"] = pk.get("version") if pk else ""
    hn = read_json(os.path.join(args.work, "..", "portkey", "node_modules", "@hono", "node-server", "package.json"))
    v["@hono/node-server"] = hn.get("version") if hn else ""
    v["libevent"] = sh("pkg-config --modversion libevent")
    return v


def collect(work):
    res = {}
    for key, label in CONTENDERS:
        d = os.path.join(work, "out", key)
        if not os.path.isdir(d):
            continue
        r = {"label": label}
        skip = read_json(os.path.join(d, "skip.json"))
        if skip:
            r["skipped"] = skip.get("skipped", "skipped")
            res[key] = r
            continue
        r["throughput"] = parse_wrk(os.path.join(d, "wrk.txt"))
        r["rate"] = read_json(os.path.join(d, "rate.json"))
        r["ttfb"] = read_json(os.path.join(d, "ttfb.json"))
        r["rss_idle_kb"] = read_num(os.path.join(d, "rss_idle"))
        r["rss_before_streams_kb"] = read_num(os.path.join(d, "rss_before_streams"))
        r["rss_after_kb"] = read_num(os.path.join(d, "rss_after"))
        t0 = read_num(os.path.join(d, "cpu_ticks_before"))
        t1 = read_num(os.path.join(d, "cpu_ticks_after"))
        n = (r["throughput"] or {}).get("requests")
        if t0 is not None and t1 is not None and n:
            r["cpu_us_per_request"] = (t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / n
        r["streams"] = {}
        for n in (1000, 10000):
            s = read_json(os.path.join(d, "streams_%d.json" % n))
            if s:
                r["streams"][str(n)] = s
        u = read_num(os.path.join(d, "usage_rows"))
        if u is not None:
            r["usage_rows_seen"] = u
        user = read_json(os.path.join(d, "user.json"))
        if user and "spend" in user:
            r["user_spend_usd"] = user["spend"]
        res[key] = r
    return res


def derive(res):
    """Added latency, ratios and per-stream memory."""
    mock = res.get("mock", {})
    nginx = res.get("nginx", {})
    m_rate = (mock.get("rate") or {}).get("lat_us") or {}
    m_ttfb = (mock.get("ttfb") or {}).get("ttfb_us") or {}
    n_rps = ((nginx.get("throughput") or {}).get("rps")) if "skipped" not in nginx else None
    for key, r in res.items():
        if "skipped" in r:
            continue
        d = {}
        rps = (r.get("throughput") or {}).get("rps")
        if rps and n_rps:
            d["throughput_vs_nginx"] = rps / n_rps
        lat = (r.get("rate") or {}).get("lat_us") or {}
        if key != "mock" and lat and m_rate:
            for p in ("p50", "p90", "p99", "p999"):
                if lat.get(p) is not None and m_rate.get(p) is not None:
                    d["added_" + p + "_us"] = lat[p] - m_rate[p]
        t = (r.get("ttfb") or {}).get("ttfb_us") or {}
        if key != "mock" and t and m_ttfb and t.get("p50") is not None:
            d["added_ttfb_p50_us"] = t["p50"] - m_ttfb["p50"]
            d["added_ttfb_p99_us"] = t["p99"] - m_ttfb["p99"]
        base = r.get("rss_before_streams_kb")
        best = None
        for n, s in sorted(r.get("streams", {}).items(), key=lambda x: int(x[0])):
            if s.get("rss_kb", -1) > 0 and s.get("open", 0) > 0:
                best = (int(n), s)
        if best and base:
            n, s = best
            d["per_stream_kb"] = (s["rss_kb"] - base) / s["open"]
            d["per_stream_measured_at"] = s["open"]
            if r.get("rss_idle_kb"):
                d["rss_10k_extrapolated_mb"] = (r["rss_idle_kb"] + d["per_stream_kb"] * 10000) / 1024
        r["derived"] = d


def targets(res):
    nginx = res.get("nginx") or {}
    nd = nginx.get("derived", {}) if "skipped" not in nginx else {}
    out = {}
    for key in GATEWAYS:
        r = res.get(key)
        if not r or "skipped" in r:
            continue
        d = r.get("derived", {})
        t = []

        def add(name, value, limit, ok, fmt, added=False, noisy=False):
            if value is None:
                result = "n/a"
            elif noisy:
                result = "INCONCLUSIVE (nginx's own added value is within the noise)"
            elif added and value < 0:
                # The mock alone was slower than mock + contender: noise (other load on the
                # machine) dominates; a PASS would mean nothing.
                result = "INCONCLUSIVE (baseline noisier than contender)"
            else:
                result = "PASS" if ok else "FAIL"
            t.append(
                {
                    "target": name,
                    "value": None if value is None else fmt % value,
                    "limit": limit,
                    "result": result,
                }
            )

        def vs_nginx(name, mine, theirs, factor, unit):
            """A target 'mine ≤ factor × nginx's' (both measured in this run)."""
            if mine is None or theirs is None:
                add(name, None, "≤ %.1f × nginx" % factor, False, "%s")
                return
            limit = factor * max(theirs, 0)
            add(name, mine, "≤ %.1f × nginx's %.0f %s = %.0f %s" % (factor, theirs, unit, limit, unit),
                mine <= limit, "%.0f " + unit, True, theirs <= 0)

        v = d.get("throughput_vs_nginx")
        add("throughput", None if v is None else v * 100, "≥ 80 % of nginx", v is not None and v >= T_THROUGHPUT, "%.0f %% of nginx")
        vs_nginx("added p50 at 5,000 req/s", d.get("added_p50_us"), nd.get("added_p50_us"), T_ADD_P50, "µs")
        vs_nginx("added p99 at 5,000 req/s", d.get("added_p99_us"), nd.get("added_p99_us"), T_ADD_P99, "µs")
        vs_nginx("added TTFB (p50) on streams", d.get("added_ttfb_p50_us"), nd.get("added_ttfb_p50_us"), T_ADD_TTFB, "µs")
        v = r.get("rss_idle_kb")
        v = None if v is None else v / 1024
        add("RSS idle", v, "≤ 20 MB", v is not None and v <= T_RSS_IDLE_MB, "%.1f MB")
        v, nv = d.get("per_stream_kb"), nd.get("per_stream_kb")
        add("RSS per open stream", v, "≤ nginx's %s KB" % fmt(nv, "%.1f"), v is not None and nv is not None and v <= T_PER_STREAM * nv, "%.1f KB")
        s10 = (r.get("streams") or {}).get("10000")
        if s10 and s10.get("open") == 10000 and s10.get("rss_kb", -1) > 0:
            v = s10["rss_kb"] / 1024
            label = "RSS with 10,000 open streams"
        else:
            v = d.get("rss_10k_extrapolated_mb")
            label = "RSS with 10,000 open streams (extrapolated from %s)" % d.get("per_stream_measured_at", "?")
        add(label, v, "< 200 MB", v is not None and v < T_RSS_10K_MB, "%.0f MB")
        relay = res.get(RELAY_OF.get(key, ""))
        if relay and "skipped" not in relay:
            mine, theirs = r.get("cpu_us_per_request"), relay.get("cpu_us_per_request")
            v = None if mine is None or not theirs else mine / theirs
            add("CPU per request vs the OpenAI relay (%s)" % relay["label"], None if v is None else v * 100,
                "≤ 120 %", v is not None and v <= T_XLATE_CPU, "%.0f %%")
        out[key] = t
    return out


def fmt(v, f="%.0f"):
    return "–" if v is None else f % v


def mb(kb):
    return None if kb is None or kb < 0 else kb / 1024


def markdown(doc):
    res = doc["contenders"]
    L = []
    m = doc["machine"]
    L.append("# Benchmark: %s run, %s" % (doc["mode"], doc["date"]))
    L.append("")
    L.append(
        "Machine: %s × %s, %s, kernel %s, %s. Open-file limit %s. Run took %s s."
        % (m["nproc"], m["cpu"] or "CPU", m["memory"], m["kernel"], m["os"], doc["nofile"], doc["elapsed_s"])
    )
    L.append("Settings: %s." % doc["settings"])
    la = doc.get("loadavg", {})
    if la.get("start"):
        L.append(
            "Load average (1, 5, 15 min) before the run: %s; after: %s%s."
            % (
                la["start"],
                la.get("end", "?"),
                " (WARNING: the machine was busy before the run started; other processes share the cores, expect noise)"
                if float(la["start"].split()[0]) > 1.0
                else "",
            )
        )
    L.append("Versions: " + ", ".join("%s %s" % (k, v) for k, v in doc["versions"].items() if v) + ".")
    L.append("")
    L.append("## Throughput and latency")
    L.append("")
    L.append(
        "| contender | throughput req/s | vs nginx | p50 µs | p90 µs | p99 µs | p99.9 µs | achieved req/s | errors | added p50 µs | added p99 µs | TTFB p50 µs | added TTFB µs | CPU µs/req |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, label in CONTENDERS:
        r = res.get(key)
        if r is None:
            continue
        if "skipped" in r:
            L.append("| %s | skipped: %s ||||||||||||||" % (label, r["skipped"].replace("|", "/")))
            continue
        thr = r.get("throughput") or {}
        rate = r.get("rate") or {}
        lat = rate.get("lat_us") or {}
        d = r.get("derived", {})
        tt = (r.get("ttfb") or {}).get("ttfb_us") or {}
        errs = None
        if rate:
            errs = rate.get("non2xx", 0) + rate.get("errors", 0) + rate.get("incomplete", 0)
            errs += thr.get("non2xx", 0) + thr.get("socket_errors", 0)
        L.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                fmt(thr.get("rps")),
                "–" if d.get("throughput_vs_nginx") is None else "%.0f %%" % (d["throughput_vs_nginx"] * 100),
                fmt(lat.get("p50")),
                fmt(lat.get("p90")),
                fmt(lat.get("p99")),
                fmt(lat.get("p999")),
                fmt(rate.get("achieved_rps")),
                fmt(errs, "%d"),
                fmt(d.get("added_p50_us")),
                fmt(d.get("added_p99_us")),
                fmt(tt.get("p50")),
                fmt(d.get("added_ttfb_p50_us")),
                fmt(r.get("cpu_us_per_request"), "%.1f"),
            )
        )
    L.append("")
    L.append("## Memory (RSS)")
    L.append("")
    L.append("| contender | idle MB | before streams MB | 1,000 streams MB | 10,000 streams MB | KB per stream |")
    L.append("|---|---:|---:|---:|---:|---:|")
    notes = []
    for key, label in CONTENDERS:
        r = res.get(key)
        if r is None or "skipped" in r:
            continue
        st = r.get("streams", {})
        cells = []
        for n in ("1000", "10000"):
            s = st.get(n)
            if not s:
                cells.append("–")
                continue
            c = fmt(mb(s.get("rss_kb")), "%.1f")
            if s.get("open") != int(n):
                c += " (%s open)" % s.get("open")
                if s.get("streams", int(n)) < int(n):
                    notes.append(
                        "%s: %s streams were opened instead of %s: one proxy process needs two descriptors "
                        "per stream and the open-file hard limit here is %s." % (label, s.get("streams"), n, doc["nofile"])
                    )
            cells.append(c)
        d = r.get("derived", {})
        L.append(
            "| %s | %s | %s | %s | %s | %s |"
            % (
                label,
                fmt(mb(r.get("rss_idle_kb")), "%.1f"),
                fmt(mb(r.get("rss_before_streams_kb")), "%.1f"),
                cells[0],
                cells[1],
                fmt(d.get("per_stream_kb"), "%.1f"),
            )
        )
    for n in notes:
        L.append("")
        L.append("Note: " + n)
    for key in GATEWAYS:
        r = res.get(key)
        if r and "usage_rows_seen" in r:
            L.append("")
            L.append(
                "%s: usage log rows visible for the bench user after the run: %s (first page); user spend $%s."
                % (r["label"], fmt(r["usage_rows_seen"], "%d"), r.get("user_spend_usd", "?"))
            )
    L.append("")
    L.append("## DESIGN.md §5 targets")
    L.append("")
    if not doc["targets"]:
        L.append("No gateway contender was measured.")
    for key, ts in doc["targets"].items():
        L.append("### %s" % res[key]["label"])
        L.append("")
        L.append("| target | measured | limit | result |")
        L.append("|---|---:|---:|---|")
        for t in ts:
            L.append("| %s | %s | %s | %s |" % (t["target"], t["value"] or "–", t["limit"], t["result"]))
        L.append("")
    L.append(
        "Added latency = the contender's percentile minus the mock's own percentile at the same rate (same "
        "load generator, same requests); added TTFB likewise on the p50 time to the first SSE event. "
        "KB per stream = (RSS with N open streams − RSS just before) / N, at the largest N measured. "
        "CPU µs/req = user + system CPU time of the contender's processes (every thread: workers, "
        "database and usage writer) during the closed-loop phase ÷ the requests answered in it."
    )
    L.append("")
    return "\n".join(L)


def plot(doc, out):
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot is not installed"
    res = doc["contenders"]
    rows = [(k, l) for k, l in CONTENDERS if k in res and "skipped" not in res[k]]
    if not rows:
        return "nothing to plot"
    dat = out + ".dat"
    with open(dat, "w") as f:
        f.write("# name rps p50 p90 p99 p999 rss_idle rss_1k rss_10k\n")
        for k, l in rows:
            r = res[k]
            lat = (r.get("rate") or {}).get("lat_us") or {}
            st = r.get("streams", {})

            def g(v):
                return "NaN" if v is None or v < 0 else "%g" % v

            f.write(
                '"%s" %s %s %s %s %s %s %s %s\n'
                % (
                    l.replace("any-llm-gateway, ", "gw ").replace(" (direct)", "").replace(" gateway (node)", ""),
                    g((r.get("throughput") or {}).get("rps")),
                    g(lat.get("p50")),
                    g(lat.get("p90")),
                    g(lat.get("p99")),
                    g(lat.get("p999")),
                    g(mb(r.get("rss_idle_kb"))),
                    g(mb((st.get("1000") or {}).get("rss_kb"))),
                    g(mb((st.get("10000") or {}).get("rss_kb"))),
                )
            )
    # Only the RSS series that have a value somewhere (gnuplot refuses an all-NaN series).
    series = [(7, "idle", "#bbbbbb", None), (8, "1,000 streams", "#4477aa", "1000"), (9, "10,000 streams", "#aa3377", "10000")]
    parts = []
    for col, title, color, n in series:
        if n is not None and not any((res[k].get("streams") or {}).get(n, {}).get("rss_kb", -1) > 0 for k, _ in rows):
            continue
        parts.append('%s using %d%s title "%s" lc rgb "%s"' % ('"%s"' % dat if not parts else '""', col, ":xtic(1)" if not parts else "", title, color))
    rssplot = "plot " + ", ".join(parts)
    script = out + ".gp"
    with open(script, "w") as f:
        f.write(
            """set terminal pngcairo size 1500,520 font "sans,10"
set output "%(png)s"
set multiplot layout 1,3 title "any-llm-gateway benchmark (%(mode)s, %(date)s, %(nproc)s cores)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.85
set grid ytics
set xtics rotate by -25
set key top left
set title "Throughput, closed loop (req/s)"
set style histogram clustered gap 1
plot "%(dat)s" using 2:xtic(1) notitle lc rgb "#4477aa"
set title "Latency at %(rate)s req/s, open loop (µs, log)"
set logscale y
set style histogram clustered gap 1
plot "%(dat)s" using 3:xtic(1) title "p50" lc rgb "#66ccee", "" using 4 title "p90" lc rgb "#228833", "" using 5 title "p99" lc rgb "#ccbb44", "" using 6 title "p99.9" lc rgb "#ee6677"
unset logscale y
set title "RSS (MB)"
%(rssplot)s
unset multiplot
"""
            % {
                "png": out + ".png",
                "dat": dat,
                "mode": doc["mode"],
                "date": doc["date"],
                "nproc": doc["machine"]["nproc"],
                "rate": doc["rate"],
                "rssplot": rssplot,
            }
        )
    p = subprocess.run([gp, script], capture_output=True, text=True)
    os.unlink(script)
    os.unlink(dat)
    return None if p.returncode == 0 else "gnuplot failed: " + p.stderr.strip()[:300]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="full")
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--nofile", default="?")
    ap.add_argument("--gw-bin", default="build/any-llm-gateway")
    ap.add_argument("--elapsed", default="?")
    ap.add_argument("--settings", default="")
    args = ap.parse_args()
    res = collect(args.work)
    derive(res)
    doc = {
        "mode": args.mode,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "versions": versions(args),
        "nofile": args.nofile,
        "elapsed_s": args.elapsed,
        "rate": args.rate,
        "settings": args.settings,
        "contenders": res,
    }
    doc["targets"] = targets(res)
    doc["loadavg"] = {}
    for k in ("start", "end"):
        try:
            doc["loadavg"][k] = open(os.path.join(args.work, "loadavg_" + k)).read().strip()
        except OSError:
            pass
    md = markdown(doc)
    err = plot(doc, args.out)
    if err:
        md += "\nPlot: not drawn (%s).\n" % err
        doc["plot_error"] = err
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(args.out + ".md", "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
