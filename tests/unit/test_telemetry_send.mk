test_telemetry_send_SRCS = guest-agent/guest/telemetry_send.c $(TELEM_HOST_SRCS)
test_telemetry_send_CFLAGS = $(TELEM_HOST_CFLAGS) -Iguest-agent/guest
test_telemetry_send_LDLIBS := -lprotobuf-c -ljansson
