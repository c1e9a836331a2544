"""RELP forwarding to a real rsyslogd (issue 12): relpfwd + its on-disk spool,
driven by build/tests/relpfwd_drive (records from stdin), into a private
rsyslogd with imrelp whose omfile output the tests count by seq."""
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import Skip, _spawn, run
from rsyslogd import Rsyslogd

WINDOW = 32        # RELPFWD_WINDOW
POLL_MAX = 256     # RELPFWD_POLL_MAX
TEXT = "hello from the test, quote \" backslash \\ bracket ] tab\tend"


class Drive:
    """relpfwd_drive with a pipe for stdin and its stdout lines collected."""

    def __init__(self, t, port, spool, max_bytes=1 << 30, batch=1, drain_s=40):
        self.proc = _spawn([str(t.build / "tests/relpfwd_drive"), "127.0.0.1", str(port),
                            str(spool), str(max_bytes), str(batch), str(drain_s)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        t._track(self.proc)
        self.t = t
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                        for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for th in self.threads:
            th.start()

    def _read(self, stream, lines):
        for line in stream:
            lines.append(line.decode(errors="replace").rstrip("\n"))

    def feed(self, seqs, pace=0.0):
        for s in seqs:
            self.proc.stdin.write(f"{s} {TEXT} {s}\n".encode())
            if pace:
                self.proc.stdin.flush()
                time.sleep(pace)
        self.proc.stdin.flush()

    def last_ok(self):
        oks = [int(l.split()[1]) for l in self.out if l.startswith("ok ")]
        return max(oks) if oks else -1

    def finish(self, timeout=90):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=timeout)
        for th in self.threads:
            th.join(timeout=5)
        self.t.log("driver stderr:\n" + "\n".join(self.err[-30:]))
        return rc, self.stats()

    def stats(self):
        line = [l for l in self.out if l.startswith("stats ")]
        assert line, "driver printed no stats: " + "\n".join(self.err[-20:])
        return {k: int(v) for k, v in (kv.split("=") for kv in line[-1].split()[1:])}


def _wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _check_at_least_once(counts, expected):
    missing = sorted(set(expected) - set(counts))
    assert not missing, f"{len(missing)} seqs never arrived, first {missing[:10]}"
    return sum(c - 1 for s, c in counts.items() if c > 1)


def test_relp_every_record_exactly_once(t):
    rs = Rsyslogd(t.tmpdir(), track=t._track)
    rs.start()
    d = Drive(t, rs.port, t.tmpdir() / "spool", batch=50)
    d.feed(range(2000))
    rc, st = d.finish()
    t.log(f"stats {st}")
    assert rc == 0 and st["pending"] == 0, st
    counts = rs.seqs()
    dups = _check_at_least_once(counts, range(2000))
    assert dups == 0 and st["resent"] == 0, f"{dups} duplicates, stats {st}"
    assert len(counts) == 2000 and rs.lines() == 2000
    # The text reached rsyslog escaped nowhere but sanitised: the tab became '?'.
    raw = rs.out.read_bytes()
    assert b'seq="1999"' in raw and b"bracket ] tab?end" in raw, raw[-400:]
    assert st["spool_bytes"] == 0, "acked segments must be deleted"


def test_relp_rsyslog_outages(t):
    """rsyslogd stopped (SIGTERM), then killed (-9), while records flow: every
    seq arrives, duplicates only from re-sent windows, each identified by seq."""
    rs = Rsyslogd(t.tmpdir(), track=t._track)
    rs.start()
    d = Drive(t, rs.port, t.tmpdir() / "spool", batch=10)
    seq = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        d.feed(range(seq, seq + 400), pace=0.002)
        seq += 400
        rs.stop(sig)
        t.log(f"rsyslogd stopped with {sig.name} after seq {seq - 1}")
        d.feed(range(seq, seq + 300), pace=0.004)  # spooled while rsyslog is down
        seq += 300
        time.sleep(1.5)
        rs.start()
    d.feed(range(seq, seq + 300), pace=0.002)
    seq += 300
    rc, st = d.finish()
    t.log(f"stats {st}")
    assert rc == 0 and st["pending"] == 0, st
    counts = rs.seqs()
    dups = _check_at_least_once(counts, range(seq))
    t.log(f"{dups} duplicate deliveries, seqs {sorted(s for s, c in counts.items() if c > 1)}")
    assert dups <= st["resent"], f"{dups} duplicates but only {st['resent']} resends counted"
    # Each new session re-sends at most the window the broken one left unacked.
    assert 2 <= st["reconnects"] <= 6 and st["errors"] >= 2, st
    assert st["resent"] <= WINDOW * st["reconnects"], f"more than one window per session: {st}"
    assert any("Failed to connect to rsyslog" in l for l in d.err), d.err[-10:]


def test_relp_driver_kill9_loses_nothing(t):
    """kill -9 of the forwarder with a backlog in its spool and a window in
    flight (rsyslogd hung with SIGSTOP meanwhile), then a restart on the same
    spool: every durable seq arrives."""
    rs = Rsyslogd(t.tmpdir(), track=t._track)
    rs.start()
    spool = t.tmpdir() / "spool"
    d = Drive(t, rs.port, spool, batch=64)
    feeder = threading.Thread(target=lambda: _quiet(d.feed, range(20000)), daemon=True)
    feeder.start()
    _wait_for(lambda: d.last_ok() >= 1000, 120, "1000 durable submits")
    rs.pause()
    try:
        _wait_for(lambda: d.last_ok() >= 3000, 120, "3000 durable submits")
        d.proc.kill()
        d.proc.wait()
        durable = d.last_ok()
        before = rs.seqs()
    finally:
        rs.pause(False)
    t.log(f"driver killed with -9 after durable seq {durable}; {len(before)} had arrived")
    assert len(before) < durable + 1 - 500, "no backlog at the kill: the test tests nothing"
    d2 = Drive(t, rs.port, spool, batch=20)
    rc, st = d2.finish()
    t.log(f"stats after restart {st}")
    assert rc == 0 and st["pending"] == 0 and st["torn"] <= 1, st
    counts = rs.seqs()
    dups = _check_at_least_once(counts, range(durable + 1))
    t.log(f"{dups} duplicates")
    # One poll + one window lost at the kill, one window of the hung session.
    assert dups <= POLL_MAX + 2 * WINDOW, f"{dups} duplicates"


def _quiet(fn, *a):
    try:
        fn(*a)
    except (BrokenPipeError, OSError):
        pass  # the driver was killed under us, on purpose


def test_relp_spool_full_counted(t):
    """No rsyslog yet: the spool fills to its bound, further records are dropped
    with a counted, logged error; once rsyslog is up every accepted one arrives."""
    rs = Rsyslogd(t.tmpdir(), track=t._track)
    spool = t.tmpdir() / "spool"
    d = Drive(t, rs.port, spool, max_bytes=64 * 1024, drain_s=1)
    d.feed(range(400))
    rc, st = d.finish()
    t.log(f"stats {st}")
    assert rc == 2 and st["dropped_disk_full"] > 0 and st["spooled"] > 0, st
    assert st["spooled"] + st["dropped_disk_full"] == 400, st
    assert st["spool_bytes"] <= 64 * 1024, st
    full = [l for l in d.err if "reached its limit" in l]
    assert len(full) == 1 and "dropped_disk_full" in full[0], d.err[-10:]
    accepted = [int(l.split()[1]) for l in d.out if l.startswith("ok ")]
    assert len(accepted) == st["spooled"], (len(accepted), st)
    size = sum(p.stat().st_size for p in spool.glob("*.seg"))
    assert size <= 64 * 1024, size
    rs.start()
    d2 = Drive(t, rs.port, spool)
    rc, st2 = d2.finish()
    assert rc == 0 and st2["pending"] == 0, st2
    counts = rs.seqs()
    _check_at_least_once(counts, accepted)
    assert set(counts) == set(accepted), "a dropped record arrived"


def test_relp_real_disk_full_counted(t):
    """The disk itself is full (a 64 KiB tmpfs in a private mount namespace),
    not the spool's own bound: ENOSPC is a counted drop with a clear line, and
    the spool stays consistent (every accepted record is pending)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare(1) for a private tmpfs")
    mnt = t.tmpdir() / "tiny"
    mnt.mkdir()
    drive = t.build / "tests/relpfwd_drive"
    script = (f"mount -t tmpfs -o size=64k,mode=0700 none '{mnt}' && "
              f"exec '{drive}' 127.0.0.1 1 '{mnt}/spool' {1 << 30} 1 1")
    data = "".join(f"{i} {TEXT} {i}\n" for i in range(400))
    r = run(["unshare", "-m", "sh", "-c", script], input=data, check=False, timeout=120)
    t.log(r.stderr[-2000:])
    stats = [l for l in r.stdout.splitlines() if l.startswith("stats ")]
    assert r.returncode == 2 and stats, (r.returncode, r.stdout[-500:], r.stderr[-500:])
    st = {k: int(v) for k, v in (kv.split("=") for kv in stats[0].split()[1:])}
    assert st["dropped_disk_full"] > 0 and st["spooled"] > 0, st
    assert st["spooled"] + st["dropped_disk_full"] == 400 and st["pending"] == st["spooled"], st
    assert st["spool_bytes"] <= 64 * 1024, st
    assert r.stderr.count("the disk is full") == 1, r.stderr[-1000:]
