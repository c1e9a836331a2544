# The trace store with the real reader and writers; protoc --proto_path needs the tree's root.
test_tracestore_SRCS := host-collector/collectd/tracestore.c host-collector/collectd/tracestore_disk.c \
	host-collector/collectd/tracestore_export.c host-collector/collectd/tseg.c host-collector/lib/ramview.c \
	tracing/host/trace_reader.c tracing/host/trace_names.c \
	tracing/host/trace_out.c tracing/host/trace_outfile.c tracing/host/trace_json.c \
	tracing/host/trace_ctf.c tracing/host/trace_perfetto.c \
	host-collector/bpf/trace_clock.c host-collector/bpf/trace_host_tracks.c \
	$(O)/gen/tracing/perfetto_trace.pb-c.c
test_tracestore_CFLAGS := -Itracing/include -Itracing/host -I$(O)/gen/tracing \
	-DUKSCOPE_ROOT='"$(CURDIR)"'
test_tracestore_LDLIBS := -ljansson -lprotobuf-c -lpthread
