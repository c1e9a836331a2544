test_netaddr_SRCS   := host-collector/lib/netaddr.c
test_netaddr_CFLAGS := -Ihost-collector/lib
