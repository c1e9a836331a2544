/*
 * Kernel log ring layout.  ABI shared by the guest (core/klog.c), the gdb
 * helper and host tools that read it from the guest RAM file.  Host readers
 * must treat every field as untrusted: copy a record, check its seq, then use.
 *
 * The ring holds UK_KLOG_SLOTS fixed-size records.  Record with sequence
 * number s lives in slot s % UK_KLOG_SLOTS.  A writer reserves s by atomically
 * incrementing `head`, sets rec.seq = 0 (busy), fills the record, then sets
 * rec.seq = s + 1 (committed; seq is stored +1 so that zero means empty).
 * A reader that sees rec.seq == s + 1 before and after copying has a
 * consistent copy.
 */
#ifndef UK_KLOG_ABI_H
#define UK_KLOG_ABI_H

#include <stddef.h>
#include <stdint.h>

#define UK_KLOG_MAGIC 0x474f4c4b55ULL /* "UKLOG" */
#define UK_KLOG_VERSION 1
#define UK_KLOG_SLOTS 1024
#define UK_KLOG_TEXT 112

enum uk_log_level {
    UK_LOG_EMERG = 0,
    UK_LOG_ERR = 3,
    UK_LOG_WARN = 4,
    UK_LOG_INFO = 6,
    UK_LOG_DEBUG = 7,
};

struct uk_klog_rec {
    uint64_t seq;     /* record sequence number + 1; 0 = empty or being written */
    uint64_t time_ns; /* uk_time_ns() when logged */
    uint8_t level;    /* enum uk_log_level */
    uint8_t cpu;
    uint16_t len;     /* bytes of text used, <= UK_KLOG_TEXT */
    uint32_t tid;     /* thread id, 0 before threads exist */
    char text[UK_KLOG_TEXT]; /* not NUL-terminated when len == UK_KLOG_TEXT */
};

struct uk_klog_ring {
    uint64_t magic;   /* UK_KLOG_MAGIC */
    uint32_t version; /* UK_KLOG_VERSION */
    uint32_t slots;   /* UK_KLOG_SLOTS */
    uint32_t rec_size; /* sizeof(struct uk_klog_rec) */
    uint32_t pad;
    uint64_t head;    /* next sequence number to reserve */
    uint64_t reserved; /* 0 */
    struct uk_klog_rec rec[UK_KLOG_SLOTS];
};

/* Every offset readers use is ABI: a change must bump UK_KLOG_VERSION and
 * update the readers (uk-gdb.py takes them from DWARF, the e2e tests from
 * tests/lib/abi_layout.c). */
_Static_assert(sizeof(struct uk_klog_rec) == 136, "klog record size is ABI");
_Static_assert(offsetof(struct uk_klog_rec, seq) == 0, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, time_ns) == 8, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, level) == 16, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, cpu) == 17, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, len) == 18, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, tid) == 20, "klog ABI");
_Static_assert(offsetof(struct uk_klog_rec, text) == 24, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, magic) == 0, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, version) == 8, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, slots) == 12, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, rec_size) == 16, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, head) == 24, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, reserved) == 32, "klog ABI");
_Static_assert(offsetof(struct uk_klog_ring, rec) == 40, "klog ABI");

#endif
