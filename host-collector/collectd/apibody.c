/* Body of POST /api/v1/instances; see api_parse_create in cd.h. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cd.h"

static const char want[] =
    "want {\"name\":N,\"image\":ABSOLUTE_PATH[,\"mem_mib\":16..65536,\"smp\":1..16,"
    "\"cmdline\":C,\"accel\":\"auto|kvm|tcg\",\"restart\":\"no|on-failure|always\"]}";

int supervise_parse_policy(const char *s, enum restart_policy *p)
{
    static const char *const names[] = {"no", "on-failure", "always"};

    for (unsigned i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) {
            *p = (enum restart_policy)i;
            return 0;
        }
    return -1;
}

/* A string value or def; -1 if present but not a string or too long. */
static int get_str(json_t *o, const char *key, const char *def, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    const char *s = v ? json_string_value(v) : def;

    if (!s || strlen(s) >= cap || memchr(s, '\n', strlen(s)))
        return -1;
    snprintf(dst, cap, "%s", s);
    return 0;
}

static int get_int(json_t *o, const char *key, unsigned def, unsigned lo, unsigned hi,
                   unsigned *out)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (unsigned)json_integer_value(v);
    return 0;
}

int api_parse_create(const char *body, size_t len, char name[64], struct inst_spec *sp,
                     char *err, size_t errlen)
{
    json_t *o = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, NULL);
    char restart[16];
    int rc = -1;

    memset(sp, 0, sizeof(*sp));
    name[0] = 0;
    if (!json_is_object(o) || get_str(o, "name", NULL, name, 64) < 0 ||
        get_str(o, "image", NULL, sp->image, sizeof(sp->image)) < 0 || sp->image[0] != '/' ||
        get_str(o, "cmdline", "", sp->cmdline, sizeof(sp->cmdline)) < 0 ||
        get_str(o, "accel", "auto", sp->accel, sizeof(sp->accel)) < 0 ||
        (strcmp(sp->accel, "auto") && strcmp(sp->accel, "kvm") && strcmp(sp->accel, "tcg")) ||
        get_str(o, "restart", "no", restart, sizeof(restart)) < 0 ||
        supervise_parse_policy(restart, &sp->policy) < 0 ||
        get_int(o, "mem_mib", 128, 16, 65536, &sp->mem_mib) < 0 ||
        get_int(o, "smp", 1, 1, 16, &sp->smp) < 0) {
        snprintf(err, errlen, "%s", want);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}
