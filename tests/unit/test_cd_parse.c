/*
 * Parsers of the fleet tools' untrusted JSON: instance.json's descriptive
 * keys (host-collector/lib/inst_meta.c) and the body of ukcollectd's POST
 * /api/v1/instances (collectd/apibody.c).  Negative cases first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cd.h"
#include "lib/inst_meta.h"

static int meta(const char *s, struct inst_meta *m)
{
    char err[256];
    return inst_meta_parse(s, strlen(s), m, err, sizeof(err));
}

static void test_meta_rejects(void **state)
{
    struct inst_meta m;
    (void)state;
    assert_int_equal(meta("", &m), -1);
    assert_int_equal(meta("not json", &m), -1);
    assert_int_equal(meta("[1,2]", &m), -1);
    assert_int_equal(meta("{\"pid\":1}", &m), -1);              /* no name */
    assert_int_equal(meta("{\"name\":5}", &m), -1);             /* name not a string */
    assert_int_equal(meta("{\"name\":\"a\",\"name\":\"b\"}", &m), -1); /* duplicate key */
    char longname[200];
    snprintf(longname, sizeof(longname), "{\"name\":\"%0100d\"}", 0);
    assert_int_equal(meta(longname, &m), -1);
}

static void test_meta_cleans(void **state)
{
    struct inst_meta m;
    (void)state;
    assert_int_equal(meta("{\"name\":\"a\\u0001b\",\"smp\":-3,\"mem_mib\":\"x\",\"accel\":7,"
                          "\"ports\":[{\"host\":0,\"guest\":80},{\"host\":70000,\"guest\":1},"
                          "{\"host\":1234,\"guest\":8080},\"junk\"],\"image\":\"/k\"}", &m), 0);
    assert_string_equal(m.name, "a?b");
    assert_int_equal(m.smp, 0);
    assert_int_equal(m.mem_mib, 0);
    assert_string_equal(m.accel, "");
    assert_int_equal(m.nports, 1);
    assert_int_equal(inst_meta_host_port(&m, 8080), 1234);
    assert_int_equal(inst_meta_host_port(&m, 80), 0);
    assert_false(inst_name_ok("a?b"));
    assert_false(inst_name_ok(".."));
    assert_false(inst_name_ok(""));
    assert_false(inst_name_ok("a/b"));
    assert_true(inst_name_ok("web-1.prod_2"));
}

static int create(const char *s, char name[64], struct inst_spec *sp)
{
    char err[256];
    return api_parse_create(s, strlen(s), name, sp, err, sizeof(err));
}

static void test_create_rejects(void **state)
{
    struct inst_spec sp;
    char name[64];
    (void)state;
    assert_int_equal(create("", name, &sp), -1);
    assert_int_equal(create("[]", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\"}", name, &sp), -1);                   /* no image */
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"rel/k.elf\"}", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"mem_mib\":8}", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"smp\":17}", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"smp\":\"2\"}", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"restart\":\"sometimes\"}", name,
                            &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"accel\":\"xen\"}", name, &sp), -1);
    assert_int_equal(create("{\"name\":\"a\",\"image\":\"/k\",\"cmdline\":\"x\\ny\"}", name, &sp),
                     -1);
    char big[200];
    snprintf(big, sizeof(big), "{\"name\":\"%070d\",\"image\":\"/k\"}", 0);
    assert_int_equal(create(big, name, &sp), -1);
}

static void test_create_accepts(void **state)
{
    struct inst_spec sp;
    char name[64];
    (void)state;
    assert_int_equal(create("{\"name\":\"web-1\",\"image\":\"/srv/k.elf\"}", name, &sp), 0);
    assert_string_equal(name, "web-1");
    assert_int_equal(sp.mem_mib, 128);
    assert_int_equal(sp.smp, 1);
    assert_int_equal(sp.policy, RP_NO);
    assert_string_equal(sp.accel, "auto");
    assert_int_equal(create("{\"name\":\"w\",\"image\":\"/k\",\"mem_mib\":32,\"smp\":2,"
                            "\"restart\":\"on-failure\",\"accel\":\"tcg\",\"cmdline\":\"a=b\"}",
                            name, &sp), 0);
    assert_int_equal(sp.policy, RP_ON_FAILURE);
    assert_int_equal(sp.mem_mib, 32);
    assert_string_equal(sp.cmdline, "a=b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_rejects),
        cmocka_unit_test(test_meta_cleans),
        cmocka_unit_test(test_create_rejects),
        cmocka_unit_test(test_create_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
