/* `ukctl gdb RUN_DIR`: start gdb on a running instance's debugger port. */
#ifndef UKCTL_GDB_H
#define UKCTL_GDB_H

/* Exec gdb with the image's symbols, the uk-gdb.py helper and `target
 * remote` on the instance's socket.  Returns only on error (exit status). */
int gdb_main(int argc, char **argv);

#endif
