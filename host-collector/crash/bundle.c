/*
 * Crash bundles: one directory per crash under the crash dir, holding the
 * core, report.json, report.txt and the console tail; the kernel image is
 * kept once per build-id under images/.  index.json keeps every signature
 * group's counts, which retention never lowers.  Layout and policy:
 * docs/postmortem.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#include "crash_bundle.h"

#define LOG_RECORDS 200
#define TOP_FRAMES 5            /* frames in the signature and per thread in report.txt */

/* Frames of the panic machinery: never part of a signature. */
static bool machinery(const char *f)
{
    static const char *const names[] = {"uk_panic", "uk_panic_assert", "panic_exception",
                                        "panic_finish", "trap_dispatch", "trap_common",
                                        "uk_backtrace_here", "uk_backtrace_print", "?"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(f, names[i]))
            return true;
    return false;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* a separator: "ab","c" != "a","bc" */
}

/* Symbolized frames of one thread, as a JSON array. */
static json_t *frames_json(struct crash_sym *sym, const struct crash_thread *t, unsigned max)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < t->nbt && i < max; i++) {
        char func[128], src[256], addr[32];
        uint64_t off;
        crash_sym_lookup(sym, t->bt[i], !(t->bt_exact & (1u << i)), func, sizeof(func), &off, src,
                         sizeof(src));
        snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)t->bt[i]);
        json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:s}", "addr", addr, "function", func,
                                           "offset", (json_int_t)off, "source", src));
    }
    return a;
}

void crash_signature(const struct crash_state *st, const char *build_id, json_t *fault, char *out,
                     size_t len)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, build_id);
    char kind[48];
    snprintf(kind, sizeof(kind), "%u/%llu", st->panic_reason,
             st->panic_reason == 1 ? (unsigned long long)st->panic_vector : 0ULL);
    h = fnv(h, kind);
    size_t i, used = 0;
    json_t *f;
    json_array_foreach(fault, i, f) {
        const char *fn = json_string_value(json_object_get(f, "function"));
        if (!fn || machinery(fn))
            continue;
        h = fnv(h, fn);
        if (++used == TOP_FRAMES)
            break;
    }
    if (!used && st->panic_reason != 1)
        h = fnv(h, st->message); /* no frames at all: the message is what we have */
    snprintf(out, len, "%.12s-%016llx", build_id[0] ? build_id : "nobuildid",
             (unsigned long long)h);
}

struct log_ctx {
    json_t *arr;
};

static void on_log(void *arg, uint64_t seq, uint64_t ns, unsigned level, unsigned cpu, uint32_t tid,
                   const char *text)
{
    struct log_ctx *l = arg;
    json_array_append_new(l->arr, json_pack("{s:I,s:I,s:i,s:i,s:i,s:s}", "seq", (json_int_t)seq,
                                            "ns", (json_int_t)ns, "level", level, "cpu", cpu, "tid",
                                            (int)tid, "text", text));
}

static const char *reason_str(uint32_t r)
{
    return r == 0 ? "panic" : r == 1 ? "exception" : r == 2 ? "assertion" : "?";
}

json_t *crash_report_json(const struct crash_src *s, const struct crash_state *st,
                          const char *kernel_elf, const char *id)
{
    struct crash_sym *sym = crash_sym_open(kernel_elf);
    json_t *r = json_object(), *threads = json_array(), *fault = json_array();
    char *meta = crash_meta_json(st, &s->lay, &s->meta), sig[64], when[32];
    struct log_ctx lc = {json_array()};

    if (st->fault_index >= 0) {
        json_decref(fault);
        fault = frames_json(sym, &st->threads[st->fault_index], CRASH_BT_MAX);
    }
    crash_signature(st, s->lay.build_id, fault, sig, sizeof(sig));
    util_now_iso8601(when, sizeof(when));
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "signature", json_string(sig));
    json_object_set_new(r, "time", json_string(when));
    json_object_set_new(r, "instance", meta ? json_loads(meta, 0, NULL) : json_object());
    json_object_set_new(r, "build_id", json_string(s->lay.build_id));
    json_object_set_new(r, "reason", json_string(st->panicked ? reason_str(st->panic_reason)
                                                               : "manual"));
    json_object_set_new(r, "message", json_string(st->message));
    json_object_set_new(r, "cpu", json_integer(st->panic_cpu));
    json_object_set_new(r, "uptime_ns", json_integer((json_int_t)st->panic_ns));
    if (st->panicked && st->panic_reason == 1) {
        json_object_set_new(r, "vector", json_integer((json_int_t)st->panic_vector));
        json_object_set_new(r, "cr2", json_integer((json_int_t)st->cr2));
    }
    if (st->fault_index >= 0) {
        const struct crash_thread *t = &st->threads[st->fault_index];
        json_object_set_new(r, "thread", json_pack("{s:i,s:s,s:o}", "tid", (int)t->tid, "name",
                                                   t->name, "frames", json_incref(fault)));
    }
    for (unsigned i = 0; i < st->nthreads; i++) {
        const struct crash_thread *t = &st->threads[i];
        json_array_append_new(threads,
                              json_pack("{s:i,s:s,s:s,s:i,s:s,s:I,s:o}", "tid", (int)t->tid, "name",
                                        t->name, "state", crash_thread_state_name(t->state), "cpu",
                                        t->cpu, "regs", crash_regs_src_name(t->src), "run_ns",
                                        (json_int_t)t->run_ns, "frames",
                                        frames_json(sym, t, TOP_FRAMES)));
    }
    json_object_set_new(r, "threads", threads);
    crash_klog(&s->mem, &s->lay, LOG_RECORDS, on_log, &lc);
    json_object_set_new(r, "log", lc.arr);
    json_decref(fault);
    free(meta);
    crash_sym_close(sym);
    return r;
}

/* report.txt: what a human reads first. */
int crash_report_txt(json_t *r, const char *path)
{
    FILE *f = fopen(path, "we");
    size_t i, j;
    json_t *t, *fr;
    if (!f)
        return -1;
    json_t *in = json_object_get(r, "instance");
    fprintf(f, "crash %s\nsignature %s\n", json_string_value(json_object_get(r, "id")),
            json_string_value(json_object_get(r, "signature")));
    fprintf(f, "instance %s (accel %s, smp %lld, %lld MiB) cmdline: %s\n",
            json_string_value(json_object_get(in, "name")),
            json_string_value(json_object_get(in, "accel")),
            json_integer_value(json_object_get(in, "smp")),
            json_integer_value(json_object_get(in, "mem_mib")),
            json_string_value(json_object_get(in, "cmdline")));
    fprintf(f, "build-id %s\ntime %s, guest uptime %.3f s\n",
            json_string_value(json_object_get(r, "build_id")),
            json_string_value(json_object_get(r, "time")),
            json_integer_value(json_object_get(r, "uptime_ns")) / 1e9);
    fprintf(f, "\n%s on CPU %lld: %s\n", json_string_value(json_object_get(r, "reason")),
            json_integer_value(json_object_get(r, "cpu")),
            json_string_value(json_object_get(r, "message")));
    json_t *ft = json_object_get(r, "thread");
    if (ft) {
        fprintf(f, "thread %lld \"%s\":\n", json_integer_value(json_object_get(ft, "tid")),
                json_string_value(json_object_get(ft, "name")));
        json_array_foreach(json_object_get(ft, "frames"), j, fr)
            fprintf(f, "  #%zu %s %s+0x%llx %s\n", j, json_string_value(json_object_get(fr, "addr")),
                    json_string_value(json_object_get(fr, "function")),
                    (unsigned long long)json_integer_value(json_object_get(fr, "offset")),
                    json_string_value(json_object_get(fr, "source")));
    }
    fprintf(f, "\nthreads:\n");
    json_array_foreach(json_object_get(r, "threads"), i, t) {
        fprintf(f, "  %4lld %-20s %-9s cpu %-3lld (%s)\n", json_integer_value(json_object_get(t, "tid")),
                json_string_value(json_object_get(t, "name")),
                json_string_value(json_object_get(t, "state")),
                json_integer_value(json_object_get(t, "cpu")),
                json_string_value(json_object_get(t, "regs")));
        json_array_foreach(json_object_get(t, "frames"), j, fr)
            fprintf(f, "         #%zu %s+0x%llx %s\n", j,
                    json_string_value(json_object_get(fr, "function")),
                    (unsigned long long)json_integer_value(json_object_get(fr, "offset")),
                    json_string_value(json_object_get(fr, "source")));
    }
    json_t *log = json_object_get(r, "log");
    fprintf(f, "\nlast %zu log records:\n", json_array_size(log));
    json_array_foreach(log, i, t)
        fprintf(f, "[%5llu.%06llu] %lld:%lld %s\n",
                (unsigned long long)(json_integer_value(json_object_get(t, "ns")) / 1000000000),
                (unsigned long long)(json_integer_value(json_object_get(t, "ns")) / 1000 % 1000000),
                json_integer_value(json_object_get(t, "cpu")),
                json_integer_value(json_object_get(t, "tid")),
                json_string_value(json_object_get(t, "text")));
    json_t *w = json_object_get(json_object_get(r, "instance"), "warnings");
    if (json_array_size(w)) {
        fprintf(f, "\ncapture warnings:\n");
        json_array_foreach(w, i, t)
            fprintf(f, "  %s\n", json_string_value(t));
    }
    return fclose(f);
}

/* Copy at most the last `tail` bytes of src to dst (0 if src is missing). */
int crash_copy_file(const char *src, const char *dst, long tail)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char buf[65536];
    struct stat st;
    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(in, &st) < 0)
        goto cleanup;
    if (tail > 0 && st.st_size > tail)
        lseek(in, st.st_size - tail, SEEK_SET);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        goto cleanup;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0)
            goto cleanup;
        if (n == 0)
            break;
        if (write(out, buf, (size_t)n) != n)
            goto cleanup;
    }
    rc = 0;
cleanup:
    if (out >= 0 && close(out) < 0)
        rc = -1;
    close(in);
    return rc;
}
