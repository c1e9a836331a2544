/*
 * virtio-console ports against QEMU's virtio-serial-device
 * (tests/e2e/test_vcon.py plays the host on unix sockets):
 *  - vcon_echo: the host sends bytes on org.ukscope.test ended by EOT
 *    (0x04); we echo them uppercased, first sleeping on the rx handler,
 *    then (second half) with interrupts off, polling like a debugger.
 *  - vcon_bench: guest -> host throughput (tests/bench.py, section vcon):
 *    vcon_mib=N MiB in 4 KiB writes, retried while the ring is full.
 *  - vcon_flow: the host connects but does not read: writes fill the ring,
 *    then are refused and counted without blocking; the host disconnects
 *    (writes refused), reconnects, and data flows again both ways.
 *  - vcon_nohost: nobody connected: writes are dropped and counted, never
 *    block; an absent name gives UK_ENOENT after sleeping the timeout.
 */
#include <string.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/sync.h>
#include <uk/test.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/vcon.h>

#define TEST_PORT "org.ukscope.test"
#define EOT 0x04

static struct uk_spinlock rx_lock = UK_SPINLOCK_INIT;
static struct uk_waitq rx_wq = UK_WAITQ_INIT;
static volatile unsigned rx_calls, rx_tf_seen;

static void on_rx(struct uk_vcon_port *p, struct uk_trap_frame *tf, void *arg)
{
    (void)p;
    (void)arg;
    uk_spin_lock(&rx_lock);
    rx_calls++;
    rx_tf_seen += tf != NULL;
    uk_waitq_wake_all(&rx_wq);
    uk_spin_unlock(&rx_lock);
}

/* Write all of buf, retrying while the transmit ring is full. */
static bool write_all(struct uk_vcon_port *p, const uint8_t *buf, size_t len, uint64_t deadline)
{
    size_t off = 0;

    while (off < len) {
        off += uk_vcon_write(p, buf + off, len - off);
        if (off < len) {
            if (uk_time_ns() > deadline)
                return false;
            uk_vcon_poll(p);
        }
    }
    return true;
}

/* Echo one chunk uppercased; returns true when EOT was seen. */
static bool echo_chunk(struct uk_vcon_port *p, uint8_t *buf, size_t n, size_t *total, bool *ok,
                       uint64_t deadline)
{
    bool eot = false;

    for (size_t i = 0; i < n; i++) {
        if (buf[i] == EOT) {
            eot = true;
            n = i;
            break;
        }
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (uint8_t)(buf[i] - 'a' + 'A');
    }
    *total += n;
    if (!write_all(p, buf, n, deadline))
        *ok = false;
    return eot;
}

UK_TEST(vcon_echo)
{
    static uint8_t buf[4096];
    struct uk_vcon_port *p;
    struct uk_vcon_stats st;
    uint64_t deadline = uk_time_ns() + UK_MSEC(600000);
    size_t total = 0;
    bool ok = true, eot = false;

    UK_CHECK(uk_vcon_open(TEST_PORT, UK_MSEC(60000), &p) == UK_OK);
    UK_CHECK(uk_vcon_set_rx_handler(p, on_rx, NULL) == UK_OK);
    uk_info("vcon_echo: port open, waiting for the host");
    while (!uk_vcon_host_connected(p) && uk_time_ns() < deadline)
        uk_sleep_ns(UK_MSEC(5));
    UK_CHECK(uk_vcon_host_connected(p));
    uk_info("vcon_echo: host connected");

    /* Phase 1: interrupt-driven, sleeping until the rx handler fires. */
    while (!eot && total < 32768 && uk_time_ns() < deadline) {
        size_t n = uk_vcon_read(p, buf, sizeof(buf));
        if (n) {
            eot = echo_chunk(p, buf, n, &total, &ok, deadline);
            continue;
        }
        unsigned long f = uk_spin_lock_irqsave(&rx_lock);
        unsigned seen = rx_calls;
        /* Re-check under the lock: data may have come before we slept. */
        uk_spin_unlock_irqrestore(&rx_lock, f);
        n = uk_vcon_read(p, buf, sizeof(buf));
        if (n) {
            eot = echo_chunk(p, buf, n, &total, &ok, deadline);
            continue;
        }
        f = uk_spin_lock_irqsave(&rx_lock);
        if (rx_calls == seen)
            uk_waitq_wait(&rx_wq, &rx_lock, uk_time_ns() + UK_MSEC(100));
        uk_spin_unlock_irqrestore(&rx_lock, f);
    }
    size_t phase1 = total;

    /* Phase 2: interrupts off, polling (a debugger with the world stopped). */
    unsigned long flags = uk_irq_save();
    while (!eot && uk_time_ns() < deadline) {
        uk_vcon_poll(p);
        size_t n = uk_vcon_read(p, buf, sizeof(buf));
        if (n)
            eot = echo_chunk(p, buf, n, &total, &ok, deadline);
    }
    uk_irq_restore(flags);
    UK_CHECK(uk_vcon_set_rx_handler(p, NULL, NULL) == UK_OK);

    uk_vcon_stats(p, &st);
    uk_info("vcon_echo: %lu bytes echoed (%lu with irqs on), rx handler %u calls, "
            "stats tx %lu rx %lu refused %lu",
            (unsigned long)total, (unsigned long)phase1, rx_calls, (unsigned long)st.tx_bytes,
            (unsigned long)st.rx_bytes, (unsigned long)st.tx_dropped);
    UK_CHECK(eot && ok);
    UK_CHECK(phase1 > 0 && total > phase1);
    UK_CHECK(rx_calls > 0 && rx_tf_seen == rx_calls);
    UK_CHECK(st.tx_bytes == total);
    UK_CHECK(st.rx_bytes >= total + 1); /* + the EOT */
    /* Let the host read the tail before we exit. */
    uk_sleep_ns(UK_MSEC(200));
    return 0;
}

UK_TEST(vcon_nohost)
{
    static uint8_t chunk[4096];
    struct uk_vcon_port *p, *again;
    struct uk_vcon_stats st;
    size_t accepted = 0;

    /* Absent name: sleeps the full timeout, then UK_ENOENT. */
    uint64_t t0 = uk_time_ns();
    UK_CHECK(uk_vcon_open("org.ukscope.absent", UK_MSEC(300), &p) == UK_ENOENT);
    uint64_t waited = uk_time_ns() - t0;
    UK_CHECK(waited >= UK_MSEC(300));
    UK_CHECK(uk_vcon_open("", 0, &p) == UK_EINVAL);

    UK_CHECK(uk_vcon_open(TEST_PORT, UK_MSEC(60000), &p) == UK_OK);
    UK_CHECK(uk_vcon_open(TEST_PORT, 0, &again) == UK_OK && again == p);
    UK_CHECK(!uk_vcon_host_connected(p));

    /* 1 MiB with nobody listening: all refused, quickly. */
    memset(chunk, 'x', sizeof(chunk));
    t0 = uk_time_ns();
    for (unsigned i = 0; i < 256; i++)
        accepted += uk_vcon_write(p, chunk, sizeof(chunk));
    uint64_t took = uk_time_ns() - t0;
    /* And with interrupts off. */
    unsigned long f = uk_irq_save();
    for (unsigned i = 0; i < 16; i++)
        accepted += uk_vcon_write(p, chunk, sizeof(chunk));
    uk_irq_restore(f);
    uk_vcon_stats(p, &st);
    uk_info("vcon_nohost: ENOENT after %lu ms; 1 MiB refused in %lu us; stats tx %lu refused %lu",
            (unsigned long)(waited / 1000000), (unsigned long)(took / 1000),
            (unsigned long)st.tx_bytes, (unsigned long)st.tx_dropped);
    UK_CHECK(accepted == 0);
    UK_CHECK(st.tx_bytes == 0 && st.tx_dropped == 272 * sizeof(chunk));
    UK_CHECK(took < UK_MSEC(5000));
    /* Nothing to read either, and no blocking. */
    UK_CHECK(uk_vcon_read(p, chunk, sizeof(chunk)) == 0);
    return 0;
}

UK_TEST(vcon_bench)
{
    static uint8_t chunk[4096];
    struct uk_vcon_port *p;
    struct uk_vcon_stats st;
    uint64_t total = uk_cmdline_get_u64("vcon_mib", 8) << 20;
    uint64_t deadline = uk_time_ns() + UK_MSEC(600000);

    UK_CHECK(uk_vcon_open(TEST_PORT, UK_MSEC(60000), &p) == UK_OK);
    while (!uk_vcon_host_connected(p) && uk_time_ns() < deadline)
        uk_sleep_ns(UK_MSEC(5));
    UK_CHECK(uk_vcon_host_connected(p));
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)('a' + i % 26);
    uint64_t t0 = uk_time_ns();
    for (uint64_t sent = 0; sent < total;) {
        size_t n = uk_vcon_write(p, chunk, (size_t)UK_MIN(sizeof(chunk), total - sent));
        sent += n;
        if (!n) {
            UK_CHECK(uk_time_ns() < deadline);
            uk_vcon_poll(p);
        }
    }
    uint64_t took = uk_time_ns() - t0;
    uk_vcon_stats(p, &st);
    uk_info("vcon_bench: %lu bytes in %lu us, refused %lu", (unsigned long)total,
            (unsigned long)(took / 1000), (unsigned long)st.tx_dropped);
    UK_CHECK(st.tx_bytes == total);
    uk_sleep_ns(UK_MSEC(200)); /* the host reads the tail */
    return 0;
}

static bool wait_connected(struct uk_vcon_port *p, bool want, uint64_t deadline)
{
    while (uk_vcon_host_connected(p) != want && uk_time_ns() < deadline)
        uk_sleep_ns(UK_MSEC(5));
    return uk_vcon_host_connected(p) == want;
}

UK_TEST(vcon_flow)
{
    static uint8_t chunk[4096];
    static const char hello[] = "hello again\n";
    struct uk_vcon_port *p;
    struct uk_vcon_stats st0, st;
    uint64_t deadline = uk_time_ns() + UK_MSEC(600000);
    size_t accepted = 0, total = 4u << 20;
    char ping[8];

    UK_CHECK(uk_vcon_open(TEST_PORT, UK_MSEC(60000), &p) == UK_OK);
    UK_CHECK(wait_connected(p, true, deadline));
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)('a' + i % 26);
    /* Host connected but not reading: 4 MiB, never retried. */
    uk_vcon_stats(p, &st0);
    uint64_t t0 = uk_time_ns();
    for (size_t off = 0; off < total; off += sizeof(chunk))
        accepted += uk_vcon_write(p, chunk, sizeof(chunk));
    uint64_t took = uk_time_ns() - t0;
    uk_vcon_stats(p, &st);
    uk_info("vcon_flow: full: accepted %lu of %lu in %lu us, refused %lu",
            (unsigned long)accepted, (unsigned long)total, (unsigned long)(took / 1000),
            (unsigned long)(st.tx_dropped - st0.tx_dropped));
    UK_CHECK(accepted >= 16 * 4096 && accepted < total);
    UK_CHECK(st.tx_dropped - st0.tx_dropped == total - accepted);
    UK_CHECK(st.tx_bytes - st0.tx_bytes == accepted);

    /* The host goes away: everything refused. */
    UK_CHECK(wait_connected(p, false, deadline));
    UK_CHECK(uk_vcon_write(p, chunk, sizeof(chunk)) == 0);
    uk_info("vcon_flow: host gone"); /* the host reconnects on this line */

    /* And comes back: both directions work again. */
    UK_CHECK(wait_connected(p, true, deadline));
    UK_CHECK(write_all(p, (const uint8_t *)hello, sizeof(hello) - 1, deadline));
    size_t got = 0;
    while (got < 4 && uk_time_ns() < deadline) {
        size_t n = uk_vcon_read(p, ping + got, 4 - got);
        got += n;
        if (!n)
            uk_sleep_ns(UK_MSEC(2));
    }
    UK_CHECK(got == 4 && !memcmp(ping, "ping", 4));
    uk_info("vcon_flow: reconnected");
    uk_sleep_ns(UK_MSEC(200));
    return 0;
}
