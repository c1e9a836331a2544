#!/usr/bin/env python3
"""Log ingest end to end (issue 12), for `make bench` (section collector).

    python3 tests/bench_ingest.py [--build DIR] [--records N] [--runs N]
                                  [--batch B] [--interval MS] [--json]

Side by side in one run, --runs times interleaved, each a fresh guest:
  store         a guest (tcg, 32 MiB) logs N klog lines (demo.log_burst=N, B lines
                every 10 ms, console_loglevel=3 so the lines do not also crawl
                out of the emulated UART) -> ukcollectd (--interval MS) -> its
                per-instance store (log.jsonl, fsync per tick)
  store+relp    the same with --relp: store -> spool -> RELP -> a test-started
                rsyslogd (imrelp -> omfile)
  rsyslog alone the very RFC 5424 lines that rsyslog received in store+relp,
                written straight to the same rsyslogd's imtcp (LF framing, no
                acks, no spool): rsyslog's own ingest rate
records/s run from the first of the N lines appearing in the store to the
last one in the store / in rsyslog's output file (polled every 5 ms).  The guest's own rate
(its klog timestamps) shows when the guest is the limit; the daemon's CPU
per record (utime+stime over the burst) gives the store path's capacity on
one core, compared with rsyslogd's CPU per record alone.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from rsyslogd import Rsyslogd  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
MARK = b"demo: burst line "


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ


class Counter:
    """Lines appended to a file that contain MARK (and `also`, when given)."""

    def __init__(self, path, also=None):
        self.path, self.also, self.pos, self.n, self.part = path, also, 0, 0, b""
        self.done = False

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return self.n
        self.pos += len(data)
        lines = (self.part + data).split(b"\n")
        self.part = lines.pop()
        self.n += sum(1 for l in lines if MARK in l and (self.also is None or self.also in l))
        self.done = self.done or any(b"demo: burst done" in l for l in lines)
        return self.n


def run_guest(a, build, tmp, name, rs):
    """One burst through the collector; rs: the rsyslogd for --relp, or None."""
    base = Path(tempfile.mkdtemp(dir=tmp, prefix=name + "."))
    root, state = base / "root", base / "state"
    root.mkdir(mode=0o700)
    argv = [str(build / "bin/ukcollectd"), "--root", str(root), "--state", str(state),
            "--listen", f"127.0.0.1:{free_port()}", "--interval", str(a.interval)]
    if rs:
        argv += ["--relp", f"127.0.0.1:{rs.port}"]
    if a.no_telemetry:
        argv.append("--no-telemetry")
    cd = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(base / "cd.log", "wb"))
    ukctl = str(build / "bin/ukctl")
    try:
        subprocess.run([ukctl, "run", "--detach", "--keep", "--accel", "tcg", "--mem", "32",
                        "--no-net", "--name", name, "--run-dir", str(root / name), "--cmdline",
                        f"demo.load=0 console_loglevel=3 demo.log_burst={a.records} "
                        f"demo.log_batch={a.batch} demo.log_delay_ms=4000",
                        str(build / "kernel.elf")], check=True, capture_output=True, timeout=120)
        # the daemon's cost per second with this guest idle (before its burst): the
        # fixed per-tick work (ring and thread table, console, trace drain, QMP, fsync)
        time.sleep(1)
        b0, w0 = cpu_s(cd.pid), time.monotonic()
        time.sleep(2)
        base_rate = (cpu_s(cd.pid) - b0) / (time.monotonic() - w0)
        store = Counter(state / "instances" / name / "log.jsonl")
        out = Counter(rs.out, f'instance="{name}"'.encode()) if rs else None
        t = {}
        deadline = time.monotonic() + 120
        # until the guest's "burst done" is stored (lines the ring overwrote
        # before a late tick are counted lost, not waited for) and every
        # stored line is at rsyslog
        while not store.done or (out and out.poll() < store.n):
            store.poll()
            now = time.monotonic()
            if "store0" not in t and store.n:
                t["store0"], t["cpu0"] = now, cpu_s(cd.pid)
            if "store1" not in t and store.done:
                t["store1"], t["cpu1"] = now, cpu_s(cd.pid)
            if now > deadline:
                raise RuntimeError(f"{name}: {store.n} stored, {out.n if out else '-'} at rsyslog"
                                   f" of {a.records}")
            time.sleep(0.005)
        now = time.monotonic()
        t.setdefault("store1", now)
        t.setdefault("cpu1", cpu_s(cd.pid))
        t["out1"] = now
    finally:
        subprocess.run([ukctl, "stop", str(root / name)], capture_output=True, timeout=120)
        cd.terminate()
        cd.wait(30)
    recs = [json.loads(l) for l in (state / "instances" / name / "log.jsonl").read_text()
            .splitlines()]
    burst = [r for r in recs if r["source"] == "klog" and "burst line" in r.get("text", "")]
    res = {"stored": len(burst), "lost": sum(r.get("lost", 0) for r in recs),
           "store_rate": (len(burst) - 1) / (t["store1"] - t["store0"]),
           "guest_rate": (len(burst) - 1) / ((burst[-1]["guest_ns"] - burst[0]["guest_ns"]) / 1e9),
           "cd_cpu_us_per_record": (t["cpu1"] - t["cpu0"]) / len(burst) * 1e6,
           "cd_idle_cpu_pct": base_rate * 100,
           "cd_marginal_us_per_record": ((t["cpu1"] - t["cpu0"])
                                         - base_rate * (t["store1"] - t["store0"]))
           / len(burst) * 1e6}
    if rs:
        # end to end: from the first line stored to the last one in rsyslog's file
        res["relp_rate"] = (len(burst) - 1) / (t["out1"] - t["store0"])
        res["relp_lag_s"] = t["out1"] - t["store1"]
    return res


def run_alone(rs, name, n):
    """The lines rsyslog received for instance `name`, again, straight into imtcp."""
    tag = f'instance="{name}"'.encode()
    lines = [l for l in rs.out.read_bytes().split(b"\n") if tag in l and MARK in l]
    alias = f'instance="{name}-alone"'.encode()
    data = b"".join(l.replace(tag, alias) + b"\n" for l in lines)
    out = Counter(rs.out, alias)
    out.poll()
    c0 = cpu_s(rs.proc.pid)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", rs.tcp_port)) as s:
        s.sendall(data)
    deadline = t0 + 120
    while out.poll() < len(lines):
        if time.monotonic() > deadline:
            raise RuntimeError(f"rsyslog alone: {out.n} of {len(lines)} lines arrived")
        time.sleep(0.005)
    t1 = time.monotonic()
    return {"records": len(lines), "rate": len(lines) / (t1 - t0),
            "rsyslogd_cpu_us_per_record": (cpu_s(rs.proc.pid) - c0) / len(lines) * 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-telemetry", action="store_true",
                    help="ukcollectd --no-telemetry: the ring only, no live stream")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    runs = {"store": [], "store_relp": [], "alone": []}
    with tempfile.TemporaryDirectory(prefix="bench_ingest.") as tmp:
        if os.environ.get("BENCH_KEEP"):
            tmp = tempfile.mkdtemp(prefix="bench_ingest_keep.")
        rs = Rsyslogd(Path(tmp) / "rsyslog", imtcp=True)
        rs.start()
        try:
            for i in range(a.runs):
                runs["store"].append(run_guest(a, build, tmp, f"s{i}", None))
                runs["store_relp"].append(run_guest(a, build, tmp, f"r{i}", rs))
                runs["alone"].append(run_alone(rs, f"r{i}", a.records))
        finally:
            rs.stop()
    med = statistics.median
    m = {
        "store_rate": med(r["store_rate"] for r in runs["store"]),
        "store_guest_rate": med(r["guest_rate"] for r in runs["store"]),
        "store_cd_cpu_us": med(r["cd_cpu_us_per_record"] for r in runs["store"]),
        "relp_store_rate": med(r["store_rate"] for r in runs["store_relp"]),
        "store_cd_marginal_us": med(r["cd_marginal_us_per_record"] for r in runs["store"]),
        "store_cd_idle_pct": med(r["cd_idle_cpu_pct"] for r in runs["store"]),
        "relp_rate": med(r["relp_rate"] for r in runs["store_relp"]),
        "relp_lag_s": med(r["relp_lag_s"] for r in runs["store_relp"]),
        "relp_cd_cpu_us": med(r["cd_cpu_us_per_record"] for r in runs["store_relp"]),
        "alone_rate": med(r["rate"] for r in runs["alone"]),
        "alone_cpu_us": med(r["rsyslogd_cpu_us_per_record"] for r in runs["alone"]),
        "lost": sum(r["lost"] for v in (runs["store"], runs["store_relp"]) for r in v),
    }
    m["ratio_store_vs_alone"] = m["store_rate"] / m["alone_rate"]
    m["ratio_relp_vs_alone"] = m["relp_rate"] / m["alone_rate"]
    m["ratio_store_capacity_vs_alone"] = (1e6 / m["store_cd_cpu_us"]) / m["alone_rate"]
    m["ratio_store_marginal_vs_alone"] = (1e6 / m["store_cd_marginal_us"]) / m["alone_rate"]
    if a.json:
        print(json.dumps({"median": m, "runs": runs}, indent=1))
        return 0
    print(f"ingest: {a.records} klog lines per run, guest tcg (batch {a.batch} per 10 ms, "
          f"console_loglevel=3), ukcollectd --interval {a.interval}"
          f"{' --no-telemetry' if a.no_telemetry else ''}; medians of {a.runs} runs")
    print(f"  {'path':<34} {'records/s':>10} {'vs rsyslog alone':>17}")
    print(f"  {'guest -> store':<34} {m['store_rate']:10.0f} {m['ratio_store_vs_alone']:17.2f}")
    print(f"  {'guest -> store -> RELP -> rsyslog':<34} {m['relp_rate']:10.0f} "
          f"{m['ratio_relp_vs_alone']:17.2f}")
    print(f"  {'rsyslog alone (imtcp -> omfile)':<34} {m['alone_rate']:10.0f} {1:17.2f}")
    print(f"  the guest's own logging rate: {m['store_guest_rate']:.0f} lines/s; "
          f"lost: {m['lost']}")
    print(f"  ukcollectd CPU per record: store {m['store_cd_cpu_us']:.1f} us "
          f"(= {1e6 / m['store_cd_cpu_us']:.0f} records/s of one core, "
          f"{m['ratio_store_capacity_vs_alone']:.2f}x rsyslog alone), with RELP "
          f"{m['relp_cd_cpu_us']:.1f} us; rsyslogd alone {m['alone_cpu_us']:.1f} us")
    print(f"  of which per tick, guest idle: {m['store_cd_idle_pct']:.2f} % of a core at "
          f"--interval {a.interval}; the rest per record: {m['store_cd_marginal_us']:.1f} us "
          f"(= {1e6 / m['store_cd_marginal_us']:.0f} records/s of one core, "
          f"{m['ratio_store_marginal_vs_alone']:.2f}x rsyslog alone)")
    print(f"  RELP: last line at rsyslog {m['relp_lag_s'] * 1000:.0f} ms after it was stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
