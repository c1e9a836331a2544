fuzz_hvparse_SRCS   := host-collector/bpf/hvparse.c
fuzz_hvparse_LDLIBS := -lm
