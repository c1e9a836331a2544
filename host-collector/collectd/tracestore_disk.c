/* Trace store segment files: create, load, adopt at open, size/age limits (see tracestore.h). */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tracestore_int.h"

#define SEG_MAX_FILE (64ULL << 20) /* refuse to load anything bigger: not ours */

int ts_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ukcollectd: tracestore: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

bool ts_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 63 || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || strchr("._-", name[i])))
            return false;
    return true;
}

int ts_seg_path(const struct ts_inst *in, uint64_t seq, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/seg-%016llu.uts", in->dir, (unsigned long long)seq);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int ts_seg_load(const char *path, uint8_t **bufp, size_t *lenp, struct tseg *s)
{
    char err[200];
    struct stat st;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SEG_MAX_FILE) {
        if (fd >= 0)
            close(fd);
        return ts_err("Failed to open segment %s: %s", path,
                      fd < 0 ? strerror(errno) : "not a segment");
    }
    size_t len = (size_t)st.st_size, got = 0;
    buf = malloc(len ? len : 1);
    while (buf && got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf)
        return ts_err("Failed to read segment %s: out of memory", path);
    if (tseg_parse(buf, got, s, err, sizeof(err))) {
        free(buf);
        return ts_err("Failed to parse segment %s: %s", path, err);
    }
    *bufp = buf;
    *lenp = got;
    return 0;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct ts_seg *seg_push(struct ts_inst *in)
{
    if (in->nsegs == in->cap) {
        unsigned cap = in->cap ? in->cap * 2 : 16;
        struct ts_seg *p = realloc(in->segs, cap * sizeof(*p));
        if (!p)
            return NULL;
        in->segs = p;
        in->cap = cap;
    }
    struct ts_seg *s = &in->segs[in->nsegs++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* Index facts of a parsed segment: events, newest time, anchors. */
static void seg_scan(struct ts_seg *g, const struct tseg *s)
{
    g->valid = true;
    g->hdr = s->hdr;
    for (size_t i = 0; i < s->nrecs; i++) {
        const struct tseg_rec *r = &s->recs[i];
        if (!tseg_rec_ok(s, r))
            continue;
        if (r->type == TSEG_EVENT) {
            uint64_t ns = (uint64_t)((unsigned __int128)r->tsc * 1000000000u / s->hdr.tsc_hz);
            g->events++;
            if (r->seq + 1 > g->ring_next[r->ring])
                g->ring_next[r->ring] = r->seq + 1;
            if (ns > g->max_ns)
                g->max_ns = ns;
        } else if (r->type == TSEG_ANCHOR) {
            int64_t off = (int64_t)(r->arg[0] - r->arg[1]);
            if (!g->has_anchor || off < g->wall_off)
                g->wall_off = off;
            g->has_anchor = true;
        }
    }
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int seg_file(const struct dirent *e)
{
    unsigned long long q;
    char tail[8];
    return sscanf(e->d_name, "seg-%16llu.%7s", &q, tail) == 2 && !strcmp(tail, "uts");
}

int ts_adopt(struct ts_inst *in, int64_t now)
{
    struct dirent **ents = NULL;
    int n = scandir(in->dir, &ents, seg_file, by_name);
    if (n < 0)
        return ts_err("Failed to list %s: %s", in->dir, strerror(errno));
    int64_t wall = wall_ns();
    for (int i = 0; i < n; i++) {
        char path[4400];
        struct stat st;
        uint8_t *buf;
        size_t len;
        struct tseg s;
        unsigned long long q = 0;
        sscanf(ents[i]->d_name, "seg-%16llu", &q);
        snprintf(path, sizeof(path), "%s/%s", in->dir, ents[i]->d_name);
        struct ts_seg *g = lstat(path, &st) || !S_ISREG(st.st_mode) ? NULL : seg_push(in);
        if (g) {
            g->seq = q;
            g->bytes = (uint64_t)st.st_size;
            /* monotonic time of the last write, from the file's age */
            int64_t age_ms =
                (wall - ((int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec)) / 1000000;
            g->t_open = g->t_last = now - (age_ms > 0 ? age_ms : 0);
            if (!ts_seg_load(path, &buf, &len, &s)) {
                seg_scan(g, &s);
                tseg_free(&s);
                free(buf);
            } /* else: kept in the index (its bytes count) until a limit removes it */
            in->st.events_stored += g->events;
            in->st.bytes += g->bytes;
            in->st.segments++;
            if (q >= in->next_seq)
                in->next_seq = q + 1;
        }
        free(ents[i]);
    }
    free(ents);
    return 0;
}

int ts_seg_create(struct tracestore *ts, struct ts_inst *in, int64_t now)
{
    const struct utr *t = &in->t;
    unsigned nthreads = 0;
    for (unsigned i = 0; t->threads && i < UK_THREAD_MAX; i++)
        nthreads += t->threads[i].tid != 0;
    size_t hsize = tseg_hdr_size(t->nrings, t->ntps, nthreads);
    uint8_t *h = calloc(1, hsize);
    char path[4200];
    if (!h || ts_seg_path(in, in->next_seq, path, sizeof(path))) {
        free(h);
        return ts_err("Failed to create a segment for %s: out of memory", in->name);
    }
    struct tseg_hdr *sh = (struct tseg_hdr *)h;
    memcpy(sh->magic, TSEG_MAGIC, sizeof(sh->magic));
    sh->version = TSEG_VERSION;
    sh->hdr_size = (uint32_t)hsize;
    sh->seq = in->next_seq;
    sh->created_wall_ns = wall_ns();
    sh->tsc_hz = t->hdr.tsc_hz;
    sh->tsc_base = t->hdr.tsc_base;
    memcpy(sh->build_id, t->hdr.build_id, sizeof(sh->build_id));
    sh->build_id_len = t->hdr.build_id_len;
    sh->ncpus = t->hdr.ncpus;
    sh->nrings = t->nrings;
    sh->ntps = t->ntps;
    sh->nthreads = nthreads;
    sh->rec_size = sizeof(struct tseg_rec);
    snprintf(sh->instance, sizeof(sh->instance), "%s", in->name);
    struct tseg_ring *rings = (struct tseg_ring *)(h + sizeof(*sh));
    for (unsigned i = 0; i < t->nrings; i++)
        rings[i] = (struct tseg_ring){t->rings[i].desc.cpu, t->rings[i].desc.kind};
    struct uk_trace_tp_meta *tps = (struct uk_trace_tp_meta *)(rings + t->nrings);
    memcpy(tps, t->tps, t->ntps * sizeof(*tps));
    struct tseg_thread *th = (struct tseg_thread *)(tps + t->ntps);
    memset(in->known, 0, sizeof(in->known));
    for (unsigned i = 0, k = 0; t->threads && i < UK_THREAD_MAX; i++)
        if (t->threads[i].tid) {
            th[k].tid = t->threads[i].tid;
            memcpy(th[k++].name, t->threads[i].name, sizeof(th->name));
            in->known[i] = t->threads[i];
        }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct ts_seg *g = fd < 0 ? NULL : seg_push(in);
    if (!g || write(fd, h, hsize) != (ssize_t)hsize) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(path);
            if (g)
                in->nsegs--;
        }
        free(h);
        return ts_err("Failed to create segment %s: %s", path, strerror(e));
    }
    g->seq = in->next_seq++;
    g->bytes = hsize;
    g->t_open = g->t_last = now;
    g->valid = true;
    g->hdr = *sh;
    in->cur_fd = fd;
    in->st.bytes += hsize;
    in->st.segments++;
    free(h);
    (void)ts;
    return 0;
}

void ts_limits(struct tracestore *ts, struct ts_inst *in, int64_t now)
{
    while (in->nsegs) {
        struct ts_seg *g = &in->segs[0];
        bool over = ts->max_bytes && in->st.bytes > ts->max_bytes;
        bool old = ts->max_age_s && now - g->t_last > ts->max_age_s * 1000;
        if (!over && !old)
            break;
        if (in->nsegs == 1 && in->cur_fd >= 0) {
            if (!old && g->events == 0)
                break;         /* only the fresh header: nothing to gain */
            close(in->cur_fd); /* the only segment is too big or too old */
            in->cur_fd = -1;
        }
        char path[4200];
        if (!ts_seg_path(in, g->seq, path, sizeof(path)) && unlink(path) && errno != ENOENT) {
            ts_err("Failed to delete %s: %s", path, strerror(errno));
            in->st.drain_errors++;
            break;
        }
        in->st.dropped_by_limit += g->events;
        in->st.bytes -= g->bytes;
        in->st.segments--;
        memmove(in->segs, in->segs + 1, (in->nsegs - 1) * sizeof(*g));
        in->nsegs--;
    }
}
