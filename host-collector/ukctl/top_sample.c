/*
 * `ukctl top`: one read of one instance and the row from two reads.
 * Threads are /proc/PID/task/TID: the name says vCPU ("CPU N/KVM|TCG") or
 * main/IO side; schedstat gives run and run-queue wait ns.  Rates are
 * deltas over the time between two reads (per thread, matched by tid, so a
 * thread that exits between reads does not make a total go backwards).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/hvuser.h"
#include "common/metrics_page.h"
#include "host/metrics_read.h"
#include "top.h"

enum { SCAN_STEP = 4096 };

static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, len);
    close(fd);
    return n;
}

static size_t read_threads(pid_t pid, struct top_thread **out)
{
    char path[96], buf[128];
    struct top_thread *th = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    while (d && (e = readdir(d))) {
        struct top_thread t = {.tid = (pid_t)strtol(e->d_name, NULL, 10)};
        char accel[4];
        ssize_t k;
        if (t.tid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)t.tid);
        k = read_small(path, buf, sizeof(buf));
        uint64_t slices;
        if (k <= 0 || hv_parse_schedstat(buf, (size_t)k, &t.run_ns, &t.wait_ns, &slices) < 0)
            continue; /* gone, or schedstats not in this kernel */
        snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)t.tid);
        k = read_small(path, t.comm, sizeof(t.comm) - 1);
        t.comm[k > 0 ? k : 0] = 0;
        if (k > 0 && t.comm[k - 1] == '\n')
            t.comm[k - 1] = 0;
        t.vcpu = hv_parse_vcpu_comm(t.comm, strlen(t.comm), accel);
        if (n == cap) {
            struct top_thread *nt = realloc(th, (cap = cap ? cap * 2 : 16) * sizeof(*th));
            if (!nt)
                break;
            th = nt;
        }
        th[n++] = t;
    }
    if (d)
        closedir(d);
    *out = th;
    return n;
}

/* klog head and the metrics page, from the RAM file. */
static void read_guest(struct top_inst *t, bool *log_ok, uint64_t *head, bool *req_ok,
                       double *req, bool *heap_ok, double *heap)
{
    char path[8300], err[128];
    unsigned char *buf = NULL;

    *log_ok = *req_ok = *heap_ok = false;
    if (t->ram.fd < 0) {
        snprintf(path, sizeof(path), "%s/ram", t->run_dir);
        if (ramview_open(&t->ram, path) < 0)
            return;
    }
    if (ramview_refresh(&t->ram) < 0 || !t->ram.base)
        return;
    buf = malloc(UKM_PAGE_BYTES);
    if (!buf)
        return;
    if (RAMVIEW_GUARD()) {
        struct klog_mem m = {t->ram.base, t->ram.size};
        uint64_t addr;
        if (!t->klog_ok && klog_find(&m, &addr, err, sizeof(err)) == 0 &&
            klog_open(&t->kr, &m, addr, err, sizeof(err)) == 0)
            t->klog_ok = true;
        if (t->klog_ok) {
            t->kr.mem = m;
            *head = klog_head(&t->kr);
            *log_ok = true;
        }
        size_t first = t->metrics_off ? t->metrics_off - 1 : 0, len;
        const char *why;
        unsigned count;
        for (size_t off = first; off + sizeof(struct ukm_header) <= t->ram.size; off += SCAN_STEP) {
            if (memcmp(t->ram.base + off, UKM_MAGIC, UKM_MAGIC_LEN))
                continue;
            if (metrics_snapshot(t->ram.base, t->ram.size, off, buf, &len, &why) ||
                ukm_validate(buf, len, &count, &why))
                continue;
            t->metrics_off = off + 1;
            const struct ukm_entry *e = (const void *)(buf + sizeof(struct ukm_header));
            *req = 0;
            for (unsigned i = 0; i < count; i++) {
                if (e[i].kind != UKM_KIND_SAMPLE || !e[i].scale)
                    continue;
                double val = (double)e[i].value / e[i].scale;
                if (!strncmp(e[i].name, "ukscope_http_requests_total", UKM_NAME_MAX)) {
                    *req += val;
                    *req_ok = true;
                } else if (!strncmp(e[i].name, "ukscope_heap_in_use_bytes", UKM_NAME_MAX)) {
                    *heap = val;
                    *heap_ok = true;
                }
            }
            break;
        }
        ramview_unguard();
    } else {
        t->klog_ok = false; /* SIGBUS: the file shrank; find it again */
        t->metrics_off = 0;
    }
    free(buf);
}

static const struct top_thread *find_tid(const struct top_inst *t, pid_t tid)
{
    for (size_t i = 0; i < t->nth; i++)
        if (t->th[i].tid == tid)
            return &t->th[i];
    return NULL;
}

static void sample(struct top_inst *t, const struct hv_snap *s, int64_t now)
{
    struct top_thread *th = NULL;
    size_t nth = read_threads(t->pid, &th);
    struct top_row r = {0};
    double dt = t->have_prev ? (now - t->t_ns) / 1e9 : 0;
    uint64_t exits = 0, head = 0;
    double req = 0, heap = 0;
    bool kvm = false, log_ok, req_ok, heap_ok;

    for (size_t i = 0; i < nth; i++) {
        struct top_thread *x = &th[i];
        const struct top_thread *p = t->have_prev ? find_tid(t, x->tid) : NULL;
        kvm |= strstr(x->comm, "/KVM") != NULL;
        if (x->vcpu != HV_NOT_VCPU)
            r.nvcpu++;
        if (!p || dt <= 0)
            continue;
        x->cpu_pct = (double)(x->run_ns - p->run_ns) / 1e9 / dt * 100;
        x->steal_pct = (double)(x->wait_ns - p->wait_ns) / 1e9 / dt * 100;
        r.cpu_pct += x->cpu_pct;
        if (x->vcpu != HV_NOT_VCPU) {
            r.vcpu_cpu_pct += x->cpu_pct;
            r.steal_pct += x->steal_pct;
        } else {
            r.io_cpu_pct += x->cpu_pct;
        }
    }
    if (r.nvcpu)
        r.steal_pct /= r.nvcpu; /* like a guest's own steal%: per vCPU */
    if (s) {
        /* kvm_exit events; where the host never fires kvm_exit (kvm_pvm
         * emulates instead), returns to QEMU + emulated instructions */
        uint64_t hw = 0, other = 0;
        for (size_t i = 0; i < s->nex; i++)
            if (s->ex[i].tgid == t->pid) {
                if (s->ex[i].isa == HV_ISA_VMX || s->ex[i].isa == HV_ISA_SVM)
                    hw += s->ex[i].count;
                else
                    other += s->ex[i].count;
            }
        exits = hw ? hw : other;
        r.exits_total = exits;
        r.exits_ok = kvm && t->exits_seen && dt > 0 && exits >= t->exits;
        if (r.exits_ok)
            r.exits_per_s = (double)(exits - t->exits) / dt;
    }
    read_guest(t, &log_ok, &head, &req_ok, &req, &heap_ok, &heap);
    r.log_ok = log_ok && t->log_seen && dt > 0 && head >= t->log_head;
    if (r.log_ok)
        r.log_per_s = (double)(head - t->log_head) / dt;
    r.req_ok = req_ok && t->req_seen && dt > 0 && req >= t->req_total;
    if (r.req_ok)
        r.req_per_s = (req - t->req_total) / dt;
    r.heap_ok = heap_ok;
    r.heap_bytes = heap;

    free(t->th);
    t->th = th;
    t->nth = nth;
    t->exits = exits;
    t->exits_seen = s && kvm;
    t->log_head = head;
    t->log_seen = log_ok;
    t->req_total = req;
    t->req_seen = req_ok;
    t->t_ns = now;
    t->have_prev = true;
    t->row = r;
}

void top_sample_all(struct top_inst *v, size_t n, struct hv *hv, int64_t now_ns)
{
    struct hv_snap s;
    bool snap = hv && hv_has_kvm(hv) && hv_snapshot(hv, &s) == 0;

    for (size_t i = 0; i < n; i++)
        sample(&v[i], snap ? &s : NULL, now_ns);
    if (hv && hv_has_kvm(hv))
        hv_snap_free(&s);
}

static json_t *num_or_null(bool ok, double v)
{
    return ok ? json_real(v) : json_null();
}

json_t *top_json(const struct top_inst *v, size_t n, const char *exits_why, double interval)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        const struct top_inst *t = &v[i];
        const struct top_row *r = &t->row;
        json_t *th = json_array();
        for (size_t k = 0; k < t->nth; k++) {
            const struct top_thread *x = &t->th[k];
            json_array_append_new(
                th, json_pack("{s:i,s:s,s:o,s:f,s:f,s:f,s:f}", "tid", (int)x->tid, "comm",
                              x->comm, "vcpu", x->vcpu >= 0 ? json_integer(x->vcpu) : json_null(),
                              "cpu_seconds", x->run_ns / 1e9, "rq_wait_seconds", x->wait_ns / 1e9,
                              "cpu_pct", x->cpu_pct, "steal_pct", x->steal_pct));
        }
        bool kvm_inst = strstr(t->accel, "kvm") != NULL;
        json_array_append_new(
            a, json_pack("{s:s,s:i,s:s,s:i,s:f,s:f,s:f,s:f,s:o,s:s?,s:o,s:o,s:o,s:o}", "name",
                         t->name, "pid", (int)t->pid, "accel", t->accel, "vcpus", (int)r->nvcpu,
                         "cpu_pct", r->cpu_pct, "vcpu_cpu_pct", r->vcpu_cpu_pct, "io_cpu_pct",
                         r->io_cpu_pct, "steal_pct", r->steal_pct, "exits_per_s",
                         num_or_null(r->exits_ok, r->exits_per_s), "exits_note",
                         r->exits_ok ? NULL
                         : !kvm_inst ? "n/a: not a KVM guest (no kvm exits under TCG)"
                                     : exits_why,
                         "log_per_s", num_or_null(r->log_ok, r->log_per_s), "heap_bytes",
                         num_or_null(r->heap_ok, r->heap_bytes), "req_per_s",
                         num_or_null(r->req_ok, r->req_per_s), "threads", th));
    }
    return json_pack("{s:f,s:{s:s,s:s},s:o}", "interval_s", interval, "sources", "cpu",
                     "/proc/PID/task/TID/schedstat", "exits",
                     exits_why ? exits_why : "bpf (hostview kvm events)", "instances", a);
}

void top_inst_close(struct top_inst *t)
{
    free(t->th);
    t->th = NULL;
    if (t->ram.fd >= 0)
        ramview_close(&t->ram);
}
