/*
 * The register frame saved on every interrupt and exception, and the hooks
 * that let a debugger, tracer or test claim a vector.
 *
 * Layout is ABI: arch/x86_64/entry.S builds it, the gdbstub reads and writes
 * it, and a crash dump stores it.  Offsets are checked by static asserts.
 */
#ifndef UK_TRAP_H
#define UK_TRAP_H

#include <uk/types.h>

struct uk_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;     /* interrupt vector number */
    uint64_t error_code; /* 0 for vectors without one */
    /* Pushed by the CPU: */
    uint64_t rip, cs, rflags, rsp, ss;
};

/* x86 exception vectors the kernel reports by name. */
enum uk_exception {
    UK_EXC_DE = 0,  /* divide error */
    UK_EXC_DB = 1,  /* debug */
    UK_EXC_NMI = 2, /* non-maskable interrupt */
    UK_EXC_BP = 3,  /* breakpoint (int3) */
    UK_EXC_OF = 4,
    UK_EXC_BR = 5,
    UK_EXC_UD = 6, /* invalid opcode */
    UK_EXC_NM = 7,
    UK_EXC_DF = 8, /* double fault */
    UK_EXC_TS = 10,
    UK_EXC_NP = 11,
    UK_EXC_SS = 12,
    UK_EXC_GP = 13, /* general protection */
    UK_EXC_PF = 14, /* page fault */
    UK_EXC_MF = 16,
    UK_EXC_AC = 17,
    UK_EXC_MC = 18,
    UK_EXC_XM = 19,
    UK_EXC_VE = 20,
    UK_EXC_CP = 21,
};

/* What a trap hook did with the event. */
enum uk_trap_action {
    UK_TRAP_PASS = 0, /* not mine: keep looking, then the default handling */
    UK_TRAP_HANDLED,  /* done: return from the interrupt with *tf as modified */
};

/*
 * A trap hook runs with interrupts disabled on the CPU that took the trap, in
 * the trap's context (it may be an NMI).  It may modify *tf (registers,
 * rflags.TF, rip) to change where execution resumes.  It must not sleep.
 */
typedef enum uk_trap_action (*uk_trap_hook_fn)(struct uk_trap_frame *tf, void *arg);

/*
 * Register fn for exception/interrupt `vector` (0..255).  Hooks of one vector
 * run in registration order until one returns UK_TRAP_HANDLED.  At most
 * UK_TRAP_HOOKS_MAX hooks in all.  Returns UK_EINVAL for a bad vector,
 * UK_ENOMEM when the table is full.  Call during initialisation, before
 * the vector can fire concurrently.
 */
#define UK_TRAP_HOOKS_MAX 32
uk_result uk_trap_hook_register(unsigned vector, uk_trap_hook_fn fn, void *arg);

/* Name of an exception vector ("#PF", "#GP", ...), or "IRQ" / "?" */
const char *uk_exception_name(unsigned vector);

#endif
