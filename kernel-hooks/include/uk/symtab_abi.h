/*
 * Kernel symbol table layout.  ABI shared by the guest (core/symtab.c,
 * core/symbolize.c), the build (arch/x86_64/mksyms.sh generates it), the gdb
 * helper and post-mortem host tools that read it from guest memory.
 *
 * The table is the whole `.uksyms` section, [__uksyms_start, __uksyms_end)
 * in the image, made by the second link pass from the function symbols of
 * the first.  All fields are little-endian, all offsets are from the start
 * of the header:
 *
 *   struct uk_symtab_hdr                 at 0
 *   struct uk_symtab_entry[count]        at UK_SYMTAB_ENTRIES_OFF (24)
 *   string table, str_size bytes         at str_off (>= end of the entries)
 *
 * Entries are sorted by strictly increasing addr and do not overlap
 * (addr + size <= next addr).  An entry covers [addr, addr + size); size is
 * never 0.  name is an offset into the string table of a NUL-terminated name;
 * the string table ends with a NUL.  Addresses not covered by any entry
 * (padding, data) have no symbol.
 *
 * Host readers: this comes from guest memory and is untrusted input.  Check
 * magic and version, that every offset and count stays within the bytes you
 * actually read (mind overflow: count * 16), that the entries are sorted and
 * that every name offset is below str_size and its string is terminated
 * within the table, before using any of it.  core/symtab.c
 * (symtab_validate) implements these checks and is host-buildable.
 */
#ifndef UK_SYMTAB_ABI_H
#define UK_SYMTAB_ABI_H

#include <stdint.h>

#define UK_SYMTAB_MAGIC   0x4d595355U /* "USYM" as little-endian bytes */
#define UK_SYMTAB_VERSION 1

struct uk_symtab_hdr {
    uint32_t magic;    /* UK_SYMTAB_MAGIC */
    uint32_t version;  /* UK_SYMTAB_VERSION */
    uint32_t count;    /* number of entries */
    uint32_t str_off;  /* offset of the string table */
    uint32_t str_size; /* bytes in the string table, including the final NUL */
    uint32_t flags;    /* 0; readers ignore unknown bits */
};

struct uk_symtab_entry {
    uint64_t addr; /* first byte of the function */
    uint32_t size; /* bytes covered, > 0 */
    uint32_t name; /* offset of the name in the string table */
};

#define UK_SYMTAB_ENTRIES_OFF 24

_Static_assert(sizeof(struct uk_symtab_hdr) == UK_SYMTAB_ENTRIES_OFF, "symtab header size is ABI");
_Static_assert(sizeof(struct uk_symtab_entry) == 16, "symtab entry size is ABI");

#endif
