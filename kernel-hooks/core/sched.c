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

struct uk_spinlock sched_lock = UK_SPINLOCK_INIT;
static struct uk_thread *rq_head, *rq_tail;
static struct uk_thread *sleep_head;
static uint64_t tick_ns = UK_MSEC(10);
static volatile uint32_t idle_mask; /* CPUs in their idle thread */
bool sched_running;

void arch_switch(struct uk_thread_ctx *prev, struct uk_thread_ctx *next);

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

/* --------------------------------------------------- running thread --- */

struct uk_thread *uk_thread_self(void)
{
    return this_cpu_current(); /* callers may be preemptible: one load */
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
    struct uk_thread *t = thread_slot_alloc();
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
