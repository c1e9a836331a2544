"""Helpers for the Python tests run by tests/run.py (and used by tests/bench.py).

A test module tests/e2e/test_NAME.py defines functions

    def test_something(t): ...            # run once
    def test_other(t, accel): ...         # run once per accel in t.accels ("kvm", "tcg")

`t` is a Context: t.build, t.root (absolute paths), t.accels, t.tmpdir(),
t.log(msg), t.scale(accel), t.timeout_scale.  A test passes if it returns and
fails on any exception.  Raise Skip("why") only for a reason outside the
project's control (e.g. the host has no /dev/kvm); skips are never passes.

QEMU processes started by boot() are killed when the test ends, on timeout,
on SIGINT/SIGTERM of the runner and at interpreter exit; those started from
the test's own thread also get PR_SET_PDEATHSIG so they die with the runner
even if it is SIGKILLed.
"""

import atexit
import ctypes
import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

QEMU = os.environ.get("UKSCOPE_QEMU", "qemu-system-x86_64")

# enum uk_exit_status (kernel-hooks/include/uk/panic.h); QEMU exits with 2*status+1.
UK_EXIT_OK = 0
UK_EXIT_FAIL = 1
UK_EXIT_PANIC = 2

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12

# Timeouts in tests are written for TCG, which JIT-compiles the guest.  KVM
# is normally faster, but on hosts whose KVM is kvm_pvm (a PVM hypervisor,
# as on this project's CI machines) a guest that is not PVM-aware is
# emulated instruction by instruction and runs ~10-50x slower than TCG.
KVM_PVM = os.path.exists("/sys/module/kvm_pvm")
KVM_SCALE = 15.0 if KVM_PVM else 1.0
TCG_SCALE = 1.0


class Skip(Exception):
    """Raised by a test that cannot run for a reason outside the project's control."""


# ------------------------------------------------------------------ accels ---

def kvm_available():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


def detect_accels():
    """Available accelerators, fastest first.  UKSCOPE_ACCELS=tcg (or "kvm,tcg") overrides."""
    env = os.environ.get("UKSCOPE_ACCELS")
    if env:
        return [a for a in re.split(r"[,\s]+", env.strip()) if a]
    return (["kvm"] if kvm_available() else []) + ["tcg"]


# ------------------------------------------------------- process tracking ---

_live_lock = threading.Lock()
_live = set()                   # every QEMU/child process still possibly running
_thread_state = threading.local()

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover
    _prctl = None
_PR_SET_PDEATHSIG = 1


def mark_thread_long_lived():
    """Called by the runner in each test thread.  PR_SET_PDEATHSIG fires when the
    *thread* that forked exits, so it is only set for children of threads that
    live as long as the test (the main thread and the runner's test threads)."""
    _thread_state.long_lived = True


def _preexec_pdeathsig():
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(cmd, **kw):
    long_lived = (threading.current_thread() is threading.main_thread()
                  or getattr(_thread_state, "long_lived", False))
    if _prctl is not None and long_lived:
        kw["preexec_fn"] = _preexec_pdeathsig
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    with _live_lock:
        _live.add(proc)
    return proc


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _live_lock:
        _live.discard(proc)


def _forget(proc):
    with _live_lock:
        _live.discard(proc)


def kill_all():
    """Kill every process started through this module that is still running."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _kill(p)


atexit.register(kill_all)


# ---------------------------------------------------------------- context ---

class Context:
    """The `t` handed to each test."""

    def __init__(self, build, root, accels, tmp_root, name="", verbose=False):
        self.build = Path(build).resolve()
        self.root = Path(root).resolve()
        self.accels = list(accels)
        self.name = name
        self.verbose = verbose
        self._tmp_root = Path(tmp_root)
        self._tmpdirs = []
        self._logs = []
        self._procs = []
        self._lock = threading.Lock()
        # A single figure for tests that do not take `accel`: the slowest accel's.
        self.timeout_scale = max(self.scale(a) for a in self.accels) if self.accels else 1.0

    def scale(self, accel):
        """Factor to apply to a TCG-sized timeout when running under `accel`."""
        return TCG_SCALE if accel == "tcg" else KVM_SCALE

    def tmpdir(self):
        """A fresh directory; removed after the run unless the test failed."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name or "anon")[-32:]  # unix socket paths are short
        self._tmp_root.mkdir(parents=True, exist_ok=True)
        d = Path(tempfile.mkdtemp(prefix=safe + ".", dir=self._tmp_root))
        with self._lock:
            self._tmpdirs.append(d)
        return d

    def log(self, msg):
        """Captured; shown when the test fails or with -v."""
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            for line in str(msg).splitlines() or [""]:
                self._logs.append(f"[{stamp}] {line}")

    # used by the runner
    def _track(self, proc):
        with self._lock:
            self._procs.append(proc)

    def _cleanup_procs(self):
        with self._lock:
            procs, self._procs = self._procs, []
        for p in procs:
            _kill(p)

    def _remove_tmpdirs(self):
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------- run ---

def wait_for(what, fn, secs, interval=0.3):
    """Poll fn() until it returns something true and return it; fail naming
    `what` after secs seconds."""
    deadline = time.time() + secs
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def run(cmd, timeout=60, check=True, env=None, input=None, cwd=None):
    """Run a command (list, or a string split with shlex) and return a
    CompletedProcess with text stdout/stderr.  `env` entries are added to the
    current environment.  Raises AssertionError on timeout, and on a non-zero
    exit status when check is true."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    cmd = [str(c) for c in cmd]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in env.items()})
    proc = _spawn(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  errors="replace", env=full_env, cwd=cwd)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{shlex.join(cmd)}: timed out after {timeout}s\n"
                             + _tail(err or out, 20)) from None
    finally:
        _kill(proc)
    cp = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)}: exit status {proc.returncode}\n"
                             + _tail(err or out, 20))
    return cp


def _tail(text, n):
    lines = (text or "").rstrip("\n").splitlines()
    return "\n".join(lines[-n:])


# ------------------------------------------------------------------ boot ---

class VM:
    """A QEMU run.  After it finished: .output, .qemu_rc, .status, .timed_out,
    .duration (seconds from process start to exit), .stderr (QEMU's), .cmd.
    While running (boot(until=...)): .proc, .output (so far), .kill(), .wait()."""

    def __init__(self, cmd, proc, t0, console_path, stderr_path, ctx):
        self.cmd = cmd
        self.proc = proc
        self.t0 = t0
        self.console_path = console_path
        self.stderr_path = stderr_path
        self.qemu_rc = None
        self.status = None
        self.timed_out = False
        self.duration = None
        self.stderr = ""
        self.exit_time = None  # seconds after start, when the process was reaped
        self._ctx = ctx
        self._buf = bytearray()
        self._chunks = []      # (seconds after start, end offset in _buf)
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        with open(self.console_path, "wb") as log:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                now = time.monotonic() - self.t0
                if not data:
                    break
                log.write(data)
                log.flush()
                with self._cond:
                    self._buf += data
                    self._chunks.append((now, len(self._buf)))
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def output(self):
        with self._cond:
            return bytes(self._buf).decode("utf-8", errors="replace")

    @property
    def running(self):
        return self.proc.poll() is None

    def match_time(self, regex):
        """Seconds after QEMU start at which the console bytes matching `regex`
        had all arrived, or None."""
        with self._cond:
            data = bytes(self._buf)
            chunks = list(self._chunks)
        m = re.search(regex.encode() if isinstance(regex, str) else regex, data)
        if not m:
            return None
        for when, end in chunks:
            if end >= m.end():
                return when
        return None

    def _wait_output(self, regex, deadline):
        pat = re.compile(regex)
        with self._cond:
            while True:
                if pat.search(bytes(self._buf).decode("utf-8", errors="replace")):
                    return True
                if self._eof:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def _finish(self, timed_out=False):
        rc = self.proc.wait()
        if self.exit_time is None:
            self.exit_time = time.monotonic() - self.t0
        self._reader.join(timeout=5)
        _forget(self.proc)
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self.timed_out = self.timed_out or timed_out
        self.qemu_rc = rc
        self.duration = self.exit_time
        try:
            self.stderr = Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            self.stderr = ""
        self.status = None
        if not self.timed_out and rc is not None and rc > 0 and rc & 1:
            # QEMU itself also exits with 1 on startup errors, which would read as
            # status 0: only trust rc 1 if QEMU printed no error.
            errors = [l for l in self.stderr.splitlines()
                      if l.startswith(("qemu-system", "qemu:")) and "warning:" not in l
                      and "terminating on signal" not in l]
            if not (rc == 1 and errors):
                self.status = rc >> 1
        if self._ctx is not None:
            self._ctx.log(f"qemu exited rc={rc} status={self.status} timed_out={self.timed_out} "
                          f"after {self.duration:.2f}s")
            if self.stderr.strip():
                self._ctx.log("qemu stderr:\n" + _tail(self.stderr, 20))
        return self

    def wait(self, timeout=None):
        """Wait for QEMU to exit; on timeout kill it and set timed_out.  Returns self."""
        if self.qemu_rc is not None:
            return self
        try:
            self.proc.wait(timeout=timeout)
            self.exit_time = time.monotonic() - self.t0
        except subprocess.TimeoutExpired:
            _kill(self.proc)
            return self._finish(timed_out=True)
        return self._finish()

    def kill(self):
        """Kill QEMU (if still running) and collect the results.  Returns self."""
        if self.qemu_rc is None:
            _kill(self.proc)
            self._finish()
        return self

    def tail(self, n=40):
        return _tail(self.output, n)

    def describe(self, n=40):
        """Status line + last n console lines, for assertion messages."""
        head = (f"qemu_rc={self.qemu_rc} status={self.status} timed_out={self.timed_out}"
                f" duration={self.duration if self.duration is None else round(self.duration, 2)}s")
        s = head + f"\n--- last {n} console lines ---\n" + (self.tail(n) or "(no console output)")
        if self.stderr.strip():
            s += "\n--- qemu stderr ---\n" + _tail(self.stderr, 10)
        return s


def qemu_command(image, cmdline="", smp=1, mem=64, accel="tcg", extra_args=(),
                 machine="microvm,acpi=off"):
    # Same CPU model as ukctl (qemu_argv.c): without -arch-capabilities some KVM
    # hosts abort QEMU at vCPU reset.
    cpu = "host,-arch-capabilities" if accel == "kvm" else "max"
    return [QEMU,
            "-M", machine, "-accel", accel, "-cpu", cpu,
            "-smp", str(smp), "-m", str(mem),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(image), "-append", cmdline,
            # Console on our stdout pipe: bytes are timestamped as they arrive.
            "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-device", "pvpanic",  # the ISA pvpanic device (port 0x505) works on microvm
            "-global", "virtio-mmio.force-legacy=false",
            *[str(a) for a in extra_args]]


# virtio-console ports (docs/virtio.md), as `ukctl run` adds them.
VCON_GDB = "org.ukscope.gdb"
VCON_TELEMETRY = "org.ukscope.telemetry"
VCON_TEST = "org.ukscope.test"  # only tests/guest/test_vcon.c uses it


def vcon_args(dirpath, test_port=False):
    """QEMU args for a virtio-serial-device with the gdb and telemetry ports
    on unix sockets DIRPATH/gdb-virtio.sock and DIRPATH/telemetry.sock
    (QEMU listens; connect any time), plus org.ukscope.test on
    DIRPATH/test.sock if test_port."""
    d = Path(dirpath)
    ports = [("gdbv", "gdb-virtio.sock", VCON_GDB), ("tele", "telemetry.sock", VCON_TELEMETRY)]
    if test_port:
        ports.append(("test", "test.sock", VCON_TEST))
    args = ["-device", "virtio-serial-device,max_ports=4"]
    for cid, sock, name in ports:
        args += ["-chardev", f"socket,id={cid},path={d / sock},server=on,wait=off",
                 "-device", f"virtserialport,chardev={cid},name={name}"]
    return args


def boot(t, image, cmdline="", smp=1, mem=64, accel="tcg", timeout=30, extra_args=(),
         expect_exit=True, until=None, machine="microvm,acpi=off"):
    """Boot `image` under QEMU microvm and return a VM.

    timeout is in seconds, unscaled (multiply by t.scale(accel) yourself).
    Without `until`: waits for QEMU to exit.  On timeout QEMU is killed and
    timed_out set; if expect_exit is true that raises AssertionError (with the
    console tail), otherwise the VM is returned.
    With `until` (a regex): returns as soon as the console matches, QEMU still
    running (use .wait()/.kill()); AssertionError if QEMU exits or the timeout
    passes first.  The process is killed anyway when the test ends.
    """
    image = Path(image)
    if not image.exists():
        raise AssertionError(f"image not found: {image}")
    if t is None:
        raise ValueError("boot() needs the test context")
    d = t.tmpdir()
    cmd = qemu_command(image, cmdline, smp, mem, accel, extra_args, machine)
    t.log("boot: " + shlex.join(cmd))
    stderr_path = d / "qemu.stderr"
    with open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        proc = _spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    t._track(proc)
    vm = VM(cmd, proc, t0, d / "console.log", stderr_path, t)
    deadline = t0 + timeout

    if until is not None:
        try:
            ok = vm._wait_output(until, deadline)
        except BaseException:
            vm.kill()
            raise
        if ok:
            t.log(f"boot: console matched {until!r} after {time.monotonic() - t0:.2f}s")
            return vm
        if vm._eof:  # console closed: QEMU is exiting (or has exited)
            vm.wait(timeout=10)
            why = f"QEMU exited before the console matched {until!r}"
        else:
            vm.kill()
            vm.timed_out = True
            why = f"console did not match {until!r} within {timeout}s"
        raise AssertionError(why + "\n" + vm.describe())

    try:
        vm.wait(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        vm.kill()
    if vm.timed_out and expect_exit:
        raise AssertionError(f"VM did not exit within {timeout}s\n" + vm.describe())
    return vm


def guest_test(t, name, accel, smp=1, mem=64, timeout=30, cmdline="", extra_args=()):
    """Run in-guest test `name` from BUILD/kernel-test.elf and check it passed.
    `timeout` is the TCG figure; it is multiplied by t.scale(accel) here."""
    image = t.build / "kernel-test.elf"
    if not image.exists():
        raise AssertionError(f"{image} is not built (make guest)")
    full = f"test={name} panic=exit {cmdline}".strip()
    vm = boot(t, image, cmdline=full, smp=smp, mem=mem, accel=accel,
              timeout=timeout * t.scale(accel), expect_exit=False, extra_args=extra_args)
    ok_line = re.search(rf"TEST {re.escape(name)}: PASS", vm.output)
    if vm.timed_out or not ok_line or vm.status != UK_EXIT_OK:
        problems = []
        if vm.timed_out:
            problems.append("timed out")
        if not ok_line:
            problems.append(f"no 'TEST {name}: PASS' line")
        if vm.status != UK_EXIT_OK:
            problems.append(f"guest status {vm.status} (want {UK_EXIT_OK})")
        raise AssertionError(f"guest test {name} [{accel}]: " + ", ".join(problems)
                             + "\n" + vm.describe(40))
    return vm
