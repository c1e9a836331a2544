/*
 * Kernel command-line parsing.  The input comes from the loader (untrusted
 * in the sense of "any bytes"): lengths are bounded, quotes must close,
 * and nothing here allocates.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>

static char raw[UK_CMDLINE_MAX];
static char store[UK_CMDLINE_MAX];
static struct uk_cmdline_arg args[UK_CMDLINE_ARGS];
static unsigned nargs;

uk_result uk_cmdline_parse(const char *s)
{
    nargs = 0;
    raw[0] = store[0] = '\0';
    if (!s)
        return UK_OK;
    size_t n = strnlen(s, UK_CMDLINE_MAX - 1);
    memcpy(raw, s, n);
    raw[n] = '\0';

    /* Copy into store, splitting words with NULs and removing quotes. */
    size_t i = 0, o = 0;
    while (i < n && nargs < UK_CMDLINE_ARGS) {
        while (i < n && isspace((unsigned char)raw[i]))
            i++;
        if (i >= n)
            break;
        char *word = &store[o];
        char *value = NULL;
        bool quoted = false;
        while (i < n && (quoted || !isspace((unsigned char)raw[i]))) {
            char c = raw[i++];
            if (c == '"') {
                quoted = !quoted;
                continue;
            }
            if (c == '=' && !value && !quoted) {
                store[o++] = '\0';
                value = &store[o];
                continue;
            }
            store[o++] = c;
        }
        store[o++] = '\0';
        if (quoted) {
            nargs = 0;
            return UK_EINVAL;
        }
        args[nargs].key = word;
        args[nargs].value = value ? value : "";
        nargs++;
    }
    return UK_OK;
}

const char *uk_cmdline_raw(void)
{
    return raw;
}

const struct uk_cmdline_arg *uk_cmdline_next(const char *key, unsigned *it)
{
    while (*it < nargs) {
        const struct uk_cmdline_arg *a = &args[(*it)++];
        if (!key || strcmp(a->key, key) == 0)
            return a;
    }
    return NULL;
}

const char *uk_cmdline_get(const char *key)
{
    const char *v = NULL;
    for (unsigned i = 0; i < nargs; i++)
        if (strcmp(args[i].key, key) == 0)
            v = args[i].value;
    return v;
}

uint64_t uk_cmdline_get_u64(const char *key, uint64_t def)
{
    const char *v = uk_cmdline_get(key);
    if (!v || !*v)
        return def;
    char *end;
    uint64_t x = strtoull(v, &end, 0);
    if (end == v)
        return def;
    switch (*end) {
    case 'k': case 'K': x <<= 10; end++; break;
    case 'M': x <<= 20; end++; break;
    case 'G': x <<= 30; end++; break;
    default: break;
    }
    return *end ? def : x;
}

bool uk_cmdline_flag(const char *key)
{
    const char *v = uk_cmdline_get(key);
    if (!v)
        return false;
    return strcmp(v, "0") != 0 && strcmp(v, "off") != 0 && strcmp(v, "no") != 0 &&
           strcmp(v, "false") != 0;
}
