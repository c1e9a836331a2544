fuzz_tracestore_seg_SRCS := host-collector/collectd/tseg.c tracing/host/trace_names.c
fuzz_tracestore_seg_CFLAGS := -Itracing/include -Itracing/host
