/*
 * Crash bundles written by the collector (docs/postmortem.md): on a panic
 * (GUEST_PANICKED on the instance's QMP monitor, or an instance adopted
 * already panicked) the daemon runs `ukctl crash capture --once RUN` — the
 * crash library `ukctl run` uses — as a child whose stdout is a pipe, so a
 * slow or hostile guest never blocks the epoll loop.  --once claims the
 * boot's panic (RUN/crash-claim.*): a foreground `ukctl run` watching the
 * same guest, or this daemon after a restart, does not write a second one.
 *
 * While the child runs, the instance is "busy": API stop/remove/restart are
 * refused and the restart policy waits, so the RAM is read before QEMU goes.
 * When the child is done (pipe at EOF, seen on SIGCHLD or at the next
 * tick), the collector adds its own trace store's recent history for the
 * instance to the bundle (tracestore.perfetto-trace; the bundle already has
 * the rings' snapshot), and the guest+host timeline: the host recorder's
 * latest records of the instance's QEMU with the guest's events of the same
 * window on the host's clock (timeline.perfetto-trace, htglue.c), or in
 * report.json why there is none; and counts bundles and failures for
 * /metrics.
 *
 * The crash dir is the crash library's default: $UKSCOPE_CRASH_DIR (off:
 * no bundles), else $XDG_STATE_HOME/ukscope/crashes, else
 * ~/.local/state/ukscope/crashes of the daemon's user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cd.h"
#include "log.h"
#include "tracestore.h"

enum {
    CAPTURE_TIMEOUT_MS = 120000, /* the capture's own snapshots stop at 5 s; the core is fast */
    TRACE_HISTORY_S = 300,       /* trace store history added to a bundle */
};

struct cjob {
    char name[64]; /* counters belong to this instance name (slots are reused) */
    pid_t pid;
    int fd; /* read end of the child's stdout; -1: no capture running */
    char out[4400];
    size_t olen;
    int64_t t0;
    uint64_t bundles, failures, skipped;
};

static struct cjob jobs[CD_MAX_INSTANCES];
static bool jobs_init;

static struct cjob *job_of(struct inst *in)
{
    if (!jobs_init) {
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
            jobs[i].fd = -1;
        jobs_init = true;
    }
    struct cjob *j = &jobs[in - cd.inst];
    if (strcmp(j->name, in->name) && j->fd < 0) {
        memset(j, 0, sizeof(*j));
        j->fd = -1;
        snprintf(j->name, sizeof(j->name), "%s", in->name);
    }
    return j;
}

bool crashglue_busy(struct inst *in)
{
    return job_of(in)->fd >= 0;
}

void crashglue_on_panic(struct inst *in)
{
    const char *e = getenv("UKSCOPE_CRASH_DIR");
    struct cjob *j = job_of(in);
    char logp[4300];
    int p[2];
    pid_t pid;

    int64_t t0 = cd_now(); /* the event: the logged time counts from here */

    if ((e && !strcmp(e, "off")) || j->fd >= 0)
        return;
    /* The rings' latest events into the store before the bundle takes it. */
    tsglue_drain(in, cd_now());
    if (pipe2(p, O_CLOEXEC) < 0) {
        cd_log(CD_ERR, "%s: Failed to write a crash bundle: pipe: %s", in->name, strerror(errno));
        j->failures++;
        return;
    }
    snprintf(logp, sizeof(logp), "%s/ukctl.log", in->state_dir);
    pid = fork();
    if (pid < 0) {
        cd_log(CD_ERR, "%s: Failed to fork ukctl crash capture: %s", in->name, strerror(errno));
        close(p[0]);
        close(p[1]);
        j->failures++;
        return;
    }
    if (pid == 0) {
        const char *argv[] = {cd.ukctl, "crash", "capture", "--once", in->run_dir, NULL};
        int log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY);
        sigset_t all;
        if (nul >= 0)
            dup2(nul, 0);
        dup2(p[1], 1);
        dup2(log >= 0 ? log : nul, 2);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setsid();
        execv(cd.ukctl, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    j->pid = pid;
    j->fd = p[0];
    j->olen = 0;
    j->t0 = t0;
    cd_log(CD_INFO, "%s: writing a crash bundle (ukctl pid %d)", in->name, (int)pid);
}

/* The guest+host timeline of the instance (NULL: removed meanwhile) into
 * the bundle; returns the report.json "timeline" object. */
static json_t *add_timeline(struct inst *in, const char *bundle)
{
    char path[4600], why[512] = "the instance was removed before its bundle was done";
    struct ts_host h;

    if (in && htglue_snapshot(in, &h, why, sizeof(why)) == 0) {
        snprintf(path, sizeof(path), "%s/timeline.perfetto-trace", bundle);
        int rc = tsglue_export_host(in->name, &h, path, why, sizeof(why));
        json_t *t = rc ? NULL
                       : json_pack("{s:s,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "status", "ok",
                                   "qemu_pid", (json_int_t)h.pid, "host_events", (json_int_t)h.n,
                                   "clock_bound_ns", h.clock.bound_ns, "sync_points",
                                   (json_int_t)h.clock.points, "guest_sync_points",
                                   (json_int_t)h.guest_points, "host_sync_writes",
                                   (json_int_t)h.nsync, "missed_switches", (json_int_t)h.missed,
                                   "host_events_overwritten", (json_int_t)h.overwritten,
                                   "host_events_lost", (json_int_t)h.lost);
        if (t) {
            json_object_set_new(t, "from_ns", json_integer((json_int_t)h.ev[0].ts_ns));
            json_object_set_new(t, "to_ns", json_integer((json_int_t)h.ev[h.n - 1].ts_ns));
        }
        ts_host_free(&h);
        if (t)
            return t;
    }
    cd_log(CD_INFO, "%s: crash bundle without a guest+host timeline: %s", bundle, why);
    return json_pack("{s:s,s:s}", "status", "none", "why", why);
}

/* Add the trace store's recent history of `name` and the timeline of `in`
 * (NULL: gone) to the bundle; the report's "snapshots" says whether they
 * are there. */
static void add_trace_history(const char *name, struct inst *in, const char *bundle)
{
    char path[4600], err[256];
    char *body = NULL;
    size_t len = 0;
    const char *status = "none";

    if (tsglue_export(name, TRACE_HISTORY_S, "perfetto", &body, &len, err, sizeof(err)) == 0) {
        snprintf(path, sizeof(path), "%s/tracestore.perfetto-trace", bundle);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        status = fd >= 0 && write(fd, body, len) == (ssize_t)len ? "ok" : "failed";
        if (fd >= 0)
            close(fd);
        free(body);
    }
    json_t *timeline = add_timeline(in, bundle);
    snprintf(path, sizeof(path), "%s/report.json", bundle);
    json_t *rep = json_load_file(path, 0, NULL);
    json_t *snap = json_object_get(rep, "snapshots");
    if (json_is_object(snap)) {
        char tmp[4700];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        json_object_set_new(snap, "tracestore", json_string(status));
        const char *ts = json_string_value(json_object_get(timeline, "status"));
        json_object_set_new(snap, "timeline", json_string(ts ? ts : "none"));
        json_object_set(rep, "timeline", timeline);
        if (json_dump_file(rep, tmp, JSON_INDENT(1)) == 0)
            rename(tmp, path);
    }
    json_decref(timeline);
    json_decref(rep);
}

static void job_done(struct cjob *j, const char *why)
{
    char *line = j->out, *nl;
    j->out[j->olen] = 0;
    /* the last non-empty line: the bundle path, or "claimed: ..." */
    for (char *s = j->out; (nl = strchr(s, '\n')); s = nl + 1)
        if (nl[1])
            line = nl + 1;
    line[strcspn(line, "\n")] = 0;
    if (!why && line[0] == '/') {
        j->bundles++;
        struct inst *in = &cd.inst[j - jobs];
        add_trace_history(j->name, in->used && !strcmp(in->name, j->name) ? in : NULL, line);
        cd_log(CD_NOTICE, "%s: crash bundle written in %lld ms: %s", j->name,
               (long long)(cd_now() - j->t0), line);
    } else if (!why && !strncmp(line, "claimed:", 8)) {
        j->skipped++;
        cd_log(CD_INFO, "%s: crash bundle %s", j->name, line);
    } else {
        j->failures++;
        cd_log(CD_WARN, "%s: Failed to write a crash bundle: %s (see ukctl.log)", j->name,
               why ? why : "ukctl crash capture failed");
    }
    close(j->fd);
    j->fd = -1;
    j->pid = 0;
}

void crashglue_tick(int64_t now)
{
    for (unsigned i = 0; jobs_init && i < CD_MAX_INSTANCES; i++) {
        struct cjob *j = &jobs[i];
        ssize_t n;
        if (j->fd < 0)
            continue;
        while ((n = read(j->fd, j->out + j->olen, sizeof(j->out) - 1 - j->olen)) > 0)
            j->olen += (size_t)n;
        if (n == 0 || j->olen == sizeof(j->out) - 1) {
            job_done(j, NULL);
        } else if (now - j->t0 > CAPTURE_TIMEOUT_MS) {
            kill(j->pid, SIGKILL); /* reaped by inst_reap_children */
            job_done(j, "timed out");
        }
    }
}

void prom_crash(FILE *o)
{
    static const char *const fam[3][2] = {
        {"ukcollectd_crash_bundles_total", "Crash bundles written for the instance's panics."},
        {"ukcollectd_crash_bundle_failures_total", "Crash bundles that could not be written."},
        {"ukcollectd_crash_bundles_claimed_total",
         "Panics whose bundle another writer (a foreground ukctl run) claimed."},
    };
    for (unsigned f = 0; f < 3; f++) {
        fprintf(o, "# HELP %s %s\n# TYPE %s counter\n", fam[f][0], fam[f][1], fam[f][0]);
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
            struct inst *in = &cd.inst[i];
            if (!in->used)
                continue;
            struct cjob *j = job_of(in);
            uint64_t v = f == 0 ? j->bundles : f == 1 ? j->failures : j->skipped;
            fprintf(o, "%s{instance=\"%s\"} %llu\n", fam[f][0], in->name, (unsigned long long)v);
        }
    }
}
