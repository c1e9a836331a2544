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

/* Print "ukctl: <formatted message>\n" on stderr. */
void ukctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parent directory of the default run dirs: $XDG_RUNTIME_DIR/ukscope when that
 * variable is set and non-empty, else /tmp/ukscope-$UID.  Not created here.
 */
int util_default_parent(char *buf, size_t len);

/* mkdir -p with `mode` for every directory created. */
int util_mkdir_p(const char *path, mode_t mode);

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
 * Remove the files ukctl creates in a run dir (ram, sockets, instance.json,
 * logs), then the dir itself.  Foreign files are left alone, in which case
 * the dir stays too.  Missing files are not an error.
 */
int util_remove_run_dir(const char *run_dir);

#endif
