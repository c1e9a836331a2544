/*
 * Locks and waiting.
 *
 * Spinlocks disable interrupts on the owning CPU (irqsave) and may be used
 * anywhere but NMI context.  Mutexes, wait queues and condition variables
 * block and may only be used from threads.
 */
#ifndef UK_SYNC_H
#define UK_SYNC_H

#include <uk/types.h>

/* Ticket lock: FIFO among CPUs, so a CPU that re-takes a lock in a loop
 * cannot starve the others. */
struct uk_spinlock {
    volatile uint16_t next;    /* next ticket to hand out */
    volatile uint16_t serving; /* ticket that holds the lock */
    uint32_t owner_cpu;        /* for debugging; valid while locked */
};
#define UK_SPINLOCK_INIT {0, 0, 0}

void uk_spin_lock(struct uk_spinlock *l);
void uk_spin_unlock(struct uk_spinlock *l);
bool uk_spin_trylock(struct uk_spinlock *l);
/* Lock with interrupts disabled; returns the flags for unlock. */
unsigned long uk_spin_lock_irqsave(struct uk_spinlock *l);
void uk_spin_unlock_irqrestore(struct uk_spinlock *l, unsigned long flags);

struct uk_thread;

/* A FIFO of blocked threads. */
struct uk_waitq {
    struct uk_spinlock lock;
    struct uk_thread *head, *tail;
};
#define UK_WAITQ_INIT {UK_SPINLOCK_INIT, 0, 0}

void uk_waitq_init(struct uk_waitq *q);

/*
 * Block the calling thread on q until woken or until the absolute deadline
 * (uk_time_ns(); 0 = none).  `lock` (held by the caller, may be NULL) is
 * released atomically with going to sleep and retaken before return.
 * Returns UK_OK when woken, UK_ETIMEDOUT on deadline.  Spurious returns
 * are allowed: callers re-check their condition.
 */
uk_result uk_waitq_wait(struct uk_waitq *q, struct uk_spinlock *lock, uint64_t deadline_ns);

/* Wake one / all waiters.  Safe from interrupt context.  Returns the number woken. */
unsigned uk_waitq_wake_one(struct uk_waitq *q);
unsigned uk_waitq_wake_all(struct uk_waitq *q);

/* Sleeping mutex, FIFO hand-off, not recursive.  waiters.lock guards owner. */
struct uk_mutex {
    struct uk_thread *owner;
    struct uk_waitq waiters;
    uint64_t contended; /* times a locker had to wait */
};
#define UK_MUTEX_INIT {0, UK_WAITQ_INIT, 0}

void uk_mutex_init(struct uk_mutex *m);
void uk_mutex_lock(struct uk_mutex *m);
bool uk_mutex_trylock(struct uk_mutex *m);
void uk_mutex_unlock(struct uk_mutex *m);

/* Condition variable, used with a uk_mutex. */
struct uk_cond {
    struct uk_waitq q;
};
#define UK_COND_INIT {UK_WAITQ_INIT}

void uk_cond_init(struct uk_cond *c);
/* Returns UK_OK or UK_ETIMEDOUT (deadline_ns absolute, 0 = none). */
uk_result uk_cond_wait(struct uk_cond *c, struct uk_mutex *m, uint64_t deadline_ns);
void uk_cond_signal(struct uk_cond *c);
void uk_cond_broadcast(struct uk_cond *c);

/* Atomics used across the kernel (full barriers). */
#define uk_atomic_add(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define uk_atomic_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define uk_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#endif
