/*
 * QEMU fw_cfg (I/O port interface): the CPU count on machines without
 * firmware tables (microvm,acpi=off).
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"

enum {
    FW_CFG_PORT_SEL = 0x510,
    FW_CFG_PORT_DATA = 0x511,
    FW_CFG_SIGNATURE = 0x0000,
};

static void select_key(uint16_t key)
{
    outw(FW_CFG_PORT_SEL, key);
}

bool fw_cfg_present(void)
{
    select_key(FW_CFG_SIGNATURE);
    char sig[4];
    for (int i = 0; i < 4; i++)
        sig[i] = (char)inb(FW_CFG_PORT_DATA);
    return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}

uint32_t fw_cfg_read_u16(uint16_t key)
{
    select_key(key);
    uint32_t lo = inb(FW_CFG_PORT_DATA);
    uint32_t hi = inb(FW_CFG_PORT_DATA);
    return lo | (hi << 8);
}
