/*
 * database_url -> libpq connection parameters for the PostgreSQL backend (contract in db_pg.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db/db_pg.h"

/* Parses a pool_size value: 1..PG_POOL_MAX, else -1. */
static int pg_pool_value(const char *v, size_t len)
{
    char buf[8];
    char *end;
    long n;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    n = strtol(buf, &end, 10);
    return *end == '\0' && n >= 1 && n <= PG_POOL_MAX ? (int)n : -1;
}

/*
 * Removes our own "pool_size" parameter (libpq rejects unknown ones) from a URL's query
 * ("...?pool_size=8&sslmode=require") or from a keyword string ("host=h pool_size=8"), in
 * place, and sets *pool (unchanged when absent). Returns 0, or -1 for a bad value.
 */
static int pg_take_pool_size(char *s, bool url, int *pool)
{
    char *p = url ? strchr(s, '?') : s;

    while (p != NULL && *p != '\0') {
        char *tok, *eq, *end;

        if (url) {
            tok = p + 1; /* after '?' or '&' */
            end = tok + strcspn(tok, "&");
        } else {
            tok = p + strspn(p, " \t\n");
            end = tok + strcspn(tok, " \t\n=");
            end += strspn(end, " \t");
            if (*end == '=') {
                end++;
                end += strspn(end, " \t");
                if (*end == '\'') { /* quoted value: up to the closing quote */
                    for (end++; *end != '\0' && *end != '\''; end++)
                        if (*end == '\\' && end[1] != '\0')
                            end++;
                    if (*end == '\'')
                        end++;
                } else {
                    end += strcspn(end, " \t\n");
                }
            }
        }
        if (strncmp(tok, "pool_size", 9) == 0 && (tok[9] == '=' || tok[9] == ' ')) {
            eq = strchr(tok, '=');
            if (eq == NULL || eq > end)
                return -1;
            eq++;
            eq += strspn(eq, " \t");
            *pool = pg_pool_value(eq, (size_t)(end - eq));
            if (*pool < 0)
                return -1;
            if (url && *end == '&')
                end++; /* drop "pool_size=N&", keeping the separator before it */
            else if (url)
                tok = p; /* last parameter: drop its separator too */
            memmove(tok, end, strlen(end) + 1);
            continue;
        }
        if (*end == '\0')
            break;
        p = end;
    }
    return 0;
}

/*
 * Builds the libpq parameter arrays from url: the scheme is normalised to postgresql:// (so
 * "postgresql+psycopg2://" and any letter case work), then PQconninfoParse() validates it.
 * The session is pinned to what the cell conversion expects (UTC, ISO dates, UTF-8, exact
 * floats), appended to any "options" given.
 */
int db_pg_conninfo_build(struct pg_conninfo *pg, const char *url, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    char *norm = NULL, *perr = NULL, msg[256];
    PQconninfoOption *opts = NULL, *o;
    size_t n = 0, bytes = 0, nkw = 0;
    char *w;
    int rc = -1;
    const char *extra = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c extra_float_digits=3";
    const char *user_opts = NULL;
    bool has_app = false, has_timeout = false;
    char timeout[16];

    pg->npool = PG_POOL_DEFAULT;
    pg->connect_timeout_ms = PG_CONNECT_TIMEOUT_MS;
    if (sep != NULL && strchr(url, '=') != NULL && strchr(url, '=') < sep)
        sep = NULL; /* a keyword string whose value holds "://" */
    if (sep != NULL) {
        size_t len = strlen("postgresql") + strlen(sep) + 1;

        norm = malloc(len);
        if (norm != NULL)
            snprintf(norm, len, "postgresql%s", sep);
    } else {
        norm = strdup(url);
    }
    if (norm == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pg_take_pool_size(norm, sep != NULL, &pg->npool) < 0) {
        snprintf(err, errlen, "invalid database_url: pool_size must be an integer 1..%d",
                 PG_POOL_MAX);
        goto out;
    }
    opts = PQconninfoParse(norm, &perr);
    if (opts == NULL) {
        db_pg_clean_msg(msg, sizeof(msg), perr != NULL ? perr : "out of memory");
        snprintf(err, errlen, "invalid database_url: %s", msg);
        goto out;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "options") == 0) {
            user_opts = o->val;
            continue;
        }
        if (strcmp(o->keyword, "client_encoding") == 0)
            continue;
        if (strcmp(o->keyword, "application_name") == 0)
            has_app = true;
        if (strcmp(o->keyword, "connect_timeout") == 0) {
            has_timeout = true;
            if (atoi(o->val) > 0)
                pg->connect_timeout_ms = atoi(o->val) * 1000;
        }
        n++;
        bytes += strlen(o->keyword) + strlen(o->val) + 2;
    }
    n += 4; /* options, client_encoding, application_name, connect_timeout */
    bytes += 256 + (user_opts != NULL ? strlen(user_opts) : 0);
    pg->kw = calloc(n + 1, sizeof(*pg->kw));
    pg->val = calloc(n + 1, sizeof(*pg->val));
    pg->strings = malloc(bytes);
    if (pg->kw == NULL || pg->val == NULL || pg->strings == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    w = pg->strings;
#define PG_ADD(k, v)                                                                               \
    do {                                                                                           \
        size_t kl_ = strlen(k) + 1, vl_ = strlen(v) + 1;                                           \
        pg->kw[nkw] = memcpy(w, (k), kl_);                                                         \
        w += kl_;                                                                                  \
        pg->val[nkw++] = memcpy(w, (v), vl_);                                                      \
        w += vl_;                                                                                  \
    } while (0)
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL && strcmp(o->keyword, "options") != 0 &&
            strcmp(o->keyword, "client_encoding") != 0)
            PG_ADD(o->keyword, o->val);
    }
    if (user_opts != NULL) {
        size_t len = strlen(user_opts) + strlen(extra) + 2;
        char *both = malloc(len);

        if (both == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        snprintf(both, len, "%s %s", user_opts, extra);
        PG_ADD("options", both);
        free(both);
    } else {
        PG_ADD("options", extra);
    }
    PG_ADD("client_encoding", "UTF8");
    if (!has_app)
        PG_ADD("application_name", "any-llm-gateway");
    /* Blocking connections (migrations) must not wait forever on a server that does not answer
     * (libpq's default); the pool's non-blocking ones have their own timer of the same length. */
    if (!has_timeout) {
        snprintf(timeout, sizeof(timeout), "%d", PG_CONNECT_TIMEOUT_MS / 1000);
        PG_ADD("connect_timeout", timeout);
    }
#undef PG_ADD
    rc = 0;
out:
    PQconninfoFree(opts);
    PQfreemem(perr);
    free(norm);
    return rc;
}

void db_pg_conninfo_free(struct pg_conninfo *ci)
{
    free(ci->kw);
    free(ci->val);
    free(ci->strings);
    ci->kw = ci->val = NULL;
    ci->strings = NULL;
}
