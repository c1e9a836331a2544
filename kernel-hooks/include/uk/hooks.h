/*
 * Registration points for code carried in from gdbstub/, tracing/ and
 * guest-agent/.  Trap hooks live in <uk/trap.h>.
 *
 * Every register function may be called before or after SMP start-up but not
 * concurrently with itself; tables are fixed-size (no allocation).
 */
#ifndef UK_HOOKS_H
#define UK_HOOKS_H

#include <uk/trap.h>
#include <uk/types.h>

/* Why the kernel is panicking. */
enum uk_panic_reason {
    UK_PANIC_CALL = 0,  /* uk_panic() called by code */
    UK_PANIC_EXCEPTION, /* an unhandled CPU exception */
    UK_PANIC_ASSERT,    /* UK_ASSERT failed */
};

struct uk_panic_info {
    enum uk_panic_reason reason;
    const char *message;           /* formatted message, never NULL */
    struct uk_trap_frame *tf;      /* faulting frame for exceptions, else NULL */
    uint64_t cr2;                  /* fault address for #PF */
    unsigned cpu;                  /* CPU that panicked */
};

/*
 * Panic hooks run on the panicking CPU, after the report is printed and the
 * other CPUs have been stopped, with interrupts disabled.  A hook may not
 * return (a post-mortem debugger takes over).  Max UK_PANIC_HOOKS_MAX.
 */
#define UK_PANIC_HOOKS_MAX 8
typedef void (*uk_panic_hook_fn)(const struct uk_panic_info *info, void *arg);
uk_result uk_panic_hook_register(uk_panic_hook_fn fn, void *arg);

/*
 * Tick hooks run on every CPU on each scheduler tick (from the LAPIC timer
 * interrupt, interrupts disabled), with the interrupted frame.  Keep them
 * short.  Max UK_TICK_HOOKS_MAX.
 */
#define UK_TICK_HOOKS_MAX 8
typedef void (*uk_tick_hook_fn)(unsigned cpu, const struct uk_trap_frame *tf, void *arg);
uk_result uk_tick_hook_register(uk_tick_hook_fn fn, void *arg);

/*
 * Idle hooks run on a CPU's idle thread each time before it halts, with
 * interrupts enabled.  Used for polling work (e.g. a network stack).
 * Max UK_IDLE_HOOKS_MAX.
 */
#define UK_IDLE_HOOKS_MAX 8
typedef void (*uk_idle_hook_fn)(unsigned cpu, void *arg);
uk_result uk_idle_hook_register(uk_idle_hook_fn fn, void *arg);

/*
 * Initcalls: functions run once by kmain on the boot CPU after the core
 * (memory, time, threads, SMP, devices) is up and before the application
 * (uk_app_main).  Levels run in order: EARLY (hooks that must see everything:
 * debugger, tracer), DRIVER (device drivers), SERVICE (network, agents).
 * Within a level, link order.
 */
typedef void (*uk_initcall_fn)(void);
#define UK_INITCALL_LEVEL_(level, fn)                                                              \
    static const uk_initcall_fn __uk_initcall_##fn                                                 \
        __attribute__((used, section(".uk_initcall." #level))) = fn
#define UK_INITCALL_EARLY(fn) UK_INITCALL_LEVEL_(1, fn)
#define UK_INITCALL_DRIVER(fn) UK_INITCALL_LEVEL_(2, fn)
#define UK_INITCALL_SERVICE(fn) UK_INITCALL_LEVEL_(3, fn)

#endif
