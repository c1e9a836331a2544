/*
 * Unit tests: the QMP client fed canned byte streams through a socketpair
 * (the test plays QEMU).  Checks exact return codes for good and bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": [\"oob\"]}}\n"

struct fixture {
    struct qmp q;
    int peer; /* the "QEMU" end */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int sv[2];

    if (!f || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    qmp_init(&f->q, sv[0]);
    f->peer = sv[1];
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    qmp_close(&f->q);
    if (f->peer >= 0)
        close(f->peer);
    free(f);
    return 0;
}

static void put(struct fixture *f, const char *s)
{
    assert_int_equal(write(f->peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read what the client sent, up to and including a newline. */
static void expect_sent(struct fixture *f, const char *want)
{
    char buf[512];
    size_t n = 0;

    while (n < sizeof(buf) - 1) {
        assert_int_equal(read(f->peer, buf + n, 1), 1);
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_greeting_and_messages(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    put(f, GREETING "{\"return\": {}}\r\n\n"
                    "{\"event\": \"STOP\", \"timestamp\": {}}\n"
                    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    assert_int_equal(m.kind, QMP_MSG_GREETING);
    qmp_msg_clear(&m);
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    assert_int_equal(m.kind, QMP_MSG_RETURN);
    qmp_msg_clear(&m);
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    assert_int_equal(m.kind, QMP_MSG_EVENT);
    assert_string_equal(m.event, "STOP");
    qmp_msg_clear(&m);
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    assert_int_equal(m.kind, QMP_MSG_ERROR);
    qmp_msg_clear(&m);
    assert_int_equal(qmp_read(&f->q, &m, 0), QMP_ERR_TIMEOUT);
}

static void test_handshake(void **state)
{
    struct fixture *f = *state;

    put(f, GREETING "{\"return\": {}}\n");
    assert_int_equal(qmp_handshake(&f->q, 1000), QMP_OK);
    expect_sent(f, "{\"execute\":\"qmp_capabilities\"}\n");
}

static void test_handshake_no_greeting(void **state)
{
    struct fixture *f = *state;

    put(f, "{\"return\": {}}\n");
    assert_int_equal(qmp_handshake(&f->q, 1000), QMP_ERR_PROTO);
    assert_string_equal(f->q.err, "expected QMP greeting");
}

static int events_seen;
static void count_event(void *ctx, const struct qmp_msg *msg)
{
    if (!strcmp(msg->event, (const char *)ctx))
        events_seen++;
}

static void test_execute_with_events(void **state)
{
    struct fixture *f = *state;
    json_t *ret = NULL;

    events_seen = 0;
    f->q.on_event = count_event;
    f->q.event_ctx = "GUEST_PANICKED";
    put(f, "{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}\n"
           "{\"return\": {\"status\": \"guest-panicked\"}}\n");
    assert_int_equal(qmp_execute(&f->q, "query-status", NULL, &ret, 1000), QMP_OK);
    expect_sent(f, "{\"execute\":\"query-status\"}\n");
    assert_int_equal(events_seen, 1);
    assert_string_equal(json_string_value(json_object_get(ret, "status")), "guest-panicked");
    json_decref(ret);
}

static void test_execute_error_reply(void **state)
{
    struct fixture *f = *state;

    put(f, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command x has not been "
           "found\"}}\n");
    assert_int_equal(qmp_execute(&f->q, "x", NULL, NULL, 1000), QMP_ERR_CMD);
    assert_string_equal(f->q.err, "x: The command x has not been found");
}

static void test_execute_unexpected_greeting(void **state)
{
    struct fixture *f = *state;

    put(f, GREETING);
    assert_int_equal(qmp_execute(&f->q, "cont", NULL, NULL, 1000), QMP_ERR_PROTO);
}

static void test_malformed_json(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    put(f, "{\"return\": \n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_JSON);
    assert_non_null(strstr(f->q.err, "malformed JSON from QEMU"));
    put(f, "[1, 2]\n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_JSON);
    assert_string_equal(f->q.err, "QMP message is not a JSON object");
    put(f, "{\"a\": 1, \"a\": 2}\n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_JSON);
    /* The reader recovers at the next line. */
    put(f, "{\"return\": 3}\n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    qmp_msg_clear(&m);
}

static void test_unexpected_objects(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    put(f, "{\"hello\": 1}\n{\"event\": 5}\n{\"QMP\": []}\n{\"error\": \"x\"}\n");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_PROTO);
        assert_string_equal(f->q.err, "unexpected QMP message");
    }
}

static void test_oversized_line(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;
    char chunk[4096];
    size_t sent = 0;
    int ret = 0;

    f->q.max_line = 64 * 1024;
    memset(chunk, ' ', sizeof(chunk));
    /* No newline ever: the reader must give up once past max_line. */
    while (sent <= f->q.max_line + sizeof(chunk)) {
        assert_int_equal(write(f->peer, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
        sent += sizeof(chunk);
    }
    ret = qmp_read(&f->q, &m, 1000);
    assert_int_equal(ret, QMP_ERR_TOOLONG);
    assert_string_equal(f->q.err, "QMP line longer than 65536 bytes");
}

static void test_oversized_line_with_newline(void **state)
{
    struct qmp q;
    struct qmp_msg m;
    char *big = malloc(200);

    qmp_init(&q, -1);
    q.max_line = 100;
    memset(big, 'x', 199);
    big[199] = '\n';
    assert_int_equal(qmp_feed(&q, big, 200), QMP_OK);
    assert_int_equal(qmp_next(&q, &m), QMP_ERR_TOOLONG);
    free(big);
    qmp_close(&q);
}

static void test_eof_mid_line(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    put(f, "{\"return\": {}}\n{\"ret");
    close(f->peer);
    f->peer = -1;
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    qmp_msg_clear(&m);
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_EOF);
    assert_string_equal(f->q.err, "QMP connection closed mid-line");
}

static void test_eof_clean(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    close(f->peer);
    f->peer = -1;
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_ERR_EOF);
    assert_string_equal(f->q.err, "QMP connection closed");
    assert_int_equal(qmp_execute(&f->q, "quit", NULL, NULL, 1000), QMP_ERR_EOF);
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct qmp_msg m;

    put(f, "{\"return\"");
    assert_int_equal(qmp_read(&f->q, &m, 50), QMP_ERR_TIMEOUT);
    put(f, ": 1}\n");
    assert_int_equal(qmp_read(&f->q, &m, 1000), QMP_OK);
    qmp_msg_clear(&m);
}

static void test_connect_missing_socket(void **state)
{
    struct qmp q;

    assert_int_equal(qmp_connect(&q, "/nonexistent/qmp.sock", 50), QMP_ERR_IO);
    assert_non_null(strstr(q.err, "connect /nonexistent/qmp.sock"));
    qmp_close(&q);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_greeting_and_messages),
        T(test_handshake),
        T(test_handshake_no_greeting),
        T(test_execute_with_events),
        T(test_execute_error_reply),
        T(test_execute_unexpected_greeting),
        T(test_malformed_json),
        T(test_unexpected_objects),
        T(test_oversized_line),
        cmocka_unit_test(test_oversized_line_with_newline),
        T(test_eof_mid_line),
        T(test_eof_clean),
        T(test_timeout),
        cmocka_unit_test(test_connect_missing_socket),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
