#!/usr/bin/env python3
"""Trace store drain cost (issue 12): CPU seconds the collector's trace store
spends per wall second draining one instance running the demo.

    python3 tests/bench_tracestore.py [--build DIR] [--accel tcg|kvm] [--guests N]
                                      [--runs N] [--secs S]

Starts N demo guests (32 MiB) and runs `ukctl trace --fleet --drain-for`
(a drain pass of every instance each 100 ms, the collector's code path:
host-collector/collectd/tracestore.c) twice per run: for 1 s and for 1+S s.
Each instance's drain CPU (CLOCK_THREAD_CPUTIME_ID around its passes) and
events stored in the longer run minus the shorter one is the steady state
over S seconds (the first pass of both copies the ring's backlog, which
cancels out).  Prints the medians over the runs, per instance: CPU s per
wall s, events/s, CPU per event and per drain pass.
"""
import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ukctl(build, *args, timeout=300):
    return subprocess.run([str(Path(build) / "bin" / "ukctl"), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def stats(stdout):
    out = {}
    for m in re.finditer(r"^stats (\S+) (.*)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def drain(build, root, secs, check=True):
    r = ukctl(build, "trace", "--fleet", "--root", root, "--drain-for", f"{secs}s", "--stats",
              "-o", Path(root) / "bench.pftrace")
    if r.returncode and not check:
        return {}
    if r.returncode:
        raise SystemExit(f"bench_tracestore: ukctl trace --fleet failed: {r.stderr}")
    return stats(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    ap.add_argument("--guests", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--secs", type=int, default=10)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ts."))
    names = [f"g{i}" for i in range(a.guests)]
    try:
        for n in names:
            r = ukctl(a.build, "run", "--detach", "--accel", a.accel, "--mem", "32", "--no-net",
                      "--run-dir", root / n, Path(a.build) / "kernel.elf")
            if r.returncode:
                raise SystemExit(f"bench_tracestore: ukctl run failed: {r.stderr}")
        deadline = time.time() + 300  # kvm_pvm boots slowly
        while not all(drain(a.build, root, 0, check=False).get(n, {}).get("events_stored") for n in names):
            if time.time() > deadline:
                raise SystemExit("bench_tracestore: no trace from the guests")
            time.sleep(1)
        cpu, rate, per_ev, per_pass = [], [], [], []
        for _ in range(a.runs):
            short = drain(a.build, root, 1)
            long_ = drain(a.build, root, 1 + a.secs)
            for n in names:
                dc = (long_[n]["drain_cpu_ns"] - short[n]["drain_cpu_ns"]) / 1e9
                de = long_[n]["events_stored"] - short[n]["events_stored"]
                dp = long_[n]["drains"] - short[n]["drains"]
                cpu.append(dc / a.secs)
                rate.append(de / a.secs)
                per_ev.append(dc * 1e9 / de if de > 0 else float("nan"))
                per_pass.append(dc * 1e6 / dp if dp > 0 else float("nan"))
        med = statistics.median
        print(f"trace store drain, {a.guests} demo guest(s) under {a.accel}, 100 ms passes, "
              f"{a.runs} runs x {a.secs} s (medians over runs and instances)")
        print(f"  drain CPU per instance : {med(cpu):.5f} CPU s / wall s "
              f"({med(cpu) * 100:.3f} % of a core)")
        print(f"  demo event rate        : {med(rate):.0f} events/s per instance")
        print(f"  cost                   : {med(per_ev):.0f} ns CPU per event, "
              f"{med(per_pass):.0f} us per drain pass")
    finally:
        for n in names:
            ukctl(a.build, "stop", root / n)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
