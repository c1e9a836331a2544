/*
 * Panic record: ABI for host-side crash dumpers (host-collector/crash/).
 *
 * The panic path fills `uk_panic_record` (find it by ELF symbol) so a host
 * tool can write a thread-aware core from the guest's RAM alone, without
 * help from the dying guest: the panicking CPU's registers, the message,
 * and where the panic NMIs stopped every other CPU.  Filled before pvpanic
 * is notified; `state` is stored last (release) so a reader that sees
 * UK_PANIC_REC_DONE sees the rest.
 *
 * Host readers: copy, check magic/version/size, bound every index and
 * string (message may lack its NUL), treat `stopped` as untrusted addresses.
 */
#ifndef UK_PANIC_ABI_H
#define UK_PANIC_ABI_H

#include <stdint.h>
#include <uk/trap.h>

#define UK_PANIC_REC_MAGIC 0x43494e4150554bULL /* "UKPANIC" */
#define UK_PANIC_REC_VERSION 1
#define UK_PANIC_REC_MSG 200
#define UK_PANIC_REC_CPUS 16 /* == UK_CPU_MAX */

enum uk_panic_rec_state {
    UK_PANIC_REC_NONE = 0,    /* no panic (yet) */
    UK_PANIC_REC_FILLING = 1, /* panicking; fields may be incomplete */
    UK_PANIC_REC_DONE = 2,    /* every field below is written */
};

struct uk_panic_record {
    uint64_t magic;    /* UK_PANIC_REC_MAGIC, set at link time */
    uint32_t version;  /* UK_PANIC_REC_VERSION */
    uint32_t size;     /* sizeof(struct uk_panic_record) */
    uint32_t state;    /* enum uk_panic_rec_state */
    uint32_t reason;   /* enum uk_panic_reason (<uk/hooks.h>) */
    int32_t cpu;       /* the panicking CPU */
    uint32_t tid;      /* thread running there, 0 if none */
    uint64_t cr2;      /* fault address for #PF */
    uint64_t time_ns;  /* uk_time_ns() at the panic */
    /*
     * The panicking CPU's registers: the faulting trap frame for an
     * exception; for uk_panic() a frame at its call site (rip = return
     * address in the caller, rbp = caller's frame, rsp = caller's stack;
     * vector 256, other registers 0).
     */
    struct uk_trap_frame frame;
    uint64_t stopped[UK_PANIC_REC_CPUS]; /* per CPU: address of the trap frame the NMI stopped it at, 0 = none */
    char message[UK_PANIC_REC_MSG];      /* NUL-terminated by the guest */
};

extern struct uk_panic_record uk_panic_record;

#endif
