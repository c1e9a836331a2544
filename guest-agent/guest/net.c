/*
 * The network thread: the lwIP netif on top of <uk/netdev.h>, DHCP with a
 * static fallback, and lwIP's timers.  lwIP runs NO_SYS: every lwIP call is
 * made on this thread, which sleeps on a wait queue woken by the driver's
 * receive interrupt, by agent_net_call(), or by the next lwIP timeout.
 *
 * Command line: ip=A.B.C.D/N [gw=A.B.C.D] sets a static address (no DHCP);
 * otherwise DHCP, and if no lease arrives within dhcp_timeout seconds
 * (default 8), QEMU user networking's defaults 10.0.2.15/24 gw 10.0.2.2.
 */
#include <string.h>
#include <stdarg.h>
#include <uk/cmdline.h>
#include <uk/panic.h>
#include <uk/hooks.h>
#include <uk/klog.h>
#include <uk/sync.h>
#include <uk/thread.h>
#include <uk/time.h>

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "guest/agent.h"

enum { NET_CALLS_MAX = 64 };

static struct uk_netdev *ndev;
static struct netif nif;
static struct uk_spinlock wake_lock = UK_SPINLOCK_INIT;
static struct uk_waitq wake_q = UK_WAITQ_INIT;
static bool wake_pending;
static volatile bool net_up;
static struct {
    void (*fn)(void *);
    void *arg;
} calls[NET_CALLS_MAX];
static unsigned ncalls;

struct uk_netdev *agent_netdev(void) { return ndev; }
bool agent_net_up(void) { return net_up; }

/* ---- lwIP platform glue (sys_now, rand, diagnostics) ---- */
uint32_t sys_now(void);
uint32_t sys_now(void) { return (uint32_t)(uk_time_ns() / 1000000ULL); }

unsigned ukscope_lwip_rand(void)
{
    static uint64_t s;
    if (!s)
        s = uk_tsc() | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (unsigned)s;
}

void ukscope_lwip_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uk_vlog(UK_LOG_DEBUG, fmt, ap);
    va_end(ap);
}

void ukscope_lwip_assert(const char *msg, const char *file, int line)
{
    uk_panic("lwIP assertion \"%s\" failed at %s:%d", msg, file, line);
}

/* ---- wake-ups ---- */
static void net_wake(void *arg)
{
    unsigned long fl = uk_spin_lock_irqsave(&wake_lock);
    wake_pending = true;
    uk_spin_unlock_irqrestore(&wake_lock, fl);
    uk_waitq_wake_one(&wake_q);
}

uk_result agent_net_call(void (*fn)(void *arg), void *arg)
{
    unsigned long fl = uk_spin_lock_irqsave(&wake_lock);
    uk_result r = UK_ENOMEM;
    if (ncalls < NET_CALLS_MAX) {
        calls[ncalls].fn = fn;
        calls[ncalls].arg = arg;
        ncalls++;
        wake_pending = true;
        r = UK_OK;
    }
    uk_spin_unlock_irqrestore(&wake_lock, fl);
    if (r == UK_OK)
        uk_waitq_wake_one(&wake_q);
    return r;
}

static void run_calls(void)
{
    for (;;) {
        unsigned long fl = uk_spin_lock_irqsave(&wake_lock);
        if (!ncalls) {
            uk_spin_unlock_irqrestore(&wake_lock, fl);
            return;
        }
        void (*fn)(void *) = calls[0].fn;
        void *arg = calls[0].arg;
        memmove(&calls[0], &calls[1], (ncalls - 1) * sizeof(calls[0]));
        ncalls--;
        uk_spin_unlock_irqrestore(&wake_lock, fl);
        fn(arg);
    }
}

/* ---- netif ---- */
static err_t nif_linkoutput(struct netif *n, struct pbuf *p)
{
    static uint8_t frame[UK_NETDEV_FRAME_MAX];
    if (p->tot_len > sizeof(frame))
        return ERR_BUF;
    pbuf_copy_partial(p, frame, p->tot_len, 0);
    return uk_netdev_tx(ndev, frame, p->tot_len) == UK_OK ? ERR_OK : ERR_MEM;
}

static err_t nif_init(struct netif *n)
{
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->hwaddr_len = ETH_HWADDR_LEN;
    uk_netdev_mac(ndev, n->hwaddr);
    n->mtu = UK_NETDEV_MTU;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    n->output = etharp_output;
    n->linkoutput = nif_linkoutput;
    return ERR_OK;
}

static void nif_status(struct netif *n)
{
    if (!ip4_addr_isany_val(*netif_ip4_addr(n)) && !net_up) {
        char a[16], g[16];
        ip4addr_ntoa_r(netif_ip4_addr(n), a, sizeof(a));
        ip4addr_ntoa_r(netif_ip4_gw(n), g, sizeof(g));
        uk_info("net: %s/%d gw %s (%s)", a, 32 - __builtin_popcount(~ip4_addr_get_u32(netif_ip4_netmask(n))),
                g, dhcp_supplied_address(n) ? "dhcp" : "static");
        net_up = true;
    }
}

/* Parse "A.B.C.D/N" into addr and netmask; false if malformed. */
static bool parse_cidr(const char *s, ip4_addr_t *addr, ip4_addr_t *mask)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    unsigned bits = 24;
    if (strlen(s) >= sizeof(buf))
        return false;
    strlcpy(buf, s, sizeof(buf));
    if (slash) {
        buf[slash - s] = 0;
        const char *p = slash + 1;
        if (!*p || strlen(p) > 2)
            return false;
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return false;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits < 1 || bits > 32)
            return false;
    }
    if (!ip4addr_aton(buf, addr))
        return false;
    ip4_addr_set_u32(mask, lwip_htonl(bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits)));
    return true;
}

static void set_static(const char *ip, const char *gw)
{
    ip4_addr_t a, m, g;
    if (!parse_cidr(ip, &a, &m)) {
        uk_warn("net: bad ip=%s, using 10.0.2.15/24", ip);
        parse_cidr("10.0.2.15/24", &a, &m);
    }
    if (!gw || !ip4addr_aton(gw, &g))
        ip4_addr_set_zero(&g);
    netif_set_addr(&nif, &a, &m, &g);
}

static void net_thread(void *arg)
{
    static uint8_t frame[UK_NETDEV_FRAME_MAX];
    const char *ip = uk_cmdline_get("ip");
    bool dhcp = !ip || strcmp(ip, "dhcp") == 0;
    uint64_t dhcp_deadline = uk_time_ns() + uk_cmdline_get_u64("dhcp_timeout", 8) * UK_NSEC_PER_SEC;

    lwip_init();
    netif_add(&nif, NULL, NULL, NULL, NULL, nif_init, ethernet_input);
    netif_set_default(&nif);
    netif_set_status_callback(&nif, nif_status);
    netif_set_up(&nif);
    uk_netdev_set_rx_notify(ndev, net_wake, NULL);
    if (dhcp)
        dhcp_start(&nif);
    else
        set_static(ip, uk_cmdline_get("gw"));
    httpd_start((unsigned)uk_cmdline_get_u64("http_port", 8080));

    for (;;) {
        size_t len;
        while ((len = uk_netdev_rx(ndev, frame, sizeof(frame))) != 0) {
            struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
            if (!p)
                continue;
            pbuf_take(p, frame, (u16_t)len);
            if (nif.input(p, &nif) != ERR_OK)
                pbuf_free(p);
        }
        run_calls();
        sys_check_timeouts();
        if (dhcp && !net_up && uk_time_ns() > dhcp_deadline) {
            uk_warn("net: no DHCP lease, falling back to 10.0.2.15/24 gw 10.0.2.2");
            dhcp_stop(&nif);
            dhcp = false;
            set_static("10.0.2.15/24", "10.0.2.2");
        }
        /* Sleep until lwIP's next timer; poll every 50 ms only while the
         * DHCP fallback deadline is pending.  With no TCP timer due (those
         * run every 250 ms), only the 0.5-1 s housekeeping timers (DHCP
         * lease, ARP, reassembly) are: run them late, on the uptime's 1 s
         * grid that the metrics page and telemetry heartbeats wake on. */
        u32_t next = sys_timeouts_sleeptime();
        if (next > 50 && dhcp && !net_up)
            next = 50;
        uint64_t wake = uk_time_ns() + UK_MSEC(next ? next : 1);
        if (net_up && next > 250)
            wake = (wake / UK_NSEC_PER_SEC + 1) * UK_NSEC_PER_SEC;
        unsigned long fl = uk_spin_lock_irqsave(&wake_lock);
        if (!wake_pending)
            uk_waitq_wait(&wake_q, &wake_lock, wake);
        wake_pending = false;
        uk_spin_unlock_irqrestore(&wake_lock, fl);
    }
}

static void agent_net_init(void)
{
    if (uk_cmdline_flag("nonet") || uk_netdev_get(0, &ndev) != UK_OK) {
        ndev = NULL;
        return;
    }
    uk_result r = uk_thread_create("net", net_thread, NULL, UK_THREAD_ATTR_SYSTEM, NULL);
    if (r)
        uk_warn("net: cannot start the network thread: %s", uk_result_str(r));
}
UK_INITCALL_SERVICE(agent_net_init);
