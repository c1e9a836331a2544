# hostview BPF programs (docs/host-view.md), included from the top Makefile
# after the ukctl/ukcollectd link rules.  The libbpf-bootstrap layout:
#   hostview.bpf.c  -> $(O)/bpf/hostview.bpf.o  (clang -target bpf, CO-RE)
#   vmlinux.h       generated here from the build host's kernel BTF
#   hostview.skel.h bpftool gen skeleton; included by hostview.c only
# Both host tools link the loader (hostview.c) and libbpf.

BPF_CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

$(O)/bpf/vmlinux.h: | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BTF     $@")
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

BPF_SHARED_HDRS := host-collector/bpf/hosttrace.h host-collector/bpf/htrec.bpf.h \
	host-collector/bpf/tgidfilter.bpf.h

$(O)/bpf/hostview.bpf.o: host-collector/bpf/hostview.bpf.c host-collector/bpf/hostview.h \
		$(BPF_SHARED_HDRS) $(O)/bpf/vmlinux.h
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
		-I$(O)/bpf -Ihost-collector/bpf -c $< -o $@

$(O)/bpf/hostview.skel.h: $(O)/bpf/hostview.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name hostview > $@.tmp && mv $@.tmp $@

# hosttrace: per-event records of one QEMU process (ukctl trace --with-host)
$(O)/bpf/hosttrace.bpf.o: host-collector/bpf/hosttrace.bpf.c $(BPF_SHARED_HDRS) \
		$(O)/bpf/vmlinux.h
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
		-I$(O)/bpf -Ihost-collector/bpf -c $< -o $@

$(O)/bpf/hosttrace.skel.h: $(O)/bpf/hosttrace.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name hosttrace > $@.tmp && mv $@.tmp $@

$(call hobj,host-collector/bpf/hosttrace.c): $(O)/bpf/hosttrace.skel.h
$(call hobj,host-collector/bpf/hosttrace.c): HOST_CFLAGS += -I$(O)/bpf

HV_LOADER_OBJS := $(call hobj,host-collector/bpf/hostview.c host-collector/bpf/hvparse.c \
	host-collector/bpf/hvexit.c host-collector/bpf/hosttrace.c)
# + the host half of the guest+host timeline (uses the trace writers)
HV_OBJS := $(HV_LOADER_OBJS) $(call hobj,host-collector/bpf/trace_clock.c \
	host-collector/bpf/trace_host_tracks.c)
$(call hobj,host-collector/bpf/hostview.c): $(O)/bpf/hostview.skel.h
$(call hobj,host-collector/bpf/hostview.c): HOST_CFLAGS += -I$(O)/bpf

$(O)/bin/ukctl $(O)/bin/ukcollectd: $(HV_OBJS)
HOST_LDLIBS += -lbpf -lm
CD_LDLIBS += -lbpf -lm

# The driver of the BPF benchmark (tests/bench_bpf.py); built with the unit tests.
$(O)/tests/hv_drive: tests/tools/hv_drive.c $(HV_LOADER_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTLD  $@")
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ $^ -lbpf -lm -lpthread
unit: $(O)/tests/hv_drive
