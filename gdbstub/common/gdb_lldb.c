/*
 * lldb's additions to the remote protocol, as LLDB's gdb-remote
 * documentation (lldb-gdb-remote.txt) describes them.  lldb works without
 * them, but learns thread names only from jThreadsInfo / qThreadStopInfo,
 * and asks qHostInfo / qProcessInfo for the target's triple and pid.
 */
#include "gdb_internal.h"

#include <stdio.h>
#include <string.h>

/* Registers sent along in jThreadsInfo so a backtrace needs no g per
 * thread: lldb numbers registers in target.xml order (x86_64: rbp 6, rsp 7,
 * rip 16).  Only meaningful for an arch with that order; others send none. */
static const unsigned expedite_x86_64[] = {6, 7, 16};

/* A JSON string of guest-controlled text: quote, backslash and control
 * characters escaped, anything outside printable ASCII dropped. */
static void put_json_str(struct gdb_state *st, const char *s)
{
    char esc[8];
    gdb_puts(st, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            gdb_put(st, esc, 2);
        } else if (c >= 0x20 && c < 0x7f)
            gdb_put(st, &c, 1);
        else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            gdb_puts(st, esc);
        }
    }
    gdb_puts(st, "\"");
}

/* The whole of s as a hex number of 1..16 digits. */
static bool parse_hex(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    for (; *s; s++, n++) {
        char c = *s;
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (d > 15 || n >= 16)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return n > 0;
}

static void put_triple(struct gdb_state *st)
{
    const char *t = st->arch->triple;
    gdb_puts(st, "triple:");
    gdb_puthex(st, (const uint8_t *)t, strlen(t));
    gdb_puts(st, ";ptrsize:8;endian:little;");
}

static void thread_name(struct gdb_state *st, int t, char *name, size_t len)
{
    char extra[80];
    int core = -1;
    name[0] = 0;
    st->arch->thread_info(st->arch_ctx, t, name, len, extra, sizeof(extra), &core);
}

/* jThreadsInfo: one JSON object per thread; the thread that stopped
 * carries the signal and reason, the others signal 0 (no stop reason). */
static void threads_info(struct gdb_state *st)
{
    char name[40], num[24];
    bool first = true;
    const char *triple = st->arch->triple;
    bool x86 = st->arch->nregs > 16 && triple && !strncmp(triple, "x86_64", 6);
    gdb_puts(st, "[");
    for (int t = st->arch->thread_next(st->arch_ctx, 0); t > 0;
         t = st->arch->thread_next(st->arch_ctx, t)) {
        bool stopped = t == (st->stop.tid > 0 ? st->stop.tid : 1);
        thread_name(st, t, name, sizeof(name));
        snprintf(num, sizeof(num), "%s{\"tid\":%d,", first ? "" : ",", t);
        gdb_puts(st, num);
        first = false;
        gdb_puts(st, "\"name\":");
        put_json_str(st, name);
        snprintf(num, sizeof(num), ",\"signal\":%d", stopped ? st->stop.signo : 0);
        gdb_puts(st, num);
        if (stopped)
            gdb_puts(st, ",\"reason\":\"signal\"");
        if (x86) {
            gdb_puts(st, ",\"registers\":{");
            for (unsigned i = 0; i < sizeof(expedite_x86_64) / sizeof(expedite_x86_64[0]); i++) {
                snprintf(num, sizeof(num), "%s\"%u\":\"", i ? "," : "", expedite_x86_64[i]);
                gdb_puts(st, num);
                if (gdb_put_reg(st, t, expedite_x86_64[i]))
                    gdb_puts(st, "xxxxxxxxxxxxxxxx");
                gdb_puts(st, "\"");
            }
            gdb_puts(st, "}");
        }
        gdb_puts(st, "}");
    }
    gdb_puts(st, "]");
}

/* qThreadStopInfoTID: the stop reply for one thread, with its name. */
static void thread_stop_info(struct gdb_state *st, const char *arg)
{
    char name[40];
    uint64_t t;
    if (!parse_hex(arg, &t) || t == 0 || t > 0x7fffffff ||
        !st->arch->thread_alive(st->arch_ctx, (int)t)) {
        gdb_puts(st, "E01");
        return;
    }
    gdb_put_stop(st, (int)t);
    thread_name(st, (int)t, name, sizeof(name));
    if (name[0]) {
        gdb_puts(st, "hexname:");
        gdb_puthex(st, (const uint8_t *)name, strlen(name));
        gdb_puts(st, ";");
    }
}

static void memory_region(struct gdb_state *st, const char *arg)
{
    uint64_t addr, start, size;
    unsigned perms;
    if (!parse_hex(arg, &addr)) {
        gdb_puts(st, "E01");
        return;
    }
    if (st->arch->mem_region(st->arch_ctx, addr, &start, &size, &perms)) {
        gdb_puts(st, "E01");
        return;
    }
    gdb_puts(st, "start:");
    gdb_putnum(st, start);
    gdb_puts(st, ";size:");
    gdb_putnum(st, size);
    gdb_puts(st, ";");
    if (perms) {
        gdb_puts(st, "permissions:");
        if (perms & GDB_MEM_R)
            gdb_puts(st, "r");
        if (perms & GDB_MEM_W)
            gdb_puts(st, "w");
        if (perms & GDB_MEM_X)
            gdb_puts(st, "x");
        gdb_puts(st, ";");
    }
}

bool gdb_lldb_query(struct gdb_state *st, const char *pkt)
{
    static const char stop_info[] = "qThreadStopInfo", region[] = "qMemoryRegionInfo:";
    gdb_reply_reset(st);
    if (!strcmp(pkt, "jThreadsInfo"))
        threads_info(st);
    else if (!strncmp(pkt, stop_info, sizeof(stop_info) - 1))
        thread_stop_info(st, pkt + sizeof(stop_info) - 1);
    else if (!strcmp(pkt, "qHostInfo") && st->arch->triple)
        put_triple(st);
    else if (!strcmp(pkt, "qProcessInfo") && st->arch->triple) {
        /* A kernel is one "process"; pid 1 like the thread ids' origin. */
        gdb_puts(st, "pid:1;");
        put_triple(st);
    } else if (!strncmp(pkt, region, sizeof(region) - 1) && st->arch->mem_region)
        memory_region(st, pkt + sizeof(region) - 1);
    else
        return false;
    return true;
}
