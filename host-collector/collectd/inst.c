/*
 * Discovery and liveness of the instances under --root.  Their QMP event
 * connection is in qmpmon.c, supervision of the instances the daemon
 * starts itself in supervise.c.  Liveness comes from /proc
 * (instance_is_ours), never from QMP, so nothing here waits on a guest.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cd.h"
#include "log.h"
#include "util.h"


const char *const cd_source_names[SRC_COUNT] = {"klog", "console", "ram", "qmp", "metrics",
                                                 "threads", "telemetry"};

const char *inst_state_name(enum inst_state s)
{
    static const char *const n[ST_STATE_COUNT] = {"starting", "running", "paused",
                                                   "panicked", "exited",  "crash-loop"};
    return s < ST_STATE_COUNT ? n[s] : "unknown";
}

struct inst *inst_find(const char *name)
{
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used && !strcmp(cd.inst[i].name, name))
            return &cd.inst[i];
    return NULL;
}

struct inst *inst_get_by_fd(int fd)
{
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        if (cd.inst[i].used && (cd.inst[i].qfd == fd || cd.inst[i].tfd == fd))
            return &cd.inst[i];
    return NULL;
}

void inst_set_state(struct inst *in, enum inst_state s)
{
    if (in->state == s)
        return;
    cd_log(CD_INFO, "%s: %s -> %s", in->name, inst_state_name(in->state), inst_state_name(s));
    if (s == ST_RUNNING && !in->run_since)
        in->run_since = cd_now();
    if (s == ST_EXITED) {
        in->last_run_ms = in->run_since ? cd_now() - in->run_since : 0;
        in->run_since = 0;
    }
    in->state = s;
    in->state_since = cd_now();
}

struct inst *inst_new(const char *name);
struct inst *inst_new(const char *name)
{
    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++) {
        struct inst *in = &cd.inst[i];
        if (in->used)
            continue;
        memset(in, 0, sizeof(*in));
        in->used = true;
        in->qfd = -1;
        in->tfd = -1;
        in->ram.fd = -1;
        in->ls.fd = -1;
        size_t nl = strnlen(name, sizeof(in->name) - 1);
        memcpy(in->name, name, nl);
        in->name[nl] = 0;
        snprintf(in->run_dir, sizeof(in->run_dir), "%s/%s", cd.root, name);
        snprintf(in->state_dir, sizeof(in->state_dir), "%s/instances/%s", cd.state, name);
        in->state = ST_STARTING;
        in->state_since = cd_now();
        if (logstore_open(&in->ls, in->state_dir, cd.store_max) < 0)
            cd_log(CD_ERR, "Failed to open the log store %s: %s", in->state_dir,
                   strerror(errno));
        else
            in->ls_ok = true;
        if (in->ls.recovered)
            cd_log(CD_NOTICE, "%s: %llu records after the last saved position replayed",
                   name, (unsigned long long)in->ls.recovered);
        return in;
    }
    cd_log(CD_ERR, "Failed to adopt %s: more than %d instances", name, CD_MAX_INSTANCES);
    return NULL;
}

/* A stable id for one boot: the same QEMU process gives the same id after a
 * daemon restart, a new QEMU a new one (FNV-1a over name, pid, start time). */
static void make_boot_id(struct inst *in)
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    char key[400];
    int n = snprintf(key, sizeof(key), "%s/%d/%llu", in->name, (int)in->sum.pid,
                     in->sum.qemu_start_time);

    for (int k = 0; k < 2; k++)
        for (int i = 0; i < n; i++)
            h[k] = (h[k] ^ (unsigned char)key[i]) * 0x100000001b3ULL;
    snprintf(in->boot_id, sizeof(in->boot_id), "%08llx-%04llx-%04llx-%04llx-%012llx",
             (unsigned long long)(h[0] >> 32), (unsigned long long)((h[0] >> 16) & 0xffff),
             (unsigned long long)(h[0] & 0xffff), (unsigned long long)(h[1] >> 48),
             (unsigned long long)(h[1] & 0xffffffffffffULL));
}

static int64_t boot_wall(unsigned long long start_ticks)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];
    long long btime = 0;

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    if (f)
        fclose(f);
    return btime * 1000000000LL +
           (int64_t)(start_ticks * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* (Re)read instance.json when it changed; a new QEMU is a new boot. */
static void reload(struct inst *in)
{
    char path[4200], err[512];
    struct stat st;
    int64_t mt;

    snprintf(path, sizeof(path), "%s/instance.json", in->run_dir);
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        in->has_sum = false;
        in->json_mtime_ns = 0;
        return;
    }
    mt = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec + st.st_ino;
    if (mt == in->json_mtime_ns)
        return;
    in->json_mtime_ns = mt;
    if (instance_read(in->run_dir, &in->sum, err, sizeof(err)) < 0 ||
        inst_meta_read(in->run_dir, &in->meta, err, sizeof(err)) < 0) {
        cd_log(CD_WARN, "%s: Failed to read instance.json: %s", in->name, err);
        in->has_sum = false;
        return;
    }
    in->has_sum = true;
    char old[37];
    memcpy(old, in->boot_id, sizeof(old));
    make_boot_id(in);
    if (strcmp(old, in->boot_id)) {
        if (old[0])
            cd_log(CD_INFO, "%s: new boot %s (pid %d)", in->name, in->boot_id, (int)in->sum.pid);
        ingest_close(in);
        qmp_drop(in, NULL);
        in->qretry = 0;
        in->boot_wall_ns = boot_wall(in->sum.qemu_start_time);
        in->state = ST_STARTING;
        in->shutdown_reason[0] = 0;
        in->build_id[0] = 0;
    }
}

void inst_scan(void)
{
    DIR *d = opendir(cd.root);
    struct dirent *e;

    for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
        cd.inst[i].seen = false;
    while (d && (e = readdir(d))) {
        char path[8192];
        struct stat st;
        struct inst *in;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/instance.json", cd.root, e->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!inst_name_ok(e->d_name)) {
            continue; /* not a name we can keep a store for; logged at most never */
        }
        in = inst_find(e->d_name);
        if (!in && !(in = inst_new(e->d_name)))
            continue;
        in->seen = true;
    }
    if (d)
        closedir(d);
}

void inst_tick(struct inst *in, int64_t now)
{
    char why[256];
    bool alive;

    reload(in);
    if (!in->seen && !in->has_sum && !in->spec.managed && !in->child) {
        /* An adopted instance whose run dir is gone (ukctl stop): forget it;
         * its log store stays under STATE for the API of a later boot.
         * Final drain first: the RAM file is unlinked, but our mapping of
         * it still holds the lines logged since the last tick. */
        if (in->state != ST_EXITED && in->state != ST_CRASHLOOP && in->ram.fd >= 0)
            ingest_tick(in, now, true);
        cd_log(CD_INFO, "%s: run dir gone, forgotten", in->name);
        qmp_drop(in, NULL);
        ingest_close(in);
        tsglue_forget(in);
        hvglue_forget(in);
        htglue_track(in, 0);
        logstore_close(&in->ls);
        in->used = false;
        return;
    }
    alive = in->has_sum && instance_is_ours(&in->sum, why, sizeof(why));
    hvglue_tick(in, alive);
    htglue_track(in, alive ? in->sum.pid : 0);
    if (!alive) {
        if (in->state != ST_EXITED && in->state != ST_CRASHLOOP && in->has_sum) {
            ingest_tick(in, now, true); /* final pass: the RAM file still holds the tail */
            inst_set_state(in, ST_EXITED);
        }
        if (in->state == ST_STARTING && !in->has_sum && in->child_kind != CHILD_START &&
            !in->spec.managed)
            inst_set_state(in, ST_EXITED);
        if (in->qfd >= 0)
            qmp_drop(in, NULL);
        ingest_close(in);
        tsglue_forget(in);
        return;
    }
    if (in->state == ST_EXITED || in->state == ST_CRASHLOOP)
        in->state = ST_STARTING;
    if (in->qfd < 0 && now >= in->qretry)
        qmp_start(in, now);
    else if (in->qfd >= 0 && in->qphase != QP_READY && now >= in->qdeadline)
        qmp_drop(in, "no answer within 3 s (timeout)");
    if (in->state == ST_STARTING && in->qfd < 0)
        inst_set_state(in, ST_RUNNING); /* no QMP: alive is all we know */
    telem_start(in, now);
    ingest_tick(in, now, false);
    tsglue_drain(in, now);
}
