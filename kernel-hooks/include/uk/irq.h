/*
 * Device interrupts, routed through the IOAPIC.  GSI n is delivered on
 * vector VEC_IRQ_BASE + n to the boot CPU.
 */
#ifndef UK_IRQ_H
#define UK_IRQ_H

#include <uk/types.h>

struct uk_trap_frame;
typedef void (*uk_irq_fn)(unsigned gsi, struct uk_trap_frame *tf, void *arg);

/*
 * Route GSI `gsi` (0..23), edge-triggered active-high (ISA and microvm
 * virtio-mmio lines) and call fn on each interrupt, in interrupt context.
 * One handler per GSI: UK_EBUSY if taken, UK_EINVAL if out of range.
 */
uk_result uk_irq_register(unsigned gsi, uk_irq_fn fn, void *arg);
void uk_irq_mask(unsigned gsi, bool masked);

#define UK_IRQ_VECTORS    256
#define UK_IRQ_SEEN_WORDS (UK_IRQ_VECTORS / 64)

/* Interrupts taken per vector on all CPUs (for metrics). */
uint64_t uk_irq_count(unsigned vector);

/*
 * Vectors that have taken at least one interrupt (exceptions included):
 * bit v % 64 of word v / 64, for word < UK_IRQ_SEEN_WORDS (0 beyond).
 * Bits are only ever set, just after the vector's count first becomes
 * non-zero, so a metrics collector can visit these few vectors instead of
 * calling uk_irq_count for all of them.
 */
uint64_t uk_irq_seen(unsigned word);

/*
 * Name the source of GSI `gsi`'s interrupts ("virtio-net", "com2") for
 * metrics and diagnostics.  `name` must live forever (a string literal).
 * Drivers call it next to uk_irq_register; out-of-range GSIs are ignored.
 */
void uk_irq_set_name(unsigned gsi, const char *name);

/*
 * What raises `vector`, never NULL: a device GSI's name (else "gsiN"), the
 * kernel's own vectors ("lapic-timer", "ipi-resched", "ipi-call",
 * "ipi-stop", "spurious"), "exception" below 32, "unknown" otherwise.
 * Lock-free; safe from any context.
 */
const char *uk_irq_name(unsigned vector);

#endif
