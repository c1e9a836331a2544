/*
 * ukscope trace ABI: every layout shared by the guest tracer (tracing/guest)
 * and the host reader (tracing/host).  Little-endian x86_64, all addresses
 * are guest-physical (== guest-virtual, identity-mapped kernel).
 *
 * Discovery: struct uk_trace_header sits at the start of a 4 KiB-aligned
 * page; the host scans page starts for the 16-byte magic and accepts a
 * candidate only if `self` equals the address where it was found and the
 * rest validates.  The magic is written last at init, so a half-set-up
 * header is never found.
 *
 * Rings: one per (CPU, kind).  A ring is an array of nslots 32-byte slots
 * (a power of two).  `head` counts slots ever reserved; slot for reservation
 * h lives at index h % nslots.  A writer reserves h with a non-locked
 * cmpxchg on head (owning CPU only; interrupts/NMIs nest safely), writes the
 * record, then stores `commit` = uk_trace_commit_tag(h) last.
 * A reader copies slot h (commit first, then the body), then re-reads head:
 * the copy is good iff commit == uk_trace_commit_tag(h) and head <= h + nslots
 * (no later reservation reached that slot during the copy).
 */
#ifndef UK_TRACE_ABI_H
#define UK_TRACE_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <uk/trace_hooks.h>

#define UK_TRACE_MAGIC0         0x45434152544b55ULL /* "UKTRACE\0" */
#define UK_TRACE_MAGIC1         0x31762d726468ULL   /* "hdr-v1\0\0" */
#define UK_TRACE_VERSION        1
#define UK_TRACE_PAGE           4096
#define UK_TRACE_NAME_MAX       24
#define UK_TRACE_CAT_MAX        16
#define UK_TRACE_FIELD_NAME_MAX 15
#define UK_TRACE_FIELDS         2
#define UK_TRACE_MAX_RINGS      64         /* host sanity bound */
#define UK_TRACE_MAX_SLOTS      (1u << 24) /* host sanity bound per ring (512 MiB) */
#define UK_TRACE_MAX_TPS        1024

enum uk_trace_mode {
    UK_TRACE_OVERWRITE = 0, /* flight recorder: newest events replace oldest */
    UK_TRACE_DISCARD = 1,   /* keep the first nslots events, count the rest in `lost` */
};

enum uk_trace_ring_kind {
    UK_TRACE_RING_BOOT = 0, /* small, discard: the first events of each CPU */
    UK_TRACE_RING_MAIN = 1, /* sized by trace_buf=, mode from trace_mode= */
};

/* One event.  TSC is stored relative to header.tsc_base (time zero). */
struct uk_trace_rec {
    uint32_t commit; /* uk_trace_commit_tag(h), stored last */
    uint16_t id;     /* enum uk_tp_id */
    uint16_t flags;  /* reserved, 0 */
    uint64_t tsc;    /* TSC - tsc_base */
    uint64_t arg[UK_TRACE_FIELDS];
};
_Static_assert(sizeof(struct uk_trace_rec) == 32, "record is one 32-byte slot");

static inline uint32_t uk_trace_commit_tag(uint64_t h)
{
    /* Odd, so never 0 (fresh memory); distinct for reservations less than
     * 2^31 apart, so a slot's previous lap (nslots <= 2^24 earlier) never matches. */
    return ((uint32_t)h << 1) | 1;
}

/* Per-ring descriptor; one cache line so CPUs do not share lines. */
struct uk_trace_ring {
    uint64_t head;       /* slots ever reserved (monotonic) */
    uint64_t lost;       /* discard mode: events dropped because the ring was full */
    uint64_t slots_addr; /* address of nslots struct uk_trace_rec */
    uint32_t nslots;     /* power of two */
    uint32_t mode;       /* enum uk_trace_mode */
    uint32_t cpu;
    uint32_t kind; /* enum uk_trace_ring_kind */
    uint64_t pad[3];
};
_Static_assert(sizeof(struct uk_trace_ring) == 64, "ring descriptor is a cache line");

struct uk_trace_field_meta {
    char name[UK_TRACE_FIELD_NAME_MAX];
    uint8_t type; /* enum uk_tp_field_type */
};

/* Tracepoint metadata, indexed by id. */
struct uk_trace_tp_meta {
    char name[UK_TRACE_NAME_MAX];
    char category[UK_TRACE_CAT_MAX];
    struct uk_trace_field_meta field[UK_TRACE_FIELDS];
};
_Static_assert(sizeof(struct uk_trace_tp_meta) == 72, "tp meta size");

struct uk_trace_header {
    uint64_t magic[2];    /* UK_TRACE_MAGIC0/1, written last */
    uint32_t version;     /* UK_TRACE_VERSION */
    uint32_t header_size; /* sizeof(struct uk_trace_header) */
    uint64_t self;        /* address of this header */
    uint8_t build_id[20]; /* GNU build-id of the image (sha1) */
    uint32_t build_id_len;
    uint64_t tsc_hz;   /* guest TSC ticks per second */
    uint64_t tsc_base; /* TSC at guest time zero (uk_tsc_boot()) */
    uint32_t ncpus;
    uint32_t nrings;       /* ring descriptors at rings_addr */
    uint64_t rings_addr;   /* struct uk_trace_ring[nrings] */
    uint32_t ntps;         /* tracepoints */
    uint32_t tp_meta_size; /* sizeof(struct uk_trace_tp_meta) */
    uint64_t tp_addr;      /* struct uk_trace_tp_meta[ntps] */
    uint64_t enabled_addr; /* uint8_t[ntps]: 1 = tracepoint on */
    uint32_t rec_size;     /* sizeof(struct uk_trace_rec) */
    uint32_t main_mode;    /* enum uk_trace_mode of the main rings */
    /* struct uk_thread_table (<uk/thread_abi.h>) or 0: the host takes full
     * thread names from it (records carry only 8 characters, STR8). */
    uint64_t threads_addr;
    uint64_t reserved[3];
};
_Static_assert(sizeof(struct uk_trace_header) == 152, "header size (ABI)");

/* Every offset a host reader uses is ABI: a change must bump UK_TRACE_VERSION
 * and update the readers. */
_Static_assert(sizeof(struct uk_trace_field_meta) == 16, "trace ABI");
_Static_assert(offsetof(struct uk_trace_rec, commit) == 0, "trace ABI");
_Static_assert(offsetof(struct uk_trace_rec, id) == 4, "trace ABI");
_Static_assert(offsetof(struct uk_trace_rec, flags) == 6, "trace ABI");
_Static_assert(offsetof(struct uk_trace_rec, tsc) == 8, "trace ABI");
_Static_assert(offsetof(struct uk_trace_rec, arg) == 16, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, head) == 0, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, lost) == 8, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, slots_addr) == 16, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, nslots) == 24, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, mode) == 28, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, cpu) == 32, "trace ABI");
_Static_assert(offsetof(struct uk_trace_ring, kind) == 36, "trace ABI");
_Static_assert(offsetof(struct uk_trace_field_meta, name) == 0, "trace ABI");
_Static_assert(offsetof(struct uk_trace_field_meta, type) == 15, "trace ABI");
_Static_assert(offsetof(struct uk_trace_tp_meta, name) == 0, "trace ABI");
_Static_assert(offsetof(struct uk_trace_tp_meta, category) == 24, "trace ABI");
_Static_assert(offsetof(struct uk_trace_tp_meta, field) == 40, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, magic) == 0, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, version) == 16, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, header_size) == 20, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, self) == 24, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, build_id) == 32, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, build_id_len) == 52, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, tsc_hz) == 56, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, tsc_base) == 64, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, ncpus) == 72, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, nrings) == 76, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, rings_addr) == 80, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, ntps) == 88, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, tp_meta_size) == 92, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, tp_addr) == 96, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, enabled_addr) == 104, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, rec_size) == 112, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, main_mode) == 116, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, threads_addr) == 120, "trace ABI");
_Static_assert(offsetof(struct uk_trace_header, reserved) == 128, "trace ABI");

#endif
