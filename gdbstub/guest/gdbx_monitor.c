/*
 * Monitor commands (gdb `monitor CMD`, packet qRcmd): help, threads,
 * dmesg [N], stats, build-id, trace [on|off LIST].  Output goes out as console packets.
 */
#include "gdbx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uk/build.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/time.h>
#include <uk/trace_hooks.h>

static void out(struct gdb_state *st, const char *fmt, ...) UK_PRINTF(2, 3);
static void out(struct gdb_state *st, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    gdb_console_write(st, buf);
}

static void mon_threads(struct gdb_state *st)
{
    const struct uk_thread_table *tt = uk_thread_table_get();
    out(st, "%5s %-20s %-9s %4s %12s\n", "TID", "NAME", "STATE", "CPU", "RUN_MS");
    for (unsigned i = 0; i < UK_THREAD_MAX; i++) {
        const struct uk_thread *t = &tt->threads[i];
        if (t->state == UK_THREAD_FREE)
            continue;
        char nm[UK_THREAD_NAME];
        memcpy(nm, t->name, sizeof(nm));
        nm[sizeof(nm) - 1] = 0;
        out(st, "%5u %-20s %-9s %4d %12llu\n", t->tid, nm, uk_thread_state_name(t->state), t->cpu,
            (unsigned long long)(t->run_ns / 1000000));
    }
}

static void mon_dmesg(struct gdb_state *st, const char *arg)
{
    const struct uk_klog_ring *r = uk_klog_ring();
    uint64_t n = arg && *arg ? strtoull(arg, NULL, 0) : 50;
    uint64_t head = UK_READ_ONCE(r->head);
    uint64_t seq = head > n ? head - n : 0, next;
    struct uk_klog_rec rec;
    while (seq < head) {
        if (uk_klog_read(seq, &rec, &next) == UK_OK) {
            unsigned len = rec.len <= UK_KLOG_TEXT ? rec.len : UK_KLOG_TEXT;
            out(st, "[%5llu.%06llu] %.*s\n", (unsigned long long)(rec.time_ns / 1000000000),
                (unsigned long long)(rec.time_ns / 1000 % 1000000), (int)len, rec.text);
        }
        if (next <= seq)
            break;
        seq = next;
    }
}

static void mon_stats(struct gdb_state *st)
{
    struct uk_mem_stats m;
    uk_mem_stats(&m);
    out(st, "uptime %llu ms, %u CPUs\n", (unsigned long long)(uk_time_ns() / 1000000),
        uk_cpu_count());
    out(st, "heap in use %llu, peak %llu, size %llu bytes; pages %llu free of %llu\n",
        (unsigned long long)m.heap_in_use, (unsigned long long)m.heap_peak,
        (unsigned long long)m.heap_size, (unsigned long long)m.pages_free,
        (unsigned long long)m.pages_total);
    out(st, "gdb packets %llu, bad checksums %llu, retransmits %llu\n",
        (unsigned long long)st->stats.packets, (unsigned long long)st->stats.bad_checksum,
        (unsigned long long)st->stats.retransmits);
    out(st, "CPUs stopped %llu by stop IPI, %llu by NMI\n",
        (unsigned long long)__atomic_load_n(&gdbx_parked_by_ipi, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&gdbx_parked_by_nmi, __ATOMIC_RELAXED));
}

/* `trace`: list tracepoints; `trace on|off a,b,...`: by name or category. */
static void mon_trace(struct gdb_state *st, const char *arg)
{
    while (*arg == ' ')
        arg++;
    if (!uk_trace_emit) {
        out(st, "no tracer in this image\n");
        return;
    }
    bool on = !strncmp(arg, "on ", 3);
    if (on || !strncmp(arg, "off ", 4)) {
        unsigned changed = uk_trace_set_list(arg + (on ? 3 : 4), on);
        out(st, "%u tracepoint(s) turned %s\n", changed, on ? "on" : "off");
        return;
    }
    if (*arg) {
        out(st, "usage: trace [on|off NAME|CATEGORY|all[,...]]\n");
        return;
    }
    for (unsigned i = 0; i < UK_TP_COUNT; i++) {
        const char *cat, *name = uk_trace_tp_name(i, &cat);
        out(st, "%-16s %-7s %s\n", name, cat, uk_trace_on[i] ? "on" : "off");
    }
}

void gdbx_monitor(void *ctx, struct gdb_state *st, const char *cmd)
{
    while (*cmd == ' ')
        cmd++;
    if (!strncmp(cmd, "threads", 7))
        mon_threads(st);
    else if (!strncmp(cmd, "dmesg", 5))
        mon_dmesg(st, cmd + 5);
    else if (!strncmp(cmd, "stats", 5))
        mon_stats(st);
    else if (!strncmp(cmd, "build-id", 8))
        out(st, "%s %s\n", uk_version(), uk_build_id_hex());
    else if (!strncmp(cmd, "trace", 5))
        mon_trace(st, cmd + 5);
    else
        out(st, "%scommands: help, threads, dmesg [N], stats, build-id, trace [on|off LIST]\n",
            strncmp(cmd, "help", 4) && *cmd ? "unknown command; " : "");
}
