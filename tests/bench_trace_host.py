#!/usr/bin/env python3
"""Clock alignment of `ukctl trace --with-host` (issue 13, docs/host-view.md
"One timeline"): a busy 2-vCPU demo guest with host_sync points every 10 ms,
recorded N times for 3 s each.

    python3 tests/bench_trace_host.py [--build DIR] [--runs N] [--accel tcg|kvm]

Prints, over the recordings: the error bound (half the width of the
intersected sync brackets), the median width of one bracket, the sync
points used, the spread of the fitted guest-TSC offset between recordings
of the same QEMU (a constant under TCG: its spread is an independent look
at the error), host records per second.  Needs root (BPF).
"""
import argparse
import json
import re
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--accel", default="tcg")
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
    print(json.dumps({"bound_ns": res and med("bound"), "offset_spread_ns": round(spread)}))


if __name__ == "__main__":
    sys.exit(main())
