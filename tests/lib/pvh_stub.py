"""Generate a minimal PVH-bootable ELF64 image, with no toolchain.

The image has two program headers:

  PT_LOAD  file offset 0 -> physical/virtual 0x100000 (headers + code + message)
  PT_NOTE  4-byte aligned Xen note: namesz 4 "Xen\\0", descsz 4,
           type 18 (XEN_ELFNOTE_PHYS32_ENTRY), desc = 32-bit entry address

The 32-bit code (entered in protected mode, paging off, flat segments, as
PVH specifies) writes `message` byte by byte to COM1 (port 0x3f8), then,
unless `status` is None, writes `status` to port 0xf4 with `out %eax,%dx`
(isa-debug-exit,iobase=0xf4,iosize=4: QEMU exits with 2*status+1), then
halts forever.  With status=None the VM just halts and keeps running, which
is what tests of timeouts and of boot(until=...) want.

    python3 tests/lib/pvh_stub.py out.elf --message 'hello\\n' --status 3

or from Python: write_pvh_elf(path, b"hello\\n", status=3).
"""

import argparse
import struct

LOAD_ADDR = 0x100000
CODE_OFFSET = 0x100  # file offset of the entry point (after the headers and the note)

PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4
XEN_ELFNOTE_PHYS32_ENTRY = 18
EM_X86_64 = 62

COM1 = 0x3F8
DEBUG_EXIT_PORT = 0xF4


def _code(msg_addr, status):
    """32-bit machine code; jumps are relative, so only msg_addr is absolute."""
    c = bytearray()
    c += b"\xfa"                                 # cli
    c += b"\xfc"                                 # cld
    c += b"\x66\xba" + struct.pack("<H", COM1)   # mov $0x3f8, %dx
    c += b"\xbe" + struct.pack("<I", msg_addr)   # mov $msg, %esi
    loop = len(c)
    c += b"\xac"                                 # 1: lodsb
    c += b"\x84\xc0"                             # test %al, %al
    c += b"\x74\x03"                             # jz 2f  (skips the next 3 bytes)
    c += b"\xee"                                 # out %al, %dx
    c += b"\xeb" + struct.pack("<b", loop - (len(c) + 2))  # jmp 1b
    if status is not None:                       # 2:
        c += b"\x66\xba" + struct.pack("<H", DEBUG_EXIT_PORT)  # mov $0xf4, %dx
        c += b"\xb8" + struct.pack("<I", status & 0xFFFFFFFF)  # mov $status, %eax
        c += b"\xef"                             # out %eax, %dx
    halt = len(c)
    c += b"\xfa\xf4"                             # 3: cli; hlt
    c += b"\xeb" + struct.pack("<b", halt - (len(c) + 2))  # jmp 3b
    return bytes(c)


def make_pvh_elf(message=b"pvh stub\n", status=0):
    """Return the bytes of the ELF image.  message: str or bytes (no NUL);
    status: int written to port 0xf4, or None to halt without exiting."""
    if isinstance(message, str):
        message = message.encode()
    if b"\0" in message:
        raise ValueError("message must not contain NUL bytes")

    ehdr_size, phdr_size, phnum = 64, 56, 2
    note_off = ehdr_size + phnum * phdr_size          # 0xb0, 4-byte aligned
    note = struct.pack("<III", 4, 4, XEN_ELFNOTE_PHYS32_ENTRY) + b"Xen\0"
    entry = LOAD_ADDR + CODE_OFFSET
    note += struct.pack("<I", entry)
    assert note_off % 4 == 0 and note_off + len(note) <= CODE_OFFSET

    # The message follows the code; the code's size does not depend on its address.
    code_len = len(_code(0, status))
    msg_addr = entry + code_len
    code = _code(msg_addr, status)
    body = code + message + b"\0"

    image_size = CODE_OFFSET + len(body)
    ehdr = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,         # ELFCLASS64, little endian, v1, SysV
        2, EM_X86_64, 1,                               # ET_EXEC, x86_64, EV_CURRENT
        entry, ehdr_size, 0,                           # e_entry, e_phoff, e_shoff
        0, ehdr_size, phdr_size, phnum, 64, 0, 0)      # flags, sizes, no sections
    load = struct.pack("<IIQQQQQQ", PT_LOAD, PF_R | PF_W | PF_X, 0,
                       LOAD_ADDR, LOAD_ADDR, image_size, image_size, 0x1000)
    pnote = struct.pack("<IIQQQQQQ", PT_NOTE, PF_R, note_off,
                        LOAD_ADDR + note_off, LOAD_ADDR + note_off, len(note), len(note), 4)

    img = bytearray(ehdr + load + pnote)
    img += note
    img += b"\0" * (CODE_OFFSET - len(img))
    img += body
    assert len(img) == image_size
    return bytes(img)


def write_pvh_elf(path, message=b"pvh stub\n", status=0):
    data = make_pvh_elf(message, status)
    with open(path, "wb") as f:
        f.write(data)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("--message", default="pvh stub\\n",
                    help="text printed on COM1 (backslash escapes are interpreted)")
    ap.add_argument("--status", default="0",
                    help="value written to port 0xf4, or 'none' to halt without exiting")
    a = ap.parse_args()
    msg = a.message.encode().decode("unicode_escape").encode("latin-1")
    status = None if a.status.lower() == "none" else int(a.status, 0)
    write_pvh_elf(a.output, msg, status)


if __name__ == "__main__":
    main()
