/*
 * Scheduler internals shared by sched.c and sync.c (wait queues).
 * Everything here is called with sched_lock held and interrupts off
 * unless stated otherwise.
 */
#ifndef UK_CORE_SCHED_H
#define UK_CORE_SCHED_H

#include <uk/sync.h>
#include <uk/thread.h>

extern struct uk_spinlock sched_lock;
extern bool sched_running;

/* Make a BLOCKED or SLEEPING thread runnable with wait result `why`. */
void sched_make_runnable(struct uk_thread *t, uk_result why);

/* Switch away from the current thread, which the caller marked BLOCKED. */
void sched_block_locked(void);

/* Put t on the sleep list with an absolute deadline (0 = none). */
void sched_set_deadline(struct uk_thread *t, uint64_t deadline);

/* Wake up to `max` threads blocked on q; q->lock and sched_lock held. */
unsigned waitq_wake_locked(struct uk_waitq *q, unsigned max);

/*
 * Block on q (whose lock the caller holds, interrupts off) until woken or
 * deadline; q->lock is released while blocked and held again on return.
 * Returns UK_OK or UK_ETIMEDOUT.  Not with sched_lock held.
 */
uk_result uk_waitq_wait_locked(struct uk_waitq *q, uint64_t deadline_ns);

extern struct uk_thread_table uk_thread_table;

/* A free thread-table slot, zeroed, reserved (EXITED) and given a new tid;
 * NULL if the table is full. */
struct uk_thread *thread_slot_alloc(void);

/* Fill in name, flags and CPU of a new slot. */
void thread_setup(struct uk_thread *t, const char *name, uint32_t flags, int cpu);

/* Create the idle thread of the calling CPU from its boot context. */
void sched_init_cpu(void);

#endif
