/*
 * In-guest test runner: the application of build/kernel-test.elf.  Runs the
 * test named by `test=NAME` (see <uk/test.h>), prints "TEST NAME: PASS" or
 * "TEST NAME: FAIL", and exits through isa-debug-exit.  `test=list` prints
 * the names.
 */
#include <string.h>
#include <uk/app.h>
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/panic.h>
#include <uk/test.h>

extern const struct uk_test __uk_tests_start[], __uk_tests_end[];

int uk_app_main(void)
{
    const char *name = uk_cmdline_get("test");
    if (!name) {
        uk_err("no test= on the command line");
        uk_exit(UK_EXIT_FAIL);
    }
    for (const struct uk_test *t = __uk_tests_start; t < __uk_tests_end; t++) {
        if (strcmp(name, "list") == 0) {
            uk_info("test: %s", t->name);
            continue;
        }
        if (strcmp(t->name, name) != 0)
            continue;
        uk_info("TEST %s: start", name);
        int rc = t->fn();
        uk_info("TEST %s: %s", name, rc == 0 ? "PASS" : "FAIL");
        uk_exit(rc == 0 ? UK_EXIT_OK : UK_EXIT_FAIL);
    }
    if (strcmp(name, "list") == 0)
        uk_exit(UK_EXIT_OK);
    uk_err("TEST %s: no such test", name);
    uk_exit(UK_EXIT_FAIL);
}
