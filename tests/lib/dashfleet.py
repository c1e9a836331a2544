"""A small real fleet for the dashboard tests and `make demo`: ukcollectd on a
free loopback port over a root of `ukctl run --detach` instances (demo image,
32 MiB, tcg, `demo.load=0` so a 2-core host stays responsive), and a real
Prometheus with dashboards/prometheus/ (docs/dashboards.md).

Processes are started in their own sessions; stop() ends what was started.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(url, method="GET", token=None, body=None, timeout=10, headers=None):
    """(status, body bytes, headers); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, method=method, data=body)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class Fleet:
    def __init__(self, build, base, track=None, port=None, log=print):
        self.build, self.base = Path(build), Path(base)
        self.root, self.state = self.base / "root", self.base / "state"
        self.crash_dir = self.base / "crashes"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.addr}"
        self.track = track or (lambda p: None)
        self.log = log
        self.env = dict(os.environ, UKSCOPE_CRASH_DIR=str(self.crash_dir))
        self.procs = []
        self.prom = None
        self.prom_port = None

    def _spawn(self, cmd, logname):
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL,
                             stderr=open(self.base / logname, "ab"), stdin=subprocess.DEVNULL,
                             env=self.env, start_new_session=True)
        self.track(p)
        self.procs.append(p)
        return p

    def start_collector(self):
        self.cd = self._spawn([self.build / "bin/ukcollectd", "--root", self.root, "--state",
                               self.state, "--listen", self.addr], "ukcollectd.log")
        self.wait(lambda: http(self.url + "/api/v1/instances")[0] == 200, "ukcollectd", 15)
        self.token = (self.state / "token").read_text().strip()

    def start_instance(self, name, cmdline="demo.load=0", smp=1, mem=32, accel="tcg",
                       on_panic="pause"):
        cmd = [self.build / "bin/ukctl", "run", "--detach", "--keep", "--name", name,
               "--run-dir", self.root / name, "--mem", mem, "--smp", smp, "--accel", accel,
               "--on-panic", on_panic, "--cmdline", cmdline, self.build / "kernel.elf"]
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=90,
                           env=self.env, stdin=subprocess.DEVNULL)
        if r.returncode:
            raise AssertionError(f"Failed to start {name}: {r.stderr[-2000:]}")
        return self.root / name

    def instance_meta(self, name):
        return json.loads((self.root / name / "instance.json").read_text())

    def guest_port(self, name, guest=8081):
        """The host port forwarded to a guest port (8080 agent, 8081 demo kv)."""
        for p in self.instance_meta(name).get("ports", []):
            if p.get("guest") == guest:
                return p["host"]
        raise AssertionError(f"{name}: no host port for guest port {guest}")

    def guest_token(self, name):
        return (self.root / name / "token").read_text().strip()

    def fault(self, name, fault="panic"):
        st, body, _ = http(f"http://127.0.0.1:{self.guest_port(name)}/fault/{fault}", "POST",
                           token=self.guest_token(name), body=b"")
        return st, body

    def get(self, path):
        st, body, _ = http(self.url + path)
        if st != 200:
            raise AssertionError(f"{path}: {st} {body[:300]!r}")
        return json.loads(body) if not path.startswith("/metrics") else body.decode()

    def fleet(self):
        return {r["name"]: r for r in self.get("/api/v1/fleet")["instances"]}

    def wait(self, cond, what, timeout=60, every=0.5):
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = cond()
            except (OSError, AssertionError, ValueError):
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(every)

    def start_prometheus(self, src_dir, interval="2s"):
        """A Prometheus with dashboards/prometheus/'s rules and scrape jobs, pointed at this
        collector (the address and intervals substituted)."""
        d = self.base / "prometheus"
        d.mkdir(exist_ok=True)
        cfg = (Path(src_dir) / "prometheus.yml").read_text()
        cfg = cfg.replace("127.0.0.1:9560", self.addr)
        cfg = re.sub(r"(scrape_interval|evaluation_interval): \S+", rf"\1: {interval}", cfg)
        cfg = re.sub(r"scrape_timeout: \S+", "scrape_timeout: 1s", cfg)
        cfg = re.sub(r"refresh_interval: \S+", "refresh_interval: 5s", cfg)
        (d / "prometheus.yml").write_text(cfg)
        (d / "ukscope.rules.yml").write_text((Path(src_dir) / "ukscope.rules.yml").read_text())
        self.prom_port = free_port()
        self.prom = self._spawn(["prometheus", f"--config.file={d / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={d / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{self.prom_port}"],
                                "prometheus.log")
        self.wait(lambda: http(f"http://127.0.0.1:{self.prom_port}/-/ready")[0] == 200,
                  "prometheus ready", 30)
        return self.prom_port

    def promql(self, query):
        q = urllib.parse.urlencode({"query": query})
        st, body, _ = http(f"http://127.0.0.1:{self.prom_port}/api/v1/query?{q}")
        return st, json.loads(body)

    def stop(self):
        # the daemons first: a supervising collector restarts what `ukctl stop` stops
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for d in sorted(self.root.iterdir()) if self.root.exists() else []:
            if (d / "instance.json").exists():
                subprocess.run([str(self.build / "bin/ukctl"), "stop", str(d)],
                               capture_output=True, timeout=60, env=self.env)

