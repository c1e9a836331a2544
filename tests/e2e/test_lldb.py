"""End-to-end: Debian's lldb (14) against the in-guest stub, next to the gdb
tests.  lldb connects straight to the COM2 unix socket
(`process connect unix-connect://PATH`; `gdb-remote` only takes host:port).

lldb reads its commands from a pipe, which keeps it asynchronous: `process
continue` returns at once and a later `process interrupt` sends 0x03, as
at a terminal (in --batch mode continue blocks and SIGINT does not reach
the target).  Each command waits for the text that says it finished.
"""
import re
import subprocess
import threading
import time

from harness import boot

LLDB = "lldb"


class Lldb:
    def __init__(self, t, image, log):
        self.t = t
        self.p = subprocess.Popen([LLDB, "-x", str(image)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t._track(self.p)
        self.out = ""
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.cmd(f"log enable -f {log} gdb-remote packets process", None)

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.out += line
                self.cond.notify_all()

    def cmd(self, c, expect, timeout=60):
        """Send one command; wait until `expect` matches the output it adds
        (expect="done": until lldb ran a `version` sent after it)."""
        with self.cond:
            start = len(self.out)
        if expect == "done":
            c += "\nversion"
            expect = r"lldb version \d+"
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        if expect is None:
            return ""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not re.search(expect, self.out[start:]):
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    raise AssertionError(f"lldb: {c!r}: no {expect!r} in {timeout:.0f}s\n"
                                         + self.out)
                self.cond.wait(min(left, 0.5))
            return self.out[start:]

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
        self.t.log("lldb:\n" + self.out)


def test_lldb_session(t, accel):
    """connect, thread list with names, bt, breakpoint, continue, interrupt,
    detach; lldb never sees a '+' after NoAck was agreed."""
    d = t.tmpdir()
    sock = d / "gdb.sock"
    scale = t.scale(accel)
    vm = boot(t, t.build / "kernel.elf", smp=2, mem=64, accel=accel, timeout=30 * scale,
              extra_args=["-chardev", f"socket,id=gdb,path={sock},server=on,wait=off",
                          "-device", "isa-serial,chardev=gdb,iobase=0x2f8,irq=3"],
              until=r"demo: \d+ threads started|PANIC")
    log = d / "lldb-packets.log"
    lldb = Lldb(t, t.build / "kernel.elf", log)
    try:
        out = lldb.cmd(f"process connect unix-connect://{sock}", r"Process 1 stopped",
                       60 * scale)
        threads = lldb.cmd("thread list", "done", 60 * scale)
        for name in ("idle0", "idle1", "producer", "consumer", "ticker", "cruncher0"):
            assert re.search(rf"thread #\d+: tid = 0x[0-9a-f]+, .* name = '{name}'", threads), \
                f"{name} missing\n{threads}"
        # The thread that stopped carries the reason; the others none.
        assert len(re.findall(r"stop reason = signal SIGINT", threads)) == 1, threads
        # A sleeping thread's backtrace from its saved context.
        bt = lldb.cmd("bt all", "done", 120 * scale)
        assert re.search(r"name = 'ticker'[^\n]*\n(?:\s+frame #\d+: .*\n)*\s+frame #\d+: "
                         r".*`ticker\(", bt), bt
        out = lldb.cmd("breakpoint set -n demo_work_item", r"Breakpoint 1: where")
        out = lldb.cmd("process continue", r"stop reason = breakpoint 1\.1", 60 * scale)
        assert re.search(r"name = 'consumer', stop reason = breakpoint 1\.1\n\s+frame #0: "
                         r"0x[0-9a-f]+ kernel\.elf`demo_work_item", out), out
        out = lldb.cmd("bt 3", "done")
        assert re.search(r"frame #1: .*`consumer\(", out), out
        lldb.cmd("breakpoint delete -f", r"All breakpoints removed")
        lldb.cmd("process continue", r"Process 1 resuming")
        time.sleep(1.0 * scale)
        out = lldb.cmd("process interrupt", r"stop reason = signal SIGINT", 60 * scale)
        out = lldb.cmd("process detach", r"Process 1 detached", 60 * scale)
    finally:
        lldb.quit()
    text = log.read_text(errors="replace")
    assert "QStartNoAckMode" in text and "jThreadsInfo" in text, text[-2000:]
    # The stub agreed to NoAck before qSupported: it must not ack afterwards.
    assert "spurious" not in text, [ln for ln in text.splitlines() if "spurious" in ln][:5]
    # Detach resumed the guest: it keeps running and logging.
    assert vm.running, vm.describe()
    vm.kill()
