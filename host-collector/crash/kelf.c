/*
 * kernel.elf: where the crash readers find the kernel's structures (symbols,
 * writable segments, GNU build-id), and a libdw symbolizer for reports.
 * The image is the one instance.json names; it is trusted as much as the
 * build that produced it, but still parsed through libelf's checks.
 */
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"

/* A wanted symbol: global, or local to a source file (file != NULL). */
struct want {
    const char *name, *file;
    uint64_t *out;
};

static void scan_symtab(Elf *e, struct want *w, unsigned nw)
{
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    while ((scn = elf_nextscn(e, scn))) {
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        const char *file = "";
        for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym s;
            if (!gelf_getsym(d, (int)i, &s))
                continue;
            const char *n = elf_strptr(e, sh.sh_link, s.st_name);
            if (!n)
                continue;
            if (GELF_ST_TYPE(s.st_info) == STT_FILE) {
                file = n;
                continue;
            }
            if (GELF_ST_TYPE(s.st_info) != STT_OBJECT)
                continue;
            for (unsigned k = 0; k < nw; k++) {
                if (strcmp(n, w[k].name))
                    continue;
                bool local = GELF_ST_BIND(s.st_info) == STB_LOCAL;
                if (w[k].file ? (local && !strcmp(file, w[k].file)) : !local)
                    *w[k].out = s.st_value;
            }
        }
    }
}

static void read_build_id(Elf *e, struct crash_layout *lay)
{
    char *hex = lay->build_id;
    size_t n;
    hex[0] = '\0';
    if (elf_getphdrnum(e, &n))
        return;
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    while ((scn = elf_nextscn(e, scn))) {
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        size_t off = 0, noff, doff;
        GElf_Nhdr nh;
        while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
            if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
                memcmp((char *)d->d_buf + noff, "GNU", 4) || nh.n_descsz > 20)
                continue;
            for (size_t i = 0; i < nh.n_descsz; i++)
                sprintf(hex + 2 * i, "%02x", ((unsigned char *)d->d_buf)[doff + i]);
            memcpy(lay->build_id_raw, (unsigned char *)d->d_buf + doff, nh.n_descsz);
            lay->build_id_len = nh.n_descsz;
            if (sh.sh_flags & SHF_ALLOC)
                lay->build_id_addr = sh.sh_addr + doff;
            return;
        }
    }
}

int crash_kelf_layout(const char *path, struct crash_layout *lay, char *err, size_t errlen)
{
    int rc = -1, fd = -1;
    Elf *e = NULL;
    size_t nph;

    memset(lay, 0, sizeof(*lay));
    elf_version(EV_CURRENT);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "Failed to open kernel image %s: %m", path);
        goto cleanup;
    }
    e = elf_begin(fd, ELF_C_READ, NULL);
    if (!e || elf_kind(e) != ELF_K_ELF || gelf_getclass(e) != ELFCLASS64 ||
        elf_getphdrnum(e, &nph)) {
        snprintf(err, errlen, "Failed to read kernel image %s: not an ELF64 file", path);
        goto cleanup;
    }
    GElf_Ehdr eh;
    if (gelf_getehdr(e, &eh)) {
        lay->entry = eh.e_entry;
        lay->phoff = eh.e_phoff;
        lay->phnum = eh.e_phnum;
    }
    for (size_t i = 0; i < nph && lay->nwseg < CRASH_MAX_SEGS; i++) {
        GElf_Phdr p;
        if (!gelf_getphdr(e, (int)i, &p) || p.p_type != PT_LOAD || !p.p_memsz)
            continue;
        if (lay->nlseg < CRASH_MAX_SEGS) {
            lay->lseg[lay->nlseg].addr = p.p_vaddr;
            lay->lseg[lay->nlseg].len = p.p_memsz;
            lay->lseg[lay->nlseg++].offset = p.p_offset;
        }
        if (p.p_flags & PF_W) {
            lay->wseg[lay->nwseg].addr = p.p_vaddr;
            lay->wseg[lay->nwseg++].len = p.p_memsz;
        }
    }
    struct want w[] = {
        {"uk_thread_table", NULL, &lay->thread_table},
        {"uk_panic_record", NULL, &lay->panic_record},
        {"uk_klog", NULL, &lay->klog},
        {"bitmap", "pmem.c", &lay->pmem_bitmap},
        {"page_base", "pmem.c", &lay->pmem_base},
        {"page_count", "pmem.c", &lay->pmem_count},
        {"header", "trace.c", &lay->trace_header},
        {"page", "metrics.c", &lay->metrics_page},
    };
    scan_symtab(e, w, sizeof(w) / sizeof(w[0]));
    read_build_id(e, lay);
    if (!lay->thread_table) {
        snprintf(err, errlen, "Failed to find uk_thread_table in %s: not a ukscope kernel?", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (e)
        elf_end(e);
    if (fd >= 0)
        close(fd);
    return rc;
}

bool crash_kelf_matches(const struct crash_layout *lay, const struct crash_mem *m, char *found,
                        size_t flen)
{
    uint8_t b[20];
    snprintf(found, flen, "?");
    if (!lay->build_id_addr || !lay->build_id_len)
        return true; /* nothing to compare with: trust the image */
    if (!crash_mem_read(m, lay->build_id_addr, b, lay->build_id_len))
        return false;
    if (!memcmp(b, lay->build_id_raw, lay->build_id_len))
        return true;
    for (unsigned i = 0; i < lay->build_id_len && 2 * i + 2 < flen; i++)
        snprintf(found + 2 * i, 3, "%02x", b[i]);
    return false;
}

/* ---- symbolizer ---- */

struct crash_sym {
    Dwfl *dwfl;
    Dwfl_Module *mod;
};

static const Dwfl_Callbacks offline_cb = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

struct crash_sym *crash_sym_open(const char *kernel_elf)
{
    struct crash_sym *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->dwfl = dwfl_begin(&offline_cb);
    if (s->dwfl) {
        s->mod = dwfl_report_offline(s->dwfl, "kernel", kernel_elf, -1);
        dwfl_report_end(s->dwfl, NULL, NULL);
    }
    return s;
}

void crash_sym_close(struct crash_sym *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}

void crash_sym_lookup(struct crash_sym *s, uint64_t addr, bool ret, char *func, size_t flen,
                      uint64_t *off, char *src, size_t slen)
{
    uint64_t a = ret && addr ? addr - 1 : addr;
    GElf_Off o = 0;
    GElf_Sym sym;
    const char *name = NULL;
    snprintf(func, flen, "?");
    *off = 0;
    if (slen)
        src[0] = '\0';
    if (!s || !s->mod)
        return;
    name = dwfl_module_addrinfo(s->mod, a, &o, &sym, NULL, NULL, NULL);
    if (name) {
        snprintf(func, flen, "%s", name);
        *off = o + (a != addr); /* the offset of the address itself */
    }
    Dwfl_Line *line = dwfl_module_getsrc(s->mod, a);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (file && slen) {
        const char *base = strrchr(file, '/');
        snprintf(src, slen, "%s:%d", base ? base + 1 : file, lineno);
    }
}

/* ---- CFI unwinding of a written core ---- */

struct unwind_ctx {
    struct crash_thread *t;
    uint64_t bt[CRASH_BT_MAX];
    unsigned n;
    uint32_t exact;
};

static int unwind_frame(Dwfl_Frame *f, void *arg)
{
    struct unwind_ctx *u = arg;
    Dwarf_Addr pc;
    bool act;
    if (u->n >= CRASH_BT_MAX || !dwfl_frame_pc(f, &pc, &act) || !pc)
        return DWARF_CB_ABORT;
    if (act)
        u->exact |= 1u << u->n;
    u->bt[u->n++] = pc;
    return DWARF_CB_OK;
}

static int unwind_thread(Dwfl_Thread *th, void *arg)
{
    struct crash_state *st = arg;
    pid_t tid = dwfl_thread_tid(th);
    for (unsigned i = 0; i < st->nthreads; i++) {
        struct crash_thread *t = &st->threads[i];
        if ((pid_t)t->tid != tid)
            continue;
        struct unwind_ctx u = {.t = t};
        dwfl_thread_getframes(th, unwind_frame, &u); /* stops at the first gap */
        if (u.n > t->nbt) {
            memcpy(t->bt, u.bt, sizeof(u.bt));
            t->nbt = u.n;
            t->bt_exact = u.exact;
        }
    }
    return DWARF_CB_OK;
}

int crash_unwind(const char *kernel_elf, const char *core, struct crash_state *st)
{
    static const Dwfl_Callbacks cb = {.find_elf = dwfl_build_id_find_elf,
                                      .find_debuginfo = dwfl_standard_find_debuginfo};
    int rc = -1, fd = open(core, O_RDONLY | O_CLOEXEC);
    Elf *e = NULL;
    Dwfl *d = NULL;

    elf_version(EV_CURRENT);
    if (fd < 0 || !(e = elf_begin(fd, ELF_C_READ_MMAP, NULL)) || !(d = dwfl_begin(&cb)))
        goto cleanup;
    /* The kernel at its link addresses (no ELF header in guest memory for
     * libdwfl to find it by): then the core supplies threads and stacks. */
    dwfl_report_begin(d);
    if (!dwfl_report_elf(d, "kernel", kernel_elf, -1, 0, false))
        goto cleanup;
    dwfl_report_end(d, NULL, NULL);
    if (dwfl_core_file_attach(d, e) < 0)
        goto cleanup;
    dwfl_getthreads(d, unwind_thread, st);
    rc = 0;
cleanup:
    if (d)
        dwfl_end(d);
    if (e)
        elf_end(e);
    if (fd >= 0)
        close(fd);
    return rc;
}
