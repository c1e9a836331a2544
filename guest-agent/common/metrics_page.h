/*
 * The shared-memory metrics page: the guest's metric values in a layout the
 * host reads from the RAM file (guest-physical address == file offset), so
 * `ukctl metrics RUN_DIR` works even when the guest's network stack is hung.
 * The guest's /metrics endpoint renders its text from this same page, so the
 * two agree by construction.
 *
 * Discovery: the page starts on a 4 KiB boundary with the 16-byte magic
 * UKM_MAGIC; the host scans 4 KiB-aligned offsets for it and validates the
 * header.  Consistency: `seq` is a sequence lock, odd while the guest writes
 * values; the host copies, and retries when seq was odd or changed.
 *
 * Layout (little-endian): struct ukm_header, then `capacity` entries of
 * `entry_size` bytes; the first `count` are in use.  A FAMILY entry names a
 * metric family (name, help, type); each SAMPLE entry refers to its family by
 * index and carries a full sample name (with _total/_bucket/_sum/_count),
 * its labels as rendered between braces, and value/scale.
 */
#ifndef GUEST_AGENT_METRICS_PAGE_H
#define GUEST_AGENT_METRICS_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UKM_MAGIC      "ukscope-metrics1" /* 16 bytes, no NUL */
#define UKM_MAGIC_LEN  16
#define UKM_VERSION    1
#define UKM_PAGE_BYTES (64 * 4096)
#define UKM_NAME_MAX   64
#define UKM_TEXT_MAX   112

enum ukm_kind {
    UKM_KIND_FAMILY = 1,
    UKM_KIND_SAMPLE = 2,
};

enum ukm_type {
    UKM_COUNTER = 1,
    UKM_GAUGE = 2,
    UKM_HISTOGRAM = 3,
};

struct ukm_header {
    char magic[UKM_MAGIC_LEN];
    uint32_t version;
    uint32_t header_size;
    uint32_t entry_size;
    uint32_t capacity;
    uint32_t count;
    uint32_t total_bytes; /* header + capacity entries */
    uint64_t seq;         /* sequence lock: odd while values change */
    uint64_t updated_ns;  /* guest uptime at the last update */
    uint64_t updates;     /* number of updates */
    uint64_t series_overflow; /* label sets refused (bounded series) */
};

struct ukm_entry {
    uint16_t kind;   /* enum ukm_kind */
    uint16_t type;   /* enum ukm_type (FAMILY) */
    uint16_t family; /* index of the FAMILY entry (SAMPLE) */
    uint16_t reserved;
    uint32_t scale; /* value / scale is the sample value: 1, 1000, 10^6 or 10^9 */
    uint32_t reserved2;
    int64_t value;
    char name[UKM_NAME_MAX]; /* NUL-terminated */
    char text[UKM_TEXT_MAX]; /* FAMILY: help; SAMPLE: labels without braces; NUL-terminated */
};

_Static_assert(sizeof(struct ukm_header) == 72, "ukm_header layout");
_Static_assert(sizeof(struct ukm_entry) == 200, "ukm_entry layout");
/* Every offset the host reader (ukctl metrics) uses is ABI. */
_Static_assert(offsetof(struct ukm_header, magic) == 0, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, version) == 16, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, header_size) == 20, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, entry_size) == 24, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, capacity) == 28, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, count) == 32, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, total_bytes) == 36, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, seq) == 40, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, updated_ns) == 48, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, updates) == 56, "ukm_header layout");
_Static_assert(offsetof(struct ukm_header, series_overflow) == 64, "ukm_header layout");
_Static_assert(offsetof(struct ukm_entry, kind) == 0, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, type) == 2, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, family) == 4, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, reserved) == 6, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, scale) == 8, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, reserved2) == 12, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, value) == 16, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, name) == 24, "ukm_entry layout");
_Static_assert(offsetof(struct ukm_entry, text) == 88, "ukm_entry layout");

#define UKM_CAPACITY ((UKM_PAGE_BYTES - sizeof(struct ukm_header)) / sizeof(struct ukm_entry))

/* Output buffer for the renderer. */
struct ukm_out {
    char *p;
    size_t len, cap;
    bool overflow; /* something did not fit; nothing more is appended */
};

/*
 * Render entries [0, count) as Prometheus text 0.0.4 or OpenMetrics 1.0
 * (with "# EOF").  Entries are validated as it goes: bad names, bad
 * characters, unknown kinds/types, bad family indices or scales are skipped
 * and counted in the return value (0: all good).
 */
unsigned ukm_render(const struct ukm_entry *e, unsigned count, bool openmetrics, struct ukm_out *out);

/*
 * Template rendering, the guest's fast path for scrapes.  A template is a
 * ukm_render output plus, per printed sample, where its value's text is and
 * which value it shows.  In the guest's own page an entry's kind, names,
 * labels and scale never change once it is counted, so a template made for
 * `count` entries stays valid until the count changes: ukm_render_values
 * then equals ukm_render(e, count) for any values, copying the text and
 * formatting only the values that differ from the template's.  Templates
 * are made from trusted entries only (the guest's own page):
 * ukm_render_values trusts the slots.
 */
struct ukm_slot {
    uint32_t at;    /* offset in the template text of the value's text */
    uint32_t len;   /* its length */
    uint32_t entry; /* index of the SAMPLE entry */
    uint32_t scale; /* its scale */
    int64_t value;  /* the value that text shows */
};

struct ukm_template {
    char *text; /* a ukm_render output */
    size_t len;
    struct ukm_slot *slots; /* ascending offsets, values inside the text */
    unsigned nslots;
};

/*
 * ukm_render, also recording each printed sample in slots (room for `count`
 * slots needed); *nslots: how many.  The output (text) and the slots make a
 * template, usable only if out did not overflow.
 */
unsigned ukm_render_template(const struct ukm_entry *e, unsigned count, bool openmetrics,
                             struct ukm_out *out, struct ukm_slot *slots, unsigned *nslots);

/*
 * Append what ukm_render would for the template's entry count, with the
 * current values of e.  A changed value whose text keeps its length is
 * written into the template too, so the next call need not format it.
 */
void ukm_render_values(struct ukm_template *t, const struct ukm_entry *e, struct ukm_out *out);

/*
 * Validate a copied page (buf, len bytes, from a hostile source) and return
 * its entry count in *count; -1 with a reason in *why if unusable.
 */
int ukm_validate(const void *buf, size_t len, unsigned *count, const char **why);

/* Append "v/scale" as a decimal (e.g. 1234567/1000 -> "1234.567"). */
void ukm_fmt_value(struct ukm_out *o, int64_t v, uint32_t scale);
void ukm_puts(struct ukm_out *o, const char *s);

#endif
