fuzz_trace_clock_SRCS   := host-collector/bpf/trace_clock.c
fuzz_trace_clock_CFLAGS := -Ihost-collector/bpf
