fuzz_gdb_SRCS := gdbstub/common/gdb_core.c tests/unit/gdb_fake.c
fuzz_gdb_CFLAGS := -Itests/unit
