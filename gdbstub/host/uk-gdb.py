# gdb helper for ukscope kernels (loaded by `ukctl gdb`, or `source` it).
#
#   uk threads   the thread table (uk_thread_table, <uk/thread_abi.h>)
#   uk name-threads  name gdb's threads after it (done on load for a core)
#   uk dmesg [N] the last N kernel log records (uk_klog, <uk/klog_abi.h>)
#
# Both read guest memory directly (no help from the stub), so they also work
# post-mortem.  Layouts come from the image's DWARF (gdb.lookup_type), not
# from offsets written here, so a layout change cannot silently break them
# (the headers _Static_assert the same offsets).  Guest memory is untrusted:
# magic/version/sizes are checked, every index and string bounded, and
# guest text (thread names, log lines) is printed with control characters
# escaped, so it cannot drive the terminal.
import struct

import gdb

STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "sleeping", 5: "exited"}


def _read(addr, size):
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, size))
    except gdb.MemoryError as e:
        raise gdb.GdbError(f"cannot read {size} bytes at {addr:#x}: {e}") from None


def _addr(sym):
    try:
        return int(gdb.parse_and_eval(f"(unsigned long)&{sym}"))
    except gdb.error as e:
        raise gdb.GdbError(f"{sym}: not in this image ({e})") from None


def _const(name):
    try:
        return int(gdb.parse_and_eval(name))
    except gdb.error:
        return None


def safe(b):
    """Guest bytes as printable text: printable ASCII kept (and backslash
    doubled), everything else -- ESC, CR, C1 controls, non-ASCII -- as \\xNN."""
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    return "".join(out)


def _cstr(b):
    return safe(b.split(b"\0", 1)[0])


class Layout:
    """Offsets and sizes of one struct's fields, from the image's DWARF."""

    def __init__(self, struct_name):
        try:
            t = gdb.lookup_type(f"struct {struct_name}")
        except gdb.error:
            raise gdb.GdbError(f"struct {struct_name}: no debug info in this image") from None
        self.name = struct_name
        self.size = t.sizeof
        self.off = {}
        self.len = {}
        self.type = {}
        for f in t.fields():
            if f.name is None or f.bitpos is None:
                continue
            self.off[f.name] = f.bitpos // 8
            self.len[f.name] = f.type.sizeof
            self.type[f.name] = f.type

    def need(self, *names):
        for n in names:
            if n not in self.off:
                raise gdb.GdbError(f"struct {self.name}: no field {n} in this image's DWARF")

    def u(self, buf, name, base=0, signed=False):
        """Unsigned (or signed) little-endian integer field."""
        n = self.len[name]
        fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[n]
        return struct.unpack_from("<" + (fmt if signed else fmt.upper()), buf,
                                  base + self.off[name])[0]

    def raw(self, buf, name, base=0):
        o = base + self.off[name]
        return buf[o:o + self.len[name]]


class UkPrefix(gdb.Command):
    """ukscope kernel commands: uk threads, uk dmesg [N]."""

    def __init__(self):
        super().__init__("uk", gdb.COMMAND_USER, prefix=True)


class UkThreads(gdb.Command):
    """List kernel threads from uk_thread_table (read from memory)."""

    def __init__(self):
        super().__init__("uk threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        gdb.write(f"{'TID':>5} {'NAME':<20} {'STATE':<9} {'CPU':>4} {'RIP':>18}\n")
        for tid, name, state, cpu, rip in _threads():
            gdb.write(f"{tid:>5} {name:<20} {STATES.get(state, '?'):<9} {cpu:>4} {rip:#18x}\n")


class UkNameThreads(gdb.Command):
    """Name gdb's threads after the thread table (LWP = thread id), so that
`info threads` shows them; run when this helper is loaded on a core (gdb
reads no thread names from a Linux-style core)."""

    def __init__(self):
        super().__init__("uk name-threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        names = {tid: name for tid, name, _, _, _ in _threads()}
        n = 0
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] in names:
                t.name = names[t.ptid[1]]
                n += 1
        if from_tty:
            gdb.write(f"named {n} threads\n")


def _threads():
    """(tid, name, state, cpu, rip) of every used slot of uk_thread_table."""
    tt = Layout("uk_thread_table")
    th = Layout("uk_thread")
    ctx = Layout("uk_thread_ctx")
    tt.need("magic", "version", "max", "entry_size", "threads")
    th.need("state", "tid", "name", "cpu", "ctx")
    ctx.need("rip")
    base = _addr("uk_thread_table")
    hdr = _read(base, tt.off["threads"])
    magic, version = tt.u(hdr, "magic"), tt.u(hdr, "version")
    tmax, esize = tt.u(hdr, "max"), tt.u(hdr, "entry_size")
    want_magic = _const("UK_THREAD_TABLE_MAGIC") or 0x5448544B55
    if magic != want_magic or version != (_const("UK_THREAD_TABLE_VERSION") or 1):
        raise gdb.GdbError(f"uk_thread_table: bad header (magic {magic:#x}, "
                           f"version {version})")
    # The reader needs the ABI prefix of every entry; the kernel may add
    # private fields after it (entry_size is the stride).
    need = max(th.off[n] + th.len[n] for n in ("state", "tid", "name", "cpu", "ctx"))
    if not need <= esize <= 4096:
        raise gdb.GdbError(f"uk_thread_table: bad entry_size {esize} (want {need}..4096; "
                           f"this image's struct uk_thread is {th.size} bytes)")
    if not 0 < tmax <= 4096:
        raise gdb.GdbError(f"uk_thread_table: bad max {tmax} (want 1..4096)")
    first = base + tt.off["threads"]
    for i in range(tmax):
        rec = _read(first + i * esize, need)
        state = th.u(rec, "state")
        if state == 0:
            continue
        yield (th.u(rec, "tid"), _cstr(th.raw(rec, "name")), state,
               th.u(rec, "cpu", signed=True), ctx.u(rec, "rip", base=th.off["ctx"]))


class UkDmesg(gdb.Command):
    """Print the last N (default 50) kernel log records from uk_klog."""

    def __init__(self):
        super().__init__("uk dmesg", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        try:
            n = int(arg) if arg.strip() else 50
        except ValueError:
            raise gdb.GdbError(f"uk dmesg: not a number: {arg.strip()!r}") from None
        ring = Layout("uk_klog_ring")
        rl = Layout("uk_klog_rec")
        ring.need("magic", "version", "slots", "rec_size", "head", "rec")
        rl.need("seq", "time_ns", "cpu", "len", "tid", "text")
        base = _addr("uk_klog")
        hdr = _read(base, ring.off["rec"])
        magic, version = ring.u(hdr, "magic"), ring.u(hdr, "version")
        slots, rsize, head = ring.u(hdr, "slots"), ring.u(hdr, "rec_size"), ring.u(hdr, "head")
        if magic != (_const("UK_KLOG_MAGIC") or 0x474F4C4B55) or \
                version != (_const("UK_KLOG_VERSION") or 1):
            raise gdb.GdbError(f"uk_klog: bad header (magic {magic:#x}, version {version})")
        if rsize != rl.size or not 0 < slots <= 65536:
            raise gdb.GdbError(f"uk_klog: bad rec_size {rsize} or slots {slots} (this image's "
                               f"record is {rl.size} bytes)")
        recs = base + ring.off["rec"]
        tmax = rl.len["text"]
        for seq in range(max(0, head - min(max(n, 0), slots)), head):
            rec = _read(recs + (seq % slots) * rsize, rsize)
            if rl.u(rec, "seq") != seq + 1:
                continue  # overwritten or being written
            tns, cpu, tid = rl.u(rec, "time_ns"), rl.u(rec, "cpu"), rl.u(rec, "tid")
            ln = min(rl.u(rec, "len"), tmax)
            text = safe(rl.raw(rec, "text")[:ln])
            gdb.write(f"[{tns // 10**9:5}.{tns // 1000 % 10**6:06}] {cpu}:{tid} {text}\n")


UkPrefix()
UkThreads()
UkNameThreads()
UkDmesg()

# On a core, name the threads now (a live stub reports names itself).
try:
    _conn = gdb.selected_inferior().connection
    if _conn is not None and _conn.type == "core":
        gdb.execute("uk name-threads", to_string=True)
except (gdb.error, AttributeError):
    pass
