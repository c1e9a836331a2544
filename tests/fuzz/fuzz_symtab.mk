fuzz_symtab_SRCS   := kernel-hooks/core/symtab.c
fuzz_symtab_CFLAGS := -Ikernel-hooks/core -Wall -Wextra -Werror
