test_virtqueue_SRCS := kernel-hooks/drivers/virtqueue.c
test_virtqueue_CFLAGS := -Ikernel-hooks/drivers
