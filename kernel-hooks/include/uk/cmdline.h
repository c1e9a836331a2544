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
#define UK_CMDLINE_SET_MAX 4 /* options added by uk_cmdline_set */
#define UK_SECRET_MAX 128    /* longest secret value uk_cmdline_set takes */

struct uk_cmdline_arg {
    const char *key;
    const char *value; /* "" for a bare word */
};

/* Parse `s` (copied).  Returns UK_EINVAL on an unterminated quote. */
uk_result uk_cmdline_parse(const char *s);

/*
 * The command line as given, except that the value of every secret key
 * (see uk_cmdline_is_secret) reads `***`: this is what may be shown (boot
 * log, /dmesg, /info).  The real values are reachable only by key.
 */
const char *uk_cmdline_raw(void);

/*
 * Secret keys, whose values are never logged or shown: `token`, `secret`,
 * `password`, and any key ending in `.token`, `.secret` or `.password`
 * (docs/security.md).
 */
bool uk_cmdline_is_secret(const char *key);

/*
 * Add `key` with the first `len` bytes of `value` (copied) from a source
 * other than the loader's command line, e.g. the control token read from
 * fw_cfg.  It wins over the command line's value in uk_cmdline_get and is
 * never part of uk_cmdline_raw.  Call after uk_cmdline_parse (which drops
 * what was set).  UK_EINVAL if the key or value is empty or too long, contains
 * bytes outside printable ASCII, or UK_CMDLINE_SET_MAX values are set.
 */
uk_result uk_cmdline_set(const char *key, const char *value, size_t len);

/*
 * True only if `key` has a non-empty value equal to the `len` bytes at
 * `given`.  Constant time: the time taken depends on `len` only, never on
 * where the bytes differ; the one compare every authorisation check uses.
 */
bool uk_cmdline_secret_equal(const char *key, const void *given, size_t len);

/* Value of the last `key`, or NULL if absent. */
const char *uk_cmdline_get(const char *key);

/* Numeric value of `key` (decimal, 0x hex, k/M/G suffix), else def. */
uint64_t uk_cmdline_get_u64(const char *key, uint64_t def);

/* True if `key` is present and not "0"/"off"/"no"/"false". */
bool uk_cmdline_flag(const char *key);

/* Iterate options with the given key (NULL: all).  *it starts at 0. */
const struct uk_cmdline_arg *uk_cmdline_next(const char *key, unsigned *it);

#endif
