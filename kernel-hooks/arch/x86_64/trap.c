/*
 * Trap dispatch: hooks first (debugger, tests), then device interrupts,
 * the scheduler's IPIs, and finally the unhandled-exception report that
 * enters the panic path.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/console.h>
#include <uk/trace_hooks.h>
#include <uk/klog.h>
#include <uk/panic.h>
#include <uk/irq.h>
#include <uk/sync.h>

_Static_assert(offsetof(struct uk_trap_frame, vector) == TF_VECTOR, "TF_VECTOR");
_Static_assert(sizeof(struct uk_trap_frame) == TF_SIZE, "TF_SIZE");

struct trap_hook {
    unsigned vector;
    uk_trap_hook_fn fn;
    void *arg;
};

static struct trap_hook trap_hooks[UK_TRAP_HOOKS_MAX];
static unsigned trap_hook_count;
static uint64_t vector_counts[UK_IRQ_VECTORS];
static uint64_t vector_seen[UK_IRQ_SEEN_WORDS]; /* bit set at a vector's first count */

uk_result uk_trap_hook_register(unsigned vector, uk_trap_hook_fn fn, void *arg)
{
    if (vector > 255 || !fn)
        return UK_EINVAL;
    if (trap_hook_count >= UK_TRAP_HOOKS_MAX)
        return UK_ENOMEM;
    trap_hooks[trap_hook_count] = (struct trap_hook){vector, fn, arg};
    uk_atomic_store(&trap_hook_count, trap_hook_count + 1);
    return UK_OK;
}

uint64_t uk_irq_count(unsigned vector)
{
    return vector < UK_IRQ_VECTORS ? UK_READ_ONCE(vector_counts[vector]) : 0;
}

uint64_t uk_irq_seen(unsigned word)
{
    return word < UK_IRQ_SEEN_WORDS ? __atomic_load_n(&vector_seen[word], __ATOMIC_RELAXED) : 0;
}

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

const char *uk_exception_name(unsigned vector)
{
    if (vector < 32)
        return exc_names[vector] ? exc_names[vector] : "#reserved";
    if (vector < 256)
        return "IRQ";
    return "?";
}

static bool run_hooks(struct uk_trap_frame *tf)
{
    unsigned n = uk_atomic_load(&trap_hook_count);
    for (unsigned i = 0; i < n; i++) {
        if (trap_hooks[i].vector == tf->vector &&
            trap_hooks[i].fn(tf, trap_hooks[i].arg) == UK_TRAP_HANDLED)
            return true;
    }
    return false;
}

void trap_dispatch(struct uk_trap_frame *tf)
{
    struct percpu *pc = this_cpu();
    unsigned vec = tf->vector;

    /* Per-CPU counters would be cheaper; a relaxed add keeps this simple. */
    if (__atomic_add_fetch(&vector_counts[vec], 1, __ATOMIC_RELAXED) == 1)
        __atomic_or_fetch(&vector_seen[vec / 64], 1ULL << (vec % 64), __ATOMIC_RELAXED);
    pc->irq_depth++;
    if (vec < 32)
        UK_TRACE(EXCEPTION, vec, tf->rip);
    else
        UK_TRACE(IRQ_ENTRY, vec, tf->rip);

    if (vec == UK_EXC_NMI)
        pc->nmi_tf = tf;
    /* Acknowledged before the hooks: a debugger's hook parks here until
     * released, and the LAPIC must not hold the vector in service meanwhile. */
    if (vec == VEC_STOP)
        lapic_eoi();
    if (run_hooks(tf))
        goto out;

    if (vec < 32) {
        if (vec == UK_EXC_NMI) {
            /* An NMI nobody claimed: a stop request from the panic path. */
            panic_nmi_stop(tf);
            goto out;
        }
        panic_exception(tf, vec == UK_EXC_PF || vec == UK_EXC_DF ? read_cr2() : 0);
    }

    if (vec >= VEC_IRQ_BASE && vec < VEC_IRQ_BASE + VEC_IRQ_COUNT)
        irq_handle(vec - VEC_IRQ_BASE, tf);
    else if (vec == VEC_TIMER)
        timer_interrupt(tf);
    else if (vec == VEC_RESCHED) {
        pc->need_resched = true; /* acted on below, on the way out */
        lapic_eoi();
    }
    else if (vec == VEC_CALL)
        smp_call_interrupt();
    else if (vec != VEC_SPURIOUS && vec != VEC_STOP) /* VEC_STOP: acknowledged above */
        lapic_eoi();

out:
    if (vec >= 32)
        UK_TRACE(IRQ_EXIT, vec, 0);
    pc->irq_depth--;
    /* Preempt only when returning to thread context that had interrupts on. */
    if (pc->irq_depth == 0 && (tf->rflags & 0x200) && vec >= 32 && pc->need_resched)
        sched_preempt();
}
