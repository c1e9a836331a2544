/*
 * Fuzz the QMP reader: arbitrary bytes fed in pieces (the first byte picks
 * the piece size) through the line splitter, parser and message dispatch.
 * Contract: never crashes, every return is a documented status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"

static void touch(const struct qmp_msg *m)
{
    json_t *e;

    switch (m->kind) {
    case QMP_MSG_EVENT:
        if (strlen(m->event) == (size_t)-1)
            abort();
        break;
    case QMP_MSG_ERROR:
        e = json_object_get(m->root, "error");
        (void)json_string_value(json_object_get(e, "desc"));
        break;
    case QMP_MSG_GREETING:
    case QMP_MSG_RETURN:
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qmp q;
    struct qmp_msg m;
    size_t step, off = 0;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    qmp_init(&q, -1);
    q.max_line = 4096; /* small cap so the fuzzer reaches it */
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        int ret;

        if (qmp_feed(&q, data + off, n) != QMP_OK)
            break;
        off += n;
        while ((ret = qmp_next(&q, &m)) != 0) {
            if (ret == 1) {
                touch(&m);
                qmp_msg_clear(&m);
            } else if (ret == QMP_ERR_TOOLONG) {
                q.len = 0; /* a caller would drop the connection */
                break;
            } else if (ret != QMP_ERR_JSON && ret != QMP_ERR_PROTO) {
                abort();
            }
        }
    }
    qmp_close(&q);
    return 0;
}
