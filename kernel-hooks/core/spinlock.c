/*
 * Ticket spinlocks (see <uk/sync.h>).  The irqsave variants are what kernel
 * code uses; plain lock/unlock are for callers that already disabled
 * interrupts.
 */
#include <uk/cpu.h>
#include <uk/sync.h>

void uk_spin_lock(struct uk_spinlock *l)
{
    uint16_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != me)
        uk_cpu_relax();
    l->owner_cpu = uk_cpu_id();
}

bool uk_spin_trylock(struct uk_spinlock *l)
{
    /* Take a ticket only if it would be served at once. */
    uint32_t cur = __atomic_load_n((uint32_t *)l, __ATOMIC_RELAXED);
    uint16_t next = (uint16_t)cur, serving = (uint16_t)(cur >> 16);
    if (next != serving)
        return false;
    uint32_t want = (uint32_t)(uint16_t)(next + 1) | ((uint32_t)serving << 16);
    if (!__atomic_compare_exchange_n((uint32_t *)l, &cur, want, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false;
    l->owner_cpu = uk_cpu_id();
    return true;
}

void uk_spin_unlock(struct uk_spinlock *l)
{
    __atomic_store_n(&l->serving, (uint16_t)(l->serving + 1), __ATOMIC_RELEASE);
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
