/*
 * Test/benchmark driver of the hostview BPF programs (host-collector/bpf/):
 * load and attach them, then obey lines on stdin:
 *   track PID     watch that process (as ukcollectd does for a QEMU)
 *   untrack PID
 *   stats         print "prog NAME run_cnt=N run_time_ns=N" per program,
 *                 "thread TGID TID oncpu_ns=N rq_ns=N switches=N" per
 *                 entry, then "end"
 * Prints "ready" once attached; exits at EOF.  Used by tests/bench_bpf.py.
 * With --recorder, the collector's host recorder too (hosttrace, drained
 * by a thread every 100 ms as ukcollectd does each tick): tracked
 * processes go into both filters, and stats lists its programs as well.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/htuser.h"
#include "bpf/hvuser.h"

static struct ht *ht;
static unsigned long long records;

static void on_record(void *ctx, const struct ht_event *e)
{
    records++;
}

static void *drain(void *arg)
{
    for (;;)
        ht_poll(ht, 100);
    return NULL;
}

static void on_prog(void *arg, const char *prog, uint64_t cnt, uint64_t ns)
{
    printf("prog %s run_cnt=%llu run_time_ns=%llu\n", prog, (unsigned long long)cnt,
           (unsigned long long)ns);
}

int main(int argc, char **argv)
{
    struct hv *h;
    char err[256], line[128];
    unsigned slot = 0;
    pthread_t th;

    bool rec = argc > 1 && !strcmp(argv[1], "--recorder");
    if (hv_open(&h, rec ? HV_RECORD : 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "hv_drive: %s\n", err);
        return 1;
    }
    if (rec) {
        if (ht_open(&ht, HT_LEAN, 0, on_record, NULL, err, sizeof(err)) < 0 ||
            ht_add_ring(ht, hv_events_fd(h)) < 0 || pthread_create(&th, NULL, drain, NULL)) {
            fprintf(stderr, "hv_drive: %s\n", err);
            return 1;
        }
    }
    printf("ready kvm=%d\n", hv_has_kvm(h));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        int pid;
        struct hv_snap s;
        if (sscanf(line, "track %d", &pid) == 1) {
            if (hv_track(h, pid, slot++) < 0 || (ht && ht_track(ht, pid) < 0))
                printf("error track %d\n", pid);
        } else if (sscanf(line, "untrack %d", &pid) == 1) {
            hv_untrack(h, pid);
            if (ht)
                ht_untrack(ht, pid);
        } else if (!strncmp(line, "stats", 5)) {
            hv_prog_stats(h, on_prog, NULL);
            if (ht) {
                ht_prog_stats(ht, on_prog, NULL);
                printf("recorder records=%llu lost=%llu\n", records,
                       (unsigned long long)(ht_lost(ht) + hv_events_lost(h)));
            }
            if (hv_snapshot(h, &s) == 0)
                for (size_t i = 0; i < s.nth; i++)
                    printf("thread %d %d oncpu_ns=%llu rq_ns=%llu switches=%llu\n",
                           (int)s.th[i].tgid, (int)s.th[i].tid,
                           (unsigned long long)s.th[i].t.oncpu_ns,
                           (unsigned long long)s.th[i].t.rq_ns,
                           (unsigned long long)s.th[i].t.switches);
            hv_snap_free(&s);
            puts("end");
        }
        fflush(stdout);
    }
    hv_close(h);
    return 0;
}
