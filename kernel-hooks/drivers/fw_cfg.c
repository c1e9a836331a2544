/*
 * QEMU fw_cfg (I/O port interface): the CPU count on machines without
 * firmware tables (microvm,acpi=off), and the control token, which ukctl
 * hands over as the fw_cfg file opt/ukscope/token so that it never appears
 * in QEMU's argv or the kernel command line (docs/security.md).  The
 * interface is QEMU's docs/specs/fw_cfg.rst: a 16-bit selector port and a
 * byte-wide data port that advances on each read; multi-byte fields of the
 * file directory are big-endian.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <string.h>
#include <uk/cmdline.h>
#include <uk/klog.h>

enum {
    FW_CFG_PORT_SEL = 0x510,
    FW_CFG_PORT_DATA = 0x511,
    FW_CFG_SIGNATURE = 0x0000,
    FW_CFG_FILE_DIR = 0x0019,
    FW_CFG_FILE_NAME_LEN = 56, /* struct FWCfgFile: size, select, reserved, name */
    FW_CFG_MAX_FILES = 1024,   /* sanity bound on a directory we walk byte by byte */
};

/* The token file ukctl passes (`-fw_cfg name=opt/ukscope/token,file=...`). */
#define FW_CFG_TOKEN_FILE "opt/ukscope/token"

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

static uint32_t read_be(unsigned bytes)
{
    uint32_t v = 0;
    while (bytes--)
        v = (v << 8) | inb(FW_CFG_PORT_DATA);
    return v;
}

/* Find `name` in the file directory: its selector and size, or false. */
static bool find_file(const char *name, uint16_t *select, uint32_t *size)
{
    select_key(FW_CFG_FILE_DIR);
    uint32_t count = read_be(4);
    if (count > FW_CFG_MAX_FILES)
        return false;
    for (uint32_t i = 0; i < count; i++) {
        char fname[FW_CFG_FILE_NAME_LEN];
        uint32_t sz = read_be(4);
        uint16_t sel = (uint16_t)read_be(2);
        (void)read_be(2); /* reserved */
        for (int j = 0; j < FW_CFG_FILE_NAME_LEN; j++)
            fname[j] = (char)inb(FW_CFG_PORT_DATA);
        fname[FW_CFG_FILE_NAME_LEN - 1] = '\0';
        if (strcmp(fname, name) == 0) {
            *select = sel;
            *size = sz;
            return true;
        }
    }
    return false;
}

void fw_cfg_load_secrets(void)
{
    char buf[UK_SECRET_MAX + 2]; /* room to tell "too long" from a trailing newline */
    uint16_t sel;
    uint32_t size;

    if (!fw_cfg_present() || !find_file(FW_CFG_TOKEN_FILE, &sel, &size))
        return;
    uint32_t n = size < sizeof(buf) ? size : sizeof(buf);
    select_key(sel);
    for (uint32_t i = 0; i < n; i++)
        buf[i] = (char)inb(FW_CFG_PORT_DATA);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--; /* a token file written by hand ends with a newline */
    if (size > sizeof(buf) || n == 0 || uk_cmdline_set("token", buf, n) != UK_OK) {
        uk_warn("fw_cfg %s: ignored (want 1..%d printable ASCII characters)", FW_CFG_TOKEN_FILE,
                UK_SECRET_MAX);
    } else {
        uk_info("control token from fw_cfg %s", FW_CFG_TOKEN_FILE);
    }
    memset(buf, 0, sizeof(buf));
}
