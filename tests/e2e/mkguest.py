#!/usr/bin/env python3
"""Emit a minimal PVH ELF64 test guest for `ukctl run` tests.

The guest is entered by QEMU in 32-bit protected mode (PVH boot, paging off)
at the address given by the XEN_ELFNOTE_PHYS32_ENTRY note.  It optionally
writes a string to COM1 (port 0x3f8), optionally signals pvpanic (port 0x505,
value 1), then writes STATUS to isa-debug-exit (port 0xf4, 32-bit write) and
halts forever (in case isa-debug-exit is absent, or after pvpanic pauses).

Usage: mkguest.py OUT [--status N] [--say TEXT] [--panic] [--hang]
  --hang   loop forever (hlt) without exiting; for --detach tests.
"""
import argparse
import struct
import sys

LOAD_ADDR = 0x100000
CODE_OFF = 0x1000  # file offset of the PT_LOAD segment (page aligned)
XEN_ELFNOTE_PHYS32_ENTRY = 18


def guest_code(status, say=b"", panic=False, hang=False):
    """32-bit machine code for the guest body."""
    code = bytearray()
    if say:
        code += b"\x66\xba\xf8\x03"  # mov $0x3f8, %dx
        for byte in say:
            code += bytes([0xB0, byte])  # mov $byte, %al
            code += b"\xee"  # out %al, %dx
    if panic:
        code += b"\x66\xba\x05\x05"  # mov $0x505, %dx
        code += b"\xb0\x01"  # mov $1, %al  (PVPANIC_PANICKED)
        code += b"\xee"  # out %al, %dx
    if not hang:
        code += b"\xb8" + struct.pack("<I", status & 0xFFFFFFFF)  # mov $status, %eax
        code += b"\xe7\xf4"  # out %eax, $0xf4
    code += b"\xfa"  # cli
    code += b"\xf4"  # 1: hlt
    code += b"\xeb\xfd"  # jmp 1b
    return bytes(code)


def build_elf(code):
    ehsize, phentsize, phnum = 64, 56, 2
    note_off = ehsize + phentsize * phnum  # 176, 4-byte aligned
    name = b"Xen\0"
    desc = struct.pack("<I", LOAD_ADDR)
    note = struct.pack("<III", len(name), len(desc), XEN_ELFNOTE_PHYS32_ENTRY) + name + desc
    assert note_off % 4 == 0 and note_off + len(note) <= CODE_OFF

    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELF64, LE, v1, SysV
    ehdr = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # ET_EXEC
        62,  # EM_X86_64
        1,  # EV_CURRENT
        LOAD_ADDR,  # e_entry
        ehsize,  # e_phoff
        0,  # e_shoff
        0,  # e_flags
        ehsize,
        phentsize,
        phnum,
        64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    ph_note = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    ph_load = struct.pack(
        "<IIQQQQQQ", 1, 5, CODE_OFF, LOAD_ADDR, LOAD_ADDR, len(code), len(code), 0x1000
    )
    out = bytearray(ehdr + ph_note + ph_load + note)
    out += bytes(CODE_OFF - len(out))
    out += code
    return bytes(out)


def make_guest(path, status=0, say="", panic=False, hang=False):
    """Write the guest image to path (str or Path); returns path."""
    data = build_elf(guest_code(status, say.encode() if isinstance(say, str) else say, panic, hang))
    with open(path, "wb") as f:
        f.write(data)
    return path


def main(argv):
    ap = argparse.ArgumentParser(description="emit a tiny PVH test guest")
    ap.add_argument("out")
    ap.add_argument("--status", type=int, default=0)
    ap.add_argument("--say", default="")
    ap.add_argument("--panic", action="store_true")
    ap.add_argument("--hang", action="store_true")
    a = ap.parse_args(argv)
    make_guest(a.out, a.status, a.say, a.panic, a.hang)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
