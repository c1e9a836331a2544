fuzz_virtio_parse_SRCS := kernel-hooks/drivers/virtio_mmio_parse.c
fuzz_virtio_parse_CFLAGS := -Ikernel-hooks/drivers
