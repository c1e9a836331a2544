fuzz_telemetry_SRCS = $(TELEM_HOST_SRCS)
fuzz_telemetry_CFLAGS = $(TELEM_HOST_CFLAGS)
fuzz_telemetry_LDLIBS := -lprotobuf-c -ljansson
