#!/usr/bin/env python3
"""Benchmark of the RELP forwarder (issue 12), for `make bench` (section relp).

Records/s into a private rsyslogd's omfile, side by side in one run:
  relpfwd batch   build/tests/relpfwd_drive, flush (one fdatasync) per 256
                  records, RELP window 32: the collector's forwarding path
  relpfwd durable the same with fdatasync per record (relpfwd's default)
  imtcp alone     the same RFC 5424 lines written straight to rsyslog's imtcp
                  (LF framing, no acks, no spool): rsyslog's own ingest rate
Each figure is the median of --runs runs; the clock stops when the last line
is in rsyslog's output file.  The forwarder's own CPU per record (user + sys of
the driver) shows whether the RELP path is limited by us or by rsyslog's acks.

  python3 tests/bench_relp.py [--build build] [--records N] [--runs N] [--json]
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from rsyslogd import Rsyslogd  # noqa: E402

TEXT = "bench line: ukscope klog record with a typical length of about eighty chars"


class Tail:
    """Counts newlines appended to a file."""

    def __init__(self, path):
        self.path, self.pos, self.lines = path, 0, 0

    def count(self):
        if self.path.exists():
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
            self.pos += len(data)
            self.lines += data.count(b"\n")
        return self.lines

    def wait(self, target, timeout=300):
        deadline = time.monotonic() + timeout
        while self.count() < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.lines} of {target} lines arrived")
            time.sleep(0.002)
        return time.monotonic()


def run_relpfwd(build, rs, tail, n, batch, tmp):
    spool = Path(tempfile.mkdtemp(dir=tmp)) / "spool"
    data = "".join(f"{i} {TEXT}\n" for i in range(n)).encode()
    target = tail.count() + n
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen([str(build / "tests/relpfwd_drive"), "127.0.0.1", str(rs.port),
                          str(spool), str(1 << 30), str(batch)],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    p.stdin.write(data)
    p.stdin.close()
    t1 = tail.wait(target)
    p.wait(timeout=60)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return n / (t1 - t0), cpu / n * 1e6


def run_imtcp(rs, tail, n):
    host = socket.gethostname()
    lines = [(f'<134>1 2026-01-01T00:00:00.000000Z {host} ukscope drive klog [ukscope@32473 '
              f'instance="drive" boot="00000000-0000-4000-8000-000000000000" '
              f'build="0123456789abcdef0123456789abcdef01234567" seq="{i}" cpu="0" '
              f'thread="main"] {i} {TEXT}\n') for i in range(n)]
    data = "".join(lines).encode()
    target = tail.count() + n
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", rs.tcp_port)) as s:
        s.sendall(data)
    t1 = tail.wait(target)
    return n / (t1 - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--durable-records", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    if not (build / "tests/relpfwd_drive").exists():
        sys.exit(f"Failed to find {build}/tests/relpfwd_drive: run make unit first")
    with tempfile.TemporaryDirectory(prefix="bench_relp.") as tmp:
        rs = Rsyslogd(Path(tmp) / "rsyslog", imtcp=True)
        rs.start()
        tail = Tail(rs.out)
        res = {"relpfwd_batch": [], "relpfwd_durable": [], "imtcp_alone": []}
        cpu = {"relpfwd_batch": [], "relpfwd_durable": []}
        try:
            for _ in range(a.runs):  # interleaved, so drift hits all alike
                res["imtcp_alone"].append(run_imtcp(rs, tail, a.records))
                for k, n, batch in (("relpfwd_batch", a.records, 256),
                                    ("relpfwd_durable", a.durable_records, 1)):
                    rate, us = run_relpfwd(build, rs, tail, n, batch, tmp)
                    res[k].append(rate)
                    cpu[k].append(us)
        finally:
            rs.stop()
    med = {k: statistics.median(v) for k, v in res.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    if a.json:
        print(json.dumps({"median_records_per_s": med, "runs": res,
                          "median_cpu_us_per_record": cpu_med}, indent=1))
        return
    print(f"relp: records/s into rsyslog omfile, median of {a.runs} "
          f"({a.records} records; durable: {a.durable_records})")
    for k in ("imtcp_alone", "relpfwd_batch", "relpfwd_durable"):
        print(f"  {k:16s} {med[k]:10.0f}   runs: " + " ".join(f"{x:.0f}" for x in res[k]))
    print(f"  ratio relpfwd_batch / imtcp_alone = {med['relpfwd_batch'] / med['imtcp_alone']:.2f}")
    for k, v in cpu_med.items():
        print(f"  {k} CPU (user+sys of the forwarder) {v:.1f} us/record "
              f"= {1e6 / v:.0f} records/s of one core")


if __name__ == "__main__":
    main()
