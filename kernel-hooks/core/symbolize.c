/*
 * Kernel symbolizer and frame-pointer backtraces (<uk/panic.h>).
 *
 * The table is the .uksyms section made by the second link pass
 * (arch/x86_64/mksyms.sh); core/symtab.c does the lookup.
 */
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>

#include "core/kernel.h"
#include "core/symtab.h"

/* arch/x86_64/entry.S: the common trap entry, which pushes a fake frame. */
extern const char trap_common[];

/* 0: not checked yet, 1: valid, < 0: enum symtab_status. */
static int symtab_state;
static int symtab_warned;

static bool symtab_ready(void)
{
    int s = __atomic_load_n(&symtab_state, __ATOMIC_ACQUIRE);

    if (s == 0) {
        /* Idempotent: CPUs racing here all compute the same answer. */
        int r = symtab_validate(__uksyms_start, (size_t)(__uksyms_end - __uksyms_start));

        s = r == SYMTAB_OK ? 1 : r;
        __atomic_store_n(&symtab_state, s, __ATOMIC_RELEASE);
    }
    if (s < 0) {
        if (!__atomic_exchange_n(&symtab_warned, 1, __ATOMIC_RELAXED))
            uk_log(UK_LOG_WARN, "symbolize: no usable symbol table (%s)", symtab_strerror(s));
        return false;
    }
    return true;
}

bool uk_symbolize(uintptr_t addr, const char **name, uintptr_t *offset)
{
    uint64_t off;

    if (!symtab_ready() || !symtab_find(__uksyms_start, addr, name, &off))
        return false;
    *offset = off;
    return true;
}

/*
 * One backtrace line for pc, symbolized at pc - bias (bias 1 for return
 * addresses, 0 for exact addresses).  Returns the start of the function
 * found, or 0.
 */
static uintptr_t bt_line(unsigned n, uint64_t pc, unsigned bias, const char *note)
{
    const char *name;
    uintptr_t off;

    if (pc >= bias && uk_symbolize(pc - bias, &name, &off)) {
        uk_log(UK_LOG_ERR, "  #%u 0x%016lx %s+0x%lx%s", n, pc, name, off + bias, note);
        return pc - bias - off;
    }
    uk_log(UK_LOG_ERR, "  #%u 0x%016lx ?%s", n, pc, note);
    return 0;
}

void uk_backtrace_print(uint64_t rip, uint64_t rbp)
{
    uintptr_t func = bt_line(0, rip, 0, "");

    for (unsigned n = 1;; n++) {
        const uint64_t *frame = (const uint64_t *)rbp;
        bool trap = func != 0 && func == (uintptr_t)trap_common;
        uint64_t next, ret;

        if (rbp == 0)
            return;
        if (n >= UK_BACKTRACE_MAX_FRAMES) {
            uk_log(UK_LOG_ERR, "  (stopped after %u frames)", n);
            return;
        }
        if ((rbp & 7) || rbp > UINT64_MAX - 16 || !uk_mem_accessible(rbp, 16, UK_MEM_READ)) {
            uk_log(UK_LOG_ERR, "  (stopped: bad frame pointer 0x%016lx)", rbp);
            return;
        }
        next = frame[0];
        ret = frame[1];
        if (ret == 0)
            return;
        /*
         * Called from trap_common: this is its fake frame, holding the
         * interrupted rip (exact, not a return address) and rbp (possibly
         * on another stack, below this one).
         */
        func = bt_line(n, ret, trap ? 0 : 1, trap ? " (interrupted)" : "");
        if (next != 0 && next <= rbp && !trap) {
            uk_log(UK_LOG_ERR, "  (stopped: frame pointer 0x%016lx does not grow)", next);
            return;
        }
        rbp = next;
    }
}

__attribute__((noinline)) void uk_backtrace_here(void)
{
    uint64_t rip;

    __asm__ volatile("lea 0(%%rip), %0" : "=r"(rip));
    uk_backtrace_print(rip, (uint64_t)(uintptr_t)__builtin_frame_address(0));
}
