fuzz_gdb_SRCS := gdbstub/common/gdb_core.c gdbstub/common/gdb_lldb.c tests/unit/gdb_fake.c
fuzz_gdb_CFLAGS := -Itests/unit
