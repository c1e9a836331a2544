/*
 * Discovery and liveness of the instances under --root, and their QMP
 * event connection (qmp-collector.sock).  Supervision of the instances the
 * daemon starts itself is in supervise.c.
 *
 * Nothing here blocks: the QMP socket is non-blocking, every phase before
 * "ready" has a deadline (a socket that accepts and stays silent costs one
 * counted error per QMP_TIMEOUT_MS and a retry later), and liveness comes
 * from /proc (instance_is_ours), not from QMP.
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

enum { QMP_TIMEOUT_MS = 3000, QMP_RETRY_MS = 5000 };

const char *const cd_source_names[SRC_COUNT] = {"klog", "console", "ram", "qmp", "metrics",
                                                 "threads"};

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
        if (cd.inst[i].used && cd.inst[i].qfd == fd)
            return &cd.inst[i];
    return NULL;
}

static void set_state(struct inst *in, enum inst_state s)
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

static void qmp_drop(struct inst *in, const char *why)
{
    if (in->qfd >= 0) {
        epoll_ctl(cd.epfd, EPOLL_CTL_DEL, in->qfd, NULL);
        qmp_close(&in->q); /* closes the fd */
    }
    in->qfd = -1;
    in->qphase = QP_IDLE;
    in->qretry = cd_now() + QMP_RETRY_MS;
    if (why) {
        in->err[SRC_QMP]++;
        cd_log(CD_WARN, "%s: QMP: %s (retry in %d s)", in->name, why, QMP_RETRY_MS / 1000);
    }
}

static int qmp_send(struct inst *in, const char *line)
{
    size_t n = strlen(line);
    /* A few dozen bytes into an empty socket buffer: never partial in practice. */
    if (send(in->qfd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
        qmp_drop(in, "Failed to send a command");
        return -1;
    }
    return 0;
}

static void qmp_start(struct inst *in, int64_t now)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct epoll_event ev = {.events = EPOLLIN};
    int fd;

    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp-collector.sock",
                         in->run_dir) >= sizeof(sa.sun_path)) {
        in->qretry = now + 60000;
        return;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        if (!in->src_bad[SRC_QMP])
            cd_log(CD_NOTICE, "%s: no QMP events (%s: %s); state from the process only",
                   in->name, sa.sun_path, strerror(errno));
        in->src_bad[SRC_QMP] = true;
        close(fd);
        in->qretry = now + QMP_RETRY_MS;
        return;
    }
    qmp_init(&in->q, fd);
    in->qfd = fd;
    ev.data.fd = fd;
    epoll_ctl(cd.epfd, EPOLL_CTL_ADD, fd, &ev);
    in->qphase = QP_GREETING;
    in->qdeadline = now + QMP_TIMEOUT_MS;
}

static void on_status(struct inst *in, json_t *ret)
{
    const char *st = json_string_value(json_object_get(ret, "status"));
    if (!st)
        return;
    if (!strcmp(st, "running"))
        set_state(in, ST_RUNNING);
    else if (!strcmp(st, "guest-panicked"))
        set_state(in, ST_PANICKED);
    else
        set_state(in, ST_PAUSED);
}

static void on_event(struct inst *in, const struct qmp_msg *m)
{
    const char *e = m->event;
    if (!strcmp(e, "GUEST_PANICKED")) {
        in->panics++;
        cd_log(CD_WARN, "%s: guest panicked", in->name);
        set_state(in, ST_PANICKED);
    } else if (!strcmp(e, "STOP")) {
        if (in->state != ST_PANICKED)
            set_state(in, ST_PAUSED);
    } else if (!strcmp(e, "RESUME")) {
        set_state(in, ST_RUNNING);
    } else if (!strcmp(e, "SHUTDOWN")) {
        json_t *d = json_object_get(m->root, "data");
        snprintf(in->shutdown_reason, sizeof(in->shutdown_reason), "%s",
                 json_string_value(json_object_get(d, "reason")) ?: "unknown");
    }
}

void inst_qmp_event(struct inst *in, uint32_t events)
{
    char buf[8192];
    struct qmp_msg m;
    ssize_t n;
    int r;

    for (;;) {
        n = recv(in->qfd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            /* QEMU closed: it is exiting; liveness comes from /proc. */
            qmp_drop(in, NULL);
            return;
        }
        if (qmp_feed(&in->q, buf, (size_t)n) < 0) {
            qmp_drop(in, "out of memory");
            return;
        }
    }
    while ((r = qmp_next(&in->q, &m)) == 1) {
        switch (in->qphase) {
        case QP_GREETING:
            if (m.kind == QMP_MSG_GREETING) {
                in->qphase = QP_CAPS;
                qmp_send(in, "{\"execute\":\"qmp_capabilities\"}\n");
            }
            break;
        case QP_CAPS:
            if (m.kind == QMP_MSG_RETURN) {
                in->qphase = QP_STATUS;
                qmp_send(in, "{\"execute\":\"query-status\"}\n");
            }
            break;
        case QP_STATUS:
            if (m.kind == QMP_MSG_RETURN) {
                on_status(in, json_object_get(m.root, "return"));
                in->qphase = QP_READY;
                in->src_bad[SRC_QMP] = false;
            }
            break;
        default:
            break;
        }
        if (m.kind == QMP_MSG_EVENT)
            on_event(in, &m);
        qmp_msg_clear(&m);
        if (in->qfd < 0)
            return;
    }
    if (r < 0) {
        char why[300];
        snprintf(why, sizeof(why), "bad message: %s", in->q.err);
        qmp_drop(in, why);
    }
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
         * its log store stays under STATE for the API of a later boot. */
        cd_log(CD_INFO, "%s: run dir gone, forgotten", in->name);
        qmp_drop(in, NULL);
        ingest_close(in);
        tsglue_forget(in);
        logstore_close(&in->ls);
        in->used = false;
        return;
    }
    alive = in->has_sum && instance_is_ours(&in->sum, why, sizeof(why));
    if (!alive) {
        if (in->state != ST_EXITED && in->state != ST_CRASHLOOP && in->has_sum) {
            ingest_tick(in, now, true); /* final pass: the RAM file still holds the tail */
            set_state(in, ST_EXITED);
        }
        if (in->state == ST_STARTING && !in->has_sum && in->child_kind != CHILD_START &&
            !in->spec.managed)
            set_state(in, ST_EXITED);
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
        set_state(in, ST_RUNNING); /* no QMP: alive is all we know */
    ingest_tick(in, now, false);
    tsglue_drain(in, now);
}
