/*
 * A run dir as the source of a core (dump.c), bundles (bundle.c) and the
 * gdb fallback.  Part of the crash library's public interface (crash.h is
 * the memory/core layer; this is the run-dir layer above it).
 */
#ifndef UKCTL_CRASH_DUMP_H
#define UKCTL_CRASH_DUMP_H

#include <sys/types.h>

#include "qmp.h"

#include "crash.h"

/* How the guest was held while its memory was read. */
enum crash_src_how {
    CRASH_SRC_NONE = 0,
    CRASH_SRC_PANICKED,  /* panic record complete: all CPUs parked */
    CRASH_SRC_KEPT,      /* QEMU gone, RAM file kept */
    CRASH_SRC_PAUSED,    /* QEMU had it paused already */
    CRASH_SRC_LIVE,      /* running: stopped with QMP for the copy */
    CRASH_SRC_UNSTOPPED, /* running and QMP busy: read as is */
};
const char *crash_src_how(enum crash_src_how h);

struct crash_src {
    char run_dir[4096], name[256], accel[16], cmdline[4096], image[4096], ram_file[4096],
        qmp_socket[4096], console_log[4096], started_at[64];
    unsigned smp, mem_mib;
    pid_t pid;
    int fd;
    uint8_t *map;
    struct crash_mem mem;
    struct crash_layout lay;
    struct crash_meta meta;
    struct crash_vcpus vcpus;
    struct qmp qmp;
    enum crash_src_how how;
    bool stopped;
    double t_stop, pause_ms; /* pause_ms: how long a live guest was stopped */
};

/* Read RUN/instance.json, kernel.elf's layout, and map RUN's RAM file. */
int crash_src_open(struct crash_src *s, const char *run_dir, char *err, size_t errlen);

/* True when the guest's panic record is complete (every CPU parked). */
bool crash_src_panicked(const struct crash_src *s);

/* Hold the guest still if it runs (see dump.c); sets s->how. */
int crash_src_freeze(struct crash_src *s, char *err, size_t errlen);

/* Resume a guest crash_src_freeze stopped; records s->pause_ms. */
int crash_src_thaw(struct crash_src *s);

/* Thaw if needed, unmap, close. */
void crash_src_close(struct crash_src *s);

/*
 * Freeze, read (crash_read into *st, which is large: allocate it), write
 * the core to `out` (created 0600), thaw.  *size = the core's bytes.
 */
int crash_dump(struct crash_src *s, enum crash_level level, const char *out,
               struct crash_state *st, long *size, char *err, size_t errlen);

/* The gdb helper uk-gdb.py, found by util_find_shipped(); "" if not found. */
void crash_gdb_helper(char *buf, size_t len);

/*
 * For `ukctl gdb`'s hook: true when RUN's guest cannot serve the gdbstub —
 * it panicked (panic record complete) without `gdb=postmortem` on its
 * command line, or QEMU is gone and the RAM file was kept.
 */
bool crash_gdb_unservable(const char *run_dir);

/*
 * The `ukctl gdb` fallback for a guest that cannot serve the stub (paused
 * by pvpanic without gdb=postmortem, or QEMU gone): take a minimal dump
 * into RUN/postmortem.core, say so on stderr, and exec gdb on kernel.elf +
 * core with the helper loaded.  `batch_file` (may be NULL) is passed as
 * gdb's -x after the helper, with -batch.  Returns only on failure (-1).
 */
int crash_gdb_fallback(const char *run_dir, const char *batch_file);

/*
 * Write a crash bundle for RUN (bundle.c) into crash_dir (NULL: the
 * default, see docs/postmortem.md).  Prints the bundle path on stdout when
 * `verbose`.  0 / -1 with err.
 */
int crash_bundle_write(const char *run_dir, const char *crash_dir, enum crash_level level,
                       bool verbose, char *path_out, size_t path_len, char *err, size_t errlen);

/* A bundle's core level: $UKSCOPE_CRASH_LEVEL (minimal|heap|full), default minimal. */
enum crash_level crash_bundle_level(void);

/*
 * Claim the bundle of RUN's current boot (QEMU pid and start time from
 * instance.json) so that `ukctl run` and ukcollectd, both watching a
 * panic, write one bundle: creates RUN/crash-claim.PID-START exclusively.
 * 1 = claimed (write it), 0 = another process claimed it, -1 = error (err).
 */
int crash_claim(const char *run_dir, char *err, size_t errlen);

/*
 * `ukctl run`'s hook on GUEST_PANICKED: write a minimal bundle to the
 * default crash dir (UKSCOPE_CRASH_DIR=off disables it) and say where on
 * stderr; failures are reported, never fatal.
 */
void crash_on_panic(const char *run_dir);

/*
 * Default bundle parent: $UKSCOPE_CRASH_DIR, $XDG_STATE_HOME/ukscope/crashes,
 * ~/.local/state/ukscope/crashes (store.c: ukctl and ukcollectd agree).
 */
int crash_default_dir(char *buf, size_t len);

/* `ukctl dump` and `ukctl crash` (crash_cmd.c). */
int dump_main(int argc, char **argv);
int crash_main(int argc, char **argv);

#endif
