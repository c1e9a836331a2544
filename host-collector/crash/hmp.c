/*
 * QEMU's HMP `info registers -a` text into per-vCPU registers.  QEMU's
 * output is parsed defensively all the same: a block counts only with all
 * of its general registers, CPU indexes are bounded.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"

/* Parse one CPU's block of `info registers` ("RAX=... RBX=..."). */
static bool parse_regs(const char *blk, struct uk_trap_frame *f)
{
    static const struct {
        const char *key;
        size_t off;
    } k[] = {
#define R(n, field) {n, offsetof(struct uk_trap_frame, field)}
        R("RAX=", rax), R("RBX=", rbx), R("RCX=", rcx), R("RDX=", rdx), R("RSI=", rsi),
        R("RDI=", rdi), R("RBP=", rbp), R("RSP=", rsp), R("R8 =", r8),  R("R9 =", r9),
        R("R10=", r10), R("R11=", r11), R("R12=", r12), R("R13=", r13), R("R14=", r14),
        R("R15=", r15), R("RIP=", rip), R("RFL=", rflags),
#undef R
    };
    unsigned found = 0;
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        const char *p = strstr(blk, k[i].key);
        if (!p)
            continue;
        *(uint64_t *)((char *)f + k[i].off) = strtoull(p + 4, NULL, 16);
        found++;
    }
    f->cs = 0x8;
    f->ss = 0x10;
    return found == sizeof(k) / sizeof(k[0]);
}

int crash_parse_vcpus(const char *txt, struct crash_vcpus *v)
{
    int n = 0;
    memset(v, 0, sizeof(*v));
    for (const char *p = txt ? strstr(txt, "CPU#") : NULL; p;) {
        char *end;
        unsigned long c = strtoul(p + 4, &end, 10);
        const char *next = strstr(p + 4, "CPU#");
        size_t len = next ? (size_t)(next - p) : strlen(p);
        char *blk = end != p + 4 ? strndup(p, len) : NULL;
        struct uk_trap_frame f;
        if (blk && c < UK_THREAD_TABLE_CPUS && parse_regs(blk, &f)) {
            v->regs[c] = f;
            v->valid[c] = true;
            if (c + 1 > v->n)
                v->n = (unsigned)c + 1;
        }
        free(blk);
        p = next;
    }
    for (unsigned c = 0; c < UK_THREAD_TABLE_CPUS; c++)
        n += v->valid[c];
    return n;
}
