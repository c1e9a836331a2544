# Host unit test of the guest TSC -> host clock fit (ukctl trace --with-host).
test_trace_clock_SRCS := host-collector/ukctl/trace_clock.c
