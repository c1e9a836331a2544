/* libFuzzer: the host's metrics-page decoder (validate + render) on hostile
 * page contents: lying counts/sizes, unterminated strings, bad indices. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics_page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size < UKM_PAGE_BYTES ? size : UKM_PAGE_BYTES;
    unsigned char *buf = calloc(1, n + 1);
    unsigned count;
    const char *why;
    memcpy(buf, data, n);
    /* Most inputs would fail the magic: force it so the rest gets exercised. */
    if (n >= UKM_MAGIC_LEN)
        memcpy(buf, UKM_MAGIC, UKM_MAGIC_LEN);
    if (ukm_validate(buf, n, &count, &why) == 0) {
        char out[8192];
        struct ukm_out o = {out, 0, sizeof(out), false};
        ukm_render((const struct ukm_entry *)(buf + sizeof(struct ukm_header)), count, n & 1, &o);
        if (o.len > sizeof(out))
            abort();
    }
    /* The renderer alone, on raw entries. */
    char out2[4096];
    struct ukm_out o2 = {out2, 0, sizeof(out2), false};
    ukm_render((const struct ukm_entry *)buf, (unsigned)(n / sizeof(struct ukm_entry)), false, &o2);
    free(buf);
    return 0;
}
