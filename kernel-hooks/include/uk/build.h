/*
 * Build identity: the version string and the GNU build-id note that the
 * linker embeds (sha1, 20 bytes), printed at boot.
 */
#ifndef UK_BUILD_H
#define UK_BUILD_H

#include <uk/types.h>

const char *uk_version(void);

/* Pointer to the build-id bytes and their count (0 if missing). */
const uint8_t *uk_build_id(size_t *len);

/* Lower-case hex of the build-id, NUL-terminated (static buffer). */
const char *uk_build_id_hex(void);

#endif
