/* A tiny HTTP listener for a service's probes, on its own port and thread,
 * serving up to 32 connections at once, each with a 2 s deadline for the
 * whole exchange (when all are taken, the oldest makes room): a slow or
 * silent client never delays a probe.
 * GET /healthz  200 while the process runs,
 * GET /readyz   200 when ready(ud) says so (e.g. bus and store connected), else 503,
 * GET /metrics  Prometheus text from metrics(ud, out).
 * The gateway serves the same paths on its WebSocket port instead. */
#ifndef RB_HEALTH_H
#define RB_HEALTH_H

#include "buf.h"

typedef int (*health_ready_fn)(void *ud); /* runs on the health thread */
typedef void (*health_metrics_fn)(void *ud, buf *out);

typedef struct health health;

/* Listens on every address (Kubernetes probes come from the node).
 * Listens on addr (a numeric IPv4 or IPv6 address: 127.0.0.1 by default in
 * every part, 0.0.0.0 where probes come from elsewhere, e.g. in a pod).
 * Returns NULL (logged) when the port cannot be bound. */
health *health_start(const char *addr, int port, health_ready_fn ready, health_metrics_fn metrics,
		     void *ud);
void health_stop(health *h);

#endif
