fuzz_inst_meta_SRCS   := host-collector/lib/inst_meta.c
fuzz_inst_meta_LDLIBS := -ljansson
