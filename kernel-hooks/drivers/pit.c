/*
 * i8254 PIT, used once to calibrate the TSC when no CPUID leaf or
 * hypervisor interface gives its frequency (TCG).  microvm has no PC
 * speaker, so channel 2's output at port 0x61 cannot be read; instead
 * channel 0 free-runs (mode 2, period 65536) and its latched count is
 * polled.  Its interrupt stays masked at the IOAPIC.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/time.h>

enum {
    PIT_CH0 = 0x40,
    PIT_CMD = 0x43,
    PIT_HZ = 1193182,
    CMD_CH0_LOHI_MODE2 = 0x34,
    CMD_CH0_LATCH = 0x00,
};

static uint16_t pit_read(void)
{
    outb(PIT_CMD, CMD_CH0_LATCH);
    uint16_t lo = inb(PIT_CH0);
    uint16_t hi = inb(PIT_CH0);
    return (uint16_t)(lo | (hi << 8));
}

/* Poll until the count changes; the TSC at that edge.  The edge pins the
 * measurement to within one poll (a few port reads) instead of a whole
 * PIT count plus the read latency. */
static uint64_t wait_edge(uint16_t *count)
{
    uint16_t prev = pit_read(), cur;
    unsigned same = 0;
    while ((cur = pit_read()) == prev)
        if (++same > 1000000) /* not counting: no PIT */
            return 0;
    *count = cur;
    return uk_tsc();
}

uint64_t pit_measure_tsc(uint32_t us)
{
    uint64_t target = (uint64_t)PIT_HZ * us / 1000000;
    outb(PIT_CMD, CMD_CH0_LOHI_MODE2);
    outb(PIT_CH0, 0);
    outb(PIT_CH0, 0);
    uint16_t first, prev, cur;
    uint64_t start = wait_edge(&first), elapsed = 0;
    if (!start)
        return 0;
    prev = first;
    while (elapsed < target) {
        cur = pit_read();
        elapsed += (uint16_t)(prev - cur); /* counts down, wraps at 65536 */
        prev = cur;
    }
    uint64_t end = wait_edge(&cur);
    if (!end)
        return 0;
    elapsed += (uint16_t)(prev - cur);
    /* Scale to exactly `us` worth of PIT counts. */
    return (uint64_t)((unsigned __int128)(end - start) * target / elapsed);
}
