# test_backtrace: core/symbolize.c on the host with the table of test_symtab
# (see test_symtab.mk) linked in as .uksyms.  Non-PIE so that the absolute
# trap_common the test defines (at fx_alpha) needs no relocation.
test_backtrace_SRCS   := kernel-hooks/core/symbolize.c kernel-hooks/core/symtab.c
test_backtrace_CFLAGS := -Ikernel-hooks -Ikernel-hooks/core -I$(O)/tests/unit/symtab_fixture \
	-Wa,-I$(O)/tests/unit/symtab_fixture -fno-pie -no-pie

$(O)/tests/unit/test_backtrace: $(O)/tests/unit/symtab_fixture/table.bin \
	$(O)/tests/unit/symtab_fixture/fixture_syms.h
