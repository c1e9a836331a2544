/*
 * x86_64 guest backend of the gdbstub: shared state between the arch ops
 * (gdbx_arch.c), the stop-the-world machinery (gdbx_stop.c), monitor
 * commands (gdbx_monitor.c) and the transports (gdbx_uart.c, gdbx_vcon.c).
 * Every function here is named gdbx_*: breakpoints on gdb* symbols are
 * refused (the stub must not trap inside itself).
 */
#ifndef GDBX_H
#define GDBX_H

#include "../common/gdb_core.h"
#include <uk/cpu.h>
#include <uk/thread.h>
#include <uk/trap.h>
#include <uk/types.h>

/* One byte-stream backend. */
struct gdbx_transport {
    const char *name;
    int (*getc)(void); /* -1: nothing yet */
    void (*write)(const uint8_t *buf, size_t len);
    void (*poll)(void); /* may be NULL */
    bool (*peer_gone)(void); /* may be NULL: true once the client side closed */
};

/* Per-CPU view while the world is stopped. */
struct gdbx_cpu {
    struct uk_trap_frame *tf; /* where the CPU stopped (NULL: not stopped) */
    uint64_t fs_base, gs_base;
    uint16_t ds, es, fs, gs;
    bool callsite_only; /* tf holds a call site (uk_panic): only rip/rsp/rbp */
};

extern struct gdbx_cpu gdbx_cpus[UK_CPU_MAX];
extern struct gdb_state gdbx_state;
extern const struct gdb_arch_ops gdbx_arch_ops;
extern bool gdbx_use_int3; /* gdb.swbreak=int3; default ud2 (see docs/gdb.md) */

/* Make t the transport that entries use (replaces the previous one). */
void gdbx_set_transport(const struct gdbx_transport *t);
/* A further transport: used when its RX interrupt enters the stub, and for
 * post-mortem when the command line says gdb.transport=virtio. */
void gdbx_add_transport(const struct gdbx_transport *t);
/* False with gdb=off on the command line. */
bool gdbx_enabled(void);

/*
 * Enter the stub from a trap/interrupt on this CPU: stop the world, report
 * `why` (sending the stop reply if gdb waits for one), optionally feed
 * `first` (a received byte, or -1), serve gdb until it resumes.
 */
void gdbx_enter(struct uk_trap_frame *tf, const struct gdb_stop *why, int first);
/* A byte arrived while running (transport RX interrupt). */
void gdbx_rx_byte(const struct gdbx_transport *from, struct uk_trap_frame *tf, int c);

/* Transports: UART (COM2) at init; virtio-console later if asked for. */
void gdbx_uart_init(void);

/* Arch helpers used by gdbx_stop.c. */
int gdbx_tid_on_cpu(unsigned cpu);
void gdbx_load_debugregs(void);
void gdbx_remove_all_breakpoints(void);
/* Which DR fired (from DR6), its kind and address; false if none of ours. */
bool gdbx_dr_hit(uint64_t dr6, struct gdb_stop *out);
bool gdbx_swbp_at(uint64_t addr);
void gdbx_monitor(void *ctx, struct gdb_state *st, const char *cmd);
/* CPUs the stub has stopped, by the stop IPI (holding no irqsave lock) and
 * by the fallback NMI (interrupts were off). */
extern uint64_t gdbx_parked_by_ipi, gdbx_parked_by_nmi;
void gdbx_save_segments(struct gdbx_cpu *c);

#define GDBX_RFLAGS_TF (1ULL << 8)
#define GDBX_RFLAGS_IF (1ULL << 9)
#define GDBX_RFLAGS_RF (1ULL << 16)
#define GDBX_DR6_BS    (1ULL << 14)

#endif
