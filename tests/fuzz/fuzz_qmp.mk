fuzz_qmp_SRCS := host-collector/qmp.c
fuzz_qmp_LDLIBS := -ljansson
