/* Test driver for the RELP forwarder (tests/e2e/test_relp.py, bench_relp.py).
 *
 *   relpfwd_drive HOST PORT SPOOL_DIR MAX_BYTES [BATCH [DRAIN_TIMEOUT_S]]
 *
 * Reads "SEQ TEXT" lines from stdin; each becomes a klog record of instance
 * "drive" submitted to the forwarder.  BATCH (default 1) records are submitted
 * per round: with BATCH 1 every submit is durable on its own, else the round
 * ends with one relpfwd_flush().  After each round it prints "ok SEQ" (the
 * last durable seq) or "drop SEQ" and polls once.  At EOF it polls until
 * every spooled record is acked or DRAIN_TIMEOUT_S (default 30) passed, then
 * prints one line "stats k=v ..." and exits 0 if drained, 2 if not.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectd/relpfwd.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_stats(struct relpfwd *f)
{
    struct relpfwd_stats st;
    relpfwd_stats(f, &st);
    printf("stats forwarded=%" PRIu64 " spooled=%" PRIu64 " spool_bytes=%" PRIu64
           " pending=%" PRIu64 " resent=%" PRIu64 " dropped_disk_full=%" PRIu64 " torn=%" PRIu64
           " reconnects=%" PRIu64 " connected=%" PRIu64 " errors=%" PRIu64 "\n",
           st.forwarded, st.spooled, st.spool_bytes, st.pending, st.resent, st.dropped_disk_full,
           st.torn, st.reconnects, st.connected, st.errors);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct relpfwd *f = NULL;
    struct relpfwd_stats st;
    struct logrec r;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long batch, i;
    int64_t deadline;
    int rc = 1, eof = 0;
    struct timespec pause = {0, 10 * 1000 * 1000};

    if (argc < 5) {
        fprintf(stderr, "usage: relpfwd_drive HOST PORT SPOOL_DIR MAX_BYTES [BATCH [DRAIN_S]]\n");
        return 1;
    }
    batch = argc > 5 ? atol(argv[5]) : 1;
    f = relpfwd_new(argv[1], argv[2], argv[3], strtoull(argv[4], NULL, 0));
    if (!f)
        goto cleanup;
    relpfwd_set_batch(f, batch > 1);
    while (!eof) {
        uint64_t last = 0;
        int dropped = 0, any = 0;
        for (i = 0; i < (batch < 1 ? 1 : batch); i++) {
            n = getline(&line, &cap, stdin);
            if (n < 0) {
                eof = 1;
                break;
            }
            while (n > 0 && line[n - 1] == '\n')
                line[--n] = 0;
            memset(&r, 0, sizeof(r));
            strcpy(r.instance, "drive");
            strcpy(r.boot_id, "00000000-0000-4000-8000-000000000000");
            strcpy(r.build_id, "0123456789abcdef0123456789abcdef01234567");
            strcpy(r.thread, "main");
            char *sp = strchr(line, ' ');
            r.seq = strtoull(line, NULL, 10);
            r.len = sp ? (uint16_t)strnlen(sp + 1, sizeof(r.text)) : 0;
            if (sp)
                memcpy(r.text, sp + 1, r.len);
            r.severity = 6;
            r.cpu = 0;
            r.time_wall_ns = (int64_t)time(NULL) * 1000000000;
            if (relpfwd_submit(f, &r) < 0)
                dropped = 1;
            last = r.seq;
            any = 1;
        }
        if (any && batch > 1 && relpfwd_flush(f) < 0)
            goto cleanup;
        if (any) {
            printf("%s %" PRIu64 "\n", dropped ? "drop" : "ok", last);
            fflush(stdout);
        }
        relpfwd_poll(f, now_ms());
    }
    deadline = now_ms() + (argc > 6 ? atol(argv[6]) : 30) * 1000;
    for (;;) {
        relpfwd_poll(f, now_ms());
        relpfwd_stats(f, &st);
        if (st.pending == 0 || now_ms() > deadline)
            break;
        nanosleep(&pause, NULL);
    }
    print_stats(f);
    rc = st.pending == 0 ? 0 : 2;
cleanup:
    relpfwd_free(f);
    free(line);
    return rc;
}
