/*
 * Internal to the protocol core (gdb_core.c and gdb_lldb.c): building the
 * reply in st->reply.  Not for the arch backends or transports.
 */
#ifndef GDB_INTERNAL_H
#define GDB_INTERNAL_H

#include "gdb_core.h"

/* Start an empty reply. */
void gdb_reply_reset(struct gdb_state *st);
/* Append bytes / a string / hex of bytes / a hex number; a reply that
 * outgrows GDB_PKT_MAX is replaced by E0e when sent. */
void gdb_put(struct gdb_state *st, const void *p, size_t n);
void gdb_puts(struct gdb_state *st, const char *s);
void gdb_puthex(struct gdb_state *st, const uint8_t *b, size_t n);
void gdb_putnum(struct gdb_state *st, uint64_t v);
/* Register r of thread t as target-order hex, 'x' digits if unavailable.
 * Returns 0, or the arch's error (nothing appended). */
int gdb_put_reg(struct gdb_state *st, int t, unsigned r);
/* Append the T stop reply for thread t (signal 0 unless t stopped). */
void gdb_put_stop(struct gdb_state *st, int t);

/* lldb's query packets (qHostInfo, qProcessInfo, qThreadStopInfo,
 * jThreadsInfo, qMemoryRegionInfo).  `pkt` is the whole payload.  Returns
 * true if it was one of them (the reply is built), false otherwise. */
bool gdb_lldb_query(struct gdb_state *st, const char *pkt);

#endif
