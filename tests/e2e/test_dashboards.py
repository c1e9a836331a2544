"""dashboards/ (docs/dashboards.md): the Prometheus config and alert rules
checked and unit-tested with promtool, and the Grafana dashboard's every
query run against a real Prometheus that scraped a real collector and fleet.
"""
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from dashfleet import Fleet, http
from harness import Skip, run

PROM_DIR = "dashboards/prometheus"
RULES = "ukscope.rules.yml"


def promtool():
    p = shutil.which("promtool")
    if not p:
        raise Skip("no promtool (Debian package prometheus)")
    return p


def alert_names(text):
    return re.findall(r"^\s*- alert: (\w+)", text, re.M)


def without_alert(text, name):
    """The rules file with one alert's block removed."""
    lines, out, skip = text.splitlines(keepends=True), [], False
    for line in lines:
        m = re.match(r"^\s*- alert: (\w+)", line)
        if m:
            skip = m.group(1) == name
        if not skip:
            out.append(line)
    return "".join(out)


def test_prometheus_rules(t):
    """promtool check config / check rules / test rules pass, and the unit tests have teeth:
    with any one alert removed from the rules, `promtool test rules` fails (each alert is
    expected to fire somewhere), and every alert is also asserted silent on the healthy
    fleet."""
    pt = promtool()
    src = t.root / PROM_DIR
    r = run([pt, "check", "config", src / "prometheus.yml"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([pt, "check", "rules", src / RULES], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([pt, "test", "rules", "ukscope.rules.test.yml"], cwd=src, check=False)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr

    rules = (src / RULES).read_text()
    tests = (src / "ukscope.rules.test.yml").read_text()
    names = alert_names(rules)
    want = {"UkscopeInstanceDown", "UkscopeCrashLooping", "UkscopePanics",
            "UkscopeLogRecordsLost", "UkscopeTraceEventsLost", "UkscopeHeapNearLimit",
            "UkscopeHighSteal", "UkscopeHttp5xxRate"}
    assert want <= set(names), sorted(want - set(names))
    healthy = tests.split("\n  - interval")[1]
    for n in names:
        assert f"alertname: {n}, exp_alerts: []" in healthy, f"{n} not checked silent when healthy"
    d = t.tmpdir()
    shutil.copy(src / "ukscope.rules.test.yml", d)
    for n in names:
        (d / RULES).write_text(without_alert(rules, n))
        r = run([pt, "test", "rules", "ukscope.rules.test.yml"], cwd=d, check=False)
        assert r.returncode != 0, f"the unit tests still pass without {n}: it never fires"
        t.log(f"without {n}: promtool test rules fails as it should")


def dashboard_queries(dash):
    """(panel title, expr) of every target of every panel, rows' panels included."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for tg in p.get("targets", []):
                if tg.get("expr"):
                    out.append((p["title"], tg["expr"]))
    walk(dash["panels"])
    return out


def substitute(expr, variables):
    for k in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + k + "}", variables[k]).replace("$" + k, variables[k])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def test_grafana_queries(t):
    """The Grafana dashboard against a real Prometheus (dashboards/prometheus/prometheus.yml
    with its rules) that scraped a real ukcollectd and 3 demo guests for a while: the instance
    variable's query lists the fleet; every panel's PromQL, with the variables substituted
    (one instance, two, All), parses and returns data; the alert rules load and evaluate
    without error and every metric they name exists."""
    if not shutil.which("prometheus"):
        raise Skip("no prometheus (Debian package prometheus)")
    dash = json.loads((t.root / "dashboards/grafana/ukscope-fleet.json").read_text())
    queries = dashboard_queries(dash)
    assert len(queries) >= 20, queries
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), ids
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
    tv = {v["name"]: v for v in dash["templating"]["list"]}
    assert tv["datasource"]["type"] == "datasource" and tv["instance"]["multi"], tv
    assert any("$instance" in e for _, e in queries), "no panel drills down by $instance"
    names = ["gq-1", "gq-2", "gq-3"]
    f = Fleet(t.build, t.tmpdir(), track=t._track, log=t.log)
    try:
        f.start_collector()
        for i, n in enumerate(names):
            f.start_instance(n, smp=2 if i == 0 else 1)
        f.wait(lambda: all(r["state"] == "running" and r.get("vcpus_seen")
                           for r in f.fleet().values()) and len(f.fleet()) == 3,
               "3 running instances with vCPU threads", 90)
        f.start_prometheus(t.root / PROM_DIR)
        for n in names:  # some demo traffic: kv_requests_total gets its series
            port = f.guest_port(n)
            for k in range(3):
                http(f"http://127.0.0.1:{port}/kv/k{k}", "PUT", body=b"v")
                http(f"http://127.0.0.1:{port}/kv/k{k}")

        def targets_up():
            st, j = f.promql("up")
            ups = {(r["metric"]["job"], r["metric"].get("instance")): r["value"][1]
                   for r in j["data"]["result"]}
            return len(ups) == 4 and all(v == "1" for v in ups.values())
        f.wait(targets_up, "the collector and 3 guests scraped", 90)
        time.sleep(45)  # a few rate windows of samples

        st, j = f.promql("ukcollectd_instance_info")
        prom = f"http://127.0.0.1:{f.prom_port}"
        with urllib.request.urlopen(prom + "/api/v1/label/instance/values?match[]="
                                    + urllib.parse.quote("ukcollectd_instance_info")) as r:
            values = json.loads(r.read())["data"]
        assert sorted(values) == names, values

        failures = []
        for variables in ({"instance": "gq-1"}, {"instance": "(gq-1|gq-2)"},
                          {"instance": ".+"}):
            variables.update({"__rate_interval": "30s", "__interval": "10s",
                              "datasource": "prometheus"})
            for title, expr in queries:
                q = substitute(expr, variables)
                st, j = f.promql(q)
                res = j.get("data", {}).get("result")
                if st != 200 or j.get("status") != "success":
                    failures.append(f"{title}: {q}: {st} {j.get('error')}")
                elif not res:
                    failures.append(f"{title}: {q}: no data")
        assert not failures, "\n".join(failures)
        t.log(f"{len(queries)} queries x 3 variable sets returned data")

        with urllib.request.urlopen(prom + "/api/v1/rules") as r:
            groups = json.loads(r.read())["data"]["groups"]
        rules = [x for g in groups for x in g["rules"]]
        assert len(rules) == len(alert_names((t.root / PROM_DIR / RULES).read_text())), rules
        bad = [(x["name"], x.get("lastError")) for x in rules if x.get("health") != "ok"]
        assert not bad, bad
        metrics = set(re.findall(r"\b((?:ukcollectd|ukscope|kv)_[a-z_]+)",
                                 (t.root / PROM_DIR / RULES).read_text()))
        missing = [m for m in sorted(metrics)
                   if not f.promql(f'count({{__name__="{m}"}})')[1]["data"]["result"]]
        assert not missing, f"rules name metrics nobody exports: {missing}"
    finally:
        f.stop()


def test_console_data(t, accel):
    """The collector's console data from real guests: the host view finds every vCPU thread
    (vcpus_seen == smp, /metrics has one run/steal series per vCPU), a guest kept busy
    (demo.load=60) shows more host CPU than an idle one, steal is a share (0-100 % per
    vCPU); the 1 s history has a CPU column per vCPU and grows; the thread table carries
    states and run times."""
    f = Fleet(t.build, t.tmpdir(), track=t._track, log=t.log)
    try:
        f.start_collector()
        f.start_instance("idle", cmdline="demo.load=0", smp=2, accel=accel)
        f.start_instance("busy", cmdline="demo.load=60", smp=1, accel=accel)
        rows = f.wait(lambda: (lambda r: len(r) == 2 and all(x.get("vcpus_seen") for x in
                                                             r.values()) and r)(f.fleet()),
                      "host view of both", 60 * t.scale(accel))
        assert rows["idle"]["vcpus_seen"] == 2 and rows["busy"]["vcpus_seen"] == 1, rows
        time.sleep(4)
        cpu = {n: [] for n in rows}
        for _ in range(5):
            for n, r in f.fleet().items():
                cpu[n].append(r["cpu_pct"])
                assert 0 <= r["steal_pct"] <= 100 * r["vcpus_seen"] + 5, r
            time.sleep(1)
        med = {n: sorted(v)[2] for n, v in cpu.items()}
        t.log(f"median host CPU %: {med}")
        assert med["busy"] > 10 and med["busy"] > 3 * med["idle"], med
        m = f.get("/metrics")
        for n, k in (("idle", 2), ("busy", 1)):
            for kind in ("run", "steal"):
                got = re.findall(rf'^ukcollectd_vcpu_{kind}_seconds_total{{instance="{n}",'
                                 rf'vcpu="(\d+)"}} [0-9.]+$', m, re.M)
                assert sorted(got) == [str(v) for v in range(k)], (n, kind, got)
        h1 = f.get("/api/v1/instances/idle/history")
        assert len(h1["cpu"]) == 2 and len(h1["t_ms"]) >= 5, h1
        assert all(len(c) == len(h1["t_ms"]) for c in h1["cpu"] + [h1["heap"], h1["log_s"]])
        # heap from the guest's metrics page, once the guest has published it
        f.wait(lambda: f.get("/api/v1/instances/idle/history")["heap"][-1] > 0,
               "the heap in the history", 30 * t.scale(accel))
        last = h1["t_ms"][-1]
        time.sleep(2.5)
        h2 = f.get(f"/api/v1/instances/idle/history?since={last // 1000 + 1}")
        assert h2["t_ms"] and h2["t_ms"][0] > last, (last, h2["t_ms"])
        th = f.wait(lambda: (lambda x: "cruncher0" in {y["name"] for y in x} and x)(
            f.get("/api/v1/instances/busy/threads?detail=1")["threads"]),
            "the busy guest's threads", 30 * t.scale(accel))
        names = {x["name"]: x for x in th}
        assert {"idle0", "cruncher0", "ticker"} <= set(names), names
        assert names["cruncher0"]["run_ns"] > 0 and names["idle0"]["idle"], names
        assert all(x["state"] in ("runnable", "running", "blocked", "sleeping", "exited")
                   for x in th), th
        st, _, _ = http(f.url + "/api/v1/instances/nope/history")
        assert st == 404, st
    finally:
        f.stop()
