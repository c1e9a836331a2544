# guest-agent: lwIP 2.1.3 (Debian source package unpacked by `make deps`, not
# committed) compiled freestanding into every guest image, plus include paths
# for the agent's own code (guest-agent/guest, guest-agent/common).

LWIP_DIR := $(O)/third_party/lwip-2.1.3+dfsg1/src
LWIP_SRCS := core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c core/memp.c \
	core/netif.c core/pbuf.c core/stats.c core/tcp.c core/tcp_in.c core/tcp_out.c \
	core/timeouts.c core/udp.c \
	core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c core/ipv4/ip4.c \
	core/ipv4/ip4_addr.c core/ipv4/ip4_frag.c netif/ethernet.c
LWIP_OBJS := $(patsubst %.c,$(O)/lwip/%.o,$(LWIP_SRCS))

guest-agent_GUEST_CPPFLAGS += -Iguest-agent/port -I$(LWIP_DIR)/include

# lwIP is third-party code: the kernel's warning set, but not -Werror.
LWIP_CFLAGS := $(filter-out -Werror -Wmissing-prototypes,$(GUEST_CFLAGS)) -Wno-address

$(O)/lwip/%.o: $(LWIP_DIR)/%.c | $(O)/deps.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      lwip/$*.c")
	$(Q)$(GUEST_CC) $(GUEST_CPPFLAGS) $(guest-agent_GUEST_CPPFLAGS) $(LWIP_CFLAGS) -c $< -o $@

# Explicit (not a pattern) so make never treats the unpacked sources as
# intermediate files and deletes them.
$(addprefix $(LWIP_DIR)/,$(LWIP_SRCS)): | $(O)/deps.stamp ;

GUEST_EXTRA_OBJS += $(LWIP_OBJS)
HOST_CFLAGS += -Iguest-agent
$(call gobj,$(shell find guest-agent -name "*.c")): | $(O)/deps.stamp

# The demo key-value service (port 8081) is only in the default image.
KVDEMO_OBJS := $(call gobj,$(wildcard guest-agent/demo/*.c))
DEMO_OBJS += $(KVDEMO_OBJS)
$(KVDEMO_OBJS): | $(O)/deps.stamp
