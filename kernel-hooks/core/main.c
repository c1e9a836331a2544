/*
 * kmain: bring the kernel up in dependency order, print the banner and the
 * ready line, start the application thread, and become CPU 0's idle thread.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <stdio.h>
#include <string.h>
#include <uk/app.h>
#include <uk/build.h>
#include <uk/cmdline.h>
#include <uk/klog.h>
#include <uk/mem.h>
#include <uk/panic.h>
#include <uk/thread.h>
#include <uk/time.h>

uint64_t boot_tsc_main; /* kmain entry; boot_tsc_entry (PVH entry) is set by boot.S */

void kmain(const struct hvm_start_info *si);

/* Weak default: an image without an application just idles. */
__attribute__((weak)) int uk_app_main(void)
{
    uk_info("no application linked in");
    return 0;
}

static void app_thread(void *arg)
{
    int rc = uk_app_main();
    if (uk_cmdline_flag("exit_on_return")) {
        uk_info("application returned %d: exiting", rc);
        uk_exit(rc == 0 ? UK_EXIT_OK : UK_EXIT_FAIL);
    }
    uk_info("application returned %d", rc);
}

static void print_banner(void)
{
    struct uk_mem_stats ms;
    uk_mem_stats(&ms);
    uk_info("ukscope %s build-id %s", uk_version(), uk_build_id_hex());
    uk_info("cpus %u, memory %llu MiB (%llu MiB free), tsc %llu kHz (%s), lapic timer %s",
            uk_cpu_count(), (unsigned long long)(ms.ram_bytes >> 20),
            (unsigned long long)(ms.pages_free * UK_PAGE_SIZE >> 20),
            (unsigned long long)(uk_tsc_hz() / 1000), uk_tsc_source(),
            lapic_has_tsc_deadline() ? "tsc-deadline" : "one-shot");
    /* uk_cmdline_raw masks secret values (token=***): safe to log. */
    uk_info("command line: %s", uk_cmdline_raw());
}

void kmain(const struct hvm_start_info *si)
{
    boot_tsc_main = uk_tsc(); /* boot benchmark: C entry */
    cpu_init_bsp();
    console_init();
    if (si->magic != HVM_START_MAGIC) {
        uk_log(UK_LOG_EMERG, "bad PVH start info magic 0x%x", si->magic);
        uk_exit(UK_EXIT_FAIL);
    }
    uk_cmdline_parse((const char *)(uintptr_t)si->cmdline_paddr);
    mem_map_init(si);
    time_init();
    klog_init();
    fw_cfg_load_secrets(); /* before any initcall can ask for the token */
    pmem_init();
    uk_debug("boot: %s done", "pmem_init");
    mmu_init();
    uk_debug("boot: %s done", "mmu_init");
    heap_init();
    uk_debug("boot: %s done", "heap_init");
    lapic_init();
    uk_debug("boot: %s done", "lapic_init");
    percpu_area[0].apic_id = lapic_id();
    ioapic_init();
    uk_debug("boot: %s done", "ioapic_init");
    sched_init();
    uk_debug("boot: %s done", "sched_init");
    __asm__ __volatile__("sti");
    smp_start();
    uk_debug("boot: %s done", "smp_start");
    uart_init();
    uk_debug("boot: %s done", "uart_init");
    virtio_init();
    uk_debug("boot: %s done", "virtio_init");
    smp_wait(); /* the APs came up meanwhile */
    uk_debug("boot: %s done", "smp_wait");

    print_banner();
    initcalls_run();

    uint64_t ready = uk_tsc();
    uk_info("ukscope: ready");
    if (uk_cmdline_flag("bench_exit")) {
        /* Boot benchmark: PVH entry -> kmain (C main) -> ready, then leave. */
        uk_info("boot: entry_to_main_us=%llu main_to_ready_us=%llu",
                (unsigned long long)(uk_tsc_to_ns(boot_tsc_main - boot_tsc_entry) / 1000),
                (unsigned long long)(uk_tsc_to_ns(ready - boot_tsc_main) / 1000));
        uk_exit(UK_EXIT_OK);
    }

    if (uk_thread_create("main", app_thread, NULL, NULL, NULL) != UK_OK)
        uk_panic("cannot create the main thread");
    sched_idle_loop();
}
