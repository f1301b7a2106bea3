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

/*
 * The PostgreSQL run of the end-to-end suites: check_main starts one cluster and exports its
 * port as GW_TEST_PG_PORT; each gateway a test starts then gets a fresh database in it.
 */

/* True in the PostgreSQL run (GW_TEST_PG_PORT set). */
bool t_pg_backend(void);

/*
 * Creates a fresh database in the shared cluster (with the test-side helpers below installed)
 * and writes its postgresql:// URL to url. Returns 0 or -1.
 */
int t_pg_newdb(char *url, size_t urllen);

/* Drops the database of url (made by t_pg_newdb), terminating its connections. */
void t_pg_dropdb(const char *url);

/*
 * Runs one query on the database of url and returns the first cell of the first row as an
 * owned string in SQLite's text form, so the suites' expectations hold on both backends:
 * booleans as 1/0, NULL as "NULL", floats with a decimal point ("1.0", "1.0e-05"), timestamps
 * as util_ts_format() writes them. "" for no row, NULL on error (printed to stderr).
 */
char *t_pg_sql(const char *url, const char *sql);

/* Runs sql (one or more statements) on the database of url. Returns 0 or -1. */
int t_pg_sql_exec(const char *url, const char *sql);

/*
 * Opens a connection to url, begins a transaction and runs sql in it (e.g. a LOCK TABLE), then
 * keeps it open: returns the held connection (owned, end it with t_pg_release()) or NULL.
 */
void *t_pg_hold(const char *url, const char *sql);

/* Rolls the held transaction back and closes its connection. NULL-safe. */
void t_pg_release(void *held);

#endif
