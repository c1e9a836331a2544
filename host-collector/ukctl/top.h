/*
 * `ukctl top` internals: one instance's reads and the row computed from
 * two of them (top_sample.c), the table and the command (top.c).
 */
#ifndef UKCTL_TOP_H
#define UKCTL_TOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/klog_ring.h"
#include "instance.h"
#include "lib/ramview.h"

struct hv;

/* One thread at one read (its schedstat and name). */
struct top_thread {
    pid_t tid;
    int vcpu; /* HV_NOT_VCPU for the main/IO side */
    char comm[16];
    uint64_t run_ns, wait_ns;        /* cumulative, from schedstat */
    double cpu_pct, steal_pct;       /* over the last interval */
};

/* What is shown for an instance; *_ok false: unknown (shown "-", JSON null). */
struct top_row {
    unsigned nvcpu;
    double cpu_pct, vcpu_cpu_pct, io_cpu_pct, steal_pct;
    double exits_per_s, log_per_s, req_per_s, heap_bytes;
    bool exits_ok, log_ok, req_ok, heap_ok;
    uint64_t exits_total;
};

struct top_inst {
    char name[256], run_dir[8192], accel[16];
    pid_t pid;
    /* the last read */
    int64_t t_ns;
    struct top_thread *th;
    size_t nth;
    uint64_t exits, log_head;
    double req_total;
    bool have_prev, exits_seen, log_seen, req_seen;
    struct top_row row;
    /* guest RAM */
    struct ramview ram;
    bool klog_ok;
    struct klog_reader kr;
    uint64_t metrics_off; /* + 1; 0 unknown */
};

/* Read every instance now (schedstat, BPF exits when hv != NULL, RAM) and
 * compute each row against its previous read. */
void top_sample_all(struct top_inst *v, size_t n, struct hv *hv, int64_t now_ns);
/* The --json object; exits_why: why exits are null (NULL when BPF is on). */
json_t *top_json(const struct top_inst *v, size_t n, const char *exits_why, double interval);
void top_inst_close(struct top_inst *t);

int top_main(int argc, char **argv);

#endif
