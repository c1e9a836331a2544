/*
 * Fuzz target: the whole `ukctl trace` path on a hostile guest memory image:
 * discovery, header/ring/metadata/thread-table validation, a live pass and
 * a final pass, and every writer (JSON, CTF, Perfetto) into a private
 * temporary directory (atomic output: commit and abort both exercised).
 * Seeds: tests/fuzz/corpus/trace_out/ (test_trace_ring's seed_writers()).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_out.h"

static char dir[64];

struct evbuf {
    struct utr_event ev[4096];
    size_t n;
};

static int collect(void *arg, const struct utr_event *ev)
{
    struct evbuf *b = arg;
    if (b->n == sizeof(b->ev) / sizeof(b->ev[0]))
        return 1; /* the consumer may stop a drain */
    b->ev[b->n++] = *ev;
    return 0;
}

static void convert(struct utr *t, enum tout_format f, const char *name, bool abort_it)
{
    static struct evbuf b;
    char path[128];
    struct tout o;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (tout_begin(&o, f, path, t)) {
        tout_abort(&o);
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        b.n = 0;
        if (utr_drain(t, pass == 1, collect, &b) < 0 && b.n == 0)
            break;
        if (tout_pass(&o, b.ev, b.n)) {
            tout_abort(&o);
            return;
        }
    }
    if (abort_it)
        tout_abort(&o);
    else
        tout_finish(&o);
}

/* Leave nothing behind: the outputs of the last input, then the directory. */
static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd))
        return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_trace_out.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(cleanup);
    }
    /* The reader expects 8-byte aligned memory, like an mmap'd RAM file. */
    uint8_t *mem = malloc(size ? size : 1);
    memcpy(mem, data, size);
    struct utr_mem m = {mem, size};
    uint64_t addr;
    char err[256];
    if (utr_find(&m, &addr, err, sizeof(err)) == 0) {
        static const enum tout_format fmts[] = {TOUT_JSON, TOUT_CTF, TOUT_PERFETTO};
        static const char *names[] = {"t.json", "t.ctf", "t.pftrace"};
        for (unsigned k = 0; k < 3; k++) {
            struct utr t;
            if (utr_open(&t, &m, addr) == 0)
                convert(&t, fmts[k], names[k], size & 1);
            utr_close(&t);
        }
    }
    free(mem);
    return 0;
}
