/*
 * A read-only view of a guest's RAM file (<run dir>/ram, shared with QEMU)
 * for the host readers (klog ring, metrics page, thread table).
 *
 * The file can shrink under us (a hostile or broken setup truncates it): a
 * read of a mapped page past the new end raises SIGBUS.  ramview_refresh()
 * re-maps when the size changed, and every read of guest memory runs inside
 * RAMVIEW_GUARD(), which turns a SIGBUS into a counted error instead of a
 * crash.  The view does not validate content: the readers copy, then validate.
 */
#ifndef UKSCOPE_RAMVIEW_H
#define UKSCOPE_RAMVIEW_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ramview {
    int fd;              /* -1 when closed */
    const uint8_t *base; /* NULL when empty */
    uint64_t size;
    ino_t ino;
};

/* Open path read-only and map it. 0 or -1 with errno. */
int ramview_open(struct ramview *v, const char *path);
/* Re-map when the file's size or identity changed. 1 changed, 0 same, -1 error. */
int ramview_refresh(struct ramview *v);
void ramview_close(struct ramview *v);

/*
 * Drop this process's page-table entries for [base, base+len) of a view
 * (MADV_DONTNEED on a shared file mapping: the pages stay in the page
 * cache and in QEMU; the next read faults them back in).  A reader that
 * once scanned a guest's RAM for a magic, or walked rings that wrap, would
 * otherwise keep every page it ever touched counted in its RSS (~9 MiB per
 * 32 MiB guest); after each pass only the pages of the next pass count.
 */
void ramview_release(const void *base, uint64_t len);

/* Install the SIGBUS handler (once per process). */
int ramview_init_signals(void);

/*
 * Run guest-memory reads: `if (RAMVIEW_GUARD()) { reads...; ramview_unguard(); }
 * else { SIGBUS happened }`.  Not nestable.
 */
extern __thread sigjmp_buf ramview_jb;
extern __thread volatile sig_atomic_t ramview_armed;
#define RAMVIEW_GUARD() (ramview_arm(), sigsetjmp(ramview_jb, 1) == 0)
/* (Re)install our SIGBUS handler (another module may have installed its
 * own since: the last installed wins) and arm the guard. */
void ramview_arm(void);
static inline void ramview_unguard(void) { ramview_armed = 0; }

#endif
