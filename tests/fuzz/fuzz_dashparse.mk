fuzz_dashparse_SRCS   := host-collector/collectd/dashparse.c
fuzz_dashparse_CFLAGS := -Ihost-collector/collectd
fuzz_dashparse_LDLIBS := -ljansson
