/*
 * Crash bundles and their store (bundle.c: reports; store.c: the crash
 * dir, index.json, retention).  Layout: docs/postmortem.md.
 */
#ifndef UKCTL_CRASH_BUNDLE_H
#define UKCTL_CRASH_BUNDLE_H

#include <jansson.h>

#include "crash_dump.h"

/* Retention defaults (UKSCOPE_CRASH_KEEP, UKSCOPE_CRASH_BUDGET_MB override). */
#define CRASH_KEEP_PER_SIGNATURE 5
#define CRASH_BUDGET_MB 1024
#define CONSOLE_TAIL (64 << 10) /* bytes of console.log a bundle keeps */

/*
 * report.json's content for a core just taken from s (st as crash_dump
 * left it, backtraces possibly improved by crash_unwind): signature,
 * reason, message, threads with symbolized frames, the last 200 log
 * records.  New reference.
 */
json_t *crash_report_json(const struct crash_src *s, const struct crash_state *st,
                          const char *kernel_elf, const char *id);

/*
 * The signature of a crash: "<12 hex of build_id>-<16 hex>", a hash of the
 * build-id, the panic reason and exception vector, and the function names
 * of the first 5 frames of `frames` (report.json's frame objects) that are
 * not panic machinery — offsets and addresses are not part of it.
 */
void crash_signature(const struct crash_state *st, const char *build_id, json_t *frames,
                     char *out, size_t len);

/* The human report.txt from report.json's content. 0 / -1. */
int crash_report_txt(json_t *report, const char *path);

/* Copy src to a new dst (0600), only its last `tail` bytes if tail > 0.
 * A missing src is not an error (nothing is written). */
int crash_copy_file(const char *src, const char *dst, long tail);

/*
 * Trace (Perfetto, CTF) and metrics snapshots of RUN into the bundle dir,
 * by child `ukctl trace` / `ukctl metrics` processes killed after 5 s;
 * report["snapshots"] says which succeeded.
 */
void crash_snapshots(const char *run_dir, const char *bundle, json_t *report);

/*
 * The same in two steps, so the children run while the core is written:
 * _start spawns them (NULL if out of memory: _finish then records them
 * failed); _finish waits (the 5 s deadline counts from _start), sets
 * report["snapshots"] and frees sj.
 */
struct crash_snapjobs;
struct crash_snapjobs *crash_snapshots_start(const char *run_dir, const char *bundle);
void crash_snapshots_finish(struct crash_snapjobs *sj, json_t *report);

/* Open and lock (flock, exclusive) DIR/.lock, creating DIR; fd or -1. */
int crash_store_lock(const char *dir);

/* DIR/index.json (an empty index if absent or unreadable). New reference. */
json_t *crash_store_index(const char *dir);

/*
 * Every bundle under DIR (subdirectories holding report.json), oldest
 * first, as [{"id", "signature", "time", "bytes", "path", "instance"}].
 */
json_t *crash_store_bundles(const char *dir);

/*
 * Record a written bundle's report in DIR/index.json (its signature group:
 * count, first/last seen, instances), then apply retention, never removing
 * the bundle just added; under DIR/.lock.  0 / -1 with err.
 */
int crash_store_add(const char *dir, json_t *report, char *err, size_t errlen);

/* Remove one bundle directory (its files, then it). 0 / -1. */
int crash_store_remove(const char *dir, const char *id);

#endif
