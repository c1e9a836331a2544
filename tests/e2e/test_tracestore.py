"""End-to-end tests of the collector's trace store (host-collector/collectd/
tracestore.[ch]) through `ukctl trace --fleet`: two real guests drained for a
few seconds into a per-instance store, exported as one Perfetto trace with a
process per instance (checked with protoc --decode), and a size limit that
forces drops, every dropped event counted."""
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
from harness import run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
NAMES = ("alpha", "beta")
PID2_BASE = 1 << 32  # trace_perfetto.c: track uuids of pid 2 start here


def ukctl(t, *args, timeout=120):
    return subprocess.run([str(t.build / "bin" / "ukctl"), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def pf_decode(path):
    with open(path, "rb") as f:
        r = subprocess.run(["protoc", f"--proto_path={REPO / 'tracing' / 'host'}",
                            "--decode=ukscope.perfetto.Trace", "perfetto_trace.proto"],
                           stdin=f, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


def stats(stdout):
    out = {}
    for m in re.finditer(r"^stats (\S+) (.*)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def events_by_pid(text):
    """Track events of pid 1 and pid 2 (by their tracks' uuid ranges)."""
    uuids = [int(u) for u in re.findall(r"track_uuid: (\d+)", text)]
    return (sum(1 for u in uuids if u < PID2_BASE),
            sum(1 for u in uuids if PID2_BASE <= u < 2 * PID2_BASE))


def test_tracestore_fleet(t, accel):
    root = t.tmpdir()
    for n in NAMES:
        r = ukctl(t, "run", "--detach", "--accel", accel, "--mem", "32", "--no-net",
                  "--run-dir", root / n, t.build / "kernel.elf")
        assert r.returncode == 0, r.stderr
    try:
        # Wait until both guests' tracers are up (one drain each succeeds).
        deadline = time.time() + 60 * t.scale(accel)
        while True:
            r = ukctl(t, "trace", "--fleet", "--root", root, "--stats", "-o", root / "w.pftrace")
            s = stats(r.stdout)
            if r.returncode == 0 and all(s.get(n, {}).get("events_stored") for n in NAMES):
                break
            assert time.time() < deadline, f"no trace from both guests: {r.stderr}"
            time.sleep(1)

        out = root / "fleet.pftrace"
        r = ukctl(t, "trace", "--fleet", "--root", root, "--drain-for", "3s", "--last", "10s",
                  "--stats", "-o", out)
        assert r.returncode == 0, r.stderr
        s = stats(r.stdout)
        t.log(r.stdout)
        for n in NAMES:
            assert s[n]["events_stored"] > 0 and s[n]["drain_errors"] == 0, s
            assert s[n]["drains"] >= 10, s  # every 100 ms for 3 s
        text = pf_decode(out)
        procs = re.findall(r'process_name: "([^"]+)"', text)
        assert sorted(procs) == sorted(NAMES), procs
        pids = sorted(set(int(p) for p in re.findall(r"^\s+pid: (\d+)$", text, re.M)))
        assert pids == [1, 2], pids
        a, b = events_by_pid(text)
        assert a > 0 and b > 0, (a, b)
        # Host wall clock (anchors): within a minute of now.
        ts = [int(x) for x in re.findall(r"timestamp: (\d+)", text)]
        now = time.time_ns()
        assert ts and all(abs(x - now) < 120 * 10**9 for x in ts), (min(ts), max(ts), now)
        # --last 10s: nothing older than 10 s before the newest event.
        assert max(ts) - min(ts) <= 10 * 10**9 + 10**8, (min(ts), max(ts))

        # A size limit that forces drops: every dropped event counted, the
        # export holds exactly what was stored and not dropped.
        out2 = root / "limited.pftrace"
        r = ukctl(t, "trace", "--fleet", "--root", root, "--drain-for", "2s",
                  "--max-bytes", "16384", "--stats", "-o", out2)
        assert r.returncode == 0, r.stderr
        s = stats(r.stdout)
        t.log(r.stdout)
        for n in NAMES:
            assert s[n]["dropped_by_limit"] > 0, s
            assert s[n]["bytes"] <= 16384 + 8192, s  # one open segment over at most
        text = pf_decode(out2)
        kept = sum(s[n]["events_stored"] - s[n]["dropped_by_limit"] for n in NAMES)
        assert text.count("track_event {") == kept, (text.count("track_event {"), s)
    finally:
        for n in NAMES:
            ukctl(t, "stop", root / n)
