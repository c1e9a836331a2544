/*
 * Thread table layout: ABI for debuggers and host-side crash dumpers.
 *
 * The kernel keeps every thread in one static array, `uk_thread_table`
 * (a struct uk_thread_table, find it by ELF symbol).  A slot with
 * state == UK_THREAD_FREE is unused.  For a thread that is not running
 * (state != UK_THREAD_RUNNING), `ctx` holds its callee-saved registers as
 * saved by the context switch: resuming it means loading ctx and jumping to
 * ctx.rip with ctx.rsp.  A debugger shows that as the frame inside
 * uk_sched_switch().  For a running thread, ctx is stale; the CPU's registers
 * are live (and in a crash dump, in the per-CPU save area).
 *
 * Host readers: copy the table, check magic/version/entry_size, bound every
 * index and string.
 */
#ifndef UK_THREAD_ABI_H
#define UK_THREAD_ABI_H

#include <stddef.h>
#include <stdint.h>

#define UK_THREAD_TABLE_MAGIC 0x5448544b55ULL /* "UKTHT" */
#define UK_THREAD_TABLE_VERSION 1
#define UK_THREAD_MAX 256
#define UK_THREAD_NAME 32
#define UK_THREAD_TABLE_CPUS 16 /* == UK_CPU_MAX */

enum uk_thread_state {
    UK_THREAD_FREE = 0,     /* slot unused */
    UK_THREAD_RUNNABLE = 1, /* on a run queue */
    UK_THREAD_RUNNING = 2,  /* on a CPU (see cpu) */
    UK_THREAD_BLOCKED = 3,  /* waiting on a wait queue, mutex or join */
    UK_THREAD_SLEEPING = 4, /* waiting for a deadline */
    UK_THREAD_EXITED = 5,   /* finished, waiting to be joined */
};

/* Callee-saved registers stored by the context switch (order is ABI). */
struct uk_thread_ctx {
    uint64_t rsp, rbp, rbx, r12, r13, r14, r15, rip;
};

struct uk_thread {
    uint32_t state;    /* enum uk_thread_state */
    uint32_t tid;      /* unique, never reused, 1 = first thread */
    char name[UK_THREAD_NAME]; /* NUL-terminated */
    int32_t cpu;       /* CPU running it or that ran it last; -1 never ran */
    uint32_t flags;    /* enum uk_thread_flags */
    struct uk_thread_ctx ctx;
    uint64_t stack_lo, stack_hi; /* usable stack [lo, hi); guard page below lo */
    uint64_t run_ns;   /* CPU time consumed */
    uint64_t switches; /* times switched in */
    uint64_t wake_ns;  /* deadline while SLEEPING */
    uint64_t created_ns;
    /* Scheduler-private below; not ABI (host readers must not use it). */
    struct uk_thread *rq_next;  /* run queue link */
    struct uk_thread *wq_next;  /* wait queue link */
    struct uk_thread *sl_next;  /* sleep list link */
    void *waitq;                /* struct uk_waitq the thread waits on */
    void *join_q;               /* struct uk_waitq *: joiner waits here */
    uint64_t stack_pages;
    uint32_t wait_result;       /* uk_result of the last wait */
    uint32_t joined;
    uint64_t fn, arg;
};

enum uk_thread_flags {
    UK_THREAD_IDLE = 1 << 0,   /* per-CPU idle thread */
    UK_THREAD_KERNEL = 1 << 1, /* started by the kernel (not the application) */
    UK_THREAD_PINNED = 1 << 2, /* runs only on `cpu` */
    UK_THREAD_SYSTEM = 1 << 3, /* scheduling class UK_PRIO_SYSTEM (see <uk/thread.h>) */
};

struct uk_thread_table {
    uint64_t magic;      /* UK_THREAD_TABLE_MAGIC */
    uint32_t version;    /* UK_THREAD_TABLE_VERSION */
    uint32_t max;        /* UK_THREAD_MAX */
    uint32_t entry_size; /* sizeof(struct uk_thread) */
    uint32_t ncpus;
    uint64_t current[UK_THREAD_TABLE_CPUS]; /* per CPU: address of the running struct uk_thread */
    struct uk_thread threads[UK_THREAD_MAX];
};

/* Every offset host readers use is ABI: a change must bump
 * UK_THREAD_TABLE_VERSION and update the readers (uk-gdb.py takes them from
 * DWARF, the e2e tests from tests/lib/abi_layout.c).  The scheduler-private
 * tail of struct uk_thread may change (entry_size says the stride). */
_Static_assert(sizeof(struct uk_thread_ctx) == 64, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, rsp) == 0, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, rbp) == 8, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, rbx) == 16, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, r12) == 24, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, r13) == 32, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, r14) == 40, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, r15) == 48, "thread ABI");
_Static_assert(offsetof(struct uk_thread_ctx, rip) == 56, "thread ABI");
_Static_assert(offsetof(struct uk_thread, state) == 0, "thread ABI");
_Static_assert(offsetof(struct uk_thread, tid) == 4, "thread ABI");
_Static_assert(offsetof(struct uk_thread, name) == 8, "thread ABI");
_Static_assert(offsetof(struct uk_thread, cpu) == 40, "thread ABI");
_Static_assert(offsetof(struct uk_thread, flags) == 44, "thread ABI");
_Static_assert(offsetof(struct uk_thread, ctx) == 48, "thread ABI");
_Static_assert(offsetof(struct uk_thread, stack_lo) == 112, "thread ABI");
_Static_assert(offsetof(struct uk_thread, stack_hi) == 120, "thread ABI");
_Static_assert(offsetof(struct uk_thread, run_ns) == 128, "thread ABI");
_Static_assert(offsetof(struct uk_thread, switches) == 136, "thread ABI");
_Static_assert(offsetof(struct uk_thread, wake_ns) == 144, "thread ABI");
_Static_assert(offsetof(struct uk_thread, created_ns) == 152, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, magic) == 0, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, version) == 8, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, max) == 12, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, entry_size) == 16, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, ncpus) == 20, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, current) == 24, "thread ABI");
_Static_assert(offsetof(struct uk_thread_table, threads) == 24 + 8 * UK_THREAD_TABLE_CPUS,
               "thread ABI");

#endif
