/*
 * Kernel command-line parsing.  The input comes from the loader (untrusted
 * in the sense of "any bytes"): lengths are bounded, quotes must close,
 * and nothing here allocates.  Secret values are kept out of the one copy
 * that may be shown (uk_cmdline_raw): masking here, at the root, covers the
 * boot log, /dmesg and /info alike.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>

static char raw[UK_CMDLINE_MAX];   /* as given; never handed out */
static char shown[UK_CMDLINE_MAX]; /* raw with secret values masked */
static char store[UK_CMDLINE_MAX];
static char keybuf[UK_CMDLINE_MAX]; /* scratch for mask_secrets */
/* Parsed options, then those added by uk_cmdline_set. */
static struct uk_cmdline_arg args[UK_CMDLINE_ARGS + UK_CMDLINE_SET_MAX];
static unsigned nargs;
static char set_store[UK_CMDLINE_SET_MAX][UK_SECRET_MAX + 1];
static char set_keys[UK_CMDLINE_SET_MAX][32];
static unsigned nset;

static const char *const secret_keys[] = {"token", "secret", "password"};

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    return n >= sl && memcmp(s + n - sl, suffix, sl) == 0;
}

bool uk_cmdline_is_secret(const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++) {
        const char *k = secret_keys[i];
        size_t kl = strlen(k);
        if (!strcmp(key, k))
            return true;
        /* ".token" etc.: a suffix preceded by a dot */
        if (n > kl && ends_with(key, n, k) && key[n - kl - 1] == '.')
            return true;
    }
    return false;
}

static void shown_put(size_t *o, const char *p, size_t n)
{
    while (n-- && *o < UK_CMDLINE_MAX - 1)
        shown[(*o)++] = *p++;
}

/*
 * Copy raw[0..n) to shown, word by word as uk_cmdline_parse splits it, with
 * the value of a secret key replaced by "***".  The key is compared with its
 * quotes removed, as the parser stores it.
 */
static void mask_secrets(size_t n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (isspace((unsigned char)raw[i])) {
            shown_put(&o, &raw[i++], 1);
            continue;
        }
        size_t w = i, eq = n, kl = 0;
        bool quoted = false;
        for (; i < n && (quoted || !isspace((unsigned char)raw[i])); i++) {
            if (raw[i] == '"')
                quoted = !quoted;
            else if (raw[i] == '=' && eq == n && !quoted)
                eq = i;
            else if (eq == n)
                keybuf[kl++] = raw[i];
        }
        keybuf[kl] = '\0';
        if (eq < n && uk_cmdline_is_secret(keybuf)) {
            shown_put(&o, &raw[w], eq + 1 - w);
            shown_put(&o, "***", 3);
        } else {
            shown_put(&o, &raw[w], i - w);
        }
    }
    shown[o] = '\0';
}

uk_result uk_cmdline_parse(const char *s)
{
    nargs = nset = 0;
    raw[0] = shown[0] = store[0] = '\0';
    if (!s)
        return UK_OK;
    size_t n = strnlen(s, UK_CMDLINE_MAX - 1);
    memcpy(raw, s, n);
    raw[n] = '\0';
    mask_secrets(n);

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
    return shown;
}

uk_result uk_cmdline_set(const char *key, const char *value, size_t len)
{
    size_t kl = strlen(key);
    if (nset == UK_CMDLINE_SET_MAX || kl == 0 || kl >= sizeof(set_keys[0]) || len == 0 ||
        len > UK_SECRET_MAX)
        return UK_EINVAL;
    /* Printable ASCII without spaces: it must fit an HTTP header and a log. */
    for (size_t i = 0; i < len; i++)
        if (value[i] <= ' ' || value[i] > '~')
            return UK_EINVAL;
    memcpy(set_keys[nset], key, kl + 1);
    memcpy(set_store[nset], value, len);
    set_store[nset][len] = '\0';
    args[nargs].key = set_keys[nset];
    args[nargs].value = set_store[nset];
    nargs++;
    nset++;
    return UK_OK;
}

bool uk_cmdline_secret_equal(const char *key, const void *given, size_t len)
{
    const char *secret = uk_cmdline_get(key);
    const unsigned char *g = given;
    if (!secret || !*secret)
        return false;
    size_t sl = strlen(secret);
    /* Walk all of `given` whatever it holds; index the secret modulo its
     * length so no early exit and no out-of-bounds read either. */
    unsigned diff = sl != len;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned)(g[i] ^ (unsigned char)secret[i % sl]);
    return diff == 0;
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
