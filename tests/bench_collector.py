#!/usr/bin/env python3
"""ukcollectd at fleet scale (issue 12), for `make bench` (section collector).

    python3 tests/bench_collector.py [--build DIR] [--fleet "10 50 100"]
                                     [--start fleet|parallel] [--windows N] [--secs S]

For each fleet size N: N idle instances (32 MiB, TCG, 1 vCPU, `demo.load=0`:
the demo's default load costs ~12 % of a core per guest, load 0 ~0.4 %)
under one ukcollectd (1 s tick: klog ring, console, trace drain, QMP events
per instance).  Once every instance runs, the daemon's CPU (utime+stime
from /proc, % of one core) over --windows windows of --secs seconds
(medians), its tick duration (/metrics), the largest RssAnon (its own
memory), VmRSS and RssFile (guest-RAM pages it has mapped: page cache shared
with QEMU, plus its binary and libraries) seen at the window ends, and
every QEMU's CPU over the same windows (median instance: what one idle
guest costs the host, which bounds the fleet size).

--start fleet starts the guests through the daemon (`ukctl fleet up
--restart on-failure`, what an SRE does: a start that fails under the load of
100 parallel starts is retried by the daemon, counted in "retries");
--start parallel runs `ukctl run --detach` 8 at a time.  Whatever happens,
every guest is stopped at the end (fleet down, then `ukctl stop` of every
run dir, then SIGKILL of any QEMU pid still listed in an instance.json).
A size that does not come up within its deadline is reported with why, and
the larger ones are skipped.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """utime + stime of a process, seconds (None when it is gone)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / HZ


def status_mib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return None


class Fleet:
    def __init__(self, build, base, n, start, cd_args=()):
        self.build, self.n, self.how = Path(build), n, start
        self.cd_args = list(cd_args)
        self.root, self.state = base / "root", base / "state"
        self.root.mkdir(mode=0o700)
        self.ukctl = str(self.build / "bin" / "ukctl")
        self.addr = f"127.0.0.1:{free_port()}"
        self.env = dict(os.environ, UKCOLLECTD_ADDR=self.addr,
                        UKCOLLECTD_TOKEN_FILE=str(self.state / "token"))
        self.cd = None
        self.log = base / "ukcollectd.log"

    def api(self, path):
        with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=20) as r:
            body = r.read()
        return json.loads(body) if path.startswith("/api") else body.decode()

    def start_collector(self):
        self.cd = subprocess.Popen(
            [str(self.build / "bin" / "ukcollectd"), "--root", str(self.root), "--state",
             str(self.state), "--listen", self.addr] + self.cd_args, stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"), start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.api("/api/v1/instances")
                return
            except OSError:
                if time.monotonic() > deadline or self.cd.poll() is not None:
                    raise RuntimeError("ukcollectd did not answer: " + self.log.read_text()[-500:])
                time.sleep(0.1)

    def start_guests(self):
        image = str(self.build / "kernel.elf")
        if self.how == "fleet":
            r = subprocess.run([self.ukctl, "fleet", "up", "--count", str(self.n),
                                "--name-prefix", "i", "--mem", "32", "--accel", "tcg",
                                "--restart", "on-failure", "--cmdline", "demo.load=0", image],
                               env=self.env,
                               capture_output=True, text=True, timeout=600)
            if r.returncode:
                raise RuntimeError(f"ukctl fleet up failed: {r.stderr[-500:]}")
            return

        def one(i):
            return subprocess.run([self.ukctl, "run", "--detach", "--keep", "--accel", "tcg",
                                   "--mem", "32", "--cmdline", "demo.load=0", "--name",
                                   f"i-{i}", "--run-dir", str(self.root / f"i-{i}"), image],
                                  capture_output=True, text=True, timeout=300)
        with ThreadPoolExecutor(8) as ex:
            bad = [r.stderr[-300:] for r in ex.map(one, range(1, self.n + 1)) if r.returncode]
        if bad:
            raise RuntimeError(f"{len(bad)} of {self.n} ukctl run failed: {bad[0]}")

    def wait_running(self, timeout):
        """Until every guest runs and has logged its demo start; the instances."""
        deadline = time.monotonic() + timeout
        while True:
            insts = self.api("/api/v1/instances")["instances"]
            ok = [i for i in insts if i["state"] == "running" and i["log"]["klog_next"] > 5]
            if len(ok) == self.n:
                return insts
            if time.monotonic() > deadline:
                states = {}
                for i in insts:
                    states[i["state"]] = states.get(i["state"], 0) + 1
                raise RuntimeError(f"{len(ok)} of {self.n} running after {timeout} s "
                                   f"(states {states})")
            time.sleep(1)

    def stop_all(self):
        """Every guest stopped, also when something above failed."""
        if self.how == "fleet" and self.cd and self.cd.poll() is None:
            subprocess.run([self.ukctl, "fleet", "down"], env=self.env, capture_output=True,
                           timeout=600)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and any(
                    (d / "instance.json").exists() for d in self.root.iterdir()):
                time.sleep(1)
        if self.cd and self.cd.poll() is None:
            self.cd.terminate()
            try:
                self.cd.wait(30)
            except subprocess.TimeoutExpired:
                self.cd.kill()
                self.cd.wait()
        dirs = [d for d in self.root.iterdir() if (d / "instance.json").exists()]
        pids = []
        for d in dirs:
            try:
                pids.append(json.loads((d / "instance.json").read_text())["pid"])
            except (OSError, ValueError, KeyError):
                pass
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda d: subprocess.run([self.ukctl, "stop", str(d)],
                                                 capture_output=True, timeout=120), dirs))
        for pid in pids:  # last resort: a QEMU that survived ukctl stop
            try:
                if "qemu" in os.readlink(f"/proc/{pid}/exe"):
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def measure(build, n, how, windows, secs, tmp, cd_args=()):
    base = Path(tempfile.mkdtemp(dir=tmp, prefix=f"fleet{n}."))
    f = Fleet(build, base, n, how, cd_args)
    res = {"instances": n, "start": how}
    try:
        f.start_collector()
        t0 = time.monotonic()
        f.start_guests()
        insts = f.wait_running(60 + 2 * n)
        res["start_to_all_running_s"] = time.monotonic() - t0
        res["start_retries"] = sum(i["restarts"] for i in insts)
        qpids = [i["pid"] for i in insts]
        time.sleep(5)
        cds, qemu, ticks, mem = [], [], [], []
        for _ in range(windows):
            c0, q0, w0 = cpu_s(f.cd.pid), {p: cpu_s(p) for p in qpids}, time.monotonic()
            time.sleep(secs)
            dt = time.monotonic() - w0
            cds.append((cpu_s(f.cd.pid) - c0) / dt * 100)
            per = [(cpu_s(p) - q0[p]) / dt * 100 for p in qpids
                   if q0[p] is not None and cpu_s(p) is not None]
            qemu.append(statistics.median(per))
            mem.append({k: status_mib(f.cd.pid, k) for k in ("RssAnon", "VmRSS", "RssFile")})
            for line in f.api("/metrics").splitlines():
                if line.startswith("ukcollectd_collection_duration_seconds "):
                    ticks.append(float(line.split()[1]) * 1000)
        res.update(collector_cpu_pct=statistics.median(cds), collector_cpu_windows=cds,
                   rss_anon_mib=max(m["RssAnon"] for m in mem),
                   vm_rss_mib=max(m["VmRSS"] for m in mem),
                   rss_file_mib=max(m["RssFile"] for m in mem),
                   tick_ms=statistics.median(ticks) if ticks else None,
                   qemu_idle_cpu_pct=statistics.median(qemu),
                   host_load1=os.getloadavg()[0])
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        res["failed"] = str(e)
    finally:
        f.stop_all()
    left = [d.name for d in f.root.iterdir() if (d / "instance.json").exists()]
    if left:
        res["left_running"] = left
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--fleet", default="10 50 100")
    ap.add_argument("--start", choices=["fleet", "parallel"], default="fleet")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--no-telemetry", action="store_true",
                    help="ukcollectd --no-telemetry (the klog ring only, no live streams)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    cd_args = ["--no-telemetry"] if a.no_telemetry else []
    out = []
    with tempfile.TemporaryDirectory(prefix="bench_collector.") as tmp:
        for n in [int(x) for x in a.fleet.split()]:
            r = measure(build, n, a.start, a.windows, a.secs, tmp, cd_args)
            out.append(r)
            if "failed" in r:
                break
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"collector: N idle guests (32 MiB, tcg, demo.load=0), 1 s tick, started with "
          f"--start {a.start}{' --no-telemetry' if cd_args else ''}; "
          f"medians of {a.windows} x {a.secs} s")
    print(f"  {'N':>4} {'up s':>6} {'retries':>7} {'cd CPU %':>9} {'tick ms':>8} {'RssAnon':>8} {'VmRSS':>7} "
          f"{'RssFile':>7} {'QEMU CPU %':>10} {'load1':>6}")
    for r in out:
        if "failed" in r:
            print(f"  {r['instances']:>4} failed: {r['failed']}")
            continue
        print(f"  {r['instances']:>4} {r['start_to_all_running_s']:6.1f} "
              f"{r.get('start_retries', 0):7d} "
              f"{r['collector_cpu_pct']:9.2f} {r['tick_ms'] or 0:8.1f} {r['rss_anon_mib']:8.1f} "
              f"{r['vm_rss_mib']:7.1f} {r['rss_file_mib']:7.1f} "
              f"{r['qemu_idle_cpu_pct']:10.2f} {r['host_load1']:6.2f}")
    for r in out:
        if r.get("left_running"):
            print(f"  WARNING: left running after N={r['instances']}: {r['left_running']}")
    print("  cd CPU: the daemon's utime+stime, % of one core; RssAnon: its own memory; VmRSS also"
          " counts mapped guest-RAM pages it read; QEMU CPU: median guest")
    return 1 if any(r.get("left_running") for r in out) else 0


if __name__ == "__main__":
    sys.exit(main())
