/*
 * i8254 PIT channel 2, used once to calibrate the TSC when no CPUID leaf
 * gives its frequency.  Channel 2's gate is port 0x61 bit 0 and its output
 * is readable at bit 5, so no interrupt is needed.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/time.h>

enum {
    PIT_CH2 = 0x42,
    PIT_CMD = 0x43,
    PIT_GATE = 0x61,
    PIT_HZ = 1193182,
    GATE_ON = 0x01,
    SPEAKER = 0x02,
    OUT2 = 0x20,
};

uint64_t pit_measure_tsc(uint32_t us)
{
    uint32_t count = (uint32_t)((uint64_t)PIT_HZ * us / 1000000);
    if (count == 0 || count > 0xffff)
        return 0;
    uint8_t gate = inb(PIT_GATE);
    outb(PIT_GATE, (gate & ~SPEAKER) & ~GATE_ON);
    outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH2, count & 0xff);
    outb(PIT_CH2, count >> 8);
    outb(PIT_GATE, (gate & ~SPEAKER) | GATE_ON);
    uint64_t start = uk_tsc();
    uint64_t spins = 0;
    while (!(inb(PIT_GATE) & OUT2)) {
        if (++spins > 100000000ULL) /* no PIT: give up */
            return 0;
    }
    uint64_t ticks = uk_tsc() - start;
    outb(PIT_GATE, gate);
    return ticks;
}
