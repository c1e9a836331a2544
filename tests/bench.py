#!/usr/bin/env python3
"""ukscope benchmarks.

    python3 tests/bench.py [--build DIR] [--only SECTION]... [--runs N] [--accel kvm|tcg|all]

Sections are functions in SECTIONS; each takes the Bench object, prints its
table and returns a JSON-able dict written to BUILD/bench-<section>.json.
To add one (gdb, tracing, metrics...): write `def bench_NAME(b): ...` and
append ("NAME", bench_NAME) to SECTIONS.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "lib"))
import harness  # noqa: E402

READY_RE = r"ukscope: ready"
GUEST_RE = re.compile(r"boot: entry_to_main_us=([0-9.eE+-]+) main_to_ready_us=([0-9.eE+-]+)")


class Bench:
    def __init__(self, args, accels, tmp_root):
        self.args = args
        self.build = args.build
        self.accels = accels
        self.ctx = harness.Context(args.build, ROOT, accels, tmp_root, name="bench")


# ---------------------------------------------------------------- machine ---

def machine_description():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mib = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_mib = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    try:
        qemu = subprocess.run([harness.QEMU, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        qemu = "not found"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_mib": mem_mib,
            "kernel": f"{platform.system()} {platform.release()}", "qemu": qemu,
            "kvm": harness.kvm_available(), "python": platform.python_version()}


def print_machine(m):
    print("Machine")
    print(f"  CPU:    {m['cpu']} ({m['cores']} cores)")
    print(f"  RAM:    {m['ram_mib']} MiB")
    print(f"  Kernel: {m['kernel']}")
    print(f"  QEMU:   {m['qemu']}")
    print(f"  KVM:    {'yes' if m['kvm'] else 'no'}")
    print()


# ------------------------------------------------------------------ stats ---

def stats(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v)}


def fmt(st, unit_div=1.0, prec=1):
    if not st:
        return "-"
    return (f"{st['median'] / unit_div:.{prec}f} "
            f"({st['min'] / unit_div:.{prec}f}..{st['max'] / unit_div:.{prec}f})")


def print_table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


# ------------------------------------------------------------------- boot ---

def bench_boot(b):
    """Boot BUILD/kernel.elf with bench_exit=1: host-side start->ready and
    start->exit, and the guest's own entry->main and main->ready figures."""
    image = Path(b.args.kernel) if b.args.kernel else b.build / "kernel.elf"
    if not image.exists():
        raise SystemExit(f"bench: {image} not found (make guest)")
    print(f"Boot: {b.args.runs} runs per accel of {image} (microvm, smp 1, 64 MiB, bench_exit=1)")
    result = {"image": str(image), "runs_per_accel": b.args.runs, "accels": {}}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        runs = []
        for i in range(b.args.runs):
            run = {"run": i}
            try:
                vm = harness.boot(b.ctx, image, cmdline="bench_exit=1", accel=accel,
                                  timeout=30 * b.ctx.scale(accel), expect_exit=False)
            except AssertionError as e:
                run["error"] = str(e).splitlines()[0]
                runs.append(run)
                continue
            ready = vm.match_time(READY_RE)
            m = GUEST_RE.search(vm.output)
            run.update({
                "start_to_ready_ms": ready * 1000 if ready is not None else None,
                "start_to_exit_ms": vm.exit_time * 1000 if not vm.timed_out else None,
                "entry_to_main_us": float(m.group(1)) if m else None,
                "main_to_ready_us": float(m.group(2)) if m else None,
                "status": vm.status, "timed_out": vm.timed_out,
            })
            if ready is None or vm.timed_out or vm.status != harness.UK_EXIT_OK:
                run["error"] = (f"ready={'yes' if ready is not None else 'no'} "
                                f"status={vm.status} timed_out={vm.timed_out}")
                run["console_tail"] = vm.tail(10)
            runs.append(run)
        keys = ("start_to_ready_ms", "start_to_exit_ms", "entry_to_main_us", "main_to_ready_us")
        st = {k: stats(r.get(k) for r in runs if "error" not in r) for k in keys}
        errors = [r for r in runs if "error" in r]
        result["accels"][accel] = {"stats": st, "runs": runs, "errors": len(errors)}
        rows.append([accel, f"{len(runs) - len(errors)}/{len(runs)}",
                     fmt(st["start_to_ready_ms"]), fmt(st["start_to_exit_ms"]),
                     fmt(st["entry_to_main_us"]), fmt(st["main_to_ready_us"])])
        for r in errors[:3]:
            print(f"  {accel} run {r['run']}: {r['error']}")
            for line in (r.get("console_tail") or "").splitlines():
                print(f"    | {line}")
    print()
    print_table(["accel", "ok", "start->ready ms", "start->exit ms",
                 "entry->main us", "main->ready us"], rows)
    print("  median (min..max); host times from QEMU process start, "
          "guest times as printed by the kernel")
    print()
    return result


# ------------------------------------------------------------------- vcon ---

def bench_vcon(b):
    """virtio-console guest -> host throughput: the guest (test=vcon_bench in
    kernel-test.elf) writes N MiB in 4 KiB writes to org.ukscope.test; the
    host reads the unix socket and times first byte -> last byte."""
    import socket
    image = b.build / "kernel-test.elf"
    if not image.exists():
        raise SystemExit(f"bench: {image} not found (make guest)")
    runs_n = max(1, min(b.args.runs, 5))
    mib = {"tcg": 64, "kvm": 8}
    print(f"vcon: {runs_n} runs per accel, guest -> host over virtio-serial "
          f"(MiB per run: {mib})")
    result = {"runs_per_accel": runs_n, "mib": mib, "accels": {}}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        want = mib[accel] << 20
        mbps = []
        errors = 0
        for _ in range(runs_n):
            d = b.ctx.tmpdir()
            try:
                vm = harness.boot(b.ctx, image, accel=accel,
                                  cmdline=f"test=vcon_bench panic=exit vcon_mib={mib[accel]}",
                                  timeout=30 * b.ctx.scale(accel),
                                  extra_args=harness.vcon_args(d, test_port=True),
                                  until=r"TEST vcon_bench: start")
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(d / "test.sock"))
                s.settimeout(60 * b.ctx.scale(accel))
                got, t0 = 0, None
                while got < want:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    if t0 is None:
                        t0 = time.monotonic()
                    got += len(chunk)
                t1 = time.monotonic()
                s.close()
                vm.wait(timeout=30 * b.ctx.scale(accel))
                if got != want or t0 is None:
                    raise AssertionError(f"got {got} of {want} bytes")
                mbps.append(got / (t1 - t0) / 1e6)
            except (AssertionError, OSError) as e:
                errors += 1
                print(f"  {accel}: {str(e).splitlines()[0]}")
        st = stats(mbps)
        result["accels"][accel] = {"stats": st, "mb_per_s": mbps, "errors": errors}
        rows.append([accel, f"{len(mbps)}/{runs_n}", f"{mib[accel]}", fmt(st)])
    print()
    print_table(["accel", "ok", "MiB", "MB/s guest->host"], rows)
    print("  median (min..max); host clock, first byte -> last byte")
    print()
    return result


# -------------------------------------------------------------- telemetry ---

def bench_telemetry(b):
    """Telemetry records/s guest -> host: the guest (test=telemetry_flood in
    kernel-test.elf, 2 vCPUs) logs N lines in batches of 64 with 1 ms pauses;
    the sender turns kernel log records into LogRecord envelopes on the
    virtio-console port; the host reads continuously.  Rate = LogRecords
    delivered / host time between the arrival of the first and the last
    (the guest clock is not trusted under kvm_pvm emulation)."""
    import json as _json
    import socket
    import subprocess
    image = b.build / "kernel-test.elf"
    if not image.exists():
        raise SystemExit(f"bench: {image} not found (make guest)")
    runs_n = max(1, min(b.args.runs, 3))
    lines = {"tcg": 20000, "kvm": 2000}
    print(f"telemetry: {runs_n} runs per accel, log lines per run {lines}")
    result = {"runs_per_accel": runs_n, "lines": lines, "accels": {}}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        rates, lost, over, errors = [], [], [], 0
        for _ in range(runs_n):
            d = b.ctx.tmpdir()
            try:
                vm = harness.boot(b.ctx, image, accel=accel, smp=2,
                                  cmdline=f"test=telemetry_flood panic=exit telem.secs=1 "
                                          f"telem.lines={lines[accel]} telem.batch=64 "
                                          f"telem.pause_ms=1 telemetry.metrics_s=0 console_loglevel=3",
                                  timeout=120 * b.ctx.scale(accel),
                                  extra_args=harness.vcon_args(d), expect_exit=False,
                                  until=r"")
                deadline = time.monotonic() + 10
                while True:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        s.connect(str(d / "telemetry.sock"))
                        break
                    except OSError:
                        s.close()
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)
                s.settimeout(120 * b.ctx.scale(accel))
                data = bytearray()
                arrivals = []  # (bytes received so far, host time)
                while True:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    data += chunk
                    arrivals.append((len(data), time.monotonic()))
                s.close()
                vm.wait(timeout=60 * b.ctx.scale(accel))
                raw = d / "stream.bin"
                raw.write_bytes(data)
                r = subprocess.run([str(b.build / "bin" / "ukctl"), "telemetry", "--json",
                                    "--input", str(raw)], capture_output=True, text=True,
                                   timeout=120)
                recs = [_json.loads(x) for x in r.stdout.splitlines() if x.strip()]
                flood = [x for x in recs if x.get("type") == "log"
                         and x["text"].startswith("telemetry-flood ")]
                if len(flood) < 2:
                    raise AssertionError(f"{len(flood)} flood records arrived")
                # Byte offsets where flood frames end -> arrival times.
                ends, i = [], 0
                while i < len(data):
                    n = shift = 0
                    while True:
                        c = data[i]
                        i += 1
                        n |= (c & 0x7F) << shift
                        shift += 7
                        if not c & 0x80:
                            break
                    if b"telemetry-flood " in data[i:i + n]:
                        ends.append(i + n)
                    i += n
                when = [next(t for got, t in arrivals if got >= e) for e in (ends[0], ends[-1])]
                rates.append(len(flood) / max(when[1] - when[0], 1e-6))
                lost.append(recs[-1]["lost"])
                over.append(sum(x.get("klog_overwritten", 0) for x in flood))
            except (AssertionError, OSError, ValueError, KeyError) as e:
                errors += 1
                print(f"  {accel}: {str(e).splitlines()[0]}")
        st = stats(rates)
        result["accels"][accel] = {"stats": st, "records_per_s": rates, "lost": lost,
                                   "klog_overwritten": over, "errors": errors}
        rows.append([accel, f"{len(rates)}/{runs_n}", str(lines[accel]), fmt(st, prec=0),
                     ",".join(map(str, lost)), ",".join(map(str, over))])
    print()
    print_table(["accel", "ok", "lines", "records/s", "envelopes lost", "ring overwritten"],
                rows)
    print("  median (min..max); host clock, first -> last delivered LogRecord")
    print()
    return result


SECTIONS = [
    ("boot", bench_boot),
    ("vcon", bench_vcon),
    ("telemetry", bench_telemetry),
]


def main():
    ap = argparse.ArgumentParser(description="ukscope benchmarks")
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", choices=[n for n, _ in SECTIONS],
                    help="run only this section (repeatable)")
    ap.add_argument("--runs", type=int, default=20, help="boots per accel (default 20)")
    ap.add_argument("--accel", choices=["kvm", "tcg", "all"], default="all")
    ap.add_argument("--kernel", help="image for the boot section (default BUILD/kernel.elf)")
    args = ap.parse_args()
    args.build = Path(args.build).resolve()

    available = harness.detect_accels()
    accels = available if args.accel == "all" else [a for a in available if a == args.accel]
    if not accels:
        print(f"bench: accelerator {args.accel} not available", file=sys.stderr)
        return 2

    machine = machine_description()
    print_machine(machine)
    tmp_root = Path(tempfile.mkdtemp(prefix="ukscope-bench."))
    b = Bench(args, accels, tmp_root)
    try:
        for name, fn in SECTIONS:
            if args.only and name not in args.only:
                continue
            res = fn(b)
            res = {"section": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "machine": machine, **res}
            args.build.mkdir(parents=True, exist_ok=True)
            out = args.build / f"bench-{name}.json"
            out.write_text(json.dumps(res, indent=1) + "\n")
            print(f"results written to {out}")
    finally:
        harness.kill_all()
        shutil.rmtree(tmp_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
