/* Fake arch backend and transport (see gdb_fake.h). */
#include "gdb_fake.h"

#include <stdio.h>
#include <string.h>

static const unsigned sizes[3] = {8, 4, 8};
static const int tids[] = {1, 2, 7};

static unsigned reg_size(void *ctx, unsigned r)
{
    return r < 3 ? sizes[r] : 0;
}

static int tidx(int tid)
{
    return tid == 1 ? 0 : tid == 2 ? 1 : tid == 7 ? 2 : -1;
}

static int reg_read(void *ctx, int tid, unsigned r, uint8_t *out)
{
    struct fake *f = ctx;
    if (r >= 3 || tidx(tid) < 0)
        return GDB_ERR;
    if (tid == 7 && r == 2)
        return GDB_UNAVAIL; /* like a sleeping thread's scratch register */
    memcpy(out, &f->regs[r][tidx(tid)], sizes[r]);
    return 0;
}

static int reg_write(void *ctx, int tid, unsigned r, const uint8_t *in)
{
    struct fake *f = ctx;
    if (r >= 3 || tidx(tid) < 0)
        return GDB_ERR;
    f->regs[r][tidx(tid)] = 0;
    memcpy(&f->regs[r][tidx(tid)], in, sizes[r]);
    return 0;
}

static int in_mem(uint64_t a, size_t len)
{
    return a >= FAKE_MEM_BASE && len <= FAKE_MEM_SIZE && a - FAKE_MEM_BASE <= FAKE_MEM_SIZE - len;
}

static int mem_read(void *ctx, uint64_t a, uint8_t *buf, size_t len)
{
    struct fake *f = ctx;
    if (!in_mem(a, len))
        return GDB_ERR;
    memcpy(buf, f->mem + (a - FAKE_MEM_BASE), len);
    return 0;
}

static int mem_write(void *ctx, uint64_t a, const uint8_t *buf, size_t len)
{
    struct fake *f = ctx;
    if (!in_mem(a, len))
        return GDB_ERR;
    memcpy(f->mem + (a - FAKE_MEM_BASE), buf, len);
    return 0;
}

static int bp_set(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind)
{
    struct fake *f = ctx;
    if (type == GDB_BP_READ)
        return GDB_UNSUPP;
    if (f->nbps >= 8 || !in_mem(addr, 1))
        return GDB_ERR;
    f->bps[f->nbps][0] = (int)type;
    f->bps[f->nbps][1] = (int)addr;
    f->nbps++;
    return 0;
}

static int bp_clear(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind)
{
    struct fake *f = ctx;
    for (unsigned i = 0; i < f->nbps; i++)
        if (f->bps[i][0] == (int)type && f->bps[i][1] == (int)addr) {
            f->bps[i][0] = f->bps[f->nbps - 1][0];
            f->bps[i][1] = f->bps[f->nbps - 1][1];
            f->nbps--;
            return 0;
        }
    return GDB_ERR;
}

static int thread_next(void *ctx, int prev)
{
    for (unsigned i = 0; i < 3; i++)
        if (tids[i] > prev)
            return tids[i];
    return 0;
}

static bool thread_alive(void *ctx, int tid)
{
    return tidx(tid) >= 0;
}

static void thread_info(void *ctx, int tid, char *name, size_t nl, char *extra, size_t el,
                        int *core)
{
    snprintf(name, nl, tid == 7 ? "a<b>&\"c" : "thr%d", tid);
    snprintf(extra, el, "running");
    *core = tid == 1 ? 0 : -1;
}

static void monitor(void *ctx, struct gdb_state *st, const char *cmd)
{
    struct fake *f = ctx;
    snprintf(f->last_monitor, sizeof(f->last_monitor), "%s", cmd);
    gdb_console_write(st, "hello\n");
}

/* Three regions: unmapped below, the RW memory, unmapped above. */
static int mem_region(void *ctx, uint64_t a, uint64_t *start, uint64_t *size, unsigned *perms)
{
    if (a < FAKE_MEM_BASE) {
        *start = 0, *size = FAKE_MEM_BASE, *perms = 0;
    } else if (a < FAKE_MEM_BASE + FAKE_MEM_SIZE) {
        *start = FAKE_MEM_BASE, *size = FAKE_MEM_SIZE, *perms = GDB_MEM_R | GDB_MEM_W;
    } else {
        *start = FAKE_MEM_BASE + FAKE_MEM_SIZE;
        *size = 0 - *start;
        *perms = 0;
    }
    return 0;
}

const struct gdb_arch_ops fake_arch = {
    .target_xml = "<target><architecture>i386:x86-64</architecture></target>",
    .triple = "x86_64-unknown-none",
    .mem_region = mem_region,
    .nregs = 3,
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
    .monitor = monitor,
};

static void fake_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct fake *f = ctx;
    if (f->out_len + len > sizeof(f->out) - 1)
        f->out_len = 0; /* keep the tail; tests clear before each exchange */
    memcpy(f->out + f->out_len, buf, len);
    f->out_len += len;
    f->out[f->out_len] = 0;
}

const struct gdb_transport_ops fake_transport = {.write = fake_write};
