/*
 * Wait queues, mutexes and condition variables.
 *
 * Lock order: a wait queue's lock, then sched_lock.  A thread blocks by
 * linking itself on the queue under q->lock, taking sched_lock, releasing
 * q->lock and switching away; a waker takes q->lock then sched_lock, so it
 * cannot see the thread before it is BLOCKED and switched out.
 *
 * Timeouts: the timer path holds only sched_lock, so it makes a timed-out
 * waiter runnable without unlinking it; the waiter unlinks itself when it
 * runs, and wakers skip queue entries that are no longer BLOCKED on that
 * queue.
 */
#include "core/sched.h"
#include <string.h>
#include <uk/cpu.h>
#include <uk/panic.h>

void uk_waitq_init(struct uk_waitq *q)
{
    memset(q, 0, sizeof(*q));
}

static void q_append(struct uk_waitq *q, struct uk_thread *t)
{
    t->wq_next = NULL;
    if (q->tail)
        q->tail->wq_next = t;
    else
        q->head = t;
    q->tail = t;
}

static struct uk_thread *q_pop(struct uk_waitq *q)
{
    struct uk_thread *t = q->head;
    if (t) {
        q->head = t->wq_next;
        if (!q->head)
            q->tail = NULL;
        t->wq_next = NULL;
    }
    return t;
}

static void q_unlink(struct uk_waitq *q, struct uk_thread *t)
{
    struct uk_thread *prev = NULL;
    for (struct uk_thread *c = q->head; c; prev = c, c = c->wq_next) {
        if (c != t)
            continue;
        if (prev)
            prev->wq_next = c->wq_next;
        else
            q->head = c->wq_next;
        if (q->tail == c)
            q->tail = prev;
        c->wq_next = NULL;
        return;
    }
}

unsigned waitq_wake_locked(struct uk_waitq *q, unsigned max)
{
    unsigned n = 0;
    struct uk_thread *t;
    while (n < max && (t = q_pop(q))) {
        if (t->state != UK_THREAD_BLOCKED || t->waitq != q)
            continue; /* timed out already */
        t->waitq = NULL;
        sched_make_runnable(t, UK_OK);
        n++;
    }
    return n;
}

uk_result uk_waitq_wait_locked(struct uk_waitq *q, uint64_t deadline_ns)
{
    struct uk_thread *self = uk_thread_self();
    q_append(q, self);
    self->waitq = q;
    uk_spin_lock(&sched_lock);
    uk_spin_unlock(&q->lock);
    self->state = UK_THREAD_BLOCKED;
    self->wait_result = UK_OK;
    sched_set_deadline(self, deadline_ns);
    sched_block_locked();
    uk_result r = (uk_result)self->wait_result;
    uk_spin_unlock(&sched_lock);
    uk_spin_lock(&q->lock);
    if (self->waitq == q) {
        q_unlink(q, self);
        self->waitq = NULL;
    }
    return r;
}

uk_result uk_waitq_wait(struct uk_waitq *q, struct uk_spinlock *lock, uint64_t deadline_ns)
{
    unsigned long flags = uk_irq_save();
    uk_spin_lock(&q->lock);
    if (lock)
        uk_spin_unlock(lock);
    uk_result r = uk_waitq_wait_locked(q, deadline_ns);
    uk_spin_unlock(&q->lock);
    if (lock)
        uk_spin_lock(lock);
    uk_irq_restore(flags);
    return r;
}

static unsigned wake(struct uk_waitq *q, unsigned max)
{
    unsigned long flags = uk_spin_lock_irqsave(&q->lock);
    uk_spin_lock(&sched_lock);
    unsigned n = waitq_wake_locked(q, max);
    uk_spin_unlock(&sched_lock);
    uk_spin_unlock_irqrestore(&q->lock, flags);
    return n;
}

unsigned uk_waitq_wake_one(struct uk_waitq *q)
{
    return wake(q, 1);
}

unsigned uk_waitq_wake_all(struct uk_waitq *q)
{
    return wake(q, ~0u);
}

/* --------------------------------------------------------------- mutex --- */

void uk_mutex_init(struct uk_mutex *m)
{
    memset(m, 0, sizeof(*m));
}

void uk_mutex_lock(struct uk_mutex *m)
{
    struct uk_thread *self = uk_thread_self();
    unsigned long flags = uk_spin_lock_irqsave(&m->waiters.lock);
    UK_ASSERT(m->owner != self);
    if (!m->owner) {
        m->owner = self;
    } else {
        m->contended++;
        while (m->owner != self) /* unlock hands ownership to us directly */
            uk_waitq_wait_locked(&m->waiters, 0);
    }
    uk_spin_unlock_irqrestore(&m->waiters.lock, flags);
}

bool uk_mutex_trylock(struct uk_mutex *m)
{
    unsigned long flags = uk_spin_lock_irqsave(&m->waiters.lock);
    bool got = !m->owner;
    if (got)
        m->owner = uk_thread_self();
    uk_spin_unlock_irqrestore(&m->waiters.lock, flags);
    return got;
}

void uk_mutex_unlock(struct uk_mutex *m)
{
    unsigned long flags = uk_spin_lock_irqsave(&m->waiters.lock);
    UK_ASSERT(m->owner == uk_thread_self());
    uk_spin_lock(&sched_lock);
    struct uk_thread *next = NULL, *t;
    while ((t = q_pop(&m->waiters))) {
        if (t->state == UK_THREAD_BLOCKED && t->waitq == &m->waiters) {
            next = t;
            break;
        }
    }
    m->owner = next;
    if (next) {
        next->waitq = NULL;
        sched_make_runnable(next, UK_OK);
    }
    uk_spin_unlock(&sched_lock);
    uk_spin_unlock_irqrestore(&m->waiters.lock, flags);
}

/* ---------------------------------------------------------------- cond --- */

void uk_cond_init(struct uk_cond *c)
{
    uk_waitq_init(&c->q);
}

uk_result uk_cond_wait(struct uk_cond *c, struct uk_mutex *m, uint64_t deadline_ns)
{
    unsigned long flags = uk_spin_lock_irqsave(&c->q.lock);
    uk_mutex_unlock(m);
    uk_result r = uk_waitq_wait_locked(&c->q, deadline_ns);
    uk_spin_unlock_irqrestore(&c->q.lock, flags);
    uk_mutex_lock(m);
    return r;
}

void uk_cond_signal(struct uk_cond *c)
{
    uk_waitq_wake_one(&c->q);
}

void uk_cond_broadcast(struct uk_cond *c)
{
    uk_waitq_wake_all(&c->q);
}
