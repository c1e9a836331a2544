/* Guest memory from an ELF core's PT_LOAD segments (see trace_core.h). */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trace_core.h"

int utr_core_is_elf(const uint8_t *file, uint64_t size)
{
    const Elf64_Ehdr *eh = (const void *)file;
    /* Raw RAM may itself start with an ELF header (a loaded image): only an
     * ELF64 *core* is treated as one. */
    return size >= sizeof(*eh) && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
           eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_type == ET_CORE;
}

static int by_paddr(const void *a, const void *b)
{
    const Elf64_Phdr *x = a, *y = b;
    return x->p_paddr < y->p_paddr ? -1 : x->p_paddr > y->p_paddr;
}

/* Copy out and check the PT_LOAD headers; sorted by address in *out. */
static int load_segments(const uint8_t *file, uint64_t size, uint64_t max_span, Elf64_Phdr **out,
                         unsigned *nout, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    memcpy(&eh, file, sizeof(eh));
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
        return utr_fail(err, errlen, "ELF core with invalid program headers");
    Elf64_Phdr *seg = calloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*seg));
    unsigned n = 0;
    if (!seg)
        return utr_fail(err, errlen, "out of memory");
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, file + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || !ph.p_memsz)
            continue;
        const char *why = NULL;
        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            why = "extends past the end of the file";
        else if (ph.p_filesz > ph.p_memsz)
            why = "has more file bytes than memory bytes";
        else if (ph.p_paddr >= max_span || ph.p_memsz > max_span - ph.p_paddr)
            why = "lies above the highest guest address accepted";
        else if (n == UTR_CORE_MAX_LOADS)
            why = "is one segment too many";
        if (why) {
            free(seg);
            return utr_fail(err, errlen, "RAM segment %u (address 0x%llx, %llu bytes) %s", i,
                        (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz, why);
        }
        seg[n++] = ph;
    }
    if (!n) {
        free(seg);
        return utr_fail(err, errlen, "no PT_LOAD segment holds guest memory");
    }
    qsort(seg, n, sizeof(*seg), by_paddr);
    for (unsigned i = 1; i < n; i++)
        if (seg[i - 1].p_paddr + seg[i - 1].p_memsz > seg[i].p_paddr) {
            uint64_t a = seg[i].p_paddr;
            free(seg);
            return utr_fail(err, errlen, "RAM segments overlap at address 0x%llx",
                        (unsigned long long)a);
        }
    *out = seg;
    *nout = n;
    return 0;
}

int utr_core_open(struct utr_core *c, const uint8_t *file, uint64_t size, int fd, uint64_t max_span,
                  struct utr_mem *m, char *err, size_t errlen)
{
    Elf64_Phdr *seg = NULL;
    unsigned n = 0;
    memset(c, 0, sizeof(*c));
    if (!utr_core_is_elf(file, size))
        return utr_fail(err, errlen, "not an ELF64 core file");
    if (load_segments(file, size, max_span, &seg, &n, err, errlen))
        return -1;
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t span = seg[n - 1].p_paddr + seg[n - 1].p_memsz;
    c->len = (size_t)((span + pg - 1) & ~(pg - 1));
    /* Anonymous and never touched where there is no segment: holes are
     * zeros that cost nothing. */
    void *map = mmap(NULL, c->len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        free(seg);
        return utr_fail(err, errlen, "cannot reserve %llu bytes for guest memory",
                    (unsigned long long)c->len);
    }
    c->map = map;
    for (unsigned i = 0; i < n; i++) {
        const Elf64_Phdr *p = &seg[i];
        uint64_t mapped = 0;
        /* Page-aligned in both the file and guest memory: map, don't copy
         * (whole pages only, so no neighbour's bytes come along). */
        if (fd >= 0 && !(p->p_paddr % pg) && !(p->p_offset % pg) && p->p_filesz >= pg) {
            uint64_t len = p->p_filesz & ~(pg - 1);
            if (mmap(c->map + p->p_paddr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                     (off_t)p->p_offset) != MAP_FAILED)
                mapped = len;
        }
        memcpy(c->map + p->p_paddr + mapped, file + p->p_offset + mapped, p->p_filesz - mapped);
    }
    c->nloads = n;
    free(seg);
    mprotect(c->map, c->len, PROT_READ);
    m->base = c->map;
    m->size = span;
    return 0;
}

void utr_core_close(struct utr_core *c)
{
    if (c->map)
        munmap(c->map, c->len);
    memset(c, 0, sizeof(*c));
}
