/*
 * In-guest test registration.  The test image (build/kernel-test.elf) runs
 * the test named by `test=NAME` on the command line in the main thread,
 * prints "TEST NAME: PASS|FAIL ..." and exits with UK_EXIT_OK/UK_EXIT_FAIL.
 */
#ifndef UK_TEST_H
#define UK_TEST_H

#include <uk/klog.h>
#include <uk/panic.h>

struct uk_test {
    const char *name;
    int (*fn)(void); /* 0 = pass */
};

#define UK_TEST(tname)                                                                             \
    static int uk_test_fn_##tname(void);                                                           \
    static const struct uk_test uk_test_##tname                                                    \
        __attribute__((used, section(".uk_tests"), aligned(8))) = {#tname, uk_test_fn_##tname};    \
    static int uk_test_fn_##tname(void)

/* Fail the current test with a message (returns 1 from the test function). */
#define UK_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            uk_log(UK_LOG_ERR, "CHECK failed: %s at %s:%d", #cond, __FILE__, __LINE__);            \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#endif
