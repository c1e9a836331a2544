"""The web console served by ukcollectd (dashboards/web/, docs/dashboards.md) in a real
browser: Debian's chromium, headless, driven by playwright-core (dashboards/package-lock.json,
installed by `make deps` into BUILD/npm) through tests/lib/dash_browser.js, against a real
collector and a fleet of 4 demo guests (demo.load=0, 32 MiB, tcg).  Also the console's HTTP
side without a browser: content types, caching, gzip, size, paths.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib

from dashfleet import Fleet, http
from harness import Skip, run

CHROMIUM = "/usr/bin/chromium"
THREAD_XSS = "<img src=x onerror=__xss=1>"
LOG_XSS = ["<script>__xss=1</script>", "<img/src=x/onerror=__xss=2>"]


def png_stats(path):
    """(width, height, distinct colours, luminance standard deviation) of an 8-bit RGB(A)
    PNG, decoded here with zlib (filters undone row by row)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, lum, lum2, count = set(), 0.0, 0.0, 0
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:  # every 4th row and column is plenty for "blank or not"
            for x in range(0, w, 4):
                r, g, bl = line[x * bpp:x * bpp + 3]
                colours.add((r, g, bl))
                v = 0.299 * r + 0.587 * g + 0.114 * bl
                lum += v
                lum2 += v * v
                count += 1
        prev = line
    mean = lum / count
    return w, h, len(colours), max(0.0, lum2 / count - mean * mean) ** 0.5


def browser_deps(t):
    if not os.path.exists(CHROMIUM):
        raise Skip("no /usr/bin/chromium (Debian package chromium; make deps installs it)")
    pw = t.build / "npm/node_modules/playwright-core"
    if not pw.exists() or not shutil.which("node"):
        raise AssertionError(f"{pw} missing: run make deps (npm ci from dashboards/package-lock.json)")


def rename_thread(t, f, name, old, new):
    """Rewrite a thread's name in the guest's RAM (the shared RAM file), as a hostile guest
    could: offsets from the ABI header (tests/lib/abi_layout.c), the table from the symbol."""
    exe = t.tmpdir() / "abi_layout"
    run(["cc", "-std=gnu11", "-Wall", "-Werror", f"-I{t.root / 'kernel-hooks/include'}",
         t.root / "tests/lib/abi_layout.c", "-o", exe])
    L = json.loads(run([exe]).stdout)
    sym = run(["nm", t.build / "kernel.elf"]).stdout
    addr = int(re.search(r"^([0-9a-f]+) \w uk_thread_table$", sym, re.M).group(1), 16)
    meta = f.instance_meta(name)
    ram = meta.get("ram_file") or str(f.root / name / "ram")
    base = addr + L["uk_thread_table"]["fields"]["threads"][0]
    esize = L["uk_thread"]["size"]
    noff, nsize = L["uk_thread"]["fields"]["name"]
    assert len(new) < nsize
    with open(ram, "r+b") as fh:
        for i in range(256):
            fh.seek(base + i * esize + noff)
            cur = fh.read(nsize).split(b"\0", 1)[0]
            if cur == old.encode():
                fh.seek(base + i * esize + noff)
                fh.write(new.encode().ljust(nsize, b"\0"))
                return
    raise AssertionError(f"no thread {old} in {ram}")


def fake_hostile_bundle(crash_dir):
    """A crash bundle whose every guest-derived string is a payload (as a hostile guest
    could make its panic message, thread names, symbols' names and log), and its group in
    the store's index.json; what the page must show as text."""
    bid = "20261129T000000Z-evil"
    sig = "0123456789ab-0123456789abcdef"
    msg, th, fn, log = ("<img src=x onerror=__xss=3>", "<script>__xss=4</script>",
                        "<img src=x onerror=__xss=5>", "<b>__xss=6</b>")
    why = "<img src=x onerror=__xss=7>"  # a tampered report.json's timeline reason
    b = crash_dir / bid
    b.mkdir(parents=True)
    (b / "report.json").write_text(json.dumps({
        "id": bid, "signature": sig, "time": "2026-11-29T00:00:00Z", "reason": "panic",
        "instance": {"name": "evil"}, "message": msg, "build_id": "ab", "cpu": 0,
        "thread": {"tid": 7, "name": th, "frames": [{"addr": "0x1", "function": fn,
                                                     "offset": 1, "source": "<i>x.c</i>:1"}]},
        "threads": [{"tid": 7, "name": th, "state": "running", "cpu": 0,
                     "frames": [{"function": fn}]}],
        "log": [{"seq": 1, "level": 3, "text": log}],
        "timeline": {"status": "none", "why": why}}))
    (crash_dir / "index.json").write_text(json.dumps({"groups": {sig: {
        "count": 1, "first_seen": "2026-11-29T00:00:00Z", "last_seen": "2026-11-29T00:00:00Z",
        "last_id": bid, "reason": "panic", "message": msg, "top_frame": fn,
        "instances": ["evil"], "instance_count": 1}}}))
    return {"id": bid, "group_texts": [msg, fn], "report_texts": [msg, th, fn, log, why]}


def test_dashboard_browser(t):
    """4 instances in the fleet page (sorted, filtered); a chart with drawn points; a log
    line emitted after the page loaded shows in the SSE tail, the severity filter and search
    work; a fault injected through the demo's /fault endpoint turns its row panicked and a
    crash group appears (from the collector's own bundle when it writes one, else a bundle
    taken with the console's "Take a dump" button and the token: reported in the log), its
    report renders, its core downloads; trace downloads (Perfetto, JSON) work; a hostile thread name and log
    lines stay text, and so do a hostile crash bundle's message, thread name, frame and log
    line on the crashes and report pages (no script ran, no CSP violation, no element made
    of them); screenshots
    of each page are saved and are not blank."""
    browser_deps(t)
    base = t.tmpdir()
    out = base / "artefacts"
    out.mkdir()
    names = ["web-1", "web-2", "web-3", "web-4"]
    f = Fleet(t.build, base / "fleet", track=t._track, log=t.log)
    try:
        f.start_collector()
        for n in names[:3]:
            f.start_instance(n)
        f.start_instance(names[3], cmdline=" ".join(
            [f"x{i}={p}" for i, p in enumerate(LOG_XSS)] + ["demo.load=0"]))
        f.wait(lambda: len(f.fleet()) == 4 and all(r["state"] == "running"
                                                    for r in f.fleet().values()),
               "4 running instances", 120)
        f.wait(lambda: f.get(f"/api/v1/instances/{names[3]}/threads?detail=1")["threads"],
               "the thread table", 60)
        rename_thread(t, f, names[3], "kv-worker2", THREAD_XSS)
        fake = fake_hostile_bundle(f.crash_dir)
        cfg = {
            "url": f.url, "out": str(out), "instances": names, "chromium": CHROMIUM,
            "xss": {"name": names[3], "thread": THREAD_XSS, "log": LOG_XSS},
            "fault": {"name": names[3], "port": f.guest_port(names[3]),
                      "token": f.guest_token(names[3])},
            "token": f.token, "crash_wait_s": 20, "fake": fake,
        }
        (base / "cfg.json").write_text(json.dumps(cfg))
        env = dict(f.env, NODE_PATH=str(t.build / "npm/node_modules"))
        r = subprocess.run(["node", str(t.root / "tests/lib/dash_browser.js"),
                            str(base / "cfg.json")], capture_output=True, text=True,
                           timeout=780, env=env, stdin=subprocess.DEVNULL)
        res = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() \
            else {"steps": []}
        for s in res["steps"]:
            t.log(f"{'ok  ' if s['ok'] else 'FAIL'} {s['name']} ({s['ms']} ms): {s['detail'][:600]}")
        assert r.returncode == 0, f"browser steps failed:\n{r.stdout[-2000:]}{r.stderr[-3000:]}"
        assert len(res["steps"]) == 8 and all(s["ok"] for s in res["steps"]), res
        crash = res["steps"][-1]["detail"]
        t.log("crash bundle: " + ("by the collector" if crash.startswith("the collector")
                                  else "NOT by the collector (its crash capture is not in this "
                                       "build); the group came from the console's dump button"))
        for png in ("fleet.png", "instance.png", "fleet-panicked.png", "crashes.png",
                    "crash.png", "crash-hostile.png"):
            w, h, ncol, sd = png_stats(out / png)
            t.log(f"{png}: {w}x{h}, {ncol} colours, luminance sd {sd:.1f}")
            assert w >= 800 and h >= 600 and ncol >= 8 and sd >= 5, (png, w, h, ncol, sd)
        keep = t.build / "test-artefacts/dashboard"  # outlives the test's tmp dir
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(out, keep)
        t.log(f"screenshots in {out}, copied to {keep}")
    finally:
        f.stop()


def test_dashboard_http(t):
    """The console's files without a browser: content types, ETag/304, no-cache, gzip only
    when accepted (and then identical after gunzip), CSP and nosniff, every path outside the
    console refused, the whole first load (gzip) at most 200 KiB."""
    f = Fleet(t.build, t.tmpdir(), track=t._track, log=t.log)
    try:
        f.start_collector()
        st, body, hd = http(f.url + "/")
        assert st == 200 and hd["Content-Type"] == "text/html; charset=utf-8", (st, hd)
        assert "Content-Encoding" not in hd and b"app.js" in body
        assert hd["Cache-Control"] == "no-cache" and hd["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in hd["Content-Security-Policy"], hd
        files = ["index.html"] + re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css))"', body.decode())
        assert {"app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"} <= set(files), files
        types = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                 "html": "text/html; charset=utf-8"}
        total = 0
        for name in files:
            st, plain, hd = http(f"{f.url}/{name}")
            assert st == 200 and hd["Content-Type"] == types[name.rsplit(".", 1)[1]], (name, hd)
            st, gz, hg = http(f"{f.url}/{name}", headers={"Accept-Encoding": "gzip, br"})
            assert st == 200 and hg.get("Content-Encoding") == "gzip", (name, hg)
            assert hg["Vary"] == "Accept-Encoding" and zlib.decompress(gz, 31) == plain, name
            assert len(gz) < len(plain), name
            st, _, h0 = http(f"{f.url}/{name}", headers={"Accept-Encoding": "gzip;q=0"})
            assert "Content-Encoding" not in h0, (name, h0)
            st, again, _ = http(f"{f.url}/{name}", headers={"Accept-Encoding": "gzip",
                                                             "If-None-Match": hg["ETag"]})
            assert st == 304 and not again, (name, st)
            total += len(gz)
        t.log(f"first load: {total} bytes gzip over {len(files)} files")
        assert total <= 200 * 1024, total
        for bad in ("/../Makefile", "/.hidden.js", "/web/app.js", "/app.js.gz", "/x.sh",
                    "/nothere.js"):
            st, _, _ = http(f.url + bad)
            assert st == 404, (bad, st)
        st, _, _ = http(f.url + "/api/v1/instances/none/dump", "POST", body=b"")
        assert st == 401, st
        st, _, _ = http(f.url + "/api/v1/crashes/..%2f..%2fetc")
        assert st == 404, st
        st, _, _ = http(f.url + "/api/v1/instances/none/dump", "POST", body=b"", token="wrong")
        assert st == 403, st
        crash_store_routes(t, f)
    finally:
        f.stop()


def crash_store_routes(t, f):
    """/api/v1/crashes lists a bundle of the store (the store's own index), its report, and
    its 4 MiB core to a client that reads slowly: the reply must keep flowing (before the
    loop asked MHD for its timeout, a file reply moved one socket buffer per 1 s tick)."""
    bid = "20261129T000000Z-fake"
    b = f.crash_dir / bid
    b.mkdir(parents=True)
    core = os.urandom(4 << 20)
    (b / "core").write_bytes(b"\x7fELF" + core[4:])
    rep = {"id": bid, "signature": "0123456789ab-0123456789abcdef", "time": "2026-11-29T00:00:00Z",
           "instance": {"name": "fake"}, "reason": "panic", "message": "<script>__xss=1</script>"}
    (b / "report.json").write_text(json.dumps(rep))
    (f.crash_dir / "index.json").write_text(json.dumps({"groups": {rep["signature"]: {
        "count": 2, "first_seen": rep["time"], "last_seen": rep["time"], "last_id": bid,
        "instances": ["fake"], "instance_count": 1}}}))
    j = f.get("/api/v1/crashes")
    assert [g["signature"] for g in j["groups"]] == [rep["signature"]], j
    assert [x["id"] for x in j["bundles"]] == [bid] and "path" not in j["bundles"][0], j
    assert f.get(f"/api/v1/crashes/{bid}")["message"] == rep["message"]
    # a core is guest memory (stacks, .data: the guest's token too): no
    # download without the collector's token, as for a POST
    st, _, _ = http(f.url + f"/api/v1/crashes/{bid}/core")
    assert st == 401, st
    st, _, _ = http(f.url + f"/api/v1/crashes/{bid}/core", token="wrong")
    assert st == 403, st
    import socket
    s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(f"GET /api/v1/crashes/{bid}/core HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {f.token}\r\n\r\n".encode())
    got, deadline = b"", time.monotonic() + 90
    while time.monotonic() < deadline:
        chunk = s.recv(16384)
        if not chunk:
            break
        got += chunk
        if b"\r\n\r\n" in got and len(got.split(b"\r\n\r\n", 1)[1]) >= len(core):
            break
        time.sleep(0.002)
    s.close()
    head, body = got.split(b"\r\n\r\n", 1)
    assert b"200 OK" in head and b"application/octet-stream" in head, head
    assert len(body) == len(core) and body[4:] == core[4:], \
        f"{len(body)} of {len(core)} bytes in 90 s"
