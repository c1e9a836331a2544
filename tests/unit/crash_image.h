/*
 * A fake guest RAM image for the crash reader's tests and fuzz seeds: a
 * thread table, a panic record and a klog ring at fixed addresses, threads
 * with stacks holding a frame-pointer chain.  Little helpers only; the
 * tests corrupt the image to taste.
 */
#ifndef TESTS_CRASH_IMAGE_H
#define TESTS_CRASH_IMAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uk/klog_abi.h>
#include <uk/panic_abi.h>
#include <uk/thread_abi.h>

#include "crash/crash.h"

#define CI_SIZE (8u << 20)       /* 8 MiB of "RAM" */
#define CI_PANIC 0x1000ull       /* uk_panic_record */
#define CI_TABLE 0x2000ull       /* uk_thread_table (~60 KiB) */
#define CI_KLOG 0x20000ull       /* uk_klog (~136 KiB) */
#define CI_DATA 0x1000ull        /* "writable segment" [0x1000, 0x50000) */
#define CI_DATA_LEN 0x4f000ull
#define CI_PMEM 0x50000ull       /* bitmap ptr, page_base, page_count */
#define CI_STACKS 0x80000ull     /* thread i: stack [0x80000 + i*0x8000 + 0x1000, +0x8000) */

struct crash_image {
    uint8_t *ram;
    struct crash_mem mem;
    struct crash_layout lay;
};

static inline struct uk_thread_table *ci_table(struct crash_image *ci)
{
    return (struct uk_thread_table *)(ci->ram + CI_TABLE);
}

static inline struct uk_panic_record *ci_panic(struct crash_image *ci)
{
    return (struct uk_panic_record *)(ci->ram + CI_PANIC);
}

/* A thread in slot i with a 3-frame chain on its stack: rip, ret1, ret2. */
static inline struct uk_thread *ci_thread(struct crash_image *ci, unsigned i, uint32_t tid,
                                          uint32_t state, int cpu, const char *name)
{
    struct uk_thread *t = &ci_table(ci)->threads[i];
    uint64_t lo = CI_STACKS + i * 0x8000ull + 0x1000, hi = lo + 0x7000;
    memset(t, 0, sizeof(*t));
    t->state = state;
    t->tid = tid;
    t->cpu = cpu;
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->stack_lo = lo;
    t->stack_hi = hi;
    /* frames at hi-0x100 (-> hi-0x80 -> 0) */
    uint64_t f1 = hi - 0x100, f2 = hi - 0x80;
    uint64_t *p1 = (uint64_t *)(ci->ram + f1), *p2 = (uint64_t *)(ci->ram + f2);
    p1[0] = f2, p1[1] = 0x101000 + tid;
    p2[0] = 0, p2[1] = 0x102000 + tid;
    t->ctx.rsp = f1 - 0x40;
    t->ctx.rbp = f1;
    t->ctx.rip = 0x100000 + tid;
    return t;
}

static inline void ci_log(struct crash_image *ci, const char *text)
{
    struct uk_klog_ring *r = (struct uk_klog_ring *)(ci->ram + CI_KLOG);
    uint64_t s = r->head++;
    struct uk_klog_rec *rec = &r->rec[s % UK_KLOG_SLOTS];
    size_t n = 0;
    while (n < UK_KLOG_TEXT && text[n])
        n++;
    rec->len = (uint16_t)n;
    memcpy(rec->text, text, rec->len);
    rec->time_ns = s * 1000;
    rec->seq = s + 1;
}

/* A consistent image: 3 threads, thread 2 panicked on CPU 0 (a #PF). */
static inline void ci_init(struct crash_image *ci)
{
    ci->ram = calloc(1, CI_SIZE);
    ci->mem = (struct crash_mem){ci->ram, CI_SIZE};
    memset(&ci->lay, 0, sizeof(ci->lay));
    ci->lay.thread_table = CI_TABLE;
    ci->lay.panic_record = CI_PANIC;
    ci->lay.klog = CI_KLOG;
    ci->lay.wseg[0].addr = CI_DATA;
    ci->lay.wseg[0].len = CI_DATA_LEN;
    ci->lay.nwseg = 1;
    strcpy(ci->lay.build_id, "0123456789abcdef0123456789abcdef01234567");

    struct uk_thread_table *tt = ci_table(ci);
    tt->magic = UK_THREAD_TABLE_MAGIC;
    tt->version = UK_THREAD_TABLE_VERSION;
    tt->max = UK_THREAD_MAX;
    tt->entry_size = sizeof(struct uk_thread);
    tt->ncpus = 2;
    ci_thread(ci, 0, 1, UK_THREAD_RUNNING, 1, "idle1");
    struct uk_thread *t2 = ci_thread(ci, 1, 2, UK_THREAD_RUNNING, 0, "kv-fault");
    ci_thread(ci, 2, 3, UK_THREAD_BLOCKED, 0, "worker");

    struct uk_panic_record *pr = ci_panic(ci);
    pr->magic = UK_PANIC_REC_MAGIC;
    pr->version = UK_PANIC_REC_VERSION;
    pr->size = sizeof(*pr);
    pr->state = UK_PANIC_REC_DONE;
    pr->reason = 1;
    pr->cpu = 0;
    pr->tid = 2;
    pr->cr2 = 0x18;
    pr->frame.vector = UK_EXC_PF;
    pr->frame.rip = 0x12e065;
    pr->frame.rsp = t2->ctx.rsp;
    pr->frame.rbp = t2->ctx.rbp;
    snprintf(pr->message, sizeof(pr->message), "unhandled exception #PF");
    /* CPU 1 stopped by NMI: a frame on thread 1's stack */
    uint64_t sf = CI_STACKS + 0x1000 + 0x200;
    struct uk_trap_frame *f = (struct uk_trap_frame *)(ci->ram + sf);
    f->rip = 0x106000;
    f->rsp = sf - 0x100;
    f->rbp = ci_table(ci)->threads[0].ctx.rbp;
    pr->stopped[1] = sf;

    struct uk_klog_ring *r = (struct uk_klog_ring *)(ci->ram + CI_KLOG);
    r->magic = UK_KLOG_MAGIC;
    r->version = UK_KLOG_VERSION;
    r->slots = UK_KLOG_SLOTS;
    r->rec_size = sizeof(struct uk_klog_rec);
    ci_log(ci, "ukscope: ready");
    ci_log(ci, "PANIC on CPU 0: unhandled exception #PF");
}

static inline void ci_free(struct crash_image *ci)
{
    free(ci->ram);
}

#endif
