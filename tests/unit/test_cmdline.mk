# Host unit test of the kernel command-line parser (plain C, glibc does).
test_cmdline_SRCS := kernel-hooks/core/cmdline.c
