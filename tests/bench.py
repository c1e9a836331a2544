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


def _wrk(url, conns=4, secs=5):
    """wrk with keep-alive: (requests/s, p99 ms) parsed from --latency output."""
    r = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--latency", url],
                       capture_output=True, text=True, timeout=secs + 60)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", r.stdout)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)\b", r.stdout)
    ms = None
    if p99:
        ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return (float(rps.group(1)) if rps else None), ms


def bench_metrics(b):
    """guest-agent: wrk (keep-alive) against /metrics and the demo KV API through
    user networking, and the guest-side cost of one 200-series scrape (TSC,
    X-Ukscope-Scrape-Ns header)."""
    import urllib.request
    ukctl = b.build / "bin" / "ukctl"
    result = {"accels": {}}
    rows = []
    for accel in [a for a in ("tcg", "kvm") if a in b.accels]:
        run = b.ctx.tmpdir() / "run"
        subprocess.run([str(ukctl), "run", "--detach", "--accel", accel, "--smp", "2",
                        "--cmdline", "metrics_bench_series=150", "--run-dir", str(run),
                        str(b.build / "kernel.elf")], check=True, capture_output=True, timeout=60)
        try:
            ports = {p["guest"]: p["host"] for p in json.loads((run / "instance.json").read_text())["ports"]}
            base, kv = f"http://127.0.0.1:{ports[8080]}", f"http://127.0.0.1:{ports[8081]}"
            deadline = time.time() + 30 * b.ctx.scale(accel)
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=5).read()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
            scrape_ns, nseries = [], 0
            tmo = 30 * b.ctx.scale(accel)
            for _ in range(30 if accel == "tcg" else 5):
                with urllib.request.urlopen(base + "/metrics", timeout=tmo) as r:
                    body = r.read().decode()
                    scrape_ns.append(int(r.headers["X-Ukscope-Scrape-Ns"]))
                nseries = sum(1 for ln in body.splitlines() if ln and not ln.startswith("#"))
            urllib.request.urlopen(urllib.request.Request(kv + "/kv/bench", data=b"v" * 100,
                                                          method="PUT"), timeout=tmo).read()
            secs = 5 if accel == "tcg" else 10
            m_rps, m_p99 = _wrk(base + "/metrics", secs=secs)
            h_rps, h_p99 = _wrk(base + "/healthz", secs=secs)
            k_rps, k_p99 = _wrk(kv + "/kv/bench", secs=secs)
        finally:
            subprocess.run([str(ukctl), "stop", str(run)], capture_output=True, timeout=60)
        st = stats([n / 1000.0 for n in scrape_ns])
        result["accels"][accel] = {"series": nseries, "scrape_us": st, "metrics_rps": m_rps,
                                   "metrics_p99_ms": m_p99, "healthz_rps": h_rps,
                                   "healthz_p99_ms": h_p99, "kv_rps": k_rps, "kv_p99_ms": k_p99}
        f = lambda v: "-" if v is None else f"{v:.1f}"
        rows.append([accel, str(nseries), fmt(st), f(m_rps), f(m_p99), f(h_rps), f(h_p99),
                     f(k_rps), f(k_p99)])
    print_table(["accel", "series", "scrape us", "/metrics req/s", "p99 ms", "/healthz req/s",
                 "p99 ms", "kv GET req/s", "p99 ms"], rows)
    print("  wrk -t2 -c4 keep-alive through QEMU user networking; scrape us: guest TSC, "
          "median (min..max) of 30")
    print()
    return result


SECTIONS = [
    ("boot", bench_boot),
    ("metrics", bench_metrics),
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
