TELEM_HOST_SRCS := guest-agent/host/telemetry_decode.c guest-agent/host/telemetry_print.c \
	guest-agent/host/telemetry_payload.c guest-agent/common/telemetry_frame.c \
	guest-agent/common/metrics_text.c $(O)/gen/telemetry.pb-c.c
TELEM_HOST_CFLAGS := -I$(O)/gen -Iguest-agent -Iguest-agent/common -Iguest-agent/host
test_telemetry_SRCS := $(TELEM_HOST_SRCS)
test_telemetry_CFLAGS := $(TELEM_HOST_CFLAGS)
test_telemetry_LDLIBS := -lprotobuf-c -ljansson
