/*
 * Capturing a bundle: core, unwound and symbolized report, console tail,
 * trace and metrics snapshots, the image kept per build-id, then the store
 * (index, retention).  Also `ukctl run`'s hook on a panic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "util.h"

#include "crash_bundle.h"

/* Keep the image once per build-id: copied under a temporary name, then
 * renamed, so a capture of the same build running at the same time sees
 * the whole image or none (a half-copied one symbolized nothing). */
static int keep_image(const char *src, const char *img)
{
    char tmp[4200];
    if (util_path(tmp, sizeof(tmp), "%s.tmp-%d", img, (int)getpid()) < 0)
        return -1;
    if (crash_copy_file(src, tmp, 0) < 0 || rename(tmp, img) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int crash_bundle_write(const char *run_dir, const char *crash_dir, enum crash_level level,
                       bool verbose, char *path_out, size_t path_len, char *err, size_t errlen)
{
    char dir[4096], id[512], bp[4096], p[4096], img[4096], stamp[32];
    struct crash_src src = {.fd = -1, .qmp.fd = -1};
    struct crash_snapjobs *snaps = NULL;
    struct crash_state *st = malloc(sizeof(*st));
    json_t *rep = NULL;
    int rc = -1;
    long size = 0;
    double t0 = now_ms();
    time_t now = time(NULL);
    struct tm tm;

    if (!st) {
        snprintf(err, errlen, "Failed to allocate: out of memory");
        goto cleanup;
    }
    if (crash_dir)
        snprintf(dir, sizeof(dir), "%s", crash_dir);
    else if (crash_default_dir(dir, sizeof(dir)) < 0) {
        snprintf(err, errlen, "Failed to find the crash dir: set UKSCOPE_CRASH_DIR or HOME");
        goto cleanup;
    }
    if (crash_src_open(&src, run_dir, err, errlen) < 0)
        goto cleanup;
    if (util_mkdir_p(dir, 0700) < 0) {
        snprintf(err, errlen, "Failed to create %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(id, sizeof(id), "%s-%.200s", stamp, src.name);
        else
            snprintf(id, sizeof(id), "%s-%.200s-%d", stamp, src.name, k);
        for (char *c = id; *c; c++)
            if (*c == '/' || *c < 0x21 || *c > 0x7e)
                *c = '_';
        if (util_path(bp, sizeof(bp), "%s/%s", dir, id) == 0 && mkdir(bp, 0700) == 0)
            break;
        if (errno != EEXIST) {
            snprintf(err, errlen, "Failed to create the bundle in %s: %s", dir, strerror(errno));
            goto cleanup;
        }
    }
    /* A panicked guest does not move: its trace/metrics snapshot children
     * run while the core is written (a live guest's would lengthen its
     * pause: they start after the thaw). */
    if (crash_src_panicked(&src))
        snaps = crash_snapshots_start(run_dir, bp);
    util_path(p, sizeof(p), "%s/core", bp);
    if (crash_dump(&src, level, p, st, &size, err, errlen) < 0)
        goto cleanup;
    crash_unwind(src.image, p, st);
    /* The image, once per build-id, so the bundle outlives a rebuild. */
    if (util_path(img, sizeof(img), "%s/images", dir) < 0 || util_mkdir_p(img, 0700) < 0 ||
        util_path(img, sizeof(img), "%s/images/%s.elf", dir,
                  src.lay.build_id[0] ? src.lay.build_id : "unknown") < 0 ||
        (access(img, R_OK) != 0 && keep_image(src.image, img) < 0)) {
        crash_warn(st, "could not keep a copy of %s", src.image);
        snprintf(img, sizeof(img), "%s", src.image);
    }
    rep = crash_report_json(&src, st, img, id);
    json_object_set_new(rep, "image", json_string(img));
    json_object_set_new(rep, "level", json_string(crash_level_name(level)));
    json_object_set_new(rep, "core_bytes", json_integer(size));
    json_object_set_new(rep, "capture", json_string(crash_src_how(src.how)));
    util_path(p, sizeof(p), "%s/console.tail", bp);
    if (crash_copy_file(src.console_log, p, CONSOLE_TAIL) < 0)
        crash_warn(st, "could not copy the console tail");
    crash_src_thaw(&src);
    if (!snaps)
        snaps = crash_snapshots_start(run_dir, bp);
    crash_snapshots_finish(snaps, rep);
    snaps = NULL;
    json_object_set_new(rep, "capture_ms", json_real(now_ms() - t0));
    util_path(p, sizeof(p), "%s/report.json", bp);
    if (json_dump_file(rep, p, JSON_INDENT(1)) < 0) {
        snprintf(err, errlen, "Failed to write %s", p);
        goto cleanup;
    }
    util_path(p, sizeof(p), "%s/report.txt", bp);
    if (crash_report_txt(rep, p) < 0) {
        snprintf(err, errlen, "Failed to write %s: %s", p, strerror(errno));
        goto cleanup;
    }
    if (crash_store_add(dir, rep, err, errlen) < 0)
        goto cleanup;
    if (path_out)
        snprintf(path_out, path_len, "%s", bp);
    if (verbose)
        printf("%s\n", bp);
    rc = 0;
cleanup:
    if (snaps) { /* failed after starting them: reap them */
        json_t *dummy = json_object();
        crash_snapshots_finish(snaps, dummy);
        json_decref(dummy);
    }
    json_decref(rep);
    crash_src_close(&src);
    free(st);
    return rc;
}

enum crash_level crash_bundle_level(void)
{
    const char *e = getenv("UKSCOPE_CRASH_LEVEL");
    int l = e && *e ? crash_level_parse(e) : CRASH_LEVEL_MINIMAL;
    if (l < 0) {
        ukctl_err("UKSCOPE_CRASH_LEVEL=%s is not minimal, heap or full: using minimal", e);
        l = CRASH_LEVEL_MINIMAL;
    }
    return (enum crash_level)l;
}

#define CLAIM_PREFIX "crash-claim."

int crash_claim(const char *run_dir, char *err, size_t errlen)
{
    struct instance_summary sum;
    char name[64], path[4200];
    DIR *d;
    struct dirent *e;
    int fd;

    if (instance_read(run_dir, &sum, err, errlen) < 0) {
        if (errno != EINVAL)
            snprintf(err, errlen, "Failed to read %s/instance.json: %s", run_dir, strerror(errno));
        return -1;
    }
    /* One file per boot (QEMU pid and start time): no stale claim to clean
     * up under a race; claims of earlier boots in a kept run dir go. */
    snprintf(name, sizeof(name), CLAIM_PREFIX "%d-%llu", (int)sum.pid, sum.qemu_start_time);
    if ((d = opendir(run_dir)) != NULL) {
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, CLAIM_PREFIX, strlen(CLAIM_PREFIX)) &&
                strcmp(e->d_name, name) && util_path(path, sizeof(path), "%s/%s", run_dir,
                                                     e->d_name) == 0)
                unlink(path);
        closedir(d);
    }
    if (util_path(path, sizeof(path), "%s/%s", run_dir, name) < 0) {
        snprintf(err, errlen, "Failed to claim the crash: run dir path too long");
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dprintf(fd, "%d\n", (int)getpid());
        close(fd);
        return 1;
    }
    if (errno == EEXIST)
        return 0;
    snprintf(err, errlen, "Failed to create %s: %s", path, strerror(errno));
    return -1;
}

void crash_on_panic(const char *run_dir)
{
    char err[512], path[4096];
    const char *e = getenv("UKSCOPE_CRASH_DIR");
    double t0 = now_ms();
    int claimed;
    if (e && !strcmp(e, "off"))
        return;
    /* A collector watching this instance may be writing its bundle already. */
    if ((claimed = crash_claim(run_dir, err, sizeof(err))) == 0) {
        ukctl_err("crash bundle: another process (ukcollectd) writes this panic's bundle");
        return;
    }
    if (claimed < 0)
        ukctl_err("%s; writing the bundle anyway", err);
    if (crash_bundle_write(run_dir, NULL, crash_bundle_level(), false, path, sizeof(path), err,
                           sizeof(err)) < 0) {
        ukctl_err("Failed to write a crash bundle: %s", err);
        return;
    }
    ukctl_err("crash bundle written in %.0f ms: %s (ukctl crash ls)", now_ms() - t0, path);
}
