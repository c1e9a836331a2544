/*
 * x86_64 arch ops for the gdb core: registers (trap frames of stopped CPUs,
 * saved contexts of other threads), memory checked with uk_mem_accessible,
 * software breakpoints (ud2 or int3 patched into text) and DR0-DR3.
 */
#include "gdbx.h"

#include <stdio.h>
#include <string.h>
#include <uk/mem.h>
#include <uk/panic.h>

bool gdbx_use_int3;

/* gdb register numbers of our target description. */
enum gdbx_reg {
    R_RAX = 0,
    R_RBX,
    R_RCX,
    R_RDX,
    R_RSI,
    R_RDI,
    R_RBP,
    R_RSP,
    R_R8,
    R_R9,
    R_R10,
    R_R11,
    R_R12,
    R_R13,
    R_R14,
    R_R15,
    R_RIP = 16,
    R_EFLAGS,
    R_CS,
    R_SS,
    R_DS,
    R_ES,
    R_FS,
    R_GS,
    R_ST0 = 24,
    R_FCTRL = 32,
    R_FS_BASE = 40,
    R_GS_BASE,
    R_COUNT
};

#define GP(n, t) "<reg name=\"" n "\" bitsize=\"64\" type=\"" t "\"/>"
#define R32(n)   "<reg name=\"" n "\" bitsize=\"32\" type=\"int32\"/>"
#define ST(n)    "<reg name=\"st" n "\" bitsize=\"80\" type=\"i387_ext\"/>"
#define FP(n)    "<reg name=\"" n "\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
static const char target_xml[] =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
    "<target version=\"1.0\"><architecture>i386:x86-64</architecture>"
    "<feature name=\"org.gnu.gdb.i386.core\">" GP("rax", "int64") GP("rbx", "int64")
        GP("rcx", "int64") GP("rdx", "int64") GP("rsi", "int64") GP("rdi", "int64") GP(
            "rbp", "data_ptr") GP("rsp", "data_ptr") GP("r8", "int64") GP("r9", "int64")
            GP("r10", "int64") GP("r11", "int64") GP("r12", "int64") GP("r13", "int64") GP(
                "r14", "int64") GP("r15", "int64") GP("rip", "code_ptr") R32("eflags") R32("cs")
                R32("ss") R32("ds") R32("es") R32("fs") R32("gs") ST("0") ST("1") ST("2") ST("3")
                    ST("4") ST("5") ST("6") ST("7") FP("fctrl") FP("fstat") FP("ftag") FP("fiseg")
                        FP("fioff") FP("foseg") FP("fooff")
                            FP("fop") "</feature><feature name=\"org.gnu.gdb.i386.segments\">" GP(
                                "fs_base", "int64") GP("gs_base", "int64") "</feature></target>";

static unsigned reg_size(void *ctx, unsigned r)
{
    if (r < R_EFLAGS || r == R_FS_BASE || r == R_GS_BASE)
        return 8;
    if (r >= R_ST0 && r < R_FCTRL)
        return 10;
    return r < R_COUNT ? 4 : 0;
}

static struct uk_thread *thread_by_tid(int tid)
{
    const struct uk_thread_table *tt = uk_thread_table_get();
    if (tid <= 0)
        return NULL;
    for (unsigned i = 0; i < UK_THREAD_MAX; i++)
        if (tt->threads[i].state != UK_THREAD_FREE && (int)tt->threads[i].tid == tid)
            return (struct uk_thread *)&tt->threads[i];
    return NULL;
}

int gdbx_tid_on_cpu(unsigned cpu)
{
    const struct uk_thread_table *tt = uk_thread_table_get();
    const struct uk_thread *t = (const struct uk_thread *)(uintptr_t)tt->current[cpu];
    return t ? (int)t->tid : 0;
}

/* The CPU a thread is stopped on (its registers are in that trap frame). */
static int stopped_cpu_of(const struct uk_thread *t)
{
    if (t->state != UK_THREAD_RUNNING || t->cpu < 0 || t->cpu >= UK_CPU_MAX)
        return -1;
    if (gdbx_tid_on_cpu((unsigned)t->cpu) != (int)t->tid || !gdbx_cpus[t->cpu].tf)
        return -1;
    return t->cpu;
}

/* Pointer to the 64-bit slot holding register r of thread t, or NULL. */
static uint64_t *reg_slot(struct uk_thread *t, unsigned r, struct gdbx_cpu **cpu)
{
    int c = stopped_cpu_of(t);
    *cpu = NULL;
    if (c >= 0) {
        struct uk_trap_frame *tf = gdbx_cpus[c].tf;
        uint64_t *gp[] = {&tf->rax, &tf->rbx, &tf->rcx, &tf->rdx,    &tf->rsi, &tf->rdi, &tf->rbp,
                          &tf->rsp, &tf->r8,  &tf->r9,  &tf->r10,    &tf->r11, &tf->r12, &tf->r13,
                          &tf->r14, &tf->r15, &tf->rip, &tf->rflags, &tf->cs,  &tf->ss};
        *cpu = &gdbx_cpus[c];
        return r < UK_ARRAY_SIZE(gp) ? gp[r] : NULL;
    }
    struct uk_thread_ctx *x = &t->ctx;
    switch (r) {
    case R_RBX:
        return &x->rbx;
    case R_RBP:
        return &x->rbp;
    case R_RSP:
        return &x->rsp;
    case R_R12:
        return &x->r12;
    case R_R13:
        return &x->r13;
    case R_R14:
        return &x->r14;
    case R_R15:
        return &x->r15;
    case R_RIP:
        return &x->rip;
    default:
        return NULL;
    }
}

/* Known in a frame that holds only the call site (uk_panic's): what a
 * call leaves defined, plus the CPU's segment state saved at entry. */
static bool callsite_known(unsigned r)
{
    return r == R_RIP || r == R_RSP || r == R_RBP || r == R_CS || r == R_SS ||
           (r >= R_DS && r <= R_GS) || r == R_FS_BASE || r == R_GS_BASE;
}

static int reg_read(void *ctx, int tid, unsigned r, uint8_t *out)
{
    struct uk_thread *t = thread_by_tid(tid);
    struct gdbx_cpu *c;
    uint64_t v = 0;
    if (!t || r >= R_COUNT)
        return GDB_ERR;
    uint64_t *slot = reg_slot(t, r, &c);
    /* A switched-out thread has only its callee-saved registers (ctx),
     * cs/ss are the kernel's; the rest was never saved: unavailable, not 0. */
    if (!c && !slot && r != R_CS && r != R_SS)
        return GDB_UNAVAIL;
    if (c && c->callsite_only && !callsite_known(r))
        return GDB_UNAVAIL;
    if (slot)
        v = *slot;
    else if (c && r >= R_DS && r <= R_GS)
        v = (&c->ds)[r - R_DS];
    else if (c && r == R_FS_BASE)
        v = c->fs_base;
    else if (c && r == R_GS_BASE)
        v = c->gs_base;
    else if (r == R_CS)
        v = 0x08; /* kernel code selector: only saved threads get here */
    else if (r == R_SS)
        v = 0x10; /* kernel data selector */
    memset(out, 0, 16);
    memcpy(out, &v, reg_size(ctx, r) < 8 ? reg_size(ctx, r) : 8);
    return 0;
}

static int reg_write(void *ctx, int tid, unsigned r, const uint8_t *in)
{
    struct uk_thread *t = thread_by_tid(tid);
    struct gdbx_cpu *c;
    if (!t || r >= R_COUNT)
        return GDB_ERR;
    uint64_t *slot = reg_slot(t, r, &c);
    /* Segments, x87 and the saved-context registers the switch does not
     * restore cannot be changed. */
    if (!slot || r == R_CS || r == R_SS)
        return GDB_ERR;
    uint64_t v = 0;
    memcpy(&v, in, reg_size(ctx, r));
    if (r == R_EFLAGS)
        v = (v & 0x3f7fd7ULL) | 0x2; /* keep reserved bits sane */
    *slot = v;
    return 0;
}

/* ---------------------------------------------------------- breakpoints */

#define SWBP_MAX 64
struct swbp {
    uint64_t addr;
    uint8_t saved[2];
    uint8_t len;
    bool used;
};
static struct swbp swbps[SWBP_MAX];

struct hwbp {
    uint64_t addr;
    enum gdb_bp_type type;
    unsigned len;
    bool used;
};
static struct hwbp hwbps[4];

/* Write text or data: toggles write permission on read-only pages. */
static int patch(uint64_t addr, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t a = addr + i;
        if (!uk_mem_accessible(a, 1, UK_MEM_READ))
            return GDB_ERR;
        bool ro = !uk_mem_accessible(a, 1, UK_MEM_WRITE);
        if (ro && uk_mem_set_writable(a, true))
            return GDB_ERR;
        *(volatile uint8_t *)a = src[i];
        if (ro)
            uk_mem_set_writable(a, false);
    }
    return 0;
}

bool gdbx_swbp_at(uint64_t addr)
{
    for (unsigned i = 0; i < SWBP_MAX; i++)
        if (swbps[i].used && swbps[i].addr == addr)
            return true;
    return false;
}

/* The stub, the trap path and what it calls must never hold a breakpoint. */
static bool forbidden(uint64_t addr)
{
    static const char *const prefixes[] = {"gdb",  "trap_", "isr_",   "uk_mem_",     "uk_uart",
                                           "uart", "lapic", "uk_irq", "uk_cpu_relax"};
    const char *name;
    uintptr_t off;
    if (!uk_symbolize(addr, &name, &off))
        return false;
    for (unsigned i = 0; i < UK_ARRAY_SIZE(prefixes); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static int swbp_set(uint64_t addr)
{
    static const uint8_t ud2[2] = {0x0f, 0x0b}, int3[1] = {0xcc};
    const uint8_t *code = gdbx_use_int3 ? int3 : ud2;
    size_t len = gdbx_use_int3 ? 1 : 2;
    struct swbp *free_slot = NULL;

    if (gdbx_swbp_at(addr))
        return 0;
    if (forbidden(addr) || !uk_mem_accessible(addr, len, UK_MEM_READ | UK_MEM_EXEC))
        return GDB_ERR;
    for (unsigned i = 0; i < SWBP_MAX && !free_slot; i++)
        if (!swbps[i].used)
            free_slot = &swbps[i];
    if (!free_slot)
        return GDB_ERR;
    /* Save the bytes as memory reads show them (another breakpoint may
     * overlap the second byte of a ud2). */
    if (gdbx_arch_ops.mem_read(NULL, addr, free_slot->saved, len))
        return GDB_ERR;
    if (patch(addr, code, len))
        return GDB_ERR;
    free_slot->addr = addr;
    free_slot->len = (uint8_t)len;
    free_slot->used = true;
    return 0;
}

static int swbp_clear(uint64_t addr)
{
    for (unsigned i = 0; i < SWBP_MAX; i++)
        if (swbps[i].used && swbps[i].addr == addr) {
            swbps[i].used = false;
            patch(addr, swbps[i].saved, swbps[i].len);
            /* A neighbour whose ud2 overlapped ours is re-patched. */
            for (unsigned j = 0; j < SWBP_MAX; j++)
                if (swbps[j].used && swbps[j].addr + swbps[j].len > addr &&
                    swbps[j].addr < addr + swbps[i].len)
                    patch(swbps[j].addr, (const uint8_t *)(gdbx_use_int3 ? "\xcc" : "\x0f\x0b"),
                          swbps[j].len);
            return 0;
        }
    return GDB_ERR;
}

static int hwbp_set(enum gdb_bp_type type, uint64_t addr, unsigned len)
{
    if (type == GDB_BP_HW)
        len = 1;
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return GDB_ERR;
    if (addr & (len - 1))
        return GDB_ERR;
    if (type == GDB_BP_HW && forbidden(addr))
        return GDB_ERR;
    for (unsigned i = 0; i < 4; i++)
        if (!hwbps[i].used) {
            hwbps[i] = (struct hwbp){addr, type, len, true};
            return 0; /* loaded into DR0-3 on every CPU at resume */
        }
    return GDB_ERR;
}

static int hwbp_clear(enum gdb_bp_type type, uint64_t addr)
{
    for (unsigned i = 0; i < 4; i++)
        if (hwbps[i].used && hwbps[i].addr == addr && hwbps[i].type == type) {
            hwbps[i].used = false;
            return 0;
        }
    return GDB_ERR;
}

static int bp_set(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind)
{
    return type == GDB_BP_SW ? swbp_set(addr) : hwbp_set(type, addr, kind);
}

static int bp_clear(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind)
{
    return type == GDB_BP_SW ? swbp_clear(addr) : hwbp_clear(type, addr);
}

void gdbx_remove_all_breakpoints(void)
{
    for (unsigned i = 0; i < SWBP_MAX; i++)
        if (swbps[i].used)
            swbp_clear(swbps[i].addr);
    for (unsigned i = 0; i < 4; i++)
        hwbps[i].used = false;
}

/* Load DR0-3/DR7 from the table on the calling CPU. */
void gdbx_load_debugregs(void)
{
    uint64_t dr7 = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (!hwbps[i].used)
            continue;
        /* R/W bits: 00 exec, 01 write, 11 read/write (x86 has no read-only). */
        unsigned rw = hwbps[i].type == GDB_BP_HW ? 0 : hwbps[i].type == GDB_BP_WRITE ? 1 : 3;
        unsigned ln = hwbps[i].len == 8 ? 2 : hwbps[i].len - 1;
        dr7 |= 1ULL << (2 * i); /* local enable */
        dr7 |= (uint64_t)(rw | ln << 2) << (16 + 4 * i);
        uint64_t a = hwbps[i].addr;
        switch (i) {
        case 0:
            __asm__ __volatile__("mov %0, %%dr0" ::"r"(a));
            break;
        case 1:
            __asm__ __volatile__("mov %0, %%dr1" ::"r"(a));
            break;
        case 2:
            __asm__ __volatile__("mov %0, %%dr2" ::"r"(a));
            break;
        default:
            __asm__ __volatile__("mov %0, %%dr3" ::"r"(a));
            break;
        }
    }
    __asm__ __volatile__("mov %0, %%dr7" ::"r"(dr7));
}

bool gdbx_dr_hit(uint64_t dr6, struct gdb_stop *out)
{
    for (unsigned i = 0; i < 4; i++) {
        if (!(dr6 & (1ULL << i)) || !hwbps[i].used)
            continue;
        out->signo = GDB_SIGTRAP;
        out->addr = hwbps[i].addr;
        out->kind = hwbps[i].type == GDB_BP_HW      ? GDB_STOP_HWBREAK
                    : hwbps[i].type == GDB_BP_WRITE ? GDB_STOP_WATCH
                    : hwbps[i].type == GDB_BP_READ  ? GDB_STOP_RWATCH
                                                    : GDB_STOP_AWATCH;
        return true;
    }
    return false;
}

/* --------------------------------------------------------------- memory */

static int mem_read(void *ctx, uint64_t addr, uint8_t *buf, size_t len)
{
    if (!uk_mem_accessible(addr, len, UK_MEM_READ))
        return GDB_ERR;
    memcpy(buf, (const void *)addr, len);
    /* Show original bytes under our breakpoints. */
    for (unsigned i = 0; i < SWBP_MAX; i++) {
        const struct swbp *b = &swbps[i];
        if (!b->used)
            continue;
        for (unsigned k = 0; k < b->len; k++)
            if (b->addr + k >= addr && b->addr + k < addr + len)
                buf[b->addr + k - addr] = b->saved[k];
    }
    return 0;
}

static int mem_write(void *ctx, uint64_t addr, const uint8_t *buf, size_t len)
{
    if (!uk_mem_accessible(addr, len, UK_MEM_READ))
        return GDB_ERR;
    if (uk_mem_accessible(addr, len, UK_MEM_WRITE)) {
        memcpy((void *)addr, buf, len);
        return 0;
    }
    return patch(addr, buf, len);
}

/* -------------------------------------------------------------- threads */

static int thread_next(void *ctx, int prev)
{
    const struct uk_thread_table *tt = uk_thread_table_get();
    int best = 0;
    for (unsigned i = 0; i < UK_THREAD_MAX; i++) {
        const struct uk_thread *t = &tt->threads[i];
        if (t->state == UK_THREAD_FREE || t->state == UK_THREAD_EXITED)
            continue;
        if ((int)t->tid > prev && (!best || (int)t->tid < best))
            best = (int)t->tid;
    }
    return best;
}

static bool thread_alive(void *ctx, int tid)
{
    const struct uk_thread *t = thread_by_tid(tid);
    return t && t->state != UK_THREAD_EXITED;
}

static void thread_info(void *ctx, int tid, char *name, size_t nl, char *extra, size_t el,
                        int *core)
{
    const struct uk_thread *t = thread_by_tid(tid);
    if (!t)
        return;
    char nm[UK_THREAD_NAME];
    memcpy(nm, t->name, sizeof(nm));
    nm[sizeof(nm) - 1] = 0;
    snprintf(name, nl, "%s", nm);
    *core = t->cpu;
    if (t->state == UK_THREAD_RUNNING)
        snprintf(extra, el, "%s on CPU %d", uk_thread_state_name(t->state), t->cpu);
    else
        snprintf(extra, el, "%s, last CPU %d", uk_thread_state_name(t->state), t->cpu);
}

/* lldb's qMemoryRegionInfo: the run of pages around addr with the same
 * access, looked at up to REGION_SCAN pages each way (bounded work; lldb
 * asks again past the end). */
#define REGION_PAGE 4096ULL
#define REGION_SCAN 256
static unsigned page_perms(uint64_t a)
{
    unsigned p = 0;
    if (uk_mem_accessible(a, 1, UK_MEM_READ))
        p |= GDB_MEM_R;
    if (p && uk_mem_accessible(a, 1, UK_MEM_WRITE))
        p |= GDB_MEM_W;
    if (p && uk_mem_accessible(a, 1, UK_MEM_EXEC))
        p |= GDB_MEM_X;
    return p;
}

static int mem_region(void *ctx, uint64_t addr, uint64_t *start, uint64_t *size, unsigned *perms)
{
    uint64_t lo = addr & ~(REGION_PAGE - 1), hi = lo + REGION_PAGE;
    unsigned p = page_perms(lo);
    for (unsigned i = 0; i < REGION_SCAN && lo >= REGION_PAGE && page_perms(lo - REGION_PAGE) == p;
         i++)
        lo -= REGION_PAGE;
    for (unsigned i = 0; i < REGION_SCAN && hi && page_perms(hi) == p; i++)
        hi += REGION_PAGE;
    *start = lo;
    *size = hi - lo;
    *perms = p;
    return 0;
}

const struct gdb_arch_ops gdbx_arch_ops = {
    .target_xml = target_xml,
    .triple = "x86_64-unknown-none",
    .mem_region = mem_region,
    .nregs = R_COUNT,
    .reg_size = reg_size,
    .reg_read = reg_read,
    .reg_write = reg_write,
    .mem_read = mem_read,
    .mem_write = mem_write,
    .bp_set = bp_set,
    .bp_clear = bp_clear,
    .thread_next = thread_next,
    .thread_alive = thread_alive,
    .thread_info = thread_info,
    .monitor = gdbx_monitor,
};
