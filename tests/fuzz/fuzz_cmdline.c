/*
 * libFuzzer: the kernel command-line parser on arbitrary bytes.  Checks that
 * every option it keeps is NUL-terminated inside its storage and that the
 * lookups never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uk/cmdline.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (uk_cmdline_parse(s) == UK_OK) {
        unsigned it = 0, n = 0;
        const struct uk_cmdline_arg *a;
        while ((a = uk_cmdline_next(NULL, &it))) {
            if (strlen(a->key) >= UK_CMDLINE_MAX || strlen(a->value) >= UK_CMDLINE_MAX)
                abort();
            (void)uk_cmdline_get(a->key);
            (void)uk_cmdline_get_u64(a->key, 0);
            (void)uk_cmdline_flag(a->key);
            n++;
        }
        if (n > UK_CMDLINE_ARGS)
            abort();
    }
    if (strlen(uk_cmdline_raw()) >= UK_CMDLINE_MAX)
        abort();
    /* The same bytes as a secret from another source (fw_cfg): accepted only
     * when valid, then found by key, matched exactly, and never shown. */
    size_t n = strlen(s);
    if (uk_cmdline_set("token", s, n) == UK_OK) {
        if (strcmp(uk_cmdline_get("token"), s) != 0 || !uk_cmdline_secret_equal("token", s, n))
            abort();
        if (n && uk_cmdline_secret_equal("token", s, n - 1))
            abort();
    }
    free(s);
    return 0;
}
