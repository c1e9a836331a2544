fuzz_core_hmp_SRCS := host-collector/crash/hmp.c
