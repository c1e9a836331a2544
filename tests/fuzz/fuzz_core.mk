fuzz_core_SRCS := host-collector/crash/guest.c host-collector/crash/regions.c host-collector/crash/core.c host-collector/crash/corehdr.c
fuzz_core_CFLAGS := -Itests/unit
fuzz_core_LDLIBS := -ljansson
