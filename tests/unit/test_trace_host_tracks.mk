# Host unit test of the host records -> Perfetto host tracks step of
# `ukctl trace --with-host`; the Perfetto writer is faked in the test.
test_trace_host_tracks_SRCS := host-collector/bpf/trace_host_tracks.c host-collector/bpf/trace_clock.c
test_trace_host_tracks_CFLAGS := -Itracing/include -Itracing/host -Ihost-collector
