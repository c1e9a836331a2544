/* libFuzzer: the host's metrics-page decoder (validate + render) on hostile
 * page contents: lying counts/sizes, unterminated strings, bad indices; and
 * the guest's template fast path, which must render exactly the same. */
#include <stdbool.h>
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
    unsigned ne = (unsigned)(n / sizeof(struct ukm_entry));
    bool om = n & 2;
    ukm_render((const struct ukm_entry *)buf, ne, om, &o2);
    /* Template + values == ukm_render, whenever the template fits. */
    char text[4096], out3[4096];
    struct ukm_slot *slots = calloc(ne + 1, sizeof(*slots));
    struct ukm_out t = {text, 0, sizeof(text), false}, o3 = {out3, 0, sizeof(out3), false};
    unsigned nslots;
    ukm_render_template((const struct ukm_entry *)buf, ne, om, &t, slots, &nslots);
    if (!t.overflow && !o2.overflow) {
        if (t.len != o2.len || memcmp(out2, text, o2.len) != 0)
            abort();
        /* Values changed after the template was made, twice (it updates itself). */
        struct ukm_entry *e = (struct ukm_entry *)buf;
        struct ukm_template tp = {text, t.len, slots, nslots};
        for (unsigned round = 0; round < 2; round++) {
            for (unsigned i = 0; i < ne; i++)
                if ((i + round) % 3)
                    e[i].value = (int64_t)((uint64_t)e[i].value * 7 + i + round);
            o2 = (struct ukm_out){out2, 0, sizeof(out2), false};
            o3 = (struct ukm_out){out3, 0, sizeof(out3), false};
            ukm_render(e, ne, om, &o2);
            ukm_render_values(&tp, e, &o3);
            if (o3.overflow != o2.overflow ||
                (!o2.overflow && (o3.len != o2.len || memcmp(out2, out3, o2.len) != 0)))
                abort();
        }
    }
    free(slots);
    free(buf);
    return 0;
}
