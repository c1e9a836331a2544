"""Crash capture (docs/postmortem.md): `ukctl dump` cores of real panics,
read by gdb, lldb, elfutils and drgn; live and kept-RAM dumps; a corrupted
RAM image.  The demo injects the faults (`fault=NAME` on the command line)."""
import json
import os
import re
import shutil
import struct
import subprocess
import time

from harness import Skip, wait_for

FAULTS = {  # fault -> (console report regex, gdb's frame #0 function)
    "panic": (r"PANIC on CPU \d+: kv: injected panic", "inject"),
    "pagefault": (r"PANIC on CPU \d+: unhandled exception #PF ", "inject"),
    "divide": (r"PANIC on CPU \d+: unhandled exception #DE ", "inject"),
    "assert": (r"PANIC on CPU \d+: assertion failed: keys_counted == nkeys at "
               r"guest-agent/demo/kvdemo\.c:\d+", "inject"),
    "stackoverflow": (r"PANIC on CPU \d+: stack overflow in thread \d+ \"kv-fault\" \(#DF, "
                      r"guard page hit at 0x[0-9a-f]+\)", "stack_hog"),
}
REASONS = {"panic": "panic", "assert": "assertion"}  # report.json reason; others "exception"
# Frames of the panic machinery itself in the guest's console report.
PANIC_FRAMES = {"uk_backtrace_here", "uk_backtrace_print", "uk_panic", "uk_panic_assert",
                "panic_exception",
                "trap_dispatch", "trap_common"}
CORE_MAX = 2 << 20  # minimal core of a 128 MiB guest


def ukctl(t, *args, timeout=60, check=True):
    r = subprocess.run([str(t.build / "bin" / "ukctl"), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"ukctl {args[0]}: rc {r.returncode}\n{r.stderr}"
    return r


def start(t, accel, smp, cmdline):
    run = t.tmpdir() / "run"
    ukctl(t, "run", "--detach", "--accel", accel, "--smp", smp, "--no-net", "--run-dir", run,
          "--cmdline", cmdline, t.build / "kernel.elf")
    return run


def console(run):
    return (run / "console.log").read_text(errors="replace")


def panic_lines(text):
    """The guest's PANIC lines, first in a failure message: what it reported."""
    return [ln for ln in text.splitlines() if "PANIC" in ln]


def console_frames(text):
    """Function names of the last backtrace in the guest's panic report."""
    report = text[text.rfind("PANIC on CPU"):]
    return [m.group(1) for m in re.finditer(r"#\d+ 0x[0-9a-f]{16} ([A-Za-z_][\w.]*)\+0x", report)]


def gdb_threads(t, core, extra=()):
    """{lwp: [function names]} from gdb -batch `thread apply all bt`."""
    r = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "info threads",
                        "-ex", "thread apply all bt", *extra, str(t.build / "kernel.elf"),
                        str(core)], capture_output=True, text=True, timeout=120)
    t.log(r.stdout[-6000:] + r.stderr[-2000:])
    threads, cur = {}, None
    for line in r.stdout.splitlines():
        m = re.match(r'Thread \d+ \(LWP (\d+)(?: "[^"]*")?\)', line)  # named by the helper
        if m:
            cur = int(m.group(1))
            threads[cur] = []
            continue
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][\w.]*) \(", line)
        if m and cur is not None:
            threads[cur].append(m.group(1))
    return threads, r.stdout


def read_meta(core):
    """The UKSCOPE note's JSON, found by walking the PT_NOTE segment."""
    data = core.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    _, _, off, _, _, size = struct.unpack_from("<IIQQQQ", data, phoff)
    end = off + size
    while off < end:
        namesz, descsz, typ = struct.unpack_from("<III", data, off)
        name = data[off + 12:off + 12 + namesz].rstrip(b"\0")
        desc = off + 12 + (namesz + 3) // 4 * 4
        if name == b"UKSCOPE":
            return json.loads(data[desc:desc + descsz].rstrip(b"\0"))
        off = desc + (descsz + 3) // 4 * 4
    raise AssertionError("no UKSCOPE note")


def core_meta(core):
    r = subprocess.run(["eu-readelf", "-n", str(core)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_readers(t, core, nthreads, fault_tid, top):
    """lldb, eu-readelf, eu-stack and drgn all read the core."""
    notes = core_meta(core)
    assert notes.count("PRSTATUS") == nthreads, notes[:2000]
    assert "PRPSINFO" in notes and "UKSCOPE" in notes, notes[:2000]
    # eu-stack symbolizes from the core alone: the image's header page and
    # NT_FILE name kernel.elf (corehdr.c); no -e needed
    r = subprocess.run(["eu-stack", f"--core={core}"], capture_output=True, text=True, timeout=120)
    stacks = dict(re.findall(r"^TID (\d+):\n((?:#.*\n?)*)", r.stdout, re.M))
    assert len(stacks) == nthreads, r.stdout + r.stderr
    unnamed = [tid for tid, s in stacks.items() if not re.match(r"#0\s+0x[0-9a-f]+ [A-Za-z_]", s)]
    assert not unnamed, (unnamed, r.stdout[-3000:])
    if fault_tid is not None:
        fs = stacks[str(fault_tid)]
        assert re.match(rf"#0\s+0x[0-9a-f]+ {top}\n", fs), fs
    if shutil.which("lldb"):
        env = dict(os.environ, PATH="/usr/bin:/bin")  # Debian's python for lldb's own scripts
        r = subprocess.run(["lldb", "-b", "-o", "thread list", "-o", "bt",
                            str(t.build / "kernel.elf"), "-c", str(core)],
                           capture_output=True, text=True, timeout=120, env=env)
        t.log(r.stdout[-3000:])
        assert len(re.findall(r"thread #\d+: tid = \d+", r.stdout)) == nthreads, r.stdout[-3000:]
        if fault_tid is not None:
            assert f"tid = {fault_tid}," in r.stdout and f"`{top}" in r.stdout, r.stdout[-3000:]
    code = ("import drgn,sys\n"
            "p = drgn.Program(); p.set_core_dump(sys.argv[1]); p.load_debug_info([sys.argv[2]])\n"
            "ts = list(p.threads()); print(len(ts))\n"
            "print(p.crashed_thread().tid, p.crashed_thread().stack_trace()[0].name)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, str(core), str(t.build / "kernel.elf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.split()
    assert int(lines[0]) == nthreads, r.stdout
    if fault_tid is not None:
        assert lines[1:] == [str(fault_tid), top], r.stdout


def panic_case(t, accel, smp, fault, cdir):
    """One injected fault: the core read by every reader, then a bundle in
    cdir (`ukctl crash capture`); returns the bundle's report.json."""
    report, top = FAULTS[fault]
    run = start(t, accel, smp, f"fault={fault}")
    try:
        wait_for(f"{fault} report", lambda: "notifying the host" in console(run),
                 60 * t.scale(accel))
        text = console(run)
        assert re.search(report, text), (panic_lines(text), text[-2000:])
        r = ukctl(t, "dump", run)
        assert "panicked guest" in r.stderr, r.stderr
        core = run / "core"
        size = core.stat().st_size
        assert 0 < size <= CORE_MAX, size
        threads, out = gdb_threads(t, core)
        meta = read_meta(core)
        assert meta["panicked"] and meta["smp"] == smp and meta["threads"] == len(threads), meta
        # Every thread has a backtrace that starts in a known function.
        bad = [tid for tid, fr in threads.items() if not fr]
        assert not bad, (bad, r.stderr, out[out.find(f"(LWP {bad[0]})") - 200:][:1500] if bad else "")
        fault_tid = meta["tid"]
        frames = threads[fault_tid]
        assert frames[0] == top, (frames, out[-3000:])
        # ... matching the guest's own report: its frames, machinery
        # stripped, appear in gdb's backtrace in the same order.
        guest = [f for f in console_frames(text) if f not in PANIC_FRAMES]
        assert guest and guest[0] == top, (guest, text[-2000:])
        it = iter(frames)
        assert all(any(g == f for f in it) for g in guest), (guest, frames)
        if smp > 1:
            assert "no frame was recorded" not in r.stderr, r.stderr  # every CPU accounted for
        check_readers(t, core, len(threads), fault_tid, top)
        r = ukctl(t, "crash", "--crash-dir", cdir, "capture", run, timeout=120)
        bundle = r.stdout.strip().splitlines()[-1]
        rep = json.loads(open(os.path.join(bundle, "report.json")).read())
        assert rep["reason"] == REASONS.get(fault, "exception"), rep["reason"]
        assert rep["thread"]["tid"] == fault_tid and rep["thread"]["frames"][0]["function"] == top
        return rep
    finally:
        ukctl(t, "stop", run, check=False)


def test_crash_dump_faults(t, accel):
    """Page fault, #DE, a failed assertion, a panic call and a stack overflow
    (#DF on the guard page) at smp 1 and 4: minimal cores of at most 2 MiB
    that gdb, lldb, eu-stack and drgn read, every thread with a backtrace
    whose frames match the guest's console report; the bundles of the same
    fault share a signature, different faults do not."""
    cdir = t.tmpdir() / "crashes"
    sigs = {}
    for smp in (1, 4):
        for fault in FAULTS:
            t.log(f"--- {fault} smp {smp}")
            rep = panic_case(t, accel, smp, fault, cdir)
            sigs.setdefault(fault, set()).add(rep["signature"])
            if fault == "stackoverflow":
                assert rep["message"].startswith("stack overflow in thread") and rep["vector"] == 8
    t.log(str(sigs))
    assert all(len(v) == 1 for v in sigs.values()), sigs  # two instances, one signature
    assert len({next(iter(v)) for v in sigs.values()}) == len(FAULTS), sigs  # all different
    ls = json.loads(ukctl(t, "crash", "--crash-dir", cdir, "ls", "--json").stdout)
    assert sorted(g["count"] for g in ls["groups"].values()) == [2] * len(FAULTS), ls["groups"]


def test_panic_report_whole_lines(t):
    """A panic while another CPU logs as fast as it can: the panic report on
    the console is whole lines, none mixed with the other CPU's (the console
    mirror is locked line by line, and during a panic only the panicking CPU
    prints).  TCG: the interleaving needs two CPUs printing at once, which
    the engine does not change."""
    run = start(t, "tcg", 2, "fault=panic fault_delay_ms=1500 demo.log_burst=1000000 "
                "demo.log_batch=0 demo.log_delay_ms=0")
    try:
        wait_for("the panic report", lambda: "notifying the host" in console(run), 60)
        lines = console(run).replace("\r", "").splitlines()
        # Every line is one whole record: prefix, one level, text.
        rec = re.compile(r"\[ *\d+\.\d{6}\] \d+:\d+ [a-z]+: ")
        bad = [ln for ln in lines if not rec.match(ln) or len(rec.findall(ln)) != 1]
        assert not bad, bad[:5]
        first = next(i for i, ln in enumerate(lines) if "PANIC on CPU" in ln)
        report = [rec.match(ln) and ln for ln in lines[first:]]
        m = re.search(r"\] (\d+):\d+ emerg: PANIC on CPU (\d+): kv: injected panic$", report[0])
        assert m and m.group(1) == m.group(2), report[:3]
        # After the PANIC line only the panicking CPU prints.
        assert all(re.search(r"\] %s:\d+ " % m.group(1), ln) for ln in report), report
        assert "burst line" in "\n".join(lines[:first]), "the other CPU was not logging"
    finally:
        ukctl(t, "stop", run, check=False)


def test_crash_dump_live_deadlock(t, accel):
    """A deadlocked, running guest at smp 1 and 4: `ukctl dump` stops it,
    copies, resumes it (reporting the pause); both deadlocked threads show in
    uk_mutex_lock, with their names from the gdb helper, and the guest keeps
    running; lldb, eu-stack and drgn read the same core."""
    cdir = t.tmpdir() / "crashes"
    for smp in (1, 4):
        t.log(f"--- deadlock smp {smp}")
        deadlock_case(t, accel, smp, cdir)
    ls = json.loads(ukctl(t, "crash", "--crash-dir", cdir, "ls", "--json").stdout)
    assert [(g["count"], g["reason"]) for g in ls["groups"].values()] == [(2, "manual")], ls


def deadlock_case(t, accel, smp, cdir):
    run = start(t, accel, smp, "fault=deadlock")
    try:
        wait_for("the deadlock", lambda: "injecting fault 'deadlock'" in console(run),
                 60 * t.scale(accel))
        deadline = time.time() + 30 * t.scale(accel)
        while True:  # the two threads need a moment (guest time) to lock each other out
            r = ukctl(t, "dump", run)
            m = re.search(r"guest paused ([\d.]+) ms", r.stderr)
            assert m and "live guest" in r.stderr, r.stderr
            t.log(f"pause {m.group(1)} ms")
            threads, out = gdb_threads(t, run / "core", extra=(
                "-x", str(t.root / "gdbstub" / "host" / "uk-gdb.py"), "-ex", "uk threads"))
            locked = [tid for tid, fr in threads.items() if "uk_mutex_lock" in fr]
            if len(locked) == 2 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert len(locked) == 2, out[-4000:]
        assert re.search(r"kv-fault\s+blocked", out) and re.search(r"kv-deadlock\s+blocked", out), \
            out[-3000:]
        assert ukctl(t, "list", run.parent).stdout.count("running") >= 1
        size = (run / "core").stat().st_size
        assert size <= CORE_MAX, size
        meta = read_meta(run / "core")
        assert not meta["panicked"] and meta["smp"] == smp, meta
        check_readers(t, run / "core", len(threads), None, None)
        # the manual bundle of the hung guest: both threads in uk_mutex_lock
        bundle = ukctl(t, "crash", "--crash-dir", cdir, "capture", run).stdout.split()[-1]
        rep = json.loads(open(os.path.join(bundle, "report.json")).read())
        assert rep["reason"] == "manual" and rep["capture"].startswith("live"), rep["capture"]
        stuck = {th["name"] for th in rep["threads"]
                 if any(f["function"] == "uk_mutex_lock" for f in th["frames"])}
        # (others may be waiting for a lock at that moment, e.g. the demo's consumer)
        assert stuck >= {"kv-fault", "kv-deadlock"}, [(th["name"], th["frames"])
                                                      for th in rep["threads"]]
    finally:
        ukctl(t, "stop", run, check=False)


def test_crash_dump_kept_ram(t, accel):
    """After QEMU is gone (`ukctl stop --keep`), the RAM file alone still gives
    the core, levels heap and full included."""
    run = start(t, accel, 1, "fault=pagefault")
    try:
        wait_for("the report", lambda: "notifying the host" in console(run), 60 * t.scale(accel))
        ukctl(t, "stop", "--keep", run)
        sizes = {}
        for level in ("minimal", "heap", "full"):
            out = run / f"core.{level}"
            r = ukctl(t, "dump", "--level", level, "-o", out, run)
            sizes[level] = out.stat().st_size
            threads, text = gdb_threads(t, out)
            assert threads and threads[min(threads)], text[-2000:]
        assert sizes["minimal"] < sizes["heap"] < sizes["full"], sizes
        assert sizes["full"] >= 128 << 20, sizes
        # a bundle's level from UKSCOPE_CRASH_LEVEL (the collector's and ukctl run's too)
        r = subprocess.run([str(t.build / "bin" / "ukctl"), "crash", "--crash-dir",
                            str(t.tmpdir()), "capture", str(run)], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, UKSCOPE_CRASH_LEVEL="heap"))
        assert r.returncode == 0, r.stderr
        rep = json.loads(open(os.path.join(r.stdout.split()[-1], "report.json")).read())
        assert rep["level"] == "heap" and rep["core_bytes"] == sizes["heap"], rep["level"]
        # the drgn helper: threads, klog and trace rings from the minimal core
        r = subprocess.run(["/usr/bin/python3", str(t.root / "gdbstub/host/uk-crash-drgn.py"),
                            str(run / "core.minimal"), str(t.build / "kernel.elf"), "all"],
                           capture_output=True, text=True, timeout=120)
        t.log(r.stdout[-3000:] + r.stderr[-2000:])
        assert r.returncode == 0, r.stderr[-2000:]
        assert re.search(r"crashed thread \d+:\n  #0 inject", r.stdout), r.stdout[:1500]
        assert re.search(r"kv-fault\s+running\s+0  inject", r.stdout), r.stdout[:3000]
        assert "PANIC on CPU 0: unhandled exception #PF" in r.stdout
        assert re.search(r"ring 0: cpu 0 kind \d+ slots \d+ written [1-9]", r.stdout), r.stdout
    finally:
        ukctl(t, "stop", run, check=False)


def test_crash_dump_corrupt_ram(t, accel):
    """A corrupted RAM image (thread table overwritten with garbage, stack
    bounds and pointers outside RAM, a frame loop) still gives a core, with
    warnings, in bounded time."""
    run = start(t, accel, 2, "fault=divide")
    try:
        wait_for("the report", lambda: "notifying the host" in console(run), 60 * t.scale(accel))
        ukctl(t, "stop", "--keep", run)
    finally:
        ukctl(t, "stop", "--keep", run, check=False)
    nm = subprocess.run(["nm", str(t.build / "kernel.elf")], capture_output=True, text=True).stdout
    sym = {m.group(2): int(m.group(1), 16) for m in re.finditer(r"^([0-9a-f]+) \w (\w+)$", nm, re.M)}
    table = sym["uk_thread_table"]
    with open(run / "ram", "r+b") as f:
        # header intact, slots garbage: random states, absurd stacks, rip/rbp anywhere
        f.seek(table + 16 * 8 + 24)
        f.write(os.urandom(232 * 40))
        f.seek(sym["uk_panic_record"] + 28)
        f.write((0xffff).to_bytes(4, "little"))  # panicking CPU out of range
    t0 = time.time()
    r = ukctl(t, "dump", run, timeout=60)
    t.log(r.stderr)
    assert "warning" in r.stderr, r.stderr
    assert time.time() - t0 < 30
    notes = core_meta(run / "core")
    assert "UKSCOPE" in notes
    # and with the header itself destroyed
    with open(run / "ram", "r+b") as f:
        f.seek(table)
        f.write(os.urandom(64))
    r = ukctl(t, "dump", run, timeout=60)
    assert "thread table" in r.stderr and "0 threads" in r.stderr, r.stderr


def test_crash_gdb_fallback(t, accel):
    """`ukctl gdb` on a guest that cannot serve the stub (held paused by pvpanic
    without gdb=postmortem; then QEMU gone, RAM kept) debugs a minimal core
    instead, saying so, with the helper loaded."""
    run = start(t, accel, 2, "fault=panic")
    batch = t.tmpdir() / "cmds.gdb"
    batch.write_text("info threads\nbt\nuk threads\n")
    try:
        wait_for("the report", lambda: "notifying the host" in console(run), 60 * t.scale(accel))
        for phase in ("paused", "kept"):
            r = ukctl(t, "gdb", run, "--batch-file", batch, timeout=120)
            t.log(r.stdout[-3000:] + r.stderr[-1000:])
            assert "debugging a minimal core instead" in r.stderr, r.stderr
            assert re.search(r"#0 .* in inject ", r.stdout), r.stdout[-2000:]
            assert re.search(r"kv-fault\s+running", r.stdout), r.stdout[-2000:]
            # the helper names gdb's threads on a core: `info threads` shows them
            assert re.search(r'\* 1\s+LWP \d+ "kv-fault"', r.stdout), r.stdout[-2000:]
            assert re.search(r'LWP \d+ "main"', r.stdout), r.stdout[-2000:]
            if phase == "paused":
                ukctl(t, "stop", "--keep", run)
    finally:
        ukctl(t, "stop", run, check=False)


def run_to_panic(t, accel, fault, crash_dir, keep=None, smp=2):
    """A foreground `ukctl run` whose guest panics: it writes a bundle, then quits."""
    env = dict(os.environ, UKSCOPE_CRASH_DIR=str(crash_dir))
    if keep:
        env["UKSCOPE_CRASH_KEEP"] = str(keep)
    run = t.tmpdir() / "run"
    r = subprocess.run([str(t.build / "bin" / "ukctl"), "run", "--accel", accel, "--smp", str(smp),
                        "--no-net", "--run-dir", str(run), "--cmdline", f"fault={fault}",
                        str(t.build / "kernel.elf")], capture_output=True, text=True,
                       timeout=120 * t.scale(accel), stdin=subprocess.DEVNULL, env=env)
    t.log(r.stderr[-1500:])
    m = re.search(r"crash bundle written in (\d+) ms: (\S+)", r.stderr)
    assert m, r.stderr[-2000:]
    shutil.rmtree(run, ignore_errors=True)
    return m.group(2)


def test_crash_bundles(t, accel):
    """On a panic `ukctl run` writes a bundle (core, report.json/txt, console
    tail); two instances crashing the same way share a signature, a different
    fault gets another; `ukctl crash ls/show/gdb/rm` use them; retention keeps
    the newest bundle per signature without losing the counts."""
    cdir = t.tmpdir() / "crashes"
    b1 = run_to_panic(t, accel, "divide", cdir, keep=1)
    for f in ("core", "report.json", "report.txt", "console.tail", "metrics.txt",
              "trace.perfetto-trace", "trace-ctf/metadata"):
        assert os.path.exists(os.path.join(b1, f)), f
    assert "ukscope_" in open(os.path.join(b1, "metrics.txt")).read()
    rep = json.loads(open(os.path.join(b1, "report.json")).read())
    assert rep["reason"] == "exception" and "#DE" in rep["message"], rep["message"]
    assert rep["thread"]["frames"][0]["function"] == "inject", rep["thread"]
    assert re.match(r"kvdemo\.c:\d+$", rep["thread"]["frames"][0]["source"]), rep["thread"]
    assert len(rep["log"]) > 10 and any("PANIC" in r["text"] for r in rep["log"])
    assert {th["name"] for th in rep["threads"]} >= {"kv-fault", "main"}
    assert os.path.getsize(os.path.join(b1, "core")) <= CORE_MAX
    assert rep["snapshots"] == {"trace_perfetto": "ok", "trace_ctf": "ok", "metrics": "ok"}, rep
    b2 = run_to_panic(t, accel, "divide", cdir, keep=1)
    b3 = run_to_panic(t, accel, "pagefault", cdir, keep=1)
    s = [rep["signature"]] + [json.loads(open(os.path.join(b, "report.json")).read())["signature"]
                              for b in (b2, b3)]
    assert s[0] == s[1] != s[2], s
    ls = json.loads(ukctl(t, "crash", "--crash-dir", cdir, "ls", "--json").stdout)
    counts = {sig: g["count"] for sig, g in ls["groups"].items()}
    assert counts == {s[0]: 2, s[2]: 1}, counts
    assert ls["groups"][s[0]]["instance_count"] == 2
    # retention: newest one per signature kept (UKSCOPE_CRASH_KEEP=1), counts intact
    assert not os.path.exists(b1) and os.path.exists(b2) and os.path.exists(b3)
    assert len(ls["bundles"]) == 2
    txt = ukctl(t, "crash", "--crash-dir", cdir, "show", s[0]).stdout
    assert "inject+0x" in txt and "kv-fault" in txt and "#DE" in txt, txt[:2000]
    batch = t.tmpdir() / "bt.gdb"
    batch.write_text("bt\nuk threads\n")
    r = ukctl(t, "crash", "--crash-dir", cdir, "gdb", os.path.basename(b3), "--batch-file", batch,
              timeout=120)
    assert re.search(r"#0 .* in inject ", r.stdout) and "kv-fault" in r.stdout, r.stdout[-2000:]
    ukctl(t, "crash", "--crash-dir", cdir, "rm", os.path.basename(b3))
    ls = json.loads(ukctl(t, "crash", "--crash-dir", cdir, "ls", "--json").stdout)
    assert len(ls["bundles"]) == 1 and ls["groups"][s[2]]["count"] == 1


def test_crash_groups_concurrent(t, accel):
    """Six instances crash at once into one crash dir, five the same way and
    one differently: two groups with counts 5 and 1 (index updates are
    serialised, none lost)."""
    cdir = t.tmpdir() / "crashes"
    env = dict(os.environ, UKSCOPE_CRASH_DIR=str(cdir))
    procs = []
    for i, fault in enumerate(["divide"] * 5 + ["pagefault"]):
        run = t.tmpdir() / f"run{i}"
        procs.append(subprocess.Popen(
            [str(t.build / "bin" / "ukctl"), "run", "--accel", accel, "--no-net", "--name", f"i{i}",
             "--run-dir", str(run), "--cmdline", f"fault={fault}", str(t.build / "kernel.elf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env))
    errs = [p.communicate(timeout=180 * t.scale(accel))[1].decode() for p in procs]
    assert all("crash bundle written" in e for e in errs), errs
    ls = json.loads(ukctl(t, "crash", "--crash-dir", cdir, "ls", "--json").stdout)
    groups = sorted((g["count"], g["instance_count"], g["reason"]) for g in ls["groups"].values())
    assert groups == [(1, 1, "exception"), (5, 5, "exception")], ls["groups"]
    assert len(ls["bundles"]) == 6


def test_crash_dump_image_mismatch(t, accel):
    """An image rebuilt since the guest started (another build-id) is refused
    with a message naming both build-ids, instead of a core whose every
    address means something else."""
    image = t.tmpdir() / "kernel.elf"
    shutil.copy(t.build / "kernel.elf", image)
    run = t.tmpdir() / "run"
    ukctl(t, "run", "--detach", "--accel", accel, "--no-net", "--run-dir", run, "--cmdline",
          "fault=divide", image)
    try:
        wait_for("the report", lambda: "notifying the host" in console(run), 60 * t.scale(accel))
        ukctl(t, "dump", run)  # the same image: fine
        out = subprocess.run(["eu-readelf", "-n", str(image)], capture_output=True, text=True).stdout
        bid = re.search(r"Build ID: ([0-9a-f]+)", out).group(1)
        data = bytearray(image.read_bytes())
        at = data.find(bytes.fromhex(bid))
        data[at] ^= 0xff  # "rebuilt": another build-id
        image.write_bytes(data)
        r = ukctl(t, "dump", run, check=False)
        assert r.returncode == 1 and "Failed to match" in r.stderr and bid in r.stderr, r.stderr
    finally:
        ukctl(t, "stop", run, check=False)
