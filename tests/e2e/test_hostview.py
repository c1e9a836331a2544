"""The real kernel under `ukctl run`: exit statuses, and the host reading the
kernel's thread table and log ring from the shared RAM file while the demo
runs, without stopping it (the layouts of <uk/thread_abi.h> and
<uk/klog_abi.h>, found by ELF symbol, decoded here independently in Python
with the offsets tests/lib/abi_layout.c prints from the headers: nothing
hard-coded, so a layout change cannot silently break this reader).
"""
import json
import os
import re
import struct
import subprocess
import time

from harness import run

STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "sleeping", 5: "exited"}
INT = {1: "B", 2: "H", 4: "I", 8: "Q"}


def ukctl(t, *args, timeout=120):
    return subprocess.run([str(t.build / "bin" / "ukctl"), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def abi_layout(t):
    """{struct: {"size": N, "fields": {name: (offset, size)}}, "const": {...}}
    from the ABI headers, via the host compiler."""
    exe = t.tmpdir() / "abi_layout"
    run(["cc", "-std=gnu11", "-Wall", "-Werror", f"-I{t.root / 'kernel-hooks/include'}",
         str(t.root / "tests/lib/abi_layout.c"), "-o", str(exe)])
    return json.loads(run([str(exe)]).stdout)


class View:
    """Fields of one struct in a bytes buffer, by name."""

    def __init__(self, layout, name):
        self.size = layout[name]["size"]
        self.f = {k: tuple(v) for k, v in layout[name]["fields"].items()}

    def u(self, buf, name, base=0, signed=False):
        off, size = self.f[name]
        fmt = INT[size].lower() if signed else INT[size]
        return struct.unpack_from("<" + fmt, buf, base + off)[0]

    def raw(self, buf, name, base=0):
        off, size = self.f[name]
        return buf[base + off:base + off + size]


def symbols(image):
    out = run(["nm", "-S", str(image)]).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            syms[parts[2]] = (int(parts[0], 16), 0)
    return syms


def read_ram(path, addr, size):
    with open(path, "rb") as f:
        f.seek(addr)
        return f.read(size)


def thread_table(ram, syms, L):
    tt, th, cx = View(L, "uk_thread_table"), View(L, "uk_thread"), View(L, "uk_thread_ctx")
    c = L["const"]
    addr, _ = syms["uk_thread_table"]
    hdr = read_ram(ram, addr, tt.f["threads"][0])
    magic, version = tt.u(hdr, "magic"), tt.u(hdr, "version")
    tmax, esize, ncpus = tt.u(hdr, "max"), tt.u(hdr, "entry_size"), tt.u(hdr, "ncpus")
    assert magic == c["UK_THREAD_TABLE_MAGIC"] and version == c["UK_THREAD_TABLE_VERSION"], \
        f"thread table header {magic:#x} v{version}"
    ncur = tt.f["current"][1] // 8
    assert 0 < tmax <= 4096 and th.size <= esize <= 1024 and 0 < ncpus <= ncur, \
        (tmax, esize, ncpus)
    current = struct.unpack_from(f"<{ncur}Q", tt.raw(hdr, "current"))
    raw = read_ram(ram, addr + len(hdr), tmax * esize)
    ctx = th.f["ctx"][0]
    threads = []
    for i in range(tmax):
        e = raw[i * esize:(i + 1) * esize]
        state = th.u(e, "state")
        if state == 0:
            continue
        threads.append(dict(
            addr=addr + len(hdr) + i * esize, state=STATES.get(state, state), tid=th.u(e, "tid"),
            name=th.raw(e, "name").split(b"\0", 1)[0].decode("ascii", "replace"),
            cpu=th.u(e, "cpu", signed=True), flags=th.u(e, "flags"),
            rsp=cx.u(e, "rsp", ctx), rip=cx.u(e, "rip", ctx),
            stack=(th.u(e, "stack_lo"), th.u(e, "stack_hi")), run_ns=th.u(e, "run_ns"),
            switches=th.u(e, "switches")))
    return ncpus, current, threads


def klog_texts(ram, syms, L):
    ring, rv = View(L, "uk_klog_ring"), View(L, "uk_klog_rec")
    c = L["const"]
    addr, _ = syms["uk_klog"]
    hdr = read_ram(ram, addr, ring.f["rec"][0])
    magic, version = ring.u(hdr, "magic"), ring.u(hdr, "version")
    slots, rsize, head = ring.u(hdr, "slots"), ring.u(hdr, "rec_size"), ring.u(hdr, "head")
    assert magic == c["UK_KLOG_MAGIC"] and version == c["UK_KLOG_VERSION"]
    assert slots == c["UK_KLOG_SLOTS"] and rsize == rv.size, (slots, rsize)
    raw = read_ram(ram, addr + len(hdr), slots * rsize)
    tmax = rv.f["text"][1]
    recs = {}
    for i in range(slots):
        seq, ln = rv.u(raw, "seq", i * rsize), rv.u(raw, "len", i * rsize)
        if seq and ln <= tmax:
            recs[seq - 1] = rv.raw(raw, "text", i * rsize)[:ln].decode("utf-8", "replace")
    return head, recs


def wait_for(path, pattern, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace")):
            return True
        time.sleep(0.1)
    return False


def test_ukctl_runs_the_kernel_statuses(t, accel):
    img = t.build / "kernel-test.elf"
    for cmd, want in (("test=boot", 0), ("test=no_such_test", 1), ("test=exc_pf panic=exit", 2)):
        d = t.tmpdir()
        r = ukctl(t, "run", "--accel", accel, "--smp", "2", "--no-net", "--run-dir", d / "run",
                  "--cmdline", cmd, img, timeout=60 * t.scale(accel))
        assert r.returncode == want, f"{cmd}: exit {r.returncode}, want {want}\n{r.stderr}"
        if want == 0:
            assert "TEST boot: PASS" in r.stdout, r.stdout[-2000:]
            assert not (d / "run").exists(), "run dir not cleaned up"
        if want == 2:
            assert "unhandled exception #PF" in r.stdout
            assert (d / "run" / "ram").exists(), "panicked: run dir and RAM must be kept"


def test_host_reads_threads_and_log_live(t):
    # TCG only: reading is host-side, the accelerator does not matter here.
    d = t.tmpdir()
    run_dir = d / "run"
    img = t.build / "kernel.elf"
    r = ukctl(t, "run", "--detach", "--accel", "tcg", "--smp", "2", "--mem", "64",
              "--run-dir", run_dir, img)
    assert r.returncode == 0, r.stderr
    try:
        inst = json.loads((run_dir / "instance.json").read_text())
        assert wait_for(run_dir / "console.log", r"demo: \d+ threads started", 30), \
            (run_dir / "console.log").read_text()[-2000:]
        syms = symbols(img)
        layout = abi_layout(t)
        ram = inst["ram_file"]
        time.sleep(0.5)
        ncpus, current, threads = thread_table(ram, syms, layout)
        names = {th["name"] for th in threads}
        for want in ("idle0", "idle1", "producer", "consumer", "ticker", "cruncher0",
                     "cruncher1"):
            assert want in names, f"{want} not in thread table: {sorted(names)}"
        assert ncpus == 2
        sw_start, sw_size = syms["arch_switch"]
        for th in threads:
            lo, hi = th["stack"]
            if th["state"] in ("blocked", "sleeping", "runnable") and th["switches"]:
                # Saved context: inside arch_switch, on the thread's own stack.
                assert sw_start <= th["rip"] < sw_start + max(sw_size, 64), th
                assert lo <= th["rsp"] < hi, th
        running = {c for c in current[:ncpus]}
        assert all(c in {th["addr"] for th in threads} for c in running), "current[] points off"
        # The guest keeps running: counters move between two reads.
        before = {th["tid"]: th["switches"] for th in threads}
        time.sleep(1.0)
        _, _, later = thread_table(ram, syms, layout)
        moved = [th for th in later if th["switches"] > before.get(th["tid"], 1 << 62)]
        assert moved, "no thread switched in 1 s: was the guest stopped?"
        head, recs = klog_texts(ram, syms, layout)
        assert head > 5 and any("ukscope: ready" in s for s in recs.values()), recs
        assert pid_alive(inst["pid"]), "QEMU died while we read its RAM"
    finally:
        r = ukctl(t, "stop", run_dir)
    assert r.returncode == 0, r.stderr


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
