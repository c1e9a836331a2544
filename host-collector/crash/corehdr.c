/*
 * The image's ELF header page in a core, for elfutils.
 *
 * libdwfl (eu-stack, eu-unstrip, and drgn's userspace path) finds the
 * modules of a core by their ELF header in memory: a core PT_LOAD must start
 * with an ELF header whose program headers hold a PT_LOAD at file offset 0
 * (that gives the load bias), and an NT_FILE mapping starting there at
 * offset 0 names the file.  Our kernel's header is not loaded into guest
 * RAM at all (its first PT_LOAD starts at file offset 0x1000), so the core
 * gets a synthetic page where a loader would have mapped it (first
 * PT_LOAD's address minus its offset): the image's ELF header, program
 * headers that add that page as a PT_LOAD, and a PT_NOTE holding the image's
 * GNU build-id (libdwfl checks it against the file on disk).
 */
#include <elf.h>
#include <string.h>

#include "crash.h"

#define HDR_PAGE 4096ULL
#define HDR_NOTE_OFF 0x800 /* the build-id note, inside the page */

bool crash_hdr_page(const struct crash_state *st, const struct crash_layout *lay, uint64_t *va,
                    uint8_t page[4096])
{
    if (!lay->nlseg || lay->lseg[0].offset < HDR_PAGE || lay->nlseg > CRASH_MAX_SEGS)
        return false;
    uint64_t base = lay->lseg[0].addr - lay->lseg[0].offset;
    if ((base & (HDR_PAGE - 1)) || lay->lseg[0].addr < lay->lseg[0].offset)
        return false;
    /* Never over guest memory the core holds (a full core has all RAM). */
    for (unsigned i = 0; i < st->nregions; i++)
        if (st->regions[i].addr < base + HDR_PAGE &&
            base < st->regions[i].addr + st->regions[i].len)
            return false;

    unsigned nph = 1 + (lay->build_id_len ? 1 : 0) + lay->nlseg;
    Elf64_Ehdr eh = {.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                     .e_entry = lay->entry, .e_phoff = sizeof(Elf64_Ehdr),
                     .e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
                     .e_phnum = (Elf64_Half)nph};
    Elf64_Phdr ph[2 + CRASH_MAX_SEGS];
    unsigned n = 0;

    memset(page, 0, HDR_PAGE);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    ph[n++] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R, .p_offset = 0, .p_vaddr = base,
                           .p_paddr = base, .p_filesz = HDR_PAGE, .p_memsz = HDR_PAGE,
                           .p_align = HDR_PAGE};
    if (lay->build_id_len) {
        Elf64_Nhdr nh = {.n_namesz = 4, .n_descsz = lay->build_id_len, .n_type = NT_GNU_BUILD_ID};
        memcpy(page + HDR_NOTE_OFF, &nh, sizeof(nh));
        memcpy(page + HDR_NOTE_OFF + sizeof(nh), "GNU", 4);
        memcpy(page + HDR_NOTE_OFF + sizeof(nh) + 4, lay->build_id_raw, lay->build_id_len);
        ph[n++] = (Elf64_Phdr){.p_type = PT_NOTE, .p_flags = PF_R, .p_offset = HDR_NOTE_OFF,
                               .p_vaddr = base + HDR_NOTE_OFF, .p_paddr = base + HDR_NOTE_OFF,
                               .p_filesz = sizeof(nh) + 4 + lay->build_id_len,
                               .p_memsz = sizeof(nh) + 4 + lay->build_id_len, .p_align = 4};
    }
    for (unsigned i = 0; i < lay->nlseg; i++)
        ph[n++] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R, .p_offset = lay->lseg[i].offset,
                               .p_vaddr = lay->lseg[i].addr, .p_paddr = lay->lseg[i].addr,
                               .p_filesz = lay->lseg[i].len, .p_memsz = lay->lseg[i].len,
                               .p_align = HDR_PAGE};
    memcpy(page, &eh, sizeof(eh));
    memcpy(page + sizeof(eh), ph, n * sizeof(ph[0]));
    *va = base;
    return true;
}
