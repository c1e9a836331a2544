fuzz_spool_SRCS := host-collector/collectd/spool.c
