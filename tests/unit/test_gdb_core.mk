test_gdb_core_SRCS := gdbstub/common/gdb_core.c tests/unit/gdb_fake.c
