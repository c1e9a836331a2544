/*
 * The ELF64 ET_CORE writer (x86-64), in the layout gdb, lldb, elfutils and
 * drgn read for a Linux process core: a PT_NOTE segment with NT_PRPSINFO,
 * our metadata note and one NT_PRSTATUS per thread (pr_pid = thread id, so
 * gdb lists "LWP <tid>"), then one PT_LOAD per region at its guest virtual
 * address (identity map: == physical), file offset congruent to it modulo
 * the page size.  Read-only sections are not written: tools take them from
 * kernel.elf.
 */
#include <elf.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/user.h>
#include <unistd.h>

#include "crash.h"

#define PAGE 4096ULL
#define ALIGN4(x) (((x) + 3) & ~3ULL)

const char *crash_level_name(enum crash_level l)
{
    return l == CRASH_LEVEL_FULL ? "full" : l == CRASH_LEVEL_HEAP ? "heap" : "minimal";
}

int crash_level_parse(const char *s)
{
    if (!strcmp(s, "minimal"))
        return CRASH_LEVEL_MINIMAL;
    if (!strcmp(s, "heap"))
        return CRASH_LEVEL_HEAP;
    if (!strcmp(s, "full"))
        return CRASH_LEVEL_FULL;
    return -1;
}

static const char *reason_name(uint32_t r)
{
    return r == 0 ? "call" : r == 1 ? "exception" : r == 2 ? "assert" : "?";
}

char *crash_meta_json(const struct crash_state *st, const struct crash_layout *lay,
                      const struct crash_meta *meta)
{
    json_t *o = json_object(), *w = json_array();
    json_object_set_new(o, "name", json_string(meta->name ? meta->name : ""));
    json_object_set_new(o, "accel", json_string(meta->accel ? meta->accel : ""));
    json_object_set_new(o, "smp", json_integer(meta->smp));
    json_object_set_new(o, "mem_mib", json_integer(meta->mem_mib));
    json_object_set_new(o, "cmdline", json_string(meta->cmdline ? meta->cmdline : ""));
    json_object_set_new(o, "image", json_string(meta->image ? meta->image : ""));
    json_object_set_new(o, "build_id", json_string(lay->build_id));
    json_object_set_new(o, "level", json_string(meta->level ? meta->level : ""));
    json_object_set_new(o, "panicked", json_boolean(st->panicked));
    if (st->panicked) {
        json_object_set_new(o, "reason", json_string(reason_name(st->panic_reason)));
        json_object_set_new(o, "message", json_string(st->message));
        json_object_set_new(o, "cpu", json_integer(st->panic_cpu));
        json_object_set_new(o, "tid", json_integer(st->panic_tid));
        json_object_set_new(o, "cr2", json_integer((json_int_t)st->cr2));
        json_object_set_new(o, "uptime_ns", json_integer((json_int_t)st->panic_ns));
    }
    json_object_set_new(o, "threads", json_integer(st->nthreads));
    for (unsigned i = 0; i < st->nwarn; i++)
        json_array_append_new(w, json_string(st->warn[i]));
    json_object_set_new(o, "warnings", w);
    json_object_set_new(o, "warnings_total", json_integer(st->warnings));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return s;
}

static int signal_of(const struct crash_state *st)
{
    if (!st->panicked)
        return 0;
    if (st->panic_reason != 1)
        return SIGABRT;
    switch (st->panic_vector) {
    case UK_EXC_PF:
    case UK_EXC_GP:
    case UK_EXC_DF:
        return SIGSEGV;
    case UK_EXC_DE:
        return SIGFPE;
    case UK_EXC_UD:
        return SIGILL;
    default:
        return SIGTRAP;
    }
}

static void fill_prstatus(struct elf_prstatus *p, const struct crash_thread *t, int sig)
{
    struct user_regs_struct r = {0};
    const struct uk_trap_frame *f = &t->regs;
    memset(p, 0, sizeof(*p));
    p->pr_info.si_signo = sig;
    p->pr_cursig = (short)sig;
    p->pr_pid = (pid_t)t->tid;
    r.r15 = f->r15, r.r14 = f->r14, r.r13 = f->r13, r.r12 = f->r12;
    r.rbp = f->rbp, r.rbx = f->rbx, r.r11 = f->r11, r.r10 = f->r10;
    r.r9 = f->r9, r.r8 = f->r8, r.rax = f->rax, r.rcx = f->rcx;
    r.rdx = f->rdx, r.rsi = f->rsi, r.rdi = f->rdi, r.orig_rax = (unsigned long long)-1;
    r.rip = f->rip, r.cs = f->cs, r.eflags = f->rflags, r.rsp = f->rsp, r.ss = f->ss;
    memcpy(&p->pr_reg, &r, sizeof(r));
}

/* Append one note (header, padded name, padded desc) to buf at *off. */
static void put_note(uint8_t *buf, size_t *off, const char *name, uint32_t type, const void *desc,
                     size_t dlen)
{
    Elf64_Nhdr h = {.n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = (uint32_t)dlen,
                    .n_type = type};
    memcpy(buf + *off, &h, sizeof(h));
    *off += sizeof(h);
    memset(buf + *off, 0, ALIGN4(h.n_namesz));
    memcpy(buf + *off, name, h.n_namesz);
    *off += ALIGN4(h.n_namesz);
    memset(buf + *off, 0, ALIGN4(dlen));
    memcpy(buf + *off, desc, dlen);
    *off += ALIGN4(dlen);
}

static size_t note_size(const char *name, size_t dlen)
{
    return sizeof(Elf64_Nhdr) + ALIGN4(strlen(name) + 1) + ALIGN4(dlen);
}

static int write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len) {
        ssize_t n = write(fd, b, len > (1 << 20) ? (1 << 20) : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * NT_FILE: kernel.elf's segments as file-backed mappings, as Linux writes
 * them for an executable.  lldb needs a Linux-style note to accept the core
 * at all; elfutils and lldb use it to name the module.
 */
static size_t file_note(const struct crash_layout *lay, const char *image, uint64_t hdr_va,
                        uint8_t *out)
{
    size_t h = hdr_va ? 1 : 0, n = h + lay->nlseg, nl = strlen(image) + 1;
    size_t len = 16 + n * 24 + n * nl;
    if (!out)
        return len;
    uint64_t *w = (uint64_t *)out;
    w[0] = n;
    w[1] = 1; /* offsets in bytes (page size 1): our segments are not page-aligned in the file */
    if (h) { /* the header page (corehdr.c): the file from offset 0 */
        w[2] = hdr_va;
        w[3] = hdr_va + PAGE;
        w[4] = 0;
    }
    for (size_t i = 0; i < lay->nlseg; i++) {
        w[2 + 3 * (h + i)] = lay->lseg[i].addr;
        w[3 + 3 * (h + i)] = lay->lseg[i].addr + lay->lseg[i].len;
        w[4 + 3 * (h + i)] = lay->lseg[i].offset;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(out + 16 + n * 24 + i * nl, image, nl);
    return len;
}

long crash_core_write(int fd, const struct crash_state *st, const struct crash_mem *m,
                      const struct crash_layout *lay, const struct crash_meta *meta, char *err,
                      size_t errlen)
{
    long ret = -1;
    uint8_t *notes = NULL;
    Elf64_Phdr *ph = NULL;
    char *json = crash_meta_json(st, lay, meta);
    struct elf_prpsinfo ps;
    static const uint8_t zero[PAGE];
    uint8_t hdr[PAGE];
    uint64_t hdr_va = 0;
    bool has_hdr = crash_hdr_page(st, lay, &hdr_va, hdr);
    unsigned nph = 1 + st->nregions + has_hdr, nseg = st->nregions + has_hdr;
    struct seg {
        uint64_t addr, len;
        const uint8_t *src;
    } *seg = calloc(nseg + 1, sizeof(*seg));

    if (!json) {
        snprintf(err, errlen, "Failed to format the metadata note");
        goto cleanup;
    }
    memset(&ps, 0, sizeof(ps));
    ps.pr_sname = 'R';
    ps.pr_pid = 1;
    /* gdb compares pr_fname with the executable's name: use the image's;
     * the instance name leads the command line ("Core was generated by"). */
    const char *img = meta->image && strrchr(meta->image, '/') ? strrchr(meta->image, '/') + 1
                                                              : "kernel.elf";
    snprintf(ps.pr_fname, sizeof(ps.pr_fname), "%s", img);
    snprintf(ps.pr_psargs, sizeof(ps.pr_psargs), "%s [%s] %s", img, meta->name ? meta->name : "",
             meta->cmdline ? meta->cmdline : "");

    const char *image = meta->image && meta->image[0] ? meta->image : "kernel.elf";
    /* An FXSAVE image at reset values (we have no FPU state: the kernel runs
     * -mgeneral-regs-only).  As a "LINUX" note it also tells lldb the core
     * is Linux-style: lldb refuses a core whose OS it cannot tell. */
    uint8_t fx[512] = {0};
    fx[0] = 0x7f, fx[1] = 0x03;               /* FCW 0x37f */
    fx[24] = 0x80, fx[25] = 0x1f;             /* MXCSR 0x1f80 */
    /* NT_AUXV as the ELF loader would have left it for a static executable
     * mapped from file offset 0: tools find the executable's entry and
     * program headers (load bias 0) through it. */
    uint64_t phdr = lay->nlseg ? lay->lseg[0].addr - lay->lseg[0].offset + lay->phoff : 0;
    uint64_t phnum = lay->phnum;
    if (has_hdr) { /* the header page's own program headers */
        phdr = hdr_va + ((const Elf64_Ehdr *)hdr)->e_phoff;
        phnum = ((const Elf64_Ehdr *)hdr)->e_phnum;
    }
    uint64_t auxv[] = {AT_PHDR, phdr, AT_PHENT, sizeof(Elf64_Phdr), AT_PHNUM, phnum,
                       AT_PAGESZ, PAGE, AT_BASE, 0, AT_ENTRY, lay->entry, AT_NULL, 0};
    size_t flen = file_note(lay, image, hdr_va, NULL);
    uint8_t *fdesc = calloc(1, flen);
    size_t nlen = note_size("CORE", sizeof(ps)) + note_size(CRASH_NOTE_NAME, strlen(json) + 1) +
                  note_size("CORE", flen) + note_size("LINUX", sizeof(fx)) +
                  note_size("CORE", sizeof(auxv)) +
                  st->nthreads * note_size("CORE", sizeof(struct elf_prstatus));
    notes = malloc(nlen);
    ph = calloc(nph, sizeof(*ph));
    if (!notes || !ph || !fdesc || !seg) {
        free(fdesc);
        snprintf(err, errlen, "Failed to allocate the core's headers");
        goto cleanup;
    }
    size_t off = 0;
    put_note(notes, &off, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
    put_note(notes, &off, CRASH_NOTE_NAME, CRASH_NOTE_META, json, strlen(json) + 1);
    file_note(lay, image, hdr_va, fdesc);
    put_note(notes, &off, "CORE", NT_FILE, fdesc, flen);
    put_note(notes, &off, "LINUX", NT_PRXFPREG, fx, sizeof(fx));
    put_note(notes, &off, "CORE", NT_AUXV, auxv, sizeof(auxv));
    free(fdesc);
    /* The panicking thread first: gdb and drgn take the first as current. */
    int sig = signal_of(st);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < st->nthreads; i++) {
            bool first = (int)i == st->fault_index;
            if ((pass == 0) != first)
                continue;
            struct elf_prstatus p;
            fill_prstatus(&p, &st->threads[i], first ? sig : 0);
            put_note(notes, &off, "CORE", NT_PRSTATUS, &p, sizeof(p));
        }

    Elf64_Ehdr eh = {.e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                     .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
                     .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (Elf64_Half)nph};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ident[EI_OSABI] = ELFOSABI_NONE;

    uint64_t pos = sizeof(eh) + nph * sizeof(Elf64_Phdr);
    ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = pos, .p_filesz = off, .p_align = 4};
    pos += off;
    /* Guest memory regions, with the header page in address order. */
    for (unsigned i = 0, k = 0; i < st->nregions || k < nseg; k++) {
        const struct crash_region *r = i < st->nregions ? &st->regions[i] : NULL;
        if (has_hdr && (!r || hdr_va < r->addr)) {
            seg[k] = (struct seg){hdr_va, PAGE, hdr};
            has_hdr = false;
            continue;
        }
        /* Regions were clamped to m; check again rather than trust that. */
        if (r->addr > m->size || r->len > m->size - r->addr) {
            snprintf(err, errlen, "Failed to write region 0x%llx: outside RAM",
                     (unsigned long long)r->addr);
            goto cleanup;
        }
        seg[k] = (struct seg){r->addr, r->len, m->base + r->addr};
        i++;
    }
    for (unsigned i = 0; i < nseg; i++) {
        pos += (seg[i].addr - pos) & (PAGE - 1); /* offset == vaddr mod page */
        ph[1 + i] = (Elf64_Phdr){.p_type = PT_LOAD,
                                 .p_flags = seg[i].src == hdr ? PF_R : PF_R | PF_W,
                                 .p_offset = pos, .p_vaddr = seg[i].addr, .p_paddr = seg[i].addr,
                                 .p_filesz = seg[i].len, .p_memsz = seg[i].len, .p_align = PAGE};
        pos += seg[i].len;
    }
    if (write_all(fd, &eh, sizeof(eh)) || write_all(fd, ph, nph * sizeof(*ph)) ||
        write_all(fd, notes, off))
        goto io_error;
    pos = sizeof(eh) + nph * sizeof(*ph) + off;
    for (unsigned i = 0; i < nseg; i++) {
        uint64_t pad = ph[1 + i].p_offset - pos;
        if (write_all(fd, zero, pad) || write_all(fd, seg[i].src, seg[i].len))
            goto io_error;
        pos += pad + seg[i].len;
    }
    ret = (long)pos;
    goto cleanup;
io_error:
    snprintf(err, errlen, "Failed to write the core: %s", strerror(errno ? errno : EIO));
cleanup:
    free(json);
    free(notes);
    free(ph);
    free(seg);
    return ret;
}
