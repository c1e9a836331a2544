/*
 * CrashReport from the panic hook.  Runs on the panicking CPU with
 * interrupts off and the other CPUs stopped, so it polls the port.  If the
 * telemetry thread was stopped in the middle of a write, the port and the
 * pending frame are in an unknown state: the report is skipped rather than
 * risking a deadlock or a corrupt stream.
 */
#include <uk/build.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/time.h>
#include <uk/trap.h>
#include <uk/vcon.h>

#include "telemetry.h"

#define CRASH_DRAIN_NS UK_MSEC(2000)
#define CRASH_KLOG_MAX 128

typedef Ukscope__Telemetry__Registers regs_t;

static void fill_regs(regs_t *r, const struct uk_trap_frame *tf)
{
    r->rax = tf->rax, r->rbx = tf->rbx, r->rcx = tf->rcx, r->rdx = tf->rdx;
    r->rsi = tf->rsi, r->rdi = tf->rdi, r->rbp = tf->rbp, r->rsp = tf->rsp;
    r->r8 = tf->r8, r->r9 = tf->r9, r->r10 = tf->r10, r->r11 = tf->r11;
    r->r12 = tf->r12, r->r13 = tf->r13, r->r14 = tf->r14, r->r15 = tf->r15;
    r->rip = tf->rip, r->rflags = tf->rflags, r->cs = tf->cs, r->ss = tf->ss;
    r->vector = tf->vector, r->error_code = tf->error_code;
}

/*
 * Return addresses along the frame-pointer chain from rbp, each frame
 * checked with uk_mem_accessible; stops at a zero, misaligned, unreadable
 * or non-increasing rbp (same rules as uk_backtrace_print).
 */
static size_t walk(uint64_t rbp, uint64_t *out, size_t max)
{
    size_t n = 0;

    while (n < max && rbp && !(rbp & 7) && uk_mem_accessible((uintptr_t)rbp, 16, UK_MEM_READ)) {
        const uint64_t *f = (const uint64_t *)(uintptr_t)rbp;
        if (!f[1])
            break;
        out[n++] = f[1];
        if (f[0] <= rbp)
            break;
        rbp = f[0];
    }
    return n;
}

void telem_crash_hook(const struct uk_panic_info *info, void *arg)
{
    telem_envelope env = UKSCOPE__TELEMETRY__ENVELOPE__INIT;
    Ukscope__Telemetry__CrashReport cr = UKSCOPE__TELEMETRY__CRASH_REPORT__INIT;
    regs_t regs = UKSCOPE__TELEMETRY__REGISTERS__INIT;
    uint64_t bt[UK_BACKTRACE_MAX_FRAMES];
    uint64_t deadline = uk_time_ns() + CRASH_DRAIN_NS;
    size_t n = 0, idlen = 0;
    const uint8_t *id = uk_build_id(&idlen);

    if (!telem_port() || telem_send_busy())
        return;
    /* The log lines up to the panic (its report included) go first. */
    telem_send_drain_polled(deadline);
    for (unsigned i = 0; i < CRASH_KLOG_MAX / 16; i++) {
        uk_vcon_poll(telem_port());
        if (!telem_send_klog(16))
            break;
        telem_send_drain_polled(deadline);
    }
    if (info->tf) {
        fill_regs(&regs, info->tf);
        bt[n++] = info->tf->rip;
        n += walk(info->tf->rbp, bt + n, UK_BACKTRACE_MAX_FRAMES - n);
    } else {
        regs.rbp = (uint64_t)(uintptr_t)__builtin_frame_address(0);
        regs.rip = (uint64_t)(uintptr_t)&telem_crash_hook;
        n = walk(regs.rbp, bt, UK_BACKTRACE_MAX_FRAMES);
    }
    regs.cr2 = info->cr2;
    cr.message = (char *)info->message;
    cr.reason = (Ukscope__Telemetry__CrashReport__Reason)info->reason;
    cr.cpu = info->cpu;
    cr.regs = &regs;
    cr.n_backtrace = n;
    cr.backtrace = bt;
    cr.build_id.data = (uint8_t *)id;
    cr.build_id.len = id ? idlen : 0;
    cr.version = (char *)uk_version();
    env.payload_case = UKSCOPE__TELEMETRY__ENVELOPE__PAYLOAD_CRASH;
    env.crash = &cr;
    /* The report matters most: wait for room rather than drop it. */
    telem_send_polled(&env, deadline + CRASH_DRAIN_NS);
}
