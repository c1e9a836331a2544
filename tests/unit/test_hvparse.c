/* hostview's text parsers: QEMU thread names, /proc schedstat and stat,
 * histogram bounds, exit-reason names (host-collector/bpf/hvparse.c,
 * hvexit.c).  Negative cases first: these read text other processes set. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bpf/hvuser.h"

static int comm(const char *s, char accel[4])
{
    return hv_parse_vcpu_comm(s, strlen(s), accel);
}

static void test_vcpu_comm(void **st)
{
    char a[4];
    assert_int_equal(comm("CPU 0/KVM", a), 0);
    assert_string_equal(a, "KVM");
    assert_int_equal(comm("CPU 15/TCG\n", a), 15);
    assert_string_equal(a, "TCG");
    assert_int_equal(comm("ALL CPUs/TCG", a), HV_ALL_VCPUS);
    assert_int_equal(hv_parse_vcpu_comm("CPU 3/KVM\0\0\0", 12, a), 3);
}

static void test_vcpu_comm_bad(void **st)
{
    static const char *const bad[] = {
        "qemu-system-x86", "call_rcu", "IO mon_iothread", "CPU /KVM", "CPU 1/KVMX",
        "CPU 1/kvm", "CPU -1/KVM", "CPU 01/KVM", "CPU 4096/KVM", "CPU 99999999999999999999/KVM",
        "CPU 1 /KVM", "cpu 1/KVM", "CPU 1/HVF", "CPU 1", "", "CPU 1/KV",
    };
    char a[4];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(comm(bad[i], a), HV_NOT_VCPU);
        assert_string_equal(a, "");
    }
    /* a length shorter than the text is honoured */
    assert_int_equal(hv_parse_vcpu_comm("CPU 1/KVM", 8, a), HV_NOT_VCPU);
}

static void test_schedstat(void **st)
{
    uint64_t r, w, n;
    const char *s = "1516853757 1183971027 852\n";
    assert_int_equal(hv_parse_schedstat(s, strlen(s), &r, &w, &n), 0);
    assert_true(r == 1516853757ULL && w == 1183971027ULL && n == 852);
    s = "18446744073709551615 0 0";
    assert_int_equal(hv_parse_schedstat(s, strlen(s), &r, &w, &n), 0);
    assert_true(r == UINT64_MAX);
}

static void test_schedstat_bad(void **st)
{
    static const char *const bad[] = {
        "", "1 2", "1 2 3 4", "1  2 3", " 1 2 3", "1 2 3\n\n", "1 2 x", "-1 2 3",
        "18446744073709551616 0 0", "1\t2\t3", "1 2 3 ",
    };
    uint64_t r = 7, w = 7, n = 7;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hv_parse_schedstat(bad[i], strlen(bad[i]), &r, &w, &n), -1);
    assert_true(r == 7 && w == 7 && n == 7); /* untouched on failure */
    assert_int_equal(hv_parse_schedstat("1 2 3", 3, &r, &w, &n), -1); /* length honoured */
}

static void test_stat_state(void **st)
{
    const char *s = "5709 (qemu-system-x86) R 1 5708";
    assert_int_equal(hv_parse_stat_state(s, strlen(s)), 'R');
    s = "12 (a) b) c) S 1 2"; /* comm with ") " inside: the last ')' ends it */
    assert_int_equal(hv_parse_stat_state(s, strlen(s)), 'S');
    s = "12 (x) D";
    assert_int_equal(hv_parse_stat_state(s, strlen(s)), 'D');
    static const char *const bad[] = {"", ")", "12 (x)", "12 (x)R", "12 x) R", "12 (x) RR",
                                      "12 (x) 1 2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hv_parse_stat_state(bad[i], strlen(bad[i])), 0);
}

static void test_buckets(void **st)
{
    assert_true(fabs(hv_bucket_le(0) - 1e-6) < 1e-12);
    assert_true(fabs(hv_bucket_le(1) - 2e-6) < 1e-12);
    assert_true(fabs(hv_bucket_le(10) - 1.024e-3) < 1e-12);
    assert_true(isinf(hv_bucket_le(HV_HIST_BUCKETS - 1)));
    for (unsigned b = 1; b + 1 < HV_HIST_BUCKETS; b++)
        assert_true(hv_bucket_le(b) > hv_bucket_le(b - 1));
}

static void test_exit_names(void **st)
{
    assert_string_equal(hv_exit_name(1, 12), "HLT");
    assert_string_equal(hv_exit_name(1, 30), "IO_INSTRUCTION");
    assert_string_equal(hv_exit_name(1, 0x80000000u | 48), "EPT_VIOLATION"); /* flag bits */
    assert_string_equal(hv_exit_name(2, 0x78), "hlt");
    assert_string_equal(hv_exit_name(2, 0x400), "npf");
    assert_string_equal(hv_exit_name(HV_ISA_USER, 2), "IO");
    assert_string_equal(hv_exit_name(HV_ISA_USER, 6), "MMIO");
    assert_null(hv_exit_name(HV_ISA_USER, 9999));
    assert_string_equal(hv_exit_name(HV_ISA_EMUL, 0), "ok");
    assert_string_equal(hv_exit_name(HV_ISA_EMUL, 1), "failed");
    assert_null(hv_exit_name(1, 9999));
    assert_null(hv_exit_name(0, 12));
    assert_null(hv_exit_name(5, 12));
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_vcpu_comm),  cmocka_unit_test(test_vcpu_comm_bad),
        cmocka_unit_test(test_schedstat),  cmocka_unit_test(test_schedstat_bad),
        cmocka_unit_test(test_stat_state), cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_exit_names),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
