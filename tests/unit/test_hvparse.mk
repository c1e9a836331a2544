# Host unit test of hostview's text parsers and exit-name table (no libbpf).
test_hvparse_SRCS := host-collector/bpf/hvparse.c host-collector/bpf/hvexit.c
test_hvparse_LDLIBS := -lm
