/*
 * The collector's side of RELP forwarding (relpfwd.[ch], its own module):
 * when built with it (HAVE_RELPFWD) every record that is durable in an
 * instance's store goes to the forwarder's spool (batch mode, one fdatasync
 * per tick) before the store's position is persisted, so a kill -9 of the
 * daemon can repeat at most one tick's records to rsyslog, never lose one.
 * Lost-range records are not log lines: they are not forwarded (they are
 * in /metrics and the store).  Without the module this file is empty.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cd.h"
#include "log.h"

void prom_relp(FILE *o);
void relpglue_init(void);
void relpglue_poll(int64_t now, int64_t budget_ms);

#ifdef HAVE_RELPFWD
#include "relpfwd.h"

static uint64_t submit_errors;

static void copy(json_t *r, const char *key, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s", json_string_value(json_object_get(r, key)) ?: "");
}

static void durable(const char *lines, size_t len)
{
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(lines + off, '\n', len - off);
        size_t l = nl ? (size_t)(nl - (lines + off)) : len - off;
        json_t *r = json_loadb(lines + off, l, 0, NULL);
        off += l + 1;
        if (!r || !json_is_integer(json_object_get(r, "seq"))) {
            json_decref(r);
            continue;
        }
        struct logrec lr;
        const char *src = json_string_value(json_object_get(r, "source")) ?: "";
        json_t *cpu = json_object_get(r, "cpu");
        const char *text = json_string_value(json_object_get(r, "text")) ?: "";
        memset(&lr, 0, sizeof(lr));
        copy(r, "instance", lr.instance, sizeof(lr.instance));
        copy(r, "boot_id", lr.boot_id, sizeof(lr.boot_id));
        copy(r, "build_id", lr.build_id, sizeof(lr.build_id));
        copy(r, "thread", lr.thread, sizeof(lr.thread));
        lr.seq = (uint64_t)json_integer_value(json_object_get(r, "seq"));
        lr.time_wall_ns = json_integer_value(json_object_get(r, "time_ns"));
        lr.severity = (uint8_t)(json_integer_value(json_object_get(r, "severity")) & 7);
        lr.cpu = json_is_integer(cpu) ? (int32_t)json_integer_value(cpu) : -1;
        lr.tid = (uint32_t)json_integer_value(json_object_get(r, "tid"));
        lr.len = (uint16_t)(strlen(text) < sizeof(lr.text) ? strlen(text) : sizeof(lr.text));
        memcpy(lr.text, text, lr.len);
        lr.source = strcmp(src, "console") ? LOGREC_KLOG : LOGREC_CONSOLE;
        if (relpfwd_submit(cd.relp, &lr) < 0)
            submit_errors++;
        json_decref(r);
    }
    if (relpfwd_flush(cd.relp) < 0)
        submit_errors++;
}

/*
 * One tick's forwarding.  A poll sends at most RELPFWD_POLL_MAX (256)
 * records (the bound of what a kill -9 repeats), and one poll per tick
 * capped forwarding at 256 records per tick, 256/s at the default 1 s
 * tick, far below what the store takes in.  Poll again while the previous
 * poll moved records and budget_ms of this tick are left; the spool keeps
 * the rest for the next tick.
 */
void relpglue_poll(int64_t now, int64_t budget_ms)
{
    struct relpfwd_stats st, before;
    int64_t t0 = cd_now();

    if (!cd.relp)
        return;
    do {
        relpfwd_stats(cd.relp, &before);
        if (relpfwd_poll(cd.relp, now) < 0)
            break;
        relpfwd_stats(cd.relp, &st);
        now = cd_now();
    } while (st.connected && st.forwarded > before.forwarded && now - t0 < budget_ms);
}

void relpglue_init(void)
{
    if (!cd.relp)
        return;
    relpfwd_set_batch(cd.relp, 1);
    logstore_durable_hook = durable;
}

void prom_relp(FILE *o)
{
    struct relpfwd_stats st;

    if (!cd.relp)
        return;
    relpfwd_stats(cd.relp, &st);
    fprintf(o,
            "# HELP ukcollectd_log_records_forwarded_total Records acked by rsyslog (RELP).\n"
            "# TYPE ukcollectd_log_records_forwarded_total counter\n"
            "ukcollectd_log_records_forwarded_total %llu\n"
            "# HELP ukcollectd_log_records_spooled_total Records appended to the RELP spool.\n"
            "# TYPE ukcollectd_log_records_spooled_total counter\n"
            "ukcollectd_log_records_spooled_total %llu\n"
            "# TYPE ukcollectd_relp_spool_bytes gauge\nukcollectd_relp_spool_bytes %llu\n"
            "# TYPE ukcollectd_relp_pending gauge\nukcollectd_relp_pending %llu\n"
            "# TYPE ukcollectd_relp_resent_total counter\nukcollectd_relp_resent_total %llu\n"
            "# TYPE ukcollectd_relp_dropped_disk_full_total counter\n"
            "ukcollectd_relp_dropped_disk_full_total %llu\n"
            "# TYPE ukcollectd_relp_connected gauge\nukcollectd_relp_connected %llu\n"
            "# TYPE ukcollectd_relp_errors_total counter\nukcollectd_relp_errors_total %llu\n",
            (unsigned long long)st.forwarded, (unsigned long long)st.spooled,
            (unsigned long long)st.spool_bytes, (unsigned long long)st.pending,
            (unsigned long long)st.resent, (unsigned long long)st.dropped_disk_full,
            (unsigned long long)st.connected, (unsigned long long)(st.errors + submit_errors));
}
#else
void relpglue_init(void)
{
}

void relpglue_poll(int64_t now, int64_t budget_ms)
{
    (void)now;
    (void)budget_ms;
}

void prom_relp(FILE *o)
{
    (void)o;
}
#endif
