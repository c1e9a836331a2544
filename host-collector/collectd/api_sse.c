/*
 * GET /api/v1/instances/NAME/logs?follow=1: Server-Sent Events, one
 * `data: RECORD` per stored record.  The response reads the instance's
 * store file from where it got to; with nothing new the connection is
 * suspended (no busy loop in libmicrohttpd's external-epoll mode) and
 * resumed on the next tick.  A rotation under a follower restarts it at
 * the new file (records rotated away in between are not sent).
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd.h"

enum { SSE_MAX = 64 };

enum MHD_Result api_reply_err(struct MHD_Connection *c, unsigned status, const char *msg);
enum MHD_Result api_sse_start(struct MHD_Connection *c, const char *name, const char *boot,
                              const char *source, uint64_t since);
void api_sse_resume(void);

struct sse {
    bool used, suspended;
    struct MHD_Connection *c;
    char name[64], boot[37], source[16];
    uint64_t since, off;
    char *out;
    size_t olen, opos;
};
static struct sse sses[SSE_MAX];

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *s = cls;
    struct inst *in = inst_find(s->name);

    (void)pos;
    if (s->opos == s->olen) {
        free(s->out);
        s->out = NULL;
        s->olen = s->opos = 0;
        if (!in)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* Whatever the store gained since s->off, filtered. */
        char path[4300];
        snprintf(path, sizeof(path), "%s/log.jsonl", in->state_dir);
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0, olen = 0;
        ssize_t n;
        char *out = NULL;
        FILE *o = open_memstream(&out, &olen);
        if (f && o) {
            fseeko(f, 0, SEEK_END);
            if ((uint64_t)ftello(f) < s->off)
                s->off = 0; /* rotated */
            fseeko(f, (off_t)s->off, SEEK_SET);
            while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
                s->off += (uint64_t)n;
                json_t *r = json_loadb(line, (size_t)n, 0, NULL);
                const char *b = json_string_value(json_object_get(r, "boot_id"));
                const char *src = json_string_value(json_object_get(r, "source"));
                json_t *seq = json_object_get(r, "seq");
                bool want = r && b && src && (!s->boot[0] || !strcmp(b, s->boot)) &&
                            (!strcmp(s->source, "all") || !strcmp(src, s->source)) &&
                            (!json_is_integer(seq) ||
                             (uint64_t)json_integer_value(seq) >= s->since);
                if (want)
                    fprintf(o, "data: %.*s\n\n", (int)(n - 1), line);
                json_decref(r);
                if (ftello(o) > 1 << 20)
                    break;
            }
        }
        if (o)
            fclose(o);
        if (f)
            fclose(f);
        free(line);
        s->out = out;
        s->olen = out ? olen : 0;
        if (!s->olen) {
            s->suspended = true;
            MHD_suspend_connection(s->c);
            return 0;
        }
    }
    size_t k = s->olen - s->opos < max ? s->olen - s->opos : max;
    memcpy(buf, s->out + s->opos, k);
    s->opos += k;
    return (ssize_t)k;
}

static void sse_free(void *cls)
{
    struct sse *s = cls;
    free(s->out);
    memset(s, 0, sizeof(*s));
}

enum MHD_Result api_sse_start(struct MHD_Connection *c, const char *name, const char *boot,
                              const char *source, uint64_t since)
{
    struct sse *x = NULL;
    for (unsigned i = 0; i < SSE_MAX && !x; i++)
        if (!sses[i].used)
            x = &sses[i];
    if (!x)
        return api_reply_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many followers");
    memset(x, 0, sizeof(*x));
    x->used = true;
    x->c = c;
    x->since = since;
    snprintf(x->name, sizeof(x->name), "%s", name);
    snprintf(x->boot, sizeof(x->boot), "%s", boot);
    snprintf(x->source, sizeof(x->source), "%s", source);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, sse_read, x, sse_free);
    if (!r) {
        x->used = false;
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

void api_sse_resume(void)
{
    for (unsigned i = 0; i < SSE_MAX; i++)
        if (sses[i].used && sses[i].suspended) {
            sses[i].suspended = false;
            MHD_resume_connection(sses[i].c);
        }
}
