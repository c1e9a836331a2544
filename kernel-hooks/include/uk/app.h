/*
 * The application entry.  kmain starts a thread "main" that runs
 * uk_app_main() once the kernel, SMP and initcalls are up.  Its return value
 * becomes the exit status when `exit_on_return` is on the command line;
 * otherwise the kernel keeps running the other threads.
 */
#ifndef UK_APP_H
#define UK_APP_H

int uk_app_main(void);

#endif
