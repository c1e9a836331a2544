/*
 * Internal interfaces between the guest-agent modules (network thread,
 * httpd, metrics).  Not part of the hook contract.
 */
#ifndef GUEST_AGENT_AGENT_H
#define GUEST_AGENT_AGENT_H

#include <uk/netdev.h>
#include <uk/types.h>

/* The network device, or NULL when the image runs without a NIC. */
struct uk_netdev *agent_netdev(void);

/* True once the interface has an address (DHCP lease or static). */
bool agent_net_up(void);

/*
 * Run fn(arg) on the network thread (the only thread that may call lwIP).
 * Safe from any thread.  UK_ENOMEM when the queue is full.
 */
uk_result agent_net_call(void (*fn)(void *arg), void *arg);

/* Start the HTTP server on `port` (network thread only). */
void httpd_start(unsigned port);

#endif
