# Host unit test of the guest TSC -> host clock fit (ukctl trace --with-host).
test_trace_clock_SRCS := host-collector/bpf/trace_clock.c
test_trace_clock_CFLAGS := -Ihost-collector/bpf
