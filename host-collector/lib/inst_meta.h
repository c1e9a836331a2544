/*
 * The descriptive part of <run dir>/instance.json that the fleet tools show
 * (ukcollectd's API, `ukctl ps`): accel, smp, memory, image, command line,
 * start time and forwarded ports.  instance.h's instance_read() stays the
 * reader of what identifies the QEMU (pid, start time, executable).
 *
 * The file is written by ukctl but lives in a directory a guest-facing
 * process (QEMU) can write to: treat it as untrusted.  Strings are copied
 * bounded and reduced to printable ASCII; numbers are range-checked.
 */
#ifndef UKSCOPE_INST_META_H
#define UKSCOPE_INST_META_H

#include <stddef.h>

#define INST_META_MAX_PORTS 16

struct inst_port {
    unsigned host, guest; /* 1..65535 */
};

struct inst_meta {
    char name[64];
    char accel[16];
    unsigned smp, mem_mib;
    char image[1024];
    char cmdline[1024];
    char started_at[32]; /* ISO 8601 UTC, "" unknown */
    struct inst_port ports[INST_META_MAX_PORTS];
    unsigned nports;
};

/*
 * Parse the JSON text buf[0..len) into out.  0, or -1 with a reason in err
 * (not an object, missing/invalid name).  Optional keys that are absent or
 * of the wrong type are left empty/zero; invalid ports are skipped.
 */
int inst_meta_parse(const char *buf, size_t len, struct inst_meta *out, char *err, size_t errlen);

/* Read and parse <run_dir>/instance.json (at most 1 MiB). */
int inst_meta_read(const char *run_dir, struct inst_meta *out, char *err, size_t errlen);

/* The host port forwarded to guest port `guest`, or 0. */
unsigned inst_meta_host_port(const struct inst_meta *m, unsigned guest);

/* A name usable as one path component of the collector's state dir. */
int inst_name_ok(const char *name);

#endif
