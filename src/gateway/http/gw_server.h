/*
 * The server: N worker threads, each with its own event_base and evhttp on one SO_REUSEPORT
 * port; graceful shutdown on request (stop accepting, let in-flight requests finish within
 * cfg->shutdown_timeout, then return so the caller flushes storage).
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdbool.h>

struct cfg;
struct db;
struct acct_index;
struct gw_server;
struct acct_usage;
struct prov_confs;

/*
 * Binds the listeners and prepares the workers, each with its own upstream HTTP client (cfg, db,
 * index, provs and usage are borrowed and must outlive the server). Returns owned server (free
 * with gw_server_free()) or NULL (already logged).
 */
struct gw_server *gw_server_new(const struct cfg *cfg, struct db *db, struct acct_index *index,
                                const struct prov_confs *provs, struct acct_usage *usage);

/* The replica sync whose age GET /metrics reports (PostgreSQL); borrowed. Any thread. */
struct acct_sync;
void gw_server_set_sync(struct gw_server *srv, struct acct_sync *sync);

/*
 * Marks start-up complete: until then only the health probes are served (readiness 503) and
 * every other endpoint answers 503. Any thread.
 */
void gw_server_set_ready(struct gw_server *srv);

/*
 * Serves until gw_server_stop(), then drains: stops accepting and waits for in-flight requests
 * (up to cfg->shutdown_timeout; a forced stop cuts them at once). The event bases stay
 * allocated until gw_server_free(), so the caller closes storage (whose last callbacks are
 * posted to them) in between. Signals are not its business (main.c's signal thread calls
 * gw_server_stop()). Returns 0 after a drain, -1 when the workers could not start.
 */
int gw_server_run(struct gw_server *srv) __attribute__((warn_unused_result));

/*
 * Asks gw_server_run() to stop: force false drains (the first SIGTERM), force true cuts every
 * request still in flight now (the second); calls before gw_server_run() are remembered. Any
 * thread, not from a signal handler.
 */
void gw_server_stop(struct gw_server *srv, bool force);

/* Frees the server (closes listeners, connections, event bases). NULL-safe. */
void gw_server_free(struct gw_server *srv);

#endif
