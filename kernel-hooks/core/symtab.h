/*
 * Symbol table lookup over a table in the <uk/symtab_abi.h> layout, given as
 * a pointer and a length.  Pure logic with no kernel dependencies: the
 * kernel uses it on [__uksyms_start, __uksyms_end) (core/symbolize.c); it is
 * also built for the host (unit test, fuzzer, host tools reading the table
 * out of guest memory), so it must accept arbitrary bytes without reading
 * outside [tab, tab + len) and without alignment assumptions.
 */
#ifndef UK_CORE_SYMTAB_H
#define UK_CORE_SYMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of symtab_validate (negative) and symtab_lookup. */
enum symtab_status {
    SYMTAB_OK = 0,
    SYMTAB_ESHORT = -1,   /* NULL, or shorter than the header */
    SYMTAB_EMAGIC = -2,   /* wrong magic */
    SYMTAB_EVERSION = -3, /* unknown version */
    SYMTAB_ECOUNT = -4,   /* entries extend past str_off or the end of the table */
    SYMTAB_ESTR = -5,     /* string table out of bounds, empty or not NUL-terminated */
    SYMTAB_ENAME = -6,    /* an entry's name offset is outside the string table */
    SYMTAB_ESIZE = -7,    /* an entry has size 0 or wraps around the address space */
    SYMTAB_EORDER = -8,   /* entries not sorted by address or overlapping */
};

/*
 * Check every header field and entry of the table at tab (len bytes).
 * O(count).  Returns SYMTAB_OK or a negative enum symtab_status.
 */
int symtab_validate(const void *tab, size_t len);

/*
 * Find the entry covering addr in a table that passed symtab_validate
 * (unchecked otherwise).  O(log count).  On success sets *name (pointing
 * into the table, NUL-terminated) and *off = addr - entry start, returns
 * true.  Returns false, leaving *name and *off alone, if nothing covers addr.
 */
bool symtab_find(const void *tab, uint64_t addr, const char **name, uint64_t *off);

/*
 * symtab_validate + symtab_find for a table of unknown origin.  Returns 1
 * if found (*name, *off set), 0 if no entry covers addr, or a negative enum
 * symtab_status if the table is invalid.
 */
int symtab_lookup(const void *tab, size_t len, uint64_t addr, const char **name, uint64_t *off);

/* Short description of a symtab_validate/symtab_lookup result, never NULL. */
const char *symtab_strerror(int status);

#endif
