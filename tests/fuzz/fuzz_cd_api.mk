fuzz_cd_api_SRCS   := host-collector/collectd/apibody.c host-collector/collectd/logstore.c \
	host-collector/collectd/log.c
fuzz_cd_api_CFLAGS := -Iguest-agent -Itracing/include -Itracing/host -Ihost-collector/collectd
fuzz_cd_api_LDLIBS := -ljansson
