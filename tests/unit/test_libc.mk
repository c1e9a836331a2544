# Host unit test of the small libc (kernel-hooks/libc) against glibc.
#
# The libc defines the same names as glibc, so for this build every public
# name is renamed to ukc_NAME by force-including tests/unit/libc_rename.h in
# every file of the build (test and libc sources alike), and -fno-builtin
# stops gcc from treating the (renamed) calls as its builtins.
#
# The libc headers are found with -iquote, not -I: the libc sources and the
# test include them as "string.h" (quotes), which searches the -iquote
# directory, while <string.h> (angle brackets) still finds glibc's header.
# So both sets of headers can be used in one file without either shadowing
# the other; the test wraps the glibc functions it compares against in a
# region where the rename macros are switched off (see libc_rename.h).
test_libc_SRCS := kernel-hooks/libc/string.c kernel-hooks/libc/printf.c \
	kernel-hooks/libc/stdlib.c kernel-hooks/libc/ctype.c
test_libc_CFLAGS := -include tests/unit/libc_rename.h -fno-builtin \
	-iquote kernel-hooks/libc/include
