/*
 * The host's view of each instance's vCPUs: on-CPU time and run-queue wait
 * (steal: what KVM itself reports to guests as steal time) of every vCPU
 * thread, from /proc/QEMU_PID/task/TID/schedstat (fields 1 and 2, ns).
 *
 * The vCPU thread ids come from QMP `query-cpus-fast` on the collector's
 * own monitor (qmpmon.c asks once per QMP connection, after query-status);
 * QEMU's threads are not named without debug-threads=on.  Kept beside
 * struct inst (indexed like cd.inst) so the shared struct stays as it is.
 *
 * Exported on /metrics as ukcollectd_vcpu_run_seconds_total and
 * ukcollectd_vcpu_steal_seconds_total {instance, vcpu}; history.c samples
 * the same counters every tick for the console's charts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cd.h"
#include "dash.h"
#include "dashparse.h"
#include "bpf/hvuser.h"

struct hostcpu {
    pid_t pid; /* QEMU these tids belong to; 0: none known */
    unsigned n;
    int tid[DASH_MAX_VCPU];
    uint64_t run_ns[DASH_MAX_VCPU], wait_ns[DASH_MAX_VCPU];
};

static struct hostcpu hc[CD_MAX_INSTANCES];

static struct hostcpu *of(const struct inst *in)
{
    return &hc[in - cd.inst];
}

void hostcpu_set_threads(struct inst *in, json_t *ret)
{
    struct hostcpu *h = of(in);

    memset(h, 0, sizeof(*h));
    if (!in->has_sum)
        return;
    h->pid = in->sum.pid;
    h->n = dash_vcpu_tids(ret, h->tid, DASH_MAX_VCPU);
}

/* "RUN_NS WAIT_NS SLICES\n"; 0 or -1. */
static int read_schedstat(pid_t pid, int tid, uint64_t *run, uint64_t *wait)
{
    char path[64], buf[128];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    uint64_t slices;
    return hv_parse_schedstat(buf, (size_t)n, run, wait, &slices);
}

unsigned hostcpu_sample(struct inst *in, uint64_t *run_ns, uint64_t *wait_ns)
{
    struct hostcpu *h = of(in);

    if (!h->pid || !in->has_sum || h->pid != in->sum.pid || in->state == ST_EXITED)
        return 0;
    for (unsigned v = 0; v < h->n; v++)
        if (h->tid[v])
            read_schedstat(h->pid, h->tid[v], &h->run_ns[v], &h->wait_ns[v]);
    memcpy(run_ns, h->run_ns, h->n * sizeof(*run_ns));
    memcpy(wait_ns, h->wait_ns, h->n * sizeof(*wait_ns));
    return h->n;
}

void prom_hostcpu(FILE *o)
{
    static const char *const names[2] = {"ukcollectd_vcpu_run_seconds_total",
                                         "ukcollectd_vcpu_steal_seconds_total"};
    static const char *const helps[2] = {
        "Host CPU time of each vCPU thread (schedstat).",
        "Time each vCPU thread waited on a host run queue (schedstat): steal."};

    for (unsigned k = 0; k < 2; k++) {
        fprintf(o, "# HELP %s %s\n# TYPE %s counter\n", names[k], helps[k], names[k]);
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
            struct inst *in = &cd.inst[i];
            uint64_t run[DASH_MAX_VCPU], wait[DASH_MAX_VCPU];
            /* read /proc once per scrape: the second family uses what the first read */
            unsigned n = !in->used ? 0 : k ? hc[i].n : hostcpu_sample(in, run, wait);
            if (k && n && !(hc[i].pid && in->has_sum && hc[i].pid == in->sum.pid &&
                           in->state != ST_EXITED))
                n = 0;
            for (unsigned v = 0; v < n; v++)
                fprintf(o, "%s{instance=\"%s\",vcpu=\"%u\"} %.9f\n", names[k], in->name, v,
                        (double)(k ? hc[i].wait_ns[v] : run[v]) / 1e9);
        }
    }
}
