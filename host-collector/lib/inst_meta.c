/* instance.json's descriptive keys; see inst_meta.h. */
#include "inst_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { META_FILE_MAX = 1 << 20 };

/* Copy a string value bounded, printable ASCII only; "" when absent. */
static void copy_clean(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t i = 0;

    for (; s && s[i] && i + 1 < cap; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = 0;
}

static unsigned get_uint(json_t *o, const char *key, unsigned max)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return 0;
    return (unsigned)json_integer_value(v);
}

int inst_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= 64 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

int inst_meta_parse(const char *buf, size_t len, struct inst_meta *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o, *ports, *p;
    size_t i;

    memset(out, 0, sizeof(*out));
    o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "name"))) {
        snprintf(err, errlen, "not an instance file (no \"name\")");
        json_decref(o);
        return -1;
    }
    copy_clean(o, "name", out->name, sizeof(out->name));
    if (strlen(json_string_value(json_object_get(o, "name"))) >= sizeof(out->name)) {
        snprintf(err, errlen, "instance name longer than %zu bytes", sizeof(out->name) - 1);
        json_decref(o);
        return -1;
    }
    copy_clean(o, "accel", out->accel, sizeof(out->accel));
    copy_clean(o, "image", out->image, sizeof(out->image));
    copy_clean(o, "cmdline", out->cmdline, sizeof(out->cmdline));
    copy_clean(o, "started_at", out->started_at, sizeof(out->started_at));
    out->smp = get_uint(o, "smp", 1024);
    out->mem_mib = get_uint(o, "mem_mib", 1u << 24);
    ports = json_object_get(o, "ports");
    json_array_foreach(ports, i, p) {
        unsigned h = get_uint(p, "host", 65535), g = get_uint(p, "guest", 65535);
        if (!h || !g || out->nports == INST_META_MAX_PORTS)
            continue;
        out->ports[out->nports].host = h;
        out->ports[out->nports].guest = g;
        out->nports++;
    }
    json_decref(o);
    return 0;
}

int inst_meta_read(const char *run_dir, struct inst_meta *out, char *err, size_t errlen)
{
    char path[4096];
    char *buf = NULL;
    ssize_t n;
    int fd, rc = -1;

    if ((size_t)snprintf(path, sizeof(path), "%s/instance.json", run_dir) >= sizeof(path)) {
        snprintf(err, errlen, "run dir path too long");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(META_FILE_MAX);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    n = read(fd, buf, META_FILE_MAX);
    if (n < 0 || n == META_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "larger than 1 MiB");
        goto cleanup;
    }
    rc = inst_meta_parse(buf, (size_t)n, out, err, errlen);
cleanup:
    free(buf);
    close(fd);
    return rc;
}

unsigned inst_meta_host_port(const struct inst_meta *m, unsigned guest)
{
    for (unsigned i = 0; i < m->nports; i++)
        if (m->ports[i].guest == guest)
            return m->ports[i].host;
    return 0;
}
