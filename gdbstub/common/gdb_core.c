/*
 * gdb remote serial protocol core (see gdb_core.h).  Framing follows the
 * "Overview" and "Packets" sections of the gdb manual: $payload#cs, '+'/'-'
 * acks until QStartNoAckMode, '}' escapes (byte ^ 0x20), run-length
 * encoding `X*n` = X repeated n-29 more times.
 */
#include "gdb_core.h"
#include "gdb_internal.h"

#include <stdio.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---------------------------------------------------------------- output */

static void tx(struct gdb_state *st, const uint8_t *b, size_t n)
{
    st->tr->write(st->tr_ctx, b, n);
}

void gdb_send_packet(struct gdb_state *st, const uint8_t *payload, size_t len)
{
    size_t o = 0;
    uint8_t sum = 0;

    st->out[o++] = '$';
    for (size_t i = 0; i < len && o + 4 < sizeof(st->out); i++) {
        uint8_t c = payload[i];
        /* '*' is escaped too so a reply is never read as RLE. */
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            st->out[o++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        st->out[o++] = c;
        sum += c;
    }
    st->out[o++] = '#';
    st->out[o++] = hexdig[sum >> 4];
    st->out[o++] = hexdig[sum & 15];
    st->out_len = o;
    tx(st, st->out, o);
}

static void reply_reset(struct gdb_state *st)
{
    st->reply_len = 0;
    st->reply_overflow = false;
}

void gdb_reply_reset(struct gdb_state *st)
{
    reply_reset(st);
}

static void put(struct gdb_state *st, const void *p, size_t n)
{
    if (st->reply_len + n > GDB_PKT_MAX) {
        st->reply_overflow = true;
        return;
    }
    memcpy(st->reply + st->reply_len, p, n);
    st->reply_len += n;
}

static void puts_(struct gdb_state *st, const char *s)
{
    put(st, s, strlen(s));
}

static void puthex(struct gdb_state *st, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char h[2] = {hexdig[b[i] >> 4], hexdig[b[i] & 15]};
        put(st, h, 2);
    }
}

static void putnum(struct gdb_state *st, uint64_t v)
{
    char buf[20];
    snprintf(buf, sizeof(buf), "%llx", (unsigned long long)v);
    puts_(st, buf);
}

void gdb_put(struct gdb_state *st, const void *p, size_t n)
{
    put(st, p, n);
}

void gdb_puts(struct gdb_state *st, const char *s)
{
    puts_(st, s);
}

void gdb_puthex(struct gdb_state *st, const uint8_t *b, size_t n)
{
    puthex(st, b, n);
}

void gdb_putnum(struct gdb_state *st, uint64_t v)
{
    putnum(st, v);
}

/* One register of thread t as hex, 'x' digits when unavailable. */
int gdb_put_reg(struct gdb_state *st, int t, unsigned r)
{
    uint8_t buf[16];
    unsigned sz = st->arch->reg_size(st->arch_ctx, r);
    if (sz > sizeof(buf))
        return GDB_ERR;
    int rc = st->arch->reg_read(st->arch_ctx, t, r, buf);
    if (rc == GDB_UNAVAIL) {
        for (unsigned i = 0; i < 2 * sz; i++)
            put(st, "x", 1);
        return 0;
    }
    if (rc)
        return rc;
    puthex(st, buf, sz);
    return 0;
}

static void send_reply(struct gdb_state *st)
{
    if (st->reply_overflow)
        reply_reset(st), puts_(st, "E0e");
    gdb_send_packet(st, st->reply, st->reply_len);
}

static void send_str(struct gdb_state *st, const char *s)
{
    reply_reset(st);
    puts_(st, s);
    send_reply(st);
}

void gdb_console_write(struct gdb_state *st, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        size_t chunk = n > 1024 ? 1024 : n;
        reply_reset(st);
        puts_(st, "O");
        puthex(st, (const uint8_t *)s, chunk);
        send_reply(st);
        s += chunk;
        n -= chunk;
    }
}

/* ----------------------------------------------------------------- input */

/* Cursor over the NUL-terminated payload. */
struct cur {
    const char *p;
};

static bool lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(c->p, s, n))
        return false;
    c->p += n;
    return true;
}

/* Hex number, at least one digit, at most 16. */
static bool num(struct cur *c, uint64_t *out)
{
    uint64_t v = 0;
    int d, n = 0;
    while ((d = hexval((uint8_t)*c->p)) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (unsigned)d;
        c->p++;
    }
    *out = v;
    return n > 0;
}

/* Thread id: hex, or -1 (all), 0 (any).  Returns false if malformed. */
static bool tid(struct cur *c, int *out)
{
    uint64_t v;
    if (lit(c, "-1")) {
        *out = -1;
        return true;
    }
    if (!num(c, &v) || v > 0x7fffffff)
        return false;
    *out = (int)v;
    return true;
}

static size_t unhex(const char *s, size_t nchars, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (nchars % 2)
        return (size_t)-1;
    for (size_t i = 0; i < nchars; i += 2) {
        int a = hexval((uint8_t)s[i]), b = hexval((uint8_t)s[i + 1]);
        if (a < 0 || b < 0 || n >= cap)
            return (size_t)-1;
        out[n++] = (uint8_t)(a << 4 | b);
    }
    return n;
}

/* ------------------------------------------------------------- dispatch */

static int stop_tid(struct gdb_state *st)
{
    return st->stop.tid > 0 ? st->stop.tid : 1;
}

static int reg_tid(struct gdb_state *st)
{
    return st->g_tid > 0 ? st->g_tid : stop_tid(st);
}

/* The T stop reply for thread t: the stop event if t is the thread that
 * stopped, else signal 0 (lldb's qThreadStopInfo asks for every thread). */
void gdb_put_stop(struct gdb_state *st, int t)
{
    static const char *const kinds[] = {
        [GDB_STOP_WATCH] = "watch", [GDB_STOP_RWATCH] = "rwatch", [GDB_STOP_AWATCH] = "awatch"};
    char buf[24];
    const struct gdb_stop none = {.signo = 0};
    const struct gdb_stop *s = t == stop_tid(st) ? &st->stop : &none;

    snprintf(buf, sizeof(buf), "T%02x", (unsigned)s->signo & 0xff);
    puts_(st, buf);
    if (s->kind == GDB_STOP_SWBREAK && st->swbreak_feature)
        puts_(st, "swbreak:;");
    else if (s->kind == GDB_STOP_HWBREAK && st->hwbreak_feature)
        puts_(st, "hwbreak:;");
    else if (s->kind >= GDB_STOP_WATCH && s->kind <= GDB_STOP_AWATCH) {
        puts_(st, kinds[s->kind]);
        puts_(st, ":");
        putnum(st, s->addr);
        puts_(st, ";");
    }
    puts_(st, "thread:");
    putnum(st, (uint64_t)t);
    puts_(st, ";");
    if (st->list_threads_in_stop) {
        const char *sep = "threads:";
        for (int u = st->arch->thread_next(st->arch_ctx, 0); u > 0;
             u = st->arch->thread_next(st->arch_ctx, u)) {
            puts_(st, sep);
            putnum(st, (uint64_t)u);
            sep = ",";
        }
        puts_(st, ";");
    }
}

static void build_stop(struct gdb_state *st)
{
    reply_reset(st);
    gdb_put_stop(st, stop_tid(st));
}

void gdb_report_stop(struct gdb_state *st, const struct gdb_stop *stop, bool send)
{
    st->stop = *stop;
    st->g_tid = 0;
    if (send) {
        build_stop(st);
        send_reply(st);
    }
}

static void reply_err(struct gdb_state *st, int rc)
{
    reply_reset(st);
    if (rc != GDB_UNSUPP)
        puts_(st, "E01");
}

static void do_qsupported(struct gdb_state *st, const char *args)
{
    st->swbreak_feature = strstr(args, "swbreak+") != NULL;
    st->hwbreak_feature = strstr(args, "hwbreak+") != NULL;
    reply_reset(st);
    puts_(st, "PacketSize=");
    putnum(st, GDB_PKT_MAX);
    puts_(st, ";QStartNoAckMode+;qXfer:features:read+;qXfer:threads:read+;vContSupported+");
    if (st->swbreak_feature)
        puts_(st, ";swbreak+");
    if (st->hwbreak_feature)
        puts_(st, ";hwbreak+");
}

/* Serve [off, off+len) of doc as an m/l qXfer chunk. */
static void xfer_chunk(struct gdb_state *st, const char *doc, size_t doclen, struct cur *c)
{
    uint64_t off, len;
    if (!num(c, &off) || !lit(c, ",") || !num(c, &len) || *c->p) {
        reply_reset(st), puts_(st, "E00");
        return;
    }
    reply_reset(st);
    if (off >= doclen) {
        puts_(st, "l");
        return;
    }
    if (len > GDB_PKT_MAX / 2)
        len = GDB_PKT_MAX / 2; /* room for escapes */
    size_t n = doclen - off < len ? doclen - off : len;
    puts_(st, off + n < doclen ? "m" : "l");
    put(st, doc + off, n);
}

static void xml_escaped(char *dst, size_t cap, size_t *o, const char *s)
{
    for (; *s && *o + 7 < cap; s++) {
        const char *e = *s == '<'   ? "&lt;"
                        : *s == '>' ? "&gt;"
                        : *s == '&' ? "&amp;"
                        : *s == '"' ? "&quot;"
                                    : NULL;
        if (e) {
            memcpy(dst + *o, e, strlen(e));
            *o += strlen(e);
        } else if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
            dst[(*o)++] = *s;
    }
}

static size_t build_threads_doc(struct gdb_state *st)
{
    size_t o = 0, cap = sizeof(st->doc);
    char name[40], extra[80];
    o += (size_t)snprintf(st->doc, cap, "<?xml version=\"1.0\"?>\n<threads>\n");
    for (int t = st->arch->thread_next(st->arch_ctx, 0); t > 0;
         t = st->arch->thread_next(st->arch_ctx, t)) {
        int core = -1;
        name[0] = extra[0] = 0;
        st->arch->thread_info(st->arch_ctx, t, name, sizeof(name), extra, sizeof(extra), &core);
        if (o + 256 > cap)
            break;
        o += (size_t)snprintf(st->doc + o, cap - o, "<thread id=\"%x\" core=\"%d\" name=\"", t,
                              core < 0 ? 0 : core);
        xml_escaped(st->doc, cap, &o, name);
        o += (size_t)snprintf(st->doc + o, cap - o, "\">");
        xml_escaped(st->doc, cap, &o, extra);
        o += (size_t)snprintf(st->doc + o, cap - o, "</thread>\n");
    }
    if (o + 16 < cap)
        o += (size_t)snprintf(st->doc + o, cap - o, "</threads>\n");
    return o;
}

static void do_thread_info(struct gdb_state *st, bool first)
{
    reply_reset(st);
    int t = st->arch->thread_next(st->arch_ctx, first ? 0 : st->thread_cursor);
    if (t <= 0) {
        puts_(st, "l");
        return;
    }
    puts_(st, "m");
    /* Several ids per reply keep round trips few. */
    for (int i = 0; t > 0 && i < 64; i++) {
        if (i)
            puts_(st, ",");
        putnum(st, (uint64_t)t);
        st->thread_cursor = t;
        t = st->arch->thread_next(st->arch_ctx, t);
    }
}

static void do_query(struct gdb_state *st, struct cur *c)
{
    const struct gdb_arch_ops *a = st->arch;
    reply_reset(st);
    if (lit(c, "qSupported"))
        do_qsupported(st, c->p);
    else if (lit(c, "qXfer:features:read:target.xml:") && a->target_xml)
        xfer_chunk(st, a->target_xml, strlen(a->target_xml), c);
    else if (lit(c, "qXfer:threads:read::")) {
        size_t n = build_threads_doc(st);
        xfer_chunk(st, st->doc, n, c);
    } else if (lit(c, "qfThreadInfo"))
        do_thread_info(st, true);
    else if (lit(c, "qsThreadInfo"))
        do_thread_info(st, false);
    else if (!strcmp(c->p, "qC"))
        puts_(st, "QC"), putnum(st, (uint64_t)stop_tid(st));
    else if (!strcmp(c->p, "qAttached"))
        puts_(st, "1");
    else if (!strcmp(c->p, "qSymbol::"))
        puts_(st, "OK");
    else if (lit(c, "qThreadExtraInfo,")) {
        int t, core = -1;
        char name[40], extra[80], buf[140];
        if (!tid(c, &t) || t <= 0 || !a->thread_alive(st->arch_ctx, t)) {
            puts_(st, "E01");
            return;
        }
        name[0] = extra[0] = 0;
        a->thread_info(st->arch_ctx, t, name, sizeof(name), extra, sizeof(extra), &core);
        int n = snprintf(buf, sizeof(buf), "%s %s", name, extra);
        puthex(st, (const uint8_t *)buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    } else if (gdb_lldb_query(st, c->p)) {
        /* lldb's extensions (gdb_lldb.c) built the reply. */
    } else if (lit(c, "qRcmd,")) {
        char cmd[256];
        size_t n = unhex(c->p, strlen(c->p), (uint8_t *)cmd, sizeof(cmd) - 1);
        if (n == (size_t)-1) {
            puts_(st, "E01");
            return;
        }
        cmd[n] = 0;
        if (a->monitor)
            a->monitor(st->arch_ctx, st, cmd);
        reply_reset(st);
        puts_(st, "OK");
    }
    /* Anything else: empty reply = unsupported. */
}

static void do_regs_read(struct gdb_state *st)
{
    reply_reset(st);
    for (unsigned r = 0; r < st->arch->nregs; r++)
        if (gdb_put_reg(st, reg_tid(st), r)) {
            reply_err(st, GDB_ERR);
            return;
        }
}

static void do_regs_write(struct gdb_state *st, const char *hex)
{
    uint8_t buf[16];
    size_t len = strlen(hex);
    reply_reset(st);
    for (unsigned r = 0; r < st->arch->nregs; r++) {
        unsigned sz = st->arch->reg_size(st->arch_ctx, r);
        if (len < 2 * sz)
            break; /* a short G leaves the rest alone */
        if (sz > sizeof(buf) || unhex(hex, 2 * sz, buf, sizeof(buf)) != sz) {
            puts_(st, "E01");
            return;
        }
        /* Registers the arch cannot change (x87 here) are skipped quietly. */
        st->arch->reg_write(st->arch_ctx, reg_tid(st), r, buf);
        hex += 2 * sz;
        len -= 2 * sz;
    }
    puts_(st, "OK");
}

static void do_reg_one(struct gdb_state *st, struct cur *c, bool write)
{
    uint64_t r;
    uint8_t buf[16];
    reply_reset(st);
    if (!num(c, &r) || r >= st->arch->nregs || (write && !lit(c, "="))) {
        puts_(st, "E01");
        return;
    }
    unsigned sz = st->arch->reg_size(st->arch_ctx, (unsigned)r);
    if (sz > sizeof(buf)) {
        puts_(st, "E01");
        return;
    }
    if (!write) {
        if (gdb_put_reg(st, reg_tid(st), (unsigned)r))
            reply_reset(st), puts_(st, "E01");
        return;
    }
    if (strlen(c->p) != 2 * sz || unhex(c->p, 2 * sz, buf, sizeof(buf)) != sz ||
        st->arch->reg_write(st->arch_ctx, reg_tid(st), (unsigned)r, buf))
        puts_(st, "E01");
    else
        puts_(st, "OK");
}

/* m addr,len  /  M addr,len:hex  /  X addr,len:binary */
static void do_mem(struct gdb_state *st, struct cur *c, char op)
{
    uint64_t addr, len;
    reply_reset(st);
    if (!num(c, &addr) || !lit(c, ",") || !num(c, &len) || (op != 'm' && !lit(c, ":")) ||
        (op == 'm' && *c->p)) {
        puts_(st, "E01");
        return;
    }
    if (addr + len < addr) {
        puts_(st, "E01");
        return;
    }
    if (op == 'm') {
        if (len > GDB_PKT_MAX / 2)
            len = GDB_PKT_MAX / 2;
        /* The hex reply is built in place from the tail of the buffer. */
        uint8_t *tmp = st->reply + GDB_PKT_MAX / 2;
        if (len && st->arch->mem_read(st->arch_ctx, addr, tmp, len)) {
            puts_(st, "E14");
            return;
        }
        for (size_t i = 0; i < len; i++) {
            uint8_t b = tmp[i];
            st->reply[2 * i] = (uint8_t)hexdig[b >> 4];
            st->reply[2 * i + 1] = (uint8_t)hexdig[b & 15];
        }
        st->reply_len = 2 * len;
        return;
    }
    const uint8_t *data = (const uint8_t *)c->p;
    size_t avail = st->in_len - (size_t)(c->p - (const char *)st->in);
    if (op == 'M') {
        /* Decode in place: the hex is twice as long as the bytes. */
        if (len > GDB_PKT_MAX / 2 || avail != 2 * len ||
            unhex(c->p, 2 * len, (uint8_t *)c->p, len) != len) {
            puts_(st, "E01");
            return;
        }
    } else if (avail != len) {
        puts_(st, "E01");
        return;
    }
    if (len && st->arch->mem_write(st->arch_ctx, addr, data, len))
        puts_(st, "E14");
    else
        puts_(st, "OK");
}

static void do_break(struct gdb_state *st, struct cur *c, bool set)
{
    uint64_t type, addr, kind;
    reply_reset(st);
    if (!num(c, &type) || !lit(c, ",") || !num(c, &addr) || !lit(c, ",") || !num(c, &kind)) {
        puts_(st, "E01");
        return;
    }
    if (type > GDB_BP_ACCESS)
        return; /* unsupported type: empty */
    int rc = (set ? st->arch->bp_set : st->arch->bp_clear)(st->arch_ctx, (enum gdb_bp_type)type,
                                                           addr, (unsigned)kind);
    if (rc)
        reply_err(st, rc);
    else
        puts_(st, "OK");
}

static enum gdb_feed_result resume(struct gdb_state *st, enum gdb_resume_kind k, int t, int sig)
{
    st->resume = (struct gdb_resume){.kind = k, .tid = t, .signo = sig};
    return GDB_FEED_RESUME;
}

/* vCont;action[:tid][;action[:tid]]...  The first action naming the stopped
 * thread or no thread decides; a kernel has no per-thread continue. */
static enum gdb_feed_result do_vcont(struct gdb_state *st, struct cur *c)
{
    enum gdb_resume_kind kind = GDB_RESUME_NONE;
    int step_tid = 0;
    while (lit(c, ";")) {
        char a = *c->p++;
        uint64_t sig = 0;
        int t = -1;
        if (a == 'C' || a == 'S') {
            if (!num(c, &sig))
                goto bad;
        } else if (a != 'c' && a != 's' && a != 't')
            goto bad;
        if (lit(c, ":") && !tid(c, &t))
            goto bad;
        if ((a == 's' || a == 'S') && kind != GDB_RESUME_STEP) {
            kind = GDB_RESUME_STEP;
            step_tid = t;
        } else if ((a == 'c' || a == 'C') && kind == GDB_RESUME_NONE)
            kind = GDB_RESUME_CONT;
    }
    if (*c->p)
        goto bad;
    if (kind == GDB_RESUME_NONE) {
        /* Only 't' (stop): we are stopped already. */
        send_str(st, "OK");
        return GDB_FEED_MORE;
    }
    return resume(st, kind, step_tid, 0);
bad:
    send_str(st, "E01");
    return GDB_FEED_MORE;
}

static enum gdb_feed_result dispatch(struct gdb_state *st)
{
    struct cur c = {(const char *)st->in};
    char op = *c.p;
    int t;

    st->attached = true;
    reply_reset(st);
    switch (op) {
    case '?':
        build_stop(st);
        break;
    case 'g':
        if (c.p[1])
            break;
        do_regs_read(st);
        break;
    case 'G':
        do_regs_write(st, c.p + 1);
        break;
    case 'p':
    case 'P':
        c.p++;
        do_reg_one(st, &c, op == 'P');
        break;
    case 'm':
    case 'M':
    case 'X':
        c.p++;
        do_mem(st, &c, op);
        break;
    case 'Z':
    case 'z':
        c.p++;
        do_break(st, &c, op == 'Z');
        break;
    case 'H':
        c.p++;
        op = *c.p++;
        if ((op != 'g' && op != 'c') || !tid(&c, &t) || *c.p ||
            (t > 0 && !st->arch->thread_alive(st->arch_ctx, t))) {
            puts_(st, "E01");
            break;
        }
        if (op == 'g')
            st->g_tid = t;
        else
            st->c_tid = t;
        puts_(st, "OK");
        break;
    case 'T':
        c.p++;
        if (!tid(&c, &t) || *c.p || t <= 0 || !st->arch->thread_alive(st->arch_ctx, t))
            puts_(st, "E01");
        else
            puts_(st, "OK");
        break;
    case 'c':
    case 's':
    case 'C':
    case 'S':
        /* An address argument (resume elsewhere) is not supported: gdb does
         * not send one; a signal number is accepted and ignored. */
        return resume(st, op == 'c' || op == 'C' ? GDB_RESUME_CONT : GDB_RESUME_STEP,
                      op == 's' || op == 'S' ? st->c_tid : 0, 0);
    case 'D':
        send_str(st, "OK");
        return resume(st, GDB_RESUME_DETACH, 0, 0);
    case 'k':
        return resume(st, GDB_RESUME_KILL, 0, 0);
    case 'v':
        if (!strcmp(c.p, "vCont?"))
            puts_(st, "vCont;c;C;s;S;t");
        else if (lit(&c, "vCont") && (*c.p == ';'))
            return do_vcont(st, &c);
        else if (!strncmp(c.p, "vKill", 5)) {
            send_str(st, "OK");
            return resume(st, GDB_RESUME_KILL, 0, 0);
        }
        /* vMustReplyEmpty and the rest: empty. */
        break;
    case 'q':
    case 'j':
        do_query(st, &c);
        break;
    case 'Q':
        if (!strcmp(c.p, "QStartNoAckMode")) {
            send_str(st, "OK"); /* acknowledged under the old mode */
            st->no_ack = true;
            st->noack_grace = true; /* the client's ack of this OK may follow */
            return GDB_FEED_MORE;
        }
        if (!strcmp(c.p, "QListThreadsInStopReply")) {
            st->list_threads_in_stop = true;
            puts_(st, "OK");
        }
        break;
    default:
        break;
    }
    send_reply(st);
    return GDB_FEED_MORE;
}

/* ---------------------------------------------------------------- framing */

void gdb_reset_session(struct gdb_state *st)
{
    st->rx = GDB_RX_IDLE;
    st->no_ack = false;
    st->noack_grace = false;
    st->list_threads_in_stop = false;
    st->attached = false;
    st->g_tid = st->c_tid = 0;
    st->out_len = 0;
}

void gdb_init(struct gdb_state *st, const struct gdb_arch_ops *arch, void *arch_ctx,
              const struct gdb_transport_ops *tr, void *tr_ctx)
{
    memset(st, 0, offsetof(struct gdb_state, in)); /* the buffers after it need no clearing */
    st->arch = arch;
    st->arch_ctx = arch_ctx;
    st->tr = tr;
    st->tr_ctx = tr_ctx;
    st->stop.signo = GDB_SIGTRAP;
    gdb_reset_session(st);
}

static void rx_store(struct gdb_state *st, uint8_t c)
{
    if (st->in_len >= GDB_PKT_MAX) {
        st->overflow = true;
        return;
    }
    st->in[st->in_len++] = c;
}

static enum gdb_feed_result packet_done(struct gdb_state *st)
{
    static const uint8_t ack = '+', nak = '-';
    st->rx = GDB_RX_IDLE;
    if (st->csum_bad || st->csum != st->rx_csum) {
        st->stats.bad_checksum++;
        if (!st->no_ack)
            tx(st, &nak, 1); /* ask for a retransmit */
        return GDB_FEED_MORE;
    }
    st->stats.packets++;
    st->in[st->in_len] = 0;
    /* qSupported does not touch the ack mode: lldb sends QStartNoAckMode
     * before it (a new client is recognised by its '+', see gdb_feed). */
    st->noack_grace = false;
    if (!st->no_ack)
        tx(st, &ack, 1);
    if (st->overflow) {
        st->stats.oversized++;
        send_str(st, "E0e");
        return GDB_FEED_MORE;
    }
    /* A NUL inside the payload would hide the rest from string parsing: only
     * binary X data may contain one. */
    if (st->in[0] != 'X' && memchr(st->in, 0, st->in_len)) {
        send_str(st, "E01");
        return GDB_FEED_MORE;
    }
    return dispatch(st);
}

enum gdb_feed_result gdb_feed(struct gdb_state *st, uint8_t c)
{
    int h;
    if (c == '$' && st->rx != GDB_RX_IDLE) {
        /* A packet start inside a packet: the previous one was cut short. */
        st->stats.truncated++;
        st->rx = GDB_RX_IDLE;
    }
    switch (st->rx) {
    case GDB_RX_IDLE:
        if (c == '$') {
            st->rx = GDB_RX_DATA;
            st->in_len = 0;
            st->csum = 0;
            st->overflow = false;
        } else if (c == '-' && !st->no_ack && st->out_len) {
            st->stats.naks_received++;
            st->stats.retransmits++;
            tx(st, st->out, st->out_len);
        } else if (c == '+' && st->no_ack) {
            /* In NoAck mode only the client's ack of our QStartNoAckMode OK
             * is expected; any other '+' is a new client, which knows
             * nothing of the mode (gdb and lldb ack on connecting). */
            if (st->noack_grace)
                st->noack_grace = false;
            else {
                st->no_ack = false;
                st->stats.new_clients++;
            }
        }
        /* '+' in ack mode, 0x03 while stopped and line noise are ignored. */
        return GDB_FEED_MORE;
    case GDB_RX_DATA:
        if (c == '#') {
            st->rx = GDB_RX_CSUM1;
            return GDB_FEED_MORE;
        }
        st->csum += c;
        if (c == '}')
            st->rx = GDB_RX_ESC;
        else if (c == '*' && st->in_len > 0)
            st->rx = GDB_RX_RLE;
        else
            rx_store(st, c);
        return GDB_FEED_MORE;
    case GDB_RX_ESC:
        st->csum += c;
        rx_store(st, c ^ 0x20);
        st->rx = GDB_RX_DATA;
        return GDB_FEED_MORE;
    case GDB_RX_RLE: {
        st->csum += c;
        /* Count n-29 more copies; gdb never uses counts below 3 ('\x20'). */
        uint8_t prev = st->in[st->in_len - 1];
        int n = (int)c - 29;
        for (int i = 0; i < n; i++)
            rx_store(st, prev);
        st->rx = GDB_RX_DATA;
        return GDB_FEED_MORE;
    }
    case GDB_RX_CSUM1:
        h = hexval(c);
        st->csum_bad = h < 0;
        st->rx_csum = (uint8_t)((h < 0 ? 0 : h) << 4);
        st->rx = GDB_RX_CSUM2;
        return GDB_FEED_MORE;
    case GDB_RX_CSUM2:
        h = hexval(c);
        st->csum_bad |= h < 0;
        st->rx_csum |= (uint8_t)(h < 0 ? 0 : h);
        return packet_done(st);
    }
    st->rx = GDB_RX_IDLE;
    return GDB_FEED_MORE;
}
