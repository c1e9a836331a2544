/*
 * Guest strings for the trace writers (see trace_reader.h): the one
 * sanitiser every string copied out of guest memory goes through, STR8
 * unpacking, and thread names from the guest's thread table.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <uk/thread_abi.h>

#include "trace_reader.h"

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 if invalid. */
static unsigned utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        /* No overlongs (e0 a0..), no UTF-16 surrogates (ed 80..9f). */
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        /* No overlongs (f0 90..), nothing above U+10FFFF (f4 80..8f). */
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void utr_clean_str(char *str)
{
    unsigned char *s = (unsigned char *)str;
    while (*s) {
        unsigned n = utf8_len(s); /* a NUL inside a sequence makes it invalid */
        if (n > 1) {
            s += n;
            continue;
        }
        if (!n || *s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
            *s = '?';
        s++;
    }
}

void utr_clean_tp_meta(struct uk_trace_tp_meta *tp, unsigned id)
{
    tp->name[sizeof(tp->name) - 1] = 0;
    tp->category[sizeof(tp->category) - 1] = 0;
    utr_clean_str(tp->name);
    utr_clean_str(tp->category);
    for (unsigned f = 0; f < UK_TRACE_FIELDS; f++) {
        tp->field[f].name[sizeof(tp->field[f].name) - 1] = 0;
        utr_clean_str(tp->field[f].name);
        if (tp->field[f].type > UK_TPF_STR8)
            tp->field[f].type = UK_TPF_HEX; /* unknown type: show raw */
    }
    if (!tp->name[0])
        snprintf(tp->name, sizeof(tp->name), "tp%u", id);
}

void utr_str8(uint64_t v, char out[9])
{
    unsigned k;
    for (k = 0; k < 8 && ((v >> (8 * k)) & 0xff); k++)
        out[k] = (char)((v >> (8 * k)) & 0xff);
    out[k] = 0;
    utr_clean_str(out);
}

/*
 * Copy the guest's thread table and remember (tid, name) per slot.  A slot
 * freed since the last refresh keeps its last name, so a thread that exited
 * between two passes is still named.  A table that does not validate is
 * ignored (the writers fall back to the 8-character names in the records).
 */
void utr_threads_refresh(struct utr *t)
{
    uint64_t addr = t->hdr.threads_addr;
    struct uk_thread_table *tt = NULL;
    if (!addr || (addr & 7) || addr > t->mem.size || sizeof(*tt) > t->mem.size - addr)
        return;
    tt = malloc(sizeof(*tt));
    if (!tt)
        return;
    memcpy(tt, t->mem.base + addr, sizeof(*tt));
    if (tt->magic != UK_THREAD_TABLE_MAGIC || tt->version != UK_THREAD_TABLE_VERSION ||
        tt->entry_size != sizeof(struct uk_thread) || tt->max > UK_THREAD_MAX) {
        free(tt);
        return;
    }
    if (!t->threads)
        t->threads = calloc(UK_THREAD_MAX, sizeof(*t->threads));
    for (unsigned i = 0; t->threads && i < tt->max; i++) {
        const struct uk_thread *th = &tt->threads[i];
        struct utr_thread *n = &t->threads[i];
        if (th->state == UK_THREAD_FREE || th->state > UK_THREAD_EXITED || !th->tid)
            continue;
        n->tid = th->tid;
        memcpy(n->name, th->name, sizeof(n->name));
        n->name[sizeof(n->name) - 1] = 0;
        utr_clean_str(n->name);
    }
    free(tt);
}

const char *utr_thread_name(const struct utr *t, uint64_t tid)
{
    for (unsigned i = 0; t->threads && tid && i < UK_THREAD_MAX; i++)
        if (t->threads[i].tid == tid && t->threads[i].name[0])
            return t->threads[i].name;
    return NULL;
}

int utr_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
