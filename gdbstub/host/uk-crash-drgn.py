#!/usr/bin/python3
"""drgn helper for ukscope crash cores (`ukctl dump`, crash bundles).

    /usr/bin/python3 gdbstub/host/uk-crash-drgn.py CORE KERNEL_ELF [threads|klog|trace|info|all]

or from drgn itself (`drgn -c CORE -s KERNEL_ELF`):

    >>> exec(open("gdbstub/host/uk-crash-drgn.py").read())
    >>> uk_threads(prog); uk_klog(prog, 50); uk_trace(prog)

Types come from kernel.elf's DWARF, so layouts are never hard-coded here.
Guest memory in a core is hostile input: every index and count is bounded,
text is printed with non-printable bytes escaped.
"""
import json
import struct
import sys

import drgn

STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "sleeping", 5: "exited"}
MAX_THREADS = 256
KLOG_SLOTS = 1024


def _clean(b):
    """Guest bytes as printable text (escape sequences neutralised)."""
    if isinstance(b, (bytes, bytearray)):
        b = b.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in b)


def _fname(f):
    """A frame's function name, else its pc, else "?" (the unwinder's last frame)."""
    if f.name:
        return f.name
    try:
        return hex(f.pc)
    except LookupError:
        return "?"


def uk_meta(core_path):
    """The UKSCOPE note's JSON (instance, panic reason/message, build-id)."""
    with open(core_path, "rb") as f:
        data = f.read(1 << 20)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    _, _, off, _, _, size = struct.unpack_from("<IIQQQQ", data, phoff)
    end = min(off + size, len(data))
    while off + 12 <= end:
        namesz, descsz, _ = struct.unpack_from("<III", data, off)
        name = data[off + 12:off + 12 + namesz].rstrip(b"\0")
        desc = off + 12 + (namesz + 3) // 4 * 4
        if name == b"UKSCOPE":
            return json.loads(data[desc:desc + descsz].rstrip(b"\0"))
        off = desc + (descsz + 3) // 4 * 4
    return {}


def uk_threads(prog, out=sys.stdout):
    """Every thread: tid, name, state, CPU, and its stack from the core's NT_PRSTATUS."""
    tt = prog["uk_thread_table"]
    n = min(int(tt.max), MAX_THREADS, len(tt.threads))
    out.write(f"{'TID':>5} {'NAME':<20} {'STATE':<9} {'CPU':>3}  FRAMES\n")
    for i in range(n):
        t = tt.threads[i]
        state = int(t.state)
        if state == 0:
            continue
        tid = int(t.tid)
        name = _clean(t.name.string_())
        try:
            frames = [_fname(f) for f in prog.thread(tid).stack_trace()][:6]
        except (LookupError, ValueError, drgn.FaultError):
            frames = ["(no registers in the core)"]
        out.write(f"{tid:>5} {name:<20} {STATES.get(state, '?'):<9} {int(t.cpu):>3}  "
                  f"{' <- '.join(frames)}\n")


def uk_klog(prog, count=200, out=sys.stdout):
    """The newest `count` records of the kernel log ring."""
    ring = prog["uk_klog"]
    head = int(ring.head)
    slots = min(int(ring.slots), KLOG_SLOTS)
    for seq in range(max(0, head - min(count, slots)), head):
        r = ring.rec[seq % slots]
        try:
            if int(r.seq) != seq + 1:
                continue  # overwritten or torn
            n = min(int(r.len), len(r.text))
            text = _clean(prog.read(r.text.address_, n))
        except drgn.FaultError:
            continue
        ns = int(r.time_ns)
        out.write(f"[{ns // 10**9:5}.{ns // 1000 % 10**6:06}] {int(r.cpu)}:{int(r.tid)} {text}\n")


def uk_trace(prog, out=sys.stdout):
    """Per-ring summary of the flight recorder (events stored, lost)."""
    try:
        hdr = prog.object("header", filename="trace.c")
    except (LookupError, ValueError):
        out.write("no trace header in this image\n")
        return
    nrings = min(int(hdr.nrings), 32)
    rings = drgn.Object(prog, prog.type("struct uk_trace_ring"), address=int(hdr.rings_addr)) \
        if nrings else None
    out.write(f"trace: {int(hdr.ncpus)} CPUs, {nrings} rings, {int(hdr.ntps)} tracepoints\n")
    for i in range(nrings):
        try:
            r = drgn.Object(prog, prog.type("struct uk_trace_ring"),
                            address=int(hdr.rings_addr) + i * rings.type_.size)
            head, nslots = int(r.head), int(r.nslots)
            out.write(f"  ring {i}: cpu {int(r.cpu)} kind {int(r.kind)} slots {nslots} "
                      f"written {head} stored {min(head, nslots)} "
                      f"overwritten {max(0, head - nslots)} discarded {int(r.lost)}\n")
        except drgn.FaultError:
            out.write(f"  ring {i}: not in the core\n")


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    core, image = argv[1], argv[2]
    what = argv[3] if len(argv) > 3 else "all"
    prog = drgn.Program()
    prog.set_core_dump(core)
    prog.load_debug_info([image])
    if what in ("info", "all"):
        m = uk_meta(core)
        print(f"instance {_clean(m.get('name', '?'))} build-id {m.get('build_id', '?')} "
              f"smp {m.get('smp')} level {m.get('level')}")
        if m.get("panicked"):
            print(f"{m.get('reason')} on CPU {m.get('cpu')}: {_clean(m.get('message', ''))}")
        crashed = prog.crashed_thread()
        print(f"crashed thread {crashed.tid}:")
        for i, f in enumerate(crashed.stack_trace()):
            print(f"  #{i} {_fname(f)}")
    if what in ("threads", "all"):
        uk_threads(prog)
    if what in ("klog", "all"):
        uk_klog(prog, 200 if what == "klog" else 20)
    if what in ("trace", "all"):
        uk_trace(prog)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
