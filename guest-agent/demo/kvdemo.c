/*
 * Demo service of the default image: a key-value HTTP API on port 8081
 * (kv_port=) served by KV_WORKERS worker threads, with its own metrics and
 * logs, and guarded fault injection for post-mortem demos.
 *
 *   GET /kv/KEY      200 value | 404        PUT /kv/KEY  body = value, 201/200
 *   DELETE /kv/KEY   204 | 404              GET /kv      key list (text)
 *   POST /fault/NAME (Authorization: Bearer TOKEN, token= on the command line)
 *
 * Faults (also `fault=NAME` on the command line, fired fault_delay_ms after
 * start): panic, pagefault, divide, assert (a failed UK_ASSERT), stackoverflow
 * (recursion into the guard page below the thread's stack: a #DF), deadlock,
 * busyloop, oom.
 *
 * The network thread parses requests and hands each to a worker through a
 * queue (mutex + condition variable); the worker answers through
 * agent_net_call(), since only the network thread may touch lwIP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/panic.h>
#include <uk/sync.h>
#include <uk/thread.h>
#include <uk/time.h>

#include "guest/agent.h"
#include "guest/httpd.h"
#include "guest/metrics.h"

enum { KV_WORKERS = 3, KV_KEYS_MAX = 256, KV_KEY_MAX = 64, KV_VAL_MAX = 1024, KV_QUEUE = 64 };

struct kv_job {
    struct httpd_ctx *ctx;
    enum http_method method;
    char key[KV_KEY_MAX];
    char val[KV_VAL_MAX];
    size_t vlen;
    char fault[16];
    uint64_t start_tsc;
    unsigned status;
    char *body;
    size_t blen;
    const char *op;
};

static struct uk_mutex store_lock = UK_MUTEX_INIT;
static struct {
    char key[KV_KEY_MAX];
    char *val;
    size_t vlen;
} store[KV_KEYS_MAX];
static unsigned nkeys;

static struct uk_mutex q_lock = UK_MUTEX_INIT;
static struct uk_cond q_cond = UK_COND_INIT;
static struct kv_job *queue[KV_QUEUE];
static unsigned q_head, q_len;

static struct um_family *req_fam, *dur_fam;
static struct um_series *keys_gauge, *faults_ctr;

static char *dup_text(const char *s, size_t *len)
{
    *len = strlen(s);
    char *p = malloc(*len + 1);
    if (p)
        memcpy(p, s, *len + 1);
    else
        *len = 0;
    return p;
}

static int find(const char *k)
{
    for (unsigned i = 0; i < KV_KEYS_MAX; i++)
        if (store[i].val && strcmp(store[i].key, k) == 0)
            return (int)i;
    return -1;
}

/* ---- faults ---- */
static struct uk_mutex dl_a = UK_MUTEX_INIT, dl_b = UK_MUTEX_INIT;

static void deadlock_peer(void *arg)
{
    uk_mutex_lock(&dl_b);
    uk_sleep_ms(50);
    uk_mutex_lock(&dl_a); /* never returns: the other side holds a, wants b */
}

static void busy_thread(void *arg)
{
    uk_warn("kv: fault busyloop: spinning forever");
    for (volatile uint64_t n = 0;; n++)
        ;
}

/* Recursion that never ends (opaque to the compiler): each frame holds 512
 * bytes, well under a page, so it walks into the guard page, never over it. */
static volatile bool recurse_on = true;

__attribute__((noinline)) static unsigned stack_hog(unsigned depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (!recurse_on)
        return depth;
    return stack_hog(depth + 1) + (unsigned)pad[0];
}

static bool fault_known(const char *f)
{
    static const char *const names[] = {"panic",         "pagefault", "divide",   "assert",
                                        "stackoverflow", "deadlock",  "busyloop", "oom"};
    for (unsigned i = 0; i < UK_ARRAY_SIZE(names); i++)
        if (!strcmp(f, names[i]))
            return true;
    return false;
}

/* Runs on a worker thread.  Some faults never return (by design). */
static void inject(const char *f)
{
    um_add(faults_ctr, 1);
    uk_warn("kv: injecting fault '%s'", f);
    if (!strcmp(f, "panic")) {
        uk_panic("kv: injected panic");
    } else if (!strcmp(f, "pagefault")) {
        uint64_t *volatile bad = (uint64_t *)(uintptr_t)0x18; /* page 0 is unmapped */
        *bad = 1;
    } else if (!strcmp(f, "divide")) {
        volatile unsigned zero = 0, one = 1;
        uk_info("kv: %u", one / zero);
    } else if (!strcmp(f, "assert")) {
        volatile unsigned keys_counted = nkeys + 1; /* the store "disagrees" with its count */
        UK_ASSERT(keys_counted == nkeys);
    } else if (!strcmp(f, "stackoverflow")) {
        uk_info("kv: %u", stack_hog(0));
    } else if (!strcmp(f, "deadlock")) {
        uk_thread_create("kv-deadlock", deadlock_peer, NULL, NULL, NULL);
        uk_mutex_lock(&dl_a);
        uk_sleep_ms(50);
        uk_mutex_lock(&dl_b);
    } else if (!strcmp(f, "busyloop")) {
        uk_thread_create("kv-busy", busy_thread, NULL, NULL, NULL);
    } else if (!strcmp(f, "oom")) {
        size_t total = 0;
        void *p;
        while ((p = malloc(1 << 20)) != NULL)
            total += 1 << 20; /* leaked on purpose: the heap stays exhausted */
        uk_warn("kv: fault oom: heap exhausted after %zu MiB", total >> 20);
    }
}

/* ---- workers ---- */
static void job_done(void *arg)
{
    struct kv_job *j = arg;
    char code[8];
    snprintf(code, sizeof(code), "%u", j->status);
    um_add(um_series(req_fam, j->op, code), 1);
    um_observe(um_series(dur_fam, j->op, NULL), (int64_t)uk_tsc_to_ns(uk_tsc() - j->start_tsc));
    httpd_complete(j->ctx, j->status, "text/plain; charset=utf-8", j->body, j->blen);
    free(j);
}

static void execute(struct kv_job *j)
{
    if (j->fault[0]) {
        j->op = "fault";
        j->status = 202;
        j->body = dup_text("fault injected\n", &j->blen);
        /* Answer first so the client sees the acknowledgement, then fault. */
        char f[16];
        memcpy(f, j->fault, sizeof(f));
        agent_net_call(job_done, j);
        uk_sleep_ms(100);
        inject(f);
        return;
    }
    uk_mutex_lock(&store_lock);
    if (!j->key[0]) {
        j->op = "list";
        size_t cap = (size_t)nkeys * (KV_KEY_MAX + 1) + 1, len = 0;
        j->body = malloc(cap);
        for (unsigned i = 0; j->body && i < KV_KEYS_MAX; i++)
            if (store[i].val)
                len += (size_t)snprintf(j->body + len, cap - len, "%s\n", store[i].key);
        j->blen = j->body ? len : 0;
        j->status = 200;
    } else if (j->method == HTTP_GET || j->method == HTTP_HEAD) {
        j->op = "get";
        int i = find(j->key);
        j->status = i < 0 ? 404 : 200;
        if (i >= 0 && (j->body = malloc(store[i].vlen + 1)) != NULL) {
            memcpy(j->body, store[i].val, store[i].vlen);
            j->blen = store[i].vlen;
        }
    } else if (j->method == HTTP_PUT || j->method == HTTP_POST) {
        j->op = "put";
        int i = find(j->key);
        char *v = malloc(j->vlen + 1);
        if (!v) {
            j->status = 503;
        } else if (i < 0 && nkeys == KV_KEYS_MAX) {
            free(v);
            j->status = 507;
        } else {
            memcpy(v, j->val, j->vlen);
            if (i < 0) {
                for (i = 0; store[i].val; i++)
                    ;
                strlcpy(store[i].key, j->key, KV_KEY_MAX);
                nkeys++;
                j->status = 201;
            } else {
                free(store[i].val);
                j->status = 200;
            }
            store[i].val = v;
            store[i].vlen = j->vlen;
        }
    } else {
        j->op = "delete";
        int i = find(j->key);
        if (i < 0) {
            j->status = 404;
        } else {
            free(store[i].val);
            store[i].val = NULL;
            nkeys--;
            j->status = 204;
        }
    }
    um_set(keys_gauge, nkeys);
    uk_mutex_unlock(&store_lock);
    if (j->status >= 500)
        uk_warn("kv: %s %s -> %u", j->op, j->key, j->status);
    else
        uk_debug("kv: %s %s -> %u", j->op, j->key, j->status);
    agent_net_call(job_done, j);
}

static void worker(void *arg)
{
    for (;;) {
        uk_mutex_lock(&q_lock);
        while (!q_len)
            uk_cond_wait(&q_cond, &q_lock, 0);
        struct kv_job *j = queue[q_head];
        q_head = (q_head + 1) % KV_QUEUE;
        q_len--;
        uk_mutex_unlock(&q_lock);
        execute(j);
    }
}

/* ---- HTTP side (network thread) ---- */
static bool valid_key(struct http_str k)
{
    if (k.len == 0 || k.len >= KV_KEY_MAX)
        return false;
    for (size_t i = 0; i < k.len; i++) {
        char c = k.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool authorized(const struct http_request *r)
{
    if (r->authorization.len < 7 || strncasecmp(r->authorization.p, "Bearer ", 7))
        return false;
    /* constant time; false when no token is set */
    return uk_cmdline_secret_equal("token", r->authorization.p + 7, r->authorization.len - 7);
}

static void handler(struct httpd_ctx *x)
{
    const struct http_request *r = x->req;
    struct http_str key = {0};
    char fault[16] = "";

    if (r->path.len == 3 && !memcmp(r->path.p, "/kv", 3)) {
        if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
            httpd_reply(x, 405, "text/plain", NULL, 0, "Allow: GET, HEAD\r\n");
            return;
        }
    } else if (r->path.len > 4 && !memcmp(r->path.p, "/kv/", 4)) {
        key = (struct http_str){r->path.p + 4, r->path.len - 4};
        if (!valid_key(key)) {
            httpd_reply_text(x, 400, "bad key\n");
            return;
        }
        if (r->method == HTTP_OTHER) {
            httpd_reply(x, 405, "text/plain", NULL, 0, "Allow: GET, HEAD, PUT, POST, DELETE\r\n");
            return;
        }
    } else if (r->path.len > 7 && !memcmp(r->path.p, "/fault/", 7)) {
        if (!uk_cmdline_get("token")) {
            httpd_reply_text(x, 404, "not found\n");
            return;
        }
        if (!authorized(r)) {
            httpd_reply(x, 401, "text/plain", NULL, 0, "WWW-Authenticate: Bearer\r\n");
            return;
        }
        if (r->method != HTTP_POST) {
            httpd_reply(x, 405, "text/plain", NULL, 0, "Allow: POST\r\n");
            return;
        }
        size_t n = r->path.len - 7;
        if (n >= sizeof(fault)) {
            httpd_reply_text(x, 404, "no such fault\n");
            return;
        }
        memcpy(fault, r->path.p + 7, n);
        fault[n] = 0;
        if (!fault_known(fault)) {
            httpd_reply_text(x, 404, "no such fault\n");
            return;
        }
    } else {
        httpd_reply_text(x, 404, "not found\n");
        return;
    }
    struct kv_job *j = calloc(1, sizeof(*j));
    if (!j || q_len >= KV_QUEUE) {
        free(j);
        httpd_reply_text(x, 503, "busy\n");
        return;
    }
    j->method = r->method;
    j->start_tsc = x->start_tsc;
    memcpy(j->key, key.p, key.len);
    memcpy(j->fault, fault, sizeof(fault));
    j->vlen = UK_MIN(r->content_length, sizeof(j->val));
    memcpy(j->val, r->body, j->vlen);
    j->ctx = httpd_defer(x);
    if (!j->ctx) {
        free(j);
        httpd_reply_text(x, 503, "busy\n");
        return;
    }
    uk_mutex_lock(&q_lock); /* short hold: workers only pop under it */
    queue[(q_head + q_len) % KV_QUEUE] = j;
    q_len++;
    uk_cond_signal(&q_cond);
    uk_mutex_unlock(&q_lock);
}

static struct httpd_server kv_srv = {.handler = handler};

static void kv_listen(void *arg)
{
    kv_srv.port = (unsigned)uk_cmdline_get_u64("kv_port", 8081);
    uk_result r = httpd_listen(&kv_srv);
    if (r)
        uk_warn("kv: cannot listen: %s", uk_result_str(r));
}

static void cmdline_fault(void *arg)
{
    const char *f = arg;
    uk_sleep_ms(uk_cmdline_get_u64("fault_delay_ms", 0));
    inject(f);
}

static void kvdemo_init(void)
{
    static const char *const lbl[] = {"op", "code", NULL};
    static const char *const op_l[] = {"op", NULL};
    static const int64_t b[] = {20000, 100000, 500000, 1000000, 5000000, 20000000, 100000000};
    req_fam = um_family("kv_requests", "Demo key-value API requests on port 8081, by operation and HTTP status code",
                        UKM_COUNTER, 1, lbl, 32, NULL, 0);
    dur_fam = um_family("kv_request_duration_seconds", "Demo key-value request time in the guest, from parsed request to queued reply",
                        UKM_HISTOGRAM, 1000000000, op_l, 5, b, UK_ARRAY_SIZE(b));
    keys_gauge = um_series(um_family("kv_keys", "Keys the demo key-value store holds now", UKM_GAUGE, 1, NULL, 1, NULL, 0), NULL, NULL);
    faults_ctr = um_series(um_family("kv_faults_injected", "Faults injected into the demo (POST /fault/NAME or fault= on the command line)",
                                     UKM_COUNTER, 1, NULL, 1, NULL, 0), NULL, NULL);
    for (unsigned i = 0; i < KV_WORKERS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "kv-worker%u", i);
        uk_thread_create(name, worker, NULL, NULL, NULL);
    }
    if (agent_netdev())
        agent_net_call(kv_listen, NULL);
    const char *f = uk_cmdline_get("fault");
    if (f && fault_known(f))
        uk_thread_create("kv-fault", cmdline_fault, (void *)f, NULL, NULL);
    else if (f)
        uk_warn("kv: unknown fault '%s'", f);
}
UK_INITCALL_SERVICE(kvdemo_init);
