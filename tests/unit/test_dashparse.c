/* The console's parsers of untrusted input (host-collector/collectd/dashparse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "dashparse.h"

static void accept_encoding(void **state)
{
    (void)state;
    assert_true(dash_accepts_gzip("gzip"));
    assert_true(dash_accepts_gzip("gzip, deflate, br"));
    assert_true(dash_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(dash_accepts_gzip(" GZIP ;q=0.5"));
    assert_true(dash_accepts_gzip("*"));
    assert_true(dash_accepts_gzip("gzip;q=0.001"));
    /* refusals and look-alikes */
    assert_false(dash_accepts_gzip(NULL));
    assert_false(dash_accepts_gzip(""));
    assert_false(dash_accepts_gzip("identity"));
    assert_false(dash_accepts_gzip("gzip;q=0"));
    assert_false(dash_accepts_gzip("gzip;q=0.000, deflate"));
    assert_false(dash_accepts_gzip("deflate, gzip; q=0"));
    assert_false(dash_accepts_gzip("x-gzip-not, gzipx"));
    assert_false(dash_accepts_gzip("*;q=0"));
    assert_false(dash_accepts_gzip("*, gzip;q=0")); /* an explicit refusal wins */
    assert_false(dash_accepts_gzip(";;;,,,"));
}

static void content_type(void **state)
{
    (void)state;
    assert_string_equal(dash_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(dash_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(dash_content_type("uPlot.min.css"), "text/css; charset=utf-8");
    assert_null(dash_content_type(""));
    assert_null(dash_content_type(".app.js"));
    assert_null(dash_content_type("../app.js"));
    assert_null(dash_content_type("a/app.js"));
    assert_null(dash_content_type("app.js.gz"));
    assert_null(dash_content_type("app"));
    assert_null(dash_content_type("app.js%00"));
    assert_null(dash_content_type("token"));
    char long_name[80];
    memset(long_name, 'a', sizeof(long_name));
    strcpy(long_name + 70, ".js");
    assert_null(dash_content_type(long_name));
}

static void bundle_id(void **state)
{
    (void)state;
    assert_true(dash_bundle_id_ok("20261129T103828Z-demo-a"));
    assert_true(dash_bundle_id_ok("x.y_z-1"));
    assert_false(dash_bundle_id_ok(""));
    assert_false(dash_bundle_id_ok("."));
    assert_false(dash_bundle_id_ok(".."));
    assert_false(dash_bundle_id_ok(".lock"));
    assert_false(dash_bundle_id_ok("images"));
    assert_false(dash_bundle_id_ok("a/../b"));
    assert_false(dash_bundle_id_ok("a b"));
    assert_false(dash_bundle_id_ok("a\\b"));
}

static void vcpu_tids(void **state)
{
    int tid[4];
    (void)state;
    json_t *j = json_loads("[{\"cpu-index\":1,\"thread-id\":200},{\"cpu-index\":0,\"thread-id\":100},"
                           "{\"cpu-index\":9,\"thread-id\":900},{\"cpu-index\":-1,\"thread-id\":5},"
                           "{\"cpu-index\":2,\"thread-id\":0},{\"cpu-index\":\"3\",\"thread-id\":3},"
                           "{\"cpu-index\":3,\"thread-id\":4294967296},7,null]", 0, NULL);
    assert_non_null(j);
    assert_int_equal(dash_vcpu_tids(j, tid, 4), 2);
    assert_int_equal(tid[0], 100);
    assert_int_equal(tid[1], 200);
    assert_int_equal(tid[2], 0);
    assert_int_equal(tid[3], 0);
    json_decref(j);
    j = json_loads("{\"cpu-index\":0,\"thread-id\":1}", 0, NULL);
    assert_int_equal(dash_vcpu_tids(j, tid, 4), 0);
    assert_int_equal(dash_vcpu_tids(NULL, tid, 4), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_encoding), cmocka_unit_test(content_type),
        cmocka_unit_test(bundle_id),
        cmocka_unit_test(vcpu_tids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
