/*
 * Small host-side helpers shared by the ukctl subcommands.
 *
 * Unless stated otherwise functions return 0 on success and -1 on failure
 * with errno set; none of them print.
 */
#ifndef UKCTL_UTIL_H
#define UKCTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* Print "ukctl: <formatted message>\n" on stderr. */
void ukctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parent directory of the default run dirs: $XDG_RUNTIME_DIR/ukscope when that
 * variable is set and non-empty, else /tmp/ukscope-$UID.  Not created here.
 */
int util_default_parent(char *buf, size_t len);

/* mkdir -p with `mode` for every directory created. */
int util_mkdir_p(const char *path, mode_t mode);

/*
 * Open the directory `path` (mkdir'ing it 0700 first when `create`) and
 * check that it is private enough to hold an instance: a real directory (not
 * a symlink), owned by the effective user, not writable by group or others.
 * Returns an O_DIRECTORY fd, or -1 with a reason ("is a symlink", "owned by
 * uid 65534, not by you", ...) in why.
 */
int util_open_private_dir(const char *path, bool create, char *why, size_t whylen);

/*
 * Create `name` in the directory dirfd: O_CREAT|O_EXCL|O_NOFOLLOW (a file or
 * symlink already there is an error, EEXIST), mode exactly `mode` whatever
 * the umask.  Returns the fd (O_CLOEXEC, `flags` added: O_WRONLY, O_RDWR).
 */
int util_create_file(int dirfd, const char *name, int flags, mode_t mode);

/* `n` random bytes from getrandom(2) as 2n lowercase hex digits in buf. */
int util_random_hex(char *buf, size_t len, size_t n);

/*
 * What identifies a process beyond its (reusable) pid: its start time in
 * clock ticks since boot (field 22 of /proc/PID/stat) and the target of
 * /proc/PID/exe.  ukctl records both for the QEMU it starts and checks them
 * before signalling a pid read back from instance.json.
 */
struct util_proc_id {
    unsigned long long start_time;
    char exe[4096];
};

/* Read pid's identity; -1 with errno (ENOENT: no such process). */
int util_proc_identity(pid_t pid, struct util_proc_id *id);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, close). */
int util_free_port(unsigned *port);

/* True if `pid` exists and is not a zombie. */
bool util_pid_alive(pid_t pid);

/* 0 if `path` is a readable ELF file; -1 with errno (ENOEXEC if not ELF). */
int util_check_elf(const char *path);

/* True if /dev/kvm opens read-write and answers KVM_GET_API_VERSION. */
bool util_kvm_usable(void);

/*
 * True if the host's KVM is kvm_pvm (Pagetable-based Virtual Machine).  PVM
 * runs PVM-aware guests natively but emulates other guests instruction by
 * instruction, so for our kernel it is far slower than TCG.
 */
bool util_kvm_is_pvm(void);

/*
 * Resolve a program name the way execvp would (PATH search when it has no
 * slash) into buf.  -1 with ENOENT when no executable file is found.
 */
int util_find_program(const char *prog, char *buf, size_t len);

/* Current time as ISO 8601 UTC, e.g. 2024-05-01T12:00:00Z. */
void util_now_iso8601(char *buf, size_t len);

/* snprintf into buf; -1 with ENAMETOOLONG if it did not fit. */
int util_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The per-user state path of SUB (XDG base directories): $XDG_STATE_HOME/SUB,
 * else $HOME/.local/state/SUB.  -1 (ENOENT) when neither is set, or
 * ENAMETOOLONG.  The crash dir, the collector's state and its token live there.
 */
int util_state_path(char *buf, size_t len, const char *sub);

/*
 * A non-blocking, close-on-exec AF_UNIX stream connection to DIR/NAME: the fd
 * (connected, or in progress: wait for EPOLLOUT/EPOLLIN), or -1 with errno
 * (ENAMETOOLONG when the path does not fit sun_path).
 */
int util_unix_connect(const char *dir, const char *name);

/*
 * Remove the files ukctl creates in a run dir (ram, sockets, instance.json,
 * logs), then the dir itself.  Foreign files are left alone, in which case
 * the dir stays too.  Missing files are not an error.
 */
int util_remove_run_dir(const char *run_dir);

/*
 * Read the JSON file `path`.  NULL on failure, with `err` naming the path once
 * and why ("PATH: No such file or directory", "PATH: <parse error> (line N)");
 * jansson's own message for a missing file would repeat the path.
 */
json_t *util_json_load(const char *path, char *err, size_t errlen);

/*
 * Find a file that ships with ukscope's sources (a gdb or drgn helper), given
 * its path relative to the source tree (e.g. "gdbstub/host/uk-gdb.py"), in:
 * $UKSCOPE_SRCDIR; the tree around the running binary (<tree>/build/bin);
 * <prefix>/share/ukscope/<basename> next to an installed <prefix>/bin; the
 * source tree this binary was built from.  0 with the path in buf, or -1.
 */
int util_find_shipped(const char *rel, char *buf, size_t len);

#endif
