fuzz_trace_SRCS := tracing/host/trace_reader.c tracing/host/trace_names.c
fuzz_trace_CFLAGS := -Itracing/include -Itracing/host
