"""A private rsyslogd for tests and benchmarks (issue 12): imrelp and imtcp on
loopback, every message written raw (%rawmsg%) to one file.  Debian's rsyslog +
rsyslog-relp; runs in the foreground (-n) from a temporary directory, with no
imuxsock/imklog, so it neither reads nor writes the host's logs."""
import os
import re
import signal
import socket
import time
from pathlib import Path

from harness import Skip, _kill, _spawn

RSYSLOGD = "/usr/sbin/rsyslogd"
SEQ_RE = re.compile(rb'\[ukscope@32473 [^\]]*?seq="(\d+)"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rsyslogd:
    def __init__(self, workdir, track=None, imtcp=False):
        if not os.access(RSYSLOGD, os.X_OK):
            raise Skip("rsyslogd not installed (Debian rsyslog, rsyslog-relp)")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tcp_port = free_port() if imtcp else None
        self.out = self.dir / "out.log"
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        self.stderr = self.dir / "rsyslogd.stderr"
        self.track = track
        self.proc = None
        tcp = ""
        if imtcp:
            tcp = (f'module(load="imtcp")\n'
                   f'input(type="imtcp" port="{self.tcp_port}" address="127.0.0.1")\n')
        # Direct main queue: imrelp acks a message only once omfile has
        # written it, so a kill -9 of rsyslogd loses no acked message.
        self.conf.write_text(
            f'global(workDirectory="{self.dir}")\n'
            'main_queue(queue.type="Direct")\n'
            'module(load="imrelp")\n'
            f'input(type="imrelp" port="{self.port}" address="127.0.0.1")\n'
            + tcp +
            'template(name="raw" type="string" string="%rawmsg%\\n")\n'
            f'action(type="omfile" file="{self.out}" template="raw")\n')

    def start(self, timeout=20):
        with open(self.stderr, "ab") as err:
            self.proc = _spawn([RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
                               stdout=err, stderr=err)
        if self.track:
            self.track(self.proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited: " + self.stderr.read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("rsyslogd did not listen on its RELP port")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            if sig == signal.SIGKILL:
                _kill(self.proc)
            else:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=20)
        self.proc = None
        try:
            self.pidfile.unlink()
        except FileNotFoundError:
            pass

    def pause(self, stop=True):
        """SIGSTOP (stop=True) or SIGCONT: a hung rsyslog that keeps its sockets."""
        self.proc.send_signal(signal.SIGSTOP if stop else signal.SIGCONT)

    def seqs(self):
        """seq -> number of times it arrived."""
        counts = {}
        if self.out.exists():
            for m in SEQ_RE.finditer(self.out.read_bytes()):
                s = int(m.group(1))
                counts[s] = counts.get(s, 0) + 1
        return counts

    def lines(self):
        return self.out.read_bytes().count(b"\n") if self.out.exists() else 0


def have_rsyslog_relp():
    return os.access(RSYSLOGD, os.X_OK) and any(
        Path(d, "imrelp.so").exists() for d in ("/usr/lib/x86_64-linux-gnu/rsyslog",
                                                "/usr/lib/rsyslog"))
