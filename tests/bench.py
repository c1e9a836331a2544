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
import streams  # noqa: E402

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

def _ukctl_tsc_hz(b):
    """The tsc_hz= that `ukctl run --accel tcg` appends (its host measurement),
    read back from instance.json of a guest that exits at once."""
    run = b.ctx.tmpdir() / "tsc"
    subprocess.run([str(b.build / "bin" / "ukctl"), "run", "--accel", "tcg", "--no-net",
                    "--cmdline", "bench_exit=1", "--run-dir", str(run), "--keep",
                    str(b.build / "kernel.elf")], capture_output=True, timeout=60)
    try:
        argv = json.loads((run / "instance.json").read_text())["qemu_argv"]
        m = re.search(r"tsc_hz=(\d+)", argv[argv.index("-append") + 1])
        return int(m.group(1)) if m else None
    except (OSError, ValueError, KeyError):
        return None


def bench_boot(b):
    """Boot BUILD/kernel.elf with bench_exit=1 side by side with the floor, an
    empty PVH kernel that only exits (tests/lib/pvh_stub.py), interleaved run
    by run: host-side start->exit of the whole QEMU process, start->ready, and
    the guest's own entry->main and main->ready.  Under TCG also with the
    tsc_hz= that ukctl passes (what an instance started by ukctl boots with)."""
    import pvh_stub
    image = Path(b.args.kernel) if b.args.kernel else b.build / "kernel.elf"
    if not image.exists():
        raise SystemExit(f"bench: {image} not found (make guest)")
    floor = b.ctx.tmpdir() / "floor.elf"
    floor.write_bytes(pvh_stub.make_pvh_elf(b"", status=0))
    tsc_hz = _ukctl_tsc_hz(b) if "tcg" in b.accels else None
    print(f"Boot: {b.args.runs} runs per accel of {image} (microvm, smp 1, 64 MiB, bench_exit=1), "
          f"interleaved with an empty PVH kernel (the floor)")
    result = {"image": str(image), "runs_per_accel": b.args.runs, "accels": {},
              "ukctl_tsc_hz": tsc_hz}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        variants = [("floor", floor, ""), ("kernel", image, "bench_exit=1")]
        if accel == "tcg" and tsc_hz:
            variants.append(("kernel+tsc_hz", image, f"bench_exit=1 tsc_hz={tsc_hz}"))
        runs = {name: [] for name, _, _ in variants}
        for i in range(b.args.runs):
            for name, img, cl in variants:
                run = {"run": i}
                try:
                    vm = harness.boot(b.ctx, img, cmdline=cl, accel=accel,
                                      timeout=30 * b.ctx.scale(accel), expect_exit=False)
                except AssertionError as e:
                    run["error"] = str(e).splitlines()[0]
                    runs[name].append(run)
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
                bad_ready = name != "floor" and ready is None
                if bad_ready or vm.timed_out or vm.status != harness.UK_EXIT_OK:
                    run["error"] = (f"ready={'yes' if ready is not None else 'no'} "
                                    f"status={vm.status} timed_out={vm.timed_out}")
                    run["console_tail"] = vm.tail(10)
                runs[name].append(run)
        keys = ("start_to_ready_ms", "start_to_exit_ms", "entry_to_main_us", "main_to_ready_us")
        res = {}
        for name, _, cl in variants:
            ok = [r for r in runs[name] if "error" not in r]
            st = {k: stats(r.get(k) for r in ok) for k in keys}
            res[name] = {"cmdline": cl, "stats": st, "runs": runs[name],
                         "errors": len(runs[name]) - len(ok)}
        floor_ms = (res["floor"]["stats"]["start_to_exit_ms"] or {}).get("median")
        for name, _, _ in variants:
            st = res[name]["stats"]
            ex = (st["start_to_exit_ms"] or {}).get("median")
            ratio = ex / floor_ms if ex and floor_ms else None
            res[name]["vs_floor"] = ratio
            rows.append([accel, name, f"{len(runs[name]) - res[name]['errors']}/{len(runs[name])}",
                         fmt(st["start_to_exit_ms"]), "-" if ratio is None else f"{ratio:.2f}x",
                         fmt(st["start_to_ready_ms"]), fmt(st["entry_to_main_us"]),
                         fmt(st["main_to_ready_us"])])
            for r in [r for r in runs[name] if "error" in r][:3]:
                print(f"  {accel} {name} run {r['run']}: {r['error']}")
                for line in (r.get("console_tail") or "").splitlines():
                    print(f"    | {line}")
        result["accels"][accel] = res
    print()
    print_table(["accel", "image", "ok", "start->exit ms", "vs floor", "start->ready ms",
                 "entry->main us", "main->ready us"], rows)
    print("  median (min..max); host times from QEMU process start, guest times as printed "
          f"by the kernel; tsc_hz={tsc_hz} is what ukctl appends under TCG")
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


def bench_gdb(b):
    """gdb over the in-guest stub (COM2, virtio-console) vs QEMU's own
    gdbstub, all against one booted kernel.elf per accel: `dump binary
    memory` of a region and the round trip of a small packet (qC).  Plus
    the UART port-I/O floor measured in the guest (test=gdb_uart_floor)."""
    size = {"tcg": 1 << 20, "kvm": 64 << 10}
    rtts = 50
    result = {"bytes": size, "rtt_packets": rtts, "accels": {}}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        d = b.ctx.tmpdir()
        # (chardev id "gdb" is taken by QEMU's -gdb)
        extra = ["-chardev", f"socket,id=com2,path={d}/u.sock,server=on,wait=off",
                 "-device", "isa-serial,chardev=com2,iobase=0x2f8,irq=3",
                 "-device", "virtio-serial-device,max_ports=2",
                 "-chardev", f"socket,id=gdbv,path={d}/v.sock,server=on,wait=off",
                 "-device", "virtserialport,chardev=gdbv,name=org.ukscope.gdb",
                 "-gdb", f"unix:{d}/q.sock,server=on,wait=off"]
        vm = harness.boot(b.ctx, b.build / "kernel.elf", accel=accel, smp=1, mem=64,
                          timeout=30 * b.ctx.scale(accel), extra_args=extra,
                          until=r"gdb: also listening")
        res = {}
        n = size[accel]
        for name, sock in (("uart", "u.sock"), ("virtio", "v.sock"), ("qemu", "q.sock")):
            script = d / f"{name}.gdb"
            script.write_text(f"""set pagination off
set confirm off
target remote {d}/{sock}
python import time; _t = time.monotonic()
dump binary memory {d}/{name}.bin 0x800000 {0x800000 + n:#x}
python print("DUMP_S %f" % (time.monotonic() - _t))
python
_t = time.monotonic()
for _i in range({rtts}):
    gdb.execute("maint packet qC", to_string=True)
print("RTT_US %f" % ((time.monotonic() - _t) / {rtts} * 1e6))
end
detach
""")
            p = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", str(script),
                                str(b.build / "kernel.elf")], capture_output=True, text=True,
                               timeout=600)
            m1 = re.search(r"DUMP_S ([0-9.]+)", p.stdout)
            m2 = re.search(r"RTT_US ([0-9.]+)", p.stdout)
            ok = m1 and m2 and (d / f"{name}.bin").stat().st_size == n
            if not ok:
                print(f"  {accel} {name}: failed\n{p.stdout[-500:]}{p.stderr[-500:]}")
                continue
            res[name] = {"dump_s": float(m1.group(1)), "rtt_us": float(m2.group(1))}
        vm.kill()
        # Port-I/O floor: guest time per byte written to COM2.
        fb = 65536 if accel == "tcg" else 8192
        vm = harness.boot(b.ctx, b.build / "kernel-test.elf", accel=accel,
                          cmdline=f"test=gdb_uart_floor panic=exit floor_bytes={fb}",
                          timeout=60 * b.ctx.scale(accel),
                          extra_args=["-chardev", f"socket,id=f,path={d}/f.sock,server=on,wait=off",
                                      "-device", "isa-serial,chardev=f,iobase=0x2f8,irq=3"])
        m = re.search(r"gdb_uart_floor: \d+ bytes in \d+ ns, (\d+) ns/byte", vm.output)
        ns_byte = int(m.group(1)) if m else None
        res["uart_ns_per_byte"] = ns_byte
        if ns_byte and "uart" in res:
            # A dump moves 2 hex chars per byte plus ~6 framing bytes per packet.
            wire = 2 * n + 6 * (n // 8192 + 1)
            res["uart_floor_s"] = wire * ns_byte / 1e9
        result["accels"][accel] = res
        q = res.get("qemu", {}).get("dump_s")
        for name in ("uart", "virtio", "qemu"):
            if name in res:
                r = res[name]
                ratio = f"{r['dump_s'] / q:.2f}x" if q else "-"
                extra_col = ""
                if name == "uart" and res.get("uart_floor_s"):
                    extra_col = f"{r['dump_s'] / res['uart_floor_s']:.2f}x floor"
                rows.append([accel, name, f"{n >> 10} KiB", f"{r['dump_s']:.3f}", ratio,
                             f"{r['rtt_us']:.0f}", extra_col])
        rows.append([accel, "UART byte", "", f"{ns_byte} ns" if ns_byte else "?", "", "",
                     f"floor {res.get('uart_floor_s', 0):.3f} s"])
    print()
    print_table(["accel", "transport", "dump", "seconds", "vs qemu", "RTT us", "note"], rows)
    print()
    return result


# ---------------------------------------------------------------- tracing ---

TRACE_BENCH_RE = re.compile(r"TRACE_BENCH cpus=(\d+) n=(\d+) enabled_ps=(\d+) disabled_ps=(\d+) "
                            r"rdtsc_ps=(\d+)")


def trace_image(path, nrings=4, nslots=1 << 18):
    """A synthetic guest memory image in the trace ABI (tracing/include/uk_trace_abi.h):
    nrings full rings of committed 'bench' events, for host drain/convert rates."""
    import struct
    hdr_at, rings_at, tps_at, slots_at = 0x1000, 0x2000, 0x3000, 0x4000
    img = bytearray(slots_at)
    hdr = struct.pack("<QQIIQ20sIQQIIQIIQQII", 0x45434152544b55, 0x31762d726468, 1, 176, hdr_at,
                      b"", 0, 1000000000, 0, nrings, nrings, rings_at, 1, 72, tps_at, 0, 32, 0)
    img[hdr_at:hdr_at + len(hdr)] = hdr
    for i in range(nrings):
        ring = struct.pack("<QQQIIII", nslots, 0, slots_at + i * nslots * 32, nslots, 0, i, 1)
        img[rings_at + 64 * i:rings_at + 64 * i + len(ring)] = ring
    tp = struct.pack("<24s16s15sB15sB", b"bench", b"bench", b"i", 1, b"x", 3)
    img[tps_at:tps_at + len(tp)] = tp
    rec = struct.Struct("<IHHQQQ")
    with open(path, "wb") as f:
        f.write(img)
        for i in range(nrings):
            f.write(b"".join(rec.pack(((h << 1) | 1) & 0xffffffff, 0, 0, h * 100, h, i)
                             for h in range(nslots)))
    return nrings * nslots


def bench_tracing(b):
    """Guest: ns per enabled event with every CPU tracing at once, a disabled
    tracepoint, the TSC read alone (test=trace_bench).  Host: ukctl trace
    drain + conversion rates on a synthetic 1M-event image."""
    image = b.build / "kernel-test.elf"
    result = {"guest": {}, "host": {}}
    rows = []
    for accel in [a for a in ("kvm", "tcg") if a in b.accels]:
        n = 2000 if accel == "kvm" and harness.KVM_PVM else 200000
        runs = []
        for _ in range(1 if accel == "kvm" else b.args.runs):
            vm = harness.boot(b.ctx, image, cmdline=f"test=trace_bench panic=exit trace_bench_n={n}",
                              smp=2, accel=accel, timeout=60 * b.ctx.scale(accel), expect_exit=False)
            m = TRACE_BENCH_RE.search(vm.output)
            if m:
                runs.append({"cpus": int(m.group(1)), "n": int(m.group(2)),
                             "enabled_ns": int(m.group(3)) / 1000,
                             "disabled_ns": int(m.group(4)) / 1000,
                             "rdtsc_ns": int(m.group(5)) / 1000})
        st = {k: stats(r[k] for r in runs) for k in ("enabled_ns", "disabled_ns", "rdtsc_ns")}
        result["guest"][accel] = {"stats": st, "runs": runs}
        rows.append([accel, len(runs), fmt(st["enabled_ns"]), fmt(st["disabled_ns"], prec=2),
                     fmt(st["rdtsc_ns"])])
    print("Tracing, guest (smp 2, every CPU emitting at once; per event, median over CPUs):")
    print_table(["accel", "runs", "enabled ns", "disabled ns", "rdtsc alone ns"], rows)
    tmp = b.ctx.tmpdir()
    img = tmp / "ram"
    total = trace_image(img)
    rows = []
    for fmt_name in ("none", "json", "ctf", "perfetto"):
        times = []
        for _ in range(3):
            out = tmp / f"out.{fmt_name}"
            t0 = time.perf_counter()
            r = subprocess.run([str(b.build / "bin" / "ukctl"), "trace", "--from-core", str(img),
                                "--format", fmt_name, "-o", str(out)],
                               capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0 or f"{total} events" not in r.stdout:
                raise SystemExit(f"bench tracing: ukctl trace failed: {r.stdout} {r.stderr}")
        st = stats([total / x for x in times])
        result["host"][fmt_name] = st
        rows.append([fmt_name, total, fmt(st, 1e6, 2)])
    print()
    print("Tracing, host (ukctl trace --from-core, whole process incl. mmap/scan/write):")
    print_table(["format", "events", "M events/s"], rows)
    print()
    shutil.rmtree(tmp, ignore_errors=True)
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
                s = streams.connect_unix(d / "telemetry.sock", 10)
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
                ends = [e for a, e in streams.frame_spans(data) if b"telemetry-flood " in data[a:e]]
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


def _start_prometheus(d, targets):
    """A real Prometheus in d scraping {job: host port} every 1 s (timeout 1 s)
    on loopback; returns (process, query(PromQL) -> result list)."""
    import urllib.parse
    import urllib.request
    jobs = "".join(f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
                   for job, port in targets.items())
    (d / "prom.yml").write_text("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                                "scrape_configs:\n" + jobs)
    pport = _free_port()
    prom = subprocess.Popen(["prometheus", f"--config.file={d / 'prom.yml'}",
                             f"--storage.tsdb.path={d / 'data'}",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=subprocess.DEVNULL, stderr=open(d / "prom.log", "w"))

    def query(q):
        url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)["data"]["result"]
    return prom, query


def bench_prometheus(b):
    """A real Prometheus scraping one guest as N separate targets every second
    (N jobs naming the same forwarded port): N times the load a fleet-wide
    1 s scrape puts on each instance.  Reports targets up and Prometheus's
    own scrape_duration_seconds over the run (tcg only: under kvm_pvm the
    emulated guest serves ~1 scrape/s)."""
    ntargets, secs = 100, 20
    ukctl = b.build / "bin" / "ukctl"
    result = {}
    if "tcg" not in b.accels:
        return result
    run = b.ctx.tmpdir() / "run"
    # Room for one keep-alive connection per target (the default limit, 64,
    # would make Prometheus reconnect, and slirp's listen backlog of 1 turns
    # reconnect bursts into 1 s SYN retries: a slirp artefact, not the guest's).
    subprocess.run([str(ukctl), "run", "--detach", "--accel", "tcg", "--smp", "2",
                    "--cmdline", f"http_max_conns={ntargets + 28}",
                    "--run-dir", str(run), str(b.build / "kernel.elf")],
                   check=True, capture_output=True, timeout=60)
    d = b.ctx.tmpdir()
    prom = None
    try:
        port = next(p["host"] for p in json.loads((run / "instance.json").read_text())["ports"]
                    if p["guest"] == 8080)
        _wait_healthz(port, 30)
        prom, query = _start_prometheus(d, {f"t{i}": port for i in range(ntargets)})
        time.sleep(secs + 5)
        up = query("up")
        durs = [float(v) for series in query(f"scrape_duration_seconds[{secs}s]")
                for _, v in series["values"]]
        ups = [float(v) for series in query(f"up[{secs}s]") for _, v in series["values"]]
    finally:
        if prom:
            prom.terminate()
            prom.wait(timeout=30)
        subprocess.run([str(ukctl), "stop", str(run)], capture_output=True, timeout=60)
    durs.sort()
    q = lambda f: durs[min(len(durs) - 1, int(f * len(durs)))] * 1000 if durs else None
    result = {"targets": ntargets, "seconds": secs, "targets_up_now": sum(float(x["value"][1]) for x in up),
              "scrapes": len(durs), "scrapes_failed": sum(1 for u in ups if u != 1.0),
              "scrape_ms_median": q(0.5), "scrape_ms_p99": q(0.99), "scrape_ms_max": q(1.0)}
    print_table(["accel", "targets", "up", "scrapes", "failed", "scrape ms median", "p99", "max"],
                [["tcg", str(ntargets), f"{result['targets_up_now']:.0f}", str(len(durs)),
                  str(result["scrapes_failed"]), f"{q(0.5):.1f}", f"{q(0.99):.1f}",
                  f"{q(1.0):.1f}"]])
    print(f"  Prometheus {ntargets} jobs x 1 s interval on one guest for {secs} s "
          "(scrape_duration_seconds as Prometheus measures it)")
    print()
    return result


# --------------------------------------------------- busy guests, idle cost ---

def _start_instance(b, cmdline, smp=2, accel="tcg"):
    """`ukctl run --detach`; returns (run_dir, host port of guest 8080, qemu pid)
    once /healthz answers."""
    run = b.ctx.tmpdir() / "run"
    subprocess.run([str(b.build / "bin" / "ukctl"), "run", "--detach", "--accel", accel,
                    "--smp", str(smp), "--cmdline", cmdline, "--run-dir", str(run),
                    str(b.build / "kernel.elf")], check=True, capture_output=True, timeout=60)
    inst = json.loads((run / "instance.json").read_text())
    port = next(p["host"] for p in inst["ports"] if p["guest"] == 8080)
    _wait_healthz(port, 60)
    return run, port, inst["pid"]


def _wait_healthz(port, timeout):
    """Until the guest agent's /healthz answers on host port `port` (OSError after timeout s)."""
    import urllib.request
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _stop_instance(b, run):
    subprocess.run([str(b.build / "bin" / "ukctl"), "stop", str(run)], capture_output=True,
                   timeout=60)


def _pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None


def bench_busy(b):
    """/metrics latency of a guest whose application threads saturate every
    vCPU (demo.load=100), of an idle one (demo.load=0), and of a busy one with
    sched.classes=0 (the agent queued behind the application, as before
    scheduling classes), all smp 2 under TCG, fresh connection each request
    (as a Prometheus scrape after a keep-alive timeout).  One guest at a time,
    in 3 rounds that alternate the guests, so the host's 2 cores are never
    oversubscribed: running the three side by side put 4 saturated vCPUs on
    2 host cores and measured the host's scheduling (p99 ~2 s), not the
    guest's.  Goal: p99 busy <= 2x p99 idle."""
    import http.client
    n = 60 if b.args.quick else 300
    configs = (("idle", "demo.load=0"), ("busy", "demo.load=100"),
               ("busy, one class", "demo.load=100 sched.classes=0"))
    lat = {name: [] for name, _ in configs}
    fails = {name: 0 for name, _ in configs}
    rounds = 3
    for rnd in range(rounds):
        for name, cl in configs:
            run, port, _ = _start_instance(b, cl)
            try:
                time.sleep(3)
                for _ in range(n // rounds):
                    t0 = time.perf_counter()
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                        c.request("GET", "/metrics")
                        c.getresponse().read()
                        c.close()
                        lat[name].append((time.perf_counter() - t0) * 1000)
                    except OSError:
                        fails[name] += 1
                    time.sleep(0.05)
            finally:
                _stop_instance(b, run)
    insts = dict(configs)
    result = {"requests": n, "instances": {}}
    rows = []
    for name in insts:
        v = lat[name]
        r = {"p50_ms": _pct(v, 0.5), "p99_ms": _pct(v, 0.99), "max_ms": max(v) if v else None,
             "failed": fails[name], "ok": len(v)}
        result["instances"][name] = r
        rows.append([name, "0" if name == "idle" else "100", f"{len(v)}/{n}",
                     f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}"])
    ratio = result["instances"]["busy"]["p99_ms"] / result["instances"]["idle"]["p99_ms"]
    result["p99_busy_over_idle"] = ratio
    print_table(["guest", "demo.load", "ok", "/metrics p50 ms", "p99 ms", "max ms"], rows)
    r1 = result["instances"]["busy, one class"]["p99_ms"]
    print(f"  busy with one class (sched.classes=0): p99 {r1:.1f} ms")
    print(f"  p99 busy / p99 idle = {ratio:.2f} (goal <= 2); tcg, smp 2, {n} requests per guest "
          f"in {rounds} rounds, one guest at a time, new connection each")
    print()
    return result


def bench_prometheus_busy(b):
    """A real Prometheus scraping 4 busy instances (demo.load=100, smp 2, TCG)
    every 1 s (timeout 1 s) for 2 minutes (--quick: 20 s); goal: 0 failed scrapes."""
    ninst, secs = 4, (20 if b.args.quick else 120)
    insts, prom = [], None
    d = b.ctx.tmpdir()
    try:
        for _ in range(ninst):
            insts.append(_start_instance(b, "demo.load=100"))
        prom, query = _start_prometheus(d, {f"busy{i}": port
                                            for i, (_, port, _) in enumerate(insts)})
        time.sleep(secs + 3)
        ups = {x["metric"]["job"]: [float(v) for _, v in x["values"]]
               for x in query(f"up[{secs}s]")}
        durs = sorted(float(v) for x in query(f"scrape_duration_seconds[{secs}s]")
                      for _, v in x["values"])
        busy = [float(x["value"][1]) for x in
                query('sum by (instance) (rate(ukscope_cpu_busy_seconds_total[30s]))')]
    finally:
        if prom:
            prom.terminate()
            prom.wait(timeout=30)
        for run, _, _ in insts:
            _stop_instance(b, run)
    scrapes = sum(len(v) for v in ups.values())
    failed = sum(1 for v in ups.values() for u in v if u != 1.0)
    result = {"instances": ninst, "seconds": secs, "scrapes": scrapes, "failed": failed,
              "per_job_failed": {j: sum(1 for u in v if u != 1.0) for j, v in ups.items()},
              "scrape_ms_median": _pct(durs, 0.5) * 1000 if durs else None,
              "scrape_ms_p99": _pct(durs, 0.99) * 1000 if durs else None,
              "scrape_ms_max": durs[-1] * 1000 if durs else None,
              "guest_busy_cpus": busy}
    print_table(["instances", "seconds", "scrapes", "failed", "scrape ms median", "p99", "max",
                 "guest busy CPUs each"],
                [[str(ninst), str(secs), str(scrapes), str(failed),
                  f"{result['scrape_ms_median']:.1f}", f"{result['scrape_ms_p99']:.1f}",
                  f"{result['scrape_ms_max']:.1f}", " ".join(f"{x:.2f}" for x in busy)]])
    print("  Prometheus, 1 s interval and timeout, demo.load=100 on every vCPU of each instance "
          "(smp 2, tcg); scrape_duration_seconds as Prometheus measures it")
    print()
    return result


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def bench_idle(b):
    """Host CPU of idle instances (demo.load=0, smp 2, TCG, started by ukctl with
    network and virtio-console) over 60 s (--quick: 15 s), from QEMU's own
    utime+stime in /proc/PID/stat, and each one's RSS.  Goal: <= 0.5 % of a
    host core each.  One instance at the default demo.load (10) for reference."""
    secs = 15 if b.args.quick else 60
    hz = os.sysconf("SC_CLK_TCK")
    insts = []
    try:
        for cl in ("demo.load=0", "demo.load=0", "demo.load=0", ""):
            insts.append((cl or "(default)",) + _start_instance(b, cl))
        time.sleep(5)
        t0 = {pid: _cpu_ticks(pid) for _, _, _, pid in insts}
        w0 = time.monotonic()
        time.sleep(secs)
        wall = time.monotonic() - w0
        rows, res = [], []
        for cl, _, _, pid in insts:
            pct = (_cpu_ticks(pid) - t0[pid]) / hz / wall * 100
            rss = _rss_kib(pid)
            res.append({"cmdline": cl, "cpu_pct": pct, "rss_kib": rss})
            rows.append([cl, f"{pct:.2f}", f"{rss / 1024:.1f}"])
    finally:
        for _, run, _, _ in insts:
            _stop_instance(b, run)
    print_table(["instance cmdline", "host CPU % of a core", "RSS MiB"], rows)
    print(f"  over {wall:.0f} s; QEMU utime+stime; smp 2, 128 MiB guest, tcg, ukctl run "
          "(virtio-net + virtio-console)")
    print()
    return {"seconds": secs, "instances": res}


def _script_section(b, script, *extra):
    """A benchmark kept in its own script (tests/bench_NAME.py, runnable alone):
    run it on this build under TCG and keep what it printed as the results."""
    cmd = [sys.executable, str(HERE / script), "--build", str(b.build), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    print(r.stdout, end="")
    if r.returncode:
        raise SystemExit(f"bench: {script} failed ({r.returncode}): {r.stderr[-2000:]}")
    return {"accel": "tcg", "output": r.stdout.splitlines()}


def bench_crash(b):
    """Panic -> crash bundle, `ukctl dump` vs QEMU dump-guest-memory (issue 11)."""
    return _script_section(b, "bench_crash.py", "--accel", "tcg",
                           "--runs", "3" if b.args.quick else "5")


def bench_bpf(b):
    """hostview BPF programs: perf bench sched pipe with and without them (issue 13)."""
    return _script_section(b, "bench_bpf.py", "--runs", "5" if b.args.quick else "9")


def bench_trace_host(b):
    """`ukctl trace --with-host`: guest/host clock alignment (issue 13)."""
    return _script_section(b, "bench_trace_host.py", "--runs", "3" if b.args.quick else "5")


def bench_tracestore(b):
    """The collector's trace-store drain CPU per instance (issue 12)."""
    return _script_section(b, "bench_tracestore.py", "--accel", "tcg",
                           "--runs", "3" if b.args.quick else "5")


def bench_collector(b):
    """ukcollectd (issue 12): CPU and RSS with 10, 50 and 100 idle instances
    (tests/bench_collector.py; $UKSCOPE_BENCH_FLEET overrides the sizes), and
    log ingest guest -> store -> RELP -> rsyslog side by side with rsyslog
    alone (tests/bench_ingest.py)."""
    fleet = os.environ.get("UKSCOPE_BENCH_FLEET", "10 50" if b.args.quick else "10 50 100")
    res = _script_section(b, "bench_collector.py", "--fleet", fleet)
    res["ingest"] = _script_section(b, "bench_ingest.py",
                                    "--runs", "1" if b.args.quick else "3")["output"]
    return res


def bench_relp(b):
    """The RELP forwarder alone vs rsyslog's imtcp (tests/bench_relp.py)."""
    return _script_section(b, "bench_relp.py", "--runs", "3" if b.args.quick else "5")


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SECTIONS = [
    ("boot", bench_boot),
    ("dashboard", lambda b: _script_section(b, "bench_dashboard.py", "--seconds",
                                            "10" if b.args.quick else "20")),
    ("vcon", bench_vcon),
    ("gdb", bench_gdb),
    ("tracing", bench_tracing),
    ("telemetry", bench_telemetry),
    ("metrics", bench_metrics),
    ("prometheus", bench_prometheus),
    ("busy", bench_busy),
    ("prometheus_busy", bench_prometheus_busy),
    ("idle", bench_idle),
    ("crash", bench_crash),
    ("trace_host", bench_trace_host),
    ("tracestore", bench_tracestore),
    ("collector", bench_collector),
    ("bpf", bench_bpf),
    ("relp", bench_relp),
]


def main():
    ap = argparse.ArgumentParser(description="ukscope benchmarks")
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", choices=[n for n, _ in SECTIONS],
                    help="run only this section (repeatable)")
    ap.add_argument("--runs", type=int, default=20, help="boots per accel (default 20)")
    ap.add_argument("--accel", choices=["kvm", "tcg", "all"], default="all")
    ap.add_argument("--kernel", help="image for the boot section (default BUILD/kernel.elf)")
    ap.add_argument("--quick", action="store_true",
                    help="shorter busy/prometheus_busy/idle runs (20 s, 15 s instead of 2 min, 60 s)")
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
            if not isinstance(res, dict):
                raise SystemExit(f"bench: section {name} returned no results (a bug in bench.py)")
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
