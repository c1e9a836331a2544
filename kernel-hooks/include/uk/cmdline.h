/*
 * Kernel command line, from the PVH start info.  Options are
 * space-separated `key=value` or bare `key` words; a value may be quoted
 * with "...".  Keys may repeat (QEMU adds one `virtio_mmio.device=` per
 * device); uk_cmdline_get returns the last, uk_cmdline_next iterates all.
 */
#ifndef UK_CMDLINE_H
#define UK_CMDLINE_H

#include <uk/types.h>

#define UK_CMDLINE_MAX 1024  /* bytes kept; longer command lines are cut */
#define UK_CMDLINE_ARGS 64   /* options kept */

struct uk_cmdline_arg {
    const char *key;
    const char *value; /* "" for a bare word */
};

/* Parse `s` (copied).  Returns UK_EINVAL on an unterminated quote. */
uk_result uk_cmdline_parse(const char *s);

/* The raw command line as given. */
const char *uk_cmdline_raw(void);

/* Value of the last `key`, or NULL if absent. */
const char *uk_cmdline_get(const char *key);

/* Numeric value of `key` (decimal, 0x hex, k/M/G suffix), else def. */
uint64_t uk_cmdline_get_u64(const char *key, uint64_t def);

/* True if `key` is present and not "0"/"off"/"no"/"false". */
bool uk_cmdline_flag(const char *key);

/* Iterate options with the given key (NULL: all).  *it starts at 0. */
const struct uk_cmdline_arg *uk_cmdline_next(const char *key, unsigned *it);

#endif
