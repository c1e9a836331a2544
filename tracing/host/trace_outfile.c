/*
 * Atomic trace output (see trace_out.h): the writers fill a temporary file
 * or directory created next to the destination (same file system, so the
 * final rename is atomic), and nothing reaches the destination unless the
 * whole trace was written.
 *
 * CTF is a directory: a destination that exists is replaced only if it is
 * a previous CTF trace (nothing in it but `metadata` and `stream_*`), so
 * `-o ~` can never delete a user's files.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_out.h"

static bool trace_entry(const char *name)
{
    return !strcmp(name, "metadata") || !strncmp(name, "stream_", 7);
}

/* 1: dir holds only CTF trace files (or nothing); 0: something else; -1: error. */
static int is_trace_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int ok = 1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !trace_entry(e->d_name))
            ok = 0;
    closedir(d);
    return ok;
}

/* Remove a CTF trace directory (its trace files, then itself). */
static int remove_trace_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (trace_entry(e->d_name))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return rmdir(dir);
}

static mode_t default_mode(bool dir)
{
    mode_t mask = umask(0);
    umask(mask);
    return (dir ? 0777 : 0666) & ~mask;
}

int tout_tmp_create(struct tout *o, bool dir)
{
    struct stat st;
    if (snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-XXXXXX", o->path) >= (int)sizeof(o->tmp)) {
        o->tmp[0] = 0;
        return tout_fail(o, "path too long: %s", o->path);
    }
    if (dir) {
        /* Refuse early, before any work, what tout_tmp_commit would refuse. */
        if (!lstat(o->path, &st) && (!S_ISDIR(st.st_mode) || is_trace_dir(o->path) != 1)) {
            o->tmp[0] = 0;
            return tout_fail(o, "%s exists and is not a CTF trace directory", o->path);
        }
        if (!mkdtemp(o->tmp)) {
            int e = errno;
            o->tmp[0] = 0;
            return tout_fail(o, "cannot create a directory next to %s: %s", o->path, strerror(e));
        }
        chmod(o->tmp, default_mode(true));
        return 0;
    }
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        o->tmp[0] = 0;
        return tout_fail(o, "cannot create a file next to %s: %s", o->path, strerror(e));
    }
    fchmod(fd, default_mode(false));
    o->file = fdopen(fd, "wb");
    if (!o->file) {
        close(fd);
        tout_tmp_remove(o, false);
        return tout_fail(o, "out of memory");
    }
    return 0;
}

int tout_tmp_commit(struct tout *o, bool dir)
{
    if (!o->tmp[0])
        return tout_fail(o, "no output to commit");
    if (!dir) {
        int bad = fflush(o->file) || ferror(o->file);
        if (fclose(o->file))
            bad = 1;
        o->file = NULL;
        if (bad || rename(o->tmp, o->path)) {
            int e = errno;
            tout_tmp_remove(o, false);
            return tout_fail(o, "cannot write %s: %s", o->path, strerror(e));
        }
        o->tmp[0] = 0;
        return 0;
    }
    if (!rename(o->tmp, o->path)) {
        o->tmp[0] = 0;
        return 0;
    }
    /* A previous trace is in the way: swap atomically, then remove it. */
    if ((errno == ENOTEMPTY || errno == EEXIST) && is_trace_dir(o->path) == 1 &&
        !renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_EXCHANGE)) {
        remove_trace_dir(o->tmp); /* now the old trace */
        o->tmp[0] = 0;
        return 0;
    }
    int e = errno;
    tout_tmp_remove(o, true);
    return tout_fail(o, "cannot replace %s: %s", o->path, strerror(e));
}

void tout_tmp_remove(struct tout *o, bool dir)
{
    if (o->file) {
        fclose(o->file);
        o->file = NULL;
    }
    if (o->tmp[0]) {
        if (dir)
            remove_trace_dir(o->tmp);
        else
            unlink(o->tmp);
    }
    o->tmp[0] = 0;
}
