/* RFC 5424 rendering of a struct logrec, for the RELP forwarder.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME ukscope PROCID MSGID [ukscope@32473 ...] MSG
 *
 * PRI      facility local0 (16) for klog records, user (1) for console
 *          records; severity clamped to 0..7.
 * TIMESTAMP RFC 3339 UTC with microseconds, "-" when time_wall_ns <= 0.
 * HOSTNAME the host's name (the caller passes it), PROCID the instance name,
 *          both reduced to printable ASCII without spaces ("-" when empty).
 * MSGID    "klog" or "console".
 * SD       [ukscope@32473 instance="" boot="" build="" seq="" cpu="" thread=""]
 *          32473 is the enterprise number RFC 5612 reserves for
 *          documentation examples: ukscope has no IANA number of its own, and
 *          a private one can replace it here without touching consumers that
 *          match on the "ukscope@" prefix.  cpu is -1 when unknown.  Values
 *          escape '"', '\' and ']' with a backslash (RFC 5424 6.3.3).
 * MSG      the text, sanitised again (the record is hostile until proven
 *          otherwise): control characters and NUL become '?', invalid UTF-8
 *          (overlong, surrogates, > U+10FFFF, truncated) and C1 controls
 *          become U+FFFD.  No BOM.
 */
#ifndef UKSCOPE_COLLECTD_RFC5424_H
#define UKSCOPE_COLLECTD_RFC5424_H

#include <stddef.h>

#include "logrec.h"

/* Enterprise number of the structured-data id (see above). */
#define RFC5424_ENTERPRISE "32473"
/* Upper bound of a rendered record: the header fields at their maximum, every
 * SD value fully escaped, every text byte expanded to U+FFFD. */
#define RFC5424_MAX        4096

/* Render r into out (cap bytes, no NUL written).  hostname NULL or "" gives
 * "-".  Returns the length, or 0 if cap is too small (never with
 * cap >= RFC5424_MAX). */
size_t rfc5424_format(const struct logrec *r, const char *hostname, char *out, size_t cap);

#endif
