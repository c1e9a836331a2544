/*
 * Scheduler: one global FIFO run queue under one lock, round-robin with a
 * time slice of one tick, over all CPUs; per-CPU idle threads; a global
 * sleep list sorted by deadline.
 *
 * Locking protocol: sched_lock is taken with interrupts disabled and is
 * held across arch_switch(); whichever context runs next releases it (the
 * code after arch_switch in schedule_locked, or sched_thread_first_run for
 * a new thread).  A thread that is not RUNNING is therefore always fully
 * switched out when another CPU can see it.
 *
 * Each CPU's LAPIC timer is one-shot, armed at every scheduling decision
 * for min(next tick, earliest sleeper); idle CPUs skip ticks.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include "core/sched.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/trace_hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/time.h>

struct uk_thread_table uk_thread_table = {
    .magic = UK_THREAD_TABLE_MAGIC,
    .version = UK_THREAD_TABLE_VERSION,
    .max = UK_THREAD_MAX,
    .entry_size = sizeof(struct uk_thread),
};

struct uk_spinlock sched_lock = UK_SPINLOCK_INIT;
static struct uk_thread *rq_head, *rq_tail;
static struct uk_thread *sleep_head;
static uint32_t next_tid = 1;
static uint64_t tick_ns = UK_MSEC(10);
static volatile uint32_t idle_mask; /* CPUs in their idle thread */
bool sched_running;

void arch_switch(struct uk_thread_ctx *prev, struct uk_thread_ctx *next);
void arch_thread_start(void);

/* ------------------------------------------------------------ queues --- */

static void rq_push(struct uk_thread *t)
{
    t->rq_next = NULL;
    if (rq_tail)
        rq_tail->rq_next = t;
    else
        rq_head = t;
    rq_tail = t;
}

static bool runs_on(const struct uk_thread *t, unsigned cpu)
{
    return !(t->flags & UK_THREAD_PINNED) || t->cpu == (int32_t)cpu;
}

/* Is there a queued thread that `cpu` may run? */
static bool rq_has_work(unsigned cpu)
{
    for (struct uk_thread *t = rq_head; t; t = t->rq_next)
        if (runs_on(t, cpu))
            return true;
    return false;
}

/* First runnable thread allowed on `cpu`, removed from the queue. */
static struct uk_thread *rq_pop(unsigned cpu)
{
    struct uk_thread *prev = NULL;
    for (struct uk_thread *t = rq_head; t; prev = t, t = t->rq_next) {
        if (!runs_on(t, cpu))
            continue;
        if (prev)
            prev->rq_next = t->rq_next;
        else
            rq_head = t->rq_next;
        if (rq_tail == t)
            rq_tail = prev;
        t->rq_next = NULL;
        return t;
    }
    return NULL;
}

static void sleep_insert(struct uk_thread *t)
{
    struct uk_thread **pp = &sleep_head;
    while (*pp && (*pp)->wake_ns <= t->wake_ns)
        pp = &(*pp)->sl_next;
    t->sl_next = *pp;
    *pp = t;
}

static void sleep_remove(struct uk_thread *t)
{
    for (struct uk_thread **pp = &sleep_head; *pp; pp = &(*pp)->sl_next) {
        if (*pp == t) {
            *pp = t->sl_next;
            t->sl_next = NULL;
            return;
        }
    }
}

/* Make t runnable (lock held) and kick an idle CPU that may run it. */
void sched_make_runnable(struct uk_thread *t, uk_result why)
{
    if (t->state != UK_THREAD_BLOCKED && t->state != UK_THREAD_SLEEPING)
        return;
    if (t->state == UK_THREAD_SLEEPING || t->wake_ns)
        sleep_remove(t);
    t->wake_ns = 0;
    t->wait_result = why;
    t->state = UK_THREAD_RUNNABLE;
    UK_TRACE(THREAD_WAKE, t->tid, t->cpu);
    rq_push(t);
    unsigned me = uk_cpu_id();
    uint32_t idle = idle_mask & ~(1u << me);
    if (t->flags & UK_THREAD_PINNED)
        idle &= 1u << t->cpu;
    if (idle) {
        lapic_send_ipi(percpu_area[__builtin_ctz(idle)].apic_id, VEC_RESCHED);
    } else if (!(t->flags & UK_THREAD_PINNED) || t->cpu == (int32_t)me) {
        this_cpu()->need_resched = true;
    } else {
        lapic_send_ipi(percpu_area[t->cpu].apic_id, VEC_RESCHED);
    }
}

/* Wake every sleeper whose deadline passed (lock held). */
static void wake_sleepers(uint64_t now)
{
    while (sleep_head && sleep_head->wake_ns <= now) {
        /* A timed-out waiter stays linked on its wait queue; it unlinks
         * itself when it runs (see sync.c). */
        sched_make_runnable(sleep_head, UK_ETIMEDOUT);
    }
}

static void timer_rearm(struct percpu *pc, uint64_t now)
{
    uint64_t deadline = ~0ULL;
    if (pc->current != pc->idle)
        deadline = pc->slice_end_ns;
    if (sleep_head && sleep_head->wake_ns < deadline)
        deadline = sleep_head->wake_ns;
    if (deadline == ~0ULL) {
        lapic_timer_arm(0);
        return;
    }
    uint64_t delta = deadline > now ? deadline - now : 1000;
    uint64_t ticks = (uint64_t)((unsigned __int128)delta * uk_tsc_hz() / UK_NSEC_PER_SEC);
    lapic_timer_arm(uk_tsc() + ticks + 1);
}

/* ---------------------------------------------------------- switching --- */

/*
 * Pick the next thread and switch to it.  Called with sched_lock held and
 * interrupts off; returns (possibly much later, possibly on another CPU)
 * with the lock still held by this context again.
 */
static void schedule_locked(void)
{
    struct percpu *pc = this_cpu();
    struct uk_thread *prev = pc->current;
    uint64_t now = uk_time_ns();

    if (prev->state == UK_THREAD_RUNNING && prev != pc->idle) {
        prev->state = UK_THREAD_RUNNABLE;
        rq_push(prev);
    }
    struct uk_thread *next = rq_pop(pc->index);
    if (!next)
        next = pc->idle;
    if (prev == pc->idle && next != prev)
        prev->state = UK_THREAD_RUNNABLE;
    pc->need_resched = false;

    uint64_t tsc = uk_tsc();
    uint64_t ran = uk_tsc_to_ns(tsc - pc->last_switch_tsc);
    pc->last_switch_tsc = tsc;
    if (prev == pc->idle)
        pc->idle_ns += ran;
    else
        prev->run_ns += ran;

    next->state = UK_THREAD_RUNNING;
    next->cpu = (int32_t)pc->index;
    if (next == pc->idle)
        __atomic_or_fetch(&idle_mask, 1u << pc->index, __ATOMIC_RELAXED);
    else
        __atomic_and_fetch(&idle_mask, ~(1u << pc->index), __ATOMIC_RELAXED);
    pc->slice_end_ns = now + tick_ns;
    timer_rearm(pc, now);

    if (next == prev)
        return;
    next->switches++;
    pc->switches++;
    pc->current = next;
    uk_thread_table.current[pc->index] = (uint64_t)(uintptr_t)next;
    UK_TRACE(SCHED_SWITCH, prev->tid, next->tid);
    arch_switch(&prev->ctx, &next->ctx);
}

void sched_thread_first_run(void)
{
    uk_spin_unlock(&sched_lock);
    __asm__ __volatile__("sti" ::: "memory");
}

void sched_block_locked(void)
{
    schedule_locked();
}

void sched_preempt(void)
{
    uk_spin_lock(&sched_lock);
    schedule_locked();
    uk_spin_unlock(&sched_lock);
}

void timer_interrupt(struct uk_trap_frame *tf)
{
    struct percpu *pc = this_cpu();
    lapic_eoi();
    pc->ticks++;
    sched_run_tick_hooks(tf);
    uint64_t now = uk_time_ns();
    UK_TRACE(TIMER, pc->ticks, now);
    uk_spin_lock(&sched_lock);
    wake_sleepers(now);
    if (pc->current == pc->idle ? rq_has_work(pc->index) : now >= pc->slice_end_ns)
        pc->need_resched = true;
    if (!pc->need_resched) {
        if (now >= pc->slice_end_ns)
            pc->slice_end_ns = now + tick_ns;
        timer_rearm(pc, now);
    }
    uk_spin_unlock(&sched_lock);
}

/* ----------------------------------------------------------- threads --- */

static struct uk_thread *slot_alloc(void)
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

static void thread_setup(struct uk_thread *t, const char *name, uint32_t flags, int cpu)
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
    if (!fn || !name || (cpu >= 0 && (unsigned)cpu >= UK_CPU_MAX))
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
    struct uk_thread *t = slot_alloc();
    if (!t) {
        uk_spin_unlock_irqrestore(&sched_lock, flags);
        free(jq);
        uk_stack_free(lo, pages);
        return UK_ENOMEM;
    }
    thread_setup(t, name, cpu >= 0 ? UK_THREAD_PINNED : 0, cpu);
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
    schedule_locked();
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

struct uk_thread *uk_thread_self(void)
{
    return this_cpu()->current;
}

void uk_thread_yield(void)
{
    unsigned long flags = uk_spin_lock_irqsave(&sched_lock);
    schedule_locked();
    uk_spin_unlock_irqrestore(&sched_lock, flags);
}

void uk_sleep_ns(uint64_t ns)
{
    struct uk_thread *self = uk_thread_self();
    unsigned long flags = uk_spin_lock_irqsave(&sched_lock);
    self->wake_ns = uk_time_ns() + ns;
    self->state = UK_THREAD_SLEEPING;
    UK_TRACE(THREAD_SLEEP, self->tid, ns);
    sleep_insert(self);
    schedule_locked();
    uk_spin_unlock_irqrestore(&sched_lock, flags);
}

/* Add the current thread to the sleep list with `deadline` (lock held). */
void sched_set_deadline(struct uk_thread *t, uint64_t deadline)
{
    t->wake_ns = deadline;
    if (deadline)
        sleep_insert(t);
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

uint64_t uk_sched_switches(unsigned cpu)
{
    return cpu < UK_CPU_MAX ? percpu_area[cpu].switches : 0;
}

uint64_t uk_sched_idle_ns(unsigned cpu)
{
    return cpu < UK_CPU_MAX ? percpu_area[cpu].idle_ns : 0;
}

/* ------------------------------------------------------ start-up/idle --- */

/* Turn the calling boot context into this CPU's idle thread. */
void sched_init_cpu(void)
{
    struct percpu *pc = this_cpu();
    char name[UK_THREAD_NAME];
    snprintf(name, sizeof(name), "idle%u", pc->index);
    unsigned long flags = uk_spin_lock_irqsave(&sched_lock);
    struct uk_thread *t = slot_alloc();
    UK_ASSERT(t);
    thread_setup(t, name, UK_THREAD_IDLE | UK_THREAD_KERNEL | UK_THREAD_PINNED, (int)pc->index);
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    t->stack_hi = UK_ALIGN_UP(sp, UK_PAGE_SIZE);
    t->stack_lo = pc->index == 0 ? (uint64_t)(uintptr_t)boot_stack : t->stack_hi - THREAD_STACK_SIZE;
    t->state = UK_THREAD_RUNNING;
    pc->idle = pc->current = t;
    pc->last_switch_tsc = uk_tsc();
    uk_thread_table.current[pc->index] = (uint64_t)(uintptr_t)t;
    if (pc->index + 1 > uk_thread_table.ncpus)
        uk_thread_table.ncpus = pc->index + 1;
    uk_spin_unlock_irqrestore(&sched_lock, flags);
}

void sched_init(void)
{
    uint64_t hz = uk_cmdline_get_u64("hz", 100);
    if (hz >= 10 && hz <= 10000)
        tick_ns = UK_NSEC_PER_SEC / hz;
    sched_init_cpu();
    sched_running = true;
}

void sched_idle_loop(void)
{
    struct percpu *pc = this_cpu();
    for (;;) {
        hooks_run_idle(pc->index);
        __asm__ __volatile__("cli");
        uk_spin_lock(&sched_lock);
        if (rq_has_work(pc->index)) {
            schedule_locked();
            uk_spin_unlock(&sched_lock);
            __asm__ __volatile__("sti");
            continue;
        }
        timer_rearm(pc, uk_time_ns());
        uk_spin_unlock(&sched_lock);
        cpu_idle_halt();
    }
}
