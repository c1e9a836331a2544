/* LogRecords from the kernel log ring; see telemetry.h. */
#include <uk/klog.h>

#include "telemetry.h"

static uint64_t klog_next;        /* next ring sequence number to send */
static uint64_t klog_overwritten; /* skipped since the last LogRecord built */
static struct telem_klog_counters totals; /* read by the metrics collector */

/* The ring holds bytes from any code: keep printable ASCII (valid UTF-8). */
static void sanitize(char *dst, const char *src, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[len] = 0;
}

unsigned telem_send_klog(unsigned max)
{
    const struct uk_klog_ring *ring = uk_klog_ring();
    struct uk_klog_rec rec;
    char text[UK_KLOG_TEXT + 1];
    unsigned n = 0;
    uint64_t next;

    while (n < max && klog_next < __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE)) {
        telem_envelope env = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
        Ukscope__Telemetry__LogRecord lr = UKSCOPE__TELEMETRY__LOG_RECORD__INIT;

        uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
        uint64_t oldest = head > UK_KLOG_SLOTS ? head - UK_KLOG_SLOTS : 0;
        uint64_t real;

        if (uk_klog_read(klog_next, &rec, &next) != UK_OK) {
            if (klog_next >= oldest)
                break; /* being written: try again next round */
            klog_overwritten += oldest - klog_next;
            klog_next = oldest;
            continue;
        }
        /* uk_klog_read moves a stale seq up to the oldest record kept. */
        real = rec.seq - 1;
        if (real < klog_next)
            break;
        klog_overwritten += real - klog_next;
        klog_next = real;
        sanitize(text, rec.text, rec.len <= UK_KLOG_TEXT ? rec.len : UK_KLOG_TEXT);
        lr.severity = rec.level;
        lr.time_ns = rec.time_ns;
        lr.cpu = rec.cpu;
        lr.thread_id = rec.tid;
        lr.text = text;
        lr.klog_seq = klog_next;
        lr.klog_overwritten = klog_overwritten;
        env.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_LOG;
        env.log = &lr;
        __atomic_store_n(&totals.overwritten, totals.overwritten + klog_overwritten,
                         __ATOMIC_RELAXED);
        if (telem_send(&env))
            __atomic_store_n(&totals.sent, totals.sent + 1, __ATOMIC_RELAXED);
        else if (telem_send_last_unread())
            __atomic_store_n(&totals.unread, totals.unread + 1, __ATOMIC_RELAXED);
        else
            __atomic_store_n(&totals.unsent, totals.unsent + 1, __ATOMIC_RELAXED);
        klog_overwritten = 0;
        klog_next = real + 1;
        n++;
    }
    return n;
}

void telem_klog_counters(struct telem_klog_counters *out)
{
    out->sent = __atomic_load_n(&totals.sent, __ATOMIC_RELAXED);
    out->unsent = __atomic_load_n(&totals.unsent, __ATOMIC_RELAXED);
    out->unread = __atomic_load_n(&totals.unread, __ATOMIC_RELAXED);
    out->overwritten = __atomic_load_n(&totals.overwritten, __ATOMIC_RELAXED);
}
