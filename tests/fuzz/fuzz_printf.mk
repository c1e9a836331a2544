# libFuzzer target comparing the small libc's snprintf with glibc's.  The
# libc is renamed to ukc_* and its headers found via -iquote, exactly as in
# tests/unit/test_libc.mk (see the comment there).
fuzz_printf_SRCS := kernel-hooks/libc/printf.c
fuzz_printf_CFLAGS := -include tests/unit/libc_rename.h -fno-builtin \
	-iquote kernel-hooks/libc/include
