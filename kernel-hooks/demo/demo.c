/*
 * The demo workload of the default image: a few threads that keep the
 * kernel busy in recognisable ways, so that a debugger, the tracer and the
 * metrics have something to show.
 *
 *   producer/consumer  a bounded queue under a mutex + condition variable
 *   cruncherN          CPU-bound prime counting, one per CPU (pinned), busy
 *                      demo.load percent of every 100 ms period (default 10;
 *                      100 saturates every vCPU, 0 makes the demo quiet:
 *                      crunchers and producer only sleep)
 *   ticker             logs a heartbeat every 10 s
 *   logburst           only with demo.log_burst=N: logs N numbered lines,
 *                      demo.log_batch (default 8) every 10 ms, so that the
 *                      collector's tests have a burst to follow
 *   idleN              only with demo.threads=N (at most DEMO_IDLE_MAX):
 *                      N threads that only sleep, so a guest can have as
 *                      many threads as a real service (crash benchmark)
 *
 * demo_work_item() and demo_iterations are stable names for breakpoint and
 * watchpoint demos (see docs/architecture.md).
 */
#include <stdio.h>
#include "demo/demo.h"
#include <uk/app.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/klog.h>
#include <uk/sync.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/trace_hooks.h>

volatile uint64_t demo_iterations;   /* written by every work item */
volatile uint64_t demo_primes_found; /* written by the crunchers */

enum { DEMO_LOAD_DEFAULT = 10, DEMO_PERIOD_MS = 100, DEMO_PRIME_WRAP = 1 << 20 };
enum { DEMO_IDLE_MAX = 200 }; /* demo.threads bound */
static unsigned demo_load = DEMO_LOAD_DEFAULT; /* percent of each CPU, 0..100 */

static struct uk_mutex q_lock = UK_MUTEX_INIT;
static struct uk_cond q_cond = UK_COND_INIT;
static unsigned q_items[32], q_len;

__attribute__((noinline)) unsigned demo_work_item(unsigned v)
{
    demo_iterations++;
    return v * 2654435761u;
}

/* A quiet demo (demo.load=0) parks its periodic threads here. */
static void park(void)
{
    for (;;)
        uk_sleep_ms(3600 * 1000);
}

static void producer(void *arg)
{
    if (!demo_load)
        park();
    for (unsigned i = 0;; i++) {
        uk_mutex_lock(&q_lock);
        while (q_len == UK_ARRAY_SIZE(q_items))
            uk_cond_wait(&q_cond, &q_lock, 0);
        q_items[q_len++] = i;
        uk_cond_signal(&q_cond);
        uk_mutex_unlock(&q_lock);
        uk_sleep_ms(5);
    }
}

static void consumer(void *arg)
{
    for (;;) {
        uk_mutex_lock(&q_lock);
        while (q_len == 0)
            uk_cond_wait(&q_cond, &q_lock, 0);
        unsigned v = q_items[--q_len];
        uk_cond_signal(&q_cond);
        uk_mutex_unlock(&q_lock);
        UK_TRACE(SPAN_BEGIN, uk_tp_str8("work"), v);
        demo_work_item(v);
        UK_TRACE(SPAN_END, uk_tp_str8("work"), v);
    }
}

static bool is_prime(uint64_t n)
{
    if (n < 2)
        return false;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

/*
 * Busy for demo_load percent of every DEMO_PERIOD_MS, by the clock, so the
 * load does not grow with n (trial division of larger numbers takes
 * longer; n also wraps to keep each step short).
 */
static void cruncher(void *arg)
{
    uint64_t period = UK_MSEC(DEMO_PERIOD_MS), busy = period / 100 * demo_load;
    uint64_t n = 2;
    if (!demo_load)
        park();
    for (;;) {
        uint64_t start = uk_time_ns();
        UK_TRACE(SPAN_BEGIN, uk_tp_str8("crunch"), n);
        do {
            for (unsigned i = 0; i < 64; i++, n++)
                if (is_prime(n))
                    __atomic_add_fetch(&demo_primes_found, 1, __ATOMIC_RELAXED);
            if (n > DEMO_PRIME_WRAP)
                n = 2;
        } while (uk_time_ns() - start < busy);
        UK_TRACE(SPAN_END, uk_tp_str8("crunch"), n);
        UK_TRACE(COUNTER, uk_tp_str8("primes"), demo_primes_found);
        if (busy < period)
            uk_sleep_ns(period - busy);
    }
}

static void ticker(void *arg)
{
    for (unsigned beat = 10;; beat += 10) {
        uk_sleep_ms(10 * 1000);
        uk_info("demo: heartbeat %u, work items %llu, primes %llu", beat,
                    (unsigned long long)demo_iterations,
                    (unsigned long long)demo_primes_found);
    }
}

static void logburst(void *arg)
{
    uint64_t n = uk_cmdline_get_u64("demo.log_burst", 0);
    uint64_t batch = uk_cmdline_get_u64("demo.log_batch", 8);

    uk_sleep_ms(uk_cmdline_get_u64("demo.log_delay_ms", 500));
    for (uint64_t i = 0; i < n; i++) {
        uk_info("demo: burst line %llu of %llu", (unsigned long long)i, (unsigned long long)n);
        if (batch && (i + 1) % batch == 0)
            uk_sleep_ms(10);
    }
    uk_info("demo: burst done, %llu lines", (unsigned long long)n);
}

/* A thread of demo.threads: asleep for good. */
static void idle_worker(void *arg)
{
    park();
}

static void start(const char *name, uk_thread_fn fn, int cpu)
{
    struct uk_thread_attr attr = {.stack_size = 0, .cpu = cpu};
    uk_result r = uk_thread_create(name, fn, NULL, &attr, NULL);
    if (r != UK_OK)
        uk_err("demo: cannot start %s: %s", name, uk_result_str(r));
}

int uk_app_main(void)
{
    demo_load = (unsigned)UK_MIN(uk_cmdline_get_u64("demo.load", DEMO_LOAD_DEFAULT), 100ULL);
    start("producer", producer, -1);
    start("consumer", consumer, -1);
    start("ticker", ticker, -1);
    if (uk_cmdline_get_u64("demo.log_burst", 0))
        start("logburst", logburst, -1);
    for (unsigned c = 0; c < uk_cpu_count(); c++) {
        char name[16];
        snprintf(name, sizeof(name), "cruncher%u", c);
        start(name, cruncher, (int)c);
    }
    unsigned idle =
        (unsigned)UK_MIN(uk_cmdline_get_u64("demo.threads", 0), (uint64_t)DEMO_IDLE_MAX);
    for (unsigned i = 0; i < idle; i++) {
        char name[16];
        snprintf(name, sizeof(name), "idle%u", i);
        start(name, idle_worker, -1);
    }
    uk_info("demo: %u threads started (demo.load=%u%%); attach a debugger or read the log",
            3 + uk_cpu_count() + (uk_cmdline_get_u64("demo.log_burst", 0) ? 1 : 0) + idle,
            demo_load);
    return 0;
}
