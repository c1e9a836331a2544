test_cd_parse_SRCS   := host-collector/lib/inst_meta.c host-collector/collectd/apibody.c
test_cd_parse_CFLAGS := -Ihost-collector/collectd -Iguest-agent -Itracing/include -Itracing/host
test_cd_parse_LDLIBS := -ljansson
