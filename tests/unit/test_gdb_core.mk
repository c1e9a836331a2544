test_gdb_core_SRCS := gdbstub/common/gdb_core.c gdbstub/common/gdb_lldb.c tests/unit/gdb_fake.c
