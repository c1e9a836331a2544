#!/usr/bin/env python3
"""ukscope test runner: unit binaries, Python (e2e) tests, fuzz smoke runs.

    python3 tests/run.py [--build DIR] [-k SUBSTR]... [-j N] [--list]
                         [--accel kvm|tcg|all] [--fuzz-seconds N] [-v]

1. unit:   BUILD/tests/unit/test_* (cmocka, TAP output)   -> unit/<binary>/<case>
2. python: TESTS/e2e/test_*.py, functions test_*(t[, accel]) -> <module>/<func>[accel]
3. fuzz:   BUILD/fuzz/fuzz_NAME for --fuzz-seconds each     -> fuzz/NAME

Ends with "N passed, M failed[, K skipped]"; exit status 1 if anything failed
or nothing ran.  Results also go to BUILD/test-results.json.
"""

import argparse
import importlib.util
import inspect
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "lib"))
import harness  # noqa: E402
from harness import Skip  # noqa: E402

UNIT_TIMEOUT = 120
STDERR_TAIL = 20


# ------------------------------------------------------------- reporting ---

class Result:
    def __init__(self, name, status, duration=None, reason=(), output="", note=None):
        self.name = name
        self.status = status          # "pass" | "fail" | "skip"
        self.duration = duration
        self.reason = list(reason)    # lines shown indented under FAIL / after SKIP
        self.output = output          # captured output, shown on failure or with -v
        self.note = note              # replaces "(1.23s)", e.g. for unit cases

    def to_json(self):
        return {"name": self.name, "status": self.status, "duration": self.duration,
                "reason": "\n".join(self.reason), "output": self.output}


class Reporter:
    def __init__(self, verbose):
        self.verbose = verbose
        self.results = []
        self.lock = threading.Lock()

    def add(self, r):
        with self.lock:
            self.results.append(r)
            when = r.note or (f"{r.duration:.2f}s" if r.duration is not None else "-")
            if r.status == "skip":
                print(f"SKIP {r.name}: {' '.join(r.reason) or 'skipped'}")
            else:
                print(f"{'PASS' if r.status == 'pass' else 'FAIL'} {r.name} ({when})")
                if r.status == "fail":
                    for line in r.reason:
                        print("    " + line)
                if r.output and (r.status == "fail" or self.verbose):
                    print("    --- output ---")
                    for line in r.output.rstrip("\n").splitlines():
                        print("    | " + line)
            sys.stdout.flush()

    def count(self, status):
        return sum(1 for r in self.results if r.status == status)


def tail_lines(text, n=STDERR_TAIL):
    return (text or "").rstrip("\n").splitlines()[-n:]


# --------------------------------------------------------------- filters ---

def selected(name, ks):
    return not ks or any(k in name for k in ks)


def may_select_prefix(prefix, ks):
    """Could a name starting with `prefix` (rest unknown) contain one of ks?"""
    if not ks:
        return True
    for k in ks:
        if k in prefix or "/" not in k:
            return True
        if any(k.startswith(prefix[i:]) for i in range(len(prefix))):
            return True
    return False


def is_exe(p):
    return p.is_file() and os.access(p, os.X_OK)


def kill_group(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_pool(items, fn, jobs):
    """Run fn(item) for each item on `jobs` threads (results are reported by fn)."""
    q = queue.Queue()
    for it in items:
        q.put(it)

    def worker():
        harness.mark_thread_long_lived()
        while True:
            try:
                it = q.get_nowait()
            except queue.Empty:
                return
            fn(it)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for th in threads:
        th.start()
    for th in threads:
        while th.is_alive():
            th.join(0.2)


# ------------------------------------------------------------------ unit ---

TAP_CASE = re.compile(r"^(ok|not ok)\b\s*(\d+)?\s*(.*)$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")


def parse_tap(text):
    """Return (plan or None, [ [status, name, diag_lines] ... ])."""
    plan = None
    cases = []
    last = None
    for line in text.splitlines():
        s = line.strip()
        m = TAP_PLAN.match(s)
        if m:
            plan = (plan or 0) + int(m.group(1))
            last = None
            continue
        m = TAP_CASE.match(s)
        if m:
            ok, num, desc = m.group(1) == "ok", m.group(2), m.group(3)
            status = "pass" if ok else "fail"
            sm = re.search(r"#\s*SKIP\b\s*(.*)$", desc, re.I)
            if sm:
                status = "skip"
                before = desc[:sm.start()].strip()
                desc = before or sm.group(1)
            desc = re.sub(r"^-\s*", "", desc.strip()) or f"case{num or len(cases) + 1}"
            last = [status, desc, []]
            cases.append(last)
            continue
        if s.startswith("#"):
            # cmocka's per-group summary ("# not ok - group") is no case.
            if last is not None and not re.match(r"^#\s*(not )?ok\s*-", s):
                last[2].append(s.lstrip("#").strip())
            continue
    return plan, cases


def run_unit_binary(path, ks, rep, tmp_root):
    name = path.name
    prefix = f"unit/{name}/"
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    cwd = tempfile.mkdtemp(prefix=f"{name}.", dir=tmp_root)
    t0 = time.monotonic()
    proc = subprocess.Popen([str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=UNIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        out, err = proc.communicate()
    finally:
        kill_group(proc)
    dur = time.monotonic() - t0
    shutil.rmtree(cwd, ignore_errors=True)
    out = out.decode(errors="replace")
    err = err.decode(errors="replace")
    rc = proc.returncode

    plan, cases = parse_tap(out)
    note = f"binary {dur:.2f}s"
    seen = {}
    any_fail = False
    for status, case, diag in cases:
        n = seen[case] = seen.get(case, 0) + 1
        full = prefix + (case if n == 1 else f"{case}#{n}")
        any_fail |= status == "fail"
        if not selected(full, ks):
            continue
        if status == "skip":
            rep.add(Result(full, "skip", dur, ["cmocka skip()"]))
        elif status == "fail":
            rep.add(Result(full, "fail", dur, diag or ["failed (no message)"], note=note))
        else:
            rep.add(Result(full, "pass", dur, note=note, output=""))

    problems = []
    if timed_out:
        problems.append(f"timed out after {UNIT_TIMEOUT}s")
    elif rc < 0:
        problems.append(f"killed by signal {-rc} ({signal.Signals(-rc).name})")
    elif rc != 0 and not any_fail:
        problems.append(f"exit status {rc} with no failing case")
    if plan is None:
        problems.append("no TAP plan line (is it a cmocka test? CMOCKA_MESSAGE_OUTPUT=TAP)")
    elif plan != len(cases):
        problems.append(f"plan says {plan} cases, {len(cases)} reported")
    san = [l for l in err.splitlines()
           if "runtime error:" in l or "ERROR: AddressSanitizer" in l
           or "ERROR: LeakSanitizer" in l]
    if san and not problems:
        problems.append("sanitizer report: " + san[0].strip())
    bin_name = f"unit/{name}"
    if problems and (selected(prefix, ks) or any(selected(prefix + c[1], ks) for c in cases)):
        reason = problems + ["--- stderr tail ---"] + (tail_lines(err) or ["(empty)"])
        rep.add(Result(bin_name, "fail", dur, reason, output=out if rep.verbose else ""))
    elif rep.verbose and (out.strip() or err.strip()) and cases:
        with rep.lock:
            print(f"    --- {bin_name} output ---")
            for line in (out + err).rstrip("\n").splitlines():
                print("    | " + line)


# ---------------------------------------------------------------- python ---

def load_module(path, lib_dirs):
    for d in lib_dirs:
        if str(d) not in sys.path:
            sys.path.insert(1, str(d))
    modname = "ukscope_e2e_" + path.stem
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def collect_python(tests_dir, accels):
    """Return [(name, callable(t) or None, error_lines)]."""
    items = []
    lib_dirs = [tests_dir / "lib"] if (tests_dir / "lib").is_dir() else []
    for path in sorted((tests_dir / "e2e").glob("test_*.py")):
        mod_name = path.stem
        try:
            mod = load_module(path, lib_dirs)
        except BaseException as e:  # noqa: BLE001 - a broken module is one failure
            if isinstance(e, KeyboardInterrupt):
                raise
            items.append((f"{mod_name}/<import>", None,
                          traceback.format_exc().rstrip().splitlines()[-15:]))
            continue
        funcs = [(n, f) for n, f in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == mod.__name__]
        funcs.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
        for fname, f in funcs:
            params = list(inspect.signature(f).parameters)
            if len(params) >= 2 and params[1] == "accel":
                for a in accels:
                    items.append((f"{mod_name}/{fname}[{a}]", (f, a), None))
            elif len(params) == 1:
                items.append((f"{mod_name}/{fname}", (f, None), None))
            else:
                items.append((f"{mod_name}/{fname}", None,
                              [f"bad signature {fname}({', '.join(params)}): "
                               "want test_x(t) or test_x(t, accel)"]))
    return items


def format_exception(e, test_file):
    """Message + where it was raised (assertion) or a traceback tail."""
    tb = traceback.extract_tb(e.__traceback__)
    where = [fr for fr in tb if test_file and fr.filename == str(test_file)]
    if isinstance(e, AssertionError):
        lines = (str(e) or "assertion failed").splitlines()
        if where:
            fr = where[-1]
            lines.append(f"at {Path(fr.filename).name}:{fr.lineno}: {fr.line}")
        return lines
    tb = e.__traceback__.tb_next or e.__traceback__   # drop the runner's own frame
    text = "".join(traceback.format_exception(type(e), e, tb))
    return text.rstrip().splitlines()[-15:]


def run_python_tests(items, args, rep, accels, tmp_root, keep):
    def one(item):
        name, spec, errors = item
        if spec is None:
            rep.add(Result(name, "fail", 0.0, errors))
            return
        f, accel = spec
        ctx = harness.Context(args.build, ROOT, accels, tmp_root, name=name,
                              verbose=args.verbose)
        box = {}
        done = threading.Event()

        def body():
            harness.mark_thread_long_lived()
            try:
                f(ctx) if accel is None else f(ctx, accel)
                box["status"] = "pass"
            except Skip as e:
                box["status"], box["reason"] = "skip", [str(e) or "skipped"]
            except BaseException as e:  # noqa: BLE001
                if type(e).__name__ == "Skip":   # a Skip from another copy of harness
                    box["status"], box["reason"] = "skip", [str(e) or "skipped"]
                else:
                    box["status"] = "fail"
                    box["reason"] = format_exception(e, inspect.getsourcefile(f))
            finally:
                done.set()

        t0 = time.monotonic()
        th = threading.Thread(target=body, name=name, daemon=True)
        th.start()
        if not done.wait(args.test_timeout):
            box = {"status": "fail", "reason": [
                f"test did not finish within {args.test_timeout:g}s (its VMs were killed)"]}
        dur = time.monotonic() - t0
        ctx._cleanup_procs()
        status = box.get("status", "fail")
        reason = list(box.get("reason", []))
        logs = "\n".join(ctx._logs)
        if status == "fail":
            reason += [f"files kept: {d}" for d in ctx._tmpdirs]
            keep.append(True)
        else:
            ctx._remove_tmpdirs()
        rep.add(Result(name, status, dur, reason, output=logs))

    run_pool(items, one, args.jobs)


# ------------------------------------------------------------------ fuzz ---

# Fuzz targets fed whole streams from the guest.
STREAM_FUZZERS = {"telemetry", "klog_ring", "metrics_page", "http_parse"}


def run_fuzz(path, tests_dir, seconds, rep, tmp_root, keep):
    name = path.name[len("fuzz_"):]
    tname = f"fuzz/{name}"
    d = Path(tempfile.mkdtemp(prefix=f"fuzz_{name}.", dir=tmp_root))
    corpus = d / "corpus"
    src = tests_dir / "fuzz" / "corpus" / name
    if src.is_dir():
        shutil.copytree(src, corpus)
    else:
        corpus.mkdir()
    artifacts = d / "artifacts"
    artifacts.mkdir()
    cmd = [str(path), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
           f"-artifact_prefix={artifacts}/", str(corpus)]
    if name in STREAM_FUZZERS:
        # Stream decoders: inputs as long as a real burst of guest output,
        # and a per-input limit that flags super-linear work (a 24 KB
        # garbage tail took minutes in the old telemetry resync).
        cmd[2:3] = ["-timeout=5", f"-max_len={64 * 1024}"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=d, start_new_session=True)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        out, _ = proc.communicate()
    finally:
        kill_group(proc)
    dur = time.monotonic() - t0
    out = out.decode(errors="replace")
    if proc.returncode == 0 and not timed_out:
        shutil.rmtree(d, ignore_errors=True)
        rep.add(Result(tname, "pass", dur, output=out if rep.verbose else ""))
        return
    keep.append(True)
    why = (f"did not stop within {seconds + 60}s" if timed_out
           else f"exit status {proc.returncode}")
    crashes = sorted(p.name for p in artifacts.iterdir())
    reason = [why] + ([f"artifacts in {artifacts}: {', '.join(crashes)}"] if crashes
                      else [f"work dir kept: {d}"])
    reason += ["--- output tail ---"] + tail_lines(out, 30)
    rep.add(Result(tname, "fail", dur, reason))


# ------------------------------------------------------------------ main ---

def main():
    ap = argparse.ArgumentParser(description="Run the ukscope tests.")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--tests-dir", default=str(HERE),
                    help="tree holding e2e/ and fuzz/corpus/ (default: the repo's tests/)")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR",
                    help="run only tests whose name contains SUBSTR (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="parallel unit binaries / Python tests (default 2)")
    ap.add_argument("--list", action="store_true", help="list test names and exit")
    ap.add_argument("--accel", choices=["kvm", "tcg", "all"], default="all",
                    help="accelerators for tests taking `accel` (default: all available)")
    ap.add_argument("--fuzz-seconds", type=int, default=None,
                    help="seconds per fuzz target (default $FUZZ_SECONDS or 10)")
    ap.add_argument("--test-timeout", type=float, default=900,
                    help="overall limit per Python test, seconds (default 900)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show output of passing tests")
    args = ap.parse_args()

    args.build = Path(args.build).resolve()
    tests_dir = Path(args.tests_dir).resolve()
    ks = args.k
    if args.fuzz_seconds is None:
        args.fuzz_seconds = int(os.environ.get("FUZZ_SECONDS", "5"))

    available = harness.detect_accels()
    if args.accel == "all":
        accels = available
    elif args.accel in available:
        accels = [args.accel]
    else:
        print(f"run.py: accelerator {args.accel} is not available here "
              f"(available: {', '.join(available) or 'none'})", file=sys.stderr)
        return 2

    unit_bins = sorted(p for p in (args.build / "tests" / "unit").glob("test_*") if is_exe(p))
    fuzz_bins = sorted(p for p in (args.build / "fuzz").glob("fuzz_*") if is_exe(p))
    py_items = collect_python(tests_dir, accels)

    unit_sel = [p for p in unit_bins if may_select_prefix(f"unit/{p.name}/", ks)]
    py_sel = [it for it in py_items if selected(it[0], ks)]
    fuzz_sel = [p for p in fuzz_bins if selected(f"fuzz/{p.name[5:]}", ks)]

    if args.list:
        for p in unit_sel:
            print(f"unit/{p.name}/*")
        for it in py_sel:
            print(it[0])
        for p in fuzz_sel:
            print(f"fuzz/{p.name[5:]}")
        return 0

    print(f"ukscope tests: build={args.build} accels={','.join(accels)} jobs={args.jobs}")
    sys.stdout.flush()
    rep = Reporter(args.verbose)
    tmp_root = Path(tempfile.mkdtemp(prefix="ukscope-tests."))
    # Crash bundles of panicking test guests stay in the run (docs/postmortem.md).
    os.environ.setdefault("UKSCOPE_CRASH_DIR", str(tmp_root / "crashes"))
    keep = []
    started = time.time()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    interrupted = False
    try:
        run_pool(unit_sel, lambda p: run_unit_binary(p, ks, rep, tmp_root), args.jobs)
        run_python_tests(py_sel, args, rep, accels, tmp_root, keep)
        for p in fuzz_sel:
            run_fuzz(p, tests_dir, args.fuzz_seconds, rep, tmp_root, keep)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted; killing VMs", file=sys.stderr)
    finally:
        harness.kill_all()

    passed, failed, skipped = rep.count("pass"), rep.count("fail"), rep.count("skip")
    if interrupted:
        failed += 1

    try:
        args.build.mkdir(parents=True, exist_ok=True)
        with open(args.build / "test-results.json", "w") as f:
            json.dump({"started": started, "duration": time.time() - started,
                       "accels": accels, "interrupted": interrupted,
                       "passed": passed, "failed": failed, "skipped": skipped,
                       "tests": [r.to_json() for r in rep.results]}, f, indent=1)
    except OSError as e:
        print(f"run.py: cannot write results: {e}", file=sys.stderr)

    if keep:
        print(f"\nfiles of failed tests kept under {tmp_root}")
    else:
        shutil.rmtree(tmp_root, ignore_errors=True)

    fails = [r for r in rep.results if r.status == "fail"]
    skips = [r for r in rep.results if r.status == "skip"]
    if skips:
        print("\nSkipped:")
        for r in skips:
            print(f"  {r.name}: {' '.join(r.reason)}")
    if fails or interrupted:
        print("\nFailures:")
        for r in fails:
            first = r.reason[-1] if r.reason and r.reason[0].startswith("Traceback") else \
                (r.reason[0] if r.reason else "")
            print(f"  {r.name}" + (f": {first}" if first else ""))
        if interrupted:
            print("  (run interrupted)")
    if passed + failed == 0:
        print("\nno test ran")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
