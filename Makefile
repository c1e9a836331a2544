# ukscope top-level build.
#
#   make deps    install Debian packages and fetch lwIP/protobuf-c sources (idempotent)
#   make         guest images + host tools under $(O)/
#   make test    build, then run every test; ends with "N passed, N failed"
#   make run     boot the demo instance in the foreground
#   make install copy ukctl to $(PREFIX)/bin (PREFIX=/usr/local; DESTDIR honoured)
#   make bench   boot/other benchmarks, results printed and appended by hand to BENCHMARKS.md
#   make clean
#
# Quiet unless V=1.  Out of tree: everything goes to $(O) (default build/).

CONFIG_VERSION ?= 0.1.0
CONFIG_SMP     ?= 2
CONFIG_MEM     ?= 128
CONFIG_ACCEL   ?= auto
CONFIG_OPT     ?= -O2
# Parallel test jobs.  1 by default: on a 2-core host, QEMU guests with 4 TCG
# vCPUs and emulated (kvm_pvm) guests starve each other when run side by side.
CONFIG_TEST_JOBS ?= 1

O ?= build
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

.DEFAULT_GOAL := all
.PHONY: all deps test run bench clean guest host fuzz unit format install

PREFIX ?= /usr/local

# ---------------------------------------------------------------- guest ---
GCC_INC := $(shell gcc -print-file-name=include)

GUEST_CC := gcc
# Every guest object sees the hook contract and the small libc.  What else it
# may include depends on its layer (LAYER_CPPFLAGS, set per folder below):
# the kernel sees its internals (-Ikernel-hooks); a component sees only its
# own folder plus what its build.mk adds to <comp>_GUEST_CPPFLAGS, so a
# component that includes a kernel-internal header does not compile.
GUEST_CPPFLAGS := -nostdinc -isystem $(GCC_INC) -D_LIBC_LIMITS_H_ \
	-Ikernel-hooks/include -Ikernel-hooks/libc/include \
	-DUK_VERSION='"$(CONFIG_VERSION)"'
GUEST_CFLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	-mno-red-zone -mgeneral-regs-only -fno-omit-frame-pointer \
	-mno-omit-leaf-frame-pointer -fno-common -fno-strict-aliasing -g $(CONFIG_OPT) \
	-Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -MMD -MP
GUEST_ASFLAGS := -g -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=sha1 -Wl,-z,max-page-size=4096 \
	-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -T kernel-hooks/arch/x86_64/kernel.lds
LIBGCC := $(shell gcc -print-libgcc-file-name)

# The kernel proper and the hook consumers (gdbstub/, tracing/, guest-agent/) that
# are linked into every image.  Each consumer may only include kernel-hooks/include.
KERNEL_DIRS := kernel-hooks/arch/x86_64 kernel-hooks/core kernel-hooks/drivers kernel-hooks/libc
KERNEL_SRCS := $(foreach d,$(KERNEL_DIRS),$(wildcard $(d)/*.c $(d)/*.S))

# Components carried into other unikernels (gdbstub/, tracing/, guest-agent/):
#   <comp>/guest/**   compiled into every guest image
#   <comp>/host/**    linked into ukctl
#   <comp>/common/**  both (e.g. a protocol core that host tests also use)
# A component may add a fragment <comp>/build.mk (included below) that
# appends to GUEST_EXTRA_OBJS, <comp>_GUEST_CPPFLAGS, UKCTL_EXTRA_OBJS, HOST_LDLIBS...
COMPONENTS := gdbstub tracing guest-agent
comp_srcs = $(shell find $(COMPONENTS) -type f \( -name '*.c' -o -name '*.S' \) \
	\( -path '*/$(1)/*' -o -path '*/common/*' \) 2>/dev/null | sort)
KERNEL_SRCS += $(call comp_srcs,guest)
DEMO_SRCS   := $(wildcard kernel-hooks/demo/*.c)
GTEST_SRCS  := $(wildcard tests/guest/*.c)

gobj = $(patsubst %,$(O)/guest/%.o,$(basename $(1)))
KERNEL_OBJS := $(call gobj,$(KERNEL_SRCS))
DEMO_OBJS   := $(call gobj,$(DEMO_SRCS))
GTEST_OBJS  := $(call gobj,$(GTEST_SRCS))

# Every object waits for `make deps` (packages and third-party sources), so a
# parallel `make all` on a fresh clone never races the source unpacking.
$(O)/guest/%.o: %.c | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(GUEST_CC) $(GUEST_CPPFLAGS) $(LAYER_CPPFLAGS) $(GUEST_CFLAGS) -c $< -o $@

$(O)/guest/%.o: %.S | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(GUEST_CC) $(GUEST_CPPFLAGS) $(LAYER_CPPFLAGS) $(GUEST_ASFLAGS) -c $< -o $@

# Include paths per layer (recursive, so build.mk fragments included later
# still count).  Applications (the demo, in-guest tests) may use everything.
$(O)/guest/kernel-hooks/%: LAYER_CPPFLAGS = -Ikernel-hooks
$(foreach c,$(COMPONENTS),$(eval $(O)/guest/$(c)/%: LAYER_CPPFLAGS = -I$(c) $$($(c)_GUEST_CPPFLAGS)))
$(O)/guest/tests/guest/%: LAYER_CPPFLAGS = -Ikernel-hooks $(foreach c,$(COMPONENTS),-I$(c) $($(c)_GUEST_CPPFLAGS))

# Two-pass link: pass 1 has an empty .uksyms section; its function symbols become
# the symbol table that pass 2 links in.  .uksyms is the last loaded section, so
# adding it moves no other symbol; mksyms.sh checks that.
# $(1) image name, $(2) objects
define IMAGE_template
$(O)/$(1).pass1.elf: $(2) kernel-hooks/arch/x86_64/kernel.lds
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $$@ $(2) $(LIBGCC)
$(O)/$(1).syms.S: $(O)/$(1).pass1.elf kernel-hooks/arch/x86_64/mksyms.sh
	$(Q)sh kernel-hooks/arch/x86_64/mksyms.sh gen $$< > $$@
$(O)/$(1).elf: $(O)/$(1).syms.o
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $$@.tmp $(2) $(O)/$(1).syms.o $(LIBGCC)
	$(Q)sh kernel-hooks/arch/x86_64/mksyms.sh check $(O)/$(1).pass1.elf $$@.tmp
	$(Q)mv $$@.tmp $$@
endef

$(O)/%.syms.o: $(O)/%.syms.S
	$(Q)$(GUEST_CC) -c $< -o $@


guest: $(O)/kernel.elf $(O)/kernel-test.elf

# ----------------------------------------------------------------- host ---
HOST_CC := gcc
HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP \
	-Ikernel-hooks/include -Ihost-collector -Ihost-collector/lib -Ihost-collector/ukctl -DUKSCOPE_SRCDIR='"$(CURDIR)"'
HOST_LDLIBS := -ljansson -ldw -lelf

# Component fragments come after every variable they may append to.
GUEST_EXTRA_OBJS :=
UKCTL_EXTRA_OBJS :=
-include $(wildcard $(addsuffix /build*.mk,$(COMPONENTS)))

$(eval $(call IMAGE_template,kernel,$(KERNEL_OBJS) $(GUEST_EXTRA_OBJS) $(DEMO_OBJS)))
$(eval $(call IMAGE_template,kernel-test,$(KERNEL_OBJS) $(GUEST_EXTRA_OBJS) $(GTEST_OBJS)))

UKCTL_SRCS := $(wildcard host-collector/ukctl/*.c host-collector/crash/*.c host-collector/lib/*.c) \
	$(call comp_srcs,host)
hobj = $(patsubst %,$(O)/host/%.o,$(basename $(1)))
UKCTL_OBJS := $(call hobj,$(UKCTL_SRCS))

# `ukctl trace --fleet` drains into the collector's trace store
UKCTL_OBJS += $(call hobj,$(wildcard host-collector/collectd/tracestore*.c host-collector/collectd/tseg.c))

$(O)/host/%.o: %.c | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

$(O)/bin/ukctl: $(UKCTL_OBJS) $(UKCTL_EXTRA_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTLD  $@")
	$(Q)$(HOST_CC) -o $@ $^ $(HOST_LDLIBS)

# ukcollectd, the fleet collector (docs/collector.md): its own folder, the
# shared lib/, and the host readers of the guest ABIs it uses.  The RELP
# forwarder and trace store (collectd/relpfwd.c, tracestore.c) are linked in
# when present.
CD_SRCS := $(wildcard host-collector/collectd/*.c) $(wildcard host-collector/lib/*.c) \
	guest-agent/host/klog_ring.c guest-agent/host/metrics_cmd.c \
	guest-agent/common/metrics_text.c tracing/host/trace_reader.c tracing/host/trace_names.c \
	host-collector/crash/store.c
CD_LDLIBS := -ljansson -lmicrohttpd
# Paths are built in fixed buffers sized for PATH_MAX-long roots; gcc cannot
# see that the buffers inside the one global state never overlap.
$(O)/host/host-collector/collectd/%.o: HOST_CFLAGS += -Wno-format-truncation -Wno-restrict
ifneq ($(wildcard host-collector/collectd/relpfwd.c),)
CD_LDLIBS += -lrelp
$(call hobj,$(CD_SRCS)): HOST_CFLAGS += -DHAVE_RELPFWD
endif
CD_EXTRA_OBJS :=
ifneq ($(TELEM_GEN_C),)
# live klog lines from the telemetry stream (collectd/telem.c)
CD_SRCS += guest-agent/host/telemetry_decode.c guest-agent/common/telemetry_frame.c
CD_EXTRA_OBJS += $(O)/host/gen/telemetry.pb-c.o
CD_LDLIBS += -lprotobuf-c
$(O)/host/host-collector/collectd/telem.o: $(TELEM_GEN_H)
endif
ifneq ($(wildcard host-collector/collectd/tracestore.c),)
# the trace store exports with the trace writers of `ukctl trace`
CD_SRCS += tracing/host/trace_out.c tracing/host/trace_outfile.c tracing/host/trace_perfetto.c \
	tracing/host/trace_ctf.c tracing/host/trace_json.c
CD_EXTRA_OBJS += $(O)/host/gen/perfetto_trace.pb-c.o
CD_LDLIBS += -lprotobuf-c
$(call hobj,$(CD_SRCS)): HOST_CFLAGS += -DHAVE_TRACESTORE
endif
$(O)/bin/ukcollectd: $(call hobj,$(CD_SRCS)) $(CD_EXTRA_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTLD  $@")
	$(Q)$(HOST_CC) -o $@ $^ $(CD_LDLIBS)

host: $(O)/bin/ukctl $(O)/bin/ukcollectd

# the hostview BPF programs, linked into both host tools (docs/host-view.md)
include host-collector/bpf/build.mk

include tests/tests.mk
include dashboards/build.mk

all: guest host

# ------------------------------------------------------------- commands ---
# deps.sh is idempotent and quick when everything is present; the stamp keeps
# `make run` / `make test` from asking apt on every call.
deps:
	$(Q)V=$(V) sh .ci/deps.sh $(O)
$(O)/deps.stamp: .ci/deps.sh
	$(Q)V=$(V) sh .ci/deps.sh $(O)

test: $(O)/deps.stamp
	$(Q)$(MAKE) --no-print-directory all unit fuzz

	$(Q)python3 tests/run.py --build $(O) -j $(CONFIG_TEST_JOBS)

# The default run dir ($XDG_RUNTIME_DIR/ukscope/demo or /tmp/ukscope-$UID/demo),
# so that `ukctl list` without arguments shows it.
run: $(O)/deps.stamp
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(O)/bin/ukctl run --smp $(CONFIG_SMP) --mem $(CONFIG_MEM) --accel $(CONFIG_ACCEL) \
		--name demo $(O)/kernel.elf

install: $(O)/bin/ukctl
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin
	$(Q)install -m 0755 $(O)/bin/ukctl $(DESTDIR)$(PREFIX)/bin/ukctl
	$(Q)install -d $(DESTDIR)$(PREFIX)/share/ukscope
	$(Q)install -m 0644 gdbstub/host/uk-gdb.py gdbstub/host/uk-crash-drgn.py \
		$(DESTDIR)$(PREFIX)/share/ukscope/
	@echo "installed $(DESTDIR)$(PREFIX)/bin/ukctl and its gdb/drgn helpers in $(DESTDIR)$(PREFIX)/share/ukscope"

bench: $(O)/deps.stamp
	$(Q)$(MAKE) --no-print-directory all
	$(Q)python3 tests/bench.py --build $(O)

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	$(Q)rm -rf $(O)

-include $(shell find $(O)/guest $(O)/host $(O)/tests -name '*.d' -type f 2>/dev/null)
