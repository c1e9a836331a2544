/*
 * Readers of a unikernel's memory for a crash dump: thread table, panic
 * record, backtraces.  Every structure is copied out of the image, then
 * validated; anything that does not validate is skipped with a warning,
 * so a corrupted guest still yields a core with what is valid.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "crash.h"

#define PAGE 4096ULL

bool crash_mem_read(const struct crash_mem *m, uint64_t addr, void *out, size_t len)
{
    if (!m->base || addr > m->size || len > m->size - addr)
        return false;
    memcpy(out, m->base + addr, len);
    return true;
}

void crash_warn(struct crash_state *st, const char *fmt, ...)
{
    va_list ap;
    st->warnings++;
    if (st->nwarn >= CRASH_MAX_WARN)
        return;
    va_start(ap, fmt);
    vsnprintf(st->warn[st->nwarn++], sizeof(st->warn[0]), fmt, ap);
    va_end(ap);
}

const char *crash_thread_state_name(uint32_t s)
{
    static const char *const names[] = {"free", "runnable", "running", "blocked", "sleeping",
                                        "exited"};
    return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *crash_regs_src_name(enum crash_regs_src s)
{
    switch (s) {
    case CRASH_REGS_SAVED:
        return "saved context";
    case CRASH_REGS_FAULT:
        return "panic frame";
    case CRASH_REGS_STOPPED:
        return "stopped by panic NMI";
    case CRASH_REGS_VCPU:
        return "vCPU registers";
    default:
        return "unknown";
    }
}

/* Copy a guest string into out as printable ASCII, NUL-terminated. */
static void sanitize(char *out, const char *in, size_t n)
{
    size_t i;
    for (i = 0; i < n && in[i]; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
}

static void read_panic(struct crash_state *st, const struct crash_mem *m,
                       const struct crash_layout *lay, struct uk_panic_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (!lay->panic_record)
        return;
    if (!crash_mem_read(m, lay->panic_record, rec, sizeof(*rec)) ||
        rec->magic != UK_PANIC_REC_MAGIC || rec->version != UK_PANIC_REC_VERSION ||
        rec->size != sizeof(*rec)) {
        crash_warn(st, "panic record at 0x%llx does not validate; ignored",
                   (unsigned long long)lay->panic_record);
        memset(rec, 0, sizeof(*rec));
        return;
    }
    if (rec->state != UK_PANIC_REC_DONE)
        return;
    st->panicked = true;
    st->panic_reason = rec->reason;
    st->panic_tid = rec->tid;
    st->panic_cpu = rec->cpu;
    st->cr2 = rec->cr2;
    st->panic_ns = rec->time_ns;
    st->panic_vector = rec->frame.vector;
    sanitize(st->message, rec->message, UK_PANIC_REC_MSG);
    if (rec->cpu < 0 || rec->cpu >= UK_PANIC_REC_CPUS) {
        crash_warn(st, "panic record names CPU %d; its frame is not used", rec->cpu);
        st->panic_cpu = -1;
    }
}

/* Registers for a thread running on `cpu` when the guest stopped. */
static void running_regs(struct crash_state *st, const struct crash_mem *m,
                         const struct uk_panic_record *rec, const struct crash_vcpus *vcpus,
                         struct crash_thread *t)
{
    int c = t->cpu;
    if (c < 0 || c >= UK_THREAD_TABLE_CPUS) {
        crash_warn(st, "thread %u runs on CPU %d: out of range", t->tid, c);
        return;
    }
    if (st->panicked && c == st->panic_cpu) {
        t->regs = rec->frame;
        t->src = CRASH_REGS_FAULT;
        return;
    }
    if (st->panicked && rec->stopped[c]) {
        if (crash_mem_read(m, rec->stopped[c], &t->regs, sizeof(t->regs))) {
            t->src = CRASH_REGS_STOPPED;
            return;
        }
        crash_warn(st, "CPU %d's stop frame at 0x%llx is outside RAM", c,
                   (unsigned long long)rec->stopped[c]);
    }
    if (vcpus && (unsigned)c < vcpus->n && vcpus->valid[c]) {
        t->regs = vcpus->regs[c];
        t->src = CRASH_REGS_VCPU;
        return;
    }
    crash_warn(st, "thread %u ran on CPU %d and no frame was recorded there; using its stale context",
               t->tid, c);
}

/* Frame-pointer walk: [rbp] = caller's rbp, [rbp+8] = return address. */
static void backtrace(const struct crash_mem *m, struct crash_thread *t)
{
    uint64_t rbp = t->regs.rbp, prev = 0;
    t->nbt = 0;
    if (!t->regs.rip)
        return;
    t->bt[t->nbt++] = t->regs.rip;
    t->bt_exact = 1;
    while (t->nbt < CRASH_BT_MAX && rbp && !(rbp & 7)) {
        uint64_t fr[2];
        if (!crash_mem_read(m, rbp, fr, sizeof(fr)) || !fr[1])
            break;
        t->bt[t->nbt++] = fr[1];
        /* Must move on; trap frames may step down to an interrupted stack,
         * so only a repeat (a loop) ends the walk besides the frame cap. */
        if (fr[0] == rbp || fr[0] == prev)
            break;
        prev = rbp;
        rbp = fr[0];
    }
}

static void read_threads(struct crash_state *st, const struct crash_mem *m,
                         const struct crash_layout *lay, const struct uk_panic_record *rec,
                         const struct crash_vcpus *vcpus)
{
    struct uk_thread_table hdr;
    const size_t hdr_len = offsetof(struct uk_thread_table, threads);
    if (!lay->thread_table) {
        crash_warn(st, "no thread table symbol in the image");
        return;
    }
    if (!crash_mem_read(m, lay->thread_table, &hdr, hdr_len) ||
        hdr.magic != UK_THREAD_TABLE_MAGIC || hdr.version != UK_THREAD_TABLE_VERSION ||
        hdr.entry_size != sizeof(struct uk_thread)) {
        crash_warn(st, "thread table at 0x%llx does not validate (magic, version or entry size)",
                   (unsigned long long)lay->thread_table);
        return;
    }
    st->ncpus = hdr.ncpus <= UK_THREAD_TABLE_CPUS ? hdr.ncpus : UK_THREAD_TABLE_CPUS;
    if (hdr.ncpus > UK_THREAD_TABLE_CPUS)
        crash_warn(st, "thread table claims %u CPUs; reading %u", hdr.ncpus, st->ncpus);
    unsigned max = hdr.max <= UK_THREAD_MAX ? hdr.max : UK_THREAD_MAX;
    if (hdr.max > UK_THREAD_MAX)
        crash_warn(st, "thread table claims %u slots; reading %u", hdr.max, max);
    for (unsigned i = 0; i < max; i++) {
        struct uk_thread u;
        uint64_t a = lay->thread_table + hdr_len + (uint64_t)i * sizeof(u);
        if (!crash_mem_read(m, a, &u, sizeof(u))) {
            crash_warn(st, "thread slot %u is outside RAM", i);
            break;
        }
        if (u.state == UK_THREAD_FREE)
            continue;
        if (u.state > UK_THREAD_EXITED || u.tid == 0) {
            crash_warn(st, "thread slot %u: bad state %u or tid %u; skipped", i, u.state, u.tid);
            continue;
        }
        bool dup = false;
        for (unsigned j = 0; j < st->nthreads; j++)
            dup |= st->threads[j].tid == u.tid;
        if (dup) {
            crash_warn(st, "thread slot %u repeats tid %u; skipped", i, u.tid);
            continue;
        }
        struct crash_thread *t = &st->threads[st->nthreads++];
        memset(t, 0, sizeof(*t));
        t->tid = u.tid;
        t->state = u.state;
        t->flags = u.flags;
        t->cpu = u.cpu;
        t->run_ns = u.run_ns;
        sanitize(t->name, u.name, UK_THREAD_NAME - 1);
        t->stack_lo = u.stack_lo;
        t->stack_hi = u.stack_hi;
        /* An exited thread keeps its stack until joined: its saved context
         * shows where it left (inside the exit path's last switch). */
        t->regs.rsp = u.ctx.rsp;
        t->regs.rbp = u.ctx.rbp;
        t->regs.rbx = u.ctx.rbx;
        t->regs.r12 = u.ctx.r12;
        t->regs.r13 = u.ctx.r13;
        t->regs.r14 = u.ctx.r14;
        t->regs.r15 = u.ctx.r15;
        t->regs.rip = u.ctx.rip;
        t->regs.cs = 0x8;
        t->regs.ss = 0x10;
        t->regs.rflags = 0x2;
        t->src = CRASH_REGS_SAVED;
        if (u.state == UK_THREAD_RUNNING)
            running_regs(st, m, rec, vcpus, t);
        if (st->panicked && u.tid == st->panic_tid && u.state == UK_THREAD_RUNNING)
            st->fault_index = (int)(t - st->threads);
        backtrace(m, t);
    }
}

void crash_read(struct crash_state *st, const struct crash_mem *m, const struct crash_layout *lay,
                enum crash_level level, const struct crash_vcpus *vcpus)
{
    struct uk_panic_record rec;
    memset(st, 0, sizeof(*st));
    st->fault_index = -1;
    st->panic_cpu = -1;
    read_panic(st, m, lay, &rec);
    read_threads(st, m, lay, &rec, vcpus);
    if (st->panicked && st->fault_index < 0)
        crash_warn(st, "the panicking thread (tid %u) is not in the thread table", st->panic_tid);
    crash_regions(st, m, lay, level);
}
