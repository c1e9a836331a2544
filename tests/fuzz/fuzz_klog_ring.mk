fuzz_klog_ring_SRCS   := guest-agent/host/klog_ring.c
fuzz_klog_ring_CFLAGS := -Iguest-agent/host
