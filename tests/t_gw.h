/*
 * End-to-end test support: start the real any-llm-gateway binary (GW_BIN) on a free loopback
 * port with a temporary database (a SQLite file, or in the PostgreSQL run a fresh database in
 * the shared cluster, t_pg.h), talk raw HTTP/1.1 to it, stop it with a signal.
 */
#ifndef T_GW_H
#define T_GW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct t_gw {
    pid_t pid;
    int port;
    char dir[128]; /* temporary directory (config, database, log) */
    char db[256];  /* path of the SQLite database file, or the postgresql:// URL */
    char cfgpath[256];
    char logpath[256];
};

struct t_resp {
    int status;
    char *head; /* status line + headers, NUL-terminated */
    char *body; /* NUL-terminated (body_len excludes the NUL) */
    size_t body_len;
};

/* Returns a currently free TCP port on 127.0.0.1. */
int t_free_port(void);

/*
 * Starts the gateway: writes a config with host 127.0.0.1, a free port, database_url on a
 * temporary database (g->db), then yaml_extra (may be NULL) appended verbatim. args: extra CLI
 * arguments after "serve --config FILE" (NULL-terminated, may be NULL). envs: "K=V" strings put
 * into the child's environment (NULL-terminated, may be NULL). Waits until /health answers.
 * Returns 0 or -1.
 */
int t_gw_start(struct t_gw *g, const char *yaml_extra, const char *const *args,
               const char *const *envs);

/* Sends sig and waits up to timeout_ms; returns the exit status (or 128+signal, -1 on timeout,
 * after which the process is killed). Removes the temporary directory unless keep. */
int t_gw_stop(struct t_gw *g, int sig, int timeout_ms);

/* Runs the binary with argv (NULL-terminated, argv[0] excluded) and envs, capturing stdout+stderr
 * into *out (owned, free()). Returns the exit status, -1 on failure. */
int t_run(const char *const *argv, const char *const *envs, char **out);

/* Sends raw bytes and reads the answer until the server closes or the reply is complete.
 * Returns 0 or -1 (connect failure / timeout). */
int t_http_raw(int port, const char *req, size_t len, struct t_resp *resp, int timeout_ms);

/* A blocking TCP connection to 127.0.0.1:port; returns the fd or -1. */
int t_connect(int port);

/* Reads one response on fd (until it is complete, EOF or timeout_ms). Returns 0 or -1. */
int t_http_read(int fd, struct t_resp *resp, int timeout_ms);

/* Builds and sends "METHOD path HTTP/1.1" with Host, Connection: close, extra headers
 * ("Name: value\r\n" lines, may be NULL) and body (may be NULL). */
int t_http(int port, const char *method, const char *path, const char *headers, const char *body,
           struct t_resp *resp);

/* Value of header name in resp (case-insensitive), copied into buf; NULL when absent. */
const char *t_header(const struct t_resp *resp, const char *name, char *buf, size_t len);

void t_resp_free(struct t_resp *resp);

/* Removes the chunked framing of an HTTP body in place; returns the new length. */
size_t t_dechunk(char *b, size_t len);

/*
 * The gateway's log so far (owned, NULL when unreadable), after waiting up to timeout_ms for
 * needle to appear in it: lines reach the file through the gateway's log writer thread.
 */
char *t_gw_log_wait(const struct t_gw *g, const char *needle, int timeout_ms);

/* Reads the whole file into an owned string (NULL on failure). */
char *t_read_file(const char *path);

/* Runs one SQL query on the database (a SQLite file, or a postgresql:// URL: t_pg_sql()) and
 * returns the first column of the first row as an owned string ("" for no row, NULL on error). */
char *t_sql(const char *dbpath, const char *sql);

/* Runs SQL (one or more statements) read-write on the database. Returns 0 or -1. */
int t_sql_exec(const char *dbpath, const char *sql);

#endif
