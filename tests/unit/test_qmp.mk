test_qmp_SRCS := host-collector/qmp.c
test_qmp_LDLIBS := -ljansson
