/*
 * Prints the layouts of the kernel's host-visible ABIs (<uk/klog_abi.h>,
 * <uk/thread_abi.h>) as JSON, from the headers themselves: one generated
 * description for host-side readers written in Python (tests/e2e), so they
 * never hard-code an offset.  Built by the tests with the host compiler:
 *   cc -Ikernel-hooks/include tests/lib/abi_layout.c -o abi_layout
 * Output: {"STRUCT": {"size": N, "fields": {"NAME": [offset, size], ...}},
 *          "const": {"NAME": value, ...}}
 */
#include <stddef.h>
#include <stdio.h>

#include <uk/klog_abi.h>
#include <uk/thread_abi.h>

static const char *sep;

static void begin(const char *name, size_t size)
{
    printf("%s\"%s\": {\"size\": %zu, \"fields\": {", sep, name, size);
    sep = "";
}

static void field(const char *name, size_t off, size_t size)
{
    printf("%s\"%s\": [%zu, %zu]", sep, name, off, size);
    sep = ", ";
}

static void end(void)
{
    printf("}}");
    sep = ",\n ";
}

#define F(type, m) field(#m, offsetof(type, m), sizeof(((type *)0)->m))

int main(void)
{
    sep = "{";
    begin("uk_klog_ring", sizeof(struct uk_klog_ring));
    F(struct uk_klog_ring, magic);
    F(struct uk_klog_ring, version);
    F(struct uk_klog_ring, slots);
    F(struct uk_klog_ring, rec_size);
    F(struct uk_klog_ring, head);
    F(struct uk_klog_ring, rec);
    end();
    begin("uk_klog_rec", sizeof(struct uk_klog_rec));
    F(struct uk_klog_rec, seq);
    F(struct uk_klog_rec, time_ns);
    F(struct uk_klog_rec, level);
    F(struct uk_klog_rec, cpu);
    F(struct uk_klog_rec, len);
    F(struct uk_klog_rec, tid);
    F(struct uk_klog_rec, text);
    end();
    begin("uk_thread_table", sizeof(struct uk_thread_table));
    F(struct uk_thread_table, magic);
    F(struct uk_thread_table, version);
    F(struct uk_thread_table, max);
    F(struct uk_thread_table, entry_size);
    F(struct uk_thread_table, ncpus);
    F(struct uk_thread_table, current);
    F(struct uk_thread_table, threads);
    end();
    begin("uk_thread", sizeof(struct uk_thread));
    F(struct uk_thread, state);
    F(struct uk_thread, tid);
    F(struct uk_thread, name);
    F(struct uk_thread, cpu);
    F(struct uk_thread, flags);
    F(struct uk_thread, ctx);
    F(struct uk_thread, stack_lo);
    F(struct uk_thread, stack_hi);
    F(struct uk_thread, run_ns);
    F(struct uk_thread, switches);
    F(struct uk_thread, wake_ns);
    F(struct uk_thread, created_ns);
    end();
    begin("uk_thread_ctx", sizeof(struct uk_thread_ctx));
    F(struct uk_thread_ctx, rsp);
    F(struct uk_thread_ctx, rbp);
    F(struct uk_thread_ctx, rbx);
    F(struct uk_thread_ctx, r12);
    F(struct uk_thread_ctx, r13);
    F(struct uk_thread_ctx, r14);
    F(struct uk_thread_ctx, r15);
    F(struct uk_thread_ctx, rip);
    end();
    printf("%s\"const\": {\"UK_KLOG_MAGIC\": %llu, \"UK_KLOG_VERSION\": %d, "
           "\"UK_KLOG_SLOTS\": %d, \"UK_KLOG_TEXT\": %d, \"UK_THREAD_TABLE_MAGIC\": %llu, "
           "\"UK_THREAD_TABLE_VERSION\": %d, \"UK_THREAD_MAX\": %d, \"UK_THREAD_NAME\": %d, "
           "\"UK_THREAD_TABLE_CPUS\": %d}}\n",
           sep, (unsigned long long)UK_KLOG_MAGIC, UK_KLOG_VERSION, UK_KLOG_SLOTS, UK_KLOG_TEXT,
           (unsigned long long)UK_THREAD_TABLE_MAGIC, UK_THREAD_TABLE_VERSION, UK_THREAD_MAX,
           UK_THREAD_NAME, UK_THREAD_TABLE_CPUS);
    return 0;
}
