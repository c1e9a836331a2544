/*
 * The console's JSON (GET, no token, like the rest of the API):
 *
 *   /api/v1/fleet                        one row per instance with its live rates
 *   /api/v1/instances/NAME/history[?since=S]   15 minutes of 1 s samples, columns
 *   /api/v1/instances/NAME/threads?detail=1    the thread table with state, CPU,
 *                                        run time (copied from guest RAM, validated)
 *
 * Field meanings: docs/dashboards.md.  Strings from the guest (thread
 * names) went through the trace reader's cleaning; the page still treats
 * them as text only.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cd.h"
#include "dash.h"
#include "uk/thread_abi.h"

static json_t *fleet_row(struct inst *in)
{
    struct hist_now n;
    int64_t up = 0;

    history_now(in, &n);
    if (in->state == ST_RUNNING || in->state == ST_PAUSED || in->state == ST_PANICKED)
        up = (cd_wall_ns() - in->boot_wall_ns) / 1000000000LL;
    json_t *r = json_pack("{s:s,s:s,s:I,s:s,s:i,s:i,s:I,s:I,s:s,s:s}", "name", in->name,
                          "state", inst_state_name(in->state), "uptime_s", (json_int_t)up,
                          "accel", in->meta.accel, "smp", in->meta.smp, "mem_mib",
                          in->meta.mem_mib, "restarts", (json_int_t)in->restarts, "panics",
                          (json_int_t)in->panics, "boot_id", in->boot_id, "last_crash",
                          crash_last_signature(in->name));
    if (r && n.valid) {
        json_object_set_new(r, "cpu_pct", json_real(n.cpu_pct));
        json_object_set_new(r, "steal_pct", json_real(n.steal_pct));
        json_object_set_new(r, "vcpus_seen", json_integer(n.nvcpu));
        json_object_set_new(r, "heap_bytes", json_real(n.heap_bytes));
        json_object_set_new(r, "heap_limit_bytes", json_real(n.heap_limit_bytes));
        json_object_set_new(r, "req_s", json_real(n.req_s));
        json_object_set_new(r, "http5xx_s", json_real(n.http5xx_s));
        json_object_set_new(r, "log_s", json_real(n.log_s));
        json_object_set_new(r, "trace_lost_s", json_real(n.trace_lost_s));
    }
    return r;
}

static const char *const thread_states[] = {"free",     "runnable", "running",
                                            "blocked",  "sleeping", "exited"};

/* Copy the whole table, then validate, as the trace reader does. */
static json_t *threads_detail(struct inst *in)
{
    struct uk_thread_table *tt;
    uint64_t addr;

    if (!in->utr_ok || !in->ram.base)
        return NULL;
    addr = in->tr.hdr.threads_addr;
    if (!addr || (addr & 7) || addr > in->ram.size || sizeof(*tt) > in->ram.size - addr)
        return NULL;
    if (!(tt = malloc(sizeof(*tt))))
        return NULL;
    if (RAMVIEW_GUARD()) {
        memcpy(tt, (const unsigned char *)in->ram.base + addr, sizeof(*tt));
        ramview_unguard();
    } else {
        in->err[SRC_THREADS]++;
        free(tt);
        return NULL;
    }
    if (tt->magic != UK_THREAD_TABLE_MAGIC || tt->version != UK_THREAD_TABLE_VERSION ||
        tt->entry_size != sizeof(struct uk_thread) || tt->max > UK_THREAD_MAX) {
        free(tt);
        return NULL;
    }
    json_t *a = json_array();
    for (unsigned i = 0; i < tt->max; i++) {
        struct uk_thread *th = &tt->threads[i];
        if (th->state == UK_THREAD_FREE || th->state > UK_THREAD_EXITED || !th->tid)
            continue;
        th->name[sizeof(th->name) - 1] = 0;
        utr_clean_str(th->name);
        json_array_append_new(
            a, json_pack("{s:I,s:s,s:s,s:i,s:I,s:I,s:b}", "tid", (json_int_t)th->tid, "name",
                         th->name, "state", thread_states[th->state], "cpu", (int)th->cpu,
                         "run_ns", (json_int_t)th->run_ns, "switches", (json_int_t)th->switches,
                         "idle", (th->flags & UK_THREAD_IDLE) != 0));
    }
    free(tt);
    return a;
}

bool dash_route(struct MHD_Connection *c, const char *url, const char *method,
                enum MHD_Result *ret)
{
    char name[64], action[32] = "";
    struct inst *in;

    (void)method;
    if (!strcmp(url, "/api/v1/fleet")) {
        json_t *a = json_array();
        for (unsigned i = 0; i < CD_MAX_INSTANCES; i++)
            if (cd.inst[i].used)
                json_array_append_new(a, fleet_row(&cd.inst[i]));
        *ret = api_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:I,s:o}", "time_ms",
                                        (json_int_t)(cd_wall_ns() / 1000000), "instances", a));
        return true;
    }
    if (strncmp(url, "/api/v1/instances/", 18) ||
        sscanf(url + 18, "%63[^/]/%31[^/]", name, action) != 2)
        return false;
    const char *detail = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "detail");
    bool hist = !strcmp(action, "history");
    if (!hist && !(!strcmp(action, "threads") && detail && !strcmp(detail, "1")))
        return false;
    if (!(in = inst_find(name))) {
        *ret = api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such instance");
        return true;
    }
    if (hist) {
        const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
        *ret = api_reply_json(c, MHD_HTTP_OK,
                              history_json(in, since ? strtoll(since, NULL, 10) : 0));
        return true;
    }
    json_t *t = threads_detail(in);
    *ret = t ? api_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:s,s:o}", "name", in->name, "threads", t))
             : api_reply_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no valid thread table in RAM");
    return true;
}

/*
 * POST /api/v1/instances/NAME/dump (token checked by api.c): a crash bundle
 * of the instance now, by a child `ukctl crash capture RUN_DIR` (it holds
 * the guest while it copies, then resumes it; docs/postmortem.md), its
 * output in STATE/instances/NAME/dump.log.  202 at once; the bundle shows
 * on /api/v1/crashes when written.  The child is reaped with the others
 * (inst_reap_children ignores pids it did not start).
 */
bool dash_post(struct MHD_Connection *c, const char *url, enum MHD_Result *ret)
{
    char name[64], action[32] = "", logp[4300];
    struct inst *in;

    if (strncmp(url, "/api/v1/instances/", 18) ||
        sscanf(url + 18, "%63[^/]/%31[^/]", name, action) != 2 || strcmp(action, "dump"))
        return false;
    if (!(in = inst_find(name))) {
        *ret = api_reply_err(c, MHD_HTTP_NOT_FOUND, "no such instance");
        return true;
    }
    if (in->state == ST_EXITED || !in->has_sum) {
        *ret = api_reply_err(c, MHD_HTTP_CONFLICT, "the instance is not running");
        return true;
    }
    snprintf(logp, sizeof(logp), "%s/dump.log", in->state_dir);
    pid_t pid = fork();
    if (pid < 0) {
        *ret = api_reply_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Failed to fork");
        return true;
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        setsid();
        execl(cd.ukctl, cd.ukctl, "crash", "capture", in->run_dir, (char *)NULL);
        _exit(127);
    }
    *ret = api_reply_json(c, MHD_HTTP_ACCEPTED,
                          json_pack("{s:s,s:s,s:s}", "name", in->name, "action", "dump", "log",
                                    logp));
    return true;
}
