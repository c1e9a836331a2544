test_core_sig_SRCS := host-collector/crash/bundle.c host-collector/crash/guest.c \
	host-collector/crash/regions.c host-collector/crash/core.c host-collector/crash/corehdr.c \
	host-collector/crash/kelf.c \
	host-collector/lib/util.c
test_core_sig_LDLIBS := -ljansson -ldw -lelf
