/*
 * CPU identity, interrupt masking and cross-CPU signalling.
 */
#ifndef UK_CPU_H
#define UK_CPU_H

#include <uk/types.h>

#define UK_CPU_MAX 16

/* Index (0..uk_cpu_count()-1) of the calling CPU.  Valid in any context. */
unsigned uk_cpu_id(void);

/* Number of CPUs online (started and running the scheduler). */
unsigned uk_cpu_count(void);

/* Local APIC id of CPU `cpu`, or -1 if it does not exist. */
int uk_cpu_apic_id(unsigned cpu);

/* Disable interrupts on this CPU; returns the previous state for restore. */
static inline unsigned long uk_irq_save(void)
{
    unsigned long flags;
    __asm__ __volatile__("pushfq; popq %0; cli" : "=r"(flags)::"memory");
    return flags;
}
static inline void uk_irq_restore(unsigned long flags)
{
    if (flags & 0x200)
        __asm__ __volatile__("sti" ::: "memory");
}
static inline bool uk_irq_enabled(void)
{
    unsigned long flags;
    __asm__ __volatile__("pushfq; popq %0" : "=r"(flags));
    return flags & 0x200;
}
static inline void uk_cpu_relax(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

/*
 * Send an NMI to every online CPU except the caller.  Used by the debugger
 * and the panic path to stop the world; the receivers run the NMI trap hooks.
 */
void uk_ipi_nmi_others(void);

/*
 * The maskable stop IPI: uk_ipi_stop_others() sends vector UK_VEC_STOP to
 * every online CPU except the caller; the receivers run that vector's trap
 * hooks (the kernel acknowledges the interrupt first, so a hook may spin
 * until released).  Unlike an NMI it is taken only where the receiver has
 * interrupts enabled -- never inside an irqsave critical section -- so a CPU
 * stopped this way holds no irqsave spinlock, and a debugger serving the
 * stopped world can use drivers that take such locks.  Send it first; fall
 * back to uk_ipi_nmi_others() for CPUs that keep interrupts off too long.
 */
#define UK_VEC_STOP 0xf3
void uk_ipi_stop_others(void);

/* Ask `cpu` to run its scheduler soon (a reschedule IPI).  No-op for self. */
void uk_ipi_resched(unsigned cpu);

/*
 * Run fn(arg) on `cpu` from its interrupt context and wait for it to return.
 * Must be called with interrupts enabled, from a thread.  Calls on the
 * calling CPU run directly.
 */
uk_result uk_cpu_call(unsigned cpu, void (*fn)(void *), void *arg);

#endif
