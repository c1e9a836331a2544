"""End-to-end tests of the reference kernel: boot on every machine type,
in-guest tests (tests/guest/*.c) under each accelerator, and the exception
reports checked from the outside (vector, registers, symbolized backtrace).

Timeouts are TCG figures; guest_test() and scaled() stretch them for slow KVM.
"""
import re
import socket

from harness import KVM_PVM, Skip, boot, guest_test

UK_EXIT_OK, UK_EXIT_FAIL, UK_EXIT_PANIC = 0, 1, 2
RNG = ("-device", "virtio-rng-device")


def scaled(t, accel, seconds):
    return seconds * t.scale(accel)


# ------------------------------------------------------------------ boot ---

def test_boot_banner(t, accel):
    vm = boot(t, t.build / "kernel.elf", cmdline="bench_exit=1", smp=2, mem=128,
              accel=accel, timeout=scaled(t, accel, 20))
    out = vm.output
    assert vm.status == UK_EXIT_OK, f"status {vm.status}\n{vm.describe()}"
    m = re.search(r"ukscope (\S+) build-id ([0-9a-f]{40})", out)
    assert m, "no banner with version and build-id\n" + vm.describe()
    assert re.search(r"cpus 2, memory 12[0-9] MiB", out), "banner lacks cpus/memory\n" + out
    assert "ukscope: ready" in out
    # The build-id printed is the one in the ELF note.
    note = (t.build / "kernel.elf").read_bytes()
    assert bytes.fromhex(m.group(2)) in note, "printed build-id is not the image's"


def test_boot_pc_and_q35(t):
    # SeaBIOS + PVH option ROM; TCG only (SeaBIOS takes ~1.5 s under this KVM).
    for machine in ("pc", "q35"):
        vm = boot(t, t.build / "kernel.elf", cmdline="bench_exit=1", smp=2, mem=128,
                  accel="tcg", timeout=30, machine=machine)
        assert vm.status == UK_EXIT_OK, f"{machine}: status {vm.status}\n{vm.describe()}"
        assert "ukscope: ready" in vm.output and "cpus 2," in vm.output, vm.describe()


def test_guest_boot(t, accel):
    guest_test(t, "boot", accel, smp=2)


def test_guest_cmdline(t, accel):
    guest_test(t, "cmdline", accel, extra_args=RNG,
               cmdline='alpha=1 beta="two words" gamma flag=off num=0x10 size=4k rep=1 rep=2')


def test_guest_klog_ring(t, accel):
    guest_test(t, "klog_ring", accel, cmdline="loglevel=7 console_loglevel=6")


def test_guest_trap_hook_and_symbolize(t, accel):
    guest_test(t, "trap_hook", accel)
    guest_test(t, "symbolize", accel)


def test_guest_trap_int3(t, accel):
    if accel == "kvm" and KVM_PVM:
        raise Skip("host KVM is kvm_pvm: it cannot emulate int3 for a non-PVM guest "
                   "(KVM internal error, emulation failure)")
    guest_test(t, "trap_int3", accel)


# ---------------------------------------------------------------- memory ---

def test_guest_heap(t, accel):
    guest_test(t, "heap_stress", accel, timeout=60)
    guest_test(t, "heap_aligned_and_failures", accel)
    guest_test(t, "page_alloc", accel)
    guest_test(t, "libc_string_words", accel, timeout=120)


def test_guest_mem_access(t, accel):
    guest_test(t, "mem_access", accel)


# --------------------------------------------------------------- threads ---

def test_guest_thread_cycles(t, accel):
    guest_test(t, "thread_cycles", accel, smp=2, timeout=60)


def test_guest_sync(t, accel):
    guest_test(t, "cond_queue", accel, smp=2)
    guest_test(t, "wait_timeout", accel, smp=2)
    guest_test(t, "preempt", accel, smp=2)
    # kvm_pvm emulates every instruction: fewer iterations, same interleavings.
    iters = 200000 if accel == "kvm" else 2000000
    guest_test(t, "thread_self_migration", accel, smp=2, cmdline=f"self_iters={iters}",
               timeout=120)


def test_guest_smp_1_and_4(t, accel):
    for smp in (1, 4):
        guest_test(t, "smp", accel, smp=smp, cmdline=f"expect_cpus={smp}", timeout=180)
        guest_test(t, "mutex_all_cpus", accel, smp=smp, timeout=180)


def test_guest_sleep_vs_host_clock(t, accel):
    vm = guest_test(t, "sleep_host_clock", accel, timeout=30)
    begin = vm.match_time(r"SLEEP-MARK begin")
    end = vm.match_time(r"SLEEP-MARK end guest_ns=\d+")
    assert begin is not None and end is not None, vm.describe()
    host = end - begin
    t.log(f"host saw {host:.3f}s for a 2 s guest sleep")
    # Console latency adds a little on the host side; never less than the sleep.
    assert 1.95 <= host <= 2.5, f"host measured {host:.3f}s for a 2.000s sleep"


def test_guest_virtio_rng(t, accel):
    guest_test(t, "virtio_rng", accel, smp=2, extra_args=RNG)


# ------------------------------------------------------------ exceptions ---

def panic_run(t, accel, test, smp=1):
    vm = boot(t, t.build / "kernel-test.elf", cmdline=f"test={test} panic=exit", smp=smp,
              accel=accel, timeout=scaled(t, accel, 30))
    assert vm.status == UK_EXIT_PANIC, f"status {vm.status}, want panic\n{vm.describe()}"
    return vm.output


def check_report(out, vector, site):
    assert re.search(rf"PANIC on CPU \d+: unhandled exception {re.escape(vector)} ", out), \
        f"no {vector} report\n{out[-3000:]}"
    for reg in ("RIP 0x", "RSP 0x", "RAX 0x", "R15 0x", "RFLAGS 0x"):
        assert reg in out, f"register {reg} missing\n{out[-3000:]}"
    assert re.search(r'thread \d+ "main"', out), "faulting thread not named"
    assert re.search(rf"#0 0x[0-9a-f]{{16}} {site}\+0x[0-9a-f]+", out), \
        f"backtrace #0 is not in {site}\n{out[-3000:]}"
    # The chain continues into the caller and ends at the thread entry.
    for frame in ("uk_app_main+0x", "app_thread+0x", "arch_thread_start+0x"):
        assert frame in out, f"backtrace lacks {frame}\n{out[-3000:]}"
    assert "panic: exiting (panic=exit)" in out


def test_exception_de(t, accel):
    check_report(panic_run(t, accel, "exc_de"), "#DE", "fault_site_de")


def test_exception_pf(t, accel):
    out = panic_run(t, accel, "exc_pf")
    check_report(out, "#PF", "fault_site_pf")
    assert "CR2 0x0000000000000010 (read not-present page)" in out, out[-3000:]


def test_exception_ud(t, accel):
    check_report(panic_run(t, accel, "exc_ud"), "#UD", "fault_site_ud")


def test_exception_gp(t, accel):
    check_report(panic_run(t, accel, "exc_gp"), "#GP", "fault_site_gp")


def test_exception_stack_overflow(t, accel):
    out = panic_run(t, accel, "exc_stack_overflow")
    # The #PF on the guard page cannot push its frame: a double fault on the IST stack.
    assert re.search(r"PANIC on CPU \d+: stack overflow in thread \d+ \"[^\"]+\" \(#DF, guard page hit",
                     out), out[-3000:]
    assert "recurse+0x" in out


def test_panic_call_with_smp(t, accel):
    out = panic_run(t, accel, "panic_call", smp=4)
    assert "PANIC on CPU 0: test panic 42" in out, out[-3000:]
    assert re.search(r"#\d+ 0x[0-9a-f]{16} uk_panic\+0x", out), out[-3000:]
    assert "uk_test_fn_panic_call+0x" in out, out[-3000:]


def test_panic_without_exit_notifies_pvpanic(t):
    # Without panic=exit the kernel writes pvpanic; QEMU (default action)
    # reports the guest panicked via its monitor, and we see it pause.
    vm = boot(t, t.build / "kernel-test.elf", cmdline="test=panic_call", accel="tcg",
              timeout=20, expect_exit=False, extra_args=("-action", "panic=exit-failure"))
    assert "panic: notifying the host (pvpanic) and halting" in vm.output, vm.describe()
    # -action panic=exit-failure: QEMU exits with 1 on GUEST_PANICKED.
    assert vm.qemu_rc == 1 and not vm.timed_out, vm.describe()


# --------------------------------------------------------------- devices ---

def test_guest_nmi_others(t, accel):
    guest_test(t, "nmi_others", accel, smp=4)


def test_guest_com2_rx_interrupts(t, accel):
    d = t.tmpdir()
    sock = d / "com2.sock"
    vm = boot(t, t.build / "kernel-test.elf", cmdline="test=uart_rx panic=exit", accel=accel,
              timeout=scaled(t, accel, 30), until=r"uart_rx: waiting",
              extra_args=("-chardev", f"socket,id=c2,path={sock},server=on,wait=off",
                          "-device", "isa-serial,chardev=c2,iobase=0x2f8,irq=3"))
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    s.settimeout(scaled(t, accel, 20))
    s.sendall(b"hello over com2\n")
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        got += chunk
    s.close()
    vm.wait(timeout=scaled(t, accel, 20))
    assert got == b"HELLO OVER COM2\n", f"echo {got!r}\n{vm.describe()}"
    assert vm.status == UK_EXIT_OK and "TEST uart_rx: PASS" in vm.output, vm.describe()
