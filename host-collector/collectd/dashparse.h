/*
 * Pure parsers of the console's inputs (dashparse.c), apart from the daemon
 * so that tests/unit/test_dashparse.c and tests/fuzz/fuzz_dashparse.c can
 * drive them: an HTTP client's Accept-Encoding and request path, a crash
 * bundle id, /proc's schedstat text, QMP's query-cpus-fast reply.
 */
#ifndef UKCOLLECTD_DASHPARSE_H
#define UKCOLLECTD_DASHPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

/* Accept-Encoding (may be NULL) lists gzip with a non-zero q. */
bool dash_accepts_gzip(const char *accept_encoding);

/* The content type of a console file name, or NULL when the name is not
 * servable: not 1-64 of [A-Za-z0-9._-], starting with '.', or an unknown
 * extension. */
const char *dash_content_type(const char *name);

/* A crash bundle id names a directory of the store: 1-200 of
 * [A-Za-z0-9._-], not starting with '.', not "images". */
bool dash_bundle_id_ok(const char *id);

/* "RUN_NS WAIT_NS SLICES" of /proc/PID/task/TID/schedstat: 0, or -1 when
 * buf (len bytes, not NUL-terminated) does not start with two numbers. */
int dash_parse_schedstat(const char *buf, size_t len, uint64_t *run_ns, uint64_t *wait_ns);

/* query-cpus-fast's return array: tid[cpu-index] for indexes below max
 * (others and entries without a positive thread-id are skipped, tid[]
 * zeroed first); the highest index + 1. */
unsigned dash_vcpu_tids(struct json_t *ret, int *tid, unsigned max);

#endif
