/* Fuzz target: the gdb protocol core (framing + dispatcher) fed arbitrary
 * bytes, with the fake arch backend.  Longer run: see docs/gdb.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/gdb_fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gdb_state st;
    static struct fake f;
    memset(&f, 0, sizeof(f));
    gdb_init(&st, &fake_arch, &f, &fake_transport, &f);
    for (size_t i = 0; i < size; i++)
        gdb_feed(&st, data[i]);
    return 0;
}
