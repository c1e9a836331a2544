fuzz_qmp_SRCS := host-collector/lib/qmp.c
fuzz_qmp_LDLIBS := -ljansson
