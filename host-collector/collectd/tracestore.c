/* Trace store: per-instance draining of the trace rings into segments (see tracestore.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/ramview.h"
#include "tracestore_int.h"

/*
 * SIGBUS: QEMU's RAM file truncated under our mapping faults on the next
 * read.  A pass reads guest memory inside the RAM view's guard
 * (lib/ramview.h), which abandons the pass instead of crashing.
 */

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

struct tracestore *tracestore_open(const char *dir, uint64_t max_bytes, int64_t max_age_s)
{
    struct tracestore *ts = calloc(1, sizeof(*ts));
    struct stat st;
    if (!ts || snprintf(ts->dir, sizeof(ts->dir), "%s", dir) >= (int)sizeof(ts->dir)) {
        free(ts);
        ts_err("Failed to open the trace store %s: bad path", dir);
        return NULL;
    }
    if ((mkdir(dir, 0700) && errno != EEXIST) || lstat(dir, &st) || !S_ISDIR(st.st_mode)) {
        ts_err("Failed to create the trace store %s: %s", dir, strerror(errno));
        free(ts);
        return NULL;
    }
    chmod(dir, 0700);
    ts->max_bytes = max_bytes;
    ts->max_age_s = max_age_s;
    /* A few segments per limit, so dropping the oldest frees a fraction. */
    ts->seg_bytes = TRACESTORE_SEG_BYTES;
    if (max_bytes && max_bytes / 4 < ts->seg_bytes)
        ts->seg_bytes = max_bytes / 4 > 4096 ? max_bytes / 4 : 4096;
    return ts;
}

static struct ts_inst *find(const struct tracestore *ts, const char *name)
{
    for (struct ts_inst *in = ts->insts; in; in = in->next)
        if (!strcmp(in->name, name))
            return in;
    return NULL;
}

static struct ts_inst *get(struct tracestore *ts, const char *name, int64_t now)
{
    struct ts_inst *in = find(ts, name);
    if (in)
        return in;
    if (!ts_name_ok(name)) {
        ts_err("Failed to store the trace of '%s': bad instance name", name);
        return NULL;
    }
    in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    snprintf(in->name, sizeof(in->name), "%s", name);
    in->cur_fd = in->ram_fd = -1;
    struct stat st;
    /* lstat: a symlink planted in the store is not followed */
    if (snprintf(in->dir, sizeof(in->dir), "%s/%s", ts->dir, name) >= (int)sizeof(in->dir) ||
        (mkdir(in->dir, 0700) && errno != EEXIST) || lstat(in->dir, &st) || !S_ISDIR(st.st_mode) ||
        ts_adopt(in, now)) {
        ts_err("Failed to create %s: %s", in->dir, strerror(errno));
        free(in);
        return NULL;
    }
    in->next = ts->insts;
    ts->insts = in;
    return in;
}

static void reader_close(struct ts_inst *in)
{
    utr_close(&in->t); /* also after a partial open: it frees and NULLs */
    in->rd_open = false;
    if (in->map)
        munmap((void *)in->map, in->map_len);
    in->map = NULL;
    if (in->ram_fd >= 0)
        close(in->ram_fd);
    in->ram_fd = -1;
    if (in->cur_fd >= 0)
        close(in->cur_fd); /* the next boot (or file) starts a new segment */
    in->cur_fd = -1;
}

/*
 * Reopened on a boot the store already holds (a restarted collector, or a
 * reader reset after an error): start each ring after the newest record
 * stored, so every event is stored once.
 */
static void resume(struct ts_inst *in)
{
    struct tseg_hdr now = {0};
    now.tsc_hz = in->t.hdr.tsc_hz;
    now.tsc_base = in->t.hdr.tsc_base;
    memcpy(now.build_id, in->t.hdr.build_id, sizeof(now.build_id));
    now.build_id_len = in->t.hdr.build_id_len;
    now.ncpus = in->t.hdr.ncpus;
    now.nrings = in->t.nrings;
    now.ntps = in->t.ntps;
    for (unsigned k = 0; k < in->nsegs; k++) {
        const struct ts_seg *g = &in->segs[k];
        if (!g->valid || !tseg_same_boot(&g->hdr, &now))
            continue;
        for (unsigned i = 0; i < in->t.nrings; i++)
            if (g->ring_next[i] > in->t.rings[i].cursor)
                in->t.rings[i].cursor = g->ring_next[i];
    }
}

/* Map RUN_DIR/ram and find the trace header (called under the SIGBUS guard). */
static int reader_open(struct ts_inst *in, const char *run_dir)
{
    char path[4200], err[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/ram", run_dir);
    in->ram_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->ram_fd < 0 || fstat(in->ram_fd, &st) || st.st_size <= 0)
        return ts_err("Failed to open guest memory %s: %s", path,
                      in->ram_fd < 0 ? strerror(errno) : "empty");
    in->dev = st.st_dev;
    in->ino = st.st_ino;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, in->ram_fd, 0);
    if (m == MAP_FAILED)
        return ts_err("Failed to map guest memory %s: %s", path, strerror(errno));
    in->map = m;
    in->map_len = (size_t)st.st_size;
    struct utr_mem mem = {in->map, in->map_len};
    uint64_t addr;
    if (utr_find(&mem, &addr, err, sizeof(err)))
        return ts_err("Failed to find the trace header of %s: %s", in->name, err);
    if (utr_open(&in->t, &mem, addr)) {
        utr_close(&in->t);
        return ts_err("Failed to read the trace header of %s: %s", in->name, in->t.err);
    }
    in->rd_open = true;
    memcpy(&in->hdr_copy, in->map + addr, sizeof(in->hdr_copy));
    memset(in->last_lost, 0, sizeof(in->last_lost));
    resume(in);
    return 0;
}

static struct tseg_rec *rec_add(struct ts_inst *in)
{
    if (in->n == in->cap_buf) {
        size_t cap = in->cap_buf ? in->cap_buf * 2 : 4096;
        struct tseg_rec *p = realloc(in->buf, cap * sizeof(*p));
        if (!p)
            return NULL;
        in->buf = p;
        in->cap_buf = cap;
    }
    struct tseg_rec *r = &in->buf[in->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static int collect(void *arg, const struct utr_event *ev)
{
    struct ts_inst *in = arg;
    struct tseg_rec *r = rec_add(in);
    if (!r)
        return 1;
    *r = (struct tseg_rec){.id = (uint16_t)ev->id,
                           .ring = (uint8_t)ev->ring,
                           .type = TSEG_EVENT,
                           .seq = ev->seq,
                           .tsc = ev->tsc,
                           .arg = {ev->arg[0], ev->arg[1]}};
    if (ev->ns > in->pass_max_ns)
        in->pass_max_ns = ev->ns;
    if (ev->seq + 1 > in->pass_next[ev->ring])
        in->pass_next[ev->ring] = ev->seq + 1;
    return 0;
}

/* Loss markers and new thread names, in in->buf[0..) ahead of the events. */
static int meta_recs(struct ts_inst *in)
{
    const struct utr *t = &in->t;
    for (unsigned i = 0; i < t->nrings; i++) {
        uint64_t lost = utr_ring_lost(t, i);
        if (lost == in->last_lost[i])
            continue;
        struct tseg_rec *r = rec_add(in);
        if (!r)
            return -1;
        r->type = TSEG_LOST;
        r->ring = (uint8_t)i;
        r->arg[0] = lost - in->last_lost[i];
        in->st.lost_in_guest += r->arg[0];
        in->last_lost[i] = lost;
    }
    for (unsigned i = 0; t->threads && i < UK_THREAD_MAX; i++) {
        const struct utr_thread *th = &t->threads[i];
        if (!th->tid || (th->tid == in->known[i].tid && !strcmp(th->name, in->known[i].name)))
            continue;
        struct tseg_rec *r = rec_add(in);
        if (!r)
            return -1;
        r->type = TSEG_THREAD;
        r->seq = th->tid;
        char nm[24] = {0};
        memcpy(nm, th->name, strnlen(th->name, sizeof(nm)));
        memcpy((uint8_t *)r + offsetof(struct tseg_rec, tsc), nm, sizeof(nm));
        in->known[i] = *th;
    }
    return 0;
}

static int64_t wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Append in->buf (meta records from `nev` on, then events [0, nev)). */
static int append(struct tracestore *ts, struct ts_inst *in, size_t nev, int64_t now)
{
    struct ts_seg *g = in->cur_fd >= 0 ? &in->segs[in->nsegs - 1] : NULL;
    if (g && (g->bytes >= ts->seg_bytes || now - g->t_open >= TRACESTORE_SEG_AGE_S * 1000)) {
        close(in->cur_fd);
        in->cur_fd = -1;
        /* the new segment's header holds every name: re-announce nothing */
        g = NULL;
    }
    if (!g) {
        if (ts_seg_create(ts, in, now))
            return -1;
        g = &in->segs[in->nsegs - 1];
    }
    struct iovec iov[2] = {{in->buf + nev, (in->n - nev) * sizeof(*in->buf)},
                           {in->buf, nev * sizeof(*in->buf)}};
    size_t want = in->n * sizeof(*in->buf);
    ssize_t w = writev(in->cur_fd, iov, 2);
    if (w != (ssize_t)want) {
        int e = w < 0 ? errno : ENOSPC;
        /* keep the file a whole number of records: cut the partial append */
        if (ftruncate(in->cur_fd, (off_t)g->bytes))
            e = errno;
        close(in->cur_fd);
        in->cur_fd = -1;
        return ts_err("Failed to append to %s's trace store: %s", in->name, strerror(e));
    }
    g->bytes += want;
    g->events += nev;
    g->t_last = now;
    if (in->pass_max_ns > g->max_ns)
        g->max_ns = in->pass_max_ns;
    const struct tseg_rec *a = &in->buf[in->n - 1]; /* the anchor, if events */
    if (nev && a->type == TSEG_ANCHOR) {
        int64_t off = (int64_t)(a->arg[0] - a->arg[1]);
        if (!g->has_anchor || off < g->wall_off)
            g->wall_off = off;
        g->has_anchor = true;
    }
    for (unsigned i = 0; i < UK_TRACE_MAX_RINGS; i++)
        if (in->pass_next[i] > g->ring_next[i])
            g->ring_next[i] = in->pass_next[i];
    in->st.bytes += want;
    in->st.events_stored += nev;
    return 0;
}

static int drain_pass(struct tracestore *ts, struct ts_inst *in, const char *run_dir, int64_t now)
{
    struct stat st;
    char path[4200];
    long nev;

    snprintf(path, sizeof(path), "%s/ram", run_dir);
    if (in->rd_open && (stat(path, &st) || st.st_ino != in->ino || st.st_dev != in->dev))
        reader_close(in); /* a new QEMU (or none): start over */
    if (in->rd_open && (fstat(in->ram_fd, &st) || (uint64_t)st.st_size != in->map_len)) {
        reader_close(in);
        return ts_err("Failed to drain %s: its RAM file changed size under the reader", in->name);
    }
    if (!RAMVIEW_GUARD()) {
        reader_close(in);
        return ts_err("Failed to drain %s: its RAM file was truncated during the pass (SIGBUS)",
                      in->name);
    }
    if (in->rd_open && memcmp(in->map + in->t.hdr_addr, &in->hdr_copy, sizeof(in->hdr_copy)))
        reader_close(in); /* the guest rebooted (or scribbled on it): find it again */
    if (!in->rd_open && reader_open(in, run_dir)) {
        ramview_unguard();
        reader_close(in);
        return -1;
    }
    in->n = 0;
    in->pass_max_ns = 0;
    memset(in->pass_next, 0, sizeof(in->pass_next));
    nev = utr_drain(&in->t, false, collect, in);
    ramview_unguard();
    ramview_release(in->map, in->map_len); /* keep RSS to the pages a pass touches */
    if (nev < 0)
        return ts_err("Failed to drain %s: %s", in->name, in->t.err);
    size_t n = in->n;
    if (meta_recs(in))
        return ts_err("Failed to drain %s: out of memory", in->name);
    if (n) {
        struct tseg_rec *r = rec_add(in);
        if (!r)
            return ts_err("Failed to drain %s: out of memory", in->name);
        r->type = TSEG_ANCHOR;
        r->arg[0] = (uint64_t)wall_ns();
        r->arg[1] = in->pass_max_ns;
    }
    if (in->n == 0)
        return 0;
    return append(ts, in, n, now);
}

int tracestore_drain(struct tracestore *ts, const char *instance, const char *run_dir, int64_t now)
{
    uint64_t c0 = cpu_ns();
    struct ts_inst *in = get(ts, instance, now);
    if (!in)
        return -1;
    in->st.drains++;
    int rc = drain_pass(ts, in, run_dir, now);
    if (rc)
        in->st.drain_errors++;
    ts_limits(ts, in, now);
    in->st.drain_cpu_ns += cpu_ns() - c0;
    return rc;
}

void tracestore_stats(const struct tracestore *ts, const char *instance,
                      struct tracestore_stats *out)
{
    const struct ts_inst *in = find(ts, instance);
    memset(out, 0, sizeof(*out));
    if (in)
        *out = in->st;
}

void tracestore_forget(struct tracestore *ts, const char *instance)
{
    struct ts_inst *in = find(ts, instance);
    if (in)
        reader_close(in);
}

void tracestore_close(struct tracestore *ts)
{
    if (!ts)
        return;
    while (ts->insts) {
        struct ts_inst *in = ts->insts;
        ts->insts = in->next;
        reader_close(in);
        free(in->segs);
        free(in->buf);
        free(in);
    }
    free(ts);
}
