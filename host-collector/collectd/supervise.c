/*
 * Instances the daemon starts itself ("managed"): their spec is kept in
 * STATE/instances/NAME/spec.json so a restarted daemon still knows them;
 * they are started and stopped by running `ukctl run --detach` / `ukctl
 * stop` as child processes (reaped every tick, never waited for), so the
 * QEMUs are never children of the daemon and outlive it.
 *
 * Restart policy (no | on-failure | always): when a managed instance's QEMU
 * goes away without an API stop, it is started again after an exponential
 * backoff (--restart-delay, default 1 s, doubled per restart up to 60 s;
 * reset after 60 s of running).  More than
 * CRASHLOOP_MAX restarts within CRASHLOOP_WINDOW_MS is a crash loop: the
 * instance goes to state crash-loop and is left alone until an API start.
 * A failure is any exit but a SHUTDOWN event of reason guest-shutdown.  A
 * panicked guest stays paused for post-mortem (not restarted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "cd.h"
#include "log.h"

enum { BACKOFF_MAX_MS = 60000, RAN_LONG_MS = 60000, CRASHLOOP_MAX = 5,
       CRASHLOOP_WINDOW_MS = 120000 };

struct inst *inst_new(const char *name);

static const char *const policy_names[] = {"no", "on-failure", "always"};

static int save_spec(struct inst *in)
{
    char path[4300], tmp[4300];
    json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:b}", "image", in->spec.image, "cmdline",
                          in->spec.cmdline, "mem_mib", in->spec.mem_mib, "smp", in->spec.smp,
                          "accel", in->spec.accel, "restart", policy_names[in->spec.policy],
                          "want_up", in->spec.want_up);
    int rc;

    snprintf(path, sizeof(path), "%s/spec.json", in->state_dir);
    snprintf(tmp, sizeof(tmp), "%s/spec.json.tmp", in->state_dir);
    mode_t old = umask(0077);
    rc = o ? json_dump_file(o, tmp, JSON_COMPACT) : -1;
    umask(old);
    json_decref(o);
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc < 0)
        cd_log(CD_ERR, "Failed to save %s: %s", path, strerror(errno));
    return rc;
}


void inst_load_specs(void)
{
    char dir[4200];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/instances", cd.state);
    d = opendir(dir);
    while (d && (e = readdir(d))) {
        char path[4400];
        json_t *o;
        struct inst *in;

        if (!inst_name_ok(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s/spec.json", dir, e->d_name);
        o = json_load_file(path, 0, NULL);
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "image"))) {
            json_decref(o);
            continue;
        }
        in = inst_find(e->d_name);
        if (!in)
            in = inst_new(e->d_name);
        if (in) {
            struct inst_spec *s = &in->spec;
            s->managed = true;
            snprintf(s->image, sizeof(s->image), "%s", json_string_value(json_object_get(o, "image")));
            snprintf(s->cmdline, sizeof(s->cmdline), "%s",
                     json_string_value(json_object_get(o, "cmdline")) ?: "");
            snprintf(s->accel, sizeof(s->accel), "%s",
                     json_string_value(json_object_get(o, "accel")) ?: "auto");
            s->mem_mib = (unsigned)json_integer_value(json_object_get(o, "mem_mib"));
            s->smp = (unsigned)json_integer_value(json_object_get(o, "smp"));
            if (supervise_parse_policy(json_string_value(json_object_get(o, "restart")), &s->policy) < 0)
                s->policy = RP_NO;
            s->want_up = json_is_true(json_object_get(o, "want_up"));
        }
        json_decref(o);
    }
    if (d)
        closedir(d);
}

static int spawn(struct inst *in, enum child_kind kind, bool keep)
{
    char mem[16], smp[16], logp[4300];
    const char *argv[24];
    int n = 0;
    pid_t pid;

    snprintf(mem, sizeof(mem), "%u", in->spec.mem_mib ? in->spec.mem_mib : 128);
    snprintf(smp, sizeof(smp), "%u", in->spec.smp ? in->spec.smp : 1);
    snprintf(logp, sizeof(logp), "%s/ukctl.log", in->state_dir);
    argv[n++] = cd.ukctl;
    if (kind == CHILD_START) {
        argv[n++] = "run";
        argv[n++] = "--detach";
        argv[n++] = "--keep";
        argv[n++] = "--name";
        argv[n++] = in->name;
        argv[n++] = "--run-dir";
        argv[n++] = in->run_dir;
        argv[n++] = "--mem";
        argv[n++] = mem;
        argv[n++] = "--smp";
        argv[n++] = smp;
        argv[n++] = "--accel";
        argv[n++] = in->spec.accel[0] ? in->spec.accel : "auto";
        if (in->spec.cmdline[0]) {
            argv[n++] = "--cmdline";
            argv[n++] = in->spec.cmdline;
        }
        argv[n++] = "--";
        argv[n++] = in->spec.image;
    } else {
        argv[n++] = "stop";
        if (keep)
            argv[n++] = "--keep";
        argv[n++] = in->run_dir;
    }
    argv[n] = NULL;
    pid = fork();
    if (pid < 0) {
        cd_log(CD_ERR, "%s: Failed to fork ukctl: %s", in->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setsid(); /* the QEMU must not die with the daemon's process group */
        execv(cd.ukctl, (char *const *)argv);
        _exit(127);
    }
    in->child = pid;
    in->child_kind = kind;
    cd_log(CD_INFO, "%s: %s (ukctl pid %d)", in->name, kind == CHILD_START ? "starting" : "stopping",
           (int)pid);
    return 0;
}

int inst_create(const char *name, const struct inst_spec *spec, char *err, size_t errlen)
{
    struct inst *in;

    if (!inst_name_ok(name)) {
        snprintf(err, errlen, "bad name (want 1-63 of [A-Za-z0-9._-], not starting with '.')");
        return -1;
    }
    if ((in = inst_find(name)) && (in->state != ST_EXITED || in->child)) {
        snprintf(err, errlen, "instance %s exists (%s)", name, inst_state_name(in->state));
        return -1;
    }
    if (!in && !(in = inst_new(name))) {
        snprintf(err, errlen, "too many instances");
        return -1;
    }
    in->spec = *spec;
    in->spec.managed = true;
    in->spec.want_up = true;
    in->spec.next_start = 0;
    in->state = ST_STARTING;
    in->state_since = cd_now();
    save_spec(in);
    return spawn(in, CHILD_START, false);
}

int inst_action(struct inst *in, const char *action, bool remove, char *err, size_t errlen)
{
    if (in->child) {
        snprintf(err, errlen, "busy: a ukctl %s is running for it", in->child_kind == CHILD_START ? "run" : "stop");
        return -1;
    }
    if (crashglue_busy(in)) {
        snprintf(err, errlen, "busy: its crash bundle is being written");
        return -1;
    }
    if (!strcmp(action, "stop") || !strcmp(action, "restart")) {
        if (!strcmp(action, "stop")) {
            in->spec.want_up = false;
            if (in->spec.managed)
                save_spec(in);
        }
        in->stop_requested = true;
        in->remove_requested = remove;
        if (in->state == ST_EXITED && !remove) {
            in->stop_requested = false;
        } else if (spawn(in, CHILD_STOP, !remove) < 0) {
            snprintf(err, errlen, "Failed to run ukctl stop");
            return -1;
        }
        if (!strcmp(action, "restart")) {
            in->spec.want_up = true;
            in->spec.next_start = 0;
        }
        return 0;
    }
    if (!strcmp(action, "start")) {
        if (!in->spec.managed) {
            snprintf(err, errlen, "%s was not started by this collector (no spec): start it "
                     "with ukctl run", in->name);
            return -1;
        }
        if (in->state != ST_EXITED && in->state != ST_CRASHLOOP) {
            snprintf(err, errlen, "%s is %s", in->name, inst_state_name(in->state));
            return -1;
        }
        in->spec.want_up = true;
        in->spec.consecutive = 0;
        memset(in->spec.recent, 0, sizeof(in->spec.recent));
        save_spec(in);
        in->state = ST_STARTING;
        return spawn(in, CHILD_START, false);
    }
    snprintf(err, errlen, "unknown action %s (start, stop, restart)", action);
    return -1;
}

/* Forget a removed instance: its run dir is gone, its store stays. */
static void forget(struct inst *in)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/spec.json", in->state_dir);
    unlink(path);
    ingest_close(in);
    logstore_close(&in->ls);
    cd_log(CD_INFO, "%s: removed", in->name);
    in->used = false;
}

void inst_reap_children(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
            struct inst *in = &cd.inst[i];
            if (!in->used || in->child != pid)
                continue;
            bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (!ok)
                cd_log(CD_WARN, "%s: ukctl %s failed (status 0x%x; see %s/ukctl.log)", in->name,
                       in->child_kind == CHILD_START ? "run" : "stop", status, in->state_dir);
            enum child_kind k = in->child_kind;
            in->child = 0;
            in->child_kind = CHILD_NONE;
            if (k == CHILD_STOP) {
                in->stop_requested = false;
                if (in->remove_requested)
                    forget(in);
            } else if (!ok) {
                in->state = ST_EXITED; /* counts as a failed run for the policy */
                in->state_since = cd_now();
                in->last_run_ms = 0;
            }
        }
    }
}

/* Called each tick for managed instances that are not running. */
void supervise_tick(struct inst *in, int64_t now);
void supervise_tick(struct inst *in, int64_t now)
{
    struct inst_spec *s = &in->spec;
    bool failure;
    unsigned recent = 0;

    if (!s->managed || in->child || in->state != ST_EXITED || !s->want_up || in->stop_requested ||
        crashglue_busy(in))
        return;
    failure = strcmp(in->shutdown_reason, "guest-shutdown") != 0;
    if (s->policy == RP_NO || (s->policy == RP_ON_FAILURE && !failure))
        return;
    if (!s->next_start) {
        if (in->last_run_ms > RAN_LONG_MS)
            s->consecutive = 0;
        int64_t delay = cd.restart_delay_ms << (s->consecutive < 6 ? s->consecutive : 6);
        s->next_start = now + (delay < BACKOFF_MAX_MS ? delay : BACKOFF_MAX_MS);
        return;
    }
    if (now < s->next_start)
        return;
    for (unsigned i = 0; i < 8; i++)
        if (s->recent[i] && now - s->recent[i] < CRASHLOOP_WINDOW_MS)
            recent++;
    if (recent >= CRASHLOOP_MAX) {
        cd_log(CD_ERR, "%s: crash loop: %u restarts in %d s; not restarting (POST start to "
               "try again)", in->name, recent, CRASHLOOP_WINDOW_MS / 1000);
        in->state = ST_CRASHLOOP;
        s->next_start = 0;
        return;
    }
    memmove(s->recent + 1, s->recent, sizeof(s->recent) - sizeof(s->recent[0]));
    s->recent[0] = now;
    s->consecutive++;
    s->next_start = 0;
    in->restarts++;
    in->shutdown_reason[0] = 0;
    cd_log(CD_NOTICE, "%s: restarting (policy %s, restart %llu)", in->name,
           policy_names[s->policy], (unsigned long long)in->restarts);
    in->state = ST_STARTING;
    spawn(in, CHILD_START, false);
}
