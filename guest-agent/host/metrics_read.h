/*
 * The host's reader of the shared metrics page (common/metrics_page.h) in
 * a guest memory image, shared by `ukctl metrics` and ukcollectd.
 */
#ifndef UKSCOPE_METRICS_READ_H
#define UKSCOPE_METRICS_READ_H

#include <stddef.h>

/*
 * Copy a consistent snapshot of the page at map+off (at most UKM_PAGE_BYTES,
 * bounded by size) into buf, retrying (1 ms apart, at most 100 times) while
 * the guest's sequence lock says a write is in progress.  0 and *len, or -1
 * with a reason in *why.  The copy still has to pass ukm_validate().
 */
int metrics_snapshot(const unsigned char *map, size_t size, size_t off, unsigned char *buf,
                     size_t *len, const char **why);

#endif
