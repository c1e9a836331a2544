/*
 * Helpers that keep what ukctl touches its own (see util.h and
 * docs/security.md): private directories, files created without following
 * symlinks, random tokens, and a process identity that outlives pid reuse.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int util_open_private_dir(const char *path, bool create, char *why, size_t whylen)
{
    struct stat st;
    int fd;

    if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat lst;

        if (e == ELOOP || (e == ENOTDIR && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)))
            snprintf(why, whylen, "is a symlink");
        else if (e == ENOTDIR)
            snprintf(why, whylen, "not a directory");
        else
            snprintf(why, whylen, "%s", strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        goto fail;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, whylen, "owned by uid %u, not by you (uid %u)", (unsigned)st.st_uid,
                 (unsigned)geteuid());
        errno = EPERM;
        goto fail;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, whylen, "writable by group or others (mode %04o; want 0700)",
                 (unsigned)(st.st_mode & 07777));
        errno = EPERM;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

int util_create_file(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0)
        return -1;
    /* The umask may have taken bits away; never add any beyond `mode`. */
    if (fchmod(fd, mode) < 0) {
        int e = errno;

        close(fd);
        unlinkat(dirfd, name, 0);
        errno = e;
        return -1;
    }
    return fd;
}

int util_random_hex(char *buf, size_t len, size_t n)
{
    unsigned char raw[64];
    size_t i, got = 0;

    if (n > sizeof(raw) || len < 2 * n + 1) {
        errno = EINVAL;
        return -1;
    }
    while (got < n) {
        ssize_t r = getrandom(raw + got, n - got, 0);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    for (i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", raw[i]);
    memset(raw, 0, sizeof(raw));
    return 0;
}

int util_proc_identity(pid_t pid, struct util_proc_id *id)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd, field;

    memset(id, 0, sizeof(*id));
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        errno = ESRCH;
        return -1;
    }
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parens: fields resume after the last ')'. */
    p = strrchr(buf, ')');
    if (!p) {
        errno = EINVAL;
        return -1;
    }
    for (field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &id->start_time) != 1) {
        errno = EINVAL;
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, id->exe, sizeof(id->exe) - 1);
    if (n < 0)
        return -1;
    id->exe[n] = '\0';
    return 0;
}
