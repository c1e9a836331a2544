#!/usr/bin/env python3
"""Crash capture benchmark (for BENCHMARKS.md, section crash).

For a 128 MiB demo guest that panics (fault=divide), side by side in one run:
  - panic event -> bundle written: `ukctl run` (foreground) prints the time
    from QMP GUEST_PANICKED to the bundle on disk (core, reports, console);
  - `ukctl dump` (minimal) of a panicked guest: wall time and core size;
  - QEMU `dump-guest-memory` (paging off: gdb cannot use paging on) of the same
    guest: wall time and size;
  - gdb `thread apply all bt` on both: threads and frames shown.
Medians over --runs.  Usage: python3 tests/bench_crash.py [--build build] [--runs 5] [--accel tcg]
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


def one(build, accel, tmp, i):
    ukctl = str(build / "bin" / "ukctl")
    env = dict(os.environ, UKSCOPE_CRASH_DIR=str(tmp / "crashes"))
    run = tmp / f"fg{i}"
    r = subprocess.run([ukctl, "run", "--accel", accel, "--mem", "128", "--smp", "2", "--no-net",
                        "--run-dir", str(run), "--cmdline", "fault=divide", str(build / "kernel.elf")],
                       capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    m = re.search(r"crash bundle written in (\d+) ms: (\S+)", r.stderr)
    assert m, r.stderr[-1500:]
    bundle_ms = int(m.group(1))
    shutil.rmtree(run, ignore_errors=True)

    run = tmp / f"bg{i}"
    subprocess.run([ukctl, "run", "--detach", "--accel", accel, "--mem", "128", "--smp", "2",
                    "--no-net", "--run-dir", str(run), "--cmdline", "fault=divide",
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
        qcore = tmp / "qemu.core"
        t0 = time.monotonic()
        qmp(str(run / "qmp.sock"), "dump-guest-memory", {"paging": False,
                                                          "protocol": f"file:{qcore}"})
        qemu_ms = (time.monotonic() - t0) * 1e3
        qemu = qcore.stat().st_size
        bt_ours, bt_qemu = gdb_bt(build, tmp / "ours.core"), gdb_bt(build, qcore)
    finally:
        subprocess.run([ukctl, "stop", str(run)], capture_output=True, timeout=60)
    return dict(bundle_ms=bundle_ms, dump_ms=ours_ms, core_bytes=ours, qemu_ms=qemu_ms,
                qemu_bytes=qemu, gdb_ours=bt_ours, gdb_qemu=bt_qemu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--accel", default="tcg")
    a = ap.parse_args()
    from pathlib import Path
    build = Path(a.build).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="bench_crash."))
    try:
        res = [one(build, a.accel, tmp, i) for i in range(a.runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in res) for k in
           ("bundle_ms", "dump_ms", "core_bytes", "qemu_ms", "qemu_bytes")}
    print(f"crash ({a.accel}, 128 MiB, smp 2, {a.runs} runs, medians)")
    print(f"  panic event -> bundle written      {med['bundle_ms']:8.1f} ms")
    print(f"  ukctl dump (minimal), wall         {med['dump_ms']:8.1f} ms  "
          f"{med['core_bytes'] / 2**20:7.2f} MiB")
    print(f"  QEMU dump-guest-memory (paging off) {med['qemu_ms']:7.1f} ms  "
          f"{med['qemu_bytes'] / 2**20:7.2f} MiB  ({med['qemu_bytes'] / med['core_bytes']:.0f}x ours)")
    print(f"  gdb thread apply all bt: ours {res[0]['gdb_ours'][0]} threads / "
          f"{res[0]['gdb_ours'][1]} frames; QEMU's {res[0]['gdb_qemu'][0]} threads / "
          f"{res[0]['gdb_qemu'][1]} frames")


if __name__ == "__main__":
    main()
