/* `ukctl trace` (tracing/host/trace_cmd.c). */
#ifndef TRACE_CMD_H
#define TRACE_CMD_H

int trace_main(int argc, char **argv);

#endif
