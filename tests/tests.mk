# Test builds (included by the top Makefile).
#
# Unit tests: tests/unit/test_NAME.c is a cmocka program built for the host
# into $(O)/tests/unit/test_NAME.  An optional tests/unit/test_NAME.mk sets
#   test_NAME_SRCS    extra sources to compile in (e.g. the code under test)
#   test_NAME_CFLAGS  extra flags
#   test_NAME_LDLIBS  extra libraries
#
# Fuzz targets: tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput and is
# built with clang -fsanitize=fuzzer,address,undefined into
# $(O)/fuzz/fuzz_NAME; tests/fuzz/fuzz_NAME.mk may set fuzz_NAME_SRCS /
# _CFLAGS / _LDLIBS.  Seed corpus: tests/fuzz/corpus/NAME/.

-include $(wildcard tests/unit/*.mk tests/fuzz/*.mk)

UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(addprefix $(O)/tests/unit/,$(UNIT_NAMES))
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=address,undefined -fno-omit-frame-pointer \
	-Ikernel-hooks/include -Ihost-collector -Ihost-collector/lib -Ihost-collector/ukctl -Itests/unit

FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(addprefix $(O)/fuzz/,$(FUZZ_NAMES))
FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Ikernel-hooks/include -Ihost-collector -Ihost-collector/lib -Ihost-collector/ukctl -Itests/fuzz

# Unit and fuzz binaries are compiled and linked in one step, without
# dependency files: they depend on every header of the tree instead, so a
# header change (a layout, a limit) never leaves a stale test binary.
TEST_HDRS := $(shell find kernel-hooks gdbstub tracing guest-agent host-collector tests \
	-name '*.h' 2>/dev/null)

.SECONDEXPANSION:
$(O)/tests/unit/%: tests/unit/%.c $$($$*_SRCS) tests/tests.mk $(TEST_HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  UNIT    $@")
	$(Q)$(HOST_CC) $(UNIT_CFLAGS) $($*_CFLAGS) -o $@ $< $($*_SRCS) -lcmocka $($*_LDLIBS)

$(O)/fuzz/%: tests/fuzz/%.c $$($$*_SRCS) tests/tests.mk $(TEST_HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $($*_CFLAGS) -o $@ $< $($*_SRCS) $($*_LDLIBS)

unit: $(UNIT_BINS)
fuzz: $(FUZZ_BINS)

# The RELP forwarder's test driver (tests/e2e/test_relp.py, tests/bench_relp.py).
RELPFWD_SRCS := host-collector/collectd/relpfwd.c host-collector/collectd/spool.c \
	host-collector/collectd/rfc5424.c
$(O)/tests/relpfwd_drive: tests/tools/relpfwd_drive.c $(RELPFWD_SRCS) $(TEST_HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTLD  $@")
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ $< $(RELPFWD_SRCS) -lrelp
unit: $(O)/tests/relpfwd_drive
