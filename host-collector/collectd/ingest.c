/*
 * Per tick, per instance: new klog records (by sequence number, from the
 * ring in the RAM file) and new console.log lines into the log store.
 *
 * The ring alone is enough when read every tick (1 s): it keeps
 * UK_KLOG_SLOTS records, so a guest logging fewer than that per second
 * loses nothing; beyond that the overwritten records are stored as one
 * {"lost":N,"from_seq":S} record per gap, so every seq of a boot is in the
 * store exactly once, as a record or inside a lost range.
 *
 * Guest memory is hostile: the ring header is re-validated every tick (a
 * ring rewritten with garbage is a counted klog error and a log line; the
 * other instances are not affected), a head that moves backwards is an
 * error, and every read runs under the RAM view's SIGBUS guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uk/thread_abi.h>

#include "cd.h"
#include "log.h"

enum { RETRY_MS = 10000, UTR_RETRY_MS = 2000, KLOG_PASSES = 8, CONSOLE_CHUNK = 65536, LINE_MAX_TEXT = 511 };

static void src_error(struct inst *in, enum cd_source s, const char *msg)
{
    in->err[s]++;
    if (!in->src_bad[s])
        cd_log(CD_WARN, "%s: Failed to read the %s source: %s (counted; retrying)", in->name,
               cd_source_names[s], msg);
    in->src_bad[s] = true;
}

static void src_ok(struct inst *in, enum cd_source s)
{
    if (in->src_bad[s])
        cd_log(CD_INFO, "%s: %s source readable again", in->name, cd_source_names[s]);
    in->src_bad[s] = false;
}

void ingest_close(struct inst *in)
{
    telem_drop(in, NULL);
    in->klog_head_seen = 0;
    if (in->utr_ok)
        utr_close(&in->tr);
    in->utr_ok = false;
    in->klog_ok = false;
    in->klog_retry = in->utr_retry = 0;
    in->metrics_off = 0;
    ramview_close(&in->ram);
}

static json_t *base_rec(struct inst *in, const char *source)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "instance", in->name, "boot_id", in->boot_id,
                     "build_id", in->build_id, "source", source);
}

static void add(struct inst *in, json_t *rec)
{
    if (rec && logstore_add(&in->ls, rec) == 0 && json_object_get(rec, "seq"))
        in->ingested[strcmp(json_string_value(json_object_get(rec, "source")), "klog") ? 1 : 0]++;
    json_decref(rec);
}

static void add_lost(struct inst *in, uint64_t from, uint64_t n)
{
    json_t *r = base_rec(in, "klog");
    json_object_set_new(r, "lost", json_integer((json_int_t)n));
    json_object_set_new(r, "from_seq", json_integer((json_int_t)from));
    cd_log(CD_WARN, "%s: %llu klog records overwritten before they were read (seq %llu..%llu)",
           in->name, (unsigned long long)n, (unsigned long long)from,
           (unsigned long long)(from + n - 1));
    add(in, r);
}

/*
 * One klog record as the store's JSON line, formatted directly (the same
 * keys and order as base_rec + on_klog's fields always had): building a
 * json_t per record was most of the store path's CPU.
 */
static int on_klog(void *arg, const struct klog_record *k)
{
    struct inst *in = arg;
    const char *th = in->utr_ok ? utr_thread_name(&in->tr, k->tid) : NULL;
    char line[4096], *p = line; /* < 2200 bytes even if every byte were escaped */
    size_t thl = th ? strnlen(th, 63) : 0;

    if (k->seq > in->ls.pos.klog_next)
        add_lost(in, in->ls.pos.klog_next, k->seq - in->ls.pos.klog_next);
    p += sprintf(p, "{\"instance\":\"");
    p = logstore_json_str(p, in->name, strnlen(in->name, sizeof(in->name)));
    p += sprintf(p, "\",\"boot_id\":\"");
    p = logstore_json_str(p, in->boot_id, strnlen(in->boot_id, sizeof(in->boot_id)));
    p += sprintf(p, "\",\"build_id\":\"");
    p = logstore_json_str(p, in->build_id, strnlen(in->build_id, sizeof(in->build_id)));
    p += sprintf(p,
                 "\",\"source\":\"klog\",\"seq\":%lld,\"time_ns\":%lld,\"guest_ns\":%lld,"
                 "\"severity\":%u,\"cpu\":%u,\"tid\":%u,\"thread\":\"",
                 (long long)k->seq, (long long)(in->boot_wall_ns + (int64_t)k->time_ns),
                 (long long)k->time_ns, k->level > 7 ? 7 : k->level, k->cpu, k->tid);
    p = logstore_json_str(p, th ? th : "", thl);
    p += sprintf(p, "\",\"text\":\"");
    p = logstore_json_str(p, k->text, k->len <= UK_KLOG_TEXT ? k->len : UK_KLOG_TEXT);
    p += sprintf(p, "\"}");
    if (logstore_add_klog(&in->ls, line, (size_t)(p - line), k->seq) == 0)
        in->ingested[0]++;
    return 0;
}

static void attach(struct inst *in, int64_t now)
{
    struct klog_mem m = {in->ram.base, in->ram.size};
    struct utr_mem um = {in->ram.base, in->ram.size};
    char err[256];
    uint64_t addr;

    if (!in->utr_ok && now >= in->utr_retry) {
        in->utr_retry = now + UTR_RETRY_MS;
        if (utr_find(&um, &addr, err, sizeof(err)) == 0 && utr_open(&in->tr, &um, addr) == 0) {
            in->utr_ok = true;
            unsigned n = in->tr.hdr.build_id_len <= 20 ? in->tr.hdr.build_id_len : 20;
            for (unsigned i = 0; i < n; i++)
                snprintf(in->build_id + 2 * i, 3, "%02x", in->tr.hdr.build_id[i]);
        }
    }
    if (!in->klog_ok && now >= in->klog_retry) {
        in->klog_retry = now + RETRY_MS;
        if ((in->klog_addr && klog_open(&in->kr, &m, in->klog_addr, err, sizeof(err)) == 0) ||
            (klog_find(&m, &in->klog_addr, err, sizeof(err)) == 0 &&
             klog_open(&in->kr, &m, in->klog_addr, err, sizeof(err)) == 0)) {
            in->klog_ok = true;
            in->kr.next = in->ls.pos.klog_next; /* a gap up to the oldest is counted lost */
            src_ok(in, SRC_KLOG);
        } else {
            in->klog_addr = 0;
            src_error(in, SRC_KLOG, err);
        }
    }
}

static void read_klog(struct inst *in, bool final)
{
    struct klog_reader chk;
    char err[256];
    struct klog_mem m = {in->ram.base, in->ram.size};

    if (klog_open(&chk, &m, in->klog_addr, err, sizeof(err)) < 0) {
        in->klog_ok = false;
        in->klog_addr = 0;
        src_error(in, SRC_KLOG, err);
        return;
    }
    if (klog_head(&chk) < in->ls.pos.klog_next) {
        snprintf(err, sizeof(err), "ring head %llu went back below %llu (sequence numbers loop)",
                 (unsigned long long)klog_head(&chk), (unsigned long long)in->ls.pos.klog_next);
        in->klog_ok = false;
        src_error(in, SRC_KLOG, err);
        return;
    }
    if (klog_head(&chk) > in->klog_head_seen)
        in->klog_head_seen = klog_head(&chk);
    in->kr.next = in->ls.pos.klog_next;
    for (int i = 0; i < KLOG_PASSES; i++)
        if (klog_read(&in->kr, UINT64_MAX, final, on_klog, in) <= 0)
            break;
    if (in->kr.next > in->ls.pos.klog_next) /* skipped at the end: lost */
        add_lost(in, in->ls.pos.klog_next, in->kr.next - in->ls.pos.klog_next);
    src_ok(in, SRC_KLOG);
}

static void read_console(struct inst *in)
{
    char path[4200], *buf;
    ssize_t n;
    int fd;
    uint64_t off = in->ls.pos.console_off;

    snprintf(path, sizeof(path), "%s/console.log", in->run_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    if ((uint64_t)lseek(fd, 0, SEEK_END) < off)
        off = 0; /* a new file (new boot or truncated) */
    buf = malloc(CONSOLE_CHUNK);
    n = buf ? pread(fd, buf, CONSOLE_CHUNK, (off_t)off) : -1;
    close(fd);
    if (n < 0) {
        src_error(in, SRC_CONSOLE, strerror(errno));
        free(buf);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < (size_t)n; i++) {
        bool nl = buf[i] == '\n';
        if (!nl && i - start < LINE_MAX_TEXT)
            continue;
        size_t len = i - start, end = i + (nl ? 1 : 0);
        char text[LINE_MAX_TEXT + 1];
        size_t t = 0;
        for (size_t j = start; j < start + len; j++)
            if (buf[j] != '\r' && buf[j] != 0) /* NUL: a clock sync byte (trace_sync_ms) */
                text[t++] = (buf[j] >= 0x20 && buf[j] < 0x7f) ? buf[j] : '?';
        json_t *r = base_rec(in, "console");
        json_object_set_new(r, "seq", json_integer((json_int_t)in->ls.pos.console_seq));
        json_object_set_new(r, "off_end", json_integer((json_int_t)(off + end)));
        json_object_set_new(r, "time_ns", json_integer(cd_wall_ns()));
        json_object_set_new(r, "severity", json_integer(6));
        json_object_set_new(r, "text", json_stringn(text, t));
        add(in, r);
        start = end;
        if (!nl)
            i--; /* the byte at i starts the next piece */
    }
    free(buf);
    src_ok(in, SRC_CONSOLE);
}

void ingest_tick(struct inst *in, int64_t now, bool final)
{
    char path[4200];
    int r;

    if (!in->ls_ok || !in->boot_id[0])
        return;
    if (strcmp(in->ls.pos.boot_id, in->boot_id)) {
        uint64_t size = in->ls.pos.store_size;
        memset(&in->ls.pos, 0, sizeof(in->ls.pos));
        in->ls.pos.store_size = size;
        snprintf(in->ls.pos.boot_id, sizeof(in->ls.pos.boot_id), "%s", in->boot_id);
    }
    if (in->ram.fd < 0) {
        snprintf(path, sizeof(path), "%s/ram", in->run_dir);
        if (ramview_open(&in->ram, path) < 0) {
            src_error(in, SRC_RAM, strerror(errno));
            goto console;
        }
    }
    r = ramview_refresh(&in->ram);
    if (r < 0) {
        src_error(in, SRC_RAM, strerror(errno));
        goto console;
    }
    if (r > 0) { /* re-mapped: the readers point into the old mapping */
        if (in->utr_ok)
            utr_close(&in->tr);
        in->utr_ok = in->klog_ok = false;
        in->klog_retry = in->utr_retry = 0;
        in->metrics_off = 0;
    }
    if (RAMVIEW_GUARD()) {
        attach(in, now);
        if (in->utr_ok)
            utr_threads_refresh(&in->tr);
        if (in->klog_ok)
            read_klog(in, final);
        ramview_unguard();
        ramview_release(in->ram.base, in->ram.size);
        src_ok(in, SRC_RAM);
    } else {
        src_error(in, SRC_RAM, "SIGBUS: the RAM file shrank under the reader");
        ingest_close(in);
    }
console:
    read_console(in);
    if (logstore_commit(&in->ls) < 0)
        in->err[SRC_KLOG]++;
}

/*
 * A live record from the telemetry stream (telem.c), by sequence number:
 * one already stored is a duplicate; a gap before it is filled from the
 * ring first (what the ring overwrote is a counted lost range, as for the
 * tick).  The ring's head bounds what a stream may claim: a seq at or
 * beyond it is a counted telemetry error (a lying stream must not open a
 * bogus lost range); without a readable ring, at most LIVE_GAP_MAX ahead.
 * 1 when the store grew, 0 when not, -1 rejected.
 */
enum { LIVE_GAP_MAX = UK_KLOG_SLOTS * 64 };

int ingest_live(struct inst *in, const struct klog_record *k)
{
    uint64_t before = in->ls.pos.klog_next;
    volatile uint64_t head = before + LIVE_GAP_MAX; /* set between setjmp and longjmp */
    struct klog_mem m = {in->ram.base, in->ram.size};
    struct klog_reader chk;
    char err[256];

    if (!in->ls_ok || !in->boot_id[0] || strcmp(in->ls.pos.boot_id, in->boot_id))
        return 0; /* the tick sets up a new boot's position first */
    if (k->seq < before)
        return 0;
    if (k->seq == before && k->seq < in->klog_head_seen) {
        on_klog(in, k); /* the common case: next in line, below a head already seen */
        return 1;
    }
    if (in->klog_ok && in->ram.base) {
        if (!RAMVIEW_GUARD()) {
            src_error(in, SRC_RAM, "SIGBUS: the RAM file shrank under the reader");
            in->klog_ok = false; /* the tick rebuilds the view */
            return 0;
        }
        if (klog_open(&chk, &m, in->klog_addr, err, sizeof(err)) == 0) {
            head = klog_head(&chk);
            if (head > in->klog_head_seen)
                in->klog_head_seen = head;
            if (k->seq > before && k->seq < head)
                read_klog(in, false);
        }
        ramview_unguard();
    }
    if (k->seq >= head) {
        in->err[SRC_TELEMETRY]++;
        if (!in->src_bad[SRC_TELEMETRY])
            cd_log(CD_WARN, "%s: telemetry record seq %llu is beyond the ring's head %llu "
                   "(counted, dropped)", in->name, (unsigned long long)k->seq,
                   (unsigned long long)head);
        in->src_bad[SRC_TELEMETRY] = true;
        return -1;
    }
    if (k->seq >= in->ls.pos.klog_next)
        on_klog(in, k); /* counts a gap the ring could not fill */
    return in->ls.pos.klog_next > before;
}

void ingest_commit(struct inst *in)
{
    if (in->ls_ok && logstore_commit(&in->ls) < 0)
        in->err[SRC_KLOG]++;
}

json_t *ingest_threads_json(struct inst *in)
{
    json_t *a;

    if (!in->utr_ok || !in->ram.base)
        return NULL;
    a = json_array();
    if (RAMVIEW_GUARD()) {
        utr_threads_refresh(&in->tr);
        for (unsigned i = 0; in->tr.threads && i < UK_THREAD_MAX; i++)
            if (in->tr.threads[i].tid)
                json_array_append_new(a, json_pack("{s:I,s:s}", "tid",
                                                   (json_int_t)in->tr.threads[i].tid, "name",
                                                   in->tr.threads[i].name));
        ramview_unguard();
    } else {
        in->err[SRC_THREADS]++;
        json_decref(a);
        return NULL;
    }
    return a;
}
