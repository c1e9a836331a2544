/*
 * Taking a core of a run dir.  The RAM file is mapped read-only; how the
 * guest is held while we copy depends on its state:
 *   panicked (panic record complete): every CPU is parked; just read;
 *   QEMU gone (run dir kept): just read;
 *   running: QMP `stop`, read the vCPUs' registers (HMP `info registers
 *   -a`), write the core, `cont` — the pause is measured and reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

#include "crash.h"
#include "crash_dump.h"

#define QMP_MS 2000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, len, "%s", v ? v : "");
}

int crash_src_open(struct crash_src *s, const char *run_dir, char *err, size_t errlen)
{
    char path[4096];
    json_error_t je;
    struct stat st;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->qmp.fd = -1;
    snprintf(s->run_dir, sizeof(s->run_dir), "%s", run_dir);
    if (util_path(path, sizeof(path), "%s/instance.json", run_dir) < 0) {
        snprintf(err, errlen, "Failed to open %s: path too long", run_dir);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "Failed to read %s: %s", path, strerror(errno));
        return -1;
    }
    json_t *o = json_load_file(path, 0, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "Failed to read %s: %s", path, o ? "not a JSON object" : je.text);
        json_decref(o);
        return -1;
    }
    copy_str(s->name, sizeof(s->name), o, "name");
    copy_str(s->accel, sizeof(s->accel), o, "accel");
    copy_str(s->cmdline, sizeof(s->cmdline), o, "cmdline");
    copy_str(s->image, sizeof(s->image), o, "image");
    copy_str(s->ram_file, sizeof(s->ram_file), o, "ram_file");
    copy_str(s->qmp_socket, sizeof(s->qmp_socket), o, "qmp_socket");
    copy_str(s->console_log, sizeof(s->console_log), o, "console_log");
    copy_str(s->started_at, sizeof(s->started_at), o, "started_at");
    s->smp = (unsigned)json_integer_value(json_object_get(o, "smp"));
    s->mem_mib = (unsigned)json_integer_value(json_object_get(o, "mem_mib"));
    s->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    json_decref(o);
    if (!s->ram_file[0])
        snprintf(s->ram_file, sizeof(s->ram_file), "%s/ram", run_dir);
    if (crash_kelf_layout(s->image, &s->lay, err, errlen) < 0)
        return -1;
    s->fd = open(s->ram_file, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0 || fstat(s->fd, &st) < 0 || st.st_size <= 0) {
        snprintf(err, errlen, "Failed to open guest memory %s: %s", s->ram_file,
                 s->fd < 0 ? strerror(errno) : "empty file");
        return -1;
    }
    s->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, s->fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        snprintf(err, errlen, "Failed to map guest memory %s: %s", s->ram_file, strerror(errno));
        return -1;
    }
    s->mem.base = s->map;
    s->mem.size = (uint64_t)st.st_size;
    /* A rebuilt image would give every address the wrong meaning. */
    char found[48];
    if (!crash_kelf_matches(&s->lay, &s->mem, found, sizeof(found))) {
        snprintf(err, errlen,
                 "Failed to match %s with the guest: the guest runs build-id %s, the image is %s",
                 s->image, found, s->lay.build_id);
        return -1;
    }
    s->meta = (struct crash_meta){.name = s->name, .accel = s->accel, .cmdline = s->cmdline,
                                  .image = s->image, .smp = s->smp, .mem_mib = s->mem_mib};
    return 0;
}

void crash_src_close(struct crash_src *s)
{
    if (s->stopped)
        crash_src_thaw(s);
    qmp_close(&s->qmp);
    if (s->map)
        munmap(s->map, s->mem.size);
    if (s->fd >= 0)
        close(s->fd);
    s->map = NULL;
    s->fd = -1;
}

/* Every vCPU's registers through HMP; best effort (a warning if not). */
static void read_vcpus(struct crash_src *s)
{
    json_t *args = json_pack("{s:s}", "command-line", "info registers -a"), *ret = NULL;
    if (qmp_execute(&s->qmp, "human-monitor-command", args, &ret, QMP_MS) != QMP_OK ||
        !json_is_string(ret))
        goto cleanup;
    crash_parse_vcpus(json_string_value(ret), &s->vcpus);
cleanup:
    json_decref(args);
    json_decref(ret);
}

static bool panic_record_done(const struct crash_src *s, struct uk_panic_record *rec)
{
    return s->lay.panic_record && crash_mem_read(&s->mem, s->lay.panic_record, rec, sizeof(*rec)) &&
           rec->magic == UK_PANIC_REC_MAGIC && rec->state == UK_PANIC_REC_DONE;
}

bool crash_src_panicked(const struct crash_src *s)
{
    struct uk_panic_record rec;
    return panic_record_done(s, &rec);
}

int crash_src_freeze(struct crash_src *s, char *err, size_t errlen)
{
    json_t *ret = NULL;
    const char *status = NULL;
    struct uk_panic_record rec;

    /* A complete panic record: the guest parked every CPU; nothing moves. */
    if (panic_record_done(s, &rec)) {
        s->how = CRASH_SRC_PANICKED;
        /* A CPU whose panic NMI left no frame: QEMU (if still there and
         * free) knows its registers. */
        bool missing = false;
        for (unsigned c = 0; c < s->smp && c < UK_PANIC_REC_CPUS; c++)
            missing |= (int)c != rec.cpu && !rec.stopped[c];
        if (missing && s->pid > 0 && util_pid_alive(s->pid) &&
            qmp_connect(&s->qmp, s->qmp_socket, 300) == QMP_OK &&
            qmp_handshake(&s->qmp, 500) == QMP_OK)
            read_vcpus(s);
        qmp_close(&s->qmp);
        return 0;
    }
    if (s->pid <= 0 || !util_pid_alive(s->pid)) {
        s->how = CRASH_SRC_KEPT;
        return 0;
    }
    if (qmp_connect(&s->qmp, s->qmp_socket, 500) != QMP_OK ||
        qmp_handshake(&s->qmp, QMP_MS) != QMP_OK ||
        qmp_execute(&s->qmp, "query-status", NULL, &ret, QMP_MS) != QMP_OK) {
        /* A foreground `ukctl run` holds the only QMP connection. */
        s->how = CRASH_SRC_UNSTOPPED;
        qmp_close(&s->qmp);
        return 0;
    }
    status = json_string_value(json_object_get(ret, "status"));
    if (status && strcmp(status, "running")) {
        s->how = CRASH_SRC_PAUSED;
        read_vcpus(s);
        json_decref(ret);
        return 0;
    }
    json_decref(ret);
    s->t_stop = now_ms();
    if (qmp_execute(&s->qmp, "stop", NULL, NULL, QMP_MS) != QMP_OK) {
        snprintf(err, errlen, "Failed to stop the guest: %s", s->qmp.err);
        return -1;
    }
    s->stopped = true;
    s->how = CRASH_SRC_LIVE;
    read_vcpus(s);
    return 0;
}

int crash_src_thaw(struct crash_src *s)
{
    if (!s->stopped)
        return 0;
    s->stopped = false;
    int rc = qmp_execute(&s->qmp, "cont", NULL, NULL, QMP_MS) == QMP_OK ? 0 : -1;
    s->pause_ms = now_ms() - s->t_stop;
    return rc;
}

const char *crash_src_how(enum crash_src_how h)
{
    switch (h) {
    case CRASH_SRC_PANICKED:
        return "panicked guest (read in place)";
    case CRASH_SRC_KEPT:
        return "RAM file of a stopped instance";
    case CRASH_SRC_PAUSED:
        return "paused guest (read in place)";
    case CRASH_SRC_LIVE:
        return "live guest (stopped for the copy)";
    default:
        return "running guest, not stopped (QMP busy): the core may be inconsistent";
    }
}

int crash_dump(struct crash_src *s, enum crash_level level, const char *out,
               struct crash_state *st, long *size, char *err, size_t errlen)
{
    int rc = -1, fd = -1;
    if (crash_src_freeze(s, err, errlen) < 0)
        return -1;
    crash_read(st, &s->mem, &s->lay, level, &s->vcpus);
    if (s->how == CRASH_SRC_UNSTOPPED)
        crash_warn(st, "the guest kept running during the copy (QMP busy)");
    s->meta.level = crash_level_name(level);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "Failed to create %s: %s", out, strerror(errno));
        goto cleanup;
    }
    *size = crash_core_write(fd, st, &s->mem, &s->lay, &s->meta, err, errlen);
    if (*size < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "Failed to write %s: %s", out, strerror(errno));
        rc = -1;
    }
    if (crash_src_thaw(s) < 0 && rc == 0) {
        snprintf(err, errlen, "Failed to resume the guest: %s", s->qmp.err);
        rc = -1;
    }
    return rc;
}
