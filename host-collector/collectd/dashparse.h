/*
 * Pure parsers of the console's inputs (dashparse.c), apart from the daemon
 * so that tests/unit/test_dashparse.c and tests/fuzz/fuzz_dashparse.c can
 * drive them: an HTTP client's Accept-Encoding and request path, a crash
 * bundle id, QMP's query-cpus-fast reply (schedstat: hv_parse_schedstat,
 * bpf/hvuser.h).
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

/* query-cpus-fast's return array: tid[cpu-index] for indexes below max
 * (others and entries without a positive thread-id are skipped, tid[]
 * zeroed first); the highest index + 1. */
unsigned dash_vcpu_tids(struct json_t *ret, int *tid, unsigned max);

#endif
