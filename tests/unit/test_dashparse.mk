test_dashparse_SRCS   := host-collector/collectd/dashparse.c
test_dashparse_CFLAGS := -Ihost-collector/collectd
test_dashparse_LDLIBS := -ljansson
