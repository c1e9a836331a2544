fuzz_trace_clock_SRCS   := host-collector/ukctl/trace_clock.c
fuzz_trace_clock_CFLAGS := -Ihost-collector/ukctl
