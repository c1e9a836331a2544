/*
 * Kernel log: sequence-numbered records in a ring (<uk/klog_abi.h>),
 * mirrored to the console.  Safe from any context, including interrupts and
 * NMIs (console output may interleave between CPUs, the ring never does).
 *
 * Command line: loglevel=N (record level <= N is kept, default 6/info),
 * console_loglevel=N (level <= N is printed, default = loglevel).
 */
#ifndef UK_KLOG_H
#define UK_KLOG_H

#include <stdarg.h>
#include <uk/klog_abi.h>
#include <uk/types.h>

void uk_log(enum uk_log_level level, const char *fmt, ...) UK_PRINTF(2, 3);
void uk_vlog(enum uk_log_level level, const char *fmt, va_list ap);

#define uk_err(...) uk_log(UK_LOG_ERR, __VA_ARGS__)
#define uk_warn(...) uk_log(UK_LOG_WARN, __VA_ARGS__)
#define uk_info(...) uk_log(UK_LOG_INFO, __VA_ARGS__)
#define uk_debug(...) uk_log(UK_LOG_DEBUG, __VA_ARGS__)

/* The ring itself (read-only for consumers). */
const struct uk_klog_ring *uk_klog_ring(void);

/*
 * Copy record `seq` into *out.  Returns UK_OK, UK_ENOENT if it was
 * overwritten or not yet written.  *next is set to the next sequence number
 * to ask for (skipping overwritten ones).
 */
uk_result uk_klog_read(uint64_t seq, struct uk_klog_rec *out, uint64_t *next);

/* Totals since boot, for metrics.  Counters only grow. */
struct uk_klog_stats {
    uint64_t written;   /* records put in the ring (the ring's head) */
    uint64_t truncated; /* of those, records whose text was cut to UK_KLOG_TEXT bytes */
};
void uk_klog_stats(struct uk_klog_stats *out);

/* Name of a level ("err", "warn", "info", "debug", ...). */
const char *uk_log_level_name(unsigned level);

#endif
