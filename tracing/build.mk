# tracing/: ABI headers for guest and host; the Perfetto encoder uses protobuf-c.
GUEST_CPPFLAGS += -Itracing/include
HOST_CFLAGS += -Itracing/include -Itracing/host
