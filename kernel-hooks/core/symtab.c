/*
 * Symbol table validation and lookup (see symtab.h and <uk/symtab_abi.h>).
 * Every read goes through a fixed-size __builtin_memcpy so that the table
 * may sit at any alignment (host readers copy it out of guest memory).
 */
#include <uk/symtab_abi.h>

#include "symtab.h"

static struct uk_symtab_hdr read_hdr(const void *tab)
{
    struct uk_symtab_hdr h;

    __builtin_memcpy(&h, tab, sizeof(h));
    return h;
}

static struct uk_symtab_entry read_entry(const void *tab, uint32_t i)
{
    struct uk_symtab_entry e;

    __builtin_memcpy(&e, (const unsigned char *)tab + UK_SYMTAB_ENTRIES_OFF + (size_t)i * sizeof(e),
                     sizeof(e));
    return e;
}

int symtab_validate(const void *tab, size_t len)
{
    const unsigned char *str;
    struct uk_symtab_hdr h;
    uint64_t entries_end;
    uint64_t prev_end = 0;

    if (!tab || len < sizeof(h))
        return SYMTAB_ESHORT;
    h = read_hdr(tab);
    if (h.magic != UK_SYMTAB_MAGIC)
        return SYMTAB_EMAGIC;
    if (h.version != UK_SYMTAB_VERSION)
        return SYMTAB_EVERSION;

    /* count < 2^32, so this cannot overflow 64 bits. */
    entries_end = UK_SYMTAB_ENTRIES_OFF + (uint64_t)h.count * sizeof(struct uk_symtab_entry);
    if (entries_end > len || entries_end > h.str_off)
        return SYMTAB_ECOUNT;
    if (h.str_off > len || h.str_size > len - h.str_off || h.str_size == 0)
        return SYMTAB_ESTR;
    str = (const unsigned char *)tab + h.str_off;
    if (str[h.str_size - 1] != '\0')
        return SYMTAB_ESTR;

    for (uint32_t i = 0; i < h.count; i++) {
        struct uk_symtab_entry e = read_entry(tab, i);

        if (e.name >= h.str_size)
            return SYMTAB_ENAME;
        if (e.size == 0 || e.addr > UINT64_MAX - e.size)
            return SYMTAB_ESIZE;
        if (i > 0 && e.addr < prev_end)
            return SYMTAB_EORDER;
        prev_end = e.addr + e.size;
    }
    return SYMTAB_OK;
}

bool symtab_find(const void *tab, uint64_t addr, const char **name, uint64_t *off)
{
    struct uk_symtab_hdr h = read_hdr(tab);
    struct uk_symtab_entry e;
    uint32_t lo = 0, hi = h.count;

    /* lo = number of entries starting at or below addr. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (read_entry(tab, mid).addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    e = read_entry(tab, lo - 1);
    if (addr - e.addr >= e.size)
        return false;
    *name = (const char *)tab + h.str_off + e.name;
    *off = addr - e.addr;
    return true;
}

int symtab_lookup(const void *tab, size_t len, uint64_t addr, const char **name, uint64_t *off)
{
    int r = symtab_validate(tab, len);

    if (r != SYMTAB_OK)
        return r;
    return symtab_find(tab, addr, name, off) ? 1 : 0;
}

const char *symtab_strerror(int status)
{
    switch (status) {
    case SYMTAB_OK:
        return "ok";
    case SYMTAB_ESHORT:
        return "table missing or shorter than its header";
    case SYMTAB_EMAGIC:
        return "bad magic";
    case SYMTAB_EVERSION:
        return "unknown version";
    case SYMTAB_ECOUNT:
        return "entry count out of bounds";
    case SYMTAB_ESTR:
        return "string table out of bounds or unterminated";
    case SYMTAB_ENAME:
        return "name offset out of bounds";
    case SYMTAB_ESIZE:
        return "bad entry size";
    case SYMTAB_EORDER:
        return "entries not sorted or overlapping";
    default:
        return "unknown symtab status";
    }
}
