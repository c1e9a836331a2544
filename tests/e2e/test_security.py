"""Security of `ukctl run/stop/list` and of the control token (docs/security.md).

The token never shows in QEMU's argv, the boot log, GET /dmesg or console.log;
run dirs must be private; `ukctl stop` signals only the QEMU it started; a
path with ',' cannot inject QEMU options.
"""
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import mkguest  # noqa: E402
from harness import boot  # noqa: E402
from test_ukctl import guest, one_line_error, pid_alive, ukctl  # noqa: E402

SECRET = "Sekr1t-9f3c2b7e"  # distinctive: any occurrence is a leak


def qemu_argv_of(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def http(port, method, path, token=None, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=b"" if method == "POST" else None)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(t, accel, port, run):
    deadline = time.time() + 30 * t.scale(accel)
    while time.time() < deadline:
        try:
            if http(port, "GET", "/healthz", timeout=5 * t.scale(accel))[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("agent never answered:\n" + (run / "console.log").read_text()[-2000:])


def detach(t, accel, run, *extra, img=None):
    r = ukctl(t, "run", "--detach", "--accel", accel, "--run-dir", run, *extra,
              img or t.build / "kernel.elf")
    assert r.returncode == 0, f"ukctl run: exit {r.returncode}: {r.stderr!r}"
    return json.loads((run / "instance.json").read_text()), r


def no_secret_anywhere(t, accel, run, inst, token):
    """The checks every way of passing the token must satisfy."""
    argv = qemu_argv_of(inst["pid"])
    assert not any(token in a for a in argv), f"token in QEMU argv: {argv}"
    assert "-fw_cfg" in argv, argv
    assert token not in json.dumps(inst), "token in instance.json"
    tf = Path(inst["token_file"])
    assert tf == run / "token" and mode(tf) == 0o600, (tf, oct(mode(tf)))
    assert tf.read_text().strip() == token
    port = {p["guest"]: p["host"] for p in inst["ports"]}[8080]
    wait_http(t, accel, port, run)
    st, dmesg = http(port, "GET", "/dmesg")
    assert st == 200 and b"command line:" in dmesg, dmesg[-500:]
    assert token.encode() not in dmesg, "token in /dmesg"
    st, info = http(port, "GET", "/info")
    assert st == 200 and token.encode() not in info, info
    console = (run / "console.log").read_text()
    assert "control token from fw_cfg" in console, console[-1500:]
    assert token not in console, "token in console.log"
    assert mode(run / "console.log") == 0o600
    # The control endpoint takes the token from the file, and only that.
    assert http(port, "POST", "/control/trace?on=irq", token)[0] == 200
    assert http(port, "POST", "/control/trace?on=irq", token + "x")[0] == 403
    assert http(port, "POST", "/control/trace?on=irq", token[:-1])[0] == 403
    assert http(port, "POST", "/control/trace?on=irq")[0] == 401


def test_token_file_not_leaked(t, accel):
    d = t.tmpdir()
    run = d / "run"
    tf = d / "my-token"
    tf.write_text(SECRET + "\n")
    tf.chmod(0o600)
    inst, _ = detach(t, accel, run, "--token-file", tf, "--cmdline", "secret=hidden x=1")
    try:
        assert inst["cmdline"] == "secret=hidden x=1"
        no_secret_anywhere(t, accel, run, inst, SECRET)
        # Other secret keys on the command line are masked in what is shown.
        console = (run / "console.log").read_text()
        assert "secret=*** x=1" in console and "hidden" not in console, console[-1500:]
    finally:
        ukctl(t, "stop", run)


def test_token_moved_from_cmdline(t, accel):
    """A token= given in --cmdline still works, but is moved off QEMU's argv."""
    run = t.tmpdir() / "run"
    inst, r = detach(t, accel, run, "--cmdline", f"token={SECRET} a=1")
    try:
        assert "moved from --cmdline" in r.stderr, r.stderr
        assert inst["cmdline"] == "a=1", inst["cmdline"]
        no_secret_anywhere(t, accel, run, inst, SECRET)
    finally:
        ukctl(t, "stop", run)


def test_token_generated(t, accel):
    run = t.tmpdir() / "run"
    inst, _ = detach(t, accel, run)
    try:
        token = (run / "token").read_text().strip()
        assert re.fullmatch(r"[0-9a-f]{48}", token), token
        no_secret_anywhere(t, accel, run, inst, token)
    finally:
        ukctl(t, "stop", run)


def test_kernel_masks_and_checks(t, accel):
    """The kernel on its own (bare QEMU, no ukctl): secret command-line values
    are masked in the boot log; a fw_cfg token that is not one printable word
    is ignored with a warning, never logged."""
    d = t.tmpdir()
    bad = d / "tok"
    bad.write_text("two words " + SECRET + "\n")
    vm = boot(t, t.build / "kernel.elf", f"bench_exit=1 token={SECRET} a.password=Zq9pw x=1",
              accel=accel, timeout=60 * t.scale(accel),
              extra_args=["-fw_cfg", f"name=opt/ukscope/token,file={bad}"])
    out = vm.output
    assert "command line: bench_exit=1 token=*** a.password=*** x=1" in out, out[-2000:]
    assert "opt/ukscope/token: ignored" in out, out[-2000:]
    assert SECRET not in out and "Zq9pw" not in out, out[-2000:]


def test_bad_token_file(t):
    d = t.tmpdir()
    img = guest(t)
    for content in ("two words\n", "", "x" * 129):
        f = d / "tok"
        f.write_text(content)
        r = ukctl(t, "run", "--run-dir", d / "run", "--token-file", f, img)
        assert r.returncode == 125, f"{content!r}: exit {r.returncode}: {r.stderr!r}"
        assert "token file" in one_line_error(r, content), r.stderr
    r = ukctl(t, "run", "--run-dir", d / "run", "--token-file", d / "nope", img)
    assert r.returncode == 125 and "nope" in one_line_error(r, "missing token file")
    f.write_text("abc\n")
    r = ukctl(t, "run", "--run-dir", d / "run", "--token-file", f, "--cmdline", "token=x", img)
    assert r.returncode == 125 and "conflicts" in one_line_error(r, "two tokens"), r.stderr


def test_run_dir_modes(t, accel):
    """Every file and socket in a run dir is 0600, the dir 0700, whatever the umask."""
    run = t.tmpdir() / "run"
    old = os.umask(0)
    try:
        inst, _ = detach(t, accel, run, img=guest(t, hang=True))
    finally:
        os.umask(old)
    try:
        assert mode(run) == 0o700, oct(mode(run))
        names = sorted(p.name for p in run.iterdir())
        assert names == sorted(["console.log", "gdb-virtio.sock", "gdb.sock", "instance.json",
                                "qemu.log", "qmp-collector.sock", "qmp-tools.sock", "qmp.sock", "ram",
                                "telemetry.sock", "token"]), names
        for n in names:
            assert mode(run / n) == 0o600, f"{n}: mode {oct(mode(run / n))}"
    finally:
        r = ukctl(t, "stop", run)
    assert r.returncode == 0 and not run.exists(), r.stderr


def test_run_dir_refused(t):
    """A run dir others can write to, or another user's, is refused untouched."""
    d = t.tmpdir()
    img = guest(t)
    open_dir = d / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (open_dir / "ram").write_text("planted")
    r = ukctl(t, "run", "--run-dir", open_dir, img)
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    assert "writable by group or others" in one_line_error(r, "0777 dir"), r.stderr
    assert (open_dir / "ram").read_text() == "planted" and mode(open_dir) == 0o777

    nobody = pwd.getpwnam("nobody").pw_uid
    theirs = d / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, nobody, -1)
    r = ukctl(t, "run", "--run-dir", theirs, img)
    assert r.returncode == 125, f"exit {r.returncode}: {r.stderr!r}"
    assert f"owned by uid {nobody}" in one_line_error(r, "foreign dir"), r.stderr
    assert theirs.exists() and not list(theirs.iterdir())

    link = d / "link"
    link.symlink_to(d / "elsewhere")
    (d / "elsewhere").mkdir(mode=0o700)
    r = ukctl(t, "run", "--run-dir", link, img)
    assert r.returncode == 125 and "is a symlink" in one_line_error(r, "symlink dir"), r.stderr

    f = d / "afile"
    f.write_text("x")
    r = ukctl(t, "run", "--run-dir", f, img)
    assert r.returncode == 125, r.stderr
    line = one_line_error(r, "file as run dir")
    assert f"run dir {f}: not a directory" in line, line


def test_planted_symlinks(t, accel):
    """Symlinks planted at run-dir file names are never followed."""
    d = t.tmpdir()
    run = d / "run"
    run.mkdir(mode=0o700)
    victim = d / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    for n in ("ram", "console.log", "qemu.log", "token", "instance.json.tmp"):
        (run / n).symlink_to(victim)
    r = ukctl(t, "run", "--accel", accel, "--run-dir", run, "--keep",
              guest(t, say="hello\n", status=0))
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr!r}"
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644, "victim touched"
    for n in ("ram", "console.log", "qemu.log", "token"):
        assert not (run / n).is_symlink() and mode(run / n) == 0o600, n
    assert (run / "console.log").read_text() == "hello\n"


def test_default_parent(t, accel):
    """The default parent is made 0700; a symlink or foreign dir there is refused;
    `ukctl list` without arguments lists what ukctl run started there."""
    d = t.tmpdir()
    env = {"XDG_RUNTIME_DIR": str(d)}
    img = guest(t, hang=True)
    r = ukctl(t, "run", "--detach", "--accel", accel, "--name", "sec", img, env=env)
    assert r.returncode == 0, r.stderr
    run = d / "ukscope" / "sec"
    try:
        assert r.stdout.strip() == str(run)
        assert mode(d / "ukscope") == 0o700
        r = ukctl(t, "list", env=env)
        lines = r.stdout.splitlines()
        assert r.returncode == 0 and lines[0].split() == ["NAME", "PID", "STATE", "ACCEL",
                                                          "RUN_DIR"], r.stdout
        assert re.search(rf"^sec\s+\d+\s+running\s+{accel}\s+{run}$", r.stdout, re.M), r.stdout
    finally:
        ukctl(t, "stop", run)
    r = ukctl(t, "list", env={"XDG_RUNTIME_DIR": str(d / "none")})
    assert r.returncode == 0 and r.stdout.split() == ["NAME", "PID", "STATE", "ACCEL",
                                                      "RUN_DIR"], r.stdout
    (d / "ukscope").rmdir()
    (d / "ukscope").symlink_to(t.tmpdir())
    r = ukctl(t, "run", "--name", "x", img, env=env)
    assert r.returncode == 125 and "is a symlink" in one_line_error(r, "symlink parent"), r.stderr
    (d / "ukscope").unlink()
    (d / "ukscope").mkdir(mode=0o700)
    os.chown(d / "ukscope", pwd.getpwnam("nobody").pw_uid, -1)
    r = ukctl(t, "run", "--name", "x", img, env=env)
    assert r.returncode == 125 and "owned by uid" in one_line_error(r, "foreign parent")


def test_default_parent_tmp(t):
    """Without XDG_RUNTIME_DIR the parent is /tmp/ukscope-$UID: a private dir."""
    name = f"sec-{os.getpid()}-{time.time_ns()}"
    parent = Path(f"/tmp/ukscope-{os.getuid()}")
    r = ukctl(t, "run", "--name", name, guest(t, status=0), env={"XDG_RUNTIME_DIR": ""})
    assert r.returncode == 0, r.stderr
    st = os.lstat(parent)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid(), st
    assert not st.st_mode & 0o022, oct(st.st_mode)
    assert not (parent / name).exists(), "run dir left"


def test_stop_stale_pid(t, accel):
    """A stale instance.json naming an unrelated process: stop refuses, says why."""
    d = t.tmpdir()
    run = d / "run"
    inst, _ = detach(t, accel, run, img=guest(t, hang=True))
    r = ukctl(t, "stop", "--keep", run)
    assert r.returncode == 0 and not pid_alive(inst["pid"]), r.stderr
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        for case, edit in (("pid reused", {"pid": sleeper.pid}),
                           ("old file", {"pid": sleeper.pid, "qemu_start_time": None,
                                         "qemu_exe": None})):
            stale = {k: v for k, v in {**inst, **edit}.items() if v is not None}
            (run / "instance.json").write_text(json.dumps(stale))
            r = ukctl(t, "stop", run)
            assert r.returncode == 1, f"{case}: exit {r.returncode}: {r.stderr!r}"
            line = one_line_error(r, case)
            assert f"not stopping pid {sleeper.pid}" in line, line
            assert ("not the QEMU this instance started" in line if case == "pid reused"
                    else "records no start time" in line), line
            time.sleep(0.2)
            assert sleeper.poll() is None, f"{case}: the unrelated process was killed"
            assert (run / "instance.json").exists()
            r = ukctl(t, "list", d)
            assert re.search(r"\s+dead\s+", r.stdout), r.stdout
        # The same file in a run dir others can write to: refused before anything.
        (run / "instance.json").write_text(json.dumps(inst))
        run.chmod(0o777)
        r = ukctl(t, "stop", run)
        assert r.returncode == 1 and "writable by group or others" in \
            one_line_error(r, "open dir"), r.stderr
        assert (run / "instance.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_stop_foreground_fast(t, accel):
    """stop on a foreground run uses qmp-tools.sock: no QMP failure, no SIGTERM fallback."""
    run = t.tmpdir() / "run"
    p = subprocess.Popen(
        [str(t.build / "bin" / "ukctl"), "run", "--accel", accel, "--run-dir", str(run),
         str(guest(t, say="wait\n", hang=True))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not (run / "console.log").exists() or \
                (run / "console.log").read_text() != "wait\n":
            assert time.time() < deadline and p.poll() is None, "guest did not start"
            time.sleep(0.05)
        r = ukctl(t, "stop", run)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert r.returncode == 0 and r.stderr == "", f"stop: {r.returncode} {r.stderr!r}"
    assert p.returncode == 0, f"foreground: {p.returncode} {err!r}"
    assert f"instance     {run}/instance.json" in err, err
    assert re.search(r"stop +/\S+/ukctl stop ", err), err


def test_commas_in_run_dir(t, accel):
    """A run dir with ',', '=' and spaces boots, its sockets work, and the name
    cannot inject an option (here: one that would move the RAM file)."""
    # Short: a unix socket path has 108 bytes; t.tmpdir() is long.
    top = Path(tempfile.mkdtemp(prefix="uk,= ", dir="/tmp"))
    evil = top / "x,share=off,id=mem2"
    run = evil / "r u=n,,a"
    evil.mkdir()
    inst, _ = detach(t, accel, run, img=guest(t, say="up\n", hang=True))
    try:
        assert inst["run_dir"] == str(run)
        assert (run / "ram").stat().st_size == 128 << 20, "RAM file not where ukctl put it"
        deadline = time.time() + 30
        while (run / "console.log").read_text() != "up\n":
            assert time.time() < deadline, "console"
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(str(run / "qmp-tools.sock"))
        f = s.makefile("rwb")
        assert b"QMP" in f.readline()
        f.write(b'{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n')
        f.flush()
        assert b"return" in f.readline()
        assert b'"running"' in f.readline()
        f.close()
        s.close()
        for sock in ("gdb.sock", "gdb-virtio.sock", "telemetry.sock"):
            c = socket.socket(socket.AF_UNIX)
            c.connect(str(run / sock))
            c.close()
    finally:
        r = ukctl(t, "stop", run)
        shutil.rmtree(top, ignore_errors=True)
    assert r.returncode == 0 and r.stderr == "" and not run.exists(), r.stderr
