/*
 * The files of one `ukctl run` (see docs/security.md): the run dir, checked
 * before anything is written in it; the files QEMU opens by name, created
 * 0600 by ukctl first; and the control token, which goes to the guest
 * through RUN/token and fw_cfg, never through QEMU's argv.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uk/cmdline.h>

#include "instance.h"
#include "run_ctx.h"
#include "util.h"

_Static_assert(RUN_TOKEN_MAX == UK_SECRET_MAX, "the guest must accept every token ukctl sends");

/*
 * The default parent ($XDG_RUNTIME_DIR/ukscope or /tmp/ukscope-$UID): made
 * 0700 if missing, else it must be ours and private; in /tmp anyone could
 * have made it first, or planted a symlink there.
 */
static int open_default_parent(const char *parent)
{
    char up[PATH_MAX], why[256];
    int fd;

    snprintf(up, sizeof(up), "%s", parent);
    if (util_mkdir_p(dirname(up), 0700) < 0) {
        ukctl_err("Failed to create %s: %s", up, strerror(errno));
        return -1;
    }
    fd = util_open_private_dir(parent, true, why, sizeof(why));
    if (fd < 0) {
        ukctl_err("Failed to use run parent dir %s: %s", parent, why);
        return -1;
    }
    close(fd);
    return 0;
}

/* Create the files QEMU opens by name, exactly 0600, before QEMU runs. */
static int create_files(struct run_ctx *c)
{
    static const char *const files[] = {"ram", "console.log"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int fd = util_create_file(c->dir_fd, files[i], O_WRONLY, 0600);

        if (fd < 0) {
            ukctl_err("Failed to create %s/%s: %s", c->run_dir, files[i], strerror(errno));
            return -1;
        }
        close(fd);
    }
    return 0;
}

/* A token we can hand to the guest: 1..RUN_TOKEN_MAX visible ASCII bytes. */
static bool token_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > RUN_TOKEN_MAX)
        return false;
    for (; *t; t++)
        if (*t <= ' ' || *t > '~')
            return false;
    return true;
}

/* Read --token-file: one line of at most RUN_TOKEN_MAX visible characters. */
static int read_token_file(const char *path, char *tok, size_t len)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ukctl_err("Failed to open token file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ukctl_err("Failed to read token file %s: not a regular file", path);
        close(fd);
        return -1;
    }
    n = read(fd, tok, len - 1);
    close(fd);
    if (n < 0) {
        ukctl_err("Failed to read token file %s: %s", path, strerror(errno));
        return -1;
    }
    tok[n] = '\0';
    tok[strcspn(tok, "\r\n")] = '\0';
    if (!token_ok(tok) || (size_t)n >= len - 1) {
        ukctl_err("Failed to read token file %s: want one line of 1..%d printable ASCII "
                  "characters without spaces",
                  path, RUN_TOKEN_MAX);
        return -1;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
        fprintf(stderr, "ukctl: note: token file %s is readable by group or others\n", path);
    return 0;
}

/*
 * Pick the control token (--token-file, a token= word moved out of
 * --cmdline, or a random one) and write it to RUN/token (0600), which QEMU
 * hands to the guest through fw_cfg.  The command line keeps no token.
 */
int setup_token(struct run_ctx *c)
{
    char tok[RUN_TOKEN_MAX + 4], cltok[RUN_TOKEN_MAX + 4];
    int fd, found, ret = -1;

    found =
        run_cmdline_take_token(c->o.cmdline, c->cmdline, sizeof(c->cmdline), cltok, sizeof(cltok));
    if (found < 0) {
        ukctl_err(errno == EINVAL ? "invalid token= in --cmdline (quoted, or longer than %d)"
                                  : "--cmdline too long (max %d bytes)",
                  errno == EINVAL ? RUN_TOKEN_MAX : (int)sizeof(c->cmdline) - 1);
        return -1;
    }
    if (found == 0) /* keep the user's spacing and quoting untouched */
        snprintf(c->cmdline, sizeof(c->cmdline), "%s", c->o.cmdline ? c->o.cmdline : "");
    if (found && c->o.token_file) {
        ukctl_err("token= in --cmdline conflicts with --token-file");
        return -1;
    }
    if (c->o.token_file) {
        if (read_token_file(c->o.token_file, tok, sizeof(tok)) < 0)
            return -1;
    } else if (found) {
        if (!token_ok(cltok)) {
            ukctl_err("invalid token= in --cmdline: want 1..%d printable ASCII characters",
                      RUN_TOKEN_MAX);
            return -1;
        }
        snprintf(tok, sizeof(tok), "%s", cltok);
        fprintf(stderr, "ukctl: note: token= moved from --cmdline to the run dir's token file "
                        "(QEMU's argv is visible to every local user; use --token-file)\n");
    } else if (util_random_hex(tok, sizeof(tok), RUN_TOKEN_RANDOM_BYTES) < 0) {
        ukctl_err("Failed to generate a token: %s", strerror(errno));
        return -1;
    }
    if (util_path(c->token_path, sizeof(c->token_path), "%s/token", c->run_dir) < 0) {
        ukctl_err("Failed to name the token file: %s", strerror(errno));
        goto cleanup;
    }
    fd = util_create_file(c->dir_fd, "token", O_WRONLY, 0600);
    if (fd < 0 || dprintf(fd, "%s\n", tok) < 0) {
        ukctl_err("Failed to write %s: %s", c->token_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto cleanup;
    }
    close(fd);
    ret = 0;
cleanup:
    memset(tok, 0, sizeof(tok));
    memset(cltok, 0, sizeof(cltok));
    return ret;
}

int prepare_run_dir(struct run_ctx *c)
{
    struct instance_summary live;
    char parent[PATH_MAX], tmp[PATH_MAX], ierr[512], why[256];
    int fd;

    if (c->o.run_dir) {
        snprintf(tmp, sizeof(tmp), "%s", c->o.run_dir);
        snprintf(parent, sizeof(parent), "%s", dirname(tmp));
        snprintf(tmp, sizeof(tmp), "%s", c->o.run_dir);
        if (util_mkdir_p(parent, 0700) < 0) {
            ukctl_err("Failed to create %s: %s", parent, strerror(errno));
            return -1;
        }
    } else if (util_default_parent(parent, sizeof(parent)) < 0 ||
               util_path(tmp, sizeof(tmp), "%s/%s", parent, c->name) < 0) {
        ukctl_err("Failed to name run dir: %s", strerror(errno));
        return -1;
    } else if (open_default_parent(parent) < 0) {
        return -1;
    }
    /* Check the run dir before touching anything in it: another user's dir,
     * or one others can write to, could hold planted files or symlinks. */
    if ((fd = util_open_private_dir(tmp, true, why, sizeof(why))) < 0) {
        ukctl_err("Failed to use run dir %s: %s", tmp, why);
        return -1;
    }
    close(fd);
    if (instance_read(tmp, &live, ierr, sizeof(ierr)) == 0 &&
        instance_is_ours(&live, ierr, sizeof(ierr))) {
        ukctl_err("run dir %s holds a live instance (pid %d); refusing to start", tmp,
                  (int)live.pid);
        return -1;
    }
    util_remove_run_dir(tmp); /* stale files of a dead instance, if any */
    /* Again: the dir may have been removed and made anew in between. */
    if ((c->dir_fd = util_open_private_dir(tmp, true, why, sizeof(why))) < 0) {
        ukctl_err("Failed to use run dir %s: %s", tmp, why);
        return -1;
    }
    c->made_dir = true;
    if (!realpath(tmp, c->run_dir)) {
        snprintf(c->run_dir, sizeof(c->run_dir), "%s", tmp);
        ukctl_err("Failed to resolve run dir %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* The longest socket name in the run dir (see util.c run_dir_files). */
    if (strlen(c->run_dir) + sizeof("/gdb-virtio.sock") >
        sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ukctl_err("run dir path too long for unix sockets: %s", c->run_dir);
        return -1;
    }
    return create_files(c);
}
