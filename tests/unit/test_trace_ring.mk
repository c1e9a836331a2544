test_trace_ring_SRCS := tracing/host/trace_reader.c tracing/host/trace_names.c
test_trace_ring_CFLAGS := -Itracing/include -Itracing/host -pthread
test_trace_ring_LDLIBS := -pthread
