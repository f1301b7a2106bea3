/*
 * Serves the embedded web assets (contract in gw_static.h). URL -> file: /ui/ and /ui/X from
 * web/ui/ (/ui redirects to /ui/), /docs and /docs/X from web/docs/ (/docs/ redirects to /docs),
 * /ui/vendor/X and /docs/vendor/X from web/vendor/, /openapi.json. A request with ?v=<the file's
 * hash> is cached for a year (immutable), any other one is revalidated (no-cache, ETag, 304). The
 * lookup is an exact match in a table, so ".." or "//" in a path names nothing: 404.
 */
#include "gateway/http/gw_static.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"

/*
 * One policy for every page, Swagger UI included (it sets styles through the CSSOM, which
 * style-src does not govern): no inline script or style, nothing from another origin.
 */
static const char gw_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";

#define GW_CACHE_IMMUTABLE "public, max-age=31536000, immutable"

static int gw_static_cmp(const void *key, const void *elt)
{
    return strcmp(key, ((const struct gw_static_file *)elt)->name);
}

const struct gw_static_file *gw_static_find(const char *name)
{
    return bsearch(name, gw_static_files, gw_static_nfiles, sizeof(gw_static_files[0]),
                   gw_static_cmp);
}

/* The raw query string of r's URI, or NULL. */
static const char *gw_static_query(const struct gw_req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);

    return uri != NULL ? evhttp_uri_get_query(uri) : NULL;
}

/* True when the query is exactly or contains v=<hash> (the cache-busting form). */
static bool gw_static_hashed(const struct gw_req *r, const struct gw_static_file *f)
{
    const char *q = gw_static_query(r);
    struct evkeyvalq params;
    const char *v;
    bool hit;

    if (q == NULL || evhttp_parse_query_str(q, &params) != 0)
        return false;
    v = evhttp_find_header(&params, "v");
    hit = v != NULL && strcmp(v, f->hash) == 0;
    evhttp_clear_headers(&params);
    return hit;
}

/*
 * True when the comma-separated list has token (case-insensitive) with a q-value other than 0
 * ("gzip", "gzip;q=0.5", "*"), as RFC 9110 12.5.3 reads Accept-Encoding.
 */
static bool gw_static_accepts(const char *list, const char *token)
{
    const char *s = list;

    while (s != NULL && *s != '\0') {
        size_t n;
        const char *semi, *end;
        s += strspn(s, " \t,");
        end = s + strcspn(s, ",");
        n = strcspn(s, " \t;,");
        if ((n == strlen(token) && strncasecmp(s, token, n) == 0) || (n == 1 && *s == '*')) {
            semi = memchr(s, ';', (size_t)(end - s));
            if (semi == NULL)
                return true;
            semi += 1 + strspn(semi + 1, " \t");
            if (strncasecmp(semi, "q=", 2) != 0 || strtod(semi + 2, NULL) > 0)
                return true;
            if (n == strlen(token))
                return false; /* "gzip;q=0" wins over "*" */
        }
        s = end;
    }
    return false;
}

/* True when the If-None-Match list names etag ("*" too; W/ prefixes compare weakly). */
static bool gw_static_etag_match(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    const char *s = list;

    while (*s != '\0') {
        s += strspn(s, " \t,");
        if (*s == '*')
            return true;
        if (strncmp(s, "W/", 2) == 0)
            s += 2;
        if (strncmp(s, etag, n) == 0 &&
            (s[n] == '\0' || s[n] == ',' || s[n] == ' ' || s[n] == '\t'))
            return true;
        s += strcspn(s, ",");
    }
    return false;
}

/*
 * Sends the embedded file name (or a 404 JSON): a gzip copy when the client takes it, the
 * cache headers for its URL, the security headers; 304 when the client's
 * copy is current; HEAD without the body.
 */
static void gw_static_send(struct gw_req *r, const char *name)
{
    const struct gw_static_file *f = gw_static_find(name);
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
    const char *ae = evhttp_find_header(in, "Accept-Encoding");
    const char *inm = evhttp_find_header(in, "If-None-Match");
    bool gz, hashed;
    char etag[GW_STATIC_HASH_LEN + 8];

    if (f == NULL) {
        gw_reply_error(r, 404, "not_found", "Not Found");
        return;
    }
    gz = f->gz != NULL && ae != NULL && gw_static_accepts(ae, "gzip");
    hashed = gw_static_hashed(r, f);
    /* Each encoding is its own representation, so its own validator (RFC 9110 8.8.3). */
    snprintf(etag, sizeof(etag), "\"%s%s\"", f->hash, gz ? "-gz" : "");
    gw_reply_header(r, "Cache-Control", hashed ? GW_CACHE_IMMUTABLE : "no-cache");
    gw_reply_header(r, "ETag", etag);
    if (f->gz != NULL)
        gw_reply_header(r, "Vary", "Accept-Encoding");
    gw_reply_header(r, "Content-Security-Policy", gw_csp);
    gw_reply_header(r, "Referrer-Policy", "no-referrer");
    if (inm != NULL && gw_static_etag_match(inm, etag)) {
        gw_reply_asset(r, 304, NULL, NULL, 0);
        return;
    }
    if (gz)
        gw_reply_header(r, "Content-Encoding", "gzip");
    gw_reply_asset(r, 200, f->ctype, gz ? f->gz : f->data, gz ? f->gz_len : f->len);
}

/* A 301 to path plus r's query string (so /ui?x keeps x). */
static void gw_static_redirect(struct gw_req *r, const char *path)
{
    const char *q = gw_static_query(r);
    char *loc = NULL;
    size_t n = strlen(path) + (q != NULL ? strlen(q) + 1 : 0) + 1;

    if ((loc = malloc(n)) == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    snprintf(loc, n, "%s%s%s", path, q != NULL ? "?" : "", q != NULL ? q : "");
    gw_reply_header(r, "Location", loc);
    free(loc);
    gw_reply_header(r, "Cache-Control", "no-cache");
    gw_reply_asset(r, 301, "text/plain; charset=utf-8", NULL, 0);
}

/*
 * Serves prefix/rest (rest: what follows the URL's "/ui/" or "/docs/"), or vendor/rest for
 * "vendor/..." under either. A file name never has an empty segment, "." or ".." (embed-web.c
 * refuses them), so such a path simply finds nothing.
 */
static void gw_static_under(struct gw_req *r, const char *prefix, const char *rest)
{
    char name[512];

    if (strncmp(rest, "vendor/", 7) == 0)
        prefix = "";
    if ((size_t)snprintf(name, sizeof(name), "%s%s", prefix, rest) >= sizeof(name)) {
        gw_reply_error(r, 404, "not_found", "Not Found");
        return;
    }
    gw_static_send(r, name);
}

void gw_static_ui(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    if (strcmp(r->path, "/ui") == 0)
        gw_static_redirect(r, "/ui/");
    else if (strcmp(r->path, "/ui/") == 0)
        gw_static_send(r, "ui/index.html");
    else
        gw_static_under(r, "ui/", r->path + 4);
}

void gw_static_docs(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    if (strcmp(r->path, "/openapi.json") == 0)
        gw_static_send(r, "openapi.json");
    else if (strcmp(r->path, "/docs") == 0)
        gw_static_send(r, "docs/index.html");
    else if (strcmp(r->path, "/docs/") == 0)
        gw_static_redirect(r, "/docs"); /* as the reference (Starlette's redirect_slashes) */
    else
        gw_static_under(r, "docs/", r->path + 6);
}
