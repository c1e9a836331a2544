/*
 * Unit tests: crash signatures (host-collector/crash/bundle.c): stable across
 * offsets, addresses and panic machinery frames; different for another
 * build, another exception or another call path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "crash/crash_bundle.h"

static struct crash_state st;

/* frames from "f1,f2,..." with a given offset for all of them */
static json_t *frames(const char *names, int off)
{
    json_t *a = json_array();
    char buf[256], *save, *n;
    strcpy(buf, names);
    for (n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:s}", "addr", "0x1234", "function", n,
                                           "offset", off, "source", "x.c:1"));
    return a;
}

static void sig(const char *bid, const char *names, int off, char *out)
{
    json_t *f = frames(names, off);
    crash_signature(&st, bid, f, out, 64);
    json_decref(f);
}

static void test_signature(void **state)
{
    char a[64], b[64];
    const char *bid = "66d6d7280923e3629cedc7665b88768b91e9d028";
    memset(&st, 0, sizeof(st));
    st.panicked = true;
    st.panic_reason = 1;
    st.panic_vector = 0;
    sig(bid, "inject,worker,arch_thread_start", 0x10, a);
    assert_int_equal(strlen(a), 12 + 1 + 16);
    assert_memory_equal(a, "66d6d7280923-", 13);
    sig(bid, "inject,worker,arch_thread_start", 0x99, b);
    assert_string_equal(a, b); /* offsets stripped */
    sig(bid, "trap_common,trap_dispatch,panic_exception,inject,worker,arch_thread_start", 1, b);
    assert_string_equal(a, b); /* machinery ignored */
    sig(bid, "inject,worker,arch_thread_start,x,y,z,w", 0, a);
    sig(bid, "inject,worker,arch_thread_start,x,y,q,r", 0, b);
    assert_string_equal(a, b); /* only the top 5 frames */
    sig(bid, "inject,worker2,arch_thread_start", 0, b);
    assert_string_not_equal(a, b); /* another path */
    sig("77d6d7280923e3629cedc7665b88768b91e9d028", "inject,worker,arch_thread_start,x,y", 0, b);
    assert_string_not_equal(a, b); /* another build */
    sig(bid, "inject,worker,arch_thread_start,x,y", 0, a);
    st.panic_vector = 14;
    sig(bid, "inject,worker,arch_thread_start,x,y", 0, b);
    assert_string_not_equal(a, b); /* #PF vs #DE in the same function */
    st.panic_reason = 0;
    sig(bid, "inject,workerx", 0, a);
    sig(bid, "in,jectworkerx", 0, b);
    assert_string_not_equal(a, b); /* name boundaries count */
    sig("", "", 0, a);
    assert_memory_equal(a, "nobuildid-", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_signature)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
