/*
 * hostview loader and reader (the userspace half of hostview.bpf.c): open
 * the skeleton, attach, keep the `procs` filter map in step with the QEMU
 * pids the caller knows, and copy the maps out.  See hvuser.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hostview.skel.h"
#include "hvuser.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct hv {
    struct hostview *skel;
    bool kvm;
};

/* libbpf's own messages only with UKSCOPE_BPF_DEBUG=1: the caller reports
 * a failure in one line of its own. */
static int lbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
    static int debug = -1;
    if (debug < 0) {
        const char *e = getenv("UKSCOPE_BPF_DEBUG");
        debug = e && *e == '1';
    }
    return debug ? vfprintf(stderr, fmt, ap) : 0;
}

int hv_missing_caps(char *buf, size_t len)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    static const struct {
        int cap;
        const char *name;
    } need[] = {{CAP_BPF, "CAP_BPF"}, {CAP_PERFMON, "CAP_PERFMON"}};
    int missing = 0;
    size_t o = 0;

    if (len)
        buf[0] = 0;
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &hdr, d) < 0)
        memset(d, 0, sizeof(d)); /* unknown: report all as missing */
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        int c = need[i].cap;
        bool has = d[c / 32].effective & (1u << (c % 32));
        /* kernels before 5.8 have neither: CAP_SYS_ADMIN covers both */
        if (!has && !(d[0].effective & (1u << CAP_SYS_ADMIN))) {
            if (o < len)
                o += (size_t)snprintf(buf + o, len - o, "%s%s", missing ? ", " : "",
                                      need[i].name);
            missing++;
        }
    }
    return missing;
}

/* Whether the kvm trace event NAME exists, mounting tracefs at its usual
 * place if nobody has (libbpf resolves a tracepoint's id there).  Not
 * finding it is normal: no KVM in this kernel, or the module not loaded. */
bool hv_kvm_event(const char *name)
{
    static const char *const dirs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
    static bool mounted;
    char p[160];

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 2; i++) {
            snprintf(p, sizeof(p), "%s/events/kvm/%s/id", dirs[i], name);
            if (!access(p, R_OK))
                return true;
        }
        if (pass || mounted || !access("/sys/kernel/tracing/events", F_OK))
            return false;
        mounted = true;
        if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) < 0)
            return false;
    }
    return false;
}

int hv_open(struct hv **out, unsigned flags, char *err, size_t errlen)
{
    struct hv *h = calloc(1, sizeof(*h));
    char caps[64];
    int rc;

    *out = NULL;
    libbpf_set_print(lbpf_print);
    if (!h) {
        snprintf(err, errlen, "Failed to allocate: %s", strerror(errno));
        return -1;
    }
    if (hv_missing_caps(caps, sizeof(caps))) {
        snprintf(err, errlen, "Failed to load the BPF programs: missing %s (run as root or "
                 "grant them)", caps);
        goto fail;
    }
    /* Twice at most: if the kvm programs are what fails to load (another
     * kernel's kvm events), the scheduler view still comes up without them. */
    for (int kvm_allowed = 1; kvm_allowed >= 0; kvm_allowed--) {
        h->skel = hostview__open();
        if (!h->skel) {
            snprintf(err, errlen, "Failed to open the BPF object: %s", strerror(errno));
            goto fail;
        }
        /* each kvm program only where its event exists (kvm_pvm, for one,
         * has kvm_exit but never fires it; it emulates instead) */
        const struct {
            const char *event;
            struct bpf_program *prog;
        } kv[] = {{"kvm_exit", h->skel->progs.hv_kvm_exit},
                  {"kvm_entry", h->skel->progs.hv_kvm_entry},
                  {"kvm_userspace_exit", h->skel->progs.hv_kvm_uexit},
                  {"kvm_emulate_insn", h->skel->progs.hv_kvm_emul},
                  {"kvm_vcpu_wakeup", h->skel->progs.hv_kvm_wakeup}};
        h->skel->rodata->hv_record = flags & HV_RECORD;
        /* a page when not recording: the map exists either way */
        bpf_map__set_max_entries(h->skel->maps.ht_events,
                                 flags & HV_RECORD ? HV_RECORD_RING_BYTES : 4096);
        h->kvm = false;
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
            bool on = kvm_allowed && hv_kvm_event(kv[i].event);
            h->kvm |= on;
            bpf_program__set_autoload(kv[i].prog, on);
        }
        rc = hostview__load(h->skel);
        if (!rc && !(rc = hostview__attach(h->skel)))
            break;
        snprintf(err, errlen, "Failed to %s the BPF programs: %s%s",
                 bpf_program__fd(h->skel->progs.hv_switch) < 0 ? "load" : "attach",
                 strerror(-rc),
                 rc == -EPERM ? " (a capability is missing, or lockdown/unprivileged_bpf)" : "");
        hostview__destroy(h->skel);
        h->skel = NULL;
        if (!h->kvm)
            goto fail;
    }
    *out = h;
    return 0;
fail:
    hv_close(h);
    return -1;
}

int hv_events_fd(const struct hv *h)
{
    return h ? bpf_map__fd(h->skel->maps.ht_events) : -1;
}

uint64_t hv_percpu_sum0(int map_fd)
{
    uint32_t k = 0;
    int ncpu = libbpf_num_possible_cpus();
    uint64_t sum = 0;
    if (map_fd < 0 || ncpu <= 0)
        return 0;
    uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
    if (v && !bpf_map_lookup_elem(map_fd, &k, v))
        for (int i = 0; i < ncpu; i++)
            sum += v[i];
    free(v);
    return sum;
}

uint64_t hv_events_lost(const struct hv *h)
{
    return h ? hv_percpu_sum0(bpf_map__fd(h->skel->maps.ht_lost)) : 0;
}

void hv_close(struct hv *h)
{
    if (!h)
        return;
    hostview__destroy(h->skel);
    free(h);
}

bool hv_has_kvm(const struct hv *h)
{
    return h && h->kvm;
}

/* Entries for the threads that exist now: one already on a CPU (state R)
 * gets on_since = now, so a vCPU thread that keeps its CPU without ever
 * switching is not missed (the programs only see it at its next switch).
 * A thread that is R but waiting on a run queue is switched *in* next,
 * which resets on_since: the seed can only credit time that was on-CPU. */
static void seed_threads(struct hv *h, pid_t tgid)
{
    int tfd = bpf_map__fd(h->skel->maps.threads);
    char path[64], buf[512];
    struct timespec ts;
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)tgid);
    if (!(d = opendir(path)))
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    while ((e = readdir(d))) {
        struct hv_thread t = {.tgid = (__u32)tgid};
        __u32 tid = (__u32)strtoul(e->d_name, NULL, 10);
        ssize_t n;
        int fd;
        if (!tid)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%u/stat", (int)tgid, tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n > 0 && hv_parse_stat_state(buf, (size_t)n) == 'R')
            t.on_since = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        /* its run time so far is the base the programs count from */
        snprintf(path, sizeof(path), "/proc/%d/task/%u/schedstat", (int)tgid, tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            uint64_t run, wait, slices;
            n = read(fd, buf, sizeof(buf));
            close(fd);
            if (n > 0 && hv_parse_schedstat(buf, (size_t)n, &run, &wait, &slices) == 0) {
                t.exec_base = run;
                t.based = 1;
            }
        }
        bpf_map_update_elem(tfd, &tid, &t, BPF_NOEXIST); /* the programs may have been first */
    }
    closedir(d);
}

int hv_filter_set(int map_fd, unsigned words, pid_t tgid, bool on)
{
    __u32 w = (__u32)tgid >> 6;
    __u64 bits = 0;

    if (tgid <= 0 || w >= words) {
        errno = ERANGE;
        return -1;
    }
    if (bpf_map_lookup_elem(map_fd, &w, &bits) < 0)
        return -1;
    if (on)
        bits |= 1ULL << (tgid & 63);
    else
        bits &= ~(1ULL << (tgid & 63));
    return bpf_map_update_elem(map_fd, &w, &bits, BPF_ANY);
}

static int filter_set(struct hv *h, pid_t tgid, bool on)
{
    return hv_filter_set(bpf_map__fd(h->skel->maps.filter), HV_FILTER_WORDS, tgid, on);
}

int hv_track(struct hv *h, pid_t tgid, unsigned slot)
{
    __u32 k = (__u32)tgid;
    struct hv_proc v = {.slot = slot};

    if (tgid <= 0 || ((__u32)tgid >> 6) >= HV_FILTER_WORDS) {
        errno = ERANGE;
        return -1;
    }

    /* BPF_NOEXIST: a pid already tracked keeps its gone_* sums */
    if (bpf_map_update_elem(bpf_map__fd(h->skel->maps.procs), &k, &v, BPF_NOEXIST) < 0) {
        if (errno == EEXIST)
            return 0;
        return -1;
    }
    if (filter_set(h, tgid, true) < 0) {
        bpf_map_delete_elem(bpf_map__fd(h->skel->maps.procs), &k);
        return -1;
    }
    seed_threads(h, tgid);
    return 0;
}

int hv_untrack(struct hv *h, pid_t tgid)
{
    int pfd = bpf_map__fd(h->skel->maps.procs), tfd = bpf_map__fd(h->skel->maps.threads),
        efd = bpf_map__fd(h->skel->maps.exits);
    __u32 k = (__u32)tgid, tid, next;
    struct hv_exit_key ek, enext;
    struct hv_thread t;
    void *prev;

    /* First stop new entries, then sweep what is left.  Deleting the key
     * just returned by get_next_key is safe: the walk restarts from the
     * previous key (NULL: the start). */
    if (tgid > 0 && ((__u32)tgid >> 6) < HV_FILTER_WORDS)
        filter_set(h, tgid, false);
    if (bpf_map_delete_elem(pfd, &k) < 0 && errno != ENOENT)
        return -1;
    for (prev = NULL; !bpf_map_get_next_key(tfd, prev, &next); ) {
        if (!bpf_map_lookup_elem(tfd, &next, &t) && t.tgid == k) {
            bpf_map_delete_elem(tfd, &next);
            continue; /* same prev: its successor is now the next one */
        }
        tid = next;
        prev = &tid;
    }
    for (prev = NULL; !bpf_map_get_next_key(efd, prev, &enext); ) {
        if (enext.tgid == k) {
            bpf_map_delete_elem(efd, &enext);
            continue;
        }
        ek = enext;
        prev = &ek;
    }
    return 0;
}

static int cmp_th(const void *a, const void *b)
{
    const struct hv_thread_view *x = a, *y = b;
    if (x->tgid != y->tgid)
        return x->tgid < y->tgid ? -1 : 1;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

static int cmp_ex(const void *a, const void *b)
{
    const struct hv_exit_view *x = a, *y = b;
    if (x->tgid != y->tgid)
        return x->tgid < y->tgid ? -1 : 1;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    return (x->reason > y->reason) - (x->reason < y->reason);
}

/* vCPU index from /proc/TGID/task/TID/comm (QEMU names its vCPU threads). */
static void classify(struct hv_thread_view *v)
{
    char p[64], accel[4];
    int fd;
    ssize_t n;

    snprintf(p, sizeof(p), "/proc/%d/task/%d/comm", (int)v->tgid, (int)v->tid);
    v->vcpu = HV_NOT_VCPU;
    v->comm[0] = 0;
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, v->comm, sizeof(v->comm) - 1);
    close(fd);
    if (n <= 0)
        return;
    v->comm[n] = 0;
    if (v->comm[n - 1] == '\n')
        v->comm[--n] = 0;
    v->vcpu = hv_parse_vcpu_comm(v->comm, (size_t)n, accel);
}

int hv_snapshot(struct hv *h, struct hv_snap *s)
{
    int tfd = bpf_map__fd(h->skel->maps.threads), efd = bpf_map__fd(h->skel->maps.exits),
        sfd = bpf_map__fd(h->skel->maps.stats);
    int ncpu = libbpf_num_possible_cpus();
    struct timespec ts;
    __u32 tid, tidprev, *prev = NULL;
    struct hv_exit_key ek, ekprev, *eprev = NULL;

    memset(s, 0, sizeof(*s));
    s->th = calloc(HV_MAX_THREADS, sizeof(*s->th));
    s->ex = calloc(HV_MAX_EXIT_KEYS, sizeof(*s->ex));
    if (!s->th || !s->ex || ncpu <= 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    while (s->nth < HV_MAX_THREADS && !bpf_map_get_next_key(tfd, prev, &tid)) {
        struct hv_thread_view *v = &s->th[s->nth];
        memset(v, 0, sizeof(*v));
        tidprev = tid;
        prev = &tidprev;
        v->tid = (pid_t)tid;
        if (bpf_map_lookup_elem(tfd, &tid, &v->t))
            continue; /* deleted meanwhile: walk on from it anyway */
        v->tgid = (pid_t)v->t.tgid;
        /* the slice in progress counts up to now */
        if (v->t.on_since && v->t.on_since < s->now_ns)
            v->oncpu_open_ns = s->now_ns - v->t.on_since;
        s->nth++;
    }
    for (size_t i = 0; i < s->nth; i++)
        classify(&s->th[i]);
    while (s->nex < HV_MAX_EXIT_KEYS && !bpf_map_get_next_key(efd, eprev, &ek)) {
        struct hv_exit_view *v = &s->ex[s->nex];
        __u64 n;
        ekprev = ek;
        eprev = &ekprev;
        if (bpf_map_lookup_elem(efd, &ek, &n))
            continue;
        *v = (struct hv_exit_view){.tgid = (pid_t)ek.tgid, .tid = (pid_t)ek.tid,
                                   .reason = ek.reason, .isa = ek.isa, .count = n};
        s->nex++;
    }
    qsort(s->th, s->nth, sizeof(*s->th), cmp_th);
    qsort(s->ex, s->nex, sizeof(*s->ex), cmp_ex);
    for (__u32 k = 0; k < HV_STAT_COUNT; k++) {
        __u64 per[ncpu];
        if (!bpf_map_lookup_elem(sfd, &k, per))
            for (int c = 0; c < ncpu; c++)
                s->stat[k] += per[c];
    }
    return 0;
}

void hv_snap_free(struct hv_snap *s)
{
    free(s->th);
    free(s->ex);
    memset(s, 0, sizeof(*s));
}

int hv_proc_get(struct hv *h, pid_t tgid, struct hv_proc *out)
{
    __u32 k = (__u32)tgid;
    return bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.procs), &k, out) ? -1 : 0;
}

size_t hv_snap_threads(const struct hv_snap *s, pid_t tgid, size_t *first)
{
    size_t lo = 0, hi = s->nth, end;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->th[mid].tgid < tgid)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (end = lo; end < s->nth && s->th[end].tgid == tgid; end++)
        ;
    *first = lo;
    return end - lo;
}

void hv_obj_progs(struct bpf_object *obj,
                  void (*fn)(void *arg, const char *prog, const struct bpf_prog_info *info),
                  void *arg)
{
    struct bpf_program *p;

    bpf_object__for_each_program(p, obj) {
        struct bpf_prog_info info;
        __u32 len = sizeof(info);
        int fd = bpf_program__fd(p);
        memset(&info, 0, sizeof(info));
        if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
            continue;
        fn(arg, bpf_program__name(p), &info);
    }
}

struct stats_cb {
    void (*fn)(void *arg, const char *prog, uint64_t run_cnt, uint64_t run_time_ns);
    void *arg;
};

static void stats_one(void *arg, const char *prog, const struct bpf_prog_info *info)
{
    struct stats_cb *c = arg;
    c->fn(c->arg, prog, info->run_cnt, info->run_time_ns);
}

void hv_obj_prog_stats(struct bpf_object *obj,
                       void (*fn)(void *arg, const char *prog, uint64_t run_cnt,
                                  uint64_t run_time_ns),
                       void *arg)
{
    struct stats_cb c = {fn, arg};
    hv_obj_progs(obj, stats_one, &c);
}

void hv_prog_stats(struct hv *h, void (*fn)(void *arg, const char *prog, uint64_t run_cnt,
                                            uint64_t run_time_ns),
                   void *arg)
{
    hv_obj_prog_stats(h->skel->obj, fn, arg);
}
