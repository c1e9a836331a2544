#!/usr/bin/env python3
"""The web console's fleet page with hundreds of rows (issue 14): headless chromium on a
synthetic fleet (the collector serves the console, the /api/v1/fleet reply is replaced by
ROWS changing rows each second, sorted by CPU so rows move), for SECONDS per size:
animation-frame intervals (p50/p99/max) and long tasks (> 50 ms) as the page updates.

  tests/bench_dashboard.py [--build build] [--rows 100 500 1000] [--seconds 15]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))
from dashfleet import Fleet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--seconds", type=int, default=15)
    a = ap.parse_args()
    build = Path(a.build).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        f = Fleet(build, tmp)
        try:
            f.start_collector()
            env = dict(os.environ, NODE_PATH=str(build / "npm/node_modules"))
            print("console fleet page, synthetic fleet (headless chromium, 1 s updates, "
                  "sorted by CPU)")
            print(f"  {'rows':>6} {'frames':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
                  f"{'long tasks':>10} {'long ms':>8} {'updates':>7}")
            for n in a.rows:
                r = subprocess.run(["node", str(HERE / "lib/dash_bench.js"), f.url + "/", str(n),
                                    str(a.seconds)], capture_output=True, text=True, env=env,
                                   timeout=a.seconds + 120)
                if r.returncode:
                    sys.exit(f"bench_dashboard: Failed to run the browser: {r.stderr[-2000:]}")
                x = json.loads(r.stdout.strip().splitlines()[-1])
                assert x["rows"] == n, x
                print(f"  {n:>6} {x['frames']:>7} {x['p50_ms']:>7.1f} {x['p99_ms']:>7.1f} "
                      f"{x['max_ms']:>7.1f} {x['long_tasks']:>10} {x['long_task_ms']:>8.0f} "
                      f"{x['updates']:>7}")
        finally:
            f.stop()


if __name__ == "__main__":
    main()
