"""The real kernel under `ukctl run`: exit statuses, and the host reading the
kernel's thread table and log ring from the shared RAM file while the demo
runs, without stopping it (the layouts of <uk/thread_abi.h> and
<uk/klog_abi.h>, found by ELF symbol, decoded here independently in Python).
"""
import json
import os
import re
import struct
import subprocess
import time

from harness import run

THREAD_MAGIC = 0x5448544B55
KLOG_MAGIC = 0x474F4C4B55
STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "sleeping", 5: "exited"}


def ukctl(t, *args, timeout=120):
    return subprocess.run([str(t.build / "bin" / "ukctl"), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


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


def thread_table(ram, syms):
    addr, _ = syms["uk_thread_table"]
    hdr = read_ram(ram, addr, 24 + 16 * 8)
    magic, version, tmax, esize, ncpus = struct.unpack_from("<QIIII", hdr)
    assert magic == THREAD_MAGIC and version == 1, f"thread table header {magic:#x} v{version}"
    assert 0 < tmax <= 4096 and 160 <= esize <= 1024 and 0 < ncpus <= 16, (tmax, esize, ncpus)
    current = struct.unpack_from("<16Q", hdr, 24)
    raw = read_ram(ram, addr + len(hdr), tmax * esize)
    threads = []
    for i in range(tmax):
        e = raw[i * esize:(i + 1) * esize]
        state, tid = struct.unpack_from("<II", e, 0)
        if state == 0:
            continue
        name = e[8:40].split(b"\0", 1)[0].decode("ascii", "replace")
        cpu, flags = struct.unpack_from("<iI", e, 40)
        ctx = struct.unpack_from("<8Q", e, 48)  # rsp rbp rbx r12 r13 r14 r15 rip
        stack_lo, stack_hi, run_ns, switches = struct.unpack_from("<4Q", e, 112)
        threads.append(dict(addr=addr + len(hdr) + i * esize, state=STATES.get(state, state),
                            tid=tid, name=name, cpu=cpu, flags=flags, rsp=ctx[0], rip=ctx[7],
                            stack=(stack_lo, stack_hi), run_ns=run_ns, switches=switches))
    return ncpus, current, threads


def klog_texts(ram, syms):
    addr, _ = syms["uk_klog"]
    hdr = read_ram(ram, addr, 40)
    magic, version, slots, rsize, _, head = struct.unpack_from("<QIIIIQ", hdr)
    assert magic == KLOG_MAGIC and version == 1 and slots == 1024 and rsize == 136
    raw = read_ram(ram, addr + 40, slots * rsize)
    recs = {}
    for i in range(slots):
        seq, tns, level, cpu, ln, tid = struct.unpack_from("<QQBBHI", raw, i * rsize)
        if seq and ln <= 112:
            recs[seq - 1] = raw[i * rsize + 24:i * rsize + 24 + ln].decode("utf-8", "replace")
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
        ram = inst["ram_file"]
        time.sleep(0.5)
        ncpus, current, threads = thread_table(ram, syms)
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
        _, _, later = thread_table(ram, syms)
        moved = [th for th in later if th["switches"] > before.get(th["tid"], 1 << 62)]
        assert moved, "no thread switched in 1 s: was the guest stopped?"
        head, recs = klog_texts(ram, syms)
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
