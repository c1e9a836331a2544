/*
 * The crash dir: bundle directories, images/<build-id>.elf, index.json
 * (groups by signature: counts, first/last seen, instances), retention
 * (newest N per signature, then a byte budget; counts never decrease).
 * Writers serialise on DIR/.lock so instances crashing together do not
 * lose updates.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#include "crash_bundle.h"

int crash_default_dir(char *buf, size_t len)
{
    const char *e = getenv("UKSCOPE_CRASH_DIR");

    if (e && *e)
        return util_path(buf, len, "%s", e);
    return util_state_path(buf, len, "ukscope/crashes");
}

#define MAX_INSTANCES 64 /* instance names remembered per group */

int crash_store_lock(const char *dir)
{
    char p[4096];
    if (util_mkdir_p(dir, 0700) < 0 || util_path(p, sizeof(p), "%s/.lock", dir) < 0)
        return -1;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

json_t *crash_store_index(const char *dir)
{
    char p[4096];
    json_t *ix = NULL;
    if (util_path(p, sizeof(p), "%s/index.json", dir) == 0)
        ix = json_load_file(p, 0, NULL);
    if (!json_is_object(ix)) {
        json_decref(ix);
        ix = json_pack("{s:{}}", "groups");
    }
    if (!json_is_object(json_object_get(ix, "groups")))
        json_object_set_new(ix, "groups", json_object());
    return ix;
}

static int write_index(const char *dir, json_t *ix)
{
    char p[4096], tmp[4096];
    if (util_path(p, sizeof(p), "%s/index.json", dir) < 0 ||
        util_path(tmp, sizeof(tmp), "%s/.index.json.tmp", dir) < 0)
        return -1;
    if (json_dump_file(ix, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0)
        return -1;
    return rename(tmp, p);
}

/* Bytes of the regular files under path, `depth` levels down (bundles hold
 * one level of subdirectories: trace-ctf/). */
static long long dir_bytes(const char *path, int depth)
{
    DIR *d = opendir(path);
    struct dirent *e;
    long long n = 0;
    char p[4096];
    struct stat st;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && util_path(p, sizeof(p), "%s/%s", path, e->d_name) == 0 &&
            lstat(p, &st) == 0) {
            if (S_ISREG(st.st_mode))
                n += st.st_blocks * 512LL;
            else if (S_ISDIR(st.st_mode) && depth > 0)
                n += dir_bytes(p, depth - 1);
        }
    if (d)
        closedir(d);
    return n;
}

/* rm -r of a bundle, at most `depth` levels of subdirectories; symlinks are
 * removed, never followed. */
static int rm_tree(const char *path, int depth)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[4096];
    struct stat st;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            util_path(p, sizeof(p), "%s/%s", path, e->d_name) < 0 || lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0)
            rm_tree(p, depth - 1);
        else
            unlink(p);
    }
    closedir(d);
    return rmdir(path);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

json_t *crash_store_bundles(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    json_t *list = json_array(), **v = NULL;
    size_t n = 0, cap = 0;
    char p[4096], bp[4096];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "images") ||
            util_path(bp, sizeof(bp), "%s/%s", dir, e->d_name) < 0 ||
            util_path(p, sizeof(p), "%s/report.json", bp) < 0)
            continue;
        json_t *r = json_load_file(p, 0, NULL);
        if (!json_is_object(r)) {
            json_decref(r);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            json_t **nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                json_decref(r);
                break;
            }
            v = nv;
        }
        json_t *inst = json_object_get(json_object_get(r, "instance"), "name");
        v[n++] = json_pack("{s:s,s:O,s:O,s:I,s:s,s:O,s:O,s:O}", "id", e->d_name, "signature",
                           json_object_get(r, "signature"), "time", json_object_get(r, "time"),
                           "bytes", (json_int_t)dir_bytes(bp, 1), "path", bp, "instance",
                           inst ? inst : json_null(), "reason", json_object_get(r, "reason"),
                           "message", json_object_get(r, "message"));
        json_decref(r);
    }
    if (d)
        closedir(d);
    qsort(v, n, sizeof(*v), cmp_id);
    for (size_t i = 0; i < n; i++)
        if (v[i])
            json_array_append_new(list, v[i]);
    free(v);
    return list;
}

int crash_store_remove(const char *dir, const char *id)
{
    char bp[4096];
    if (strchr(id, '/') || id[0] == '.' || util_path(bp, sizeof(bp), "%s/%s", dir, id) < 0) {
        errno = EINVAL;
        return -1;
    }
    return rm_tree(bp, 1);
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : def;
    return v && (*end || n < 0) ? def : n;
}

/* Newest N per signature, then the byte budget; never the bundle `keep`. */
static void retain(const char *dir, const char *keep)
{
    json_t *list = crash_store_bundles(dir), *b, *seen = json_object();
    long n = env_long("UKSCOPE_CRASH_KEEP", CRASH_KEEP_PER_SIGNATURE);
    long long budget = env_long("UKSCOPE_CRASH_BUDGET_MB", CRASH_BUDGET_MB) * 1048576LL, total = 0;
    size_t i;
    /* newest first for the per-signature count */
    for (i = json_array_size(list); i-- > 0;) {
        b = json_array_get(list, i);
        const char *sig = json_string_value(json_object_get(b, "signature"));
        const char *id = json_string_value(json_object_get(b, "id"));
        json_int_t c = json_integer_value(json_object_get(seen, sig ? sig : "")) + 1;
        json_object_set_new(seen, sig ? sig : "", json_integer(c));
        if (c > n && strcmp(id, keep) && crash_store_remove(dir, id) == 0)
            json_object_set_new(b, "removed", json_true());
        else
            total += json_integer_value(json_object_get(b, "bytes"));
    }
    for (i = 0; i < json_array_size(list) && total > budget; i++) {
        b = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(b, "id"));
        if (json_object_get(b, "removed") || !strcmp(id, keep))
            continue;
        if (crash_store_remove(dir, id) == 0)
            total -= json_integer_value(json_object_get(b, "bytes"));
    }
    json_decref(seen);
    json_decref(list);
}

static void index_add(json_t *ix, json_t *report)
{
    const char *sig = json_string_value(json_object_get(report, "signature"));
    json_t *groups = json_object_get(ix, "groups"), *g = json_object_get(groups, sig);
    json_t *time = json_object_get(report, "time");
    json_t *name = json_object_get(json_object_get(report, "instance"), "name");
    json_t *frames = json_object_get(json_object_get(report, "thread"), "frames");
    if (!g) {
        g = json_pack("{s:I,s:O,s:[]}", "count", (json_int_t)0, "first_seen", time, "instances");
        json_object_set_new(groups, sig, g);
    }
    json_object_set_new(g, "count", json_integer(json_integer_value(json_object_get(g, "count")) + 1));
    json_object_set(g, "last_seen", time);
    json_object_set(g, "last_id", json_object_get(report, "id"));
    json_object_set(g, "reason", json_object_get(report, "reason"));
    json_object_set(g, "message", json_object_get(report, "message"));
    json_object_set(g, "build_id", json_object_get(report, "build_id"));
    json_object_set(g, "top_frame", json_object_get(json_array_get(frames, 0), "function"));
    json_t *inst = json_object_get(g, "instances"), *x;
    size_t i;
    bool known = false;
    json_array_foreach(inst, i, x) known |= json_equal(x, name);
    if (!known && name && json_array_size(inst) < MAX_INSTANCES)
        json_array_append(inst, name);
    json_object_set_new(g, "instance_count",
                        json_integer(json_integer_value(json_object_get(g, "instance_count")) +
                                     !known));
}

int crash_store_add(const char *dir, json_t *report, char *err, size_t errlen)
{
    int lock = crash_store_lock(dir), rc = -1;
    json_t *ix = NULL;
    if (lock < 0) {
        snprintf(err, errlen, "Failed to lock %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    ix = crash_store_index(dir);
    index_add(ix, report);
    if (write_index(dir, ix) < 0) {
        snprintf(err, errlen, "Failed to write %s/index.json: %s", dir, strerror(errno));
        goto cleanup;
    }
    retain(dir, json_string_value(json_object_get(report, "id")));
    rc = 0;
cleanup:
    if (lock >= 0)
        close(lock);
    json_decref(ix);
    return rc;
}
