"""One QMP command on a fresh connection to a QEMU monitor socket (tests and
benchmarks; `ukctl run --detach` leaves RUN/qmp.sock free)."""
import json
import socket


def qmp_command(sock_path, command, arguments=None, timeout=120):
    """Greeting, qmp_capabilities, then `command`; returns its "return" value
    (an "error" reply raises AssertionError)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock_path))
    f = s.makefile("rwb")

    def call(cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        f.write(json.dumps(msg).encode() + b"\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())  # events come in between
            if "return" in reply or "error" in reply:
                assert "error" not in reply, reply
                return reply["return"]
    try:
        json.loads(f.readline())  # greeting
        call("qmp_capabilities")
        return call(command, arguments)
    finally:
        s.close()
