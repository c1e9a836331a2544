/*
 * hostview, userspace side: load the BPF programs, say which QEMU processes
 * to watch, read the counters back.  Used by ukcollectd (collectd/
 * hostview_glue.c) and `ukctl top`.  docs/host-view.md explains every field.
 */
#ifndef UKSCOPE_HVUSER_H
#define UKSCOPE_HVUSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hostview.h"

struct hv;

/*
 * Load, verify and attach the programs.  0 and *out set, or -1 with a
 * one-line reason in err: when the process lacks what BPF needs, the reason
 * names the missing capabilities ("missing CAP_BPF, CAP_PERFMON").  The kvm
 * programs are attached only when the host has kvm trace events
 * (hv_has_kvm); their absence is not an error.
 */
enum hv_flags {
    /* Also emit each tracked thread's switches as host records (hosttrace.h)
     * into a ring buffer (hv_events_fd): the collector's host recorder. */
    HV_RECORD = 1,
};
/* The ring buffer's size with HV_RECORD: read once a collector tick. */
#define HV_RECORD_RING_BYTES (16u << 20)
int hv_open(struct hv **out, unsigned flags, char *err, size_t errlen);
/* The host-record ring buffer's map fd (ring_buffer__add), and the records
 * it could not take (full). */
int hv_events_fd(const struct hv *h);
uint64_t hv_events_lost(const struct hv *h);
/* Set or clear tgid's bit in a `filter` bitmap map of `words` u64 words
 * (one bit per tgid; only this process writes it, the programs only read):
 * hostview's and hosttrace's.  0, or -1 (errno ERANGE for a tgid out of
 * range). */
int hv_filter_set(int map_fd, unsigned words, pid_t tgid, bool on);
/* Sum of the per-CPU u64 values at index 0 of a per-CPU array map (0 when
 * it cannot be read). */
uint64_t hv_percpu_sum0(int map_fd);
void hv_close(struct hv *h);
bool hv_has_kvm(const struct hv *h);

/*
 * The capabilities this process lacks for hv_open, as "CAP_BPF, CAP_PERFMON"
 * into buf ("" when none is missing).  Returns the number missing.
 */
int hv_missing_caps(char *buf, size_t len);

/* Whether the trace event kvm/NAME exists (mounts tracefs at
 * /sys/kernel/tracing if nothing is mounted and it may). */
bool hv_kvm_event(const char *name);

/* Start/stop watching a process (a QEMU pid).  hv_untrack also deletes
 * every thread and exit entry of that process.  0 or -1 (errno set). */
int hv_track(struct hv *h, pid_t tgid, unsigned slot);
int hv_untrack(struct hv *h, pid_t tgid);

/* One thread as read now.  t holds the counters as the programs left them
 * (completed slices and waits); the slice running at the moment of the
 * read is in oncpu_open_ns: on-CPU total = t.oncpu_ns + oncpu_open_ns.  A
 * wait in progress is counted when it ends, as in schedstat. */
struct hv_thread_view {
    pid_t tgid, tid;
    int vcpu;            /* vCPU index from the thread name, HV_NOT_VCPU for main/IO */
    char comm[16];
    struct hv_thread t;
    uint64_t oncpu_open_ns;
};
enum { HV_NOT_VCPU = -1, HV_ALL_VCPUS = -2 /* single-threaded TCG: "ALL CPUs/TCG" */ };

struct hv_exit_view {
    pid_t tgid, tid;
    unsigned reason, isa;
    uint64_t count;
};

/* Everything in the maps at one moment, sorted by (tgid, tid). */
struct hv_snap {
    struct hv_thread_view *th;
    size_t nth;
    struct hv_exit_view *ex;
    size_t nex;
    uint64_t stat[HV_STAT_COUNT];
    uint64_t now_ns; /* CLOCK_MONOTONIC of the read */
};
/* 0 or -1; free with hv_snap_free even after a failure. */
int hv_snapshot(struct hv *h, struct hv_snap *s);
void hv_snap_free(struct hv_snap *s);
/* The proc entry (gone_* sums) of a tracked process; 0 or -1. */
int hv_proc_get(struct hv *h, pid_t tgid, struct hv_proc *out);
/* Index range [*first, *first + return) of tgid's threads in s->th. */
size_t hv_snap_threads(const struct hv_snap *s, pid_t tgid, size_t *first);

/*
 * BPF statistics of each attached program (run count and total run time in
 * ns; non-zero only while the sysctl kernel.bpf_stats_enabled is 1): fn is
 * called once per program.  For the benchmark (tests/bench_bpf.py).
 */
void hv_prog_stats(struct hv *h, void (*fn)(void *arg, const char *prog, uint64_t run_cnt,
                                            uint64_t run_time_ns),
                   void *arg);
struct bpf_object;
struct bpf_prog_info;
/* hv_prog_stats for any BPF object. */
void hv_obj_prog_stats(struct bpf_object *obj,
                       void (*fn)(void *arg, const char *prog, uint64_t run_cnt,
                                  uint64_t run_time_ns),
                       void *arg);
/* fn for each loaded program of a BPF object, with its kernel info (run
 * count and time, recursion misses); shared with the hosttrace loader. */
void hv_obj_progs(struct bpf_object *obj,
                  void (*fn)(void *arg, const char *prog, const struct bpf_prog_info *info),
                  void *arg);

/* Name of a kvm_exit reason ("HLT", "IO_INSTRUCTION", "npf"...); NULL if
 * unknown.  isa: 1 VMX, 2 SVM, as in the kvm_exit event. */
const char *hv_exit_name(unsigned isa, unsigned reason);

/* ---- parsers (hvparse.c; no libbpf, unit-tested and fuzzed) ---- */

/*
 * A QEMU thread name: "CPU 3/KVM" or "CPU 3/TCG" gives 3 and the
 * accelerator ("KVM"/"TCG" into accel, 4 bytes); "ALL CPUs/TCG" gives
 * HV_ALL_VCPUS; anything else HV_NOT_VCPU.  comm need not be terminated
 * (len bytes, a trailing newline allowed).
 */
int hv_parse_vcpu_comm(const char *comm, size_t len, char accel[4]);

/*
 * /proc/PID/task/TID/schedstat: "RUN_NS WAIT_NS TIMESLICES\n".  0 with the
 * three numbers, or -1 when the text is not exactly that.
 */
int hv_parse_schedstat(const char *buf, size_t len, uint64_t *run_ns, uint64_t *wait_ns,
                       uint64_t *slices);

/*
 * The state letter of /proc/PID/task/TID/stat ("TID (COMM) S ..."; COMM may
 * hold spaces and parentheses, so the last ')' ends it), or 0 if malformed.
 */
char hv_parse_stat_state(const char *buf, size_t len);

/* Upper bound in seconds of histogram bucket b (+inf for the last). */
double hv_bucket_le(unsigned b);

#endif
