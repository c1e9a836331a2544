/*
 * ukcollectd internals: the daemon's state shared by its modules.  One
 * process, one thread: main.c's epoll loop calls everything below, so no
 * locking.  Time is int64_t ms of CLOCK_MONOTONIC unless named _ns/wall.
 */
#ifndef UKCOLLECTD_CD_H
#define UKCOLLECTD_CD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "host/klog_ring.h"
#include "instance.h"
#include "lib/inst_meta.h"
#include "lib/ramview.h"
#include "logstore.h"
#include "qmp.h"
#include "trace_reader.h"

#define CD_MAX_INSTANCES 1024

enum inst_state {
    ST_STARTING, /* found, QEMU not confirmed yet / being started by us */
    ST_RUNNING,
    ST_PAUSED,
    ST_PANICKED,
    ST_EXITED,    /* QEMU gone */
    ST_CRASHLOOP, /* managed, gave up restarting */
    ST_STATE_COUNT,
};
const char *inst_state_name(enum inst_state s);

enum restart_policy { RP_NO, RP_ON_FAILURE, RP_ALWAYS };

enum qmp_phase { QP_IDLE, QP_GREETING, QP_CAPS, QP_STATUS, QP_CPUS, QP_READY };

/* Counters per read source, exported in /metrics. */
enum cd_source { SRC_KLOG, SRC_CONSOLE, SRC_RAM, SRC_QMP, SRC_METRICS, SRC_THREADS, SRC_TELEMETRY,
                 SRC_COUNT };
extern const char *const cd_source_names[SRC_COUNT];

/* Desired config of an instance the daemon starts itself (spec.json). */
struct inst_spec {
    bool managed;
    char image[1024];
    char cmdline[1024];
    unsigned mem_mib, smp;
    char accel[16];
    enum restart_policy policy;
    bool want_up;           /* false after an API stop */
    unsigned consecutive;   /* restarts since it last ran long enough */
    int64_t next_start;     /* backoff: no start before this */
    int64_t recent[8];      /* times of the last restarts (crash-loop window) */
};

enum child_kind { CHILD_NONE, CHILD_START, CHILD_STOP };

struct telem_decoder;

struct inst {
    bool used, seen;
    char name[64];
    char run_dir[4096];
    char state_dir[4200];
    struct instance_summary sum; /* valid when has_sum */
    bool has_sum;
    struct inst_meta meta;
    int64_t json_mtime_ns;
    char boot_id[37];
    char build_id[41];
    int64_t boot_wall_ns; /* wall time of QEMU's start (guest time zero, roughly) */
    enum inst_state state;
    int64_t state_since;
    int64_t run_since;   /* when it last went running (0: never) */
    int64_t last_run_ms; /* how long its last run lasted, set on exit */
    char shutdown_reason[32];

    /* QMP on qmp-collector.sock */
    int qfd;
    struct qmp q;
    enum qmp_phase qphase;
    int64_t qdeadline, qretry;

    /* Guest RAM */
    struct ramview ram;
    bool klog_ok, utr_ok;
    struct klog_reader kr;
    uint64_t klog_addr;
    int64_t klog_retry;
    struct utr tr;
    int64_t utr_retry;
    uint64_t metrics_off; /* cached metrics page offset + 1, 0 unknown */
    bool src_bad[SRC_COUNT]; /* logged once per transition */

    struct logstore ls;
    bool ls_ok;

    /* counters */
    uint64_t err[SRC_COUNT];
    uint64_t ingested[2]; /* klog, console (this daemon run) */
    uint64_t forwarded, restarts, panics;

    /* telemetry stream (telem.c): live klog lines */
    int tfd;
    struct telem_decoder *tdec;
    int64_t tretry, tcommit;
    unsigned terrors_row;
    bool tdisarmed; /* one-shot fired: re-armed by the coalescing timer */
    uint64_t klog_head_seen; /* highest ring head read this boot: bounds live seqs */

    struct inst_spec spec;
    pid_t child;
    enum child_kind child_kind;
    bool stop_requested, remove_requested;
};

struct cd {
    char root[4096];
    char state[4096];
    char token[129];
    char ukctl[4096];
    uint64_t store_max;
    int64_t restart_delay_ms; /* first restart backoff; doubles up to 60 s (supervise.c) */
    struct inst inst[CD_MAX_INSTANCES];
    int64_t tick_ms_last; /* duration of the last collection pass */
    uint64_t ticks;
    uint64_t relp_forwarded;
    struct relpfwd *relp;
    int epfd;
};
extern struct cd cd;

int64_t cd_now(void);
int64_t cd_wall_ns(void);

/* inst.c: discovery, liveness */
void inst_set_state(struct inst *in, enum inst_state s);
/* qmpmon.c: the QMP event connection */
enum { QMP_TIMEOUT_MS = 3000, QMP_RETRY_MS = 5000 };
void qmp_start(struct inst *in, int64_t now);
/* Close it; why != NULL: a counted error, logged. */
void qmp_drop(struct inst *in, const char *why);
void inst_scan(void);
void inst_tick(struct inst *in, int64_t now);
void inst_qmp_event(struct inst *in, uint32_t events);
struct inst *inst_find(const char *name);
struct inst *inst_get_by_fd(int fd);
void inst_reap_children(void);
void inst_load_specs(void);
/* API actions; 0 or -1 with a message in err. */
int inst_create(const char *name, const struct inst_spec *spec, char *err, size_t errlen);
int inst_action(struct inst *in, const char *action, bool remove, char *err, size_t errlen);

/* ingest.c: klog ring + console.log into the store */
void ingest_tick(struct inst *in, int64_t now, bool final);
void ingest_close(struct inst *in);
/* A live record (telemetry): 1 stored, 0 not (duplicate), -1 rejected. */
int ingest_live(struct inst *in, const struct klog_record *k);
/* Make what ingest_live stored durable (the tick does it too). */
void ingest_commit(struct inst *in);

/* telem.c: the telemetry stream on RUN/telemetry.sock (live klog lines) */
extern bool cd_telemetry; /* false: --no-telemetry */
void telem_start(struct inst *in, int64_t now);
/* Close it; why != NULL: a counted error, logged. */
void telem_drop(struct inst *in, const char *why);
void telem_event(struct inst *in, uint32_t events);
/* The coalescing timer (created on first call; -1 with --no-telemetry) and
 * its handler: re-arm the streams that fired since. */
int telem_timer_fd(void);
void telem_rearm(void);
/* Copy the thread table (tid, name) into a JSON array; NULL if unreadable. */
struct json_t;
struct json_t *ingest_threads_json(struct inst *in);

/*
 * apibody.c: parse the body of POST /api/v1/instances (untrusted JSON, at
 * most 64 KiB): {"name":N,"image":ABSOLUTE_PATH[,"mem_mib":M,"smp":S,
 * "cmdline":C,"accel":A,"restart":"no|on-failure|always"]}.  0, or -1
 * with the reason in err.  The name is checked later (inst_create).
 */
int api_parse_create(const char *body, size_t len, char name[64], struct inst_spec *sp,
                     char *err, size_t errlen);
int supervise_parse_policy(const char *s, enum restart_policy *p);

/* api.c / prom.c */
int api_start(const char *listen, bool allow_remote);
void api_poll(void);
void api_tick(void);
int api_fd(void);
int api_timeout_ms(int max_ms);
void api_stop(void);
char *prom_render(size_t *len);

/* tsglue.c: the trace store (no-ops when built without it) */
int tsglue_init(uint64_t max_bytes, int64_t max_age_s);
void tsglue_drain(struct inst *in, int64_t now);
void tsglue_forget(struct inst *in);
void tsglue_close(void);
struct ts_host;
int tsglue_export_host(const char *name, struct ts_host *h, const char *path, char *why,
                       size_t whylen);
int tsglue_export(const char *name, int64_t last_s, const char *format, char **body, size_t *len,
                  char *err, size_t errlen);
char *prom_sd(size_t *len);

/* crashglue.c: a crash bundle per panic, by a `ukctl crash capture --once` child */
void crashglue_on_panic(struct inst *in);
void crashglue_tick(int64_t now);
/* A capture is running for it: stop/remove/restart wait. */
bool crashglue_busy(struct inst *in);
/* hostview_glue.c: the host view (BPF, docs/host-view.md).  init never
 * fails the daemon; tick tracks in->sum.pid while alive, forget untracks. */
/* record: also emit the tracked threads' switches for htglue (HV_RECORD). */
void hvglue_init(bool record);
struct hv *hvglue_hv(void); /* NULL: the host view is off */
void hvglue_close(void);
void hvglue_tick(struct inst *in, bool alive);
void hvglue_forget(struct inst *in);
void prom_hostview(FILE *o);
/* htglue.c: the host flight recorder (BPF, docs/host-view.md "One
 * timeline").  init never fails the daemon (events 0: off); track follows
 * the instance's live QEMU pid (0: untrack, records kept); poll drains the
 * kernel's ring buffer (each tick); snapshot copies the instance's latest
 * records for a crash bundle's timeline (-1 with the reason in why). */
struct ts_host;
void htglue_init(size_t events_per_instance);
void htglue_close(void);
void htglue_poll(void);
void htglue_track(struct inst *in, pid_t pid);
int htglue_snapshot(struct inst *in, struct ts_host *out, char *why, size_t whylen);
void prom_hosttrace(FILE *o);

#endif
