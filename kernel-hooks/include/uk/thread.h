/*
 * Preemptive kernel threads.  All threads share one address space; the
 * scheduler is round-robin with a time slice, over all CPUs, within two
 * priority classes (below).
 *
 * Context rules: create/join/sleep/yield/exit only from thread context
 * (not from interrupt or trap hooks).  uk_thread_self() works anywhere once
 * the scheduler runs.
 */
#ifndef UK_THREAD_H
#define UK_THREAD_H

#include <uk/thread_abi.h>
#include <uk/types.h>

typedef void (*uk_thread_fn)(void *arg);

/*
 * Scheduling classes.  Guarantee: a SYSTEM thread that becomes runnable
 * (woken by an interrupt, a wait queue, a timeout) while every CPU it may
 * run on is busy with APPLICATION threads preempts one of them at once: on
 * the waking CPU at interrupt exit (or, from thread context, when the
 * waker re-enables interrupts), on another CPU through a reschedule IPI.
 * Its delay is therefore bounded by interrupt latency (plus the time any
 * CPU spends with interrupts off), not by time slices, whatever the
 * application does.  Priority is strict: APPLICATION threads do not run on
 * a CPU while a SYSTEM thread is queued for it, so SYSTEM threads must
 * block between short bursts of work (the agent, network, telemetry and
 * debugger threads do).  Within a class: FIFO round-robin, one tick slices.
 */
enum uk_thread_prio {
    UK_PRIO_APP = 0,    /* default: everything the application starts */
    UK_PRIO_SYSTEM = 1, /* observability: agent, network, telemetry, debugger */
    UK_PRIO_COUNT
};

struct uk_thread_attr {
    size_t stack_size;        /* 0: default (THREAD_STACK_SIZE, 32 KiB) */
    int cpu;                  /* >= 0: pin to this CPU; -1: any */
    enum uk_thread_prio prio; /* 0 (omitted in an initializer): UK_PRIO_APP */
};

/*
 * Attributes of a hook consumer's service thread (agent, network,
 * telemetry): system class, pinned to CPU 0, where device interrupts are
 * routed -- a wake-up from an interrupt then needs no IPI, and an idle
 * instance's periodic work wakes one CPU only, leaving the others halted.
 */
#define UK_THREAD_ATTR_SYSTEM                                                                      \
    (&(const struct uk_thread_attr){.stack_size = 0, .cpu = 0, .prio = UK_PRIO_SYSTEM})

/*
 * Create a runnable thread running fn(arg).  `name` is copied (truncated to
 * UK_THREAD_NAME-1).  attr may be NULL (any CPU, UK_PRIO_APP).  The stack has an unmapped guard page
 * below it.  Returns UK_ENOMEM when the table or memory is full.
 */
uk_result uk_thread_create(const char *name, uk_thread_fn fn, void *arg,
                           const struct uk_thread_attr *attr, struct uk_thread **out);

/* Wait for t to exit, then free its slot and stack.  One joiner per thread. */
uk_result uk_thread_join(struct uk_thread *t);

/* End the calling thread (returning from fn does the same). */
UK_NORETURN void uk_thread_exit(void);

/* The calling CPU's current thread. */
struct uk_thread *uk_thread_self(void);

void uk_thread_yield(void);

/* Sleep at least ns nanoseconds. */
void uk_sleep_ns(uint64_t ns);
#define uk_sleep_ms(ms) uk_sleep_ns((uint64_t)(ms)*1000000ULL)

/* The thread table (ABI, see thread_abi.h). */
const struct uk_thread_table *uk_thread_table_get(void);

/*
 * Call fn for every thread slot that is not FREE, under the scheduler lock
 * (fn must not block or create threads).  Stops early when fn returns false.
 */
void uk_thread_foreach(bool (*fn)(const struct uk_thread *t, void *arg), void *arg);

/* Human-readable state name. */
const char *uk_thread_state_name(unsigned state);

/* Total context switches on `cpu`, and its idle time in ns. */
uint64_t uk_sched_switches(unsigned cpu);
uint64_t uk_sched_idle_ns(unsigned cpu);

/* LAPIC timer interrupts taken by `cpu` since boot (0 for a bad cpu).  The
 * timer is tickless: an idle CPU with no sleeper due takes none. */
uint64_t uk_sched_timer_irqs(unsigned cpu);

#endif
