/*
 * Tick and idle hook tables, and initcalls.  Panic hooks live in panic.c,
 * trap hooks in arch/x86_64/trap.c.
 */
#include "core/kernel.h"
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/sync.h>

struct hook {
    void *fn;
    void *arg;
};

static struct hook tick_hooks[UK_TICK_HOOKS_MAX], idle_hooks[UK_IDLE_HOOKS_MAX];
static unsigned tick_count, idle_count;

static uk_result add(struct hook *tab, unsigned *count, unsigned max, void *fn, void *arg)
{
    if (!fn)
        return UK_EINVAL;
    if (*count >= max)
        return UK_ENOMEM;
    tab[*count] = (struct hook){fn, arg};
    uk_atomic_store(count, *count + 1); /* publish after the entry is written */
    return UK_OK;
}

uk_result uk_tick_hook_register(uk_tick_hook_fn fn, void *arg)
{
    return add(tick_hooks, &tick_count, UK_TICK_HOOKS_MAX, (void *)fn, arg);
}

uk_result uk_idle_hook_register(uk_idle_hook_fn fn, void *arg)
{
    return add(idle_hooks, &idle_count, UK_IDLE_HOOKS_MAX, (void *)fn, arg);
}

void sched_run_tick_hooks(const struct uk_trap_frame *tf)
{
    unsigned n = uk_atomic_load(&tick_count), cpu = uk_cpu_id();
    for (unsigned i = 0; i < n; i++)
        ((uk_tick_hook_fn)tick_hooks[i].fn)(cpu, tf, tick_hooks[i].arg);
}

void hooks_run_idle(unsigned cpu)
{
    unsigned n = uk_atomic_load(&idle_count);
    for (unsigned i = 0; i < n; i++)
        ((uk_idle_hook_fn)idle_hooks[i].fn)(cpu, idle_hooks[i].arg);
}

extern const uk_initcall_fn __uk_initcalls_start[], __uk_initcalls_end[];

void initcalls_run(void)
{
    for (const uk_initcall_fn *f = __uk_initcalls_start; f < __uk_initcalls_end; f++)
        (*f)();
}
