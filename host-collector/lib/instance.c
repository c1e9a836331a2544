/* instance.json read/write; see instance.h. */
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static json_t *build_json(const struct instance_info *in)
{
    char path[4096];
    json_t *o, *ports, *argv;
    size_t i;

    o = json_object();
    ports = json_array();
    argv = json_array();
    if (!o || !ports || !argv)
        goto fail;
#define SET(key, val)                                                                              \
    do {                                                                                           \
        if (json_object_set_new(o, key, val) < 0)                                                  \
            goto fail;                                                                             \
    } while (0)
#define SETPATH(key, file)                                                                         \
    do {                                                                                           \
        if (util_path(path, sizeof(path), "%s/%s", in->run_dir, file) < 0)                         \
            goto fail;                                                                             \
        SET(key, json_string(path));                                                               \
    } while (0)
    SET("name", json_string(in->name));
    SET("pid", json_integer(in->pid));
    SET("qemu_start_time", json_integer((json_int_t)in->qemu_start_time));
    SET("qemu_exe", json_string(in->qemu_exe ? in->qemu_exe : ""));
    SET("token_file", json_string(in->token_file ? in->token_file : ""));
    SET("ukctl_pid", json_integer(in->ukctl_pid));
    SET("accel", json_string(in->accel));
    SET("smp", json_integer(in->smp));
    SET("mem_mib", json_integer(in->mem_mib));
    SET("image", json_string(in->image));
    SET("cmdline", json_string(in->cmdline ? in->cmdline : ""));
    SET("run_dir", json_string(in->run_dir));
    SETPATH("console_log", "console.log");
    SETPATH("gdb_socket", "gdb.sock");
    SETPATH("qmp_socket", "qmp-tools.sock"); /* qmp.sock is held by `ukctl run` */
    SETPATH("ram_file", "ram");
    SETPATH("gdb_virtio_socket", "gdb-virtio.sock");
    SETPATH("telemetry_socket", "telemetry.sock");
    for (i = 0; i < in->nfwds; i++) {
        json_t *p = json_pack("{s:i,s:i,s:s}", "host", (json_int_t)in->fwds[i].host, "guest",
                              (json_int_t)in->fwds[i].guest, "proto", "tcp");

        if (json_array_append_new(ports, p) < 0)
            goto fail;
    }
    SET("ports", json_incref(ports));
    SET("started_at", json_string(in->started_at));
    for (i = 0; in->qemu_argv && in->qemu_argv[i]; i++)
        if (json_array_append_new(argv, json_string(in->qemu_argv[i])) < 0)
            goto fail;
    SET("qemu_argv", json_incref(argv));
#undef SET
#undef SETPATH
    json_decref(ports);
    json_decref(argv);
    return o;
fail:
    json_decref(o);
    json_decref(ports);
    json_decref(argv);
    return NULL;
}

int instance_write(const struct instance_info *info)
{
    char tmp[4096], path[4096];
    json_t *o;
    int fd = -1, ret = -1;

    if (util_path(tmp, sizeof(tmp), "%s/%s.tmp", info->run_dir, INSTANCE_FILE) < 0 ||
        util_path(path, sizeof(path), "%s/%s", info->run_dir, INSTANCE_FILE) < 0)
        return -1;
    o = build_json(info);
    if (!o) {
        errno = ENOMEM;
        return -1;
    }
    /* A leftover tmp file (a crash) goes; a symlink planted there fails EEXIST. */
    if (unlink(tmp) < 0 && errno != ENOENT)
        goto cleanup;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto cleanup;
    if (json_dumpfd(o, fd, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || write(fd, "\n", 1) != 1) {
        errno = errno ? errno : EIO;
        goto cleanup;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto cleanup;
    ret = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (ret < 0) {
        int e = errno;

        unlink(tmp);
        errno = e;
    }
    json_decref(o);
    return ret;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t len)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (!s || strlen(s) >= len)
        return -1;
    strcpy(dst, s);
    return 0;
}

int instance_read(const char *run_dir, struct instance_summary *out, char *err, size_t errlen)
{
    char path[4096];
    json_t *o, *pid, *st;
    const char *exe;

    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    if (util_path(path, sizeof(path), "%s/%s", run_dir, INSTANCE_FILE) < 0)
        return -1;
    o = util_json_load(path, err, errlen);
    if (!o)
        return -1;
    pid = json_object_get(o, "pid");
    if (!json_is_object(o) || !json_is_integer(pid) || json_integer_value(pid) <= 0 ||
        json_integer_value(pid) > INT_MAX ||
        copy_str(o, "name", out->name, sizeof(out->name)) < 0 ||
        copy_str(o, "accel", out->accel, sizeof(out->accel)) < 0 ||
        copy_str(o, "run_dir", out->run_dir, sizeof(out->run_dir)) < 0 ||
        copy_str(o, "qmp_socket", out->qmp_socket, sizeof(out->qmp_socket)) < 0) {
        snprintf(err, errlen, "%s: missing or invalid keys", path);
        json_decref(o);
        errno = EINVAL;
        return -1;
    }
    out->pid = (pid_t)json_integer_value(pid);
    st = json_object_get(o, "qemu_start_time");
    exe = json_string_value(json_object_get(o, "qemu_exe"));
    if (json_is_integer(st) && json_integer_value(st) > 0 && exe && *exe &&
        strlen(exe) < sizeof(out->qemu_exe)) {
        out->has_id = true;
        out->qemu_start_time = (unsigned long long)json_integer_value(st);
        strcpy(out->qemu_exe, exe);
    }
    json_decref(o);
    return 0;
}

bool instance_is_ours(const struct instance_summary *in, char *why, size_t whylen)
{
    struct util_proc_id id;

    if (!util_pid_alive(in->pid)) {
        snprintf(why, whylen, "pid %d is not running", (int)in->pid);
        return false;
    }
    if (!in->has_id) {
        snprintf(why, whylen,
                 "%s/%s records no start time and executable for pid %d: cannot tell it is "
                 "the QEMU this instance started",
                 in->run_dir, INSTANCE_FILE, (int)in->pid);
        return false;
    }
    if (util_proc_identity(in->pid, &id) < 0) {
        snprintf(why, whylen, "Failed to inspect pid %d: %s", (int)in->pid, strerror(errno));
        return false;
    }
    if (id.start_time != in->qemu_start_time) {
        snprintf(why, whylen,
                 "pid %d started at another time (tick %llu, recorded %llu): not the QEMU this "
                 "instance started",
                 (int)in->pid, id.start_time, in->qemu_start_time);
        return false;
    }
    if (strcmp(id.exe, in->qemu_exe) != 0) {
        snprintf(why, whylen, "pid %d runs %s, not %s: not the QEMU this instance started",
                 (int)in->pid, id.exe, in->qemu_exe);
        return false;
    }
    return true;
}
