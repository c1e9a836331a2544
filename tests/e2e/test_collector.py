"""ukcollectd, the fleet collector (docs/collector.md), end to end.

Small guests (--mem 32) under a temporary --root; the daemon on a free
loopback port with its own --state.  Each test stops what it started.

Accelerators: the collector reads guest RAM, the console and QMP the same
way whatever runs the guest, so most tests boot TCG guests only.  A
representative subset takes `accel` and also runs under KVM: discovery and
logs (RAM readers, ps/logs CLI, threads, re-adoption), the fleet API with a
restart, a panic from QMP, and live lines from a real telemetry stream.  Under this host's kvm_pvm the guest is
emulated instruction by instruction (10-50x slower than TCG): the bursts of
thousands of lines (kill -9, RELP), the Prometheus scrapes through the
guest agent and the hostile-RAM cases would take minutes each and exercise
nothing accelerator-specific.
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import Skip, run

KLOG_MAGIC = (0x474F4C4B55).to_bytes(8, "little")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Collector:
    def __init__(self, t, root, state, extra=(), env=None, listen=None):
        self.t, self.root, self.state, self.env = t, root, state, env
        self.port = free_port()
        self.addr = listen or f"127.0.0.1:{self.port}"
        self.log = state.parent / f"ukcollectd.{self.port}.log"
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [str(self.t.build / "bin/ukcollectd"), "--root", str(self.root), "--state",
             str(self.state), "--listen", self.addr] + self.extra,
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"), start_new_session=True,
            env=self.env)
        self.t._track(self.proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.get("/api/v1/instances")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("ukcollectd did not answer:\n" + self.log.read_text()[-2000:])

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def request(self, path, method="GET", token=None, body=None):
        req = urllib.request.Request(f"http://{self.addr}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        status, body = self.request(path)
        assert status == 200, (path, status, body)
        return json.loads(body) if not path.startswith("/metrics") else body.decode()

    def instances(self):
        return {i["name"]: i for i in self.get("/api/v1/instances")["instances"]}

    def wait(self, cond, what, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.instances()
            if cond(last):
                return last
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}: {json.dumps(last)[:3000]}\n"
                             + self.log.read_text()[-3000:])

    def wait_metrics(self, cond, what, timeout=30):
        """The collector's /metrics text once cond(text) holds."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.get("/metrics")
            if cond(m):
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {m[-3000:]}\n"
                                     + self.log.read_text()[-3000:])
            time.sleep(0.5)


def start_instance(t, root, name, cmdline="", accel="tcg"):
    args = [t.build / "bin/ukctl", "run", "--detach", "--keep", "--name", name, "--run-dir",
            root / name, "--mem", "32", "--accel", accel]
    if cmdline:
        args += ["--cmdline", cmdline]
    run(args + [t.build / "kernel.elf"], timeout=60)
    return root / name


def stop_all(t, root):
    for d in sorted(root.iterdir()) if root.exists() else []:
        if (d / "instance.json").exists():
            run([t.build / "bin/ukctl", "stop", d], timeout=60, check=False)


def setup(t):
    base = t.tmpdir()
    root, state = base / "root", base / "state"
    root.mkdir(mode=0o700)
    return base, root, state


def store_records(state, name):
    """klog records and lost ranges of every boot in the instance's store."""
    recs = []
    for f in ("log.jsonl.1", "log.jsonl"):
        p = state / "instances" / name / f
        if p.exists():
            recs += [json.loads(l) for l in p.read_text().splitlines()]
    return [r for r in recs if r["source"] == "klog"]


def check_exactly_once(recs):
    """Every seq from 0 to the last once: as a record or inside a lost range."""
    seen = {}
    for r in recs:
        if "lost" in r:
            for s in range(r["from_seq"], r["from_seq"] + r["lost"]):
                seen[s] = seen.get(s, 0) + 1
        else:
            seen[r["seq"]] = seen.get(r["seq"], 0) + 1
    dups = [s for s, n in seen.items() if n != 1]
    assert not dups, f"seqs stored more than once: {dups[:20]}"
    top = max(seen)
    missing = [s for s in range(top + 1) if s not in seen]
    assert not missing, f"seqs neither stored nor counted lost: {missing[:20]}"
    return top + 1, sum(r["lost"] for r in recs if "lost" in r)


def test_collector_discovery_logs(t, accel):
    """3 instances discovered; logs complete by seq; ps/logs CLI; threads; token checks."""
    base, root, state = setup(t)
    names = ["c1", "c2", "c3"]
    sc = t.scale(accel)
    try:
        for n in names:
            start_instance(t, root, n, accel=accel)
        cd = Collector(t, root, state)
        insts = cd.wait(lambda i: all(n in i and i[n]["state"] == "running"
                                      and i[n]["log"]["klog_next"] > 5 and i[n]["build_id"]
                                      for n in names), "3 running instances", 30 * sc)
        # the demo's "threads started" line is in every store
        cd.wait(lambda i: all(any("threads started" in r.get("text", "")
                                  for r in store_records(state, n)) for n in names),
                "the demo started in every instance", 30 * sc)
        for n in names:
            i = insts[n]
            assert i["accel"] == accel and i["mem_mib"] == 32 and i["smp"] == 1, i
            assert any(p["guest"] == 8080 for p in i["ports"]), i
            assert i["uptime_s"] >= 0 and i["restarts"] == 0, i
            assert len(i["build_id"]) == 40, i
        # logs by seq, complete from 0
        logs = cd.get("/api/v1/instances/c1/logs?since=0")
        seqs = [r["seq"] for r in logs["records"] if "seq" in r]
        assert seqs == list(range(len(seqs))) and len(seqs) > 5, seqs[:50]
        assert logs["klog_lost"] == 0
        assert any("threads started" in r["text"] for r in logs["records"]), logs["records"][-5:]
        r = logs["records"][-1]
        for k in ("instance", "boot_id", "seq", "time_ns", "severity", "cpu", "thread", "text"):
            assert k in r, (k, r)
        since = cd.get("/api/v1/instances/c1/logs?since=3")["records"]
        assert since and since[0]["seq"] == 3, since[:2]
        th = cd.get("/api/v1/instances/c2/threads")["threads"]
        assert {"main", "ticker"} <= {x["name"] for x in th}, th
        env = {"UKCOLLECTD_ADDR": cd.addr}
        ps = json.loads(run([t.build / "bin/ukctl", "ps", "--json"], env=env).stdout)
        assert sorted(i["name"] for i in ps) == names, ps
        out = run([t.build / "bin/ukctl", "logs", "c3"], env=env).stdout
        assert "threads started" in out, out[-2000:]
        # follow (Server-Sent Events): the backlog from --since, then it keeps waiting
        try:
            subprocess.run([str(t.build / "bin/ukctl"), "logs", "-f", "--json", "--since", "2",
                            "c2"], env=dict(os.environ, **env), capture_output=True, timeout=3)
            raise AssertionError("ukctl logs -f ended on its own")
        except subprocess.TimeoutExpired as e:
            follow = [json.loads(x) for x in (e.stdout or b"").decode().splitlines()]
        assert follow and follow[0]["seq"] == 2 and follow[0]["instance"] == "c2", follow[:2]
        assert [r["seq"] for r in follow] == list(range(2, 2 + len(follow))), follow[:5]
        # no collector: ps/logs from the run dirs
        ps = json.loads(run([t.build / "bin/ukctl", "ps", "--json", "--root", root]).stdout)
        assert sorted(i["name"] for i in ps) == names, ps
        out = run([t.build / "bin/ukctl", "logs", root / "c3"],
                  env={"UKCOLLECTD_ADDR": "127.0.0.1:1"}).stdout
        assert "threads started" in out, out[-2000:]
        out = run([t.build / "bin/ukctl", "logs", "--source", "console", root / "c3"],
                  env={"UKCOLLECTD_ADDR": "127.0.0.1:1"}).stdout
        assert out == (root / "c3" / "console.log").read_text()[:len(out)] and out, out[-500:]
        # tokens: none -> 401, wrong -> 403, right -> accepted (a bad body: 400)
        token = (state / "token").read_text().strip()
        assert (state / "token").stat().st_mode & 0o777 == 0o600
        assert state.stat().st_mode & 0o777 == 0o700
        assert cd.request("/api/v1/instances/c1/stop", "POST")[0] == 401
        assert cd.request("/api/v1/instances/c1/stop", "POST", token="x" * len(token))[0] == 403
        assert cd.request("/api/v1/instances/c1/stop", "POST", token=token[:-1])[0] == 403
        assert cd.request("/api/v1/instances", "POST", token=token, body={"name": "x"})[0] == 400
        assert cd.instances()["c1"]["state"] == "running", "c1 stopped by a rejected request"
        st, body = cd.request("/api/v1/instances/c1/stop", "POST", token=token)
        assert st == 202, (st, body)
        cd.wait(lambda i: i["c1"]["state"] == "exited", "c1 exited after an API stop", 30 * sc)
        # killing the daemon leaves the instances running; a new one re-adopts them
        cd.kill9()
        cd.start()
        insts = cd.wait(lambda i: i.get("c2", {}).get("state") == "running"
                        and i.get("c3", {}).get("state") == "running", "re-adoption", 30 * sc)
        # an instance stopped by hand (run dir removed) is forgotten
        run([t.build / "bin/ukctl", "stop", root / "c3"], timeout=60)
        cd.wait(lambda i: "c3" not in i and "c2" in i, "c3 forgotten", 30 * sc)
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_kill9_burst(t):
    """kill -9 of the daemon during a 10 000-line burst: every seq once, or counted lost."""
    base, root, state = setup(t)
    try:
        start_instance(t, root, "burst", "demo.log_burst=10000 demo.log_batch=8")
        cd = Collector(t, root, state)
        cd.wait(lambda i: i.get("burst", {}).get("log", {}).get("klog_next", 0) > 1500,
                "the burst under way", 60)
        cd.kill9()
        t.log(f"killed at {len(store_records(state, 'burst'))} records")
        time.sleep(2.5)  # the guest keeps logging: up to ~2000 lines meanwhile
        cd.start()
        cd.wait(lambda i: any("burst done" in r.get("text", "")
                              for r in store_records(state, "burst")[-20:]), "burst done", 120)
        recs = store_records(state, "burst")
        total, lost = check_exactly_once(recs)
        lines = {int(r["text"].split()[3]) for r in recs
                 if "seq" in r and r["text"].startswith("demo: burst line ")}
        t.log(f"{total} seqs, {lost} lost, {len(lines)} burst lines stored")
        assert len(lines) + lost >= 10000, (len(lines), lost)
        i = cd.instances()["burst"]
        assert i["log"]["klog_lost"] == lost, (i["log"], lost)
        m = cd.get("/metrics")
        assert f'ukcollectd_log_records_lost_total{{instance="burst"}} {lost}' in m
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_final_drain(t):
    """The lines a guest logged between the last tick and its end are stored: `ukctl stop`
    (run dir and RAM file removed) between two ticks of a 5 s interval; the final pass reads
    them from the still-mapped RAM."""
    base, root, state = setup(t)
    try:
        start_instance(t, root, "fin", "demo.log_burst=100000 demo.log_batch=1 "
                       "demo.log_delay_ms=0")
        time.sleep(1)
        cd = Collector(t, root, state, ["--interval", "5000"])
        time.sleep(0.5)  # the first tick (at start) has read the ring

        def burst():
            return [r for r in store_records(state, "fin")
                    if r.get("text", "").startswith("demo: burst line ")]
        n0 = len(burst())
        assert n0 > 0, "the first tick stored nothing"
        time.sleep(2.5)  # ~250 more lines, all within the ring, no tick meanwhile
        run([t.build / "bin/ukctl", "stop", root / "fin"], timeout=60)
        assert not (root / "fin").exists()
        deadline = time.monotonic() + 15
        while "fin: run dir gone, forgotten" not in cd.log.read_text():
            assert time.monotonic() < deadline, cd.log.read_text()[-2000:]
            time.sleep(0.2)
        n1 = len(burst())
        t.log(f"{n0} burst lines at the first tick, {n1} after the final pass")
        assert n1 - n0 >= 100, (n0, n1)
        check_exactly_once(store_records(state, "fin"))
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_follow_rotation(t):
    """An SSE follower (logs?follow=1) misses no record while the store rotates under it
    (--store-max 1: a 12 000-line burst rotates log.jsonl several times)."""
    import threading
    base, root, state = setup(t)
    got, stop = [], threading.Event()
    try:
        start_instance(t, root, "rot", "demo.log_burst=12000 demo.log_batch=16 "
                       "demo.log_delay_ms=2000")
        cd = Collector(t, root, state, ["--store-max", "1", "--interval", "250"])
        cd.wait(lambda i: i.get("rot", {}).get("state") == "running", "running")

        def follow():
            req = urllib.request.Request(
                f"http://{cd.addr}/api/v1/instances/rot/logs?follow=1&since=0")
            with urllib.request.urlopen(req, timeout=60) as r:
                for line in r:
                    if line.startswith(b"data: "):
                        rec = json.loads(line[6:])
                        got.append(rec)
                        if "burst done" in rec.get("text", "") or stop.is_set():
                            return
        th = threading.Thread(target=follow, daemon=True)
        th.start()
        th.join(120)
        stop.set()
        assert not th.is_alive(), f"follower did not see the burst end ({len(got)} records)"
        rotated = state / "instances" / "rot" / "log.jsonl.1"
        assert rotated.exists(), "the store never rotated"
        recs = [r for r in got if r["source"] == "klog"]
        total, lost = check_exactly_once(recs)
        t.log(f"{len(got)} records followed, klog seqs 0..{total - 1}, {lost} lost")
        burst = {int(r["text"].split()[3]) for r in recs
                 if r.get("text", "").startswith("demo: burst line ")}
        assert len(burst) + lost >= 12000, (len(burst), lost)
        # SIGTERM with a follower waiting (a suspended connection): a clean exit (it was
        # an abort in libmicrohttpd, before the stores' last commit)
        idle = socket.create_connection(("127.0.0.1", cd.port))
        idle.sendall(b"GET /api/v1/instances/rot/logs?follow=1&since=999999 HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")
        time.sleep(1.5)
        cd.proc.terminate()
        rc = cd.proc.wait(10)
        idle.close()
        assert rc == 0, (rc, cd.log.read_text()[-1000:])
    finally:
        stop.set()
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def fake_silent_instance(t, root, name):
    """A run dir whose QEMU is a sleeping process and whose QMP socket accepts and never
    answers."""
    d = root / name
    d.mkdir(mode=0o700)
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    t._track(sleeper)
    st = Path(f"/proc/{sleeper.pid}/stat").read_text()
    start = int(st[st.rindex(")") + 2:].split()[19])
    (d / "instance.json").write_text(json.dumps({
        "name": name, "pid": sleeper.pid, "qemu_start_time": start,
        "qemu_exe": os.readlink(f"/proc/{sleeper.pid}/exe"), "accel": "tcg", "smp": 1,
        "mem_mib": 32, "run_dir": str(d), "qmp_socket": str(d / "qmp-tools.sock"),
        "image": "/nonexistent", "ports": []}))
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(d / "qmp-collector.sock"))
    srv.listen(16)
    return srv


def test_collector_hostile_guest(t):
    """A klog ring rewritten with random bytes and a QMP socket that never answers: counted
    errors, the other instances keep flowing."""
    base, root, state = setup(t)
    try:
        for n in ("good", "bad", "trunc", "loop"):
            start_instance(t, root, n)
        srv = fake_silent_instance(t, root, "silent")
        cd = Collector(t, root, state)
        cd.wait(lambda i: all(i.get(n, {}).get("log", {}).get("klog_next", 0) > 10
                              for n in ("good", "bad", "loop")), "all logging")
        ram = (root / "bad" / "ram").read_bytes()
        off = ram.find(KLOG_MAGIC)
        assert off >= 0 and off % 8 == 0, off
        with open(root / "bad" / "ram", "r+b") as f:
            f.seek(off)
            f.write(random.Random(1).randbytes(64 * 1024))
        os.truncate(root / "trunc" / "ram", 4096)  # under the collector's (and QEMU's) mapping
        # looping sequence numbers: the ring's head (offset 24) set back to 3
        lram = (root / "loop" / "ram").read_bytes()
        loff = lram.find(KLOG_MAGIC)
        with open(root / "loop" / "ram", "r+b") as f:
            f.seek(loff + 24)
            f.write((3).to_bytes(8, "little"))
        good0 = cd.instances()["good"]["log"]["klog_next"]
        i = cd.wait(lambda i: i["bad"]["errors"]["klog"] > 0 and i["silent"]["errors"]["qmp"] > 0
                    and i["good"]["log"]["klog_next"] > good0
                    and (i["trunc"]["errors"]["klog"] + i["trunc"]["errors"]["ram"] > 0
                         or i["trunc"]["state"] == "exited")
                    and i["loop"]["errors"]["klog"] > 0, "counted errors", 60)
        t.log(f"truncated RAM: {i['trunc']['state']}, errors {i['trunc']['errors']}")
        assert i["good"]["errors"]["klog"] == 0 and i["good"]["errors"]["qmp"] == 0, i["good"]
        assert i["silent"]["state"] == "running", i["silent"]  # alive by /proc
        m = cd.get("/metrics")
        assert 'ukcollectd_read_errors_total{instance="bad",source="klog"}' in m
        log = cd.log.read_text()
        assert "bad: Failed to read the klog source" in log, log[-2000:]
        assert "silent: QMP: no answer" in log, log[-2000:]
        assert "loop: Failed to read the klog source: ring head" in log, log[-2000:]
        # the loop instance's store still holds each seq once
        check_exactly_once(store_records(state, "loop"))
        assert cd.proc.poll() is None, "the daemon died"
        srv.close()
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _telemetry_frame(seq, klog_seq, text, iid=b"fake"):
    """A length-prefixed Envelope{instance_id, seq, log: LogRecord{severity 6, time_ns, text,
    klog_seq}} in protobuf wire format (guest-agent/common/telemetry.proto)."""
    log = (b"\x08\x06" + b"\x10" + _varint(1000 + klog_seq) + b"\x2a" + _varint(len(text)) + text
           + b"\x30" + _varint(klog_seq))
    body = (b"\x0a" + _varint(len(iid)) + iid + b"\x10" + _varint(seq) + b"\x52"
            + _varint(len(log)) + log)
    return _varint(len(body)) + body


def test_collector_telemetry_live(t):
    """Live lines from the telemetry stream; garbage, an oversized frame and a record far
    beyond the ring in one instance's stream: counted errors and a log line, its good records
    stored by seq, and a real guest beside it keeps flowing."""
    base, root, state = setup(t)
    srv = None
    try:
        start_instance(t, root, "good")
        fake_silent_instance(t, root, "fake").close()  # its QMP stays silent (not listening)
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(str(root / "fake" / "telemetry.sock"))
        srv.listen(1)
        srv.settimeout(15)
        cd = Collector(t, root, state)
        conn, _ = srv.accept()
        good0 = cd.wait(lambda i: i.get("good", {}).get("log", {}).get("klog_next", 0) > 5,
                        "good logging")["good"]["log"]["klog_next"]
        conn.sendall(_telemetry_frame(0, 0, b"live zero") + _telemetry_frame(1, 1, b"live one"))
        conn.sendall(random.Random(7).randbytes(4096))                 # garbage
        conn.sendall(_varint(2 << 20) + bytes(200))                    # a 2 MiB frame claimed
        conn.sendall(_telemetry_frame(10, 2, b"live two after garbage"))
        conn.sendall(_telemetry_frame(11, 3, b"\x01bad\xffbytes"))
        conn.sendall(_telemetry_frame(12, 5_000_000, b"far beyond the ring"))
        conn.sendall(_telemetry_frame(13, 4, b"live four"))
        i = cd.wait(lambda i: len([r for r in store_records(state, "fake") if "seq" in r]) >= 5
                    and i["fake"]["errors"]["telemetry"] >= 2
                    and i["good"]["log"]["klog_next"] > good0, "live records and counted errors")
        texts = {r["seq"]: r["text"] for r in store_records(state, "fake") if "seq" in r}
        assert texts == {0: "live zero", 1: "live one", 2: "live two after garbage",
                         3: "?bad?bytes", 4: "live four"}, texts
        check_exactly_once(store_records(state, "fake"))
        assert i["good"]["errors"]["telemetry"] == 0, i["good"]
        log = cd.log.read_text()
        assert "fake: Failed to decode the telemetry stream" in log, log[-2000:]
        assert "fake: telemetry record seq 5000000 is beyond" in log, log[-2000:]
        m = cd.get("/metrics")
        assert 'ukcollectd_read_errors_total{instance="fake",source="telemetry"}' in m
        assert cd.proc.poll() is None, "the daemon died"
        conn.close()
    finally:
        if srv:
            srv.close()
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_telemetry_stream(t, accel):
    """A real guest's lines arrive through its telemetry stream between ticks: with a 60 s
    interval, a burst logged after the first tick is stored within seconds, every seq once."""
    base, root, state = setup(t)
    try:
        # the burst starts 4 s after boot (real time), well after the daemon's first tick
        start_instance(t, root, "tl", "demo.log_burst=200 demo.log_batch=1 "
                       "demo.log_delay_ms=4000", accel=accel)
        cd = Collector(t, root, state, ["--interval", "60000"])
        followed = []

        def follow():  # an SSE follower sees live lines too, not only at ticks
            url = f"http://{cd.addr}/api/v1/instances/tl/logs?follow=1&since=0"
            with urllib.request.urlopen(url, timeout=55) as r:
                for line in r:
                    if line.startswith(b"data: "):
                        followed.append(json.loads(line[6:]))
                        if "burst done" in followed[-1].get("text", ""):
                            return
        import threading
        th = threading.Thread(target=follow, daemon=True)
        th.start()
        deadline = time.monotonic() + 50  # before the second tick, at 60 s
        while not any("burst done" in r.get("text", "") for r in store_records(state, "tl")):
            assert time.monotonic() < deadline, (cd.instances()["tl"], cd.log.read_text()[-2000:])
            time.sleep(0.3)
        th.join(max(1, deadline - time.monotonic()))
        assert followed and "burst done" in followed[-1]["text"], followed[-3:]
        ticks = re.search(r"^ukcollectd_ticks_total (\d+)$", cd.get("/metrics"), re.M)
        assert ticks and ticks.group(1) == "1", ("a second tick ran", ticks)
        recs = store_records(state, "tl")
        total, lost = check_exactly_once(recs)
        t.log(f"{total} seqs by the stream after one tick, {lost} lost")
        assert lost == 0, lost
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_prometheus(t):
    """A real Prometheus: http_sd from /sd/prometheus (guests up) and the collector's /metrics
    with instance labels; two collectors (two roots: the multi-host story on loopback) in one
    Prometheus."""
    prom = Path("/usr/bin/prometheus")
    if not prom.exists():
        raise Skip("no /usr/bin/prometheus")
    base, root, state = setup(t)
    pp = None
    try:
        for n in ("p1", "p2"):
            start_instance(t, root, n)
        root2 = base / "root2"
        root2.mkdir(mode=0o700)
        start_instance(t, root2, "p3")
        cd = Collector(t, root, state)
        cd2 = Collector(t, root2, base / "state2")
        cd.wait(lambda i: all(i.get(n, {}).get("build_id") for n in ("p1", "p2")), "build ids")
        cd2.wait(lambda i: i.get("p3", {}).get("build_id"), "build id of p3")
        sd = cd.get("/sd/prometheus")
        assert sorted(g["labels"]["instance"] for g in sd) == ["p1", "p2"], sd
        port = free_port()
        cfg = base / "prometheus.yml"
        cfg.write_text(f"""
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: ukcollectd
    honor_labels: true
    static_configs: [{{targets: ['{cd.addr}', '{cd2.addr}']}}]
  - job_name: guests
    http_sd_configs: [{{url: 'http://{cd.addr}/sd/prometheus', refresh_interval: 5s}}]
""")
        pp = subprocess.Popen([str(prom), f"--config.file={cfg}",
                               f"--storage.tsdb.path={base / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=open(base / "prom.log", "wb"),
                              start_new_session=True)
        t._track(pp)

        def q(path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return json.loads(r.read())["data"]

        deadline = time.monotonic() + 60
        targets, series = None, None
        while time.monotonic() < deadline:
            try:
                targets = q("/api/v1/targets")["activeTargets"]
                series = q("/api/v1/query?query=ukscope_uptime_seconds%7Bjob%3D%22ukcollectd%22%7D")
            except OSError:
                time.sleep(1)
                continue
            up = {(x["labels"]["job"], x["labels"].get("instance")): x["health"] for x in targets}
            if (len(up) == 4 and all(h == "up" for h in up.values())
                    and {s["metric"]["instance"] for s in series["result"]} == {"p1", "p2", "p3"}):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"targets {json.dumps(targets)[:2000]}\nseries {series}\n"
                                 + (base / "prom.log").read_text()[-2000:])
        assert ("guests", "p1") in up and ("guests", "p2") in up, up
        for s in series["result"]:
            assert len(s["metric"]["build_id"]) == 40, s
        own = q("/api/v1/query?query=ukcollectd_log_records_stored")["result"]
        assert {s["metric"]["instance"] for s in own} == {"p1", "p2", "p3"}, own
    finally:
        if pp:
            pp.terminate()
            try:
                pp.wait(10)
            except subprocess.TimeoutExpired:
                pp.kill()
        stop_all(t, root)
        stop_all(t, base / "root2")
        for c in ("cd", "cd2"):
            if c in locals():
                locals()[c].stop()


def test_collector_fleet(t, accel):
    """ukctl fleet up/down through the API; restart policy after a QEMU is killed."""
    base, root, state = setup(t)
    sc = t.scale(accel)
    try:
        cd = Collector(t, root, state)
        env = {"UKCOLLECTD_ADDR": cd.addr, "UKCOLLECTD_TOKEN_FILE": state / "token"}
        r = run([t.build / "bin/ukctl", "fleet", "up", "--count", "2", "--name-prefix", "web",
                 "--mem", "32", "--accel", accel, "--restart", "always",
                 t.build / "kernel.elf"], env=env, timeout=60)
        assert r.stdout.split() == ["web-1", "web-2"], r.stdout
        i = cd.wait(lambda i: all(i.get(n, {}).get("state") == "running" for n in ("web-1", "web-2"))
                    and all(i[n]["pid"] for n in ("web-1", "web-2")), "fleet up", 60 * sc)
        assert i["web-1"]["managed"] and i["web-1"]["restart_policy"] == "always"
        assert i["web-1"]["accel"] == accel, i["web-1"]
        # the clock sync points a crash bundle's guest+host timeline needs
        assert "trace_sync_ms=1000" in (root / "web-1" / "instance.json").read_text()
        os.kill(i["web-1"]["pid"], signal.SIGKILL)
        old = i["web-1"]["boot_id"]
        cd.wait(lambda i: i["web-1"]["restarts"] == 1 and i["web-1"]["state"] == "running"
                and i["web-1"]["boot_id"] != old, "restart by policy", 60 * sc)
        r = run([t.build / "bin/ukctl", "fleet", "down"], env=env, timeout=60)
        assert sorted(r.stdout.split()) == ["web-1", "web-2"], r.stdout
        cd.wait(lambda i: not i, "fleet down", 60 * sc)
        assert not list(root.iterdir()), list(root.iterdir())
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_panic(t, accel):
    """A guest that panics (kept paused for post-mortem): state panicked from QMP, its log
    (the panic message) collected, not restarted."""
    base, root, state = setup(t)
    try:
        cd = Collector(t, root, state)
        run([t.build / "bin/ukctl", "run", "--detach", "--keep", "--name", "pan", "--run-dir",
             root / "pan", "--mem", "32", "--accel", accel, "--on-panic", "pause", "--cmdline",
             "test=panic_call", t.build / "kernel-test.elf"], timeout=60)
        i = cd.wait(lambda i: i.get("pan", {}).get("state") == "panicked", "panicked",
                    60 * t.scale(accel))
        assert i["pan"]["restarts"] == 0, i["pan"]
        recs = cd.get("/api/v1/instances/pan/logs?since=0&source=all")["records"]
        assert any("PANIC" in r.get("text", "").upper() for r in recs), recs[-5:]
        assert 'ukcollectd_instances{state="panicked"} 1' in cd.get("/metrics")
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_crash_bundles(t):
    """20 instances started through the collector (32 MiB, tcg, demo.load=0): 5 crash with
    #DE, 1 with a page fault, the rest keep running.  The collector writes one bundle per
    panic (ukctl crash capture --once) with its trace store's history, before a stop is
    allowed: `ukctl crash ls --json` shows 2 groups with counts 5 and 1; /metrics counts
    the panics and the bundles."""
    base, root, state = setup(t)
    cdir = base / "crashes"
    try:
        cd = Collector(t, root, state, env=dict(os.environ, UKSCOPE_CRASH_DIR=str(cdir)))
        env = {"UKCOLLECTD_ADDR": cd.addr, "UKCOLLECTD_TOKEN_FILE": state / "token"}
        groups = [("ok", 14, "demo.load=0"),
                  ("de", 5, "demo.load=0 fault=divide fault_delay_ms=3000"),  # QMP event
                  ("pf", 1, "demo.load=0 fault=pagefault")]  # often panicked before adoption
        for prefix, n, cmdline in groups:
            run([t.build / "bin/ukctl", "fleet", "up", "--count", str(n), "--name-prefix", prefix,
                 "--mem", "32", "--accel", "tcg", "--restart", "on-failure", "--cmdline", cmdline,
                 t.build / "kernel.elf"], env=env, timeout=120)
        crashed = [f"de-{k}" for k in range(1, 6)] + ["pf-1"]
        cd.wait(lambda i: len(i) == 20 and all(i[n]["state"] == "panicked" for n in crashed)
                and sum(v["state"] == "running" for v in i.values()) == 14, "6 panics", 180)
        m = cd.wait_metrics(lambda m: all(
            f'ukcollectd_crash_bundles_total{{instance="{n}"}} 1' in m for n in crashed),
            "a bundle per panic", 120)
        t.log(cd.log.read_text()[-4000:])
        assert 'ukcollectd_crash_bundles_total{instance="ok-1"} 0' in m
        assert all(f'ukcollectd_panics_total{{instance="{n}"}}' in m for n in crashed)
        ls = json.loads(run([t.build / "bin/ukctl", "crash", "--crash-dir", cdir, "ls", "--json"],
                            timeout=60).stdout)
        got = sorted((g["count"], g["instance_count"]) for g in ls["groups"].values())
        assert got == [(1, 1), (5, 5)], ls["groups"]
        reps = [json.loads((Path(b["path"]) / "report.json").read_text()) for b in ls["bundles"]]
        assert sorted(r["instance"]["name"] for r in reps) == sorted(crashed)
        snaps = [r["snapshots"] for r in reps]
        assert all(s["tracestore"] in ("ok", "none") for s in snaps), snaps
        assert any(s["tracestore"] == "ok" for s in snaps), snaps
        # the guest+host timeline, or why there is none (a guest that panicked before two
        # clock sync points, or before the collector saw its QEMU)
        assert all(r["timeline"]["status"] == "ok" or r["timeline"]["why"] for r in reps), \
            [r["timeline"] for r in reps]
        # a second look at the same panics (the daemon restarted) writes nothing new
        cd.stop()
        cd = Collector(t, root, state, env=dict(os.environ, UKSCOPE_CRASH_DIR=str(cdir)))
        cd.wait(lambda i: all(i.get(n, {}).get("state") == "panicked" for n in crashed),
                "re-adopt", 60)
        m = cd.wait_metrics(lambda m: all(
            f'ukcollectd_crash_bundles_claimed_total{{instance="{n}"}} 1' in m for n in crashed),
            "every panic claimed", 60)
        assert 'ukcollectd_crash_bundles_total{instance="de-1"} 0' in m, m
        ls = json.loads(run([t.build / "bin/ukctl", "crash", "--crash-dir", cdir, "ls", "--json"],
                            timeout=60).stdout)
        assert len(ls["bundles"]) == 6, [b["id"] for b in ls["bundles"]]
        # a foreground `ukctl run` under the collector: it and the daemon both see the panic,
        # one of them writes the bundle
        r = subprocess.run([str(t.build / "bin/ukctl"), "run", "--name", "fg", "--run-dir",
                            str(root / "fg"), "--mem", "32", "--accel", "tcg", "--no-net",
                            "--cmdline", "demo.load=0 fault=divide fault_delay_ms=2000",
                            str(t.build / "kernel.elf")], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, UKSCOPE_CRASH_DIR=str(cdir)))
        t.log(r.stderr[-1500:])
        assert ("crash bundle written" in r.stderr) != ("another process (ukcollectd)" in r.stderr)
        # (retention keeps 5 bundles per signature: the counts tell)
        time.sleep(3)  # the daemon's capture, had it claimed it too, would be done by now
        ls = json.loads(run([t.build / "bin/ukctl", "crash", "--crash-dir", cdir, "ls", "--json"],
                            timeout=60).stdout)
        assert sorted(g["count"] for g in ls["groups"].values()) == [1, 6], ls["groups"]
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_crash_loop(t):
    """An instance that exits at once, with restart=always: restarted with backoff, then
    crash-loop (no more restarts); the daemon's other work goes on.  A 100 ms first
    backoff (--restart-delay) keeps the five restarts within seconds."""
    from pvh_stub import write_pvh_elf
    base, root, state = setup(t)
    img = base / "exit.elf"
    write_pvh_elf(img, b"bye\n", status=3)
    try:
        cd = Collector(t, root, state, ["--restart-delay", "100"])
        token = (state / "token").read_text().strip()
        st, body = cd.request("/api/v1/instances", "POST", token=token,
                              body={"name": "crashy", "image": str(img), "mem_mib": 32,
                                    "accel": "tcg", "restart": "always"})
        assert st == 202, (st, body)
        i = cd.wait(lambda i: i["crashy"]["state"] == "crash-loop", "crash-loop", 180)
        assert i["crashy"]["restarts"] == 5, i["crashy"]
        time.sleep(3)
        assert cd.instances()["crashy"]["restarts"] == 5, "restarted after crash-loop"
        assert "crashy: crash loop" in cd.log.read_text()
        m = cd.get("/metrics")
        assert 'ukcollectd_restarts_total{instance="crashy"} 5' in m
        assert 'ukcollectd_instances{state="crash-loop"} 1' in m
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_relp(t):
    """Every stored klog record reaches a real rsyslogd over RELP, also across a kill -9 of
    the daemon during a burst (at least once; duplicates bounded and identifiable by seq)."""
    from rsyslogd import Rsyslogd, have_rsyslog_relp
    if not have_rsyslog_relp():
        raise Skip("rsyslog-relp (imrelp) not installed")
    base, root, state = setup(t)
    rs = Rsyslogd(base / "rsyslog", track=t._track)
    rs.start()
    try:
        start_instance(t, root, "r1", "demo.log_burst=3000 demo.log_batch=8")
        cd = Collector(t, root, state, ["--relp", f"127.0.0.1:{rs.port}"])
        cd.wait(lambda i: i.get("r1", {}).get("log", {}).get("klog_next", 0) > 800,
                "the burst under way", 60)
        cd.kill9()
        time.sleep(1)
        cd.start()
        cd.wait(lambda i: any("burst done" in r.get("text", "")
                              for r in store_records(state, "r1")[-20:]), "burst done", 120)
        stored = {r["seq"] for r in store_records(state, "r1") if "seq" in r}

        def arrived():
            got = {}
            for line in rs.out.read_bytes().split(b"\n") if rs.out.exists() else []:
                if b" klog " in line and b'instance="r1"' in line:
                    m = re.search(rb' seq="(\d+)"', line)
                    if m:
                        got[int(m.group(1))] = got.get(int(m.group(1)), 0) + 1
            return got

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stored <= set(arrived()):
            time.sleep(0.5)
        got = arrived()
        missing = sorted(stored - set(got))
        assert not missing, f"{len(missing)} stored records never reached rsyslog: {missing[:20]}"
        dups = sum(n - 1 for n in got.values())
        t.log(f"{len(stored)} stored, {len(got)} distinct at rsyslog, {dups} duplicates")
        assert dups <= 2000, dups  # one tick's batch + one RELP window at most
        m = cd.get("/metrics")
        assert "ukcollectd_log_records_forwarded_total" in m, m[-1500:]
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)
        rs.stop()


def test_collector_ipv6_listen(t):
    """--listen [::1]:PORT: the API over IPv6 loopback, ukctl ps through $UKCOLLECTD_ADDR in
    brackets; a non-loopback IPv6 address needs --allow-remote; a malformed one is refused."""
    base, root, state = setup(t)
    try:
        start_instance(t, root, "v6")
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", 0))
                port = s6.getsockname()[1]
        except OSError as e:
            raise Skip(f"no IPv6 loopback: {e}")
        cd = Collector(t, root, state, listen=f"[::1]:{port}")
        cd.wait(lambda i: i.get("v6", {}).get("state") == "running", "v6 running")
        # ps without --root only works through the collector
        ps = json.loads(run([t.build / "bin/ukctl", "ps", "--json"],
                            env={"UKCOLLECTD_ADDR": cd.addr}).stdout)
        assert [i["name"] for i in ps] == ["v6"], ps
        for listen, want in ((f"[::]:{free_port()}", "not loopback"),
                             ("[::1:80", "Failed to parse --listen"),
                             ("::1:80", "Failed to parse --listen")):
            r = subprocess.run([str(t.build / "bin/ukcollectd"), "--root", str(root), "--state",
                                str(base / "state2"), "--listen", listen],
                               capture_output=True, text=True, timeout=20)
            assert r.returncode != 0 and want in r.stderr, (listen, r.returncode, r.stderr)
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)


def test_collector_relp_keeps_up(t):
    """RELP forwarding keeps pace with the store at the default 1 s tick: a 4 000-line burst
    (~800 lines/s) is at rsyslog within 3 ticks of its last line being stored (one poll of
    256 records per tick took 10+ ticks)."""
    from rsyslogd import Rsyslogd, have_rsyslog_relp
    if not have_rsyslog_relp():
        raise Skip("rsyslog-relp (imrelp) not installed")
    base, root, state = setup(t)
    rs = Rsyslogd(base / "rsyslog", track=t._track)
    rs.start()
    try:
        start_instance(t, root, "k1", "demo.log_burst=4000 demo.log_batch=8")
        cd = Collector(t, root, state, ["--relp", f"127.0.0.1:{rs.port}"])

        def ticks():
            return int(re.search(r"^ukcollectd_ticks_total (\d+)$", cd.get("/metrics"),
                                 re.M).group(1))
        deadline = time.monotonic() + 90
        while not any("burst done" in r.get("text", "") for r in store_records(state, "k1")[-20:]):
            assert time.monotonic() < deadline, "no burst done"
            time.sleep(0.2)
        t0 = ticks()
        stored = {r["seq"] for r in store_records(state, "k1") if "seq" in r}

        def arrived():  # klog seqs of k1 in rsyslog's file
            return {int(m.group(1)) for m in re.finditer(
                rb'ukscope k1 klog \[ukscope@32473 [^\]]*? seq="(\d+)"', rs.out.read_bytes())}
        while not stored <= arrived():
            assert time.monotonic() < deadline + 60, len(stored - arrived())
            time.sleep(0.2)
        t1 = ticks()
        t.log(f"{len(stored)} records; at rsyslog {t1 - t0} ticks after the last was stored")
        assert t1 - t0 <= 3, (t0, t1)
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)
        rs.stop()


def test_collector_trace_api(t):
    """The flight recorder over the API: one instance's last seconds (json) and the fleet
    (Perfetto)."""
    base, root, state = setup(t)
    try:
        for n in ("t1", "t2"):
            start_instance(t, root, n)
        cd = Collector(t, root, state)
        cd.wait(lambda i: all(i.get(n, {}).get("state") == "running" for n in ("t1", "t2")),
                "running")
        deadline = time.monotonic() + 30
        while True:
            st, body = cd.request("/api/v1/instances/t1/trace?last=5&format=json")
            if st == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        if st == 501:
            raise AssertionError("ukcollectd built without the trace store")
        assert st == 200, (st, body[:500])
        assert b"traceEvents" in body or body.lstrip().startswith(b"["), body[:300]
        st, body = cd.request("/api/v1/trace?last=5")
        assert st == 200 and len(body) > 100, (st, body[:300])
        m = cd.get("/metrics")
        assert 'ukcollectd_trace_events_stored_total{instance="t1"}' in m, m[-2000:]
    finally:
        if "cd" in locals():
            cd.stop()  # first: a supervising daemon restarts what stop_all stops
        stop_all(t, root)
