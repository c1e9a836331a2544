/*
 * Metrics registry for kernel-side agent code and applications in the image:
 * counters, gauges and fixed-bucket histograms with up to two labels and a
 * bounded number of series per family.  Values live in the registry; every
 * update of the shared page (guest-agent/common/metrics_page.h) copies them
 * there, and /metrics renders the page.
 *
 * Counters are per-CPU (each CPU adds to its own slot without locks);
 * gauges and histograms use atomics.  Creating families and series takes a
 * lock and may allocate: do it at start-up or cache the series pointer.
 */
#ifndef GUEST_AGENT_METRICS_H
#define GUEST_AGENT_METRICS_H

#include <uk/types.h>

#include "common/metrics_page.h"

#define UM_LABELS_MAX  2
#define UM_BUCKETS_MAX 12
/* Longest label value kept, NUL included (a 40-digit build-id fits). */
#define UM_LABEL_VALUE_MAX 48

struct um_family;
struct um_series;

/*
 * A family.  `name` without the _total suffix for counters; `scale`: the
 * divisor from stored integers to the exposed unit (e.g. 10^9 for a value
 * kept in ns and exposed in seconds).  labels: up to UM_LABELS_MAX names
 * (NULL-terminated list, or NULL).  Histograms: nbuckets upper bounds in
 * stored units, ascending (+Inf is added).  NULL when the page is full.
 */
struct um_family *um_family(const char *name, const char *help, enum ukm_type type,
                            uint32_t scale, const char *const *labels, unsigned max_series,
                            const int64_t *buckets, unsigned nbuckets);

/*
 * The series with these label values (as many as the family has labels),
 * created on first use.  NULL when the family already has max_series
 * series (the refusal is counted in ukscope_metrics_series_overflow_total).
 */
struct um_series *um_series(struct um_family *f, const char *v0, const char *v1);

void um_add(struct um_series *s, uint64_t n);       /* counter += n (per-CPU) */
void um_set(struct um_series *s, int64_t v);        /* gauge = v, or a counter pulled from elsewhere */
void um_observe(struct um_series *s, int64_t v);    /* histogram */

/*
 * Collectors run before every page update (scrape or periodic) to refresh
 * values pulled from elsewhere (kernel counters).  Max 16.
 */
uk_result um_collector(void (*fn)(void *arg), void *arg);

/*
 * Run the collectors and copy every value into the shared page (under the
 * sequence lock).  Then, if out is not NULL, render the page into it.
 * Thread context only.
 */
void um_update(bool openmetrics, struct ukm_out *out);

/*
 * Run the collectors, update the page, and copy its first min(count, cap)
 * entries (families and samples, as in the page) into dst.  Returns how
 * many were copied.  For consumers that ship the values elsewhere
 * (telemetry).  Thread context only.
 */
unsigned um_snapshot(struct ukm_entry *dst, unsigned cap);

/* Number of series in use (for the benchmark). */
unsigned um_series_count(void);

#endif
