/*
 * Scheduler: two priority classes (system above application, see
 * <uk/thread.h>), each one global FIFO run queue under one lock,
 * round-robin with a time slice of one tick, over all CPUs; per-CPU idle
 * threads; per-CPU sleep lists sorted by deadline.
 *
 * Priorities: a system thread made runnable preempts an application thread
 * at once -- on this CPU through need_resched (at interrupt exit) or a
 * self-IPI (from thread context), on another CPU through a reschedule IPI.
 * Strict: application threads never run while a system thread is queued
 * for that CPU.
 *
 * Locking protocol: sched_lock is taken with interrupts disabled and is
 * held across arch_switch(); whichever context runs next releases it (the
 * code after arch_switch in schedule_locked, or sched_thread_first_run for
 * a new thread).  A thread that is not RUNNING is therefore always fully
 * switched out when another CPU can see it.
 *
 * Tickless: each CPU's LAPIC timer is one-shot, armed at every scheduling
 * decision for min(end of the time slice, earliest sleeper *of this CPU*).
 * A thread sleeps on the list of the CPU it slept on (t->cpu), so a CPU
 * whose run queue is empty and whose list is empty gets no timer interrupt
 * at all; an expired sleeper is woken by the CPU it slept on, which runs it
 * itself when idle.
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
static struct uk_thread *rq_head[UK_PRIO_COUNT], *rq_tail[UK_PRIO_COUNT];
static struct uk_thread *sleep_head[UK_CPU_MAX]; /* per CPU, by deadline */
static uint64_t tick_ns = UK_MSEC(10);
static volatile uint32_t idle_mask; /* CPUs in their idle thread */
bool sched_running;

void arch_switch(struct uk_thread_ctx *prev, struct uk_thread_ctx *next);

/* ------------------------------------------------------------ queues --- */

static bool classes = true; /* sched.classes=0: one class, for A/B benchmarks */

static unsigned prio_of(const struct uk_thread *t)
{
    return classes && (t->flags & UK_THREAD_SYSTEM) ? UK_PRIO_SYSTEM : UK_PRIO_APP;
}

static void rq_push(struct uk_thread *t)
{
    unsigned p = prio_of(t);
    t->rq_next = NULL;
    if (rq_tail[p])
        rq_tail[p]->rq_next = t;
    else
        rq_head[p] = t;
    rq_tail[p] = t;
}

static bool runs_on(const struct uk_thread *t, unsigned cpu)
{
    return !(t->flags & UK_THREAD_PINNED) || t->cpu == (int32_t)cpu;
}

/* Is there a queued thread of class >= min_prio that `cpu` may run? */
static bool rq_has_work(unsigned cpu, unsigned min_prio)
{
    for (unsigned p = min_prio; p < UK_PRIO_COUNT; p++)
        for (struct uk_thread *t = rq_head[p]; t; t = t->rq_next)
            if (runs_on(t, cpu))
                return true;
    return false;
}

/* First runnable thread of the highest class allowed on `cpu`, dequeued. */
static struct uk_thread *rq_pop(unsigned cpu)
{
    for (int p = UK_PRIO_COUNT - 1; p >= 0; p--) {
        struct uk_thread *prev = NULL;
        for (struct uk_thread *t = rq_head[p]; t; prev = t, t = t->rq_next) {
            if (!runs_on(t, cpu))
                continue;
            if (prev)
                prev->rq_next = t->rq_next;
            else
                rq_head[p] = t->rq_next;
            if (rq_tail[p] == t)
                rq_tail[p] = prev;
            t->rq_next = NULL;
            return t;
        }
    }
    return NULL;
}

/* Sleepers are kept on the list of the CPU they went to sleep on, which is
 * t->cpu (a thread's cpu only changes when it is switched in). */
static void sleep_insert(struct uk_thread *t)
{
    struct uk_thread **pp = &sleep_head[t->cpu];
    while (*pp && (*pp)->wake_ns <= t->wake_ns)
        pp = &(*pp)->sl_next;
    t->sl_next = *pp;
    *pp = t;
}

static void sleep_remove(struct uk_thread *t)
{
    for (struct uk_thread **pp = &sleep_head[t->cpu]; *pp; pp = &(*pp)->sl_next) {
        if (*pp == t) {
            *pp = t->sl_next;
            t->sl_next = NULL;
            return;
        }
    }
}

/* Ask `cpu` to reschedule: its need_resched, plus an IPI unless it is the
 * calling CPU in interrupt context (acted on at interrupt exit).  From
 * thread context the calling CPU sends itself the IPI, which is taken as
 * soon as interrupts are enabled again. */
static void kick(unsigned cpu)
{
    struct percpu *pc = &percpu_area[cpu];
    pc->need_resched = true;
    if (cpu != uk_cpu_id() || pc->irq_depth == 0)
        lapic_send_ipi(pc->apic_id, VEC_RESCHED);
}

/* A CPU t may run whose current thread has a lower class and which has not
 * been kicked yet, the calling CPU first; -1 if none. */
static int preemptible_cpu(const struct uk_thread *t, unsigned me)
{
    unsigned p = prio_of(t), n = uk_cpu_count();
    for (unsigned i = 0; i < n; i++) {
        unsigned c = (me + i) % n;
        struct percpu *pc = &percpu_area[c];
        if (!pc->online || !pc->current || pc->need_resched || !runs_on(t, c))
            continue;
        if (pc->current != pc->idle && prio_of(pc->current) < p)
            return (int)c;
    }
    return -1;
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
    struct percpu *mine = &percpu_area[me];
    /* An idle CPU that may run t: this one first (an interrupt woke it, it
     * is about to schedule anyway), then any other not yet kicked. */
    uint32_t idle = idle_mask;
    if (t->flags & UK_THREAD_PINNED)
        idle &= 1u << t->cpu;
    for (unsigned c = 0; c < UK_CPU_MAX; c++)
        if ((idle & (1u << c)) && percpu_area[c].need_resched)
            idle &= ~(1u << c);
    if (idle & (1u << me)) {
        mine->need_resched = true;
        return;
    }
    if (idle) {
        kick((unsigned)__builtin_ctz(idle));
        return;
    }
    /* No idle CPU: a higher class preempts a lower one now. */
    int victim = preemptible_cpu(t, me);
    if (victim >= 0) {
        kick((unsigned)victim);
        return;
    }
    /* Same class everywhere: round-robin at the next interrupt. */
    if (runs_on(t, me)) {
        if (mine->current == mine->idle || prio_of(mine->current) <= prio_of(t))
            mine->need_resched = true;
    } else {
        lapic_send_ipi(percpu_area[t->cpu].apic_id, VEC_RESCHED);
    }
}

/* Wake every sleeper of `cpu` whose deadline passed (lock held). */
static void wake_sleepers(unsigned cpu, uint64_t now)
{
    struct uk_thread *t;
    while ((t = sleep_head[cpu]) && t->wake_ns <= now) {
        /* A timed-out waiter stays linked on its wait queue; it unlinks
         * itself when it runs (see sync.c). */
        sched_make_runnable(t, UK_ETIMEDOUT);
    }
}

/*
 * When this CPU's timer must fire (TSC value; 0: never) while `cur` runs:
 * the end of cur's time slice, or this CPU's earliest sleeper.  An idle
 * CPU with no sleeper of its own gets no timer interrupt at all.
 */
static uint64_t timer_deadline(const struct percpu *pc, const struct uk_thread *cur, uint64_t now)
{
    uint64_t deadline = ~0ULL;
    if (cur != pc->idle)
        deadline = pc->slice_end_ns;
    struct uk_thread *first = sleep_head[pc->index];
    if (first && first->wake_ns < deadline)
        deadline = first->wake_ns;
    if (deadline == ~0ULL)
        return 0;
    uint64_t delta = deadline > now ? deadline - now : 1000;
    return uk_tsc() + (uint64_t)((unsigned __int128)delta * uk_tsc_hz() / UK_NSEC_PER_SEC) + 1;
}

/*
 * Program this CPU's timer (interrupts off), skipping the write when it
 * is already armed there: a LAPIC write is an MSR or MMIO exit, which
 * under TCG takes QEMU's global lock, so it is kept out of sched_lock
 * where the caller can (a CPU spinning on sched_lock behind a holder that
 * waits for QEMU's lock burns host CPU).
 */
static void timer_program(struct percpu *pc, uint64_t tsc)
{
    if (tsc == pc->armed_tsc)
        return;
    pc->armed_tsc = tsc;
    lapic_timer_arm(tsc);
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
    /* Switching to idle: the idle loop programs the timer, unlocked. */
    if (next != pc->idle)
        timer_program(pc, timer_deadline(pc, next, now));

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
    pc->armed_tsc = 0; /* one-shot: it fired */
    sched_run_tick_hooks(tf);
    uint64_t now = uk_time_ns();
    UK_TRACE(TIMER, pc->ticks, now);
    uk_spin_lock(&sched_lock);
    wake_sleepers(pc->index, now);
    if (pc->current == pc->idle ? rq_has_work(pc->index, UK_PRIO_APP)
                                : now >= pc->slice_end_ns ||
                                      rq_has_work(pc->index, prio_of(pc->current) + 1))
        pc->need_resched = true;
    uint64_t deadline = 0;
    bool rearm = !pc->need_resched; /* else schedule_locked arms it on the way out */
    if (rearm) {
        if (now >= pc->slice_end_ns)
            pc->slice_end_ns = now + tick_ns;
        deadline = timer_deadline(pc, pc->current, now);
    }
    uk_spin_unlock(&sched_lock);
    if (rearm)
        timer_program(pc, deadline);
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

/*
 * Idle time so far, including the idle period in progress: with tickless
 * idle a halted CPU may not switch for seconds, and idle_ns alone (closed at
 * each switch) would show it as busy.  Read locklessly from any CPU: the
 * owner updates idle_ns and last_switch_tsc together at each switch, so a
 * snapshot is retried until both read the same twice.
 */
uint64_t uk_sched_idle_ns(unsigned cpu)
{
    if (cpu >= UK_CPU_MAX)
        return 0;
    struct percpu *pc = &percpu_area[cpu];
    for (unsigned tries = 0;; tries++) {
        uint64_t idle = UK_READ_ONCE(pc->idle_ns);
        uint64_t since = UK_READ_ONCE(pc->last_switch_tsc);
        bool idling = UK_READ_ONCE(pc->current) == pc->idle;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (UK_READ_ONCE(pc->idle_ns) != idle || UK_READ_ONCE(pc->last_switch_tsc) != since) {
            if (tries < 8)
                continue;
            return idle; /* switching constantly: the closed periods suffice */
        }
        uint64_t tsc = uk_tsc();
        return idle + (idling && tsc > since ? uk_tsc_to_ns(tsc - since) : 0);
    }
}

uint64_t uk_sched_timer_irqs(unsigned cpu)
{
    return cpu < UK_CPU_MAX ? UK_READ_ONCE(percpu_area[cpu].ticks) : 0;
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
    classes = uk_cmdline_get_u64("sched.classes", 1) != 0;
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
        if (rq_has_work(pc->index, UK_PRIO_APP)) {
            schedule_locked();
            uk_spin_unlock(&sched_lock);
            __asm__ __volatile__("sti");
            continue;
        }
        uint64_t deadline = timer_deadline(pc, pc->idle, uk_time_ns());
        uk_spin_unlock(&sched_lock);
        timer_program(pc, deadline);
        cpu_idle_halt();
    }
}
