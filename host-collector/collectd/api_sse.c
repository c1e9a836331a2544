/*
 * GET /api/v1/instances/NAME/logs?follow=1: Server-Sent Events, one
 * `data: RECORD` per stored record.  The response reads the instance's
 * store file from where it got to; with nothing new the connection is
 * suspended (no busy loop in libmicrohttpd's external-epoll mode) and
 * resumed on the next tick.  A rotation under a follower loses nothing:
 * the rest of the rotated file is sent before the new one (see fill()).
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cd.h"

enum { SSE_MAX = 64 };

enum MHD_Result api_reply_err(struct MHD_Connection *c, unsigned status, const char *msg);
enum MHD_Result api_sse_start(struct MHD_Connection *c, const char *name, const char *boot,
                              const char *source, uint64_t since);
void api_sse_resume(void);
void api_sse_close_all(void);

struct sse {
    bool used, suspended;
    struct MHD_Connection *c;
    char name[64], boot[37], source[16];
    uint64_t since, off; /* off: bytes of f already read */
    FILE *f;             /* the store file being followed; NULL: not started */
    char *out;
    size_t olen, opos;
};
static struct sse sses[SSE_MAX];
static bool closing; /* the daemon is stopping: end every stream */

/*
 * Append the records of f from s->off on (filtered) to o; true when f has no
 * more complete line, false when o reached its 1 MiB cap first.
 */
static bool emit(struct sse *s, FILE *f, FILE *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool eof = true;

    fseeko(f, (off_t)s->off, SEEK_SET);
    while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
        s->off += (uint64_t)n;
        json_t *r = json_loadb(line, (size_t)n, 0, NULL);
        const char *b = json_string_value(json_object_get(r, "boot_id"));
        const char *src = json_string_value(json_object_get(r, "source"));
        json_t *seq = json_object_get(r, "seq");
        bool want = r && b && src && (!s->boot[0] || !strcmp(b, s->boot)) &&
                    (!strcmp(s->source, "all") || !strcmp(src, s->source)) &&
                    (!json_is_integer(seq) || (uint64_t)json_integer_value(seq) >= s->since);
        if (want)
            fprintf(o, "data: %.*s\n\n", (int)(n - 1), line);
        json_decref(r);
        if (ftello(o) > 1 << 20) {
            eof = false;
            break;
        }
    }
    free(line);
    return eof;
}

static FILE *open_store(const char *dir, const char *name, struct stat *st)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (f && fstat(fileno(f), st) < 0) {
        fclose(f);
        return NULL;
    }
    return f;
}

/*
 * What the store gained since the follower's position.  The follower keeps
 * its current store file open (s->f, read up to s->off): a rotation renames
 * it to log.jsonl.1 and a second one unlinks it, but an open file stays
 * readable and its inode cannot be reused under us.  Once it is read to the
 * end and log.jsonl is another file, the follower moves on: first to
 * log.jsonl.1 when that is neither its file nor the current one (a file
 * rotated while it was still reading the one before), then to log.jsonl.
 * Only a follower more than two whole store files behind can skip records
 * (a file rotated away entirely while it read an older one).  A new
 * follower starts in log.jsonl.1.
 */
static void fill(struct sse *s, struct inst *in, FILE *o)
{
    struct stat cur, old, mine;
    FILE *c = open_store(in->state_dir, "log.jsonl", &cur);
    FILE *p = open_store(in->state_dir, "log.jsonl.1", &old);

    if (!c)
        goto out;
    if (!s->f) {
        if (p) {
            s->f = p;
            p = NULL;
        } else {
            s->f = c;
            c = NULL;
        }
        s->off = 0;
    }
    for (int hop = 0; hop < 3; hop++) {
        if (!emit(s, s->f, o) || fstat(fileno(s->f), &mine) < 0)
            break; /* output full: the rest next time */
        if (!c || (mine.st_ino == cur.st_ino && mine.st_dev == cur.st_dev))
            break; /* at the end of the current file */
        fclose(s->f);
        s->off = 0;
        if (p && (old.st_ino != mine.st_ino || old.st_dev != mine.st_dev)) {
            s->f = p; /* the file rotated after ours */
            p = NULL;
        } else {
            s->f = c;
            c = NULL;
        }
    }
out:
    if (p)
        fclose(p);
    if (c)
        fclose(c);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *s = cls;
    struct inst *in = inst_find(s->name);

    (void)pos;
    if (s->opos == s->olen) {
        free(s->out);
        s->out = NULL;
        s->olen = s->opos = 0;
        if (!in || closing)
            return MHD_CONTENT_READER_END_OF_STREAM;
        char *out = NULL;
        size_t olen = 0;
        FILE *o = open_memstream(&out, &olen);
        if (o) {
            fill(s, in, o);
            fclose(o);
        }
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
    if (s->f)
        fclose(s->f);
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

/* libmicrohttpd aborts the process when stopped with a suspended
 * connection: end every stream first. */
void api_sse_close_all(void)
{
    closing = true;
    api_sse_resume();
}

void api_sse_resume(void)
{
    for (unsigned i = 0; i < SSE_MAX; i++)
        if (sses[i].used && sses[i].suspended) {
            sses[i].suspended = false;
            MHD_resume_connection(sses[i].c);
        }
}
