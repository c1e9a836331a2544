/* One log record as the collector keeps, stores and forwards it (issue 12).
 * The layout is shared by the daemon, its log store and the RELP forwarder;
 * keep it exactly as in the collector brief. */
#ifndef UKSCOPE_COLLECTD_LOGREC_H
#define UKSCOPE_COLLECTD_LOGREC_H

#include <stdint.h>

enum logrec_source {
    LOGREC_KLOG = 0,
    LOGREC_CONSOLE = 1,
};

struct logrec {
    char instance[64];     /* instance name */
    char boot_id[37];      /* per-boot id (UUID text) the collector assigns at adoption/boot */
    char build_id[41];     /* kernel GNU build-id, hex */
    uint64_t seq;          /* klog sequence number (0-based) */
    int64_t time_wall_ns;  /* wall-clock time (host receive time or guest time mapped) */
    uint8_t severity;      /* syslog severity 0..7 (klog level maps 1:1) */
    int32_t cpu;           /* -1 unknown */
    uint32_t tid;
    char thread[32];       /* thread name, "" unknown */
    uint16_t len;
    char text[512];        /* sanitised, not NUL-terminated beyond len */
    uint8_t source;        /* enum logrec_source: LOGREC_KLOG = 0, LOGREC_CONSOLE = 1 */
};

#endif
