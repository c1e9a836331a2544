fuzz_vcon_ctrl_SRCS := kernel-hooks/drivers/vcon_ctrl.c
fuzz_vcon_ctrl_CFLAGS := -Ikernel-hooks/drivers
