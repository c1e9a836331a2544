/*
 * Telemetry framing and loss accounting on the guest side; see telemetry.h.
 *
 * Sequence numbers are given out when an envelope is built, so on the wire
 * every envelope satisfies  lost == seq - previous delivered seq - 1  and
 * the host can check loss counts exactly.
 */
#include <string.h>
#include <uk/cpu.h>
#include <uk/time.h>
#include <uk/vcon.h>

#include "telemetry.h"
#include "telemetry_frame.h"

static struct {
    struct uk_vcon_port *port;
    struct telem_counters c;
    volatile bool busy;
    size_t pend_off, pend_len; /* frame[pend_off..pend_len) not yet accepted */
    uint8_t frame[TELEM_GUEST_FRAME_MAX];
} tx;

void telem_send_init(struct uk_vcon_port *port)
{
    tx.port = port;
    tx.c = (struct telem_counters){0, 0, 0, 0, 0};
    tx.pend_off = tx.pend_len = 0;
}

struct uk_vcon_port *telem_port(void)
{
    return tx.port;
}

bool telem_send_busy(void)
{
    return tx.busy;
}

void telem_counters_get(struct telem_counters *out)
{
    *out = tx.c;
}

static bool flush_locked(void)
{
    while (tx.pend_off < tx.pend_len) {
        size_t n = uk_vcon_write(tx.port, tx.frame + tx.pend_off, tx.pend_len - tx.pend_off);
        if (!n)
            return false;
        tx.pend_off += n;
    }
    tx.pend_off = tx.pend_len = 0;
    return true;
}

bool telem_send_flush(void)
{
    bool done;

    if (!tx.port)
        return true;
    tx.busy = true;
    done = flush_locked();
    tx.busy = false;
    return done;
}

static bool last_unread; /* the last drop had no reader attached */

static void drop(void)
{
    tx.c.lost++;
    tx.c.lost_since++;
    last_unread = false;
}

/* Dropped because nobody reads the port: counted apart from real loss. */
static void drop_unread(void)
{
    drop();
    tx.c.unread++;
    last_unread = true;
}

bool telem_send_last_unread(void)
{
    return last_unread;
}

/* Number env, encode it into tx.frame as the pending frame.  False (and
 * counted) if it is too big.  Call with nothing pending. */
static bool encode(telem_envelope *env)
{
    size_t body, pre;
    uint8_t prefix[TELEM_VARINT_MAX];

    body = ukscope__telemetry__envelope__get_packed_size(env);
    pre = telem_varint_put(prefix, body < TELEM_FRAME_MAX ? (uint32_t)body : TELEM_FRAME_MAX);
    if (pre + body > sizeof(tx.frame)) {
        tx.c.too_big++;
        return false;
    }
    memcpy(tx.frame, prefix, pre);
    ukscope__telemetry__envelope__pack(env, tx.frame + pre);
    tx.pend_off = 0;
    tx.pend_len = pre + body;
    return true;
}

static void number(telem_envelope *env)
{
    env->instance_id = (char *)telem_instance_id();
    env->seq = tx.c.produced++;
    env->lost = tx.c.lost_since;
    env->time_ns = uk_time_ns();
}

bool telem_send(telem_envelope *env)
{
    bool sent = false;

    number(env);
    if (!tx.port) {
        drop_unread();
        return false;
    }
    tx.busy = true;
    /* Nobody reading: count the drop without paying for the encoding. */
    if (!uk_vcon_host_connected(tx.port)) {
        drop_unread();
        goto out;
    }
    /* Never interleave: an unfinished frame blocks every newer one. */
    if (!flush_locked() || !encode(env)) {
        drop();
        goto out;
    }
    flush_locked();
    if (tx.pend_off == 0 && tx.pend_len) {
        /* Not a byte accepted: the frame never started, so drop it whole. */
        tx.pend_len = 0;
        drop();
        goto out;
    }
    tx.c.lost_since = 0;
    sent = true;
out:
    tx.busy = false;
    return sent;
}

bool telem_send_polled(telem_envelope *env, uint64_t deadline_ns)
{
    number(env);
    if (!tx.port || !telem_send_drain_polled(deadline_ns) || !encode(env)) {
        drop();
        return false;
    }
    for (;;) {
        flush_locked();
        if (tx.pend_off || !tx.pend_len)
            break; /* started: it is delivered (or being delivered) */
        if (uk_time_ns() >= deadline_ns || !uk_vcon_host_connected(tx.port)) {
            tx.pend_len = 0;
            drop();
            return false;
        }
        uk_vcon_poll(tx.port);
        uk_delay_ns(UK_USEC(20));
    }
    tx.c.lost_since = 0;
    return telem_send_drain_polled(deadline_ns);
}

bool telem_send_drain_polled(uint64_t deadline_ns)
{
    if (!tx.port)
        return true;
    for (;;) {
        if (flush_locked())
            return true;
        if (uk_time_ns() >= deadline_ns || !uk_vcon_host_connected(tx.port))
            return false;
        uk_vcon_poll(tx.port);
        uk_delay_ns(UK_USEC(20));
    }
}
