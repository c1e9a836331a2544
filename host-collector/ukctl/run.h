/* The ukctl subcommands; each returns the process exit status. */
#ifndef UKCTL_RUN_H
#define UKCTL_RUN_H

/* Exit status of `ukctl run` when ukctl or QEMU failed to run the guest. */
#define UKCTL_EXIT_LAUNCH 125
/* Exit status for usage errors (same as UK_EXIT_PANIC; a message tells them apart). */
#define UKCTL_EXIT_USAGE  2

int run_main(int argc, char **argv);
int stop_main(int argc, char **argv);
int list_main(int argc, char **argv);

#endif
