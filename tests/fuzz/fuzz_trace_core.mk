fuzz_trace_core_SRCS := tracing/host/trace_core.c tracing/host/trace_reader.c \
	tracing/host/trace_names.c
fuzz_trace_core_CFLAGS := -Itracing/include -Itracing/host
