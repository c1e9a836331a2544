/* Host-side helpers for ukctl; see util.h for the contracts. */
#define _GNU_SOURCE
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Files a run dir may hold, all created by ukctl or the QEMU it starts. */
static const char *const run_dir_files[] = {
    "ram",         "gdb.sock",          "qmp.sock",        "instance.json",  "qemu.log",
    "console.log", "instance.json.tmp", "gdb-virtio.sock", "telemetry.sock", "qmp-tools.sock",
    "token",       "qmp-collector.sock",
};

void ukctl_err(const char *fmt, ...)
{
    va_list ap;

    fputs("ukctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int util_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int util_state_path(char *buf, size_t len, const char *sub)
{
    const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

    if (x && *x)
        return util_path(buf, len, "%s/%s", x, sub);
    if (home && *home)
        return util_path(buf, len, "%s/.local/state/%s", home, sub);
    errno = ENOENT;
    return -1;
}

int util_default_parent(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");

    if (xdg && *xdg)
        return util_path(buf, len, "%s/ukscope", xdg);
    return util_path(buf, len, "/tmp/ukscope-%u", (unsigned)getuid());
}

int util_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    char *p;

    if (util_path(tmp, sizeof(tmp), "%s", path) < 0)
        return -1;
    for (p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int util_free_port(unsigned *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t salen = sizeof(sa);
    int fd, ret = -1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto cleanup;
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
        goto cleanup;
    *port = ntohs(sa.sin_port);
    ret = 0;
cleanup:
    close(fd);
    return ret;
}

bool util_pid_alive(pid_t pid)
{
    char path[64], buf[512];
    char *rp;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno != EPERM)
        return false;
    /* A zombie nobody reaps (e.g. in a container without init) is dead. */
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
        return false;
    return true;
}

int util_check_elf(const char *path)
{
    unsigned char magic[4];
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : ENOEXEC;
        return -1;
    }
    n = read(fd, magic, sizeof(magic));
    close(fd);
    if (n != sizeof(magic) || memcmp(magic,
                                     "\x7f"
                                     "ELF",
                                     4) != 0) {
        errno = ENOEXEC;
        return -1;
    }
    return 0;
}

bool util_kvm_usable(void)
{
    int fd, ver;

    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    ver = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    return ver >= 0;
}

bool util_kvm_is_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int util_find_program(const char *prog, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    const char *p, *end;

    if (!*prog) {
        errno = ENOENT;
        return -1;
    }
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) < 0)
            return -1;
        return util_path(buf, len, "%s", prog);
    }
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path; *p; p = *end ? end + 1 : end) {
        struct stat st;

        end = strchrnul(p, ':');
        if (end == p)
            continue;
        if (util_path(buf, len, "%.*s/%s", (int)(end - p), p, prog) < 0)
            continue;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return 0;
    }
    errno = ENOENT;
    return -1;
}

void util_now_iso8601(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int util_remove_run_dir(const char *run_dir)
{
    char path[4096];
    size_t i;
    int ret = 0;

    for (i = 0; i < sizeof(run_dir_files) / sizeof(run_dir_files[0]); i++) {
        if (util_path(path, sizeof(path), "%s/%s", run_dir, run_dir_files[i]) < 0)
            return -1;
        if (unlink(path) < 0 && errno != ENOENT)
            ret = -1;
    }
    if (rmdir(run_dir) < 0 && errno != ENOENT)
        ret = -1;
    return ret;
}

json_t *util_json_load(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    o = json_loadfd(fd, 0, &jerr);
    close(fd);
    if (!o) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        errno = EINVAL;
    }
    return o;
}

#ifndef UKSCOPE_SRCDIR
#define UKSCOPE_SRCDIR "."
#endif

int util_find_shipped(const char *rel, char *buf, size_t len)
{
    char exe[4096], *slash;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    const char *env = getenv("UKSCOPE_SRCDIR");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (env && util_path(buf, len, "%s/%s", env, rel) == 0 && access(buf, R_OK) == 0)
        return 0;
    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')))
            *slash = '\0';
        if (util_path(buf, len, "%s/../../%s", exe, rel) == 0 && access(buf, R_OK) == 0)
            return 0;
        if (util_path(buf, len, "%s/../share/ukscope/%s", exe, base) == 0 &&
            access(buf, R_OK) == 0)
            return 0;
    }
    if (util_path(buf, len, "%s/%s", UKSCOPE_SRCDIR, rel) == 0 && access(buf, R_OK) == 0)
        return 0;
    buf[0] = '\0';
    return -1;
}

int util_unix_connect(const char *dir, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, e;

    if (util_path(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
