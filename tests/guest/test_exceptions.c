/*
 * Exception reports: each test faults inside a function whose name the
 * host checks in the symbolized backtrace, with panic=exit on the command
 * line so the guest leaves with UK_EXIT_PANIC after the report.
 */
#include <uk/test.h>

/* Global names the host looks for in the backtrace. */
int fault_site_de(volatile int d);
int fault_site_pf(volatile int *p);
void fault_site_ud(void);
void fault_site_gp(void);
int fault_site_overflow(void);

/* noinline + a volatile operand keep each fault in its own named frame. */
__attribute__((noinline)) int fault_site_de(volatile int d)
{
    return 100 / d;
}

__attribute__((noinline)) int fault_site_pf(volatile int *p)
{
    return *p;
}

__attribute__((noinline)) void fault_site_ud(void)
{
    __asm__ __volatile__("ud2");
}

__attribute__((noinline)) void fault_site_gp(void)
{
    /* A non-canonical address: #GP, not #PF. */
    volatile uint64_t *p = (volatile uint64_t *)0x8000000000000000ULL;
    *p = 1;
}

static volatile int recurse_forever = 1;

__attribute__((noinline)) static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    if (!recurse_forever) /* opaque to the compiler: no infinite-recursion error */
        return n;
    return recurse(n + 1) + pad[0];
}

__attribute__((noinline)) int fault_site_overflow(void)
{
    return recurse(0);
}

UK_TEST(exc_de)
{
    fault_site_de(0);
    return 1; /* not reached */
}

UK_TEST(exc_pf)
{
    fault_site_pf((volatile int *)0x10);
    return 1;
}

UK_TEST(exc_ud)
{
    fault_site_ud();
    return 1;
}

UK_TEST(exc_gp)
{
    fault_site_gp();
    return 1;
}

UK_TEST(exc_stack_overflow)
{
    fault_site_overflow();
    return 1;
}

UK_TEST(panic_call)
{
    uk_panic("test panic %d", 42);
}
