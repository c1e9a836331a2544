"""Host ends of the guest's byte streams, shared by tests and benchmarks:
unix sockets QEMU listens on, and the telemetry framing (varint length
prefix, docs/telemetry.md) read independently of ukctl."""
import socket
import time
from pathlib import Path


def connect_unix(path, timeout):
    """Connect to QEMU's unix socket at path, retrying until timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def wait_path(path, timeout):
    """Wait until path exists (QEMU creates its sockets shortly after start)."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def frame_spans(data):
    """(start, end) of every complete frame body in a captured stream."""
    spans, i = [], 0
    while i < len(data):
        n = shift = 0
        while True:
            if i >= len(data):
                return spans
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if i + n > len(data):
            break
        spans.append((i, i + n))
        i += n
    return spans
