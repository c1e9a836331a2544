/*
 * Trace converters.  The driver (trace_cmd.c) drains the rings in passes;
 * each pass's events (in ring order, grouped by ring) go to `pass`, then
 * `finish` once at the end (or `abort`).  Losses are reported per ring as the
 * delta since the previous pass (utr_ring_lost()).  All return 0 or -1 with
 * a message in o->err.
 *
 * Output is atomic: the writers fill a temporary file (json, perfetto) or
 * directory (ctf) next to `path`, and only a successful tout_finish renames
 * it to `path`.  A failure or tout_abort removes it, so `path` is either the
 * previous output or a complete new one, never a truncated file.
 *
 * Strings: every guest string the writers use was sanitised by the reader
 * (utr_clean_str(), utr_str8(), utr_thread_name()).
 */
#ifndef TRACE_OUT_H
#define TRACE_OUT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "trace_reader.h"

enum tout_format {
    TOUT_PERFETTO,
    TOUT_JSON,
    TOUT_CTF,
    TOUT_NULL, /* drain and count only (benchmarks, summaries) */
};

#define TOUT_MAX_CPUS UK_TRACE_MAX_RINGS
#define TOUT_MAX_TIDS 4096

struct tout {
    enum tout_format format;
    const char *path; /* file (json, perfetto) or directory (ctf) */
    char tmp[4096];   /* what the writers fill: temporary file or directory */
    FILE *file;       /* json, perfetto: tmp opened for writing */
    const struct utr *t;
    uint64_t last_lost[UK_TRACE_MAX_RINGS]; /* losses already reported */
    uint64_t cur_tid[TOUT_MAX_CPUS];        /* thread running on each CPU (0: unknown) */
    uint64_t events, lost_reported;
    /* If set: a writer that sees *stop non-zero fails ("interrupted") between
     * two events, so a long conversion honours SIGINT promptly. */
    volatile sig_atomic_t *stop;
    /* Perfetto only: the process the trace is filed under (0: pid 1 named
     * "guest").  A fleet trace writes one output per instance with distinct
     * pids and concatenates them: track uuids, packet sequences and thread
     * ids are made unique per pid.  Set by tout_begin_process. */
    unsigned pid;
    const char *process_name;
    void *priv; /* format state */
    char err[256];
};

/* Open the output; t must stay valid until tout_finish. */
int tout_begin(struct tout *o, enum tout_format f, const char *path, const struct utr *t);
/* Same, filed under process pid (> 0) named process_name (clean, kept by
 * reference) instead of pid 1 "guest": one part of a fleet trace. */
int tout_begin_process(struct tout *o, enum tout_format f, const char *path, const struct utr *t,
                       unsigned pid, const char *process_name);
int tout_pass(struct tout *o, const struct utr_event *ev, size_t n);
int tout_finish(struct tout *o);
/* Stop without output: close everything and remove the temporary output. */
void tout_abort(struct tout *o);

/* Per-format back ends (trace_json.c, trace_ctf.c, trace_perfetto.c). */
int tout_json_begin(struct tout *o);
int tout_json_pass(struct tout *o, const struct utr_event *ev, size_t n);
int tout_json_finish(struct tout *o);
int tout_ctf_begin(struct tout *o);
int tout_ctf_pass(struct tout *o, const struct utr_event *ev, size_t n);
int tout_ctf_finish(struct tout *o);
int tout_pf_begin(struct tout *o);
int tout_pf_pass(struct tout *o, const struct utr_event *ev, size_t n);
int tout_pf_finish(struct tout *o);

/*
 * Host tracks (Perfetto only; `ukctl trace --with-host`): a second process
 * "host_name" (pid host_pid: the QEMU) with one track per host thread,
 * written after the guest's events.  Timestamps must already be on the
 * same clock as the guest events (the caller maps the guest's).  Names are
 * the caller's, clean ASCII.  Slices on one track must nest (begin/end in
 * order).
 */
enum tout_host_kind {
    TOUT_HOST_BEGIN,   /* slice begins: name */
    TOUT_HOST_END,     /* the innermost open slice ends */
    TOUT_HOST_INSTANT, /* instant: name, with arg_name = arg if arg_name */
};
struct tout_host_ev {
    uint64_t ns;
    unsigned track; /* index given to tout_pf_host_track */
    enum tout_host_kind kind;
    const char *name;
    const char *arg_name;
    int64_t arg;
};
int tout_pf_host_begin(struct tout *o, unsigned host_pid, const char *host_name);
int tout_pf_host_track(struct tout *o, unsigned track, const char *name);
int tout_pf_host_event(struct tout *o, const struct tout_host_ev *e);

/* Shared helpers. */
/* -1 with "interrupted" in o->err if o->stop was raised, else 0. */
static inline int tout_stopped(struct tout *o)
{
    if (!o->stop || !*o->stop)
        return 0;
    snprintf(o->err, sizeof(o->err), "interrupted");
    return -1;
}
int tout_fail(struct tout *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Update o->cur_tid from a sched_switch; returns the thread the event ran in (0: unknown). */
uint64_t tout_track_thread(struct tout *o, const struct utr_event *ev);
/* The name to show for thread tid: the thread table's, else the record's STR8. */
const char *tout_thread_name(const struct tout *o, uint64_t tid, uint64_t str8, char buf[9]);

/* Atomic output (trace_outfile.c): create o->tmp (and o->file unless dir),
 * rename it to o->path, or remove it. */
int tout_tmp_create(struct tout *o, bool dir);
int tout_tmp_commit(struct tout *o, bool dir);
void tout_tmp_remove(struct tout *o, bool dir);

#endif
