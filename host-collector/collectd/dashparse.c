/*
 * Parsers of the console's untrusted inputs (contracts in dashparse.h).
 * Clients of the HTTP listener and a QEMU's QMP replies are not trusted:
 * every function bounds what it reads and fails closed.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <string.h>

#include "dashparse.h"

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

bool dash_accepts_gzip(const char *ae)
{
    /* Each comma-separated coding: "gzip" (or "*"), optional ";q=VALUE". */
    bool star = false, gzip_seen = false, gzip_ok = false, star_ok = false;

    while (ae && *ae) {
        const char *end = strchr(ae, ',');
        size_t n = end ? (size_t)(end - ae) : strlen(ae);
        const char *p = ae;
        p += strspn(p, " \t");
        size_t tok = strcspn(p, ";, \t");
        bool is_gzip = tok == 4 && !strncasecmp(p, "gzip", 4);
        bool is_star = tok == 1 && *p == '*';
        bool ok = true;
        const char *q = memmem(p, n - (size_t)(p - ae), ";", 1);
        if (q) {
            q++;
            q += strspn(q, " \t");
            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                /* q=0, 0.0, 0.00, 0.000 refuse it */
                const char *v = q + 2;
                ok = !(v[0] == '0' && (v[1] != '.' || strspn(v + 2, "0") == strcspn(v + 2, ", \t;")));
            }
        }
        if (is_gzip) {
            gzip_seen = true;
            gzip_ok = ok;
        } else if (is_star) {
            star = true;
            star_ok = ok;
        }
        ae = end ? end + 1 : NULL;
    }
    return gzip_seen ? gzip_ok : star && star_ok;
}

const char *dash_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},
    };
    size_t n = strlen(name);
    if (!n || n > 64 || name[0] == '.' || strspn(name, NAME_CHARS) != n)
        return NULL;
    const char *dot = strrchr(name, '.');
    for (unsigned i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

bool dash_bundle_id_ok(const char *id)
{
    size_t n = strlen(id);
    return n && n <= 200 && id[0] != '.' && strcmp(id, "images") && strspn(id, NAME_CHARS) == n;
}

unsigned dash_vcpu_tids(json_t *ret, int *tid, unsigned max)
{
    unsigned n = 0;
    size_t i;
    json_t *c;

    memset(tid, 0, max * sizeof(*tid));
    if (!json_is_array(ret))
        return 0;
    json_array_foreach(ret, i, c) {
        json_t *ji = json_object_get(c, "cpu-index"), *jt = json_object_get(c, "thread-id");
        if (!json_is_integer(ji) || !json_is_integer(jt))
            continue;
        json_int_t idx = json_integer_value(ji), t = json_integer_value(jt);
        if (idx < 0 || idx >= (json_int_t)max || t <= 0 || t > 0x7fffffff)
            continue;
        tid[idx] = (int)t;
        if ((unsigned)idx + 1 > n)
            n = (unsigned)idx + 1;
    }
    return n;
}
