# Telemetry channel build fragment (included by the top Makefile).
#
# The protobuf-c runtime comes from Debian's source package unpacked by
# `make deps` (not committed) and is compiled freestanding into the guest;
# the host links Debian's libprotobuf-c.  protoc-c generates the message
# code from guest-agent/common/telemetry.proto into $(O)/gen at build time.

TELEM_PROTO  := guest-agent/common/telemetry.proto
TELEM_GEN    := $(O)/gen
TELEM_GEN_C  := $(TELEM_GEN)/telemetry.pb-c.c
TELEM_GEN_H  := $(TELEM_GEN)/telemetry.pb-c.h
PROTOBUF_C_SRC := $(O)/third_party/protobuf-c-1.4.1

$(TELEM_GEN_H): $(TELEM_GEN_C)
$(TELEM_GEN_C): $(TELEM_PROTO) | $(O)/deps.stamp
	@mkdir -p $(TELEM_GEN)
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc-c --c_out=$(TELEM_GEN) -Iguest-agent/common $<

# The runtime's source is unpacked by the deps stamp (which `make all`
# builds first when missing).
$(PROTOBUF_C_SRC)/protobuf-c/protobuf-c.c: | $(O)/deps.stamp ;

# Guest: the runtime and the generated code.  The runtime is third-party
# code, so it gets its own warning set (-Wmissing-prototypes etc. off).
guest-agent_GUEST_CPPFLAGS += -I$(TELEM_GEN) -I$(PROTOBUF_C_SRC) -Iguest-agent/common
TELEM_GUEST_OBJS := $(O)/guest/third_party/protobuf-c.o $(O)/guest/gen/telemetry.pb-c.o
GUEST_EXTRA_OBJS += $(TELEM_GUEST_OBJS)

$(O)/guest/third_party/protobuf-c.o: $(PROTOBUF_C_SRC)/protobuf-c/protobuf-c.c | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(GUEST_CC) $(GUEST_CPPFLAGS) $(guest-agent_GUEST_CPPFLAGS) $(GUEST_CFLAGS) -Wno-missing-prototypes -Wno-sign-compare -c $< -o $@

$(O)/guest/gen/telemetry.pb-c.o: $(TELEM_GEN_C) | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(GUEST_CC) $(GUEST_CPPFLAGS) $(guest-agent_GUEST_CPPFLAGS) $(GUEST_CFLAGS) -c $< -o $@

# Everything of guest-agent that includes the generated header waits for it.
$(call gobj,$(wildcard guest-agent/guest/*.c guest-agent/common/*.c)): $(TELEM_GEN_H)

# Host: ukctl links the generated code against Debian's libprotobuf-c.
HOST_CFLAGS += -I$(TELEM_GEN) -Iguest-agent/common -Iguest-agent/host
HOST_LDLIBS += -lprotobuf-c
UKCTL_EXTRA_OBJS += $(O)/host/gen/telemetry.pb-c.o
$(O)/host/gen/telemetry.pb-c.o: $(TELEM_GEN_C)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@
$(patsubst %.c,$(O)/host/%.o,$(wildcard guest-agent/host/*.c guest-agent/common/*.c)): $(TELEM_GEN_H)
$(O)/host/host-collector/ukctl/ukctl.o: $(TELEM_GEN_H)
