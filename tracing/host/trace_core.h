/*
 * Guest memory from an ELF core (QEMU `dump-guest-memory`, paging off):
 * every PT_LOAD segment is placed at its guest-physical address (p_paddr)
 * in one private mapping, so the trace reader sees guest address A at
 * base[A], holes reading as zeros.  QEMU 7.2 writes microvm RAM as several
 * segments (0, 0xf0000, 0x100000, ...): all are used.
 *
 * The core is untrusted: each segment is checked (file range inside the
 * file, p_filesz <= p_memsz, no address overflow, total span bounded) and
 * overlapping segments are refused.
 */
#ifndef TRACE_CORE_H
#define TRACE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "trace_reader.h"

#define UTR_CORE_MAX_SPAN  (64ULL << 30) /* highest guest address ukctl accepts */
#define UTR_CORE_MAX_LOADS 4096          /* PT_LOAD segments */

struct utr_core {
    uint8_t *map; /* the assembled image (munmap'd by utr_core_close) */
    size_t len;
    unsigned nloads; /* segments placed */
};

/* 1 if file[0..size) is an ELF64 core (ET_CORE), else 0 (a raw RAM image). */
int utr_core_is_elf(const uint8_t *file, uint64_t size);

/*
 * Assemble the image of core file[0..size) (fd: the same file, used to map
 * page-aligned segments instead of copying them; -1 to always copy).
 * Guest addresses must stay below max_span.  0 with *m set, or -1 with a
 * message in err.
 */
int utr_core_open(struct utr_core *c, const uint8_t *file, uint64_t size, int fd, uint64_t max_span,
                  struct utr_mem *m, char *err, size_t errlen);

void utr_core_close(struct utr_core *c);

#endif
