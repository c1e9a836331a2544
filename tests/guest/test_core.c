/*
 * Core services: boot facts, command line, kernel log ring, build-id,
 * symbolizer, trap hooks.
 */
#include <string.h>
#include <uk/build.h>
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/test.h>
#include <uk/thread.h>
#include <uk/time.h>
#include <uk/trap.h>

UK_TEST(boot)
{
    struct uk_mem_stats ms;
    uk_mem_stats(&ms);
    size_t idlen;
    UK_CHECK(uk_build_id(&idlen) && idlen == 20);
    UK_CHECK(strlen(uk_build_id_hex()) == 40);
    UK_CHECK(uk_tsc_hz() > 100000000ULL); /* > 100 MHz */
    UK_CHECK(ms.ram_bytes > 32ULL << 20);
    uint64_t a = uk_time_ns();
    uk_delay_ns(UK_MSEC(5));
    UK_CHECK(uk_time_ns() - a >= UK_MSEC(5));
    return 0;
}

UK_TEST(cmdline)
{
    /* The host boots this with: test=cmdline alpha=1 beta="two words" gamma flag=off
     * num=0x10 size=4k rep=1 rep=2 */
    UK_CHECK(strcmp(uk_cmdline_get("alpha"), "1") == 0);
    UK_CHECK(strcmp(uk_cmdline_get("beta"), "two words") == 0);
    UK_CHECK(uk_cmdline_get("gamma") && uk_cmdline_get("gamma")[0] == 0);
    UK_CHECK(uk_cmdline_flag("gamma"));
    UK_CHECK(!uk_cmdline_flag("flag"));
    UK_CHECK(!uk_cmdline_flag("absent"));
    UK_CHECK(uk_cmdline_get_u64("num", 0) == 16);
    UK_CHECK(uk_cmdline_get_u64("size", 0) == 4096);
    UK_CHECK(uk_cmdline_get_u64("beta", 7) == 7);
    UK_CHECK(strcmp(uk_cmdline_get("rep"), "2") == 0);
    unsigned it = 0, reps = 0;
    while (uk_cmdline_next("rep", &it))
        reps++;
    UK_CHECK(reps == 2);
    /* The virtio_mmio.device entries QEMU adds arrive too (one per transport). */
    it = 0;
    UK_CHECK(uk_cmdline_next("virtio_mmio.device", &it) != NULL);
    return 0;
}

UK_TEST(klog_ring)
{
    const struct uk_klog_ring *r = uk_klog_ring();
    UK_CHECK(r->magic == UK_KLOG_MAGIC && r->slots == UK_KLOG_SLOTS);
    uint64_t first = r->head;
    for (int i = 0; i < 1500; i++)
        uk_log(UK_LOG_DEBUG, "klog-test %d", i); /* ring only: boot with loglevel=7 console_loglevel=6 */
    UK_CHECK(r->head == first + 1500);
    struct uk_klog_rec rec;
    uint64_t next;
    /* Oldest records were overwritten: reading from 0 skips ahead. */
    UK_CHECK(uk_klog_read(0, &rec, &next) == UK_OK);
    UK_CHECK(rec.seq - 1 == r->head - UK_KLOG_SLOTS);
    UK_CHECK(uk_klog_read(r->head - 1, &rec, &next) == UK_OK);
    UK_CHECK(rec.len == strlen("klog-test 1499") && memcmp(rec.text, "klog-test 1499", rec.len) == 0);
    UK_CHECK(rec.level == UK_LOG_DEBUG);
    UK_CHECK(uk_klog_read(r->head, &rec, &next) == UK_ENOENT);
    return 0;
}

static volatile int hook_hits;

/* #UD is a fault: rip points at the ud2, so skip its two bytes. */
static enum uk_trap_action ud_hook(struct uk_trap_frame *tf, void *arg)
{
    const uint8_t *insn = (const uint8_t *)tf->rip;
    if (insn[0] != 0x0f || insn[1] != 0x0b)
        return UK_TRAP_PASS;
    hook_hits++;
    tf->rip += 2;
    return UK_TRAP_HANDLED;
}

/* int3 is a trap: rip is already past it. */
static enum uk_trap_action bp_hook(struct uk_trap_frame *tf, void *arg)
{
    hook_hits++;
    return UK_TRAP_HANDLED;
}

UK_TEST(trap_hook)
{
    UK_CHECK(uk_trap_hook_register(UK_EXC_UD, ud_hook, NULL) == UK_OK);
    __asm__ __volatile__("ud2");
    __asm__ __volatile__("ud2");
    UK_CHECK(hook_hits == 2);
    UK_CHECK(uk_trap_hook_register(256, ud_hook, NULL) == UK_EINVAL);
    UK_CHECK(uk_trap_hook_register(UK_EXC_UD, NULL, NULL) == UK_EINVAL);
    return 0;
}

/* Separate from trap_hook: a PVM host (kvm_pvm) cannot emulate int3 for a
 * guest that is not PVM-aware, so the host runs this one under TCG only. */
UK_TEST(trap_int3)
{
    UK_CHECK(uk_trap_hook_register(UK_EXC_BP, bp_hook, NULL) == UK_OK);
    __asm__ __volatile__("int3");
    __asm__ __volatile__("int3");
    UK_CHECK(hook_hits == 2);
    return 0;
}

void symbolize_me(void);
__attribute__((noinline)) void symbolize_me(void)
{
    __asm__ __volatile__("");
}

UK_TEST(symbolize)
{
    const char *name;
    uintptr_t off;
    UK_CHECK(uk_symbolize((uintptr_t)symbolize_me, &name, &off));
    UK_CHECK(strcmp(name, "symbolize_me") == 0 && off == 0);
    UK_CHECK(uk_symbolize((uintptr_t)uk_thread_create + 5, &name, &off));
    UK_CHECK(strcmp(name, "uk_thread_create") == 0 && off == 5);
    UK_CHECK(!uk_symbolize(0x10, &name, &off));
    return 0;
}
