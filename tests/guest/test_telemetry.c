/*
 * Guest side of the telemetry e2e tests (tests/e2e/test_telemetry.py).
 * Each waits until the host has the telemetry port open, so what it logs
 * is not dropped for want of a reader, then produces traffic.
 *
 * Command line: telem.lines=N, telem.secs=N (see each test).
 */
#include <uk/cmdline.h>
#include <uk/test.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/vcon.h>

#define HOST_WAIT_NS (30 * UK_NSEC_PER_SEC)

static bool wait_host(void)
{
    struct uk_vcon_port *p;
    uint64_t end = uk_time_ns() + HOST_WAIT_NS;

    if (uk_vcon_open(UK_VCON_TELEMETRY, UK_MSEC(5000), &p) != UK_OK)
        return false;
    while (!uk_vcon_host_connected(p)) {
        if (uk_time_ns() > end)
            return false;
        uk_sleep_ms(10);
    }
    uk_info("telemetry-test: host connected");
    return true;
}

/* telem.lines log lines 10 ms apart, then telem.secs seconds of heartbeats. */
UK_TEST(telemetry_lines)
{
    unsigned n = (unsigned)uk_cmdline_get_u64("telem.lines", 20);

    UK_CHECK(wait_host());
    for (unsigned i = 0; i < n; i++) {
        uk_info("telemetry-test line %u of %u", i, n);
        uk_sleep_ms(10);
    }
    uk_sleep_ns(uk_cmdline_get_u64("telem.secs", 3) * UK_NSEC_PER_SEC);
    return 0;
}

/*
 * telem.lines log lines in batches of telem.batch (default 32) with
 * telem.pause_ms (default 10) between batches, slow enough for the sender
 * to keep up with the ring, then telem.secs seconds of quiet so the last
 * heartbeats reach a host that reads again.  With telem.wait=0 it does not
 * wait for the host first (a host that connects late).  Prints the
 * guest-side duration of the flood.
 */
UK_TEST(telemetry_flood)
{
    unsigned n = (unsigned)uk_cmdline_get_u64("telem.lines", 4000);
    unsigned batch = (unsigned)uk_cmdline_get_u64("telem.batch", 32);
    uint64_t pause = uk_cmdline_get_u64("telem.pause_ms", 10), t0;

    if (uk_cmdline_get_u64("telem.wait", 1))
        UK_CHECK(wait_host());
    UK_CHECK(batch > 0);
    t0 = uk_time_ns();
    for (unsigned i = 0; i < n; i++) {
        uk_info("telemetry-flood %u padding padding padding padding padding padding", i);
        if (i % batch == batch - 1)
            uk_sleep_ms(pause);
    }
    uk_info("telemetry-flood done: %u lines in %llu us", n,
            (unsigned long long)((uk_time_ns() - t0) / 1000));
    uk_sleep_ns(uk_cmdline_get_u64("telem.secs", 3) * UK_NSEC_PER_SEC);
    return 0;
}

/* Panic once the host listens: the crash report must reach it. */
UK_TEST(telemetry_panic)
{
    UK_CHECK(wait_host());
    uk_sleep_ms(300);
    uk_panic("telemetry test panic %d", 7);
}
