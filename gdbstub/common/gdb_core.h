/*
 * gdb remote serial protocol core: framing, acks, escapes, RLE and the
 * packet dispatcher.  Transport- and arch-agnostic: it is compiled into the
 * guest and, unchanged, into host unit tests and a fuzz target.  It only
 * needs <stdint.h>/<stddef.h>/<stdbool.h> and a few string functions.
 *
 * The owner feeds received bytes with gdb_feed().  When a packet asks the
 * target to run (c, s, vCont, D, k), gdb_feed() returns GDB_FEED_RESUME and
 * st->resume says how; the owner resumes the target and, when it stops
 * again, calls gdb_report_stop().
 */
#ifndef GDB_CORE_H
#define GDB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest packet payload accepted and advertised (qSupported PacketSize).
 * 64 KiB: an `m` reply carries 32 KiB of memory, so a 1 MiB dump over
 * virtio-console needs 32 round trips (16 KiB: ~30% slower, BENCHMARKS.md). */
#define GDB_PKT_MAX 65536
/* Scratch for generated documents (qXfer:threads:read). */
#define GDB_DOC_MAX 32768

/* Signals as gdb numbers them (target-independent). */
enum gdb_signal {
    GDB_SIGINT = 2,
    GDB_SIGILL = 4,
    GDB_SIGTRAP = 5,
    GDB_SIGABRT = 6,
    GDB_SIGFPE = 8,
    GDB_SIGBUS = 10,
    GDB_SIGSEGV = 11,
};

/* Why the target stopped, for the T stop reply. */
enum gdb_stop_kind {
    GDB_STOP_SIGNAL = 0, /* plain signal (interrupt, step, fault) */
    GDB_STOP_SWBREAK,
    GDB_STOP_HWBREAK,
    GDB_STOP_WATCH,
    GDB_STOP_RWATCH,
    GDB_STOP_AWATCH,
};

struct gdb_stop {
    int signo; /* enum gdb_signal */
    int tid;   /* thread that stopped (> 0), 0 if unknown */
    enum gdb_stop_kind kind;
    uint64_t addr; /* data address for watchpoints */
};

/* Z/z types (the protocol's numbers). */
enum gdb_bp_type {
    GDB_BP_SW = 0,
    GDB_BP_HW = 1,
    GDB_BP_WRITE = 2,
    GDB_BP_READ = 3,
    GDB_BP_ACCESS = 4,
};

/* Arch callbacks return 0 on success, GDB_ERR on failure, GDB_UNSUPP if the
 * operation is not supported (the packet is then answered empty). */
#define GDB_ERR    (-1)
#define GDB_UNSUPP (-2)
/* reg_read only: the register's value is not known (a sleeping thread's
 * caller-saved registers); sent as 'x' digits so gdb shows <unavailable>. */
#define GDB_UNAVAIL (-3)

struct gdb_state;

/*
 * What the stub needs from the architecture/kernel.  Thread ids are gdb's
 * (positive); tid 0 means "any" and the arch picks the stopped thread.
 */
struct gdb_arch_ops {
    const char *target_xml; /* served as qXfer:features:read:target.xml */
    const char *triple;     /* LLVM target triple for lldb's qHostInfo/qProcessInfo (or NULL) */
    unsigned nregs;         /* registers in the g packet, in order */
    unsigned (*reg_size)(void *ctx, unsigned regno);
    int (*reg_read)(void *ctx, int tid, unsigned regno, uint8_t *out);
    int (*reg_write)(void *ctx, int tid, unsigned regno, const uint8_t *in);
    /* Memory: must check accessibility; never fault. */
    int (*mem_read)(void *ctx, uint64_t addr, uint8_t *buf, size_t len);
    int (*mem_write)(void *ctx, uint64_t addr, const uint8_t *buf, size_t len);
    int (*bp_set)(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind);
    int (*bp_clear)(void *ctx, enum gdb_bp_type type, uint64_t addr, unsigned kind);
    /* Thread iteration: next live tid after `prev` (0: first), 0 at the end. */
    int (*thread_next)(void *ctx, int prev);
    bool (*thread_alive)(void *ctx, int tid);
    /* Name (NUL-terminated, may be empty) and a short extra description. */
    void (*thread_info)(void *ctx, int tid, char *name, size_t name_len, char *extra,
                        size_t extra_len, int *core);
    /* Monitor command (qRcmd); writes output with gdb_console_write. */
    void (*monitor)(void *ctx, struct gdb_state *st, const char *cmd);
    /* Optional (lldb's qMemoryRegionInfo): the region [*start, *start+*size)
     * around addr with uniform access; *perms is a mask of enum
     * gdb_mem_perm, 0 = unmapped.  GDB_ERR if nothing can be said. */
    int (*mem_region)(void *ctx, uint64_t addr, uint64_t *start, uint64_t *size,
                      unsigned *perms);
};

enum gdb_mem_perm {
    GDB_MEM_R = 1,
    GDB_MEM_W = 2,
    GDB_MEM_X = 4,
};

struct gdb_transport_ops {
    void (*write)(void *ctx, const uint8_t *buf, size_t len);
};

enum gdb_resume_kind {
    GDB_RESUME_NONE = 0,
    GDB_RESUME_CONT,
    GDB_RESUME_STEP,
    GDB_RESUME_DETACH, /* remove breakpoints (arch), resume, forget the session */
    GDB_RESUME_KILL,
};

struct gdb_resume {
    enum gdb_resume_kind kind;
    int tid;   /* thread to step (0 or -1: the stopped thread) */
    int signo; /* signal gdb asked to deliver (ignored by a kernel) */
};

enum gdb_feed_result {
    GDB_FEED_MORE = 0, /* keep feeding (target stays stopped) */
    GDB_FEED_RESUME,   /* st->resume says what to do */
};

enum gdb_rx_state {
    GDB_RX_IDLE = 0,
    GDB_RX_DATA,
    GDB_RX_ESC,
    GDB_RX_RLE,
    GDB_RX_CSUM1,
    GDB_RX_CSUM2,
};

struct gdb_stats {
    uint64_t packets, bad_checksum, oversized, truncated, naks_received, retransmits;
    uint64_t new_clients; /* '+' seen in NoAck mode: ack mode back on */
};

struct gdb_state {
    const struct gdb_arch_ops *arch;
    void *arch_ctx;
    const struct gdb_transport_ops *tr;
    void *tr_ctx;

    /* Receiver. */
    enum gdb_rx_state rx;
    uint8_t csum;    /* running checksum of the raw bytes */
    uint8_t rx_csum; /* checksum received (high nibble first) */
    bool overflow;
    bool csum_bad; /* a checksum digit was not hex */
    size_t in_len;

    /* Session.  no_ack changes only on QStartNoAckMode and on a new
     * connection: gdb_reset_session, or a '+' in NoAck mode (a client that
     * does not know the mode: both gdb and lldb send '+' on connecting).
     * The client acks our OK to QStartNoAckMode once: noack_grace. */
    bool no_ack;
    bool noack_grace;
    bool list_threads_in_stop; /* QListThreadsInStopReply (lldb) */
    bool attached; /* a gdb has talked to us since the last detach */
    bool swbreak_feature, hwbreak_feature;
    int g_tid; /* Hg: thread for registers */
    int c_tid; /* Hc */
    struct gdb_stop stop;
    struct gdb_resume resume;
    bool thread_list_done;
    int thread_cursor;
    struct gdb_stats stats;

    /* Reply being built and the last framed packet (for '-' retransmits). */
    size_t reply_len;
    bool reply_overflow;
    size_t out_len;

    /* Buffers last: every byte is written before it is read (the lengths
     * above say how much is valid), so gdb_init clears only what precedes
     * them and the guest keeps the state in UK_NOINIT storage. */
    uint8_t in[GDB_PKT_MAX + 1];
    uint8_t reply[GDB_PKT_MAX + 1];
    uint8_t out[2 * GDB_PKT_MAX + 8];
    char doc[GDB_DOC_MAX];
};

void gdb_init(struct gdb_state *st, const struct gdb_arch_ops *arch, void *arch_ctx,
              const struct gdb_transport_ops *tr, void *tr_ctx);

/* Forget the session (new connection): ack mode back on, rx reset.
 * The transport owner calls it when it knows the client changed (a port
 * closed, a packet while running, a silent client given up on). */
void gdb_reset_session(struct gdb_state *st);

/* Feed one received byte. */
enum gdb_feed_result gdb_feed(struct gdb_state *st, uint8_t c);

/* Record why the target stopped; if send, also send the stop reply now
 * (gdb is waiting for one after c/s/vCont or an interrupt). */
void gdb_report_stop(struct gdb_state *st, const struct gdb_stop *stop, bool send);

/* Send a console output packet ("O" + hex) during a monitor command. */
void gdb_console_write(struct gdb_state *st, const char *s);

/* Frame and send `len` payload bytes as one packet (escaping as needed). */
void gdb_send_packet(struct gdb_state *st, const uint8_t *payload, size_t len);

#endif
