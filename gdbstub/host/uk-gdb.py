# gdb helper for ukscope kernels (loaded by `ukctl gdb`, or `source` it).
#
#   uk threads   the thread table (uk_thread_table, <uk/thread_abi.h>)
#   uk dmesg [N] the last N kernel log records (uk_klog, <uk/klog_abi.h>)
#
# Both read guest memory directly (no help from the stub), so they also work
# post-mortem.  Guest memory is untrusted: magic/version/sizes are checked,
# every index and string bounded.
import struct

import gdb

THREAD_MAGIC = 0x5448544B55
KLOG_MAGIC = 0x474F4C4B55
STATES = {0: "free", 1: "runnable", 2: "running", 3: "blocked", 4: "sleeping", 5: "exited"}


def _read(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def _addr(sym):
    return int(gdb.parse_and_eval(f"(unsigned long)&{sym}"))


def _cstr(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


class UkPrefix(gdb.Command):
    """ukscope kernel commands: uk threads, uk dmesg [N]."""

    def __init__(self):
        super().__init__("uk", gdb.COMMAND_USER, prefix=True)


class UkThreads(gdb.Command):
    """List kernel threads from uk_thread_table (read from memory)."""

    def __init__(self):
        super().__init__("uk threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        base = _addr("uk_thread_table")
        magic, version, tmax, esize, ncpus = struct.unpack("<QIIII", _read(base, 24))
        if magic != THREAD_MAGIC or version != 1 or not 0 < esize <= 4096 or tmax > 4096:
            raise gdb.GdbError("uk_thread_table: bad header (magic/version/entry size)")
        first = base + 24 + 16 * 8  # header, current[16]
        gdb.write(f"{'TID':>5} {'NAME':<20} {'STATE':<9} {'CPU':>4} {'RIP':>18}\n")
        for i in range(tmax):
            rec = _read(first + i * esize, min(esize, 112))
            state, tid = struct.unpack_from("<II", rec, 0)
            if state == 0:
                continue
            name = _cstr(rec[8:40])
            cpu, = struct.unpack_from("<i", rec, 40)
            rip, = struct.unpack_from("<Q", rec, 48 + 7 * 8)
            gdb.write(f"{tid:>5} {name:<20} {STATES.get(state, '?'):<9} {cpu:>4} {rip:#18x}\n")


class UkDmesg(gdb.Command):
    """Print the last N (default 50) kernel log records from uk_klog."""

    def __init__(self):
        super().__init__("uk dmesg", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        n = int(arg) if arg.strip() else 50
        base = _addr("uk_klog")
        magic, version, slots, rsize, _pad, head = struct.unpack("<QIIIIQ", _read(base, 32))
        if magic != KLOG_MAGIC or version != 1 or rsize != 136 or not 0 < slots <= 65536:
            raise gdb.GdbError("uk_klog: bad header (magic/version/record size)")
        recs = base + 40
        for seq in range(max(0, head - min(n, slots)), head):
            rec = _read(recs + (seq % slots) * rsize, rsize)
            rseq, tns, level, cpu, ln, tid = struct.unpack_from("<QQBBHI", rec, 0)
            if rseq != seq + 1:
                continue  # overwritten or being written
            text = rec[24:24 + min(ln, 112)].decode("utf-8", "replace")
            gdb.write(f"[{tns // 10**9:5}.{tns // 1000 % 10**6:06}] {cpu}:{tid} {text}\n")


UkPrefix()
UkThreads()
UkDmesg()
