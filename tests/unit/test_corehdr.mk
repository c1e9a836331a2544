test_corehdr_SRCS := host-collector/crash/guest.c host-collector/crash/regions.c \
	host-collector/crash/core.c host-collector/crash/corehdr.c
test_corehdr_LDLIBS := -ljansson
