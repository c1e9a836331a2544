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

#define UK_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            uk_panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__);                  \
    } while (0)

/* Print a backtrace starting at frame pointer `rbp` (and `rip`) to the log. */
void uk_backtrace_print(uint64_t rip, uint64_t rbp);

/*
 * Symbolize addr: the function name containing it and the offset.  Returns
 * false if no symbol covers addr.  Uses the table linked into the image.
 */
bool uk_symbolize(uintptr_t addr, const char **name, uintptr_t *offset);

#endif
