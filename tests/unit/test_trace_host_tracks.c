/* Host records -> per-thread host tracks of `ukctl trace --with-host`
 * (host-collector/ukctl/trace_host_tracks.c), from crafted record arrays:
 * records arrive in ring-buffer order and are read in time order; a
 * switch the record lacks is counted and marked once, with every slice
 * still closed; and a thread's state at the window start is taken from its
 * first switch record, not from a wakeup (the kernel also reports
 * sched_wakeup for a thread still on its CPU).  The Perfetto writer is
 * replaced by a recorder of the calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpf/trace_host_tracks.h"
#include "trace_out.h"

#define NO_PID 999999999 /* no /proc entry: tracks are named "thread TID" */
#define MAXEV  64

struct rec {
    uint64_t ns;
    unsigned track;
    enum tout_host_kind kind;
    char name[32];
};
static struct rec got[MAXEV];
static size_t ngot, ntracks;

int tout_pf_host_begin(struct tout *o, unsigned host_pid, const char *host_name)
{
    ngot = ntracks = 0;
    return 0;
}

int tout_pf_host_track(struct tout *o, unsigned track, const char *name)
{
    assert_int_equal(track, ntracks);
    ntracks++;
    return 0;
}

int tout_pf_host_event(struct tout *o, const struct tout_host_ev *e)
{
    assert_true(ngot < MAXEV);
    got[ngot] = (struct rec){e->ns, e->track, e->kind, ""};
    if (e->name)
        snprintf(got[ngot].name, sizeof(got[ngot].name), "%s", e->name);
    ngot++;
    return 0;
}

static struct ht_event ev(uint64_t ns, uint32_t tid, uint32_t cpu, enum ht_type type, uint32_t arg)
{
    return (struct ht_event){.ts_ns = ns, .tid = tid, .cpu = cpu, .type = type, .arg = arg};
}

static unsigned run(struct ht_event *e, size_t n)
{
    struct tout o = {0};
    unsigned missed = 0;
    assert_int_equal(th_host_tracks(&o, NO_PID, e, n, &missed), 0);
    return missed;
}

/* Every track's slices nest and are all closed, in time order. */
static void assert_balanced(void)
{
    for (unsigned t = 0; t < ntracks; t++) {
        int depth = 0;
        uint64_t last = 0;
        for (size_t i = 0; i < ngot; i++) {
            if (got[i].track != t)
                continue;
            assert_true(got[i].ns >= last);
            last = got[i].ns;
            depth += got[i].kind == TOUT_HOST_BEGIN ? 1 : got[i].kind == TOUT_HOST_END ? -1 : 0;
            assert_true(depth >= 0);
        }
        assert_int_equal(depth, 0);
    }
}

static size_t count(const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < ngot; i++)
        c += !strcmp(got[i].name, name);
    return c;
}

/* The ring holds records in reservation order, which interleaves the
 * host CPUs; processed in time order, a thread that moves between CPUs
 * has clean on/off slices and no miss. */
static void test_ring_order_read_in_time_order(void **state)
{
    struct ht_event e[] = {
        ev(300, 7, 1, HT_ON_CPU, 0),  ev(100, 7, 0, HT_ON_CPU, 0),
        ev(200, 7, 0, HT_OFF_CPU, 1), ev(400, 7, 1, HT_OFF_CPU, 0),
    };
    assert_int_equal(run(e, 4), 0);
    assert_balanced();
    assert_int_equal(count("on CPU 0"), 1);
    assert_int_equal(count("on CPU 1"), 1);
    assert_int_equal(count("runqueue wait"), 1); /* preempted at 200, back at 300 */
}

/* A switch-in the record lacks (the kernel emitted none): the next
 * switch-out and a syscall of a thread that is off CPU are each one miss,
 * marked at that record, with the open wait closed there. */
static void test_missed_switch_in_marked_once(void **state)
{
    struct ht_event e[] = {
        ev(100, 7, 0, HT_ON_CPU, 0),  ev(200, 7, 0, HT_OFF_CPU, 1),
        ev(500, 7, 0, HT_OFF_CPU, 1), /* no switch-in between */
        ev(600, 7, 0, HT_ON_CPU, 0),  ev(700, 7, 0, HT_OFF_CPU, 0),
        ev(900, 7, 1, HT_WRITE, 1),   /* runs again without a switch-in */
        ev(950, 7, 1, HT_OFF_CPU, 0),
    };
    assert_int_equal(run(e, 7), 2);
    assert_balanced();
    assert_int_equal(count("missed switch-in"), 2);
    assert_int_equal(count("missed switch-out"), 0);
}

/* The kernel reports sched_wakeup for a thread woken while still on its
 * CPU.  As a thread's first record it does not mean "off CPU": the switch-
 * out that follows is not a missed switch-in, and no wait is drawn. */
static void test_first_wakeup_of_running_thread(void **state)
{
    struct ht_event e[] = {
        ev(100, 7, 0, HT_WAKEUP, 0), ev(150, 8, 1, HT_ON_CPU, 0),
        ev(200, 7, 0, HT_OFF_CPU, 0), ev(300, 7, 0, HT_WAKEUP, 0),
        ev(400, 7, 1, HT_ON_CPU, 0), ev(500, 7, 1, HT_OFF_CPU, 0),
    };
    assert_int_equal(run(e, 6), 0);
    assert_balanced();
    assert_int_equal(count("missed switch-in"), 0);
    assert_int_equal(count("runqueue wait"), 1); /* 300..400 only */
    for (size_t i = 0; i < ngot; i++)
        if (!strcmp(got[i].name, "runqueue wait"))
            assert_int_equal(got[i].ns, 300);

    /* the same with a syscall (it runs) before its first switch-out */
    struct ht_event f[] = {
        ev(100, 7, 0, HT_WAKEUP, 0), ev(120, 7, 0, HT_WRITE, 1),
        ev(200, 7, 0, HT_OFF_CPU, 0),
    };
    assert_int_equal(run(f, 3), 0);
    assert_balanced();
    assert_int_equal(count("runqueue wait"), 0);
}

/* The common start: a sleeping thread is woken, waits, runs. */
static void test_first_wakeup_of_sleeping_thread(void **state)
{
    struct ht_event e[] = {
        ev(100, 7, 0, HT_WAKEUP, 0), ev(180, 7, 0, HT_ON_CPU, 0),
        ev(250, 7, 0, HT_OFF_CPU, 0),
        ev(300, 9, 1, HT_WAKEUP, 0), /* window ends before it runs */
    };
    assert_int_equal(run(e, 4), 0);
    assert_balanced();
    assert_int_equal(count("runqueue wait"), 2);
    assert_int_equal(got[0].ns, 100);
    assert_string_equal(got[0].name, "runqueue wait");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_order_read_in_time_order),
        cmocka_unit_test(test_missed_switch_in_marked_once),
        cmocka_unit_test(test_first_wakeup_of_running_thread),
        cmocka_unit_test(test_first_wakeup_of_sleeping_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
