/*
 * Trace store export (see tracestore.h): the segments of an instance's
 * latest boot are loaded, a reader-shaped view (struct utr without guest
 * memory) is rebuilt from their metadata, and the events go through the
 * same writers as `ukctl trace` (trace_out.h), atomically.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_out.h"
#include "tracestore_int.h"

struct view {
    struct utr t;
    uint8_t **bufs;
    struct tseg *segs;
    unsigned n;
    int64_t wall_off; /* host wall ns - guest ns (fleet), from the anchors */
    bool has_anchor;
    uint64_t max_ns;
};

static void view_free(struct view *v)
{
    for (unsigned i = 0; i < v->n; i++) {
        tseg_free(&v->segs[i]);
        free(v->bufs[i]);
    }
    free(v->bufs);
    free(v->segs);
    utr_close(&v->t);
    memset(v, 0, sizeof(*v));
}

static void view_thread(struct view *v, uint64_t tid, const char *name)
{
    unsigned i, fr = UK_THREAD_MAX;
    for (i = 0; i < UK_THREAD_MAX && v->t.threads[i].tid != tid; i++)
        if (!v->t.threads[i].tid && fr == UK_THREAD_MAX)
            fr = i;
    if (i == UK_THREAD_MAX)
        i = fr;
    if (i == UK_THREAD_MAX || !name[0])
        return;
    v->t.threads[i].tid = tid;
    snprintf(v->t.threads[i].name, sizeof(v->t.threads[i].name), "%s", name);
}

/* Load the trailing segments of the newest boot and build v->t. */
static int view_load(struct ts_inst *in, struct view *v)
{
    unsigned first = in->nsegs, last = in->nsegs;
    memset(v, 0, sizeof(*v));
    while (last && !in->segs[last - 1].valid)
        last--;
    if (!last)
        return ts_err("Failed to export %s: no trace stored", in->name);
    for (first = last; first && in->segs[first - 1].valid &&
                       tseg_same_boot(&in->segs[first - 1].hdr, &in->segs[last - 1].hdr);
         first--)
        ;
    v->bufs = calloc(last - first, sizeof(*v->bufs));
    v->segs = calloc(last - first, sizeof(*v->segs));
    v->t.threads = calloc(UK_THREAD_MAX, sizeof(*v->t.threads));
    if (!v->bufs || !v->segs || !v->t.threads)
        return ts_err("Failed to export %s: out of memory", in->name);
    for (unsigned i = first; i < last; i++) {
        char path[4200];
        size_t len;
        struct ts_seg *g = &in->segs[i];
        if (ts_seg_path(in, g->seq, path, sizeof(path)) ||
            ts_seg_load(path, &v->bufs[v->n], &len, &v->segs[v->n]))
            continue; /* deleted or damaged since indexed: export the rest */
        const struct tseg *s = &v->segs[v->n++];
        if (!tseg_same_boot(&s->hdr, &in->segs[last - 1].hdr)) {
            tseg_free(&v->segs[--v->n]);
            free(v->bufs[v->n]);
            continue;
        }
        if (g->has_anchor && (!v->has_anchor || g->wall_off < v->wall_off)) {
            v->wall_off = g->wall_off;
            v->has_anchor = true;
        }
        if (g->max_ns > v->max_ns)
            v->max_ns = g->max_ns;
        for (unsigned k = 0; k < s->hdr.nthreads; k++)
            view_thread(v, s->threads[k].tid, s->threads[k].name);
        for (size_t k = 0; k < s->nrecs; k++)
            if (s->recs[k].type == TSEG_THREAD && tseg_rec_ok(s, &s->recs[k])) {
                char name[25];
                tseg_thread_name(&s->recs[k], name);
                view_thread(v, s->recs[k].seq, name);
            }
    }
    if (!v->n)
        return ts_err("Failed to export %s: no readable segment", in->name);
    /* The newest segment's metadata describes the boot. */
    const struct tseg *s = &v->segs[v->n - 1];
    struct utr *t = &v->t;
    t->hdr.tsc_hz = s->hdr.tsc_hz;
    t->hdr.tsc_base = s->hdr.tsc_base;
    memcpy(t->hdr.build_id, s->hdr.build_id, sizeof(t->hdr.build_id));
    t->hdr.build_id_len = s->hdr.build_id_len;
    t->hdr.ncpus = s->hdr.ncpus;
    t->hdr.nrings = t->nrings = s->hdr.nrings;
    t->hdr.ntps = t->ntps = s->hdr.ntps;
    t->tps = calloc(t->ntps, sizeof(*t->tps));
    t->rings = calloc(t->nrings, sizeof(*t->rings));
    if (!t->tps || !t->rings)
        return ts_err("Failed to export %s: out of memory", in->name);
    memcpy(t->tps, s->tps, t->ntps * sizeof(*t->tps));
    for (unsigned i = 0; i < t->nrings; i++) {
        t->rings[i].desc.cpu = s->rings[i].cpu;
        t->rings[i].desc.kind = s->rings[i].kind;
        t->rings[i].usable = true;
    }
    return 0;
}

/* Feed the writer every event at guest ns >= cutoff, shifted by `shift`;
 * with `map`, at host ns (th_map) >= cutoff instead. */
static int view_write(struct view *v, struct tout *o, uint64_t cutoff, int64_t shift,
                      const struct th_clock *map)
{
    enum { BATCH = 4096 };
    struct utr_event *ev = malloc(BATCH * sizeof(*ev));
    size_t n = 0;
    int rc = -1;
    if (!ev)
        return tout_fail(o, "out of memory");
    for (unsigned i = 0; i < v->n; i++) {
        const struct tseg *s = &v->segs[i];
        for (size_t k = 0; k < s->nrecs; k++) {
            const struct tseg_rec *r = &s->recs[k];
            if (!tseg_rec_ok(s, r))
                continue;
            if (r->type == TSEG_LOST) {
                /* losses belong before the events that follow them */
                if (n && tout_pass(o, ev, n))
                    goto out;
                n = 0;
                v->t.rings[r->ring].overwritten += r->arg[0];
                continue;
            }
            if (r->type != TSEG_EVENT)
                continue;
            uint64_t ns = map ? th_map(map, r->tsc)
                              : (uint64_t)((unsigned __int128)r->tsc * 1000000000u / s->hdr.tsc_hz);
            if (ns < cutoff)
                continue;
            /* A writer pass holds events grouped by ring in ascending ring
             * order (trace_out.h), as one drain stored them: a lower ring
             * than the last one starts the next drain's events. */
            if (n && r->ring < ev[n - 1].ring) {
                if (tout_pass(o, ev, n))
                    goto out;
                n = 0;
            }
            ev[n] = (struct utr_event){
                r->ring, v->t.rings[r->ring].desc.cpu, v->t.rings[r->ring].desc.kind, r->id, r->seq,
                r->tsc,  ns + (uint64_t)shift,         {r->arg[0], r->arg[1]}};
            v->t.rings[r->ring].read++;
            if (++n == BATCH) {
                if (tout_pass(o, ev, n))
                    goto out;
                n = 0;
            }
        }
    }
    rc = n ? tout_pass(o, ev, n) : 0;
out:
    free(ev);
    return rc;
}

static int parse_format(const char *f, enum tout_format *out)
{
    if (!strcmp(f, "perfetto"))
        *out = TOUT_PERFETTO;
    else if (!strcmp(f, "json"))
        *out = TOUT_JSON;
    else if (!strcmp(f, "ctf"))
        *out = TOUT_CTF;
    else
        return -1;
    return 0;
}

/* One instance into out: cutoff/shift in guest ns; pid/name for fleet parts. */
static int export_view(struct view *v, struct ts_inst *in, enum tout_format f, const char *out,
                       uint64_t cutoff, int64_t shift, unsigned pid)
{
    struct tout o;
    /* in->name passed ts_name_ok: clean for every format */
    if (tout_begin_process(&o, f, out, &v->t, pid, pid ? in->name : NULL))
        return ts_err("Failed to start %s: %s", out, o.err);
    if (view_write(v, &o, cutoff, shift, NULL) || tout_finish(&o)) {
        tout_abort(&o);
        return ts_err("Failed to write %s: %s", out, o.err);
    }
    return 0;
}

int tracestore_export(struct tracestore *ts, const char *instance, int64_t last_s,
                      const char *format, const char *out_path)
{
    enum tout_format f;
    struct view v;
    struct ts_inst *in;
    if (parse_format(format, &f))
        return ts_err("Failed to export: unknown format '%s' (perfetto, ctf, json)", format);
    for (in = ts->insts; in && strcmp(in->name, instance); in = in->next)
        ;
    if (!in)
        return ts_err("Failed to export %s: unknown instance", instance);
    int rc = view_load(in, &v);
    if (!rc) {
        uint64_t span = last_s > 0 ? (uint64_t)last_s * 1000000000ULL : 0;
        uint64_t cutoff = span && v.max_ns > span ? v.max_ns - span : 0;
        rc = export_view(&v, in, f, out_path, cutoff, 0, 0);
    }
    view_free(&v);
    return rc;
}

void ts_host_free(struct ts_host *h)
{
    free(h->ev);
    free(h->sync);
    h->ev = NULL;
    h->sync = NULL;
    h->n = h->nsync = 0;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct th_sync *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The guest's sync points of the loaded boot, the latest `keep` by seq. */
static int view_syncs(struct view *v, struct th_pairs *p, size_t keep)
{
    for (unsigned i = 0; i < v->n; i++) {
        const struct tseg *s = &v->segs[i];
        for (size_t k = 0; k < s->nrecs; k++) {
            const struct tseg_rec *r = &s->recs[k];
            if (r->type == TSEG_EVENT && r->id == UK_TP_HOST_SYNC && tseg_rec_ok(s, r) &&
                th_pairs_feed(p, r->ring, r->arg[0], r->arg[1], r->tsc))
                return -1;
        }
    }
    qsort(p->pt, p->n, sizeof(*p->pt), cmp_seq);
    if (p->n > keep) {
        memmove(p->pt, p->pt + (p->n - keep), keep * sizeof(*p->pt));
        p->n = keep;
    }
    return 0;
}

/* How many guest points beyond the host's sync writes the fit may see: the
 * guest may have drained a few the host has not, or the reverse. */
#define SYNC_EXTRA 32
/* The shortest run of host writes the fit is tried on. */
#define SYNC_MIN_RUN 8

int tracestore_export_host(struct tracestore *ts, const char *instance, struct ts_host *h,
                           const char *out_path, char *why, size_t whylen)
{
    struct th_pairs p = {0};
    struct view v;
    struct ts_inst *in;
    struct tout o;
    int rc = -1;

    for (in = ts->insts; in && strcmp(in->name, instance); in = in->next)
        ;
    if (!in) {
        snprintf(why, whylen, "no trace stored for the instance");
        return -1;
    }
    if (view_load(in, &v)) {
        snprintf(why, whylen, "no readable trace segment");
        goto out;
    }
    if (view_syncs(&v, &p, h->nsync + SYNC_EXTRA)) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    h->guest_points = (unsigned)p.n;
    /* All the points, else the latest half, quarter...: the offset k holds
     * only since the VM last ran on (a pause, e.g. a live `ukctl dump`,
     * moves it), and the fit refuses a run that straddles a move. */
    size_t keep = h->nsync;
    for (;;) {
        size_t ng = p.n < keep + SYNC_EXTRA ? p.n : keep + SYNC_EXTRA;
        if (!th_fit(&h->clock, p.pt + (p.n - ng), ng, h->sync + (h->nsync - keep), keep))
            break;
        if (keep / 2 < SYNC_MIN_RUN) {
            snprintf(why, whylen, "no consistent guest clock mapping from %zu guest sync points "
                     "and %zu host sync writes (it needs a guest started with trace_sync_ms=N "
                     "that ran for a few N ms)", p.n, h->nsync);
            goto out;
        }
        keep /= 2;
    }
    if (tout_begin_process(&o, TOUT_PERFETTO, out_path, &v.t, 0, NULL)) {
        snprintf(why, whylen, "Failed to start %s: %s", out_path, o.err);
        goto out;
    }
    if (view_write(&v, &o, h->n ? h->ev[0].ts_ns : 0, 0, &h->clock) ||
        th_host_tracks(&o, h->pid, h->ev, h->n, &h->missed) || tout_finish(&o)) {
        snprintf(why, whylen, "Failed to write %s: %s", out_path, o.err);
        tout_abort(&o);
        goto out;
    }
    rc = 0;
out:
    th_pairs_free(&p);
    view_free(&v);
    return rc;
}

/* Append file `from` to the open fd. */
static int concat(int fd, const char *from)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)r) != r) {
            close(in);
            return -1;
        }
    close(in);
    return r < 0 ? -1 : 0;
}

/*
 * Fleet: each instance's latest boot is written as a Perfetto part of its
 * own (pid k, named after the instance, timestamps moved to host wall
 * time by its anchors), then the parts are concatenated (a Perfetto trace
 * is a sequence of packets) into a temporary file renamed to out_path.
 */
int tracestore_export_fleet(struct tracestore *ts, int64_t last_s, const char *out_path)
{
    char tmp[4200], part[4300];
    int rc = -1, fd;
    unsigned pid = 0, nparts = 0;
    int64_t newest = 0;
    bool any = false;

    /* The reference: the newest event of the fleet, in host wall time. */
    for (struct ts_inst *in = ts->insts; in; in = in->next)
        for (unsigned i = 0; i < in->nsegs; i++) {
            const struct ts_seg *g = &in->segs[i];
            int64_t w = (int64_t)g->max_ns + (g->has_anchor ? g->wall_off : 0);
            if (g->valid && g->events && (!any || w > newest)) {
                newest = w;
                any = true;
            }
        }
    if (!any)
        return ts_err("Failed to export the fleet trace: no trace stored");
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", out_path) >= (int)sizeof(tmp))
        return ts_err("Failed to export the fleet trace: path too long");
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ts_err("Failed to create %s: %s", tmp, strerror(errno));
    fchmod(fd, 0644);
    for (struct ts_inst *in = ts->insts; in; in = in->next) {
        struct view v;
        if (!in->nsegs)
            continue;
        pid++;
        if (view_load(in, &v)) {
            view_free(&v);
            continue; /* already said why; the others still go out */
        }
        int64_t shift = v.has_anchor ? v.wall_off : 0;
        int64_t cut = last_s > 0 ? newest - last_s * 1000000000LL - shift : 0;
        snprintf(part, sizeof(part), "%s.part-%u", tmp, pid);
        int r = export_view(&v, in, TOUT_PERFETTO, part, cut > 0 ? (uint64_t)cut : 0, shift, pid);
        view_free(&v);
        if (!r && concat(fd, part)) {
            ts_err("Failed to write %s: %s", tmp, strerror(errno));
            unlink(part);
            goto cleanup;
        }
        unlink(part);
        nparts += !r;
    }
    if (!nparts) {
        ts_err("Failed to export the fleet trace: no instance could be exported");
        goto cleanup;
    }
    if (fsync(fd) || close(fd)) {
        fd = -1;
        ts_err("Failed to write %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, out_path)) {
        ts_err("Failed to rename %s to %s: %s", tmp, out_path, strerror(errno));
        goto cleanup;
    }
    tmp[0] = 0;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    return rc;
}
