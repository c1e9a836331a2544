#!/usr/bin/env python3
"""`make demo` / `make demo-stop` (docs/dashboards.md): ukcollectd and an 8-instance
fleet of the demo image, two of which panic a minute after boot, and a Prometheus with
dashboards/prometheus/ when one is installed.  Everything lives in one directory
(default $XDG_RUNTIME_DIR/ukscope/dash-demo, else /tmp/ukscope-$UID/dash-demo); its
demo.json lists what to stop.

  dashboards/demo.py start [--build build] [--count 8] [--listen 127.0.0.1:9560]
  dashboards/demo.py stop
  dashboards/demo.py screenshot OUT.png   (a short fleet, the console's fleet page)
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "tests/lib"))
from dashfleet import Fleet, http  # noqa: E402


def demo_dir():
    rt = os.environ.get("XDG_RUNTIME_DIR")
    return Path(rt) / "ukscope/dash-demo" if rt else Path(f"/tmp/ukscope-{os.getuid()}/dash-demo")


def start_fleet(build, base, count, faulty, port, delay_ms=60000, prometheus=True, load=0):
    f = Fleet(build, base, port=port)
    f.start_collector()
    names = []
    for i in range(count):
        bad = i >= count - faulty
        name = f"faulty-{i - (count - faulty) + 1}" if bad else f"web-{i + 1}"
        cmdline = (f"demo.load=0 fault=panic fault_delay_ms={delay_ms}" if bad
                   else f"demo.load={load * (i % 3) // 2}")
        f.start_instance(name, cmdline=cmdline)
        names.append(name)
    if prometheus and shutil.which("prometheus"):
        f.start_prometheus(SRC / "dashboards/prometheus", interval="5s")
    return f, names


def cmd_start(a):
    base = demo_dir()
    if (base / "demo.json").exists():
        sys.exit(f"a demo is running ({base}/demo.json): make demo-stop first")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True, mode=0o700)
    host, port = a.listen.rsplit(":", 1)
    f, names = start_fleet(Path(a.build).resolve(), base, a.count, 2, int(port))
    (base / "demo.json").write_text(json.dumps({
        "root": str(f.root), "pids": [p.pid for p in f.procs], "url": f.url,
        "prometheus": f.prom_port}))
    ukctl = Path(a.build) / "bin/ukctl"
    env = f"UKCOLLECTD_ADDR={f.addr} UKCOLLECTD_TOKEN_FILE={f.state / 'token'}"
    print(f"""
ukscope demo: ukcollectd and {len(names)} instances under {f.root}
  ({", ".join(names)}; faulty-1 and faulty-2 panic about a minute after boot)

  web console     {f.url}/            (the API token: {f.state / 'token'})
  API             curl -s {f.url}/api/v1/fleet
  metrics         curl -s {f.url}/metrics | grep ukcollectd_vcpu""")
    if f.prom_port:
        print(f"  Prometheus      http://127.0.0.1:{f.prom_port}/alerts   (dashboards/prometheus rules)")
    print(f"""
  {env} {ukctl} ps
  {env} {ukctl} logs -f web-1
  UKSCOPE_CRASH_DIR={f.crash_dir} {ukctl} crash capture {f.root}/faulty-1
                          (after its panic: a bundle, then on the console's Crashes page)
  UKSCOPE_CRASH_DIR={f.crash_dir} {ukctl} crash ls
  make demo-stop          ends it all
""")


def cmd_stop(a):
    base = demo_dir()
    try:
        d = json.loads((base / "demo.json").read_text())
    except OSError:
        sys.exit(f"no demo running ({base}/demo.json not found)")
    root = Path(d["root"])
    for r in sorted(root.iterdir()) if root.exists() else []:
        if (r / "instance.json").exists():
            subprocess.run([str(Path(a.build) / "bin/ukctl"), "stop", str(r)],
                           capture_output=True, timeout=60)
    for pid in d["pids"]:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    (base / "demo.json").unlink()
    print(f"demo stopped ({base} kept: logs, crash bundles)")


def cmd_screenshot(a):
    """The fleet page of a small live fleet (one instance panicked) for README."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        f, names = start_fleet(Path(a.build).resolve(), Path(tmp), 6, 1, None, delay_ms=8000,
                               prometheus=False, load=10)
        stop = threading.Event()

        def traffic():  # a few requests per second to the demo's kv service
            ports = [f.guest_port(n) for n in names if n.startswith("web")]
            while not stop.is_set():
                for k, p in enumerate(ports):
                    for _ in range(k + 1):
                        http(f"http://127.0.0.1:{p}/kv/demo", "PUT", body=b"x", timeout=2)
                time.sleep(0.3)
        th = threading.Thread(target=traffic, daemon=True)
        try:
            f.wait(lambda: f.fleet().get("faulty-1", {}).get("state") == "panicked",
                   "the faulty instance to panic", 120)
            subprocess.run([str(Path(a.build) / "bin/ukctl"), "crash", "capture",
                            str(f.root / "faulty-1")], env=f.env, capture_output=True,
                           timeout=150)
            th.start()
            time.sleep(4)
            env = dict(os.environ, NODE_PATH=str(Path(a.build).resolve() / "npm/node_modules"))
            subprocess.run(["node", str(SRC / "tests/lib/dash_shot.js"), f.url + "/",
                            str(Path(a.out).resolve())], check=True, env=env, timeout=120)
            print(f"wrote {a.out}")
        finally:
            stop.set()
            f.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cmd", choices=["start", "stop", "screenshot"])
    ap.add_argument("out", nargs="?", default="docs/img/fleet.png")
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--listen", default="127.0.0.1:9560")
    a = ap.parse_args()
    {"start": cmd_start, "stop": cmd_stop, "screenshot": cmd_screenshot}[a.cmd](a)


if __name__ == "__main__":
    main()
