/*
 * Panic and exit.
 *
 * uk_panic prints the message, registers and a symbolized backtrace, stops
 * the other CPUs, runs the panic hooks (<uk/hooks.h>), then: with
 * `panic=exit` on the command line leaves through isa-debug-exit with
 * UK_EXIT_PANIC; otherwise notifies the host through pvpanic and halts.
 */
#ifndef UK_PANIC_H
#define UK_PANIC_H

#include <uk/types.h>

/* Guest exit statuses as seen by `ukctl run` (QEMU exits with 2*status+1). */
enum uk_exit_status {
    UK_EXIT_OK = 0,
    UK_EXIT_FAIL = 1,   /* a test or the application failed */
    UK_EXIT_PANIC = 2,  /* kernel panic with panic=exit */
};

UK_NORETURN void uk_panic(const char *fmt, ...) UK_PRINTF(1, 2);

/* Leave the VM through isa-debug-exit with `status` (0..127); halts if absent. */
UK_NORETURN void uk_exit(unsigned status);

/*
 * A failed UK_ASSERT: panics like uk_panic with reason UK_PANIC_ASSERT and
 * the message "assertion failed: EXPR at FILE:LINE" (the panic record's
 * frame is the call site in the asserting function).
 */
UK_NORETURN void uk_panic_assert(const char *expr, const char *file, int line);

#define UK_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            uk_panic_assert(#cond, __FILE__, __LINE__);                                            \
    } while (0)

struct uk_trap_frame;

/*
 * After a panic: the trap frame (an NMI's) at which the panic path stopped
 * `cpu`, so a post-mortem debugger can show what every CPU was running.
 * For the CPU that called uk_panic(): the call site (rip at the call
 * instruction, rsp and rbp as there; the other registers are not known and
 * read 0).  NULL for a CPU that panicked on an exception (the hooks get its
 * frame), a CPU not stopped (yet: the panic hooks run right after the NMIs
 * are sent, so poll briefly), or a bad index.
 */
struct uk_trap_frame *uk_panic_stopped_frame(unsigned cpu);

/* Most frames uk_backtrace_print prints, #0 included. */
#define UK_BACKTRACE_MAX_FRAMES 32

/*
 * Log (at UK_LOG_ERR, one uk_log call per line) a backtrace: first
 * "  #0 0x<rip> name+0xoff", then one "  #N 0x<ret> name+0xoff" line per
 * return address found by following the frame-pointer chain from `rbp`
 * ([rbp] = caller's rbp, [rbp + 8] = return address).  Return addresses are
 * symbolized as ret - 1, so a call that ends a function is attributed to it;
 * the printed address and offset are those of ret.  "?" when no symbol.
 *
 * Never faults on a corrupt chain: every frame is checked with
 * uk_mem_accessible first.  The walk stops at rbp == 0 (thread start), at a
 * misaligned or unreadable rbp, when the chain does not grow upward, at a
 * zero return address, or after UK_BACKTRACE_MAX_FRAMES frames.  It
 * continues through trap frames (the fake frame pushed by trap_common): the
 * interrupted rip is printed and symbolized as is, marked "(interrupted)",
 * and the step to the interrupted rbp may go down (IST stacks).
 * Safe in any context where uk_log is, including NMI and panic.
 */
void uk_backtrace_print(uint64_t rip, uint64_t rbp);

/*
 * uk_backtrace_print of the calling context: #0 is inside uk_backtrace_here
 * itself, #1 is its caller.  Same guarantees as uk_backtrace_print.
 */
void uk_backtrace_here(void);

/*
 * Symbolize addr: the function name containing it and the offset.  Returns
 * false if no symbol covers addr, or if the table linked into the image
 * (.uksyms, <uk/symtab_abi.h>) is missing or invalid; that is checked on the
 * first call and logged once.  *name points into the table (never freed).
 * Lock-free; safe in any context, including NMI and panic.
 */
bool uk_symbolize(uintptr_t addr, const char **name, uintptr_t *offset);

#endif
