test_vcon_ctrl_SRCS := kernel-hooks/drivers/vcon_ctrl.c
test_vcon_ctrl_CFLAGS := -Ikernel-hooks/drivers
