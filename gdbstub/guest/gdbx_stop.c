/*
 * Stop-the-world and the stub's entry points.
 *
 * One CPU "owns" the stub (runs the protocol loop); every other CPU is
 * parked in a trap hook, spinning until the owner releases the world
 * (release_gen changes) or hands it a single-step (step_cpu).  A single
 * step runs with the other CPUs still parked and IF cleared, so it cannot
 * wander into interrupt handlers or another thread.
 *
 * Stopping is two-step: first the maskable stop IPI (UK_VEC_STOP), which a
 * CPU takes only with interrupts on, so it parks holding no irqsave lock
 * (the virtio-console transport, for one, takes a port lock that a CPU
 * frozen inside the port's interrupt handler would hold forever); after
 * STOP_IPI_WAIT_NS the stragglers (interrupts off: a spinning CPU, another
 * CPU's breakpoint trap) get an NMI, which parks them wherever they are.
 */
#include "gdbx.h"

#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>
#include <uk/hooks.h>
#include <uk/mem.h>
#include <uk/klog.h>
#include <uk/panic.h>
#include <uk/time.h>

struct gdbx_cpu gdbx_cpus[UK_CPU_MAX];
struct gdb_state gdbx_state UK_NOINIT; /* 260 KiB of buffers: gdb_init sets it up */

static const struct gdbx_transport *transport;
#define TRANSPORTS_MAX 4
static const struct gdbx_transport *transports[TRANSPORTS_MAX]; /* every one registered */
static unsigned ntransports;
/* gdb.resume_after_s: a stopped guest whose debugger has said nothing for
 * this long is resumed (0: never). */
#define RESUME_AFTER_S_DEFAULT 30
static uint64_t resume_after_ns = RESUME_AFTER_S_DEFAULT * 1000000000ULL;
#define DRAIN_QUIET_NS 100000000ULL /* recovery: input silent this long */
#define DRAIN_MAX_NS   2000000000ULL
static int owner = -1;         /* CPU running the protocol loop */
static volatile bool stop_req; /* NMIs are ours while set */
static volatile unsigned release_gen;
static volatile int step_cpu = -1; /* CPU allowed to single-step */
static unsigned parked;            /* CPUs spinning in park() */
static volatile bool in_park[UK_CPU_MAX]; /* an NMI on a parked CPU is a no-op */
uint64_t gdbx_parked_by_ipi, gdbx_parked_by_nmi; /* CPUs stopped, by mechanism */

#define STOP_IPI_WAIT_NS 20000000ULL /* then NMIs */
#define STOP_WAIT_NS     2000000000ULL
#define POSTMORTEM_STOP_WAIT_NS 200000000ULL /* for the panic path's NMIs to land */
static bool waiting;               /* gdb waits for a stop reply */
static bool postmortem;
static uint64_t step_saved_if;
static uint8_t step_opcode;

static void tr_write(void *ctx, const uint8_t *buf, size_t len)
{
    if (transport)
        transport->write(buf, len);
}
static const struct gdb_transport_ops core_tr = {.write = tr_write};

static bool enabled;

bool gdbx_enabled(void)
{
    return enabled;
}

static void remember(const struct gdbx_transport *t)
{
    for (unsigned i = 0; i < ntransports; i++)
        if (transports[i] == t)
            return;
    if (ntransports < TRANSPORTS_MAX)
        transports[ntransports++] = t;
}

void gdbx_set_transport(const struct gdbx_transport *t)
{
    remember(t);
    transport = t;
}

void gdbx_add_transport(const struct gdbx_transport *t)
{
    const char *want = uk_cmdline_get("gdb.transport");
    remember(t);
    if (!transport || (want && !strcmp(want, "virtio")))
        transport = t;
}

void gdbx_save_segments(struct gdbx_cpu *c)
{
    uint32_t lo, hi;
    __asm__ __volatile__("mov %%ds, %0; mov %%es, %1; mov %%fs, %2; mov %%gs, %3"
                         : "=r"(c->ds), "=r"(c->es), "=r"(c->fs), "=r"(c->gs));
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000100));
    c->fs_base = (uint64_t)hi << 32 | lo;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000101));
    c->gs_base = (uint64_t)hi << 32 | lo;
}

/* Prepare tf to execute exactly one instruction with interrupts off. */
static void step_arm(struct uk_trap_frame *tf, int cpu)
{
    step_saved_if = tf->rflags & GDBX_RFLAGS_IF;
    step_opcode = 0;
    gdbx_state.arch->mem_read(NULL, tf->rip, &step_opcode, 1);
    tf->rflags = (tf->rflags & ~GDBX_RFLAGS_IF) | GDBX_RFLAGS_TF | GDBX_RFLAGS_RF;
    __atomic_store_n(&step_cpu, cpu, __ATOMIC_SEQ_CST);
}

/* After the single-step trap: undo what step_arm changed, except where the
 * stepped instruction itself changed IF (cli, sti, popf). */
static void step_disarm(struct uk_trap_frame *tf)
{
    tf->rflags &= ~GDBX_RFLAGS_TF;
    if (step_opcode == 0xfa)
        tf->rflags &= ~GDBX_RFLAGS_IF;
    else if (step_opcode == 0xfb)
        tf->rflags |= GDBX_RFLAGS_IF;
    else if (step_opcode != 0x9d)
        tf->rflags |= step_saved_if;
    if (step_opcode == 0x9c && uk_mem_accessible(tf->rsp, 8, UK_MEM_WRITE)) {
        uint64_t *pushed = (uint64_t *)tf->rsp; /* pushf saw our TF/IF */
        *pushed = (*pushed & ~(GDBX_RFLAGS_TF | GDBX_RFLAGS_IF)) | step_saved_if;
    }
    step_cpu = -1;
}

/* Spin until released or handed the step.  Returns true for a step. */
static bool park(struct uk_trap_frame *tf)
{
    unsigned me = uk_cpu_id(), gen = release_gen;
    in_park[me] = true;
    gdbx_cpus[me].tf = tf;
    gdbx_save_segments(&gdbx_cpus[me]);
    __atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
    bool step = false;
    while (release_gen == gen) {
        if (step_cpu == (int)me) {
            step = true;
            break;
        }
        uk_cpu_relax();
    }
    __atomic_sub_fetch(&parked, 1, __ATOMIC_SEQ_CST);
    in_park[me] = false;
    if (!step)
        gdbx_cpus[me].tf = NULL;
    gdbx_load_debugregs();
    return step;
}

static void stop_world(unsigned me)
{
    unsigned others = uk_cpu_count() - 1;
    stop_req = true;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!others)
        return;
    uk_ipi_stop_others();
    uint64_t start = uk_time_ns();
    while (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < others &&
           uk_time_ns() - start < STOP_IPI_WAIT_NS)
        uk_cpu_relax();
    if (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < others)
        uk_ipi_nmi_others(); /* parked CPUs ignore it (in_park) */
    while (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < others &&
           uk_time_ns() - start < STOP_WAIT_NS)
        uk_cpu_relax();
    if (parked < others)
        uk_warn("gdb: %u of %u CPUs did not stop", others - parked, others);
}

static void release_world(void)
{
    step_cpu = -1;
    stop_req = false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    release_gen++;
}

/* Recovery from a client that went away: throw away what every transport
 * still holds (a half-sent packet, a failed attach on the other one), until
 * all have been quiet a while, so stale bytes cannot stop the world again. */
static void drain_all(void)
{
    uint64_t start = uk_time_ns(), quiet = start;
    while (uk_time_ns() - quiet < DRAIN_QUIET_NS && uk_time_ns() - start < DRAIN_MAX_NS) {
        for (unsigned i = 0; i < ntransports; i++) {
            if (transports[i]->poll)
                transports[i]->poll();
            while (transports[i]->getc() >= 0)
                quiet = uk_time_ns();
        }
        uk_cpu_relax();
    }
}

/* Has the client gone (port closed) or been silent for resume_after_ns?
 * Then say so: the caller resumes the guest as on detach. */
static bool client_lost(uint64_t quiet_since)
{
    if (transport && transport->peer_gone && transport->peer_gone()) {
        uk_log(UK_LOG_WARN, "gdb: the debugger on %s went away: resuming the guest",
               transport->name);
        return true;
    }
    if (resume_after_ns && uk_time_ns() - quiet_since > resume_after_ns) {
        uk_log(UK_LOG_WARN,
               "gdb: no word from the debugger on %s for %llu s: resuming the guest "
               "(gdb.resume_after_s)",
               transport ? transport->name : "no transport",
               (unsigned long long)(resume_after_ns / 1000000000ULL));
        return true;
    }
    return false;
}

/* Serve gdb until it resumes the target; returns with the world released
 * or with this CPU armed for a single step. */
static void serve(struct uk_trap_frame *tf, int first)
{
    unsigned me = uk_cpu_id();
    struct gdb_state *st = &gdbx_state;
    uint64_t quiet_since = uk_time_ns();
    if (first >= 0)
        gdb_feed(st, (uint8_t)first);
    for (;;) {
        int c = transport ? transport->getc() : -1;
        struct gdb_resume r;
        if (c < 0) {
            if (transport && transport->poll)
                transport->poll();
            if (!postmortem && client_lost(quiet_since)) {
                /* As if it had detached (its breakpoints would stop us
                 * again with nobody there), minus the reply. */
                drain_all();
                r = (struct gdb_resume){.kind = GDB_RESUME_DETACH};
                goto resume;
            }
            uk_cpu_relax();
            continue;
        }
        enum gdb_feed_result fr = gdb_feed(st, (uint8_t)c);
        /* Silence counts from the last byte in or reply out (a slow reply
         * under an emulating hypervisor is not the client's silence). */
        quiet_since = uk_time_ns();
        if (fr != GDB_FEED_RESUME)
            continue;
        r = st->resume;
        if (postmortem) {
            /* Nothing can run after a panic: a resume stops right away. */
            if (r.kind == GDB_RESUME_CONT || r.kind == GDB_RESUME_STEP)
                gdb_report_stop(st, &st->stop, true);
            else if (r.kind == GDB_RESUME_DETACH)
                gdb_reset_session(st);
            else if (r.kind == GDB_RESUME_KILL)
                uk_exit(UK_EXIT_PANIC);
            continue;
        }
    resume:
        switch (r.kind) {
        case GDB_RESUME_KILL:
            uk_log(UK_LOG_INFO, "gdb: kill requested");
            uk_exit(UK_EXIT_OK);
        case GDB_RESUME_DETACH:
            gdbx_remove_all_breakpoints();
            gdb_reset_session(st);
            waiting = false;
            break;
        case GDB_RESUME_STEP: {
            waiting = true;
            int target = -1;
            for (unsigned c2 = 0; r.tid > 0 && c2 < uk_cpu_count(); c2++)
                if (gdbx_tid_on_cpu(c2) == r.tid && gdbx_cpus[c2].tf)
                    target = (int)c2;
            if (target < 0 || target == (int)me) {
                gdbx_load_debugregs();
                step_arm(tf, (int)me);
                return; /* world stays stopped; we own it */
            }
            /* Hand the step to the CPU running that thread and park here
             * (a later step may be handed back to us, already armed). */
            gdbx_cpus[me].tf = NULL;
            owner = target;
            step_arm(gdbx_cpus[target].tf, target);
            park(tf);
            return;
        }
        default:
            waiting = true;
            break;
        }
        gdbx_cpus[me].tf = NULL;
        gdbx_load_debugregs();
        tf->rflags |= GDBX_RFLAGS_RF; /* do not re-hit an exec breakpoint at rip */
        owner = -1;
        release_world();
        return;
    }
}

void gdbx_enter(struct uk_trap_frame *tf, const struct gdb_stop *why, int first)
{
    unsigned me = uk_cpu_id();
    struct gdb_stop stop = *why;
    int expected = -1;

    /* The stub's own memory accesses must not hit a watchpoint. */
    __asm__ __volatile__("mov %0, %%dr7" ::"r"(0ULL));

    if (owner == (int)me && step_cpu != (int)me) {
        uk_err("gdb: re-entered the stub on CPU %u (rip 0x%llx), ignored", me,
               (unsigned long long)tf->rip);
        return;
    }
    if (!(owner == (int)me && step_cpu == (int)me)) {
        /* Losers spin here; the owner's NMI parks them meanwhile. */
        while (!__atomic_compare_exchange_n(&owner, &expected, (int)me, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
            expected = -1;
            uk_cpu_relax();
        }
        gdbx_cpus[me].tf = tf;
        gdbx_save_segments(&gdbx_cpus[me]);
        stop_world(me);
    } else {
        step_disarm(tf);
        gdbx_cpus[me].tf = tf;
    }
    stop.tid = gdbx_tid_on_cpu(me);
    gdb_report_stop(&gdbx_state, &stop, waiting && first < 0);
    waiting = false;
    serve(tf, first);
}

void gdbx_rx_byte(const struct gdbx_transport *from, struct uk_trap_frame *tf, int c)
{
    struct gdb_stop why = {.signo = GDB_SIGINT};
    if (c == '+' && owner < 0 && from == transport) {
        /* A client connecting says '+' first: the core turns ack mode back
         * on if a previous client left it off (gdb_core.h, no_ack). */
        gdb_feed(&gdbx_state, (uint8_t)c);
        return;
    }
    if (c != 0x03 && c != '$')
        return; /* '-' and noise while running are dropped */
    if (owner < 0 && from != transport) {
        /* gdb moved to another transport: a new session there. */
        transport = from;
        gdb_reset_session(&gdbx_state);
        waiting = false;
    }
    if (c == 0x03) {
        gdbx_enter(tf, &why, -1);
    } else if (c == '$') {
        /* A packet while running: a gdb (re)connecting.  No stop reply. */
        waiting = false;
        gdbx_enter(tf, &why, c);
    }
    /* '+', '-' and noise while running are dropped. */
}

/* --------------------------------------------------------------- hooks */

static enum uk_trap_action nmi_hook(struct uk_trap_frame *tf, void *arg)
{
    if (!stop_req || owner == (int)uk_cpu_id())
        return UK_TRAP_PASS; /* not ours: the panic path's stop */
    if (in_park[uk_cpu_id()])
        return UK_TRAP_HANDLED; /* the fallback NMI reached a CPU the IPI parked */
    __atomic_add_fetch(&gdbx_parked_by_nmi, 1, __ATOMIC_RELAXED);
    park(tf); /* released, or handed an armed single step */
    return UK_TRAP_HANDLED;
}

/* The maskable stop IPI: park here, holding no irqsave lock.  A late one
 * (the CPU was stopped by NMI and already released) is ignored. */
static enum uk_trap_action stop_hook(struct uk_trap_frame *tf, void *arg)
{
    if (stop_req && owner != (int)uk_cpu_id() && !in_park[uk_cpu_id()]) {
        __atomic_add_fetch(&gdbx_parked_by_ipi, 1, __ATOMIC_RELAXED);
        park(tf);
    }
    return UK_TRAP_HANDLED;
}

static enum uk_trap_action db_hook(struct uk_trap_frame *tf, void *arg)
{
    uint64_t dr6;
    __asm__ __volatile__("mov %%dr6, %0" : "=r"(dr6));
    __asm__ __volatile__("mov %0, %%dr6" ::"r"(0xffff0ff0ULL));
    struct gdb_stop why = {.signo = GDB_SIGTRAP};
    if (owner == (int)uk_cpu_id() && step_cpu != (int)uk_cpu_id())
        return UK_TRAP_HANDLED; /* inside the stub: a stale debug register */
    if ((dr6 & GDBX_DR6_BS) && step_cpu == (int)uk_cpu_id()) {
        gdbx_enter(tf, &why, -1);
        return UK_TRAP_HANDLED;
    }
    if (gdbx_dr_hit(dr6, &why)) {
        gdbx_enter(tf, &why, -1);
        return UK_TRAP_HANDLED;
    }
    return UK_TRAP_PASS;
}

/* ud2 / int3 breakpoints: report only while one is planted at the address. */
static enum uk_trap_action swbp_hook(struct uk_trap_frame *tf, void *arg)
{
    uint64_t at = tf->vector == UK_EXC_BP ? tf->rip - 1 : tf->rip;
    if ((tf->vector == UK_EXC_BP) != gdbx_use_int3 || !gdbx_swbp_at(at))
        return UK_TRAP_PASS;
    tf->rip = at;
    struct gdb_stop why = {.signo = GDB_SIGTRAP, .kind = GDB_STOP_SWBREAK};
    gdbx_enter(tf, &why, -1);
    return UK_TRAP_HANDLED;
}

static int signal_for(unsigned vector)
{
    switch (vector) {
    case UK_EXC_PF:
    case UK_EXC_GP:
    case UK_EXC_SS:
    case UK_EXC_NP:
        return GDB_SIGSEGV;
    case UK_EXC_DE:
    case UK_EXC_MF:
    case UK_EXC_XM:
        return GDB_SIGFPE;
    case UK_EXC_UD:
        return GDB_SIGILL;
    case UK_EXC_DB:
    case UK_EXC_BP:
        return GDB_SIGTRAP;
    default:
        return GDB_SIGABRT;
    }
}

static void panic_hook(const struct uk_panic_info *info, void *arg)
{
    struct uk_trap_frame fake;
    struct uk_trap_frame *tf = info->tf;
    unsigned me = uk_cpu_id();
    bool callsite = false;
    if (!tf && uk_panic_stopped_frame(me)) {
        /* uk_panic() from code: stop at its call site (panic.c records it). */
        tf = uk_panic_stopped_frame(me);
        callsite = true;
    }
    if (!tf) {
        /* No call site recorded: show the caller of this hook's frame. */
        memset(&fake, 0, sizeof(fake));
        fake.rbp = (uint64_t)__builtin_frame_address(0);
        fake.rip = (uint64_t)__builtin_return_address(0);
        fake.rsp = fake.rbp + 16;
        fake.cs = 0x8;
        fake.ss = 0x10;
        fake.rflags = 0x2;
        fake.vector = 256;
        tf = &fake;
    }
    postmortem = true;
    owner = (int)me;
    stop_req = true; /* the other CPUs are halted by the panic path */
    gdbx_cpus[me].tf = tf;
    gdbx_cpus[me].callsite_only = callsite;
    gdbx_save_segments(&gdbx_cpus[me]);
    /* Where the panic path's NMIs stopped the others: their running threads'
     * registers (segments other than the base ones are not known: zero). */
    uint64_t deadline = uk_time_ns() + POSTMORTEM_STOP_WAIT_NS;
    for (unsigned c = 0; c < uk_cpu_count() && c < UK_CPU_MAX; c++) {
        if (c == me)
            continue;
        /* An NMI landing after stop_req was set parks in our hook instead. */
        while (!uk_panic_stopped_frame(c) && !__atomic_load_n(&gdbx_cpus[c].tf, __ATOMIC_ACQUIRE) &&
               uk_time_ns() < deadline)
            uk_cpu_relax();
        if (uk_panic_stopped_frame(c))
            gdbx_cpus[c].tf = uk_panic_stopped_frame(c);
    }
    struct gdb_stop why = {.signo =
                               tf->vector < 32 ? signal_for((unsigned)tf->vector) : GDB_SIGABRT,
                           .tid = gdbx_tid_on_cpu(me)};
    uk_log(UK_LOG_EMERG, "gdb: post-mortem: waiting for gdb on %s", transport->name);
    gdb_reset_session(&gdbx_state);
    gdb_report_stop(&gdbx_state, &why, waiting);
    for (;;)
        serve(tf, -1);
}

static void gdbx_init(void)
{
    const char *mode = uk_cmdline_get("gdb");
    if (mode && (!strcmp(mode, "off") || !strcmp(mode, "0")))
        return;
    const char *sw = uk_cmdline_get("gdb.swbreak");
    gdbx_use_int3 = sw && !strcmp(sw, "int3");
    enabled = true;
    const char *ra = uk_cmdline_get("gdb.resume_after_s");
    if (ra) {
        uint64_t sec = strtoull(ra, NULL, 10);
        resume_after_ns = (sec > 1000000 ? 1000000 : sec) * 1000000000ULL; /* no overflow */
    }
    gdb_init(&gdbx_state, &gdbx_arch_ops, NULL, &core_tr, NULL);
    gdbx_uart_init();
    uk_trap_hook_register(UK_EXC_NMI, nmi_hook, NULL);
    uk_trap_hook_register(UK_VEC_STOP, stop_hook, NULL);
    uk_trap_hook_register(UK_EXC_DB, db_hook, NULL);
    uk_trap_hook_register(UK_EXC_BP, swbp_hook, NULL);
    uk_trap_hook_register(UK_EXC_UD, swbp_hook, NULL);
    if (mode && !strcmp(mode, "postmortem") && transport)
        uk_panic_hook_register(panic_hook, NULL);
    uk_log(UK_LOG_INFO, "gdb: stub ready on %s (swbreak %s%s)",
           transport ? transport->name : "no transport", gdbx_use_int3 ? "int3" : "ud2",
           mode && !strcmp(mode, "postmortem") ? ", post-mortem" : "");
}
UK_INITCALL_EARLY(gdbx_init);
