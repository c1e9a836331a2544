"""End-to-end tests of `ukctl run/stop/list` with tiny PVH guests (mkguest.py).

Each test_NAME(t[, accel]) gets the runner's context: t.build (build dir),
t.tmpdir() (fresh temp dir) and, for tests taking `accel`, one of t.accels.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mkguest  # noqa: E402

TIMEOUT = 60
INSTANCE_KEYS = {
    "name", "pid", "ukctl_pid", "accel", "smp", "mem_mib", "image", "cmdline", "run_dir",
    "console_log", "gdb_socket", "qmp_socket", "ram_file", "ports", "started_at", "qemu_argv",
    "gdb_virtio_socket", "telemetry_socket", "qemu_start_time", "qemu_exe", "token_file",
}


def ukctl(t, *args, env=None, timeout=TIMEOUT):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(
        [str(t.build / "bin" / "ukctl"), *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=e, timeout=timeout,
    )


def guest(t, **kw):
    d = t.tmpdir()
    return Path(mkguest.make_guest(d / "guest.elf", **kw))


def one_line_error(r, what):
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"{what}: want one stderr line, got {r.stderr!r}"
    assert lines[0].startswith("ukctl: "), f"{what}: bad error line {lines[0]!r}"
    return lines[0]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_help(t):
    r = ukctl(t, "--help")
    assert r.returncode == 0 and "run" in r.stdout, f"ukctl --help: {r}"
    r = ukctl(t, "run", "--help")
    assert r.returncode == 0, f"ukctl run --help: {r}"
    assert "125" in r.stdout and "--fwd" in r.stdout, f"run --help text: {r.stdout!r}"
    # getopt_long everywhere: -h and --help, every option listed.
    for cmd, opts in (("run", ("--token-file", "--run-dir", "--on-panic", "--help")),
                      ("stop", ("--keep", "--help")), ("list", ("--help",))):
        for h in ("-h", "--help"):
            r = ukctl(t, cmd, h)
            assert r.returncode == 0 and all(o in r.stdout for o in opts), (cmd, h, r)
    r = ukctl(t, "stop", "x", "--kee")  # an unambiguous prefix, after the operand
    assert r.returncode == 1 and "x/instance.json" in r.stderr, r


def test_bad_options(t):
    img = guest(t)
    cases = [
        (["--bogus"], "unknown option '--bogus'"),
        (["--smp", "0"], "invalid --smp: '0'"),
        (["--smp", "17"], "invalid --smp: '17'"),
        (["--smp", "x"], "invalid --smp: 'x'"),
        (["--mem", "8"], "invalid --mem: '8'"),
        (["--accel", "xen"], "invalid --accel: 'xen'"),
        (["--fwd", "80"], "invalid --fwd: '80'"),
        (["--fwd", "70000:80"], "invalid --fwd: '70000:80'"),
    ]
    for args, msg in cases:
        r = ukctl(t, "run", *args, img)
        assert r.returncode == 2, f"{args}: exit {r.returncode}, want 2 ({r.stderr!r})"
        line = one_line_error(r, args)
        assert msg in line, f"{args}: {line!r} lacks {msg!r}"
    r = ukctl(t, "run")
    assert r.returncode == 2 and "missing IMAGE" in one_line_error(r, "no image"), r
    r = ukctl(t, "frobnicate")
    assert r.returncode == 2 and "unknown command" in one_line_error(r, "bad command"), r


def test_missing_image(t):
    d = t.tmpdir()
    r = ukctl(t, "run", "--run-dir", d / "run", d / "nope.elf")
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    assert "nope.elf" in one_line_error(r, "missing image")
    notelf = d / "notelf"
    notelf.write_text("hello\n")
    r = ukctl(t, "run", "--run-dir", d / "run", notelf)
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    assert "not an ELF file" in one_line_error(r, "non-ELF image")
    assert not (d / "run").exists(), "run dir created for a bad image"


def test_missing_qemu(t):
    img = guest(t)
    r = ukctl(t, "run", img, env={"UKCTL_QEMU": "/nonexistent"})
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    assert "/nonexistent" in one_line_error(r, "missing QEMU")


def test_qemu_error(t):
    """QEMU failing before the guest runs is 125 with QEMU's message, not a guest status."""
    d = t.tmpdir()
    fake = d / "fake-qemu"
    fake.write_text("#!/bin/sh\necho 'fake-qemu: -device pvpanic: no such device' >&2\nexit 1\n")
    fake.chmod(0o755)
    r = ukctl(t, "run", "--run-dir", d / "run", guest(t), env={"UKCTL_QEMU": str(fake)})
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    line = one_line_error(r, "QEMU error")
    assert "no such device" in line, line
    assert not (d / "run").exists(), "run dir left behind"


def test_exit_status(t, accel):
    for status in (0, 1, 3):
        d = t.tmpdir()
        img = guest(t, status=status, say=f"bye {status}\n")
        r = ukctl(t, "run", "--accel", accel, "--run-dir", d / "run", img)
        assert r.returncode == status, f"status {status}: exit {r.returncode} ({r.stderr!r})"
        assert f"bye {status}" in r.stdout, f"console not on stdout: {r.stdout!r}"
        assert not (d / "run").exists(), f"status {status}: run dir not cleaned up"


def test_exit_panic_status(t, accel):
    """A guest leaving with UK_EXIT_PANIC (panic=exit) gives 2 and keeps the run dir."""
    d = t.tmpdir()
    r = ukctl(t, "run", "--accel", accel, "--run-dir", d / "run", guest(t, status=2))
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr!r}"
    assert f"guest panicked; run dir kept at {d / 'run'}" in r.stderr, r.stderr
    assert (d / "run" / "ram").exists() and (d / "run" / "instance.json").exists()


def test_pvpanic(t, accel):
    d = t.tmpdir()
    img = guest(t, say="oops\n", panic=True, status=0)
    r = ukctl(t, "run", "--accel", accel, "--run-dir", d / "run", img)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr!r}"
    assert f"guest panicked (run dir kept: {d / 'run'})" in r.stderr, r.stderr
    assert (d / "run" / "console.log").read_text() == "oops\n"
    assert (d / "run" / "ram").stat().st_size == 128 << 20


def test_keep(t, accel):
    d = t.tmpdir()
    r = ukctl(t, "run", "--keep", "--accel", accel, "--run-dir", d / "run",
              guest(t, say="kept\n", status=1))
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr!r}"
    assert (d / "run" / "console.log").read_text() == "kept\n"
    inst = json.loads((d / "run" / "instance.json").read_text())
    assert inst["accel"] == accel, inst


def test_instance_json(t, accel):
    d = t.tmpdir()
    img = guest(t, say="up\n", hang=True)
    run = d / "run"
    r = ukctl(t, "run", "--detach", "--name", "e2e", "--accel", accel, "--smp", "2",
              "--mem", "64", "--cmdline", "a=1 b", "--fwd", "0:9999", "--run-dir", run, img)
    assert r.returncode == 0, f"detach: exit {r.returncode}: {r.stderr!r}"
    assert r.stdout.strip() == str(run), f"printed {r.stdout!r}"
    try:
        assert (run.stat().st_mode & 0o777) == 0o700, oct(run.stat().st_mode)
        inst = json.loads((run / "instance.json").read_text())
        assert set(inst) == INSTANCE_KEYS, f"keys: {sorted(inst)}"
        assert inst["name"] == "e2e" and inst["accel"] == accel, inst
        assert inst["smp"] == 2 and inst["mem_mib"] == 64 and inst["cmdline"] == "a=1 b"
        assert inst["image"] == str(img) and inst["run_dir"] == str(run)
        assert pid_alive(inst["pid"]), "QEMU not running"
        assert not pid_alive(inst["ukctl_pid"]), "ukctl still running after --detach"
        for key, name in (("console_log", "console.log"), ("gdb_socket", "gdb.sock"),
                          ("qmp_socket", "qmp-tools.sock"), ("ram_file", "ram"),
                          ("token_file", "token"),
                          ("gdb_virtio_socket", "gdb-virtio.sock"),
                          ("telemetry_socket", "telemetry.sock")):
            assert inst[key] == str(run / name), (key, inst[key])
        assert (run / "ram").stat().st_size == 64 << 20, "ram file size"
        for s in ("gdb.sock", "qmp.sock", "qmp-tools.sock", "qmp-collector.sock", "gdb-virtio.sock", "telemetry.sock"):
            assert (run / s).is_socket(), f"{s} missing"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", inst["started_at"]), inst
        (p,) = inst["ports"]
        assert p["guest"] == 9999 and p["proto"] == "tcp" and 0 < p["host"] < 65536, p
        argv = inst["qemu_argv"]
        assert argv[argv.index("-kernel") + 1] == str(img) and "-S" in argv, argv
        assert f"hostfwd=tcp:127.0.0.1:{p['host']}-:9999" in " ".join(argv)
        with socket.create_connection(("127.0.0.1", p["host"]), timeout=5):
            pass  # slirp listens on the forwarded port
        deadline = time.time() + 20
        while (run / "console.log").read_text() != "up\n" and time.time() < deadline:
            time.sleep(0.05)
        assert (run / "console.log").read_text() == "up\n", "detached console.log"
        r = ukctl(t, "list", d)
        assert re.search(rf"^e2e\s+{inst['pid']}\s+running\s+{accel}\s+{run}$", r.stdout, re.M), \
            f"list: {r.stdout!r}"
    finally:
        r = ukctl(t, "stop", run)
    assert r.returncode == 0, f"stop: exit {r.returncode}: {r.stderr!r}"
    assert not pid_alive(inst["pid"]), "QEMU still alive after stop"
    assert not run.exists(), f"run dir left: {list(run.iterdir())}"


def test_live_instance_refused(t, accel):
    d = t.tmpdir()
    run = d / "run"
    img = guest(t, hang=True)
    r = ukctl(t, "run", "--detach", "--accel", accel, "--run-dir", run, img)
    assert r.returncode == 0, f"detach: {r.stderr!r}"
    (run / "trace.json").write_text("{}")  # a user's output in the run dir
    try:
        r = ukctl(t, "run", "--accel", accel, "--run-dir", run, img)
        assert r.returncode == 125, f"second run: exit {r.returncode}: {r.stderr!r}"
        assert "holds a live instance" in one_line_error(r, "live instance")
        assert (run / "instance.json").exists(), "the live instance's files were touched"
    finally:
        r = ukctl(t, "stop", "--keep", run)
    assert r.returncode == 0 and (run / "instance.json").exists(), f"stop --keep: {r.stderr!r}"
    # Dead instance: the run dir is reusable; the user's file survives it.
    r = ukctl(t, "run", "--accel", accel, "--run-dir", run, guest(t, status=0))
    assert r.returncode == 0, f"reuse of a dead run dir: {r.stderr!r}"
    assert sorted(p.name for p in run.iterdir()) == ["trace.json"], list(run.iterdir())
    assert "kept" in r.stderr and "did not create" in r.stderr, r.stderr
    (run / "trace.json").unlink()
    r = ukctl(t, "run", "--accel", accel, "--run-dir", run, guest(t, status=0))
    assert r.returncode == 0 and not run.exists(), r.stderr


def test_sigterm_quits(t, accel):
    """SIGTERM to a foreground ukctl quits QEMU over QMP; the run dir goes away."""
    d = t.tmpdir()
    run = d / "run"
    p = subprocess.Popen(
        [str(t.build / "bin" / "ukctl"), "run", "--accel", accel, "--run-dir", str(run),
         str(guest(t, say="wait\n", hang=True))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while not (run / "console.log").exists() or \
                (run / "console.log").read_text() != "wait\n":
            assert time.time() < deadline, "guest did not start"
            assert p.poll() is None, f"ukctl exited early: {p.communicate()}"
            time.sleep(0.05)
        qemu_pid = json.loads((run / "instance.json").read_text())["pid"]
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, f"exit {p.returncode}: {err!r}"
    assert not pid_alive(qemu_pid), "QEMU survived"
    assert not run.exists(), "run dir left"


def test_make_install(t):
    """`make install PREFIX=DIR` puts ukctl in DIR/bin and the gdb and drgn
    helpers in DIR/share/ukscope, where an installed ukctl looks for them."""
    prefix = t.tmpdir() / "prefix"
    r = subprocess.run(["make", "-s", f"O={t.build}", f"PREFIX={prefix}", "install"],
                       cwd=t.root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ukctl = prefix / "bin" / "ukctl"
    assert os.access(ukctl, os.X_OK), r.stdout
    for helper in ("uk-gdb.py", "uk-crash-drgn.py"):
        f = prefix / "share" / "ukscope" / helper
        assert f.is_file() and (f.stat().st_mode & 0o777) == 0o644, f
    r = subprocess.run([str(ukctl), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "Commands:" in r.stdout, r.stderr
