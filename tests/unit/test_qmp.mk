test_qmp_SRCS := host-collector/lib/qmp.c
test_qmp_LDLIBS := -ljansson
