fuzz_rfc5424_SRCS := host-collector/collectd/rfc5424.c
