/*
 * Fuzz `ukctl run` option parsing: the input split at NUL bytes becomes argv.
 * Whatever parses must build a QEMU argv (with resolved host ports) and every
 * error must leave a one-line, non-empty message.  Each argument also goes
 * through run_cmdline_take_token: a token found must not stay in the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_argv.h"
#include "run_opts.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 2];
    struct run_opts o;
    char err[256];
    int argc = 0;
    size_t i, start = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[argc++] = "run";
    for (i = 0; i <= size && argc < MAX_ARGS + 1; i++) {
        if (buf[i] == '\0') {
            argv[argc++] = buf + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;

    for (i = 1; i < (size_t)argc; i++) {
        char rest[256], tok[32];
        int r = run_cmdline_take_token(argv[i], rest, sizeof(rest), tok, sizeof(tok));

        if (r < -1 || r > 1 || strlen(rest) >= sizeof(rest) || strlen(tok) >= sizeof(tok))
            abort();
        if (r == 1 && strstr(rest, "token=") == rest)
            abort(); /* the first remaining word can never be the token= word */
    }

    if (run_opts_parse(argc, argv, &o, err, sizeof(err)) < 0) {
        if (!err[0] || strchr(err, '\n'))
            abort();
    } else if (!o.help) {
        struct run_fwd fwds[RUN_MAX_FWDS];
        struct qemu_plan p = {
            .qemu = "qemu",
            .image = o.image,
            .run_dir = "/r",
            .cmdline = o.cmdline,
            .accel = o.accel == RUN_ACCEL_TCG ? RUN_ACCEL_TCG : RUN_ACCEL_KVM,
            .smp = o.smp,
            .mem_mib = o.mem_mib,
            .detach = o.detach,
            .fwds = fwds,
            .nfwds = o.nfwds,
            .net = !o.no_net,
        };
        char **qa;

        if (!o.image || o.smp < 1 || o.smp > RUN_SMP_MAX || o.mem_mib < RUN_MEM_MIN ||
            o.nfwds > RUN_MAX_FWDS)
            abort();
        for (i = 0; i < o.nfwds; i++) {
            fwds[i] = o.fwds[i];
            if (!fwds[i].host)
                fwds[i].host = 1;
        }
        qa = qemu_argv_build(&p);
        if (!qa)
            abort();
        qemu_argv_free(qa);
    }
    free(buf);
    return 0;
}
