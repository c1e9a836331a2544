/*
 * Guest telemetry sender (internal to guest-agent/guest/telemetry*.c).
 *
 * One producer: the telemetry thread, plus the panic hook once the world
 * has stopped.  Every envelope gets the next sequence number when it is
 * built; it is then either written whole to the port or dropped and counted
 * (never half-written: a frame the port accepted only in part stays in a
 * pending buffer and is completed before any other frame is written).
 */
#ifndef GUEST_AGENT_TELEMETRY_H
#define GUEST_AGENT_TELEMETRY_H

#include <uk/types.h>

#include "telemetry.pb-c.h"

typedef Ukscope__Telemetry__Envelope telem_envelope;

struct uk_vcon_port;

/* Bytes of the largest frame the guest builds (prefix included). */
#define TELEM_GUEST_FRAME_MAX 8192

/* Sender totals (also carried by every heartbeat). */
struct telem_counters {
    uint64_t produced;   /* envelopes built (== next seq) */
    uint64_t lost;       /* envelopes dropped, for any reason (the wire's `lost`) */
    uint64_t lost_since; /* dropped since the last delivered one */
    uint64_t too_big;    /* dropped because they exceeded TELEM_GUEST_FRAME_MAX */
    uint64_t unread;     /* ... of `lost`: dropped because no host reader was attached */
};

/* Start sending on `port`, counters and seq at zero (called once by the
 * thread, before any telem_send). */
void telem_send_init(struct uk_vcon_port *port);

/*
 * Fill env's header (instance id, seq, lost, time), encode, and write it
 * whole or drop it.  env->payload_case and the payload are set by the
 * caller.  Returns true if the frame was accepted (at least in part; the
 * rest is pending and sent by telem_send_flush).
 */
bool telem_send(telem_envelope *env);

/*
 * Panic path (interrupts off): like telem_send, but poll the port until
 * the frame is written whole or deadline_ns passes.  True if it was.
 */
bool telem_send_polled(telem_envelope *env, uint64_t deadline_ns);

/* Whether the last telem_send that returned false dropped its envelope
 * because no host reader was attached (not a loss any reader sees). */
bool telem_send_last_unread(void);

/* Push the pending frame's remainder; true when nothing is pending. */
bool telem_send_flush(void);

/*
 * Panic path: wait (polling, interrupts off) until the pending frame is
 * gone or deadline_ns passes.  Returns true when nothing is pending.
 */
bool telem_send_drain_polled(uint64_t deadline_ns);

void telem_counters_get(struct telem_counters *out);

/* The sender's port, or NULL before telem_send_init. */
struct uk_vcon_port *telem_port(void);

/* True while a telem_send/flush is in progress (the panic hook checks it). */
bool telem_send_busy(void);

/* Produce and send LogRecords for new kernel log records (at most max). */
unsigned telem_send_klog(unsigned max);

/* Log forwarding totals (written by the telemetry thread, read by anyone). */
struct telem_klog_counters {
    uint64_t sent;        /* LogRecords accepted by the port */
    uint64_t unsent;      /* LogRecords dropped while a host reader was attached (channel full) */
    uint64_t unread;      /* LogRecords dropped because no host reader was attached */
    uint64_t overwritten; /* ring records overwritten before the forwarder read them */
};
void telem_klog_counters(struct telem_klog_counters *out);

/* Crash report from the panic hook (registered by the thread). */
struct uk_panic_info;
void telem_crash_hook(const struct uk_panic_info *info, void *arg);

/* Instance id: `instance=` from the command line, else "boot-<tsc hex>". */
const char *telem_instance_id(void);

#endif
