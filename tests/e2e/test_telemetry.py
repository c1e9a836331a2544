"""Telemetry channel (guest-agent/, docs/telemetry.md): the guest's sender
over the real virtio-console port, `ukctl telemetry` as the reader, and
protoc as an independent decoder.  Guest side: tests/guest/test_telemetry.c."""
import json
import re
import subprocess
import time
from pathlib import Path

from harness import UK_EXIT_OK, UK_EXIT_PANIC, boot, run, vcon_args
from streams import connect_unix as connect, frame_spans, wait_path as wait_socket

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "guest-agent" / "common"


def decode_file(t, path):
    """`ukctl telemetry --json --input` on a captured stream -> (records, summary)."""
    r = subprocess.run([str(t.build / "bin" / "ukctl"), "telemetry", "--json", "--input",
                        str(path)], capture_output=True, text=True, timeout=60)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    summary = lines[-1]
    assert summary.get("event") == "summary", r.stdout[-2000:] + r.stderr
    return lines, summary, r.returncode


def frames(data):
    """Split a captured stream into frame bodies (the test's own varint reader)."""
    return [data[a:b] for a, b in frame_spans(data)]


def capture(sock, until_eof_s, pause=None):
    """Read sock to EOF; pause=(after_bytes, resume) stops reading once
    after_bytes arrived, until resume() returns."""
    data = bytearray()
    sock.settimeout(until_eof_s)
    paused = pause is None
    while True:
        if not paused and len(data) >= pause[0]:
            pause[1]()
            paused = True
        b = sock.recv(4096 if not paused else 65536)
        if not b:
            return bytes(data)
        data += b


def test_telemetry_stream(t, accel):
    """Live `ukctl telemetry --json --follow`: heartbeats about every second
    with contiguous seqs, the guest's log lines as LogRecords equal to the
    console lines, a metric snapshot, and an exact loss check."""
    d = t.tmpdir()
    secs = 3
    vm = boot(t, t.build / "kernel-test.elf",
              cmdline=f"test=telemetry_lines panic=exit telem.lines=20 telem.secs={secs} "
                      "telemetry.metrics_s=2 instance=e2e-stream",
              accel=accel, timeout=60 * t.scale(accel), extra_args=vcon_args(d),
              expect_exit=False, until=r"virtio|vcon|Booting|ukscope")
    wait_socket(d / "telemetry.sock", 10)
    r = subprocess.run([str(t.build / "bin" / "ukctl"), "telemetry", "--json", "--follow", str(d)],
                       capture_output=True, text=True, timeout=90 * t.scale(accel))
    vm.wait(timeout=60 * t.scale(accel))
    assert vm.status == UK_EXIT_OK and "TEST telemetry_lines: PASS" in vm.output, vm.describe()
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    summary = recs[-1]
    envs = [x for x in recs if "seq" in x and "type" in x]
    t.log(f"{len(envs)} envelopes; summary {summary}")
    assert summary["event"] == "summary" and summary["errors"] == 0, r.stdout[-3000:] + r.stderr
    assert summary["gaps"] == 0 and summary["unexplained_gaps"] == 0, summary
    assert summary["loss_check"] == "ok", summary
    assert r.returncode == 0, r.stderr
    seqs = [x["seq"] for x in envs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seqs not contiguous"
    assert all(x["instance"] == "e2e-stream" for x in envs)
    hbs = [x for x in envs if x["type"] == "heartbeat"]
    assert len(hbs) >= secs, f"{len(hbs)} heartbeats"
    slack = 0.1 if accel == "tcg" else 0.5
    for a, b in zip(hbs, hbs[1:]):
        dt = (b["time_ns"] - a["time_ns"]) / 1e9
        assert 1 - slack <= dt <= 1 + slack, f"heartbeats {dt:.3f}s apart"
    assert all(len(h["cpus"]) == 1 and 0 <= h["cpus"][0]["busy_permille"] <= 1000 for h in hbs)
    logs = [x["text"] for x in envs if x["type"] == "log"]
    want = re.findall(r"telemetry-test line \d+ of 20", vm.output)
    assert len(want) == 20
    got = [l for l in logs if l.startswith("telemetry-test line")]
    assert got == want, f"log records {got[:3]}... differ from the console {want[:3]}..."
    mets = [x for x in envs if x["type"] == "metrics"]
    assert mets, "no metric snapshot"
    # A snapshot is the registry (the same series as /metrics) in parts.
    snap = [m for m in mets if m["snapshot_ns"] == mets[0]["snapshot_ns"]]
    assert [m["part"] for m in snap] == list(range(snap[0]["parts"])), snap
    samples = {(s["name"], tuple(sorted(s["labels"].items()))): s
               for m in snap for s in m["samples"]}
    assert sum(len(m["samples"]) for m in snap) == len(samples), "a sample twice"
    names = {n for n, _ in samples}
    assert {"ukscope_heap_in_use_bytes", "ukscope_context_switches_total",
            "ukscope_interrupts_total", "ukscope_telemetry_envelopes_total"} <= names, names
    up = samples[("ukscope_uptime_seconds", ())]
    assert up["type"] == "gauge" and up["scale"] == 10**9, up
    assert abs(up["int_value"] - snap[0]["snapshot_ns"]) < 50_000_000, (up, snap[0]["snapshot_ns"])
    assert samples[("ukscope_context_switches_total", (("cpu", "0"),))]["type"] == "counter"


def check_loss(t, data, d):
    raw = d / "flood.bin"
    raw.write_bytes(data)
    recs, summary, rc = decode_file(t, raw)
    t.log(f"{len(data)} bytes; summary {summary}")
    gaps = [x for x in recs if x.get("event") == "gap"]
    envs = [x for x in recs if "type" in x and "seq" in x]
    assert summary["errors"] == 0 and summary["unexplained_gaps"] == 0, summary
    assert summary["lost"] + summary["lost_before_first"] > 0, \
        "nothing was dropped: the flood was too small"
    # Every envelope's loss count equals the seqs the host did not see ...
    prev = -1
    for e in envs:
        assert e["lost"] == e["seq"] - prev - 1, e
        prev = e["seq"]
    assert all(g["accounted"] for g in gaps)
    # ... and the guest's own running totals agree, at every heartbeat.
    hbs = [x for x in envs if x["type"] == "heartbeat"]
    assert hbs, "no heartbeat after the flood"
    for hb in hbs:
        assert hb["envelopes_produced"] == hb["seq"] + 1
        assert hb["envelopes_lost"] == sum(e["lost"] for e in envs if e["seq"] <= hb["seq"])
    assert summary["loss_check"] == "ok" and rc == 0, summary
    return summary


def test_telemetry_loss(t, accel):
    """The host stops reading (tcg: mid-flood; kvm, where the guest is too
    slow to fill the socket buffers: connects only after the flood): the
    guest keeps running (its test passes on time), drops whole envelopes,
    each envelope's `lost` equals the seqs missing before it, and the
    guest's totals in every heartbeat equal what the host counted."""
    d = t.tmpdir()
    if accel == "tcg":
        cmd, until = "telem.lines=4000", r"virtio|ukscope"
    else:
        cmd, until = "telem.lines=200 telem.wait=0", r"telemetry-flood done"
    vm = boot(t, t.build / "kernel-test.elf",
              cmdline=f"test=telemetry_flood panic=exit telem.secs=3 {cmd}",
              accel=accel, timeout=120 * t.scale(accel), extra_args=vcon_args(d),
              expect_exit=False, until=until)
    wait_socket(d / "telemetry.sock", 10)
    s = connect(d / "telemetry.sock", 10)

    def flood_over():
        """Resume reading once the guest has finished its flood."""
        deadline = time.monotonic() + 60 * t.scale(accel)
        while "telemetry-flood done" not in vm.output and vm.running:
            assert time.monotonic() < deadline, "flood never finished"
            time.sleep(0.05)

    data = capture(s, 120 * t.scale(accel), pause=(2048, flood_over) if accel == "tcg" else None)
    s.close()
    vm.wait(timeout=120 * t.scale(accel))
    assert vm.status == UK_EXIT_OK and "TEST telemetry_flood: PASS" in vm.output, vm.describe()
    check_loss(t, data, d)


def test_telemetry_crash(t, accel):
    """A panic with the host listening: the crash report arrives last, with
    the message, registers, a backtrace in the image's text and the
    image's build-id; protoc decodes the same frame independently."""
    d = t.tmpdir()
    image = t.build / "kernel-test.elf"
    vm = boot(t, image, cmdline="test=telemetry_panic panic=exit",
              accel=accel, timeout=60 * t.scale(accel), extra_args=vcon_args(d),
              expect_exit=False, until=r"virtio|vcon|Booting|ukscope")
    wait_socket(d / "telemetry.sock", 10)
    s = connect(d / "telemetry.sock", 10)
    data = capture(s, 60 * t.scale(accel))
    s.close()
    vm.wait(timeout=60 * t.scale(accel))
    assert vm.status == UK_EXIT_PANIC, vm.describe()
    raw = d / "crash.bin"
    raw.write_bytes(data)
    recs, summary, rc = decode_file(t, raw)
    crash = [x for x in recs if x.get("type") == "crash"]
    assert len(crash) == 1, summary
    c = crash[0]
    assert c["message"] == "telemetry test panic 7" and c["reason"] == "call", c
    note = run(["readelf", "-n", str(image)]).stdout
    assert c["build_id"] and c["build_id"] in note, (c["build_id"], note)
    assert len(c["backtrace"]) >= 2, c
    syms = run(["nm", str(image)]).stdout
    m = re.search(r"^([0-9a-f]+) [tT] uk_test_fn_telemetry_panic$", syms, re.M)
    bt = [int(a, 16) for a in c["backtrace"]]
    assert m and any(0 < a - int(m.group(1), 16) < 0x200 for a in bt), \
        f"no return address into the test function in {c['backtrace']}"
    # Logs before the panic (the console's panic line included) came first.
    logs = [x["text"] for x in recs if x.get("type") == "log"]
    assert any("telemetry test panic 7" in l for l in logs), logs[-5:]
    # protoc, independent of protobuf-c, decodes the crash frame too.
    body = frames(data)[-1]
    p = subprocess.run(["protoc", f"-I{PROTO_DIR}", "--decode=ukscope.telemetry.Envelope",
                        str(PROTO_DIR / "telemetry.proto")], input=body, capture_output=True,
                       timeout=30)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()
    assert 'message: "telemetry test panic 7"' in out and "backtrace:" in out, out


def test_telemetry_ukctl_run(t):
    """`ukctl run --detach` wires the port and instance.json's
    telemetry_socket; `ukctl telemetry RUN_DIR` (text) finds it and prints
    heartbeats from the named instance; usage errors exit 2."""
    ukctl = str(t.build / "bin" / "ukctl")
    run_dir = t.tmpdir() / "run"
    r = subprocess.run([ukctl, "run", "--detach", "--accel", "tcg", "--no-net", "--run-dir",
                        str(run_dir), "--cmdline", "instance=tele-e2e", str(t.build / "kernel.elf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        inst = json.loads((run_dir / "instance.json").read_text())
        assert inst["telemetry_socket"].endswith("telemetry.sock")
        r = subprocess.run([ukctl, "telemetry", "--for", "2.5", str(run_dir)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        assert re.search(r"^#\d+ \S+ heartbeat uptime", r.stdout, re.M), r.stdout[-2000:]
        assert "(0 unexplained), 0 errors, loss check ok" in r.stdout, r.stdout[-2000:]
        r = subprocess.run([ukctl, "telemetry", "--json", "--count", "1", str(run_dir)],
                           capture_output=True, text=True, timeout=60)
        envs = [json.loads(l) for l in r.stdout.splitlines() if '"seq"' in l]
        assert envs and envs[0]["instance"] == "tele-e2e", r.stdout
    finally:
        subprocess.run([ukctl, "stop", str(run_dir)], capture_output=True, timeout=60)
    for bad in ([], ["--bogus", "x"], ["--for", "0", "x"], ["a", "b"]):
        r = subprocess.run([ukctl, "telemetry", *bad], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
    r = subprocess.run([ukctl, "telemetry", str(t.tmpdir())], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and r.stderr.startswith("ukctl: Failed to connect"), r.stderr


def test_telemetry_replay(t):
    """`ukctl telemetry` connecting to a guest that has been up for a while
    (its sender dropped everything so far: nobody was reading) replays the
    boot's log records from the kernel log ring in the RAM file: every
    klog_seq from 0 appears exactly once (replayed or streamed), the drops
    before the first envelope are reported as such, not as lost."""
    ukctl = str(t.build / "bin" / "ukctl")
    run_dir = t.tmpdir() / "run"
    r = subprocess.run([ukctl, "run", "--detach", "--accel", "tcg", "--no-net", "--run-dir",
                        str(run_dir), "--cmdline", "instance=replay-e2e",
                        str(t.build / "kernel.elf")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 30
        while "ukscope: ready" not in (run_dir / "console.log").read_text(errors="replace"):
            assert time.monotonic() < deadline, "guest never became ready"
            time.sleep(0.2)
        time.sleep(2.5)  # heartbeats and log records dropped: nobody reads yet
        r = subprocess.run([ukctl, "telemetry", "--json", "--for", "2.5", str(run_dir)],
                           capture_output=True, text=True, timeout=60)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        t.log(r.stdout[:3000] + r.stderr)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        summary = lines[-1]
        replayed = [l for l in lines if l.get("replayed") is True]
        streamed = [l for l in lines if l.get("type") == "log" and not l.get("replayed")]
        assert replayed, "no log record replayed"
        assert any("ukscope: ready" in l["text"] for l in replayed), replayed[-5:]
        seqs = sorted(l["klog_seq"] for l in replayed + streamed)
        assert seqs == list(range(len(seqs))), f"klog seqs not each once from 0: {seqs[:20]}..."
        first = next(l for l in lines if "seq" in l)
        assert first["seq"] > 0 and first["lost"] == first["seq"], first
        assert summary["lost"] == 0 and summary["lost_before_first"] == first["seq"], summary
        assert summary["replayed"] == len(replayed), summary
        assert not any(l.get("event") == "replay" for l in lines), lines
        # --no-replay: the stream alone
        r = subprocess.run([ukctl, "telemetry", "--json", "--no-replay", "--for", "1.5",
                            str(run_dir)], capture_output=True, text=True, timeout=60)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        assert not any(l.get("replayed") is True for l in lines) and lines[-1]["replayed"] == 0, lines[-1]
    finally:
        subprocess.run([ukctl, "stop", str(run_dir)], capture_output=True, timeout=60)


def _garbage_server(path, payload, forever):
    """Serve one connection on unix socket `path`: payload, then (forever)
    the same payload again every 0.2 s, else EOF.  Returns (thread, stop)."""
    import socket
    import threading

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    done = threading.Event()

    def serve():
        c, _ = srv.accept()
        try:
            c.sendall(payload)
            while forever and not done.is_set():
                c.sendall(payload[16:])
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            c.close()
            srv.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return th, done


def test_telemetry_sigterm_on_garbage(t):
    """A guest that sends garbage must not hold `ukctl telemetry --follow`:
    one good frame, then 100 KB of garbage (a) without end: SIGTERM ends the
    reader within a few seconds with its summary; (b) then end of stream:
    the reader finishes on its own (the old byte-by-byte resync spent
    minutes there and ignored SIGTERM meanwhile).  Also: --help lists every
    option."""
    import random
    import signal

    out = run([t.build / "bin" / "ukctl", "telemetry", "--help"]).stdout
    for opt in ("--json", "--follow", "--for", "--count", "--raw", "--input", "--help"):
        assert opt in out, f"--help lacks {opt}:\n{out}"

    rnd = random.Random(9)
    # seq 1 LogRecord "hi" from instance "g" (hand-encoded Envelope)
    log = b"\x0a\x01g\x10\x01\x52\x06\x08\x06\x2a\x02hi"
    payload = (bytes([len(log)]) + log + b"\x05\x07\xff\xff\xff\xff" +
               bytes(rnd.getrandbits(8) for _ in range(100 * 1024)))
    for forever in (True, False):
        d = t.tmpdir()
        th, done = _garbage_server(d / "telemetry.sock", payload, forever)
        p = subprocess.Popen([str(t.build / "bin" / "ukctl"), "telemetry", "--json", "--follow",
                              str(d)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            t0 = time.monotonic()
            try:
                so, se = p.communicate(timeout=3)
                assert not forever, "the reader stopped although the stream went on"
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGTERM)
                t0 = time.monotonic()
                try:
                    so, se = p.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    raise AssertionError("ukctl telemetry ignored SIGTERM for 10 s on garbage")
                assert forever, "the reader still ran 3 s after a 100 KB stream ended"
            t.log(f"forever={forever}: ended {time.monotonic() - t0:.2f}s after "
                  f"{'SIGTERM' if forever else 'EOF'}; stderr: {se[-300:]}")
            lines = [json.loads(l) for l in so.splitlines() if l.strip()]
            assert lines and lines[-1].get("event") == "summary", so[-2000:]
            assert lines[-1]["frames"] == 1 and lines[-1]["errors"] >= 1, lines[-1]
            assert any(l.get("type") == "log" and l.get("text") == "hi" for l in lines), so[:2000]
        finally:
            done.set()
            if p.poll() is None:
                p.kill()
