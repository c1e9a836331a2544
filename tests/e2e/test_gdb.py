"""End-to-end: real gdb (batch mode) against the in-guest stub over COM2.

The demo image (build/kernel.elf) runs its workload; gdb attaches through
the unix socket wired to COM2.  TCG runs the full scenario; under KVM (the
emulated kvm_pvm here) a light subset: attach, threads, backtraces, detach.
"""
import re
import signal
import subprocess
import time

from harness import Skip, boot

GDB = "gdb"


def _boot(t, accel, smp, cmdline="", image="kernel.elf", virtio=False):
    d = t.tmpdir()
    sock = d / "gdb.sock"
    extra = ["-chardev", f"socket,id=gdb,path={sock},server=on,wait=off",
             "-device", "isa-serial,chardev=gdb,iobase=0x2f8,irq=3"]
    if virtio:
        sock = d / "gdbv.sock"
        extra += ["-device", "virtio-serial-device,max_ports=2",
                  "-chardev", f"socket,id=gdbv,path={sock},server=on,wait=off",
                  "-device", "virtserialport,chardev=gdbv,name=org.ukscope.gdb"]
    vm = boot(t, t.build / image, cmdline=cmdline, smp=smp, mem=64, accel=accel,
              timeout=30 * t.scale(accel), extra_args=extra,
              until=r"gdb: also listening|PANIC" if virtio else r"gdb: stub ready|PANIC")
    return vm, sock, d


def _gdb(t, d, sock, script, timeout, image="kernel.elf", sigint_after=None):
    f = d / "script.gdb"
    f.write_text("set pagination off\nset confirm off\nset remotetimeout 30\n"
                 f"target remote {sock}\n" + script)
    t0 = time.monotonic()
    p = subprocess.Popen([GDB, "-q", "-nx", "-batch", "-x", str(f), str(t.build / image)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if sigint_after is not None:
        # What Ctrl-C does: gdb sends 0x03 to the running target.
        time.sleep(sigint_after)
        p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out += "\n(gdb timed out)"
    t.log(f"gdb ({time.monotonic() - t0:.1f}s):\n{out}")
    return out


def _threads_and_bt(t, accel, smp):
    vm, sock, d = _boot(t, accel, smp)
    # Every demo thread exists (a loaded host can be slow to start them all),
    # then let the workload run a while before attaching.
    assert vm._wait_output(r"demo: \d+ threads started", time.monotonic() + 30 * t.scale(accel)), \
        vm.describe()
    time.sleep(0.5 * t.scale(accel))
    out = _gdb(t, d, sock, "info threads\nthread apply all bt\n"
               "thread apply all info registers rax rip\nmonitor stats\ndetach\n",
               timeout=60 * t.scale(accel))
    names = ["idle0", "producer", "consumer", "ticker"] + [f"cruncher{i}" for i in range(smp)]
    for name in names:
        assert re.search(rf'Thread \d+ "{name}"', out), f"thread {name} missing\n{out}"
    if smp > 1:
        assert '"idle1"' in out, out
        # The other CPUs took the maskable stop IPI (parked holding no
        # irqsave lock); NMIs are only the fallback.
        m = re.search(r"CPUs stopped (\d+) by stop IPI, (\d+) by NMI", out)
        assert m and int(m[1]) >= 1 and int(m[1]) + int(m[2]) >= smp - 1, out
    # A sleeping thread's backtrace comes from its saved context.  Which
    # threads sleep at the instant of the stop depends on timing (with 4
    # vCPUs all may be runnable): check every thread that info threads calls
    # sleeping.
    sleeping = re.findall(r'Thread \d+ "(\w+)" \(sleeping', out)
    for name in sleeping:
        assert re.search(rf'\(Thread \d+ "{name}" \(sleeping[^\n]*\):\n(#.*\n)*#\d+ .* in '
                         rf'uk_sleep_ns ', out), f"{name}: no uk_sleep_ns frame\n{out}"
    if smp == 1:
        assert sleeping, "no sleeping thread at smp=1\n" + out
    # The consumer's own frame shows unless it was caught running inside a
    # spin loop whose frame gdb cannot unwind past.
    if not re.search(r'"consumer" \(running', out):
        assert re.search(r"\bconsumer \(arg=", out), out
    assert "arch_thread_start" in out, out
    # CPU 0's boot thread (idle0) ends at start64, the outermost frame, not
    # in frames made up from what lies above the boot stack.
    bt0 = re.search(r'\(Thread \d+ "idle0" [^\n]*\):\n((?:#.*\n)+)', out)
    assert bt0 and re.search(r"#\d+ .* in start64 \(\)[^\n]*\n$", bt0[1]), out
    # A switched-out thread has no saved rax: gdb says so instead of 0.
    regs = re.findall(r'\(Thread \d+ "([\w-]+)" \(([a-z]+)[^\n]*\):\nrax\s+(\S+)', out)
    assert regs, out
    for name, state, rax in regs:
        if state == "running":
            assert rax.startswith("0x"), (name, rax)
        else:
            assert rax == "<unavailable>", (name, state, rax)
    assert "detached" in out, out
    # Detach resumed the guest: the workload keeps logging, and gdb can re-attach.
    out2 = _gdb(t, d, sock, "print demo_iterations\ndetach\n", timeout=60 * t.scale(accel))
    assert re.search(r"\$1 = \d+", out2), out2
    assert vm.running, vm.describe()
    vm.kill()


def test_gdb_attach_threads_bt(t, accel):
    _threads_and_bt(t, accel, 1)


def test_gdb_attach_smp2(t, accel):
    """Stopping a second CPU (the stop IPI, NMI as fallback) under both
    accelerators."""
    _threads_and_bt(t, accel, 2)


def test_gdb_attach_smp4(t):
    _threads_and_bt(t, "tcg", 4)


def test_gdb_break_step_watch(t):
    # smp=2: the hit may be on either CPU; the other is stopped by NMI.
    # (smp=4 attach is covered above; 4 spinning vCPUs on this 2-core host
    # under a parallel test run starve the stub's vCPU.)
    vm, sock, d = _boot(t, "tcg", 2)
    out = _gdb(t, d, sock, """\
break demo_work_item
continue
bt 3
next
next
delete
hbreak demo_work_item
continue
delete
watch demo_iterations
continue
delete
print demo_iterations
set var demo_iterations = 1000000
print demo_iterations
print $rip
set var $rax = 0x1234
print/x $rax
monitor help
monitor threads
monitor build-id
monitor dmesg 5
monitor trace off sched
monitor trace
monitor trace on sched_switch
monitor trace
monitor trace sideways
detach
""", timeout=60)
    hits = re.findall(r'Thread \d+ "consumer" hit (Breakpoint 1|Breakpoint 2)', out)
    assert hits == ["Breakpoint 1", "Breakpoint 2"], f"breakpoint hits {hits}\n{out}"
    assert re.search(r"#1 .* in consumer \(", out), out
    assert re.search(r"^\d+\s+return v \* 2654435761u;", out, re.M), "next did not step\n" + out
    assert re.search(r"hit Hardware watchpoint 3: demo_iterations\s+Old value = (\d+)\s+"
                     r"New value = (\d+)", out), out
    assert "$2 = 1000000" in out, out
    assert "$4 = 0x1234" in out, out
    assert "commands: help, threads, dmesg" in out, out
    assert re.search(r"consumer\s+running", out), out
    assert re.search(r"[0-9a-f]{40}", out), out
    # monitor trace: "sched" matches its 5 tracepoints by category.
    assert "5 tracepoint(s) turned off" in out, out
    assert re.search(r"^thread_create\s+sched\s+off$", out, re.M), out
    assert "1 tracepoint(s) turned on" in out, out
    assert re.search(r"^sched_switch\s+sched\s+on$", out, re.M), out
    assert "usage: trace [on|off" in out, out
    assert "detached" in out, out
    # Re-attach: the written counter is what the workload continued from.
    out = _gdb(t, d, sock, "print demo_iterations\ndetach\n", timeout=60)
    m = re.search(r"\$1 = (\d+)", out)
    assert m and int(m.group(1)) >= 1000000, out
    vm.kill()


def test_gdb_ctrl_c(t):
    vm, sock, d = _boot(t, "tcg", 2)
    t0 = time.monotonic()
    # gdb's `interrupt` (what Ctrl-C does: send 0x03) from a timer while the
    # synchronous `continue` runs gdb's event loop.
    out = _gdb(t, d, sock, """\
python
import threading, time
def _later():
    time.sleep(1.0)
    gdb.post_event(lambda: gdb.execute("interrupt"))
threading.Thread(target=_later, daemon=True).start()
end
continue
print $pc
info threads
detach
""", timeout=60)
    assert re.search(r"Thread \d+ .* received signal SIGINT", out), out
    assert re.search(r"\$1 = .*0x[0-9a-f]+", out), out
    assert "detached" in out, out
    vm.kill()


def test_gdb_postmortem(t):
    # An induced page fault (guest test exc_pf) with the stub taking over.
    vm, sock, d = _boot(t, "tcg", 1, cmdline="test=exc_pf gdb=postmortem",
                        image="kernel-test.elf")
    if not vm._wait_output(r"post-mortem: waiting", time.monotonic() + 20):
        vm.kill()
        raise AssertionError("no post-mortem wait\n" + vm.describe())
    out = _gdb(t, d, sock, "bt 3\ninfo threads\ncontinue\ndetach\n", timeout=60,
               image="kernel-test.elf")
    assert "SIGSEGV" in out, out
    assert re.search(r"#0 .*fault_site_pf", out), out
    assert '"main"' in out, out
    vm.kill()


def test_gdb_postmortem_panic_call(t):
    """uk_panic() from code: the post-mortem stop frame is the call site (the
    panicking function is #0, not panic_finish)."""
    vm, sock, d = _boot(t, "tcg", 1, cmdline="test=panic_call gdb=postmortem",
                        image="kernel-test.elf")
    if not vm._wait_output(r"post-mortem: waiting", time.monotonic() + 20):
        vm.kill()
        raise AssertionError("no post-mortem wait\n" + vm.describe())
    out = _gdb(t, d, sock, "bt 3\ninfo registers rip rsp rax\ndetach\n", timeout=60,
               image="kernel-test.elf")
    vm.kill()
    assert re.search(r"^#0 .*panic_call\w* \(\) at tests/guest/test_exceptions\.c:\d+", out,
                     re.M), out
    assert "panic_finish" not in out and "uk_panic" not in out.split("#0", 1)[1], out
    # Only what a call leaves defined is known there.
    assert re.search(r"^rax\s+<unavailable>", out, re.M), out


def _heartbeat_after(vm, marker, timeout):
    """True once the demo's heartbeat is logged after `marker` on the console."""
    return vm._wait_output(re.escape(marker) + r"[^\n]*\n(?:.*\n)*.*demo: heartbeat",
                           time.monotonic() + timeout)


def _kill_gdb_while_stopped(t, d, sock):
    """Attach gdb, wait until it has stopped the guest, kill -9 it."""
    f = d / "hold.gdb"
    f.write_text(f"set pagination off\ntarget remote {sock}\ninfo threads\n"
                 "shell touch " + str(d / "attached") + "\nshell sleep 600\n")
    p = subprocess.Popen([GDB, "-q", "-nx", "-batch", "-x", str(f), str(t.build / "kernel.elf")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t._track(p)
    deadline = time.monotonic() + 60
    while not (d / "attached").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (d / "attached").exists(), "gdb did not attach"
    p.kill()  # SIGKILL: no detach, the socket just closes
    p.wait()


def test_gdb_killed_virtio_resumes(t):
    """kill -9 of a gdb on the virtio port while the guest is stopped: the
    port closes and the guest resumes; bytes a failed attach left on COM2
    meanwhile do not stop it again."""
    vm, sock, d = _boot(t, "tcg", 2, virtio=True)
    _kill_gdb_while_stopped(t, d, sock)
    # A client that gave up on COM2 half-way through a packet, while stopped.
    import socket
    u = socket.socket(socket.AF_UNIX)
    u.connect(str(d / "gdb.sock"))
    u.sendall(b"+$qSupported:multiprocess+;swbreak+#00$m1000,4")
    u.close()
    assert vm._wait_output(r"gdb: the debugger on virtio-console \S+ went away: resuming",
                           time.monotonic() + 30), vm.describe()
    # Progress after the resume; the stale COM2 bytes would have stopped the
    # guest for gdb.resume_after_s (30 s) and held the heartbeat back.
    assert _heartbeat_after(vm, "went away: resuming", 25), vm.describe()
    assert "no word from the debugger" not in vm.output, vm.describe()
    vm.kill()


def test_gdb_killed_uart_resumes(t):
    """kill -9 of a gdb on COM2 while the guest is stopped: after
    gdb.resume_after_s of silence the guest resumes, with a log line."""
    vm, sock, d = _boot(t, "tcg", 2, cmdline="gdb.resume_after_s=3")
    _kill_gdb_while_stopped(t, d, sock)
    assert vm._wait_output(r"gdb: no word from the debugger on COM2 for 3 s: resuming",
                           time.monotonic() + 30), vm.describe()
    assert _heartbeat_after(vm, "for 3 s: resuming", 25), vm.describe()
    # A new gdb attaches normally afterwards (ack mode is back on).
    out = _gdb(t, d, sock, "print demo_iterations\ndetach\n", timeout=60)
    assert re.search(r"\$1 = \d+", out) and "detached" in out, out
    vm.kill()


def test_gdb_postmortem_all_cpus(t):
    """Post-mortem at smp=2: the thread running on the CPU the panic path
    stopped shows its registers where the NMI caught it (not its stale
    switched-out context), so its backtrace unwinds through the NMI."""
    vm, sock, d = _boot(t, "tcg", 2, cmdline="fault=pagefault fault_delay_ms=300 gdb=postmortem")
    if not vm._wait_output(r"post-mortem: waiting", time.monotonic() + 20):
        vm.kill()
        raise AssertionError("no post-mortem wait\n" + vm.describe())
    out = _gdb(t, d, sock, "info threads\nthread apply all bt 4\ndetach\n", timeout=60)
    vm.kill()
    # The faulting thread unwinds past inject (whose prologue the compiler
    # scheduled: without the image's .eh_frame gdb lost its caller).
    assert re.search(r'Thread \d+ "kv-fault" \(running on CPU \d\)\):\n#0 .* in inject .*\n'
                     r'#1 .* in (cmdline_fault|arch_thread_start) ', out), out
    running = set(re.findall(r'Thread \d+ "([\w-]+)" \(running on CPU', out))
    assert len(running) == 2, f"want one running thread per CPU\n{out}"
    other = [name for name in running if name != "kv-fault"]
    assert len(other) == 1, out
    # Its backtrace: gdb's view of where the NMI stopped it -- not the frame
    # of a context switch, where its saved context (stale while it runs) is.
    bt = re.search(rf'\(Thread \d+ "{other[0]}" \(running[^\n]*\):\n((?:#.*\n)+)', out)
    assert bt, out
    assert "arch_switch" not in bt[1], bt[1]


def test_ukctl_gdb_helper(t):
    """ukctl gdb: image + socket from instance.json; uk-gdb.py reads the
    thread table and the log ring from memory."""
    import json
    vm, sock, d = _boot(t, "tcg", 2)
    (d / "instance.json").write_text(json.dumps(
        {"image": str(t.build / "kernel.elf"), "gdb_socket": str(sock), "pid": vm.proc.pid}))
    script = d / "batch.gdb"
    # Then guest text that would drive a terminal (ESC, CR) in a thread name
    # and a log line, and a corrupt entry_size: escaped text, a clear error.
    script.write_text("""\
uk threads
uk dmesg 5
set var uk_thread_table.threads[2].name[0] = 27
set var uk_thread_table.threads[2].name[1] = '['
set var uk_klog.rec[(uk_klog.head - 1) % 1024].text[0] = 27
set var uk_klog.rec[(uk_klog.head - 1) % 1024].text[1] = 13
uk threads
uk dmesg 1
set var uk_thread_table.entry_size = 8
python
try:
    gdb.execute("uk threads")
except gdb.error as e:
    print("uk threads failed:", e)
end
set var uk_thread_table.entry_size = sizeof(struct uk_thread)
detach
""")
    ukctl = str(t.build / "bin" / "ukctl")
    p = subprocess.run([ukctl, "gdb", str(d), "--batch-file", str(script)],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    t.log(out)
    assert p.returncode == 0, out
    assert re.search(r"\d+ consumer\s+(running|runnable|blocked|sleeping)", out), out
    assert re.search(r"\d+ cruncher1 ", out), out
    assert "demo: 5 threads started" in out or "ukscope: ready" in out, out
    assert "\x1b" not in out and "\r" not in out, repr(out)
    assert re.search(r"^\s+\d+ \\x1b\[", out, re.M), out          # the thread name
    assert re.search(r"\] \d+:\d+ \\x1b\\x0d", out), out          # the log line
    assert re.search(r"uk threads failed: uk_thread_table: bad entry_size 8 \(want \d+", out), out
    assert "Python Exception" not in out and "Traceback" not in out, out
    assert "detached" in out, out
    vm.kill()
    # Usage and missing-file errors.
    p = subprocess.run([ukctl, "gdb"], capture_output=True, text=True)
    assert p.returncode == 2 and "Usage" in p.stderr, p.stderr
    p = subprocess.run([ukctl, "gdb", str(d), "--transport", "carrier-pigeon"],
                       capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    empty = t.tmpdir()
    p = subprocess.run([ukctl, "gdb", str(empty)], capture_output=True, text=True)
    assert p.returncode == 1 and "ukctl: Failed to read" in p.stderr, p.stderr
    # The path once, with why (jansson's own message repeated it).
    assert p.stderr.count(str(empty / "instance.json")) == 1, p.stderr
    assert "No such file or directory" in p.stderr, p.stderr
    (empty / "instance.json").write_text('{"image": "x"}')
    p = subprocess.run([ukctl, "gdb", str(empty)], capture_output=True, text=True)
    assert p.returncode == 1 and "gdb_socket" in p.stderr, p.stderr
    p = subprocess.run([ukctl, "gdb", "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for opt in ("--batch-file", "--transport", "--help"):
        assert opt in p.stdout, p.stdout
    # A dead instance: said so, non-zero, no gdb prompt.
    dead = subprocess.Popen(["true"])
    dead.wait()
    (empty / "instance.json").write_text(json.dumps(
        {"name": "gone", "image": str(t.build / "kernel.elf"), "gdb_socket": str(sock),
         "pid": dead.pid}))
    p = subprocess.run([ukctl, "gdb", str(empty)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 1 and "instance gone" in p.stderr and "is not running" in p.stderr, \
        (p.returncode, p.stdout, p.stderr)


def test_ukctl_gdb_paused_by_pvpanic(t):
    """--on-panic pause without gdb=postmortem: the vCPUs are stopped, the
    stub cannot answer; ukctl gdb says so at once and debugs a minimal core
    instead of timing out (docs/postmortem.md)."""
    ukctl = str(t.build / "bin" / "ukctl")
    run_dir = t.tmpdir() / "run"
    r = subprocess.run([ukctl, "run", "--detach", "--accel", "tcg", "--no-net", "--on-panic",
                        "pause", "--run-dir", str(run_dir), "--cmdline", "test=panic_call",
                        str(t.build / "kernel-test.elf")],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 30
        state = ""
        while time.monotonic() < deadline and state != "panicked":
            time.sleep(0.3)
            ls = subprocess.run([ukctl, "list", str(run_dir.parent)], capture_output=True,
                                text=True, timeout=30).stdout
            state = "panicked" if re.search(r"\bpanicked\b", ls) else ""
        assert state == "panicked", ls
        t0 = time.monotonic()
        p = subprocess.run([ukctl, "gdb", str(run_dir)], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        took = time.monotonic() - t0
        t.log(f"ukctl gdb ({took:.1f}s): rc {p.returncode}\n{p.stdout}{p.stderr}")
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        assert "debugging a minimal core instead" in p.stderr, p.stderr
    finally:
        subprocess.run([ukctl, "stop", str(run_dir)], capture_output=True, timeout=60)


def test_gdb_virtio(t):
    """The same protocol over the virtio-console port, then COM2 again."""
    vm, sock, d = _boot(t, "tcg", 2, virtio=True)
    out = _gdb(t, d, sock, """\
info threads
break demo_work_item
continue
bt 2
delete
x/4xb &demo_iterations
detach
""", timeout=60)
    assert re.search(r'Thread \d+ "cruncher1"', out), out
    assert re.search(r'"consumer" hit Breakpoint 1, demo_work_item', out), out
    assert re.search(r"#1 .* in consumer \(", out), out
    assert "detached" in out, out
    out = _gdb(t, d, d / "gdb.sock", "info threads\ndetach\n", timeout=60)
    assert '"consumer"' in out and "detached" in out, out
    vm.kill()


def test_gdb_kvm_breakpoints(t):
    """Under kvm (kvm_pvm here: int3 is fatal) the default ud2 breakpoints and
    DR0-3 instruction breakpoints must work.  Data watchpoints do not fire
    under kvm_pvm's emulator (docs/gdb.md) and are covered under TCG."""
    if "kvm" not in t.accels:
        raise Skip("no kvm on this host")
    vm, sock, d = _boot(t, "kvm", 1)
    out = _gdb(t, d, sock, """\
break demo_work_item
continue
delete
hbreak demo_work_item
continue
delete
detach
""", timeout=60 * t.scale("kvm"))
    hits = re.findall(r'Thread \d+ "consumer" hit (Breakpoint 1|Breakpoint 2)', out)
    assert hits == ["Breakpoint 1", "Breakpoint 2"], f"breakpoint hits {hits}\n{out}"
    assert "detached" in out, out
    assert vm.running, vm.describe()
    vm.kill()


def test_gdb_uart_floor_smoke(t):
    """The bench's port-I/O floor probe runs and reports a figure."""
    from harness import guest_test
    d = t.tmpdir()
    vm = guest_test(t, "gdb_uart_floor", "tcg", cmdline="floor_bytes=1024", extra_args=[
        "-chardev", f"socket,id=f,path={d}/f.sock,server=on,wait=off",
        "-device", "isa-serial,chardev=f,iobase=0x2f8,irq=3"])
    m = re.search(r"gdb_uart_floor: 1024 bytes in \d+ ns, (\d+) ns/byte", vm.output)
    assert m and int(m.group(1)) > 0, vm.describe()
