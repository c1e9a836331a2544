/*
 * Ring writer: reserve/commit on one per-CPU ring without locked
 * instructions.  Header-only so the guest tracer and the native host stress
 * test run the same code.
 *
 * Safety argument: only the owning CPU writes a ring.  Nested writers
 * (interrupt, NMI) on that CPU run to completion before the interrupted one
 * continues, so a plain (non-locked) cmpxchg on head is atomic enough: if a
 * nested writer reserved between our load and our cmpxchg, the cmpxchg
 * fails and we retry.  The TSC is read inside the retry loop, so timestamps
 * are monotonic in reservation order even with nesting.
 */
#ifndef UK_TRACE_RING_H
#define UK_TRACE_RING_H

#include "uk_trace_abi.h"

static inline uint64_t uk_trace_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* cmpxchg without the lock prefix: atomic w.r.t. this CPU only. */
static inline int uk_trace_cmpxchg_local(uint64_t *p, uint64_t old, uint64_t new_)
{
    unsigned char ok;
    __asm__ __volatile__("cmpxchgq %3, %1; sete %0"
                         : "=q"(ok), "+m"(*p), "+a"(old)
                         : "r"(new_)
                         : "memory", "cc");
    return ok;
}

/*
 * Write one event into ring r (slots = its slot array).  Returns 1 if
 * written, 0 if the ring is in discard mode and full (the caller decides
 * whether that is a loss: uk_trace_ring_count_lost()).
 */
static inline int uk_trace_ring_write(struct uk_trace_ring *r, struct uk_trace_rec *slots,
                                      uint64_t tsc_base, unsigned id, uint64_t a, uint64_t b)
{
    uint64_t h, tsc;
    do {
        h = *(volatile uint64_t *)&r->head;
        if (r->mode == UK_TRACE_DISCARD && h >= r->nslots) {
            return 0;
        }
        tsc = uk_trace_rdtsc();
    } while (!uk_trace_cmpxchg_local(&r->head, h, h + 1));

    struct uk_trace_rec *s = &slots[h & (r->nslots - 1)];
    s->id = (uint16_t)id;
    s->flags = 0;
    s->tsc = tsc - tsc_base;
    s->arg[0] = a;
    s->arg[1] = b;
    /* x86-TSO keeps store order; the barrier keeps the compiler's. */
    __atomic_store_n(&s->commit, uk_trace_commit_tag(h), __ATOMIC_RELEASE);
    return 1;
}

/* Count one dropped event; one instruction, so nesting cannot tear it. */
static inline void uk_trace_ring_count_lost(struct uk_trace_ring *r)
{
    __asm__ __volatile__("incq %0" : "+m"(r->lost)::"memory");
}

#endif
