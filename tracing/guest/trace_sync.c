/*
 * Host clock sync points (docs/host-view.md, "One timeline").  With
 * `trace_sync_ms=N` on the command line, a system thread writes one NUL byte to
 * COM1 every N ms, bracketed by two host_sync records (phase 0 just before
 * the port write, phase 1 just after it), with interrupts off so nothing
 * else runs in between.  The write exits to QEMU, whose thread issues a
 * write(2) of that byte before the guest continues: the host sees the
 * syscall with its CLOCK_MONOTONIC time, and that moment lies between the
 * two guest TSC stamps.  `ukctl trace --with-host` intersects these brackets
 * to map guest TSC to host time with a stated error bound.
 *
 * NUL because the console never carries it otherwise, so the host can
 * tell sync writes from log text (a NUL per period lands in console.log).
 * Off by default (0): a test/diagnostic facility.
 */
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/thread.h>
#include <uk/trace_hooks.h>
#include <uk/uart.h>

enum { SYNC_PHASE_BEFORE = 0, SYNC_PHASE_AFTER = 1 };

static uint64_t sync_period_ms;

static void sync_thread(void *arg)
{
    (void)arg;
    for (uint64_t seq = 0;; seq++) {
        uk_sleep_ms(sync_period_ms);
        unsigned long flags = uk_irq_save();
        UK_TRACE(HOST_SYNC, seq, SYNC_PHASE_BEFORE);
        uk_uart_putc(UK_UART_COM1, 0);
        UK_TRACE(HOST_SYNC, seq, SYNC_PHASE_AFTER);
        uk_irq_restore(flags);
    }
}

static void trace_sync_init(void)
{
    sync_period_ms = uk_cmdline_get_u64("trace_sync_ms", 0);
    if (!sync_period_ms)
        return;
    uk_trace_set(UK_TP_HOST_SYNC, 1);
    uk_thread_create("tracesync", sync_thread, NULL, UK_THREAD_ATTR_SYSTEM, NULL);
}
UK_INITCALL_SERVICE(trace_sync_init);
