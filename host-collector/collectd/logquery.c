/* GET /api/v1/instances/NAME/logs: records of one boot from the store files. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd.h"

char *api_logs_query(struct inst *in, const char *boot, const char *source, uint64_t since,
                     uint64_t limit, size_t *len);

/* Append the matching records of one store file to a; false once limit is hit. */
static bool scan(const char *path, const char *boot, const char *source, uint64_t since,
                 uint64_t limit, json_t *a, uint64_t *next)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool more = true;

    while (f && (n = getline(&line, &cap, f)) > 0) {
        json_t *r = json_loadb(line, (size_t)n, 0, NULL);
        const char *b = json_string_value(json_object_get(r, "boot_id"));
        const char *src = json_string_value(json_object_get(r, "source"));
        json_t *seq = json_object_get(r, "seq");
        if (!r || !b || !src || strcmp(b, boot) || (strcmp(source, "all") && strcmp(src, source))) {
            json_decref(r);
            continue;
        }
        uint64_t s = json_is_integer(seq) ? (uint64_t)json_integer_value(seq)
                                          : (uint64_t)json_integer_value(json_object_get(r, "from_seq"));
        if (s < since && !(json_object_get(r, "lost") &&
                           s + (uint64_t)json_integer_value(json_object_get(r, "lost")) > since)) {
            json_decref(r);
            continue;
        }
        if (json_array_size(a) >= limit) {
            json_decref(r);
            more = false;
            break;
        }
        if (!strcmp(src, "klog"))
            *next = json_is_integer(seq) ? s + 1
                                         : s + (uint64_t)json_integer_value(json_object_get(r, "lost"));
        json_array_append_new(a, r);
    }
    if (f)
        fclose(f);
    free(line);
    return more;
}

char *api_logs_query(struct inst *in, const char *boot, const char *source, uint64_t since,
                     uint64_t limit, size_t *len)
{
    char path[4300];
    json_t *a = json_array(), *o;
    uint64_t next = since;
    char *s;

    snprintf(path, sizeof(path), "%s/log.jsonl.1", in->state_dir);
    if (scan(path, boot, source, since, limit, a, &next)) {
        snprintf(path, sizeof(path), "%s/log.jsonl", in->state_dir);
        scan(path, boot, source, since, limit, a, &next);
    }
    o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:b}", "name", in->name, "boot_id", boot, "records", a,
                  "next", (json_int_t)next, "klog_lost",
                  (json_int_t)(strcmp(boot, in->ls.pos.boot_id) ? 0 : in->ls.pos.klog_lost),
                  "truncated", json_array_size(a) >= limit);
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}
