"""virtio-console ports (kernel-hooks/drivers/virtio_console.c) against
QEMU's virtio-serial-device, with Python as the host on unix sockets.
The guest side is tests/guest/test_vcon.c."""
import random
import re
import subprocess
import threading
import time

from harness import UK_EXIT_OK, boot, guest_test, vcon_args
from streams import connect_unix as connect

EOT = b"\x04"


def wait_for(vm, regex, timeout):
    """The first console match of regex, waiting up to timeout seconds."""
    if not vm._wait_output(regex, time.monotonic() + timeout):
        raise AssertionError(f"console did not match {regex!r}\n" + vm.describe())
    return re.search(regex, vm.output)


def test_vcon_echo(t, accel):
    """64 KiB host -> guest, echoed uppercased: exact, in order, nothing lost
    (half with the guest's interrupts on, half polled with them off)."""
    d = t.tmpdir()
    rnd = random.Random(1234)
    data = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .,-\n\x00\xff\x80")
                 for _ in range(65536))
    want = data.upper()
    vm = boot(t, t.build / "kernel-test.elf", cmdline="test=vcon_echo panic=exit",
              accel=accel, timeout=30 * t.scale(accel), extra_args=vcon_args(d, test_port=True),
              until=r"vcon_echo: port open")
    s = connect(d / "test.sock", 10)
    got = bytearray()
    err = []

    def send():
        try:
            s.sendall(data + EOT)
        except OSError as e:
            err.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    s.settimeout(60 * t.scale(accel))
    t0 = time.monotonic()
    try:
        while len(got) < len(want):
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        took = time.monotonic() - t0
        sender.join(5)
        s.close()
    vm.wait(timeout=30 * t.scale(accel))
    t.log(f"echo: {len(got)} bytes back in {took:.2f}s")
    m = re.search(r"vcon_echo: \d+ bytes echoed.*", vm.output)
    t.log("guest: " + (m.group(0) if m else "no summary line"))
    assert not err, f"send failed: {err}"
    assert len(got) == len(want), f"got {len(got)} of {len(want)} bytes\n{vm.describe()}"
    first_bad = next((i for i in range(len(want)) if got[i] != want[i]), None)
    assert first_bad is None, f"echo differs at byte {first_bad}"
    assert re.search(r"TEST vcon_echo: PASS", vm.output) and vm.status == UK_EXIT_OK, \
        vm.describe()


def test_vcon_nohost(t, accel):
    """No host connected: 1 MiB of writes refused and counted without
    blocking; an absent port name is UK_ENOENT after the timeout; with
    interrupts off and the driver's locks held (a frozen CPU), poll/read/
    write give up after a bounded wait."""
    vm = guest_test(t, "vcon_nohost", accel, extra_args=vcon_args(t.tmpdir(), test_port=True))
    m = re.search(r"vcon_nohost: ENOENT after (\d+) ms; 1 MiB refused in (\d+) us", vm.output)
    assert m, vm.describe()
    assert int(m.group(1)) >= 300
    m = re.search(r"vcon_nohost: locks held: write/read/poll x2 gave up after (\d+) ms", vm.output)
    assert m, vm.describe()
    t.log(m.group(0))



def test_vcon_ukctl_ports(t):
    """`ukctl run` wires both named ports; the driver learns their names."""
    run = t.tmpdir() / "run"
    r = subprocess.run([str(t.build / "bin" / "ukctl"), "run", "--accel", "tcg", "--run-dir",
                        str(run), "--cmdline", "bench_exit=1", str(t.build / "kernel.elf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"ukctl run: exit {r.returncode}: {r.stderr!r}"
    log = r.stdout  # the foreground console (the run dir is removed on exit 0)
    assert re.search(r'vcon: port \d+ is "org\.ukscope\.gdb"', log), log
    assert re.search(r'vcon: port \d+ is "org\.ukscope\.telemetry"', log), log


def test_vcon_flow(t, accel):
    """A host that does not read: the guest's writes fill its ring, are then
    refused and counted, and never block.  A disconnect is seen (writes
    refused) and a reconnect works both ways."""
    d = t.tmpdir()
    vm = boot(t, t.build / "kernel-test.elf", cmdline="test=vcon_flow panic=exit",
              accel=accel, timeout=30 * t.scale(accel), extra_args=vcon_args(d, test_port=True),
              until=r"TEST vcon_flow: start")
    s = connect(d / "test.sock", 10)
    m = wait_for(vm, r"vcon_flow: full: accepted (\d+) of (\d+)", 60 * t.scale(accel))
    accepted = int(m.group(1))
    # What arrived is a prefix of what the guest accepted (QEMU may still hold
    # some in a throttled buffer, discarded when we close).
    s.setblocking(False)
    got = bytearray()
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
    except BlockingIOError:
        pass
    s.close()
    pattern = bytes(ord("a") + i % 26 for i in range(4096))
    assert 0 < len(got) <= accepted, (len(got), accepted)
    assert all(got[i:i + 4096] == pattern[:len(got[i:i + 4096])] for i in range(0, len(got), 4096))
    wait_for(vm, r"vcon_flow: host gone", 60 * t.scale(accel))
    s = connect(d / "test.sock", 10)
    s.settimeout(60 * t.scale(accel))
    # Nothing stale: QEMU discards what the guest had queued when the
    # previous connection closed.
    want = b"hello again\n"
    got = bytearray()
    while len(got) < len(want):
        b = s.recv(64)
        if not b:
            break
        got += b
    assert bytes(got) == want, got[:64]
    s.sendall(b"ping")
    vm.wait(timeout=30 * t.scale(accel))
    s.close()
    assert "TEST vcon_flow: PASS" in vm.output and vm.status == UK_EXIT_OK, vm.describe()
