"""End-to-end tests of tracing: `ukctl trace` on a synthetic image (exact
expectations checked with real clients: babeltrace2, jansson-written JSON
parsed by Python, protoc --decode), hostile images, a live capture of the
demo on 4 vCPUs, and a post-mortem capture from the RAM file of a panicked
guest."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
from qmp_client import qmp_command
from harness import KVM_PVM, Skip, run  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
SEED = REPO / "tests" / "fuzz" / "corpus" / "trace" / "seed.bin"
# The seed (tests/unit/test_trace_ring.c, test_seed): 2 rings of 16 slots,
# 20 sched_switch events (prev_tid=s, next_tid=s+1), even s on ring 0.
SEED_EVENTS = 20
RINGS_ADDR = 0x2000


def ukctl(t, *args, timeout=60):
    return subprocess.run([str(t.build / "bin" / "ukctl"), *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def bt2(path):
    r = run(["babeltrace2", str(path)], check=False, timeout=60)
    assert r.returncode == 0, f"babeltrace2 failed: {r.stderr[-2000:]}"
    return r.stdout.splitlines()


def json_events(path):
    with open(path) as f:
        return [e for e in json.load(f)["traceEvents"] if e["ph"] != "M"]


def test_trace_ctf_exact(t):
    out = t.tmpdir() / "t.ctf"
    r = ukctl(t, "trace", "--from-core", SEED, "--format", "ctf", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "20 events" in r.stdout and "lost 0" in r.stdout, r.stdout
    lines = [l for l in bt2(out) if "sched_switch" in l]
    assert len(lines) == SEED_EVENTS, lines
    got = sorted(tuple(map(int, re.search(r"prev_tid = (\d+), next_tid = (\d+)", l).groups()))
                 for l in lines)
    assert got == [(s, s + 1) for s in range(SEED_EVENTS)], got
    for cpu in (0, 1):
        n = sum(1 for l in lines if f"cpu_id = {cpu} " in l)
        assert n == 10, (cpu, n)


def test_trace_json_exact(t):
    out = t.tmpdir() / "t.json"
    r = ukctl(t, "trace", "--from-core", SEED, "--format", "json", "-o", out)
    assert r.returncode == 0, r.stderr
    ev = json_events(out)
    assert len(ev) == SEED_EVENTS, len(ev)
    assert sorted(e["args"]["prev_tid"] for e in ev) == list(range(SEED_EVENTS))
    assert all(e["args"]["next_tid"] == e["args"]["prev_tid"] + 1 for e in ev)


def lossy_image(t):
    """The seed with ring 0's head pushed 16 slots ahead: its 10 events are
    overwritten, the 16 slots it claims hold no valid commit (torn)."""
    img = bytearray(SEED.read_bytes())
    img[RINGS_ADDR:RINGS_ADDR + 8] = (26).to_bytes(8, "little")
    p = t.tmpdir() / "lossy.bin"
    p.write_bytes(img)
    return p


def test_trace_lost_in_every_format(t):
    img = lossy_image(t)
    d = t.tmpdir()
    r = ukctl(t, "trace", "--from-core", img, "--format", "json", "-o", d / "t.json")
    assert r.returncode == 0, r.stderr
    assert "10 events" in r.stdout and "lost 26 (overwritten 10, torn 16" in r.stdout, r.stdout
    ev = json_events(d / "t.json")
    lost = [e for e in ev if e["name"].startswith("lost ")]
    assert [e["name"] for e in lost] == ["lost 26"], lost
    assert len(ev) == 10 + 1
    r = ukctl(t, "trace", "--from-core", img, "--format", "ctf", "-o", d / "t.ctf")
    assert r.returncode == 0, r.stderr
    r2 = run(["babeltrace2", str(d / "t.ctf")], check=False, timeout=60)
    assert r2.returncode == 0, r2.stderr
    assert len([l for l in r2.stdout.splitlines() if "sched_switch" in l]) == 10
    assert re.search(r"discarded 26 events|26 discarded", r2.stderr + r2.stdout), r2.stderr[-1500:]


def test_trace_hostile_images(t):
    d = t.tmpdir()
    cases = {"empty": b"", "zeros": bytes(65536), "random": os.urandom(65536)}
    seed = bytearray(SEED.read_bytes())
    bad = bytearray(seed)
    bad[0x1000 + 16:0x1000 + 20] = (7).to_bytes(4, "little")  # version 7
    cases["version"] = bytes(bad)
    bad = bytearray(seed)
    bad[0x1000 + 24:0x1000 + 32] = (0x9000).to_bytes(8, "little")  # self lies
    cases["self"] = bytes(bad)
    for name, data in cases.items():
        p = d / f"{name}.bin"
        p.write_bytes(data)
        r = ukctl(t, "trace", "--from-core", p, "--format", "json", "-o", d / "o.json")
        assert r.returncode == 1, (name, r.returncode, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("ukctl: Failed to "), (name, r.stderr)
    # A ring claiming 2^40 events over garbage: a partial trace, promptly.
    bad = bytearray(seed)
    bad[RINGS_ADDR:RINGS_ADDR + 8] = (1 << 40).to_bytes(8, "little")
    p = d / "huge.bin"
    p.write_bytes(bad)
    r = ukctl(t, "trace", "--from-core", p, "--format", "json", "-o", d / "o.json", timeout=20)
    assert r.returncode == 0 and "10 events" in r.stdout, (r.stdout, r.stderr)
    for args in ([], ["--format", "xml", "/tmp"], ["--follow", "--from-core", p], ["a", "b"]):
        r = ukctl(t, "trace", *args)
        assert r.returncode == 2, (args, r.returncode)


def start(t, accel, image, cmdline="", smp=4, extra=()):
    run_dir = t.tmpdir() / "run"
    r = ukctl(t, "run", "--detach", "--accel", accel, "--smp", smp, "--no-net", "--keep",
              "--run-dir", run_dir, "--cmdline", cmdline, *extra, image)
    assert r.returncode == 0, r.stderr
    return run_dir


def stop(t, run_dir):
    ukctl(t, "stop", run_dir)


def test_trace_live_demo(t, accel):
    smp = 2 if accel == "kvm" else 4
    run_dir = start(t, accel, t.build / "kernel.elf", smp=smp)
    try:
        deadline = time.time() + 30 * t.scale(accel)
        out = run_dir / "t.json"
        while True:
            r = ukctl(t, "trace", run_dir, "--format", "json", "-o", out)
            ok = r.returncode == 0
            if ok:
                ev = json_events(out)
                cpus = {e["tid"] for e in ev if e["name"] == "sched_switch"}
                spans = [e for e in ev if e["name"] == "crunch" and e["ph"] in "BE"]
                work = any(e["name"] == "work" for e in ev)
                if cpus == set(range(smp)) and len(spans) >= 2 * smp and work:
                    break
            assert time.time() < deadline, f"no full trace: {r.stderr} {r.stdout}"
            time.sleep(0.5)
        with open(out) as f:  # full names from the thread table, not 8 characters
            names = {e["args"]["name"] for e in json.load(f)["traceEvents"]
                     if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == 1}
        assert {"kv-worker0", "telemetry"} <= {n.rsplit(" (", 1)[0] for n in names}, names
        for cpu in range(smp):
            ts = [e["ts"] for e in ev if e["pid"] == 0 and e["tid"] == cpu]
            assert ts == sorted(ts), f"CPU {cpu}: timestamps not monotonic"
        assert "lost" in r.stdout
        # The guest is still running (never stopped): the ring heads move on.
        r2 = ukctl(t, "trace", run_dir, "--format", "ctf", "-o", run_dir / "t.ctf")
        assert r2.returncode == 0, r2.stderr
        n = int(re.search(r"(\d+) events", r2.stdout).group(1))
        assert len([l for l in bt2(run_dir / "t.ctf") if "cpu_id" in l]) == n
        r3 = ukctl(t, "trace", run_dir, "-o", run_dir / "t.pftrace")
        assert r3.returncode == 0, r3.stderr
        pf = pf_decode(run_dir / "t.pftrace")
        assert "TYPE_SLICE_BEGIN" in pf and 'name: "sched_switch"' in pf
        # --follow drains until SIGINT.
        p = subprocess.Popen([str(t.build / "bin" / "ukctl"), "trace", str(run_dir), "--follow",
                              "--format", "json", "-o", str(run_dir / "f.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5 * min(t.scale(accel), 3))
        p.send_signal(signal.SIGINT)
        o, e = p.communicate(timeout=30)
        assert p.returncode == 0, e
        fev = json_events(run_dir / "f.json")
        assert len(fev) >= n // 2 and any(x["name"] == "sched_switch" for x in fev), o
    finally:
        stop(t, run_dir)


def test_trace_after_panic(t):
    run_dir = start(t, "tcg", t.build / "kernel-test.elf", cmdline="test=panic_call", smp=2,
                    extra=("--on-panic", "pause"))
    try:
        deadline = time.time() + 30
        while "PANIC" not in (run_dir / "console.log").read_text(errors="replace").upper():
            assert time.time() < deadline, "no panic"
            time.sleep(0.2)
        time.sleep(0.5)
        r = ukctl(t, "trace", "--from-core", run_dir / "ram", "--format", "json",
                  "-o", run_dir / "p.json")
        assert r.returncode == 0, r.stderr
        ev = json_events(run_dir / "p.json")
        klog = [e for e in ev if e["name"] == "klog"]
        assert klog and any(e["name"] == "sched_switch" for e in ev), r.stdout
    finally:
        stop(t, run_dir)


def pf_decode(path):
    with open(path, "rb") as f:
        r = subprocess.run(["protoc", f"--proto_path={REPO / 'tracing' / 'host'}",
                            "--decode=ukscope.perfetto.Trace", "perfetto_trace.proto"],
                           stdin=f, capture_output=True, cwd=str(REPO / "tracing" / "host"),
                           timeout=60)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


def test_trace_perfetto_exact(t):
    d = t.tmpdir()
    r = ukctl(t, "trace", "--from-core", SEED, "-o", d / "t.pftrace")  # perfetto is the default
    assert r.returncode == 0, r.stderr
    text = pf_decode(d / "t.pftrace")
    assert text.count("track_event {") == SEED_EVENTS, text[:2000]
    assert text.count('name: "sched_switch"') == SEED_EVENTS
    vals = sorted(int(v) for v in re.findall(r'uint_value: (\d+)\s+name: "prev_tid"', text))
    assert vals == list(range(SEED_EVENTS)), vals
    assert 'name: "CPU 1"' in text and "previous_packet_dropped" not in text
    # Ring 0 claims 2 more reservations than it committed: 2 torn, 10 read.
    img = bytearray(SEED.read_bytes())
    img[RINGS_ADDR:RINGS_ADDR + 8] = (12).to_bytes(8, "little")
    (d / "torn.bin").write_bytes(img)
    r = ukctl(t, "trace", "--from-core", d / "torn.bin", "-o", d / "l.pftrace")
    assert r.returncode == 0 and "lost 2 (overwritten 0, torn 2" in r.stdout, r.stdout
    text = pf_decode(d / "l.pftrace")
    assert text.count("track_event {") == SEED_EVENTS
    assert text.count("previous_packet_dropped: true") == 1, text


def test_trace_guest_control(t, accel):
    from harness import guest_test
    guest_test(t, "trace_control", accel, smp=2)


def test_trace_guest_bench(t, accel):
    from harness import guest_test
    n = 300 if accel == "kvm" else 20000
    vm = guest_test(t, "trace_bench", accel, smp=2, cmdline=f"trace_bench_n={n}")
    m = re.search(r"TRACE_BENCH cpus=2 n=\d+ enabled_ps=(\d+) disabled_ps=(\d+)", vm.output)
    assert m and int(m.group(1)) > int(m.group(2)), vm.output[-1500:]


def elf_core(ram, phdrs_extra=b"", bad_offset=None):
    """A minimal ELF64 core: a PT_NOTE-less header and one PT_LOAD at paddr 0."""
    import struct
    off = 0x1000
    eh = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"", 4, 62, 1, 0, 64, 0,
                     0, 64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 6, bad_offset if bad_offset is not None else off, 0, 0,
                     len(ram), len(ram), 0x1000)
    return (eh + ph).ljust(off, b"\0") + ram


def test_trace_from_elf_core(t):
    d = t.tmpdir()
    (d / "core").write_bytes(elf_core(SEED.read_bytes()))
    r = ukctl(t, "trace", "--from-core", d / "core", "--format", "json", "-o", d / "c.json")
    assert r.returncode == 0 and "20 events" in r.stdout, (r.stdout, r.stderr)
    (d / "bad").write_bytes(elf_core(SEED.read_bytes(), bad_offset=1 << 40))
    r = ukctl(t, "trace", "--from-core", d / "bad", "--format", "json", "-o", d / "c.json")
    assert r.returncode == 1 and "Failed to read core file" in r.stderr, r.stderr


TPS_ADDR = 0x3000
TP_META_SIZE = 72
TP_SCHED_SWITCH = 4


def seed_with(**patch):
    """The seed with a few fields patched: tp_name (sched_switch's name,
    bytes), ring1_cpu."""
    import struct
    img = bytearray(SEED.read_bytes())
    if "tp_name" in patch:
        off = TPS_ADDR + TP_SCHED_SWITCH * TP_META_SIZE
        img[off:off + 24] = patch["tp_name"].ljust(24, b"\0")[:24]
    if "field_names" in patch:  # sched_switch's two field names (15 bytes each)
        off = TPS_ADDR + TP_SCHED_SWITCH * TP_META_SIZE + 40
        for k, name in enumerate(patch["field_names"]):
            img[off + 16 * k:off + 16 * k + 15] = name.ljust(15, b"\0")[:15]
    if "ring1_cpu" in patch:
        struct.pack_into("<I", img, RINGS_ADDR + 64 + 32, patch["ring1_cpu"])
    return bytes(img)


def test_trace_invalid_utf8(t):
    """A tracepoint name that is not UTF-8 is sanitised once for every writer
    (JSON failed with "out of memory" and left a truncated file)."""
    d = t.tmpdir()
    (d / "u.bin").write_bytes(seed_with(tp_name=b"sw\xff\xfe\xc3itch\"\\\n"))
    r = ukctl(t, "trace", "--from-core", d / "u.bin", "--format", "json", "-o", d / "u.json")
    assert r.returncode == 0, r.stderr
    names = {e["name"] for e in json_events(d / "u.json")}
    assert names == {"sw???itch???"}, names
    r = ukctl(t, "trace", "--from-core", d / "u.bin", "-o", d / "u.pftrace")
    assert r.returncode == 0, r.stderr
    text = pf_decode(d / "u.pftrace")
    assert text.count('name: "sw???itch???"') == SEED_EVENTS, text[:1500]
    assert "\\3" not in text  # protoc shows bytes that are not UTF-8 as octal escapes
    r = ukctl(t, "trace", "--from-core", d / "u.bin", "--format", "ctf", "-o", d / "u.ctf")
    assert r.returncode == 0, r.stderr
    assert len([l for l in bt2(d / "u.ctf") if "sw???itch???" in l]) == SEED_EVENTS
    # Field names that are not identifiers, and equal once cleaned: CTF stays readable.
    (d / "f.bin").write_bytes(seed_with(field_names=[b"\xff-", b"\xfe-"]))
    r = ukctl(t, "trace", "--from-core", d / "f.bin", "--format", "ctf", "-o", d / "f.ctf")
    assert r.returncode == 0, r.stderr
    assert len([l for l in bt2(d / "f.ctf") if "sched_switch" in l]) == SEED_EVENTS
    r = ukctl(t, "trace", "--from-core", d / "f.bin", "--format", "json", "-o", d / "f.json")
    assert r.returncode == 0 and len(json_events(d / "f.json")) == SEED_EVENTS, r.stderr


def test_trace_output_atomic(t):
    """A write that fails half-way (file size limit) leaves the previous
    output as it was and no temporary file."""
    import resource
    d = t.tmpdir()
    out = d / "t.json"
    out.write_text("previous")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
    r = subprocess.run([str(t.build / "bin" / "ukctl"), "trace", "--from-core", str(SEED),
                        "--format", "json", "-o", str(out)], capture_output=True, text=True,
                       timeout=60, preexec_fn=limit)
    assert r.returncode == 1 and "Failed to write" in r.stderr, (r.returncode, r.stderr)
    assert out.read_text() == "previous"
    assert sorted(p.name for p in d.iterdir()) == ["t.json"], list(d.iterdir())
    r = ukctl(t, "trace", "--from-core", SEED, "--format", "json", "-o", out)
    assert r.returncode == 0 and len(json_events(out)) == SEED_EVENTS, r.stderr


def test_trace_duplicate_rings(t):
    """Two rings claiming CPU 0 / main: one CTF stream file, the duplicate
    ignored with a counted warning (the same file used to be opened twice)."""
    d = t.tmpdir()
    (d / "dup.bin").write_bytes(seed_with(ring1_cpu=0))
    r = ukctl(t, "trace", "--from-core", d / "dup.bin", "--format", "ctf", "-o", d / "t.ctf")
    assert r.returncode == 0, r.stderr
    assert "ignored 1 ring" in r.stderr and "10 events" in r.stdout, (r.stdout, r.stderr)
    assert sorted(p.name for p in (d / "t.ctf").iterdir()) == ["metadata", "stream_cpu0_main"]
    assert len([l for l in bt2(d / "t.ctf") if "sched_switch" in l]) == 10


def test_trace_ctf_loss_window(t):
    """Overwrites before the first read are reported between time zero and
    the first retained event, not over the retained events."""
    import struct
    img = bytearray(SEED.read_bytes())
    slots, nslots = struct.unpack_from("<QI", img, RINGS_ADDR + 16)
    for h in range(40):  # ring 0 wrapped: h 0..23 overwritten, 24..39 kept
        struct.pack_into("<IHHQQQ", img, slots + (h % nslots) * 32, (h << 1) | 1,
                         TP_SCHED_SWITCH, 0, 1000 * (h + 1), h, h + 1)
    struct.pack_into("<Q", img, RINGS_ADDR, 40)
    # Ring 1 in discard mode, 7 events refused (ring full): after its last event.
    struct.pack_into("<Q", img, RINGS_ADDR + 64 + 8, 7)
    struct.pack_into("<I", img, RINGS_ADDR + 64 + 28, 1)
    d = t.tmpdir()
    (d / "w.bin").write_bytes(img)
    r = ukctl(t, "trace", "--from-core", d / "w.bin", "--format", "ctf", "-o", d / "w.ctf")
    assert r.returncode == 0 and "overwritten 24" in r.stdout, (r.stdout, r.stderr)
    assert "discarded 7" in r.stdout, r.stdout
    b = run(["babeltrace2", str(d / "w.ctf")], check=False, timeout=60)
    assert b.returncode == 0, b.stderr
    m = re.findall(r"discarded (\d+) events between \[([\d:.]+)\] and \[([\d:.]+)\] .*"
                   r"stream_cpu(\d)", b.stderr)
    assert sorted(x[0] for x in m) == ["24", "7"], b.stderr
    last1 = [l for l in b.stdout.splitlines() if "cpu_id = 1" in l][-1]
    stamp1 = re.match(r"\[([\d:.]+)\]", last1).group(1)
    assert [x[1:] for x in m if x[0] == "7"] == [(stamp1, stamp1, "1")], (m, last1)
    m = [x for x in m if x[0] == "24"]

    def ns(stamp):
        h, mi, s = stamp.split(":")
        return round((int(h) * 3600 + int(mi) * 60 + float(s)) * 1e9)
    first_kept = 25000
    assert ns(m[0][1]) == 0 and ns(m[0][2]) <= first_kept, m
    kept = [l for l in b.stdout.splitlines() if "cpu_id = 0" in l]
    assert len(kept) == 16 and "prev_tid = 24," in kept[0], kept[:2]


def test_trace_help(t):
    r = ukctl(t, "trace", "--help")
    assert r.returncode == 0, r.stderr
    for opt in ("-f, --format", "-o, --output", "-c, --from-core", "-F, --follow", "-h, --help",
                "perfetto", "json", "ctf", "none"):
        assert opt in r.stdout, (opt, r.stdout)
    r = ukctl(t, "trace", "--bogus")
    assert r.returncode == 2 and "--output" in r.stderr, r.stderr
    # A dir without instance.json: the path once, with why.
    empty = t.tmpdir()
    r = ukctl(t, "trace", str(empty))
    assert r.returncode != 0 and "No such file or directory" in r.stderr, r.stderr
    assert r.stderr.count(str(empty / "instance.json")) == 1, r.stderr


def pt_loads(core):
    """(p_offset, p_paddr, p_filesz) of each PT_LOAD of an ELF64 core."""
    import struct
    with open(core, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1:
            out.append((off, paddr, filesz))
    return out


def test_trace_from_qemu_dump(t, accel):
    """`--from-core` on a real QMP dump-guest-memory core (paging off): QEMU
    7.2 writes microvm RAM as several PT_LOADs (0, 0xf0000, 0x100000...) and
    the trace header lives above the first; full thread names come along."""
    run_dir = start(t, accel, t.build / "kernel.elf", smp=2)
    try:
        deadline = time.time() + 30 * t.scale(accel)
        while "ukscope: ready" not in (run_dir / "console.log").read_text(errors="replace"):
            assert time.time() < deadline, "guest not ready"
            time.sleep(0.2)
        time.sleep(1)
        core = run_dir / "dump.core"
        qmp_command(run_dir / "qmp.sock", "dump-guest-memory",
                    {"paging": False, "protocol": f"file:{core}"})
        loads = pt_loads(core)
        assert len(loads) >= 2 and sorted(p for _, p, _ in loads)[1] <= 0x100000, loads
        r = ukctl(t, "trace", "--from-core", core, "--format", "json", "-o", run_dir / "d.json")
        assert r.returncode == 0, r.stderr
        ev = json_events(run_dir / "d.json")
        assert any(e["name"] == "sched_switch" for e in ev), r.stdout
        with open(run_dir / "d.json") as f:
            names = {e["args"]["name"] for e in json.load(f)["traceEvents"]
                     if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == 1}
        for full in ("telemetry (", "kv-worker0 ("):  # once cut to 8: "telemetr", "kv-worke"
            assert any(n.startswith(full) for n in names), names
        # A segment that claims more bytes than the file holds is refused.
        (run_dir / "cut.core").write_bytes(core.read_bytes()[:1 << 20])
        r = ukctl(t, "trace", "--from-core", run_dir / "cut.core", "--format", "json",
                  "-o", run_dir / "c.json")
        assert r.returncode == 1 and "past the end of the file" in r.stderr, r.stderr
    finally:
        stop(t, run_dir)


def multi_core(ram, segs):
    """An ELF64 core whose PT_LOADs are (paddr, start, end, memsz or None)
    slices of ram, in the order given."""
    import struct
    base = 0x1000
    eh = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"", 4, 62, 1, 0, 64,
                     0, 0, 64, 56, len(segs), 0, 0, 0)
    phs, body = b"", b""
    for paddr, a, b, memsz in segs:
        phs += struct.pack("<IIQQQQQQ", 1, 6, base + len(body), 0, paddr, b - a,
                           memsz if memsz is not None else b - a, 0x1000)
        body += ram[a:b]
    return (eh + phs).ljust(base, b"\0") + body


def test_trace_core_segments(t):
    """Every PT_LOAD is placed at its address (in any order, with holes);
    overlapping or inconsistent segments are refused."""
    d = t.tmpdir()
    ram = SEED.read_bytes()
    cases = {
        # the header page and rings in a later segment, listed first; a hole below
        "split": ([(0x2000, 0x2000, len(ram), None), (0x1000, 0x1000, 0x2000, None)], None),
        "overlap": ([(0, 0, len(ram), None), (0x1000, 0x1000, 0x2000, None)], "overlap"),
        "filesz": ([(0, 0, len(ram), 16)], "more file bytes than memory"),
        "huge": ([(0, 0, len(ram), None), (1 << 62, 0, 4096, None)], "highest guest address"),
    }
    for name, (segs, err) in cases.items():
        (d / name).write_bytes(multi_core(ram, segs))
        r = ukctl(t, "trace", "--from-core", d / name, "--format", "json", "-o", d / "o.json")
        if err is None:
            assert r.returncode == 0 and "20 events" in r.stdout, (name, r.stdout, r.stderr)
        else:
            assert r.returncode == 1 and err in r.stderr, (name, r.stderr)


def test_trace_sigint_mid_conversion(t):
    """SIGINT during a long conversion stops it promptly, exit 1, and leaves
    neither a truncated output nor a temporary file."""
    sys.path.insert(0, str(REPO / "tests"))
    from bench import trace_image
    d = t.tmpdir()
    total = trace_image(d / "ram", nrings=4, nslots=1 << 18)
    (d / "out").mkdir()
    out = d / "out" / "t.json"
    p = subprocess.Popen([str(t.build / "bin" / "ukctl"), "trace", "--from-core", str(d / "ram"),
                          "--format", "json", "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list((d / "out").iterdir()):  # conversion started: temporary file exists
        assert time.time() < deadline and p.poll() is None, "no temporary output"
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    t0 = time.time()
    o, e = p.communicate(timeout=30)
    t.log(f"exit {p.returncode} {time.time() - t0:.2f}s after SIGINT; {total} events")
    assert p.returncode == 1 and "interrupted" in e, (p.returncode, o, e)
    assert time.time() - t0 < 5, "SIGINT not honoured promptly"
    assert list((d / "out").iterdir()) == [], list((d / "out").iterdir())
