test_logstore_SRCS   := host-collector/collectd/logstore.c host-collector/collectd/log.c
test_logstore_CFLAGS := -Ihost-collector/collectd
test_logstore_LDLIBS := -ljansson
