/*
 * hosttrace loader: the libbpf skeleton of hosttrace.bpf.c, a ring buffer
 * drained into a callback or a growing array (see htuser.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hosttrace.skel.h"
#include "htuser.h"
#include "hvuser.h"

/* The per-process uprobes (HT_LEAN): libc's writev() in one QEMU, entry
 * and return. */
struct ht_ulink {
    pid_t pid;
    struct bpf_link *link, *ret;
};

struct ht {
    struct hosttrace *skel;
    struct ring_buffer *rb;
    unsigned flags;
    struct ht_ulink *ul;
    size_t nul;
    ht_event_fn fn;
    void *ctx;
    struct ht_event *ev;
    size_t n, cap;
    bool kvm, oom;
};

static int on_event(void *ctx, void *data, size_t len)
{
    struct ht *h = ctx;
    if (len < sizeof(struct ht_event))
        return 0;
    if (h->fn) {
        struct ht_event e;
        memcpy(&e, data, sizeof(e));
        h->fn(h->ctx, &e);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 65536;
        struct ht_event *p = realloc(h->ev, cap * sizeof(*p));
        if (!p) {
            h->oom = true;
            return -ENOMEM;
        }
        h->ev = p;
        h->cap = cap;
    }
    memcpy(&h->ev[h->n++], data, sizeof(struct ht_event));
    return 0;
}

int ht_open(struct ht **out, unsigned flags, size_t ring_bytes, ht_event_fn fn, void *ctx,
            char *err, size_t errlen)
{
    struct ht *h = calloc(1, sizeof(*h));
    char caps[64];
    int rc;

    *out = NULL;
    if (!h) {
        snprintf(err, errlen, "Failed to allocate: %s", strerror(errno));
        return -1;
    }
    h->fn = fn;
    h->ctx = ctx;
    if (hv_missing_caps(caps, sizeof(caps))) {
        snprintf(err, errlen, "Failed to load the host trace programs: missing %s (run as "
                 "root or grant them)", caps);
        goto fail;
    }
    h->skel = hosttrace__open();
    if (!h->skel) {
        snprintf(err, errlen, "Failed to open the BPF object: %s", strerror(errno));
        goto fail;
    }
    rc = bpf_map__set_max_entries(h->skel->maps.ht_events,
                                  ring_bytes ? (uint32_t)ring_bytes : HT_RINGBUF_BYTES);
    if (rc) {
        snprintf(err, errlen, "Failed to size the BPF ring buffer (%zu bytes): %s", ring_bytes,
                 strerror(-rc));
        goto fail;
    }
    /* Lean (the collector's continuous recorder): what a crash timeline
     * needs, at the least cost to the host's other processes, which each
     * attached program's filter check taxes per event: no switches (the
     * host view's program records them, HV_RECORD), no wakeups, and no
     * syscall tracepoint (attached, one sends every syscall on the host down
     * the slow path): the sync bytes of a detached guest's console (a file
     * chardev, written with writev) come from a uprobe on libc's writev()
     * in each tracked QEMU (ht_track). */
    bool lean = flags & HT_LEAN;
    h->flags = flags;
    bpf_program__set_autoload(h->skel->progs.ht_switch, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_wakeup, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_write, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_write_ret, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_writev, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_writev_ret, !lean);
    bpf_program__set_autoload(h->skel->progs.ht_uwritev, lean); /* attached per process */
    bpf_program__set_autoload(h->skel->progs.ht_uwritev_ret, lean);
    bool ex = hv_kvm_event("kvm_exit"), ux = hv_kvm_event("kvm_userspace_exit");
    bpf_program__set_autoload(h->skel->progs.ht_kvm_exit, ex);
    bpf_program__set_autoload(h->skel->progs.ht_kvm_uexit, ux);
    h->kvm = ex || ux;
    rc = hosttrace__load(h->skel);
    if (!rc)
        rc = hosttrace__attach(h->skel);
    if (rc) {
        snprintf(err, errlen, "Failed to load or attach the host trace programs: %s",
                 strerror(-rc));
        goto fail;
    }
    h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.ht_events), on_event, h, NULL);
    if (!h->rb) {
        snprintf(err, errlen, "Failed to open the BPF ring buffer: %s", strerror(errno));
        goto fail;
    }
    *out = h;
    return 0;
fail:
    ht_close(h);
    return -1;
}

static int filter_set(struct ht *h, pid_t tgid, bool on)
{
    return hv_filter_set(bpf_map__fd(h->skel->maps.filter), HT_FILTER_WORDS, tgid, on);
}

/* HT_LEAN: the writev() uprobe in process tgid's libc. */
static int uprobe_attach(struct ht *h, pid_t tgid)
{
    LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = "writev");
    struct ht_ulink *n = realloc(h->ul, (h->nul + 1) * sizeof(*n));
    if (!n)
        return -1;
    h->ul = n;
    struct bpf_link *l =
        bpf_program__attach_uprobe_opts(h->skel->progs.ht_uwritev, tgid, "libc.so.6", 0, &o);
    if (!l)
        return -1; /* errno set by libbpf */
    o.retprobe = true;
    struct bpf_link *r =
        bpf_program__attach_uprobe_opts(h->skel->progs.ht_uwritev_ret, tgid, "libc.so.6", 0, &o);
    if (!r) {
        int e = errno;
        bpf_link__destroy(l);
        errno = e;
        return -1;
    }
    h->ul[h->nul++] = (struct ht_ulink){tgid, l, r};
    return 0;
}

static void uprobe_detach(struct ht *h, pid_t tgid)
{
    for (size_t i = 0; i < h->nul; i++)
        if (h->ul[i].pid == tgid) {
            bpf_link__destroy(h->ul[i].link);
            bpf_link__destroy(h->ul[i].ret);
            h->ul[i] = h->ul[--h->nul];
            return;
        }
}

int ht_track(struct ht *h, pid_t tgid)
{
    if (filter_set(h, tgid, true) < 0)
        return -1;
    if ((h->flags & HT_LEAN) && uprobe_attach(h, tgid) < 0) {
        int e = errno;
        filter_set(h, tgid, false);
        errno = e;
        return -1;
    }
    return 0;
}

int ht_untrack(struct ht *h, pid_t tgid)
{
    uprobe_detach(h, tgid);
    return filter_set(h, tgid, false);
}

int ht_poll(struct ht *h, int timeout_ms)
{
    /* The programs submit without wakeups: poll only sleeps, consume reads. */
    int rc = ring_buffer__poll(h->rb, timeout_ms);
    if (rc >= 0 || rc == -EINTR)
        rc = ring_buffer__consume(h->rb);
    return rc < 0 && rc != -EINTR ? -1 : 0;
}

const struct ht_event *ht_events(const struct ht *h, size_t *n)
{
    *n = h->n;
    return h->ev;
}

uint64_t ht_lost(const struct ht *h)
{
    return hv_percpu_sum0(bpf_map__fd(h->skel->maps.ht_lost));
}

int ht_add_ring(struct ht *h, int map_fd)
{
    int rc = ring_buffer__add(h->rb, map_fd, on_event, h);
    if (rc < 0)
        errno = -rc;
    return rc < 0 ? -1 : 0;
}

static void add_misses(void *arg, const char *prog, const struct bpf_prog_info *info)
{
    *(uint64_t *)arg += info->recursion_misses;
}

uint64_t ht_prog_misses(const struct ht *h)
{
    uint64_t sum = 0;
    hv_obj_progs(h->skel->obj, add_misses, &sum);
    return sum;
}

void ht_prog_stats(const struct ht *h,
                   void (*fn)(void *arg, const char *prog, uint64_t run_cnt, uint64_t run_time_ns),
                   void *arg)
{
    hv_obj_prog_stats(h->skel->obj, fn, arg);
}

bool ht_has_kvm(const struct ht *h)
{
    return h && h->kvm;
}

void ht_close(struct ht *h)
{
    if (!h)
        return;
    ring_buffer__free(h->rb);
    for (size_t i = 0; i < h->nul; i++) {
        bpf_link__destroy(h->ul[i].link);
        bpf_link__destroy(h->ul[i].ret);
    }
    free(h->ul);
    hosttrace__destroy(h->skel);
    free(h->ev);
    free(h);
}
