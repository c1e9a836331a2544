/* ukctl: host-side control tool of ukscope; dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "crash/crash_dump.h"
#include "run.h"
#include "../gdbstub/host/ukctl_gdb.h"
#include "trace_cmd.h"
#include "telemetry_print.h"
#include "util.h"

int metrics_main(int argc, char **argv);
int ps_main(int argc, char **argv);    /* ps_logs.c */
int logs_main(int argc, char **argv);  /* ps_logs.c */
int fleet_main(int argc, char **argv); /* fleet.c */
int top_main(int argc, char **argv);   /* top.c */

static const char usage[] =
    "Usage: ukctl COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] IMAGE   boot a unikernel under QEMU microvm (see ukctl run --help)\n"
    "  stop [--keep] DIR     quit a (detached) instance and clean up its run dir\n"
    "  list [PARENT]         list instances and their state (running, paused, panicked...)\n"
    "  gdb RUN_DIR [OPTIONS] attach gdb to an instance (see ukctl gdb --help)\n"
    "  trace RUN_DIR         capture the guest's trace rings (see docs/tracing.md)\n"
    "  telemetry RUN_DIR     decode the guest's telemetry stream (docs/telemetry.md)\n"
    "  metrics RUN_DIR       print the guest's metrics from its shared memory page\n"
    "  dump RUN_DIR          write an ELF core of the instance (docs/postmortem.md)\n"
    "  crash ls|show|gdb|rm  crash bundles and their signatures (docs/postmortem.md)\n"
    "  ps [--json]           the fleet, from ukcollectd or the run dirs (docs/collector.md)\n"
    "  logs [-f] NAME        an instance's log, from ukcollectd or its RAM\n"
    "  fleet up|down         start/stop N instances through ukcollectd\n"
    "  top [--once --json]   live table of the fleet: CPU, steal, kvm exits (docs/host-view.md)\n"
    "\n"
    "See docs/ukctl.md.\n";

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
};

static const struct command commands[] = {
    {"run", run_main},
    {"stop", stop_main},
    {"list", list_main},
    {"gdb", gdb_main},
    {"trace", trace_main},
    {"telemetry", telemetry_main},
    {"metrics", metrics_main}, /* guest-agent/host/metrics_cmd.c */
    {"dump", dump_main},       /* host-collector/crash/ */
    {"crash", crash_main},
    {"ps", ps_main},
    {"logs", logs_main},
    {"fleet", fleet_main},
    {"top", top_main},
};

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        fputs(usage, stderr);
        return UKCTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].main(argc - 1, argv + 1);
    ukctl_err("unknown command '%s' (see ukctl --help)", argv[1]);
    return UKCTL_EXIT_USAGE;
}
