/*
 * The panic path: report, stop the other CPUs, run the panic hooks (a
 * post-mortem debugger may take over there), then leave through
 * isa-debug-exit (`panic=exit`) or notify pvpanic and halt.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uk/build.h>
#include <uk/cmdline.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/panic_abi.h>
#include <uk/time.h>

volatile int panic_cpu = -1;

static struct {
    uk_panic_hook_fn fn;
    void *arg;
} panic_hooks[UK_PANIC_HOOKS_MAX];
static unsigned panic_hook_count;

uk_result uk_panic_hook_register(uk_panic_hook_fn fn, void *arg)
{
    if (!fn)
        return UK_EINVAL;
    if (panic_hook_count >= UK_PANIC_HOOKS_MAX)
        return UK_ENOMEM;
    panic_hooks[panic_hook_count].fn = fn;
    panic_hooks[panic_hook_count].arg = arg;
    panic_hook_count++;
    return UK_OK;
}

static UK_NORETURN void halt_forever(void)
{
    for (;;) {
        __asm__ __volatile__("cli");
        cpu_halt();
    }
}

/* Where each CPU was stopped by the panic path (uk_panic_stopped_frame). */
static struct uk_trap_frame *stopped_tf[UK_CPU_MAX];

/* For host-side crash dumpers (<uk/panic_abi.h>); in .data so the magic is
 * in the RAM file from boot. */
struct uk_panic_record uk_panic_record = {.magic = UK_PANIC_REC_MAGIC,
                                          .version = UK_PANIC_REC_VERSION,
                                          .size = sizeof(struct uk_panic_record)};
_Static_assert(UK_PANIC_REC_CPUS == UK_CPU_MAX, "panic record CPU count");
_Static_assert(sizeof(struct uk_panic_record) == 48 + 22 * 8 + 16 * 8 + UK_PANIC_REC_MSG,
               "panic record layout is ABI");

/* Fill the panic record; the state is stored last, with release order. */
static void panic_record(enum uk_panic_reason reason, const char *msg,
                         const struct uk_trap_frame *tf, uint64_t cr2)
{
    struct uk_panic_record *r = &uk_panic_record;
    struct uk_thread *cur = this_cpu()->current;
    r->state = UK_PANIC_REC_FILLING;
    r->reason = reason;
    r->cpu = (int32_t)uk_cpu_id();
    r->tid = cur ? cur->tid : 0;
    r->cr2 = cr2;
    r->time_ns = uk_time_ns();
    r->frame = *tf;
    strncpy(r->message, msg, sizeof(r->message) - 1);
    r->message[sizeof(r->message) - 1] = '\0';
    __atomic_store_n(&r->state, UK_PANIC_REC_DONE, __ATOMIC_RELEASE);
}

/* Another CPU's NMI while we panic: park it, keeping its frame for dumps. */
void panic_nmi_stop(struct uk_trap_frame *tf)
{
    if (panic_cpu < 0 || panic_cpu == (int)uk_cpu_id())
        return;
    if (uk_cpu_id() < UK_CPU_MAX) {
        __atomic_store_n(&stopped_tf[uk_cpu_id()], tf, __ATOMIC_RELEASE);
        __atomic_store_n(&uk_panic_record.stopped[uk_cpu_id()], (uint64_t)(uintptr_t)tf,
                         __ATOMIC_RELEASE);
    }
    halt_forever();
}

/* The uk_panic() call site, as the panicking CPU's stop frame: rip at the
 * call instruction, rsp and rbp as they were there; nothing else is known. */
static struct uk_trap_frame callsite_tf[UK_CPU_MAX];

/*
 * The caller of uk_panic (whose frame is `fp`, frame pointers on), as this
 * CPU's stop frame for the gdbstub and the frame of the panic record.
 * Returns the frame, or NULL when it cannot be read.
 */
static const struct uk_trap_frame *record_callsite(uint64_t *fp)
{
    unsigned me = uk_cpu_id();
    if (me >= UK_CPU_MAX || !uk_mem_accessible((uintptr_t)fp, 16, UK_MEM_READ))
        return NULL;
    struct uk_trap_frame *tf = &callsite_tf[me];
    uint64_t ret = fp[1];
    memset(tf, 0, sizeof(*tf));
    /* A direct call (e8 rel32) is 5 bytes: point at it, so the frame shows
     * the panicking line.  Otherwise one byte back, still inside the call: a
     * noreturn call may be the caller's last instruction, so the return
     * address can lie past the caller's end. */
    const uint8_t *call = (const uint8_t *)(uintptr_t)(ret - 5);
    tf->rip = uk_mem_accessible((uintptr_t)call, 5, UK_MEM_READ) && call[0] == 0xe8 ? ret - 5
                                                                                    : ret - 1;
    tf->rsp = (uint64_t)(uintptr_t)(fp + 2);
    tf->rbp = fp[0];
    tf->cs = GDT_KCODE;
    tf->ss = GDT_KDATA;
    tf->rflags = 0x2;
    tf->vector = 256; /* not an exception */
    __atomic_store_n(&stopped_tf[me], tf, __ATOMIC_RELEASE);
    return tf;
}

struct uk_trap_frame *uk_panic_stopped_frame(unsigned cpu)
{
    return cpu < UK_CPU_MAX ? __atomic_load_n(&stopped_tf[cpu], __ATOMIC_ACQUIRE) : NULL;
}

/* Most time the panic path gives the other CPUs' NMIs to land. */
#define PANIC_STOP_WAIT_NS 100000000ULL

/*
 * Wait (bounded) until every other CPU has recorded where the NMI stopped
 * it: once pvpanic is notified the host may pause the VM, and a CPU whose
 * NMI had not been taken yet would leave no frame for a crash dump.
 */
static void panic_wait_stopped(void)
{
    uint64_t deadline = uk_time_ns() + PANIC_STOP_WAIT_NS;
    for (unsigned c = 0; c < uk_cpu_count() && c < UK_CPU_MAX; c++)
        while (c != uk_cpu_id() && !__atomic_load_n(&stopped_tf[c], __ATOMIC_ACQUIRE) &&
               uk_time_ns() < deadline)
            uk_cpu_relax();
}

static UK_NORETURN void panic_finish(struct uk_panic_info *info)
{
    panic_wait_stopped();
    for (unsigned i = 0; i < panic_hook_count; i++)
        panic_hooks[i].fn(info, panic_hooks[i].arg);

    const char *mode = uk_cmdline_get("panic");
    if (mode && strcmp(mode, "exit") == 0) {
        uk_log(UK_LOG_EMERG, "panic: exiting (panic=exit)");
        debug_exit(UK_EXIT_PANIC);
    }
    uk_log(UK_LOG_EMERG, "panic: notifying the host (pvpanic) and halting");
    pvpanic_notify();
    halt_forever();
}

/* Become the one panicking CPU; a second panic (on any CPU) just halts. */
static void panic_enter(void)
{
    __asm__ __volatile__("cli");
    int me = (int)uk_cpu_id(), expected = -1;
    if (!__atomic_compare_exchange_n(&panic_cpu, &expected, me, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        if (expected == me)
            uk_log(UK_LOG_EMERG, "panic: recursive panic, halting");
        halt_forever();
    }
}

/*
 * The common body of uk_panic and uk_panic_assert (`msg` already formatted);
 * always inlined so the frame it records and the backtrace it prints start
 * at the public entry point (`fp` is that function's frame), as gdb and
 * crash signatures expect.
 */
static inline __attribute__((always_inline)) UK_NORETURN void
panic_call(enum uk_panic_reason reason, uint64_t *fp, const char *msg)
{
    panic_enter();
    const struct uk_trap_frame *site = record_callsite(fp);

    static const struct uk_trap_frame unknown = {.vector = 256};
    panic_record(reason, msg, site ? site : &unknown, 0);

    uk_log(UK_LOG_EMERG, "PANIC on CPU %u: %s", uk_cpu_id(), msg);
    uk_log(UK_LOG_EMERG, "build-id %s", uk_build_id_hex());
    uk_backtrace_here();
    uk_ipi_nmi_others();

    struct uk_panic_info info = {
        .reason = reason, .message = msg, .tf = NULL, .cr2 = 0, .cpu = uk_cpu_id()};
    panic_finish(&info);
}

void uk_panic(const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    panic_call(UK_PANIC_CALL, __builtin_frame_address(0), msg);
}

void uk_panic_assert(const char *expr, const char *file, int line)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "assertion failed: %s at %s:%d", expr, file, line);
    panic_call(UK_PANIC_ASSERT, __builtin_frame_address(0), msg);
}
void panic_exception(struct uk_trap_frame *tf, uint64_t cr2)
{
    char msg[160];
    panic_enter();
    struct uk_thread *cur = this_cpu()->current;
    /* A thread that ran into the unmapped guard page below its stack: the
     * #PF could not push its frame there either, so this is normally a #DF
     * (on its own IST stack, arch/x86_64/asm.h), with CR2 in the guard. */
    if (cur && cur->stack_lo && cr2 >= cur->stack_lo - UK_PAGE_SIZE && cr2 < cur->stack_lo)
        snprintf(msg, sizeof(msg),
                 "stack overflow in thread %u \"%s\" (%s, guard page hit at 0x%llx)", cur->tid,
                 cur->name, uk_exception_name((unsigned)tf->vector), (unsigned long long)cr2);
    else
        snprintf(msg, sizeof(msg), "unhandled exception %s (vector %llu) error code 0x%llx",
                 uk_exception_name((unsigned)tf->vector), (unsigned long long)tf->vector,
                 (unsigned long long)tf->error_code);
    panic_record(UK_PANIC_EXCEPTION, msg, tf, cr2);
    uk_log(UK_LOG_EMERG, "PANIC on CPU %u: %s", uk_cpu_id(), msg);
    if (cur)
        uk_log(UK_LOG_EMERG, "thread %u \"%s\"", cur->tid, cur->name);
    uk_log(UK_LOG_EMERG, "build-id %s", uk_build_id_hex());
    trap_print_frame(tf, cr2);
    uk_backtrace_print(tf->rip, tf->rbp);
    uk_ipi_nmi_others();

    struct uk_panic_info info = {.reason = UK_PANIC_EXCEPTION,
                                 .message = msg,
                                 .tf = tf,
                                 .cr2 = cr2,
                                 .cpu = uk_cpu_id()};
    panic_finish(&info);
}

void trap_print_frame(const struct uk_trap_frame *tf, uint64_t cr2)
{
    if (tf->vector == UK_EXC_PF)
        uk_log(UK_LOG_EMERG, "CR2 0x%016llx (%s %s)", (unsigned long long)cr2,
               tf->error_code & 2 ? "write" : "read",
               tf->error_code & 1 ? "protection violation" : "not-present page");
    uk_log(UK_LOG_EMERG, "RIP 0x%016llx RSP 0x%016llx RFLAGS 0x%08llx",
           (unsigned long long)tf->rip, (unsigned long long)tf->rsp,
           (unsigned long long)tf->rflags);
    uk_log(UK_LOG_EMERG, "RAX 0x%016llx RBX 0x%016llx RCX 0x%016llx", (unsigned long long)tf->rax,
           (unsigned long long)tf->rbx, (unsigned long long)tf->rcx);
    uk_log(UK_LOG_EMERG, "RDX 0x%016llx RSI 0x%016llx RDI 0x%016llx", (unsigned long long)tf->rdx,
           (unsigned long long)tf->rsi, (unsigned long long)tf->rdi);
    uk_log(UK_LOG_EMERG, "RBP 0x%016llx R8  0x%016llx R9  0x%016llx", (unsigned long long)tf->rbp,
           (unsigned long long)tf->r8, (unsigned long long)tf->r9);
    uk_log(UK_LOG_EMERG, "R10 0x%016llx R11 0x%016llx R12 0x%016llx", (unsigned long long)tf->r10,
           (unsigned long long)tf->r11, (unsigned long long)tf->r12);
    uk_log(UK_LOG_EMERG, "R13 0x%016llx R14 0x%016llx R15 0x%016llx", (unsigned long long)tf->r13,
           (unsigned long long)tf->r14, (unsigned long long)tf->r15);
    uk_log(UK_LOG_EMERG, "CS 0x%llx SS 0x%llx ERR 0x%llx", (unsigned long long)tf->cs,
           (unsigned long long)tf->ss, (unsigned long long)tf->error_code);
}
