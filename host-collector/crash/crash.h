/*
 * Crash capture: thread-aware ELF cores of a unikernel from its RAM image,
 * crash bundles with signatures.  Used by `ukctl dump`, `ukctl crash`,
 * `ukctl run` (a bundle on panic) and, later, the collector daemon.
 *
 * Layers (each its own file):
 *   kelf.c    kernel.elf: symbols, writable segments, build-id; libdw symbolizer
 *   guest.c   readers of guest memory (thread table, panic record, klog, page
 *             bitmap) into a struct crash_state; guest memory is hostile
 *   core.c    the ELF64 ET_CORE writer
 *   dump.c    acquiring a run dir's RAM (live: QMP stop/cont; paused; kept)
 *   bundle.c  bundle directories, report.json/txt, signatures, retention
 *   crash_cmd.c  the ukctl subcommands
 *
 * Functions return 0 or -1 with a message in an `err` buffer unless stated.
 */
#ifndef UKCTL_CRASH_H
#define UKCTL_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uk/panic_abi.h>
#include <uk/thread_abi.h>
#include <uk/trap.h>

enum crash_level {
    CRASH_LEVEL_MINIMAL = 0, /* .data/.bss, used stacks, klog, trace rings, metrics page */
    CRASH_LEVEL_HEAP = 1,    /* + every page the page allocator has handed out */
    CRASH_LEVEL_FULL = 2,    /* all RAM */
};

/* Name of a level ("minimal"...), and back; -1 for an unknown name. */
const char *crash_level_name(enum crash_level l);
int crash_level_parse(const char *s);

/* A guest-physical memory image: address A is base[A] for A < size. */
struct crash_mem {
    const uint8_t *base;
    uint64_t size;
};

/* Bounds that keep a hostile image from costing more than this. */
#define CRASH_MAX_REGIONS 512
#define CRASH_MAX_WARN 64
#define CRASH_MAX_SEGS 8
#define CRASH_BT_MAX 32

/* What the kernel image tells about its memory (from kernel.elf). */
struct crash_layout {
    uint64_t thread_table; /* address of uk_thread_table, 0 if unknown */
    uint64_t panic_record; /* uk_panic_record */
    uint64_t klog;         /* uk_klog */
    uint64_t pmem_bitmap;  /* address of pmem.c's `bitmap` pointer variable */
    uint64_t pmem_base;    /* ... `page_base`, `page_count` */
    uint64_t pmem_count;
    uint64_t trace_header; /* tracing/guest/trace.c `header`, 0 if absent */
    uint64_t metrics_page; /* guest-agent metrics.c `page` pointer variable */
    struct {
        uint64_t addr, len;
    } wseg[CRASH_MAX_SEGS]; /* writable PT_LOADs (.data/.bss) */
    unsigned nwseg;
    struct {
        uint64_t addr, len, offset;
    } lseg[CRASH_MAX_SEGS]; /* every PT_LOAD of the image (for NT_FILE) */
    unsigned nlseg;
    uint64_t entry, phoff; /* e_entry, e_phoff (for NT_AUXV) */
    unsigned phnum;
    char build_id[41]; /* hex, "" if none */
    uint8_t build_id_raw[20];
    unsigned build_id_len;
    uint64_t build_id_addr; /* where the loaded image holds it (0: not loaded) */
};

/* Where a thread's registers came from. */
enum crash_regs_src {
    CRASH_REGS_NONE = 0,  /* unknown: the core holds zeros for this thread */
    CRASH_REGS_SAVED,     /* the context switch's saved ctx */
    CRASH_REGS_FAULT,     /* the panicking CPU's frame (panic record) */
    CRASH_REGS_STOPPED,   /* the frame the panic NMI stopped the CPU at */
    CRASH_REGS_VCPU,      /* the vCPU's registers, from QEMU (live dump) */
};
const char *crash_regs_src_name(enum crash_regs_src s);

struct crash_thread {
    uint32_t tid, state, flags;
    int32_t cpu;
    char name[UK_THREAD_NAME]; /* NUL-terminated, printable ASCII only */
    uint64_t stack_lo, stack_hi;
    uint64_t run_ns;
    enum crash_regs_src src;
    struct uk_trap_frame regs;
    uint64_t bt[CRASH_BT_MAX]; /* backtrace: bt[0] = rip */
    unsigned nbt;
    uint32_t bt_exact; /* bit i: bt[i] is an exact pc (else a return address) */
};

struct crash_region {
    uint64_t addr, len; /* guest address == guest-physical (identity map) */
};

/* Optional registers of each vCPU (live dump), indexed by CPU. */
struct crash_vcpus {
    unsigned n;
    bool valid[UK_THREAD_TABLE_CPUS];
    struct uk_trap_frame regs[UK_THREAD_TABLE_CPUS];
};

/*
 * Parse QEMU's HMP `info registers -a` output (hmp.c) into v (cleared
 * first).  Returns the number of distinct CPUs whose general registers
 * were all found (a later complete block of a CPU replaces an earlier one);
 * others stay invalid.
 */
int crash_parse_vcpus(const char *hmp_text, struct crash_vcpus *v);

struct crash_state {
    struct crash_thread threads[UK_THREAD_MAX];
    unsigned nthreads;
    unsigned ncpus;
    int fault_index; /* threads[] index of the panicking thread, -1 none */
    bool panicked;   /* panic record complete */
    uint32_t panic_reason, panic_tid;
    int32_t panic_cpu;
    uint64_t cr2, panic_ns;
    uint64_t panic_vector; /* trap vector of an exception panic (256: a call) */
    char message[UK_PANIC_REC_MSG + 1]; /* printable ASCII */
    struct crash_region regions[CRASH_MAX_REGIONS];
    unsigned nregions;
    char warn[CRASH_MAX_WARN][160];
    unsigned nwarn;     /* stored warnings */
    unsigned warnings;  /* all warnings, including those not stored */
};

/*
 * Read the thread table, the panic record and the regions `level` asks
 * for from m.  Never fails on bad guest data: what does not validate is
 * skipped with a warning (st->warn), and what is valid is kept.  `vcpus`
 * (may be NULL) gives registers for threads running on a CPU the panic
 * path did not record.  Bounded work: O(UK_THREAD_MAX + regions + pages).
 */
void crash_read(struct crash_state *st, const struct crash_mem *m, const struct crash_layout *lay,
                enum crash_level level, const struct crash_vcpus *vcpus);

/*
 * The regions of `level` (regions.c; crash_read calls it): merged, sorted,
 * clamped to m.  Hostile sizes are bounded; st->regions is replaced.
 */
void crash_regions(struct crash_state *st, const struct crash_mem *m,
                   const struct crash_layout *lay, enum crash_level level);

/* Add a warning (printf-style) to st. */
void crash_warn(struct crash_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy [addr, addr+len) of guest memory into out; false if not inside m. */
bool crash_mem_read(const struct crash_mem *m, uint64_t addr, void *out, size_t len);

/* Printable name of a thread state ("running"...). */
const char *crash_thread_state_name(uint32_t state);

/*
 * Klog records from the ring in m (at lay->klog), oldest first, at most
 * `max` (the newest ones).  Calls fn for each consistent record; returns
 * the number delivered (0 when the ring does not validate).
 */
typedef void (*crash_klog_fn)(void *arg, uint64_t seq, uint64_t ns, unsigned level, unsigned cpu,
                              uint32_t tid, const char *text);
unsigned crash_klog(const struct crash_mem *m, const struct crash_layout *lay, unsigned max,
                    crash_klog_fn fn, void *arg);

/* Instance metadata for the UKSCOPE note and NT_PRPSINFO. */
struct crash_meta {
    const char *name, *accel, *cmdline, *image;
    unsigned smp, mem_mib;
    const char *level;
};

/* Note name and type of the metadata note (JSON text, NUL-terminated). */
#define CRASH_NOTE_NAME "UKSCOPE"
#define CRASH_NOTE_META 0x554b0001u

/*
 * Write an ELF64 ET_CORE for x86-64 to fd: NT_PRPSINFO, the UKSCOPE note,
 * one NT_PRSTATUS per thread (the panicking one first), then one PT_LOAD
 * per merged region, its bytes copied from m.  Returns bytes written or -1.
 */
long crash_core_write(int fd, const struct crash_state *st, const struct crash_mem *m,
                      const struct crash_layout *lay, const struct crash_meta *meta, char *err,
                      size_t errlen);

/*
 * The image's ELF header page for the core (corehdr.c), so libdwfl finds
 * the module: false when the image's layout has no room for it or guest
 * memory in the core covers that address (level full).  *va = its address.
 */
bool crash_hdr_page(const struct crash_state *st, const struct crash_layout *lay, uint64_t *va,
                    uint8_t page[4096]);

/* The metadata note's JSON (malloc'd), also report.json's "instance". */
char *crash_meta_json(const struct crash_state *st, const struct crash_layout *lay,
                      const struct crash_meta *meta);

/* ---- kernel.elf (kelf.c) ---- */

/* Fill lay from the image's symbols and program headers. */
int crash_kelf_layout(const char *kernel_elf, struct crash_layout *lay, char *err, size_t errlen);

/*
 * Whether m holds the image lay was read from: its GNU build-id at the
 * address the image loads it.  false with the build-id found in m as hex
 * in `found` (or "?" when none is readable there).
 */
bool crash_kelf_matches(const struct crash_layout *lay, const struct crash_mem *m, char *found,
                        size_t flen);

/* A symbolizer over kernel.elf's symbols and DWARF (libdw). */
struct crash_sym;
struct crash_sym *crash_sym_open(const char *kernel_elf);
void crash_sym_close(struct crash_sym *s);
/*
 * Describe addr: function name and offset, source file:line (either may be
 * missing: "?" / "").  `ret`: addr is a return address (look up addr - 1).
 */
void crash_sym_lookup(struct crash_sym *s, uint64_t addr, bool ret, char *func, size_t flen,
                      uint64_t *off, char *src, size_t slen);

/*
 * Replace each thread's frame-pointer backtrace with libdwfl's CFI unwind of
 * the core just written (kernel.elf's .eh_frame), where that finds more
 * frames.  Threads are matched by tid.  Best effort: 0, or -1 if the core
 * cannot be opened.
 */
int crash_unwind(const char *kernel_elf, const char *core, struct crash_state *st);

#endif
