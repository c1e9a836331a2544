/* QEMU argv builder for `ukctl run`; see qemu_argv.h and docs/ukctl.md. */
#define _GNU_SOURCE
#include "qemu_argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable argv; `oom` latches the first allocation failure. */
struct argv_buf {
    char **v;
    size_t n, cap;
    bool oom;
};

static void add(struct argv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct argv_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;

    if (b->oom)
        return;
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char **v = realloc(b->v, cap * sizeof(*v));

        if (!v) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s) {
        b->oom = true;
        return;
    }
    b->v[b->n++] = s;
    b->v[b->n] = NULL;
}

/*
 * -netdev user with one hostfwd per forward.  restrict=on: the guest cannot
 * open connections to the host (10.0.2.2 is the host's loopback: ukcollectd,
 * other instances' forwarded ports) or beyond; forwards into the guest and
 * slirp's DHCP still work.  Guest traffic is hostile (docs/security.md).
 */
static void add_netdev(struct argv_buf *b, const struct qemu_plan *p)
{
    char *s = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&s, &len);

    if (!f) {
        b->oom = true;
        return;
    }
    fputs("user,id=net0,restrict=on", f);
    for (i = 0; i < p->nfwds; i++)
        fprintf(f, ",hostfwd=tcp:127.0.0.1:%u-:%u", p->fwds[i].host, p->fwds[i].guest);
    if (fclose(f) != 0 || !s) {
        free(s);
        b->oom = true;
        return;
    }
    add(b, "-netdev");
    add(b, "%s", s);
    free(s);
    add(b, "-device");
    add(b, "virtio-net-device,netdev=net0");
}

char *qemu_opt_escape(const char *s)
{
    size_t n = strlen(s), commas = 0, i, o = 0;
    char *e;

    for (i = 0; i < n; i++)
        commas += s[i] == ',';
    e = malloc(n + commas + 1);
    if (!e)
        return NULL;
    for (i = 0; i < n; i++) {
        e[o++] = s[i];
        if (s[i] == ',')
            e[o++] = ',';
    }
    e[o] = '\0';
    return e;
}

char **qemu_argv_build(const struct qemu_plan *p)
{
    struct argv_buf b = {0};
    char *rd = NULL, *tok = NULL; /* escaped run dir and token file */
    size_t i;

    if (!p->qemu || !p->image || !p->run_dir || p->smp == 0 || p->mem_mib == 0 ||
        (p->accel != RUN_ACCEL_KVM && p->accel != RUN_ACCEL_TCG) || (p->nfwds && !p->fwds)) {
        errno = EINVAL;
        return NULL;
    }
    for (i = 0; p->net && i < p->nfwds; i++) {
        if (!p->fwds[i].host || p->fwds[i].host > 65535 || !p->fwds[i].guest ||
            p->fwds[i].guest > 65535) {
            errno = EINVAL;
            return NULL;
        }
    }
    rd = qemu_opt_escape(p->run_dir);
    tok = p->token_file ? qemu_opt_escape(p->token_file) : NULL;
    if (!rd || (p->token_file && !tok)) {
        free(rd);
        free(tok);
        errno = ENOMEM;
        return NULL;
    }

    add(&b, "%s", p->qemu);
    add(&b, "-nodefaults");
    add(&b, "-no-user-config");
    add(&b, "-display");
    add(&b, "none");
    /* Thread names "CPU N/KVM", "CPU N/TCG": how the host view (hostview,
     * `ukctl top`) tells vCPU threads from QEMU's main/IO side. */
    add(&b, "-name");
    add(&b, "guest=ukscope,debug-threads=on");
    add(&b, "-accel");
    add(&b, "%s", p->accel == RUN_ACCEL_KVM ? "kvm" : "tcg");
    /* -arch-capabilities: some KVM hosts (nested, kvm_pvm) refuse to set
     * IA32_ARCH_CAPABILITIES (MSR 0x10a) and QEMU 7.2 then aborts at vCPU
     * reset.  The guest never reads that MSR. */
    add(&b, "-cpu");
    add(&b, "%s", p->accel == RUN_ACCEL_KVM ? "host,-arch-capabilities" : "max");
    add(&b, "-smp");
    add(&b, "%u", p->smp);

    /* Guest RAM in a shared file so host tools can map it. */
    add(&b, "-object");
    add(&b, "memory-backend-file,id=mem,size=%uM,mem-path=%s/ram,share=on", p->mem_mib, rd);
    add(&b, "-M");
    add(&b, "microvm,acpi=off,memory-backend=mem");
    add(&b, "-m");
    add(&b, "%uM", p->mem_mib);
    add(&b, "-global");
    add(&b, "virtio-mmio.force-legacy=false");

    /* COM1 is microvm's built-in isa-serial, fed by the first -serial. */
    add(&b, "-chardev");
    if (p->detach)
        add(&b, "file,id=con,path=%s/console.log", rd);
    else
        add(&b, "stdio,id=con,logfile=%s/console.log,signal=off", rd);
    add(&b, "-serial");
    add(&b, "chardev:con");

    /* COM2 for the debugger; a second -serial is ignored on microvm. */
    add(&b, "-chardev");
    add(&b, "socket,id=gdb,path=%s/gdb.sock,server=on,wait=off", rd);
    add(&b, "-device");
    add(&b, "isa-serial,chardev=gdb,iobase=0x2f8,irq=3");

    /* Three QMP monitors: qmp.sock for the `ukctl run` that supervises QEMU
     * (held for the whole run), qmp-tools.sock for stop, list and other
     * tools, so they never wait on the supervisor's connection, and
     * qmp-collector.sock held by ukcollectd for events (docs/collector.md). */
    add(&b, "-qmp");
    add(&b, "unix:%s/qmp.sock,server=on,wait=off", rd);
    add(&b, "-qmp");
    add(&b, "unix:%s/qmp-tools.sock,server=on,wait=off", rd);
    add(&b, "-qmp");
    add(&b, "unix:%s/qmp-collector.sock,server=on,wait=off", rd);

    /* pvpanic (ISA, port 0x505); pause so a panicked guest keeps its RAM. */
    add(&b, "-device");
    add(&b, "pvpanic");
    add(&b, "-action");
    add(&b, "panic=pause");
    /* QEMU exits with (status << 1) | 1. */
    add(&b, "-device");
    add(&b, "isa-debug-exit,iobase=0xf4,iosize=4");

    if (p->net)
        add_netdev(&b, p);

    /* virtio-console ports (docs/virtio.md): the gdbstub's fast transport
     * and the telemetry channel, found by name in the guest.  max_ports=4:
     * port 0 is reserved for a virtconsole, so these get ids 1 and 2. */
    add(&b, "-device");
    add(&b, "virtio-serial-device,max_ports=4");
    add(&b, "-chardev");
    add(&b, "socket,id=gdbv,path=%s/gdb-virtio.sock,server=on,wait=off", rd);
    add(&b, "-device");
    add(&b, "virtserialport,chardev=gdbv,name=org.ukscope.gdb");
    add(&b, "-chardev");
    add(&b, "socket,id=tele,path=%s/telemetry.sock,server=on,wait=off", rd);
    add(&b, "-device");
    add(&b, "virtserialport,chardev=tele,name=org.ukscope.telemetry");

    /* The control token as a fw_cfg file the kernel reads at boot: never on
     * the command line, which `ps` shows to every local user. */
    if (tok) {
        add(&b, "-fw_cfg");
        add(&b, "name=opt/ukscope/token,file=%s", tok);
    }

    add(&b, "-kernel");
    add(&b, "%s", p->image);
    /* The host's TSC rate spares the guest its PIT calibration at boot. */
    const char *cl = p->cmdline ? p->cmdline : "";
    if (p->tsc_hz && !strstr(cl, "tsc_hz=")) {
        add(&b, "-append");
        add(&b, "%s%stsc_hz=%llu", cl, *cl ? " " : "", (unsigned long long)p->tsc_hz);
    } else if (*cl) {
        add(&b, "-append");
        add(&b, "%s", cl);
    }
    add(&b, "-no-reboot");
    if (p->start_paused)
        add(&b, "-S");

    free(rd);
    free(tok);
    if (b.oom) {
        qemu_argv_free(b.v);
        errno = ENOMEM;
        return NULL;
    }
    return b.v;
}

void qemu_argv_free(char **argv)
{
    size_t i;

    if (!argv)
        return;
    for (i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}
