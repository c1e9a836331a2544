test_klog_ring_SRCS   := guest-agent/host/klog_ring.c
test_klog_ring_CFLAGS := -Iguest-agent/host
