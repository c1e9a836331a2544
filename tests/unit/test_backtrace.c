/*
 * core/symbolize.c on the host: uk_symbolize over the fixture table of
 * test_symtab (linked in as __uksyms_start..__uksyms_end) and
 * uk_backtrace_print over hand-made frame chains in a fake stack.  uk_log
 * and uk_mem_accessible are stubs: the log is captured, and only the fake
 * stack is "mapped".  trap_common is given fx_alpha's address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>

struct fx_sym {
    const char *name;
    uint64_t addr, size;
};

#include "fixture_syms.h"

__asm__(".section .rodata\n"
        ".p2align 3\n"
        ".globl __uksyms_start\n"
        "__uksyms_start:\n"
        ".incbin \"table.bin\"\n"
        ".globl __uksyms_end\n"
        "__uksyms_end:\n"
        ".previous\n");

#define XSTR(x) STR(x)
#define STR(x)  #x
__asm__(".globl trap_common\n"
        ".set trap_common, " XSTR(FX_fx_alpha_ASM) "\n");

static char lines[64][160];
static unsigned nlines;

void uk_log(enum uk_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level != UK_LOG_ERR || nlines == 64)
        return;
    va_start(ap, fmt);
    vsnprintf(lines[nlines++], sizeof(lines[0]), fmt, ap);
    va_end(ap);
}

static uint64_t stack[256];

bool uk_mem_accessible(uintptr_t addr, size_t len, unsigned access)
{
    uintptr_t lo = (uintptr_t)stack, hi = (uintptr_t)(stack + 256);

    return access == UK_MEM_READ && addr >= lo && addr <= hi && len <= hi - addr;
}

/* Frame at stack[i]: [0] = rbp of stack[next] (or raw), [1] = ret. */
static uint64_t at(unsigned i)
{
    return (uint64_t)(uintptr_t)&stack[i];
}

static void frame(unsigned i, uint64_t next_rbp, uint64_t ret)
{
    stack[i] = next_rbp;
    stack[i + 1] = ret;
}

static void reset(void)
{
    memset(stack, 0, sizeof(stack));
    memset(lines, 0, sizeof(lines));
    nlines = 0;
}

static void test_symbolize(void **state)
{
    const char *name;
    uintptr_t off;

    assert_true(uk_symbolize(FX_fx_beta_ADDR + 4, &name, &off));
    assert_string_equal(name, "fx_beta");
    assert_int_equal(off, 4);
    assert_true(uk_symbolize(FX_fx_beta_cold_ADDR, &name, &off));
    assert_string_equal(name, "fx_beta.cold");
    assert_false(uk_symbolize(FX_fx_die_ADDR - 1, &name, &off));
}

static void test_chain(void **state)
{
    char want[160];

    reset();
    /* #1 returns to the end of fx_alpha (ret - 1 is its last byte). */
    frame(10, at(20), FX_fx_alpha_ADDR + FX_fx_alpha_SIZE);
    frame(20, at(30), FX_fx_start_ADDR + 9);
    frame(30, 0, FX_fx_asm_sized_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR + 3, at(10));
    assert_int_equal(nlines, 4);
    snprintf(want, sizeof(want), "  #0 0x%016llx fx_beta+0x3",
             (unsigned long long)FX_fx_beta_ADDR + 3);
    assert_string_equal(lines[0], want);
    snprintf(want, sizeof(want), "  #1 0x%016llx fx_alpha+0x%llx",
             (unsigned long long)(FX_fx_alpha_ADDR + FX_fx_alpha_SIZE),
             (unsigned long long)FX_fx_alpha_SIZE);
    assert_string_equal(lines[1], want);
    assert_non_null(strstr(lines[2], " fx_start+0x9"));
    assert_non_null(strstr(lines[3], " fx_asm_sized+0x1"));
}

static void test_unknown_and_zero_ret(void **state)
{
    reset();
    frame(10, at(20), 0x10); /* no symbol */
    frame(20, at(30), 0);    /* end */
    uk_backtrace_print(0, at(10));
    assert_int_equal(nlines, 2);
    assert_string_equal(lines[0], "  #0 0x0000000000000000 ?");
    assert_string_equal(lines[1], "  #1 0x0000000000000010 ?");
}

static void test_bad_chains(void **state)
{
    /* Unreadable rbp. */
    reset();
    uk_backtrace_print(FX_fx_beta_ADDR, 0x1000);
    assert_int_equal(nlines, 2);
    assert_non_null(strstr(lines[1], "bad frame pointer"));
    /* Chain leaving the stack, and one ending just short of it. */
    reset();
    frame(10, at(256), FX_fx_start_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR, at(10));
    assert_int_equal(nlines, 3);
    assert_non_null(strstr(lines[2], "bad frame pointer"));
    reset();
    uk_backtrace_print(FX_fx_beta_ADDR, at(255));
    assert_int_equal(nlines, 2);
    /* Misaligned. */
    reset();
    frame(10, at(20) + 4, FX_fx_start_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR, at(10));
    assert_int_equal(nlines, 3);
    assert_non_null(strstr(lines[2], "bad frame pointer"));
    /* Not growing: a loop and a step down. */
    reset();
    frame(10, at(10), FX_fx_start_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR, at(10));
    assert_int_equal(nlines, 3);
    assert_non_null(strstr(lines[2], "does not grow"));
    reset();
    frame(20, at(10), FX_fx_start_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR, at(20));
    assert_int_equal(nlines, 3);
    assert_non_null(strstr(lines[2], "does not grow"));
}

static void test_max_frames(void **state)
{
    reset();
    for (unsigned i = 0; i < 100; i++)
        frame(2 * i, at(2 * i + 2), FX_fx_start_ADDR + 1);
    uk_backtrace_print(FX_fx_beta_ADDR, at(0));
    assert_int_equal(nlines, UK_BACKTRACE_MAX_FRAMES + 1);
    assert_non_null(strstr(lines[UK_BACKTRACE_MAX_FRAMES - 1], "#31 "));
    assert_non_null(strstr(lines[UK_BACKTRACE_MAX_FRAMES], "stopped after 32 frames"));
}

/*
 * A trap: trap_dispatch's frame returns into "trap_common" (fx_alpha here),
 * whose fake frame holds the interrupted rip (exact: the first byte of
 * fx_beta must not become fx_beta-1) and an rbp below it (IST stack).
 */
static void test_trap_frame(void **state)
{
    reset();
    frame(100, at(110), FX_fx_alpha_ADDR + 2); /* in trap_dispatch: ret into trap_common */
    frame(110, at(20), FX_fx_beta_ADDR);       /* fake frame: rbp below, exact rip */
    frame(20, 0, FX_fx_start_ADDR + 5);        /* interrupted code's caller */
    uk_backtrace_print(FX_fx_die_ADDR, at(100));
    assert_int_equal(nlines, 4);
    assert_non_null(strstr(lines[1], " fx_alpha+0x2"));
    assert_non_null(strstr(lines[2], " fx_beta+0x0 (interrupted)"));
    assert_non_null(strstr(lines[3], " fx_start+0x5"));
    /* Without the trap, the same step down stops the walk. */
    reset();
    frame(100, at(110), FX_fx_start_ADDR + 2);
    frame(110, at(20), FX_fx_beta_ADDR + 1);
    uk_backtrace_print(FX_fx_die_ADDR, at(100));
    assert_int_equal(nlines, 4);
    assert_non_null(strstr(lines[3], "does not grow"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbolize),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_unknown_and_zero_ret),
        cmocka_unit_test(test_bad_chains),
        cmocka_unit_test(test_max_frames),
        cmocka_unit_test(test_trap_frame),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
