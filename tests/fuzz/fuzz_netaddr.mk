fuzz_netaddr_SRCS   := host-collector/lib/netaddr.c
fuzz_netaddr_CFLAGS := -Ihost-collector/lib
