/* placeholder, replaced below */
#include "crash_dump.h"
int crash_main(int argc, char **argv) { return 2; }
int crash_bundle_write(const char *run_dir, const char *crash_dir, enum crash_level level,
                       bool verbose, char *path_out, size_t path_len, char *err, size_t errlen) { return -1; }
