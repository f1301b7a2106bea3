/*
 * A throwaway PostgreSQL cluster for tests: Debian's initdb + pg_ctl (the newest
 * /usr/lib/postgresql/<ver>/bin, or $GW_PG_BINDIR) in a temporary directory, trust auth,
 * listening on 127.0.0.1 on a free port and on a unix socket in that directory, fsync off.
 * When run as root the cluster runs as the `postgres` system user (initdb refuses root).
 */
#ifndef T_PG_H
#define T_PG_H

#include <stdbool.h>
#include <stddef.h>

struct t_pg {
    char dir[128];    /* temporary directory: data/, server.log, the socket */
    char bindir[256]; /* where initdb and pg_ctl live */
    int port;
    bool running;
    char err[512]; /* why the last call failed */
};

/*
 * Creates and starts a cluster in a new temporary directory. Returns 0, or -1 with pg->err
 * set (e.g. "PostgreSQL server binaries not found (install the Debian postgresql package)").
 */
int t_pg_start(struct t_pg *pg);

/* Stops the server at once (pg_ctl stop -m immediate), keeping its data. Returns 0 or -1. */
int t_pg_server_stop(struct t_pg *pg);

/* Starts the stopped server again on the same port. Returns 0 or -1. */
int t_pg_server_start(struct t_pg *pg);

/*
 * Creates database name (dropping an old one of that name) and writes its URL,
 * postgresql://postgres@127.0.0.1:PORT/name, to url. Returns 0 or -1 with pg->err.
 */
int t_pg_createdb(struct t_pg *pg, const char *name, char *url, size_t urllen);

/* libpq keyword string for database name over TCP ("host=127.0.0.1 port=P ..."). */
void t_pg_conninfo(const struct t_pg *pg, const char *name, char *out, size_t outlen);

/* Stops the server (immediate) and removes the directory. NULL-safe; idempotent. */
void t_pg_stop(struct t_pg *pg);

#endif
