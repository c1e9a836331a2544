/*
 * Host notification devices: isa-debug-exit (tests leave QEMU with a
 * status) and pvpanic (tells the host the guest panicked).
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/panic.h>

enum {
    DEBUG_EXIT_PORT = 0xf4, /* -device isa-debug-exit,iobase=0xf4,iosize=4 */
    PVPANIC_PORT = 0x505,
    PVPANIC_PANICKED = 1,
};

void debug_exit(unsigned status)
{
    /* QEMU exits with (status << 1) | 1; without the device this is a no-op. */
    outl(DEBUG_EXIT_PORT, status & 0x7f);
}

void uk_exit(unsigned status)
{
    debug_exit(status);
    for (;;) {
        __asm__ __volatile__("cli");
        cpu_halt();
    }
}

void pvpanic_notify(void)
{
    /* Reading the port returns the supported events; 0xff means no device. */
    uint8_t caps = inb(PVPANIC_PORT);
    if (caps != 0xff && (caps & PVPANIC_PANICKED))
        outb(PVPANIC_PORT, PVPANIC_PANICKED);
}
