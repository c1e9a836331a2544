#!/usr/bin/env python3
"""Crash capture benchmark (for BENCHMARKS.md, section crash).

For a 128 MiB demo guest with --threads idle threads on top of the demo's own
(`demo.threads=N`, default 64) that panics (fault=divide), side by side in one run:
  - panic event -> bundle written: `ukctl run` (foreground) prints the time
    from QMP GUEST_PANICKED to the bundle on disk (core, reports, console);
    ukcollectd logs the same for a detached instance it watches;
  - `ukctl dump` (minimal) of a panicked guest: wall time and core size;
  - QEMU `dump-guest-memory` of the same guest with paging on (what the issue
    compares with) and off (QEMU 7.2 writes paging-on segments at
    0xffff0000... virtual addresses, which gdb cannot use): wall time and size;
  - gdb `thread apply all bt` on each: threads and frames shown.
Medians over --runs.
Usage: python3 tests/bench_crash.py [--build build] [--runs 5] [--accel tcg] [--threads 64]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from qmp_client import qmp_command as qmp  # noqa: E402


def gdb_bt(build, core):
    r = subprocess.run(["gdb", "-nx", "-batch", "-ex", "thread apply all bt", str(build / "kernel.elf"),
                        str(core)], capture_output=True, text=True, timeout=300)
    threads = len(re.findall(r"^Thread \d+ ", r.stdout, re.M))
    frames = len(re.findall(r"^#\d+ ", r.stdout, re.M))
    return threads, frames


def one(build, accel, tmp, i, nthreads):
    ukctl = str(build / "bin" / "ukctl")
    env = dict(os.environ, UKSCOPE_CRASH_DIR=str(tmp / "crashes"))
    run = tmp / f"fg{i}"
    # the fault after the idle threads are up
    cmdline = f"fault=divide fault_delay_ms=1000 demo.threads={nthreads}"
    r = subprocess.run([ukctl, "run", "--accel", accel, "--mem", "128", "--smp", "2", "--no-net",
                        "--run-dir", str(run), "--cmdline", cmdline, str(build / "kernel.elf")],
                       capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    m = re.search(r"crash bundle written in (\d+) ms: (\S+)", r.stderr)
    assert m, r.stderr[-1500:]
    bundle_ms = int(m.group(1))
    shutil.rmtree(run, ignore_errors=True)

    run = tmp / f"bg{i}"
    subprocess.run([ukctl, "run", "--detach", "--accel", accel, "--mem", "128", "--smp", "2",
                    "--no-net", "--run-dir", str(run), "--cmdline", cmdline,
                    str(build / "kernel.elf")], check=True, capture_output=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while "notifying the host" not in (run / "console.log").read_text(errors="replace"):
            assert time.time() < deadline, "no panic"
            time.sleep(0.1)
        time.sleep(0.3)
        t0 = time.monotonic()
        subprocess.run([ukctl, "dump", "-o", str(tmp / "ours.core"), str(run)], check=True,
                       capture_output=True, timeout=120)
        ours_ms = (time.monotonic() - t0) * 1e3
        ours = (tmp / "ours.core").stat().st_size
        res = dict(bundle_ms=bundle_ms, dump_ms=ours_ms, core_bytes=ours,
                   gdb_ours=gdb_bt(build, tmp / "ours.core"))
        for paging in (True, False):
            qcore = tmp / "qemu.core"
            t0 = time.monotonic()
            qmp(str(run / "qmp.sock"), "dump-guest-memory", {"paging": paging,
                                                              "protocol": f"file:{qcore}"})
            k = "qemu_pg" if paging else "qemu"
            res[k + "_ms"] = (time.monotonic() - t0) * 1e3
            res[k + "_bytes"] = qcore.stat().st_size
            res["gdb_" + k] = gdb_bt(build, qcore)
            qcore.unlink()
    finally:
        subprocess.run([ukctl, "stop", str(run)], capture_output=True, timeout=60)
    return res


def collector_ms(build, accel, tmp, runs, nthreads):
    """The same panic under ukcollectd: its "crash bundle written in N ms" (from
    the GUEST_PANICKED event on its QMP monitor to the capture child's bundle)."""
    ukctl = str(build / "bin" / "ukctl")
    root, state = tmp / "root", tmp / "state"
    root.mkdir(mode=0o700)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = tmp / "ukcollectd.log"
    cd = subprocess.Popen([str(build / "bin" / "ukcollectd"), "--root", str(root), "--state",
                           str(state), "--listen", f"127.0.0.1:{port}"],
                          stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                          env=dict(os.environ, UKSCOPE_CRASH_DIR=str(tmp / "cd-crashes")))
    out = []
    try:
        time.sleep(0.5)
        for i in range(runs):
            run = root / f"c{i}"
            subprocess.run([ukctl, "run", "--detach", "--accel", accel, "--mem", "128", "--smp",
                            "2", "--no-net", "--name", f"c{i}", "--run-dir", str(run),
                            "--cmdline", f"fault=divide fault_delay_ms=2000 demo.threads={nthreads}",
                            str(build / "kernel.elf")], check=True, capture_output=True,
                           timeout=120, stdin=subprocess.DEVNULL)
            deadline = time.time() + 120
            while not (m := re.search(rf"c{i}: crash bundle written in (\d+) ms", log.read_text())):
                assert time.time() < deadline, log.read_text()[-2000:]
                time.sleep(0.1)
            out.append(int(m.group(1)))
            subprocess.run([ukctl, "stop", str(run)], capture_output=True, timeout=60)
    finally:
        cd.terminate()
        cd.wait(10)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--threads", type=int, default=64)
    a = ap.parse_args()
    from pathlib import Path
    build = Path(a.build).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="bench_crash."))
    try:
        res = [one(build, a.accel, tmp, i, a.threads) for i in range(a.runs)]
        cd_ms = collector_ms(build, a.accel, tmp, a.runs, a.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in res) for k in
           ("bundle_ms", "dump_ms", "core_bytes", "qemu_ms", "qemu_bytes", "qemu_pg_ms",
            "qemu_pg_bytes")}
    g = res[0]
    print(f"crash ({a.accel}, 128 MiB, smp 2, demo.threads={a.threads}: {g['gdb_ours'][0]} "
          f"threads, {a.runs} runs, medians)")
    print(f"  panic event -> bundle written      {med['bundle_ms']:8.1f} ms  (ukctl run)")
    print(f"  panic event -> bundle written      {cd_ms:8.1f} ms  (ukcollectd)")
    print(f"  ukctl dump (minimal), wall         {med['dump_ms']:8.1f} ms  "
          f"{med['core_bytes'] / 2**20:7.2f} MiB")
    for k, what in (("qemu_pg", "paging on "), ("qemu", "paging off")):
        print(f"  QEMU dump-guest-memory ({what}) {med[k + '_ms']:7.1f} ms  "
              f"{med[k + '_bytes'] / 2**20:7.2f} MiB  "
              f"({med[k + '_bytes'] / med['core_bytes']:.0f}x ours)")
    print(f"  gdb thread apply all bt: ours {g['gdb_ours'][0]} threads / {g['gdb_ours'][1]} "
          f"frames; QEMU paging on {g['gdb_qemu_pg'][0]} threads / {g['gdb_qemu_pg'][1]} frames; "
          f"paging off {g['gdb_qemu'][0]} threads / {g['gdb_qemu'][1]} frames")
    goals = (max(med["bundle_ms"], cd_ms) <= 100, med["core_bytes"] <= 2 << 20,
             med["qemu_pg_bytes"] >= 50 * med["core_bytes"],
             all(r["gdb_ours"][0] >= r["gdb_qemu_pg"][0] and r["gdb_ours"][1] >= r["gdb_qemu_pg"][1]
                 and r["gdb_ours"][1] >= r["gdb_qemu"][1] for r in res))
    print("  goals (<= 100 ms, <= 2 MiB, >= 50x smaller, gdb at least as complete): "
          + ", ".join("met" if x else "NOT met" for x in goals))


if __name__ == "__main__":
    main()
