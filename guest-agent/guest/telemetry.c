/*
 * Telemetry thread: kernel log records, a heartbeat every second and a
 * metric snapshot every few seconds, sent as length-delimited protobuf
 * envelopes on the virtio-console port UK_VCON_TELEMETRY
 * (docs/telemetry.md).  Without that port the thread exits quietly.
 *
 * Command line: telemetry=off disables it; telemetry.metrics_s=N sets the
 * snapshot period (default 5, 0 = never).
 */
#include <stdio.h>
#include <uk/cmdline.h>
#include <uk/cpu.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/vcon.h>

#include "telemetry.h"
#include "telemetry_frame.h"

#define TELEM_POLL_MS      20 /* how often new log records are looked for */
#define TELEM_KLOG_BATCH   64 /* log records per round, so heartbeats stay on time */
#define TELEM_OPEN_WAIT_NS UK_MSEC(2000)

static char instance_id[64];

const char *telem_instance_id(void)
{
    return instance_id;
}

struct thread_count {
    uint32_t all, runnable;
};

static bool count_thread(const struct uk_thread *t, void *arg)
{
    struct thread_count *c = arg;

    c->all++;
    if (t->state == UK_THREAD_RUNNABLE || t->state == UK_THREAD_RUNNING)
        c->runnable++;
    return true;
}

static void send_heartbeat(uint64_t *last_idle, uint64_t *last_ns)
{
    telem_envelope env = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__Heartbeat hb = UKSCOPE__TELEMETRY__HEARTBEAT__INIT;
    Ukscope__Telemetry__CpuLoad cpus[UK_CPU_MAX], *cpup[UK_CPU_MAX];
    struct thread_count tc = {0, 0};
    struct telem_counters c;
    struct uk_mem_stats ms;
    uint64_t now = uk_time_ns(), span = now - *last_ns;
    unsigned i, n = uk_cpu_count();

    if (n > UK_CPU_MAX)
        n = UK_CPU_MAX;
    for (i = 0; i < n; i++) {
        uint64_t idle = uk_sched_idle_ns(i), d = idle - last_idle[i];

        ukscope__telemetry__cpu_load__init(&cpus[i]);
        cpus[i].cpu = i;
        cpus[i].context_switches = uk_sched_switches(i);
        cpus[i].idle_ns = idle;
        cpus[i].busy_permille = (span && d < span) ? (uint32_t)(1000 - d * 1000 / span) : 0;
        cpup[i] = &cpus[i];
        last_idle[i] = idle;
    }
    *last_ns = now;
    uk_thread_foreach(count_thread, &tc);
    uk_mem_stats(&ms);
    telem_counters_get(&c);
    hb.uptime_ns = now;
    hb.n_cpus = n;
    hb.cpus = cpup;
    hb.threads = tc.all;
    hb.runnable_threads = tc.runnable;
    hb.heap_in_use_bytes = ms.heap_in_use;
    /* This envelope is number c.produced; drops so far are all before it. */
    hb.envelopes_produced = c.produced + 1;
    hb.envelopes_lost = c.lost;
    env.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    telem_send(&env);
}

static void init_instance_id(void)
{
    const char *id = uk_cmdline_get("instance");

    if (id && *id)
        snprintf(instance_id, sizeof(instance_id), "%s", id);
    else
        snprintf(instance_id, sizeof(instance_id), "boot-%llx", (unsigned long long)uk_tsc_boot());
}

void telem_send_metrics(void);

static void telemetry_thread(void *arg)
{
    struct uk_vcon_port *port;
    uint64_t last_idle[UK_CPU_MAX] = {0}, last_ns = uk_time_ns();
    uint64_t metrics_ns = UK_NSEC_PER_SEC * uk_cmdline_get_u64("telemetry.metrics_s", 5);
    uint64_t next_hb, next_metrics;

    /* No port, no telemetry.  Not logged: tests count the log records. */
    if (uk_vcon_open(UK_VCON_TELEMETRY, TELEM_OPEN_WAIT_NS, &port) != UK_OK)
        return;
    init_instance_id();
    telem_send_init(port);
    uk_panic_hook_register(telem_crash_hook, NULL);
    /* Heartbeats on the uptime grid, with the metrics page updater. */
    next_hb = (uk_time_ns() / TELEM_HEARTBEAT_NS + 1) * TELEM_HEARTBEAT_NS;
    next_metrics = metrics_ns ? uk_time_ns() + metrics_ns : ~0ull;
    for (;;) {
        uint64_t now;
        bool more;

        telem_send_flush();
        unsigned nklog = telem_send_klog(TELEM_KLOG_BATCH);
        more = nklog == TELEM_KLOG_BATCH;
        now = uk_time_ns();
        if (now >= next_hb) {
            send_heartbeat(last_idle, &last_ns);
            /* Keep a 1 s grid; after a long stall, restart it. */
            next_hb += TELEM_HEARTBEAT_NS;
            if (next_hb <= now)
                next_hb = now + TELEM_HEARTBEAT_NS;
        }
        if (now >= next_metrics) {
            telem_send_metrics();
            next_metrics = now + metrics_ns;
        }
        /* A full batch means the ring has more: only let others run. */
        /* Poll the log ring quickly while it is active; when quiet, sleep
         * to the next heartbeat (idle instances wake once a second). */
        if (more)
            uk_thread_yield();
        else if (nklog)
            uk_sleep_ms(TELEM_POLL_MS);
        else {
            uint64_t wake = UK_MIN(next_hb, next_metrics), t = uk_time_ns();
            uk_sleep_ns(wake > t ? wake - t : 0);
        }
    }
}

static void telemetry_init(void)
{
    if (uk_cmdline_get("telemetry") && !uk_cmdline_flag("telemetry"))
        return;
    if (uk_thread_create("telemetry", telemetry_thread, NULL, UK_THREAD_ATTR_SYSTEM, NULL) != UK_OK)
        uk_warn("telemetry: cannot create the sender thread");
}
UK_INITCALL_SERVICE(telemetry_init);
