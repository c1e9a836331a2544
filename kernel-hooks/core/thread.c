/*
 * Thread lifecycle: the thread table (ABI: <uk/thread_abi.h>), creation
 * with guarded stacks, exit, join, iteration.  Scheduling is in sched.c.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include "core/sched.h"
#include <stdlib.h>
#include <string.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/time.h>
#include <uk/trace_hooks.h>

struct uk_thread_table uk_thread_table = {
    .magic = UK_THREAD_TABLE_MAGIC,
    .version = UK_THREAD_TABLE_VERSION,
    .max = UK_THREAD_MAX,
    .entry_size = sizeof(struct uk_thread),
};

static uint32_t next_tid = 1;

void arch_thread_start(void);

struct uk_thread *thread_slot_alloc(void)
{
    for (unsigned i = 0; i < UK_THREAD_MAX; i++) {
        struct uk_thread *t = &uk_thread_table.threads[i];
        if (t->state == UK_THREAD_FREE) {
            memset(t, 0, sizeof(*t));
            t->state = UK_THREAD_EXITED; /* reserved until set up */
            t->tid = next_tid++;
            return t;
        }
    }
    return NULL;
}

void thread_setup(struct uk_thread *t, const char *name, uint32_t flags, int cpu)
{
    strlcpy(t->name, name, sizeof(t->name));
    t->flags = flags;
    t->cpu = cpu;
    t->created_ns = uk_time_ns();
}

uk_result uk_thread_create(const char *name, uk_thread_fn fn, void *arg,
                           const struct uk_thread_attr *attr, struct uk_thread **out)
{
    size_t stack = attr && attr->stack_size ? attr->stack_size : THREAD_STACK_SIZE;
    int cpu = attr ? attr->cpu : -1;
    enum uk_thread_prio prio = attr ? attr->prio : UK_PRIO_APP;
    if (!fn || !name || (cpu >= 0 && (unsigned)cpu >= UK_CPU_MAX) ||
        (unsigned)prio >= UK_PRIO_COUNT)
        return UK_EINVAL;
    size_t pages = UK_ALIGN_UP(stack, UK_PAGE_SIZE) / UK_PAGE_SIZE;
    uint8_t *lo = uk_stack_alloc(pages);
    if (!lo)
        return UK_ENOMEM;
    struct uk_waitq *jq = malloc(sizeof(*jq));
    if (!jq) {
        uk_stack_free(lo, pages);
        return UK_ENOMEM;
    }
    uk_waitq_init(jq);

    unsigned long flags = uk_spin_lock_irqsave(&sched_lock);
    struct uk_thread *t = thread_slot_alloc();
    if (!t) {
        uk_spin_unlock_irqrestore(&sched_lock, flags);
        free(jq);
        uk_stack_free(lo, pages);
        return UK_ENOMEM;
    }
    thread_setup(t, name,
                 (cpu >= 0 ? UK_THREAD_PINNED : 0) | (prio == UK_PRIO_SYSTEM ? UK_THREAD_SYSTEM : 0),
                 cpu);
    t->stack_lo = (uint64_t)(uintptr_t)lo;
    t->stack_hi = t->stack_lo + pages * UK_PAGE_SIZE;
    t->stack_pages = pages;
    t->join_q = jq;
    t->fn = (uint64_t)(uintptr_t)fn;
    t->arg = (uint64_t)(uintptr_t)arg;
    /* The first switch "returns" into arch_thread_start with a call-aligned stack. */
    t->ctx.rsp = t->stack_hi - 16;
    t->ctx.rip = (uint64_t)(uintptr_t)arch_thread_start;
    t->ctx.r12 = t->fn;
    t->ctx.r13 = t->arg;
    t->ctx.rbp = 0;
    t->state = UK_THREAD_BLOCKED;
    UK_TRACE(THREAD_CREATE, t->tid, uk_tp_str8(t->name));
    sched_make_runnable(t, UK_OK);
    uk_spin_unlock_irqrestore(&sched_lock, flags);
    if (out)
        *out = t;
    return UK_OK;
}

void uk_thread_exit(void)
{
    struct uk_thread *self = uk_thread_self();
    UK_ASSERT(!(self->flags & UK_THREAD_IDLE));
    uk_irq_save();
    struct uk_waitq *jq = self->join_q;
    uk_spin_lock(&jq->lock);
    uk_spin_lock(&sched_lock);
    self->state = UK_THREAD_EXITED;
    UK_TRACE(THREAD_EXIT, self->tid, 0);
    waitq_wake_locked(jq, ~0u);
    uk_spin_unlock(&jq->lock);
    sched_block_locked();
    uk_panic("exited thread %u resumed", self->tid);
}

uk_result uk_thread_join(struct uk_thread *t)
{
    if (!t || t == uk_thread_self())
        return UK_EINVAL;
    struct uk_waitq *jq = t->join_q;
    unsigned long flags = uk_spin_lock_irqsave(&jq->lock);
    if (t->joined) {
        uk_spin_unlock_irqrestore(&jq->lock, flags);
        return UK_EBUSY;
    }
    t->joined = 1;
    while (UK_READ_ONCE(t->state) != UK_THREAD_EXITED)
        uk_waitq_wait_locked(jq, 0);
    uk_spin_unlock_irqrestore(&jq->lock, flags);

    /* EXITED is set under sched_lock, held until t is switched out: sync on it. */
    flags = uk_spin_lock_irqsave(&sched_lock);
    uk_spin_unlock_irqrestore(&sched_lock, flags);
    uk_stack_free((void *)(uintptr_t)t->stack_lo, t->stack_pages);
    free(jq);
    flags = uk_spin_lock_irqsave(&sched_lock);
    t->state = UK_THREAD_FREE;
    uk_spin_unlock_irqrestore(&sched_lock, flags);
    return UK_OK;
}

const struct uk_thread_table *uk_thread_table_get(void)
{
    return &uk_thread_table;
}

void uk_thread_foreach(bool (*fn)(const struct uk_thread *t, void *arg), void *arg)
{
    unsigned long flags = uk_spin_lock_irqsave(&sched_lock);
    for (unsigned i = 0; i < UK_THREAD_MAX; i++) {
        const struct uk_thread *t = &uk_thread_table.threads[i];
        if (t->state != UK_THREAD_FREE && !fn(t, arg))
            break;
    }
    uk_spin_unlock_irqrestore(&sched_lock, flags);
}

const char *uk_thread_state_name(unsigned state)
{
    static const char *const names[] = {"free",     "runnable", "running",
                                        "blocked",  "sleeping", "exited"};
    return state < UK_ARRAY_SIZE(names) ? names[state] : "?";
}
