#!/usr/bin/env python3
"""Clock alignment of `ukctl trace --with-host` (issue 13, docs/host-view.md
"One timeline"): a busy 2-vCPU demo guest with host_sync points every 10 ms,
recorded N times for 3 s each.

    python3 tests/bench_trace_host.py [--build DIR] [--runs N] [--accel tcg|kvm]

Prints, over the recordings: the error bound (half the width of the
intersected sync brackets), the median width of one bracket, the sync
points used, the spread of the fitted guest-TSC offset between recordings
of the same QEMU (a constant under TCG: its spread is an independent look
at the error), host records per second.

Then the collector's host recorder (crash bundles' timeline): --guests busy
2-vCPU guests (demo.load=60, trace_sync_ms=1000, the `fleet up` default)
under one ukcollectd, started with the recorder on (default) and off
(--host-trace-events 0) in alternation, --runs rounds of 10 s each: the
daemon's CPU (% of one core) and RssAnon, and the records per second it
kept.  Needs root (BPF).
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK = re.compile(r"clock: sync_points=(\d+) guest_sync=\d+ host_sync=\d+ bound_ns=(\d+) "
                   r"bracket_median_ns=(\d+) k=(-?\d+) ns_per_tick=([0-9.]+)")
HOST = re.compile(r"(\d+) host events")
DURATION = 3


HZ = os.sysconf("SC_CLK_TCK")
WINDOW = 10


def cpu_s(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ


def rss_anon_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def recorded(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(m) for m in re.findall(r"ukcollectd_host_trace_events_total\{[^}]*\} (\d+)",
                                          text))


def recorder_cost(build, tmp, guests, runs):
    """Collector CPU/RSS with the host recorder on and off, side by side."""
    ukctl, cd = str(build / "bin/ukctl"), str(build / "bin/ukcollectd")
    root = Path(tmp) / "root"
    root.mkdir(mode=0o700)
    dirs = [root / f"b{i}" for i in range(guests)]
    for d in dirs:
        subprocess.run([ukctl, "run", "--detach", "--no-net", "--name", d.name, "--run-dir",
                        str(d), "--mem", "32", "--smp", "2", "--accel", "tcg", "--cmdline",
                        "demo.load=60 trace_sync_ms=1000", str(build / "kernel.elf")],
                       check=True, capture_output=True, timeout=120)
    res = {"on": [], "off": []}
    try:
        for r in range(runs):
            for v in (("on", "off") if r % 2 == 0 else ("off", "on")):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                extra = [] if v == "on" else ["--host-trace-events", "0"]
                p = subprocess.Popen([cd, "--root", str(root), "--state", str(Path(tmp) / v),
                                      "--listen", f"127.0.0.1:{port}", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(3)  # adopted, first drains done
                    c0, n0 = cpu_s(p.pid), recorded(port) if v == "on" else 0
                    time.sleep(WINDOW)
                    c1, n1 = cpu_s(p.pid), recorded(port) if v == "on" else 0
                    res[v].append({"cpu": (c1 - c0) / WINDOW * 100, "rss": rss_anon_mib(p.pid),
                                   "rec": (n1 - n0) / WINDOW})
                finally:
                    p.terminate()
                    p.wait(30)
    finally:
        for d in dirs:
            subprocess.run([ukctl, "stop", str(d)], capture_output=True, timeout=60)
    med = lambda v, k: statistics.median(x[k] for x in res[v])  # noqa: E731
    print(f"collector host recorder ({guests} busy 2-vCPU tcg guests, demo.load=60, "
          f"{runs} rounds of {WINDOW} s, on/off alternating):")
    print(f"  {'recorder':<9} {'CPU % (median)':>15} {'RssAnon MiB':>12} {'records/s':>10}   "
          "CPU per round")
    for v in ("off", "on"):
        rounds = " ".join(f"{x['cpu']:.2f}" for x in res[v])
        print(f"  {v:<9} {med(v, 'cpu'):15.2f} {med(v, 'rss'):12.1f} {med(v, 'rec'):10.0f}   "
              f"{rounds}")
    return {v: {"cpu_pct": med(v, "cpu"), "rss_anon_mib": med(v, "rss"),
                "records_per_s": med(v, "rec")} for v in res}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--guests", type=int, default=3, help="busy guests for the recorder cost")
    ap.add_argument("--no-recorder", action="store_true", help="skip the recorder cost")
    a = ap.parse_args()
    ukctl = Path(a.build).resolve() / "bin/ukctl"
    kernel = Path(a.build).resolve() / "kernel.elf"
    with tempfile.TemporaryDirectory(prefix="bench-th.") as tmp:
        rd = Path(tmp) / "g"
        subprocess.run([str(ukctl), "run", "--detach", "--keep", "--no-net", "--name", "g",
                        "--run-dir", str(rd), "--mem", "32", "--smp", "2", "--accel", a.accel,
                        "--cmdline", "demo.load=60 trace_sync_ms=10 trace_buf=1M", str(kernel)],
                       check=True, capture_output=True, timeout=120)
        try:
            time.sleep(2)
            res = []
            for i in range(a.runs):
                r = subprocess.run([str(ukctl), "trace", str(rd), "--with-host", "--duration",
                                    str(DURATION), "-o", str(Path(tmp) / f"{i}.pftrace")],
                                   capture_output=True, text=True, timeout=300)
                m, h = CLOCK.search(r.stdout), HOST.search(r.stdout)
                if r.returncode or not m or not h:
                    raise SystemExit(f"bench_trace_host: {r.stderr[-1000:]} {r.stdout}")
                res.append({"points": int(m.group(1)), "bound": int(m.group(2)),
                            "bracket": int(m.group(3)), "k": int(m.group(4)),
                            "npt": float(m.group(5)), "host_per_s": int(h.group(1)) / DURATION})
        finally:
            subprocess.run([str(ukctl), "stop", str(rd)], capture_output=True, timeout=60)
    med = lambda k: statistics.median(x[k] for x in res)  # noqa: E731
    ks = [x["k"] for x in res]
    spread = (max(ks) - min(ks)) * res[0]["npt"]
    print(f"trace --with-host clock alignment ({a.accel}, {a.runs} recordings of {DURATION} s, "
          f"busy 2-vCPU guest, sync every 10 ms):")
    print(f"  error bound      median {med('bound') / 1e3:.1f} us  "
          f"(min {min(x['bound'] for x in res) / 1e3:.1f}, max "
          f"{max(x['bound'] for x in res) / 1e3:.1f})")
    print(f"  sync bracket     median {med('bracket') / 1e3:.1f} us")
    print(f"  sync points      median {med('points'):.0f} per recording")
    print(f"  offset spread    {spread / 1e3:.2f} us between recordings (max - min)")
    print(f"  host records     median {med('host_per_s'):.0f} /s")
    out = {"bound_ns": res and med("bound"), "offset_spread_ns": round(spread)}
    if not a.no_recorder:
        with tempfile.TemporaryDirectory(prefix="bench-rec.") as tmp:
            out["recorder"] = recorder_cost(Path(a.build).resolve(), tmp, a.guests, a.runs)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
