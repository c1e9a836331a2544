fuzz_trace_out_SRCS := tracing/host/trace_reader.c tracing/host/trace_names.c \
	tracing/host/trace_out.c tracing/host/trace_outfile.c tracing/host/trace_json.c \
	tracing/host/trace_ctf.c tracing/host/trace_perfetto.c \
	$(O)/gen/tracing/perfetto_trace.pb-c.c
fuzz_trace_out_CFLAGS := -Itracing/include -Itracing/host -I$(O)/gen/tracing
fuzz_trace_out_LDLIBS := -ljansson -lprotobuf-c
