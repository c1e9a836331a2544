"""`ukctl trace --with-host` (docs/host-view.md, "One timeline"): the guest's
per-CPU tracks and the host's tracks of the same QEMU in one Perfetto trace,
on the host's CLOCK_MONOTONIC.

The alignment is checked three ways, none of which trusts the tool's own
figures alone:
- the error bound it reports (half the width of the intersected sync
  brackets) is within BOUND_NS;
- two recordings of the same running guest, from disjoint sync points,
  give the same guest-TSC offset within the sum of their bounds (under TCG
  the offset is a constant of the QEMU process);
- the guest's "vCPU not running" gaps line up with the host's off-CPU
  intervals of that vCPU's thread: no guest record of CPU n lies inside an
  interval in which the host says thread "CPU n/..." was off its CPU (the
  guest cannot run then), and a control shows that the same check finds
  records inside once the guest side is moved by SHIFT_NS.  Intervals in
  which the recorder missed a switch (marked by the tool) are left out.
To get off-CPU intervals that are not just halts, vCPU 0's thread is pinned
to one host CPU with a busy competitor.  Needs root (BPF).
"""
import json
import os
import re
import subprocess
import sys
import time
from bisect import bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import run  # noqa: E402
from test_bpf import need_bpf  # noqa: E402
from test_collector import Collector, setup, stop_all  # noqa: E402
from test_trace import pf_decode  # noqa: E402

# The goal.  Measured here (TCG, busy 2-vCPU guest, sync every
# 10 ms, 3 s): 4.5-6.6 us; see docs/host-view.md.
BOUND_NS = 10_000
# Under kvm_pvm (this project's CI host) every port access and rdtsc of our
# guest traps and is emulated: one sync bracket is ~220 us (median), and the
# intersected bound 64-66 us.  The fit is still consistent (the model holds);
# only its bound is wider.  Hardware VMX/SVM is held to BOUND_NS.
BOUND_PVM_NS = 100_000
# Margin on each side of an off-CPU interval besides the bound: the BPF
# timestamp is taken inside sched_switch, before/after which the thread is
# already/still in the kernel, so 1 us is slack, not a fudge.
MARGIN_NS = 1_000
SHIFT_NS = 500_000
CLOCK = re.compile(r"clock: sync_points=(\d+) guest_sync=(\d+) host_sync=(\d+) bound_ns=(\d+) "
                   r"bracket_median_ns=(\d+) k=(-?\d+) ns_per_tick=([0-9.]+)")
PACKET = re.compile(r"^packet \{\n(.*?)^\}", re.M | re.S)


def packets(text):
    """[(timestamp or None, dict of the first-level scalar fields found)]."""
    out = []
    for m in PACKET.finditer(text):
        body = m.group(1)
        d = {}
        for k in ("timestamp", "track_uuid", "uuid", "parent_uuid", "pid"):
            x = re.search(rf"^\s*{k}: (\d+)$", body, re.M)
            if x:
                d[k] = int(x.group(1))
        x = re.search(r"^\s*type: (\w+)$", body, re.M)
        if x:
            d["type"] = x.group(1)
        names = re.findall(r'^\s*name: "([^"]*)"$', body, re.M)
        if names:
            d["name"] = names[-1]  # the event's/track's own name comes last
        d["descriptor"] = "track_descriptor" in body
        out.append(d)
    return out


def start(t, root, accel, extra=""):
    run([t.build / "bin/ukctl", "run", "--detach", "--keep", "--no-net", "--name", "g",
         "--run-dir", root / "g", "--mem", "32", "--smp", "2", "--accel", accel,
         "--cmdline", "demo.load=60 trace_sync_ms=10 trace_buf=1M " + extra,
         t.build / "kernel.elf"], timeout=120)
    return json.loads((root / "g" / "instance.json").read_text())["pid"]


def pin_vcpu0(pid):
    """vCPU 0's thread shares host CPU 0 with a busy competitor, so it is
    preempted (off-CPU intervals that are not just halts).  Returns the
    vCPU threads and the competitor to kill."""
    vcpus = vcpu_threads(pid)
    assert 0 in vcpus and 1 in vcpus, vcpus
    cpu0 = min(os.sched_getaffinity(0))
    os.sched_setaffinity(vcpus[0], {cpu0})
    return vcpus, subprocess.Popen(["taskset", "-c", str(cpu0), sys.executable, "-c",
                                    "while True: pass"])


def vcpu_threads(pid):
    res = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError:
            continue
        m = re.match(r"CPU (\d+)/(KVM|TCG)$", comm)
        if m:
            res[int(m.group(1))] = int(tid)
    return res


# ukctl runs under this wrapper, which prints its voluntary context switches
# (the recorder's wake-ups) on stderr after it exits.
NVCSW = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
         "n = resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw; "
         "print('nvcsw', n, file=sys.stderr); sys.exit(r.returncode)")


def record(t, root, out, duration):
    r = run([sys.executable, "-c", NVCSW, t.build / "bin/ukctl", "trace", root / "g",
             "--with-host", "--duration", str(duration), "-o", out], timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    m = CLOCK.search(r.stdout)
    assert m, r.stdout
    w = re.search(r"^nvcsw (\d+)$", r.stderr, re.M)
    assert w, r.stderr
    t.log(r.stdout + f"ukctl voluntary context switches: {w.group(1)}")
    return {"points": int(m.group(1)), "bound": int(m.group(4)), "bracket": int(m.group(5)),
            "k": int(m.group(6)), "ns_per_tick": float(m.group(7)), "nvcsw": int(w.group(1))}


def off_intervals(evs):
    """Off-CPU intervals [(a, b)] of one host thread track from its slices.
    An interval with any instant of the thread inside (a syscall, or the
    tool's "missed switch-in/out" marks) is not a clean off-CPU interval:
    the recorder missed a switch there, so it is left out."""
    stack, res, off_since = [], [], None
    for e in evs:
        if e.get("type") == "TYPE_INSTANT":
            off_since = None
        elif e.get("type") == "TYPE_SLICE_BEGIN":
            if e["name"].startswith("on CPU") and off_since is not None:
                res.append((off_since, e["timestamp"]))
                off_since = None
            stack.append(e["name"])
        elif e.get("type") == "TYPE_SLICE_END" and stack:
            if stack.pop().startswith("on CPU"):
                off_since = e["timestamp"]
    return res


def inside(ts, intervals, margin, shift=0):
    """Guest records (sorted ts, shifted) strictly inside shrunken intervals."""
    n = 0
    for a, b in intervals:
        lo, hi = a + margin - shift, b - margin - shift
        if hi > lo:
            n += bisect_right(ts, hi - 1) - bisect_right(ts, lo)
    return n


def check_alignment(t, path, pid, vcpus, bound, accel):
    """One guest+host Perfetto trace: the guest's CPU tracks and the host's
    tracks of QEMU pid share one window, and no guest record of CPU n lies
    inside an interval where the host had vCPU n's thread off CPU (with a
    control that the check sees a misaligned trace)."""
    pk = packets(pf_decode(path))
    tracks = {p["uuid"]: p for p in pk if p["descriptor"] and "uuid" in p}
    procs = {p["name"]: p for p in tracks.values() if "pid" in p and "parent_uuid" not in p}
    assert "guest" in procs and f"host: qemu {pid}" in procs, procs.keys()
    host_uuid = tracks and procs[f"host: qemu {pid}"]["uuid"]
    host_tracks = {u: p["name"] for u, p in tracks.items() if p.get("parent_uuid") == host_uuid}
    guest_cpu = {u: int(p["name"].split()[1]) for u, p in tracks.items()
                 if p.get("parent_uuid") == procs["guest"]["uuid"]
                 and re.fullmatch(r"CPU \d+", p["name"])}
    assert sorted(guest_cpu.values()) == [0, 1], guest_cpu
    by_tid = {int(n.rsplit(" ", 1)[1]): u for u, n in host_tracks.items()}
    assert vcpus[0] in by_tid and vcpus[1] in by_tid, host_tracks
    evs = {}
    for p in pk:
        if "track_uuid" in p:
            evs.setdefault(p["track_uuid"], []).append(p)
    # Both sides have events inside the same window.
    host_ts = [e["timestamp"] for u in host_tracks for e in evs.get(u, [])]
    gts = {cpu: sorted(e["timestamp"] for e in evs.get(u, [])) for u, cpu in guest_cpu.items()}
    lo, hi = min(host_ts), max(host_ts)
    assert any(lo <= x <= hi for x in gts[0]), (lo, hi, gts[0][:3], gts[0][-3:])
    assert any(e.get("name") == "host_sync write" for u in host_tracks for e in evs.get(u, []))
    kvm_ev = [e["name"] for u in host_tracks for e in evs.get(u, [])
              if e.get("name", "").startswith("kvm_")]
    if accel == "tcg":
        assert not kvm_ev, kvm_ev[:5]
    else:  # port I/O returns to QEMU (kvm_exit too on VMX/SVM; never on kvm_pvm)
        assert "kvm_userspace_exit" in kvm_ev, set(kvm_ev)

    # Gaps: no guest record while the host had the vCPU thread off CPU.
    margin = bound + MARGIN_NS
    total = checked = bad = shifted = 0
    for cpu in (0, 1):
        ivs = [(a, b) for a, b in off_intervals(evs[by_tid[vcpus[cpu]]])
               if b - a > 2 * margin and gts[cpu][0] < a and b < gts[cpu][-1]]
        checked += len(ivs)
        total += sum(b - a for a, b in ivs)
        bad += inside(gts[cpu], ivs, margin)
        shifted += inside(gts[cpu], ivs, margin, SHIFT_NS) + \
            inside(gts[cpu], ivs, margin, -SHIFT_NS)
    t.log(f"off-CPU intervals checked: {checked}, {total / 1e6:.1f} ms; guest records "
          f"inside: {bad}; with the guest moved by +-{SHIFT_NS / 1e3:.0f} us: {shifted}")
    # for the record: how small a misalignment this check alone would see
    for sh in (0, 2_000, 5_000, 10_000, 20_000, 50_000):
        n = sum(inside(gts[c], [(a, b) for a, b in off_intervals(evs[by_tid[vcpus[c]]])],
                       MARGIN_NS, s) for c in (0, 1) for s in {sh, -sh})
        t.log(f"  guest moved by +-{sh / 1e3:.0f} us: {n} records inside")
    assert checked >= 10 and total >= 10_000_000, (checked, total)
    assert shifted > 0, "the gap check cannot tell a misaligned trace"
    assert bad == 0, (bad, checked)


def check_trace_host(t, accel):
    need_bpf()
    base, root, state = setup(t)
    spinner = None
    try:
        pid = start(t, root, accel)
        time.sleep(2 * t.scale(accel))
        vcpus, spinner = pin_vcpu0(pid)
        dur = 3
        bound = BOUND_PVM_NS if accel == "kvm" and os.path.exists("/sys/module/kvm_pvm") \
            else BOUND_NS
        c1 = record(t, root, base / "a.pftrace", dur)
        c2 = record(t, root, base / "b.pftrace", dur)
        for c in (c1, c2):
            assert c["points"] >= 20, c
            assert c["bound"] <= bound, c
            # The recorder reads the ring every 100 ms; woken by each record
            # instead, it preempted QEMU at each wake-up and recorded that
            # (20 000-70 000 wake-ups in 3 s; 40-140 now).
            assert c["nvcsw"] <= 1000, c
        # Same QEMU, disjoint sync points: the same offset within the bounds.
        dk_ns = abs(c1["k"] - c2["k"]) * c1["ns_per_tick"]
        t.log(f"offset difference between two recordings: {dk_ns:.0f} ns")
        assert dk_ns <= c1["bound"] + c2["bound"], (c1, c2, dk_ns)

        check_alignment(t, base / "a.pftrace", pid, vcpus, c1["bound"], accel)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
        stop_all(t, root)


def test_trace_host(t, accel):
    check_trace_host(t, accel)


def test_trace_host_bundle(t):
    """The collector's crash bundle carries the same timeline: its host
    recorder keeps the latest records of every instance's QEMU, and on a
    panic the bundle gets timeline.perfetto-trace (the guest's last seconds
    from the trace store, on the host clock, beside the host tracks), held
    to the same checks as a live recording.  TCG only: the bundle path does
    not depend on the engine, and test_trace_host[kvm] checks the mapping
    under KVM."""
    need_bpf()
    base, root, state = setup(t)
    crash = base / "crashes"
    spinner = c = None
    try:
        pid = start(t, root, "tcg", "fault=panic fault_delay_ms=6000")
        c = Collector(t, root, state, env=dict(os.environ, UKSCOPE_CRASH_DIR=str(crash)))
        vcpus, spinner = pin_vcpu0(pid)
        c.wait_metrics(lambda m: 'ukcollectd_crash_bundles_total{instance="g"} 1' in m,
                       "the crash bundle", 90)
        bundle = next(crash.glob("*-g"))
        rep = json.loads((bundle / "report.json").read_text())
        tl = rep["timeline"]
        t.log(json.dumps(tl))
        assert tl["status"] == "ok" and rep["snapshots"]["timeline"] == "ok", tl
        assert tl["qemu_pid"] == pid and tl["host_events"] > 1000, tl
        assert tl["host_events_lost"] == 0 and tl["sync_points"] >= 20, tl
        assert tl["clock_bound_ns"] <= BOUND_NS, tl
        check_alignment(t, bundle / "timeline.perfetto-trace", pid, vcpus, tl["clock_bound_ns"],
                        "tcg")
        # the console's download: the same bytes, no token needed (trace events, not memory)
        st, body = c.request(f"/api/v1/crashes/{bundle.name}/timeline")
        assert st == 200 and body == (bundle / "timeline.perfetto-trace").read_bytes(), st
        st, body = c.request(f"/api/v1/crashes/{bundle.name}/nothing")
        assert st == 404, (st, body)
        m = c.get("/metrics")
        assert "ukcollectd_host_trace_up 1" in m, m[-2000:]
        n = re.search(r'ukcollectd_host_trace_events_total\{instance="g"\} (\d+)', m)
        assert n and int(n.group(1)) >= tl["host_events"], m[-2000:]
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
        if c:
            c.stop()
        stop_all(t, root)


def test_trace_host_refuses(t):
    """No sync points (guest without trace_sync_ms): a clear error and no
    output, not a trace on a guessed clock; --with-host with another format
    or a core file is a usage error."""
    need_bpf()
    base, root, state = setup(t)
    try:
        run([t.build / "bin/ukctl", "run", "--detach", "--keep", "--no-net", "--name", "g",
             "--run-dir", root / "g", "--mem", "32", "--accel", "tcg",
             "--cmdline", "demo.load=10", t.build / "kernel.elf"], timeout=120)
        time.sleep(1)
        out = base / "x.pftrace"
        r = run([t.build / "bin/ukctl", "trace", root / "g", "--with-host", "--duration", "1",
                 "-o", out], timeout=60, check=False)
        assert r.returncode == 1 and "Failed to map the guest clock" in r.stderr, r.stderr
        assert "trace_sync_ms" in r.stderr and not out.exists(), r.stderr
        for extra in (["-f", "json"], ["--follow"], ["--duration", "0"]):
            r = run([t.build / "bin/ukctl", "trace", root / "g", "--with-host", *extra],
                    timeout=60, check=False)
            assert r.returncode == 2, (extra, r.returncode, r.stderr)
        r = run([t.build / "bin/ukctl", "trace", "--from-core", root / "g" / "ram",
                 "--with-host"], timeout=60, check=False)
        assert r.returncode == 2, r.stderr
    finally:
        stop_all(t, root)
