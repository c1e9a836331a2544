#!/usr/bin/env python3
"""Cost of the hostview BPF programs (issue 13) on a context-switch-heavy
host workload: `perf bench sched pipe -T` (two threads ping-ponging over a
pipe: two switches and two wakeups per round trip).

    python3 tests/bench_bpf.py [--build DIR] [--runs N] [--loops N]

Per round, side by side in rotated order:
  off        no BPF program attached
  untracked  programs attached, perf not in the filter map (what every
             process that is not a QEMU of the fleet pays: one hash lookup
             per event)
  tracked    perf's process in the filter map (what a vCPU thread pays:
             every switch updates its counters; the worst case)
  +rec       the same two with the collector's host recorder (hosttrace,
             one ring-buffer record per event of a tracked process, drained
             every 100 ms) attached as well: what ukcollectd runs by default
Timing runs have kernel.bpf_stats_enabled=0 (stats add two clock reads per
program run); one more run of each attached variant with stats on gives
the per-event cost, run_time_ns / run_cnt per program.  Prints medians over
the rounds and the slowdown ratios (goal <= 3 %).
"""
import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

STATS = Path("/proc/sys/kernel/bpf_stats_enabled")


def perf(loops, on_start=None):
    # pinned to one CPU: both threads switch on it (no cross-CPU wakeups, less
    # noise from whatever else runs on the other CPUs)
    p = subprocess.Popen(["taskset", "-c", "1", "perf", "bench", "sched", "pipe", "-T", "-l",
                          str(loops)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if on_start:
        on_start(p.pid)
    out, _ = p.communicate(timeout=600)
    m = re.search(r"([0-9.]+) usecs/op", out)
    if p.returncode or not m:
        raise SystemExit(f"bench_bpf: perf bench failed: {out[-1000:]}")
    return float(m.group(1))


class Driver:
    def __init__(self, build, recorder=False):
        self.p = subprocess.Popen([str(Path(build) / "tests/hv_drive")] +
                                  (["--recorder"] if recorder else []), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit("bench_bpf: hv_drive did not load the programs (root needed)")

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()

    def stats(self):
        self.cmd("stats")
        res = {}
        for line in iter(self.p.stdout.readline, ""):
            if line.strip() == "end":
                break
            m = re.match(r"prog (\S+) run_cnt=(\d+) run_time_ns=(\d+)", line)
            if m:
                res[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return res

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


def per_event(before, after):
    out = {}
    for k, (c1, t1) in after.items():
        c0, t0 = before.get(k, (0, 0))
        if c1 > c0:
            out[k] = ((t1 - t0) / (c1 - c0), c1 - c0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=9, help="rounds (default 9)")
    ap.add_argument("--loops", type=int, default=50000, help="perf round trips per run")
    ap.add_argument("--accel", default="tcg", help="ignored (no guest involved)")
    a = ap.parse_args()

    old_stats = STATS.read_text().strip()
    variants = ["off", "untracked", "untracked+rec", "tracked", "tracked+rec"]
    times = {v: [] for v in variants}
    cost = {v: {} for v in variants[1:]}
    try:
        STATS.write_text("0")
        for r in range(a.runs):
            k = r % len(variants)
            order = variants[k:] + variants[:k]
            for v in order:
                if v == "off":
                    times[v].append(perf(a.loops))
                    continue
                d = Driver(a.build, recorder=v.endswith("+rec"))
                try:
                    track = (lambda pid: d.cmd(f"track {pid}")) if v.startswith("tracked") \
                        else None
                    times[v].append(perf(a.loops, track))
                    STATS.write_text("1")
                    s0 = d.stats()
                    perf(a.loops // 4, track)
                    s1 = d.stats()
                    STATS.write_text("0")
                    for k, (ns, n) in per_event(s0, s1).items():
                        cost[v].setdefault(k, []).append(ns)
                finally:
                    STATS.write_text("0")
                    d.close()
    finally:
        STATS.write_text(old_stats)

    med = {v: statistics.median(x) for v, x in times.items()}
    print(f"BPF overhead: perf bench sched pipe -T -l {a.loops}, {a.runs} rounds, "
          "median usecs per round trip (2 switches + 2 wakeups)")
    print(f"  {'variant':<14} {'usecs/op':>9} {'ratio':>7}   runs")
    for v in variants:
        runs = " ".join(f"{x:.2f}" for x in times[v])
        print(f"  {v:<14} {med[v]:9.3f} {med[v] / med['off']:7.3f}   {runs}")
    print("  per-event cost (BPF stats run_time_ns/run_cnt, median over rounds):")
    for v in variants[1:]:
        parts = [f"{k}={statistics.median(x):.0f}ns" for k, x in sorted(cost[v].items())]
        print(f"    {v:<14} " + " ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
