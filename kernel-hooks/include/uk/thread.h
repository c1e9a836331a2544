/*
 * Preemptive kernel threads.  All threads share one address space; the
 * scheduler is round-robin with a time slice, over all CPUs.
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

struct uk_thread_attr {
    size_t stack_size; /* 0: default (THREAD_STACK_SIZE, 32 KiB) */
    int cpu;           /* >= 0: pin to this CPU; -1: any */
};

/*
 * Create a runnable thread running fn(arg).  `name` is copied (truncated to
 * UK_THREAD_NAME-1).  attr may be NULL.  The stack has an unmapped guard page
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

#endif
