/* A fake arch backend and transport for the gdb protocol core (host tests
 * and fuzzing): 3 registers, 4 KiB of memory at 0x1000, threads 1, 2, 7. */
#ifndef GDB_FAKE_H
#define GDB_FAKE_H
#include "../../gdbstub/common/gdb_core.h"

#define FAKE_MEM_BASE 0x1000
#define FAKE_MEM_SIZE 4096

struct fake {
    uint8_t mem[FAKE_MEM_SIZE];
    uint64_t regs[3][8]; /* [reg][tid] */
    int bps[8][2];       /* type, addr of set breakpoints */
    unsigned nbps;
    char out[1 << 17]; /* everything the stub sent */
    size_t out_len;
    char last_monitor[256];
};

extern const struct gdb_arch_ops fake_arch;
extern const struct gdb_transport_ops fake_transport;
#endif
