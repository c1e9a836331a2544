/*
 * lwIP configuration for ukscope: NO_SYS (raw API only), every lwIP call is
 * made from the one network thread (guest-agent/guest/net.c), so lwIP needs
 * no locking.  Memory comes from the kernel heap (MEM_LIBC_MALLOC and
 * MEMP_MEM_MALLOC), so lwIP's use shows in the heap metrics.
 */
#ifndef UKSCOPE_LWIPOPTS_H
#define UKSCOPE_LWIPOPTS_H

#define NO_SYS                 1
#define LWIP_SOCKET            0
#define LWIP_NETCONN           0
#define SYS_LIGHTWEIGHT_PROT   0
#define LWIP_NO_INTTYPES_H     1
#define LWIP_NO_CTYPE_H        1
#define LWIP_NO_LIMITS_H       1

#define MEM_LIBC_MALLOC        1
#define MEMP_MEM_MALLOC        1
#define MEM_ALIGNMENT          8

#define LWIP_IPV4              1
#define LWIP_IPV6              0
#define LWIP_ARP               1
#define LWIP_ETHERNET          1
#define LWIP_ICMP              1
#define LWIP_UDP               1
#define LWIP_TCP               1
#define LWIP_DHCP              1
#define LWIP_RAW               0
#define LWIP_IGMP              0
#define LWIP_DNS               0
#define LWIP_AUTOIP            0
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK   0
#define DHCP_DOES_ARP_CHECK    0
#define LWIP_DHCP_DOES_ACD_CHECK 0

/* TCP: room for many concurrent clients; the httpd bounds its own. */
#define TCP_MSS                1460
#define TCP_WND                (16 * TCP_MSS)
#define TCP_SND_BUF            (16 * TCP_MSS)
#define TCP_SND_QUEUELEN       (4 * TCP_SND_BUF / TCP_MSS)
#define MEMP_NUM_TCP_SEG       (2 * TCP_SND_QUEUELEN)
#define MEMP_NUM_TCP_PCB       600
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_PBUF          64
#define PBUF_POOL_SIZE         256
#define TCP_LISTEN_BACKLOG     1
#define LWIP_TCP_KEEPALIVE     0
#define TCP_QUEUE_OOSEQ        1

#define LWIP_STATS             1
#define LWIP_STATS_DISPLAY     0
#define LWIP_CHECKSUM_ON_COPY  0
#define LWIP_HAVE_LOOPIF       0
#define LWIP_NETIF_LOOPBACK    0

#define LWIP_RAND()            ((u32_t)ukscope_lwip_rand())
#ifdef __cplusplus
extern "C" {
#endif
unsigned ukscope_lwip_rand(void);
#ifdef __cplusplus
}
#endif

#endif
