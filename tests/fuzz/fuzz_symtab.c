/*
 * libFuzzer target for core/symtab.c: arbitrary table bytes and addresses,
 * as a host tool reading .uksyms out of guest memory would see them.
 *
 * Input: byte 0 = misalignment (low 3 bits), bytes 1..8 = address
 * (little-endian), the rest = the table.  The table is copied into a buffer
 * of exactly its size, so any read past it is an ASan report.  When the
 * table validates, the binary search is checked against a linear scan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uk/symtab_abi.h>

#include "symtab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct uk_symtab_hdr h;
    unsigned shift;
    uint64_t addr;
    size_t len;
    unsigned char *buf;
    const unsigned char *tab;
    const char *name = NULL;
    uint64_t off = 0;
    int r;

    if (size < 9)
        return 0;
    shift = data[0] & 7;
    memcpy(&addr, data + 1, 8);
    len = size - 9;
    buf = malloc(len + shift ? len + shift : 1);
    if (!buf)
        return 0;
    memcpy(buf + shift, data + 9, len);
    tab = buf + shift;

    r = symtab_lookup(tab, len, addr, &name, &off);
    if (r < 0) {
        free(buf);
        return 0;
    }

    memcpy(&h, tab, sizeof(h));
    if (r == 1) {
        if ((const unsigned char *)name < tab + h.str_off ||
            (const unsigned char *)name >= tab + h.str_off + h.str_size)
            abort();
        if (strnlen(name, h.str_size) >= h.str_size)
            abort();
        if (off > addr)
            abort();
    }

    /* Oracle: linear scan for the entry covering addr. */
    {
        int found = 0;
        uint64_t loff = 0;
        const char *lname = NULL;

        for (uint32_t i = 0; i < h.count; i++) {
            struct uk_symtab_entry e;

            memcpy(&e, tab + UK_SYMTAB_ENTRIES_OFF + (size_t)i * sizeof(e), sizeof(e));
            if (addr >= e.addr && addr - e.addr < e.size) {
                found++;
                loff = addr - e.addr;
                lname = (const char *)tab + h.str_off + e.name;
            }
        }
        if (found > 1 || found != r || (found && (lname != name || loff != off)))
            abort();
    }
    free(buf);
    return 0;
}
