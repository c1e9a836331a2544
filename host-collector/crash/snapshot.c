/*
 * A bundle's trace and metrics snapshots: the flight recorder's rings as
 * Perfetto and CTF, and the metrics page as Prometheus text, made by this
 * same ukctl's `trace` and `metrics` subcommands run as child processes on
 * the run dir — so a reader stuck on a hostile ring is killed after a
 * deadline instead of holding the bundle (or `ukctl run`) hostage.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#include "crash_bundle.h"

#define SNAPSHOT_DEADLINE_MS 5000

extern char **environ;

struct job {
    const char *key;
    pid_t pid;
    int status;
};

static pid_t spawn(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

struct crash_snapjobs {
    struct job jobs[3];
    struct timespec t0;
};

struct crash_snapjobs *crash_snapshots_start(const char *run_dir, const char *bundle)
{
    char pf[4096], ctf[4096], met[4096];
    struct crash_snapjobs *sj = calloc(1, sizeof(*sj));
    if (!sj)
        return NULL;
    util_path(pf, sizeof(pf), "%s/trace.perfetto-trace", bundle);
    util_path(ctf, sizeof(ctf), "%s/trace-ctf", bundle);
    util_path(met, sizeof(met), "%s/metrics.txt", bundle);
    char *a_pf[] = {"ukctl", "trace", (char *)run_dir, "--format", "perfetto", "-o", pf, NULL};
    char *a_ctf[] = {"ukctl", "trace", (char *)run_dir, "--format", "ctf", "-o", ctf, NULL};
    char *a_met[] = {"ukctl", "metrics", (char *)run_dir, NULL};
    clock_gettime(CLOCK_MONOTONIC, &sj->t0);
    sj->jobs[0] = (struct job){"trace_perfetto", spawn(a_pf, NULL), -1};
    sj->jobs[1] = (struct job){"trace_ctf", spawn(a_ctf, NULL), -1};
    sj->jobs[2] = (struct job){"metrics", spawn(a_met, met), -1};
    return sj;
}

void crash_snapshots_finish(struct crash_snapjobs *sj, json_t *report)
{
    struct job none[3] = {{"trace_perfetto", -1, -1}, {"trace_ctf", -1, -1}, {"metrics", -1, -1}};
    struct job *jobs = sj ? sj->jobs : none;
    const unsigned n = 3;
    struct timespec now, nap = {0, 2000000};
    unsigned left = 0;
    for (unsigned i = 0; i < n; i++)
        left += jobs[i].pid > 0;
    while (left) {
        for (unsigned i = 0; i < n; i++) {
            int st;
            if (jobs[i].pid > 0 && waitpid(jobs[i].pid, &st, WNOHANG) == jobs[i].pid) {
                jobs[i].status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                jobs[i].pid = 0;
                left--;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - sj->t0.tv_sec) * 1000 + (now.tv_nsec - sj->t0.tv_nsec) / 1000000;
        if (left && ms > SNAPSHOT_DEADLINE_MS) {
            for (unsigned i = 0; i < n; i++)
                if (jobs[i].pid > 0) {
                    kill(jobs[i].pid, SIGKILL);
                    waitpid(jobs[i].pid, NULL, 0);
                    jobs[i].pid = 0;
                    jobs[i].status = -2; /* killed at the deadline */
                }
            break;
        }
        if (left)
            nanosleep(&nap, NULL);
    }
    json_t *o = json_object();
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(o, jobs[i].key,
                            json_string(jobs[i].status == 0    ? "ok"
                                        : jobs[i].status == -2 ? "timed out"
                                                               : "failed"));
    json_object_set_new(report, "snapshots", o);
    free(sj);
}

void crash_snapshots(const char *run_dir, const char *bundle, json_t *report)
{
    crash_snapshots_finish(crash_snapshots_start(run_dir, bundle), report);
}
