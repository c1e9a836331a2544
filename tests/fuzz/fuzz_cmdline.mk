fuzz_cmdline_SRCS := kernel-hooks/core/cmdline.c
