/*
 * Throwaway PostgreSQL cluster for the tests (see t_pg.h). Commands run in a forked child
 * that drops to the postgres user when we are root, with output going to <dir>/cmd.log.
 */
#include "t_pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

/* Finds the newest /usr/lib/postgresql/<ver>/bin holding initdb and pg_ctl. */
static int t_pg_find_bindir(struct t_pg *pg)
{
    const char *env = getenv("GW_PG_BINDIR");
    DIR *d;
    struct dirent *e;
    long best = -1;
    char path[512];

    if (env != NULL && *env != '\0') {
        snprintf(pg->bindir, sizeof(pg->bindir), "%s", env);
        snprintf(path, sizeof(path), "%s/initdb", pg->bindir);
        return access(path, X_OK) == 0 ? 0 : -1;
    }
    d = opendir("/usr/lib/postgresql");
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);

        if (end == e->d_name || *end != '\0' || v <= best)
            continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (access(path, X_OK) != 0)
            continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/pg_ctl", e->d_name);
        if (access(path, X_OK) != 0)
            continue;
        best = v;
        snprintf(pg->bindir, sizeof(pg->bindir), "/usr/lib/postgresql/%ld/bin", v);
    }
    closedir(d);
    return best >= 0 ? 0 : -1;
}

static int t_pg_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/*
 * Runs bindir/prog with argv (NULL-terminated, argv[0] included) as the postgres user when
 * root, output appended to <dir>/cmd.log. Returns the exit status, or -1.
 */
static int t_pg_run(struct t_pg *pg, char *const argv[])
{
    char prog[512], log[256];
    pid_t pid;
    int st;

    snprintf(prog, sizeof(prog), "%s/%s", pg->bindir, argv[0]);
    snprintf(log, sizeof(log), "%s/cmd.log", pg->dir);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("postgres");

            if (pw == NULL || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
                setuid(pw->pw_uid) < 0)
                _exit(126);
        }
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* The server must not inherit the test runner's descriptors. */
        for (int i = 3; i < 1024; i++)
            close(i);
        execv(prog, argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int t_pg_ctl_start(struct t_pg *pg)
{
    char data[192], logf[192], opts[512];
    char *argv[] = {"pg_ctl", "-D", data, "-l", logf, "-w", "-t", "20", "-o", opts, "start", NULL};

    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(logf, sizeof(logf), "%s/server.log", pg->dir);
    snprintf(opts, sizeof(opts),
             "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
             "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=60",
             pg->port, pg->dir);
    if (t_pg_run(pg, argv) != 0) {
        snprintf(pg->err, sizeof(pg->err), "pg_ctl start failed (see %s and %s/cmd.log)", logf,
                 pg->dir);
        return -1;
    }
    pg->running = true;
    return 0;
}

int t_pg_start(struct t_pg *pg)
{
    char data[192];
    char *initdb[] = {"initdb",   "-D", data,   "-A",         "trust",     "-U",
                      "postgres", "-E", "UTF8", "--locale=C", "--no-sync", NULL};

    memset(pg, 0, sizeof(*pg));
    if (t_pg_find_bindir(pg) < 0) {
        snprintf(pg->err, sizeof(pg->err),
                 "PostgreSQL server binaries not found under /usr/lib/postgresql/<ver>/bin or "
                 "$GW_PG_BINDIR (install the Debian postgresql package: scripts/deps.sh test)");
        return -1;
    }
    if (geteuid() == 0 && getpwnam("postgres") == NULL) {
        snprintf(pg->err, sizeof(pg->err), "running as root but there is no postgres user");
        return -1;
    }
    snprintf(pg->dir, sizeof(pg->dir), "/tmp/gw-pg-XXXXXX");
    if (mkdtemp(pg->dir) == NULL) {
        snprintf(pg->err, sizeof(pg->err), "mkdtemp: %s", strerror(errno));
        pg->dir[0] = '\0';
        return -1;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");

        if (chown(pg->dir, pw->pw_uid, pw->pw_gid) < 0) {
            snprintf(pg->err, sizeof(pg->err), "chown %s: %s", pg->dir, strerror(errno));
            goto fail;
        }
    }
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    if (t_pg_run(pg, initdb) != 0) {
        snprintf(pg->err, sizeof(pg->err), "initdb failed (see %s/cmd.log)", pg->dir);
        goto fail;
    }
    /* A port taken between the probe and the start: retry with another. */
    for (int attempt = 0; attempt < 3; attempt++) {
        pg->port = t_pg_free_port();
        if (pg->port > 0 && t_pg_ctl_start(pg) == 0)
            return 0;
    }
fail:
    t_pg_stop(pg);
    return -1;
}

int t_pg_server_stop(struct t_pg *pg)
{
    char data[192];
    char *argv[] = {"pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL};

    if (!pg->running)
        return 0;
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    if (t_pg_run(pg, argv) != 0) {
        snprintf(pg->err, sizeof(pg->err), "pg_ctl stop failed (see %s/cmd.log)", pg->dir);
        return -1;
    }
    pg->running = false;
    return 0;
}

int t_pg_server_start(struct t_pg *pg)
{
    return pg->running ? 0 : t_pg_ctl_start(pg);
}

void t_pg_conninfo(const struct t_pg *pg, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "host=127.0.0.1 port=%d user=postgres dbname=%s", pg->port, name);
}

static void t_pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

int t_pg_createdb(struct t_pg *pg, const char *name, char *url, size_t urllen)
{
    char ci[256], sql[256];
    PGconn *c;
    PGresult *r;
    int rc = -1;

    t_pg_conninfo(pg, "postgres", ci, sizeof(ci));
    c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(pg->err, sizeof(pg->err), "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, t_pg_quiet, NULL);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        snprintf(url, urllen, "postgresql://postgres@127.0.0.1:%d/%s", pg->port, name);
        rc = 0;
    } else {
        snprintf(pg->err, sizeof(pg->err), "CREATE DATABASE %s: %s", name, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* rm -rf path (no symlinks followed). */
static void t_pg_rm(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;
    char sub[512];

    if (lstat(path, &sb) < 0)
        return;
    if (S_ISDIR(sb.st_mode) && (d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            t_pg_rm(sub);
        }
        closedir(d);
        rmdir(path);
        return;
    }
    unlink(path);
}

void t_pg_stop(struct t_pg *pg)
{
    if (pg == NULL || pg->dir[0] == '\0')
        return;
    (void)t_pg_server_stop(pg);
    t_pg_rm(pg->dir);
    pg->dir[0] = '\0';
    pg->running = false;
}

/* ---- the PostgreSQL run of the end-to-end suites ---- */

bool t_pg_backend(void)
{
    const char *p = getenv("GW_TEST_PG_PORT");
    return p != NULL && *p != '\0';
}

/*
 * Test-side helpers installed in each fresh database so the suites' SQLite-flavoured checks
 * mean the same on PostgreSQL (the gateway never uses them): booleans and floats concatenate
 * and quote() as SQLite renders them (1/0, "%!.15g"), a boolean compares with 0/1,
 * `timestamptz LIKE text` matches the util_ts_format() text, and group_concat(), instr() and
 * julianday() exist.
 */
static const char t_pg_compat_sql[] =
    "CREATE FUNCTION t_btext(boolean) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT CASE WHEN $1 THEN '1' WHEN NOT $1 THEN '0' END $$;"
    "CREATE FUNCTION t_ftext(float8) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT CASE WHEN $1 = trunc($1) AND abs($1) < 1e15 THEN trunc($1)::bigint::text || '.0' "
    "ELSE $1::text END $$;"
    "CREATE FUNCTION t_cat(text, boolean) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 || t_btext($2) $$;"
    "CREATE FUNCTION t_cat(boolean, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT t_btext($1) || $2 $$;"
    "CREATE FUNCTION t_cat(text, float8) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 || t_ftext($2) $$;"
    "CREATE FUNCTION t_cat(float8, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT t_ftext($1) || $2 $$;"
    "CREATE FUNCTION t_cat(text, bigint) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 || $2::text $$;"
    "CREATE FUNCTION t_cat(bigint, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1::text || $2 $$;"
    "CREATE FUNCTION t_cat(text, integer) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 || $2::text $$;"
    "CREATE FUNCTION t_cat(integer, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1::text || $2 $$;"
    "CREATE FUNCTION t_ts_text(timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
    "CASE WHEN extract(microseconds FROM $1)::bigint % 1000000 = 0 THEN '' "
    "ELSE to_char($1 AT TIME ZONE 'UTC', '.US') END || '+00:00' $$;"
    "CREATE FUNCTION t_cat(text, timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 || t_ts_text($2) $$;"
    "CREATE FUNCTION t_cat(timestamptz, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT t_ts_text($1) || $2 $$;"
    "CREATE OPERATOR || (LEFTARG = text, RIGHTARG = bigint, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = bigint, RIGHTARG = text, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = text, RIGHTARG = integer, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = integer, RIGHTARG = text, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = text, RIGHTARG = timestamptz, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = timestamptz, RIGHTARG = text, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = text, RIGHTARG = boolean, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = boolean, RIGHTARG = text, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = text, RIGHTARG = float8, FUNCTION = t_cat);"
    "CREATE OPERATOR || (LEFTARG = float8, RIGHTARG = text, FUNCTION = t_cat);"
    "CREATE FUNCTION t_beq(boolean, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 = ($2 <> 0) $$;"
    "CREATE OPERATOR = (LEFTARG = boolean, RIGHTARG = integer, FUNCTION = t_beq);"
    "CREATE FUNCTION quote(text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT coalesce(quote_literal($1), 'NULL') $$;"
    "CREATE FUNCTION quote(bigint) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT coalesce($1::text, 'NULL') $$;"
    "CREATE FUNCTION quote(integer) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT coalesce($1::text, 'NULL') $$;"
    "CREATE FUNCTION quote(float8) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT coalesce(t_ftext($1), 'NULL') $$;"
    "CREATE FUNCTION t_gc(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2 ELSE $1 || ',' || $2 END $$;"
    "CREATE AGGREGATE group_concat(text) (SFUNC = t_gc, STYPE = text);"
    "CREATE FUNCTION instr(text, text) RETURNS integer LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT strpos($1, $2) $$;"
    "CREATE FUNCTION t_ts_like(timestamptz, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT t_ts_text($1) LIKE $2 $$;"
    "CREATE OPERATOR ~~ (LEFTARG = timestamptz, RIGHTARG = text, FUNCTION = t_ts_like);"
    "CREATE FUNCTION julianday(timestamptz) RETURNS float8 LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT extract(epoch FROM $1)::float8 / 86400.0 + 2440587.5 $$;";

static PGconn *t_pg_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);

    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "t_pg: connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, t_pg_quiet, NULL);
    PQclear(PQexec(c, "SET TimeZone = 'UTC'"));
    return c;
}

int t_pg_newdb(char *url, size_t urllen)
{
    static int seq;
    struct t_pg pg = {.port = atoi(getenv("GW_TEST_PG_PORT"))};
    char name[64];
    int rc;

    snprintf(name, sizeof(name), "gwt_%d_%d", (int)getpid(), ++seq);
    if (t_pg_createdb(&pg, name, url, urllen) < 0) {
        fprintf(stderr, "t_pg: %s\n", pg.err);
        return -1;
    }
    rc = t_pg_sql_exec(url, t_pg_compat_sql);
    if (rc < 0)
        t_pg_dropdb(url);
    return rc;
}

void t_pg_dropdb(const char *url)
{
    const char *name = strrchr(url, '/');
    char ci[256], sql[256];
    PGconn *c;

    if (name == NULL || !t_pg_backend())
        return;
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=postgres dbname=postgres",
             getenv("GW_TEST_PG_PORT"));
    c = t_pg_connect(ci);
    if (c == NULL)
        return;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name + 1);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

/* A float in SQLite's text form ("%!.15g": always a decimal point). */
static char *t_pg_float_text(const char *v)
{
    char buf[64], *e;
    double d = strtod(v, NULL);

    if (strchr(v, 'n') != NULL || strchr(v, 'N') != NULL) /* nan, inf, Infinity */
        return strdup(v);
    snprintf(buf, sizeof(buf), "%.15g", d);
    if (strchr(buf, '.') != NULL)
        return strdup(buf);
    e = strchr(buf, 'e');
    if (e == NULL) {
        strncat(buf, ".0", sizeof(buf) - strlen(buf) - 1);
        return strdup(buf);
    }
    {
        char out[80];
        snprintf(out, sizeof(out), "%.*s.0%s", (int)(e - buf), buf, e);
        return strdup(out);
    }
}

/* "2026-12-05 12:00:00.5+00" (TimeZone UTC) -> "2026-12-05T12:00:00.500000+00:00";
 * "2030-01-02 03:04:05+00" -> "2030-01-02T03:04:05+00:00". */
static char *t_pg_ts_text(const char *v)
{
    char out[40], frac[8] = ".000000";
    const char *p = v + 19;
    size_t n = 1;

    if (strlen(v) < 19)
        return strdup(v);
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (n < 7)
                frac[n++] = *p;
    } else {
        frac[0] = '\0'; /* a whole second: SQLite keeps the text as written, without one */
    }
    snprintf(out, sizeof(out), "%.10sT%.8s%s+00:00", v, v + 11, frac);
    return strdup(out);
}

char *t_pg_sql(const char *url, const char *sql)
{
    PGconn *c = t_pg_connect(url);
    PGresult *r;
    char *out = NULL;

    if (c == NULL)
        return NULL;
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "t_pg: %s: %s", sql, PQerrorMessage(c));
    } else if (PQntuples(r) == 0) {
        out = strdup("");
    } else if (PQgetisnull(r, 0, 0)) {
        out = strdup("NULL");
    } else {
        const char *v = PQgetvalue(r, 0, 0);

        switch (PQftype(r, 0)) {
        case 16: /* bool */
            out = strdup(v[0] == 't' ? "1" : "0");
            break;
        case 700: /* float4 */
        case 701: /* float8 */
            out = t_pg_float_text(v);
            break;
        case 1184: /* timestamptz */
            out = t_pg_ts_text(v);
            break;
        default:
            out = strdup(v);
            break;
        }
    }
    PQclear(r);
    PQfinish(c);
    return out;
}

int t_pg_sql_exec(const char *url, const char *sql)
{
    PGconn *c = t_pg_connect(url);
    PGresult *r;
    int rc;

    if (c == NULL)
        return -1;
    r = PQexec(c, sql);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "t_pg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

void *t_pg_hold(const char *url, const char *sql)
{
    PGconn *c = t_pg_connect(url);
    PGresult *r;

    if (c == NULL)
        return NULL;
    PQclear(PQexec(c, "BEGIN"));
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "t_pg: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return NULL;
    }
    PQclear(r);
    return c;
}

void t_pg_release(void *held)
{
    if (held == NULL)
        return;
    PQclear(PQexec(held, "ROLLBACK"));
    PQfinish(held);
}
