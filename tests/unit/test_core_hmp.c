/*
 * Unit tests: parsing QEMU's `info registers -a` (host-collector/crash/hmp.c),
 * the vCPU registers of a live dump: a real QEMU 7.2 sample, and damaged
 * text (truncated blocks, missing registers, absurd or repeated CPU numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crash/crash.h"

static const char sample[] =
    "\nCPU#0\n"
    "RAX=000000000000018e RBX=00000000001db140 RCX=000000000000018f RDX=00000000001db142\n"
    "RSI=0000000000000001 RDI=00000000001db140 RBP=00000000003e7ef0 RSP=00000000003e7ee0\n"
    "R8 =000000000074066c R9 =00000000c6376092 R10=0000000000000040 R11=00000000002b37a0\n"
    "R12=000000000012dab0 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\n"
    "RIP=0000000000106462 RFL=00000097 [--S-APC] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
    "CS =0008 0000000000000000 ffffffff 00af9a00 DPL=0 CS64 [-R-]\n"
    "CR0=80010011 CR2=0000000000000000 CR3=0000000000214000 CR4=000000a0\n"
    "CPU#1\n"
    "RAX=0000000000000001 RBX=0000000000000002 RCX=0000000000000003 RDX=0000000000000004\n"
    "RSI=0000000000000005 RDI=0000000000000006 RBP=0000000000000007 RSP=0000000000000008\n"
    "R8 =0000000000000009 R9 =000000000000000a R10=000000000000000b R11=000000000000000c\n"
    "R12=000000000000000d R13=000000000000000e R14=000000000000000f R15=0000000000000010\n"
    "RIP=0000000000000011 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\n";

static void test_sample(void **state)
{
    struct crash_vcpus v;
    assert_int_equal(crash_parse_vcpus(sample, &v), 2);
    assert_int_equal(v.n, 2);
    assert_true(v.valid[0] && v.valid[1]);
    assert_int_equal(v.regs[0].rip, 0x106462);
    assert_int_equal(v.regs[0].rsp, 0x3e7ee0);
    assert_int_equal(v.regs[0].r8, 0x74066c);
    assert_int_equal(v.regs[0].rflags, 0x97);
    assert_int_equal(v.regs[1].r15, 0x10);
    assert_int_equal(v.regs[1].rip, 0x11);
}

static void test_damaged(void **state)
{
    struct crash_vcpus v;
    char buf[sizeof(sample)];
    assert_int_equal(crash_parse_vcpus(NULL, &v), 0);
    assert_int_equal(crash_parse_vcpus("", &v), 0);
    assert_int_equal(crash_parse_vcpus("CPU#", &v), 0);
    assert_int_equal(crash_parse_vcpus("CPU#99999999999999999999\nRAX=1", &v), 0);
    /* truncated inside CPU#1: only CPU#0 is complete */
    memcpy(buf, sample, sizeof(buf));
    buf[strstr(sample, "CPU#1") - sample + 100] = 0;
    assert_int_equal(crash_parse_vcpus(buf, &v), 1);
    assert_false(v.valid[1]);
    /* a register missing from CPU#0 */
    memcpy(buf, sample, sizeof(buf));
    memcpy(strstr(buf, "RIP="), "XIP=", 4);
    assert_int_equal(crash_parse_vcpus(buf, &v), 1);
    assert_false(v.valid[0]);
    assert_true(v.valid[1]);
    /* a repeated, damaged CPU#1 block does not spoil the good one */
    char big[sizeof(sample) + 32];
    snprintf(big, sizeof(big), "%sCPU#1\nRAX=5\n", sample);
    assert_int_equal(crash_parse_vcpus(big, &v), 2);
    assert_int_equal(v.regs[1].rip, 0x11);
    /* an out-of-range CPU number */
    assert_int_equal(crash_parse_vcpus("CPU#16\nRAX=1 RBX=1", &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
