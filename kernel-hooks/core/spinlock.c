/*
 * Test-and-test-and-set spinlocks.  The irqsave variants are what kernel
 * code uses; plain lock/unlock are for callers that already disabled
 * interrupts.
 */
#include <uk/cpu.h>
#include <uk/sync.h>

void uk_spin_lock(struct uk_spinlock *l)
{
    for (;;) {
        if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
            break;
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            uk_cpu_relax();
    }
    l->owner_cpu = uk_cpu_id();
}

bool uk_spin_trylock(struct uk_spinlock *l)
{
    if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        return false;
    l->owner_cpu = uk_cpu_id();
    return true;
}

void uk_spin_unlock(struct uk_spinlock *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

unsigned long uk_spin_lock_irqsave(struct uk_spinlock *l)
{
    unsigned long flags = uk_irq_save();
    uk_spin_lock(l);
    return flags;
}

void uk_spin_unlock_irqrestore(struct uk_spinlock *l, unsigned long flags)
{
    uk_spin_unlock(l);
    uk_irq_restore(flags);
}
