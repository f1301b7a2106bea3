/*
 * End-to-end tests of the embedded web assets (gw_static.c) through the real binary: every file
 * under web/ served at its URL with its source's bytes (an HTML page: the ?v=<hash> form of
 * its references, each of which is served immutable), content types, the CSP and the other
 * security headers, ETag / If-None-Match / 304, gzip with Vary, HEAD (also on a kept-alive
 * connection), redirects, path traversal attempts (404, never a file outside the table),
 * /openapi.json equal to web/openapi.json, / linking to /ui/ and /docs, and enable_ui /
 * enable_docs off (404, never 405).
 */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "sha256.h"
#include "t_api.h"

#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "frame-ancestors 'none'; form-action 'self'"
#define WEB_IMMUTABLE "public, max-age=31536000, immutable"
#define WEB_MAX_FILES 256

static void web_up(void)
{
    t_api_up(NULL);
}

static void web_up_off(void)
{
    t_api_up("enable_ui: false\nenable_docs: false\n");
}

static const char *web_root(void)
{
    const char *root = getenv("GW_ROOT");

    return root != NULL ? root : ".";
}

/* The source file web/<name> (owned, with its length); fails the test when unreadable. */
static char *web_source(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/web/%s", web_root(), name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The URL of a file under web/ (gw_static.c's mapping); vendor files also at /docs/vendor/. */
static void web_url(const char *name, char *url, size_t len)
{
    if (strcmp(name, "ui/index.html") == 0)
        snprintf(url, len, "/ui/");
    else if (strcmp(name, "docs/index.html") == 0)
        snprintf(url, len, "/docs");
    else if (strncmp(name, "vendor/", 7) == 0)
        snprintf(url, len, "/ui/%s", name);
    else
        snprintf(url, len, "/%s", name);
}

static const char *web_ctype(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');

    if (dot == NULL || (slash != NULL && dot < slash)) /* LICENSE */
        return "text/plain; charset=utf-8";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    ck_abort_msg("web/%s: no expected content type in this test", name);
    return NULL;
}

/* "\"<first 12 hex of the SHA-256>\"" of data, into out. */
static void web_etag(const char *data, size_t len, char out[24])
{
    char hex[SHA256_HEX_LEN];

    sha256_hex(data, len, hex);
    snprintf(out, 24, "\"%.12s\"", hex);
}

static void web_get(const char *method, const char *path, const char *headers, int want,
                    struct t_resp *r)
{
    ck_assert_int_eq(t_http(t_api.port, method, path, headers, NULL, r), 0);
    ck_assert_msg(r->status == want, "%s %s: status %d, want %d: %s", method, path, r->status, want,
                  r->head);
}

static void web_expect_header(const struct t_resp *r, const char *name, const char *want)
{
    char v[512];

    ck_assert_msg(t_header(r, name, v, sizeof(v)) != NULL, "no %s header in %s", name, r->head);
    ck_assert_msg(strcmp(v, want) == 0, "%s: \"%s\", want \"%s\"", name, v, want);
}

/* A request whose reply must have status want and, when name != NULL, header name = value. */
static void web_expect(const char *method, const char *path, const char *headers, int want,
                       const char *name, const char *value)
{
    struct t_resp r;

    web_get(method, path, headers, want, &r);
    if (name != NULL)
        web_expect_header(&r, name, value);
    t_resp_free(&r);
}

/* The security headers every asset reply carries. */
static void web_expect_security(const struct t_resp *r)
{
    web_expect_header(r, "Content-Security-Policy", WEB_CSP);
    web_expect_header(r, "X-Content-Type-Options", "nosniff");
    web_expect_header(r, "Referrer-Policy", "no-referrer");
    web_expect_header(r, "X-Frame-Options", "DENY");
}

/* The served HTML with every "?v=<12 hex>" removed (the page's source form). */
static char *web_unhash(const char *html)
{
    char *out = strdup(html), *w = out;

    for (const char *p = html; *p != '\0';) {
        if (strncmp(p, "?v=", 3) == 0 && strspn(p + 3, "0123456789abcdef") == 12) {
            p += 15;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    return out;
}

/* Every "X?v=<hash>" of a served page: X (resolved against the page URL) serves immutable. */
static int web_check_hashed_refs(const char *page_url, const char *html)
{
    int n = 0;

    for (const char *p = strstr(html, "?v="); p != NULL; p = strstr(p + 1, "?v=")) {
        const char *b = p, *dir_end = strrchr(page_url, '/');
        char ref[512], url[1024], etag[24], hash[13];
        struct t_resp r;

        while (b > html && b[-1] != '"' && b[-1] != '\'')
            b--;
        snprintf(ref, sizeof(ref), "%.*s", (int)(p + 15 - b), b);
        snprintf(hash, sizeof(hash), "%.12s", p + 3);
        if (ref[0] == '/')
            snprintf(url, sizeof(url), "%s", ref);
        else
            snprintf(url, sizeof(url), "%.*s%s", (int)(dir_end - page_url + 1), page_url, ref);
        web_get("GET", url, NULL, 200, &r);
        web_expect_header(&r, "Cache-Control", WEB_IMMUTABLE);
        snprintf(etag, sizeof(etag), "\"%s\"", hash);
        web_expect_header(&r, "ETag", etag);
        web_etag(r.body, r.body_len, etag); /* the hash is the served bytes' */
        ck_assert_msg(strncmp(etag + 1, hash, 12) == 0, "%s: ?v=%s, its bytes hash %s", url, hash,
                      etag);
        t_resp_free(&r);
        n++;
    }
    return n;
}

/* ---- every file ---- */

static char *web_names[WEB_MAX_FILES];
static size_t web_nnames;

/* Collects the files under web/<sub> (names relative to web/), as embed-web embeds them. */
static void web_collect(const char *sub)
{
    char dir[1024];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/web%s%s", web_root(), sub[0] ? "/" : "", sub);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char name[512], path[1600];
        struct stat st;
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0 ||
            strcmp(e->d_name, "VERSION") == 0)
            continue;
        snprintf(name, sizeof(name), "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ck_assert_int_eq(stat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            web_collect(name);
            continue;
        }
        ck_assert_uint_lt(web_nnames, WEB_MAX_FILES);
        web_names[web_nnames++] = strdup(name);
    }
    closedir(d);
}

START_TEST(every_file_is_served_as_its_source)
{
    int hashed = 0;

    t_api_need();
    web_collect("");
    ck_assert_uint_ge(web_nnames, 8); /* ui, docs, Swagger UI, openapi.json */
    for (size_t i = 0; i < web_nnames; i++) {
        const char *name = web_names[i];
        char url[600], etag[24];
        size_t len;
        char *src = web_source(name, &len);
        struct t_resp r;

        web_url(name, url, sizeof(url));
        web_get("GET", url, NULL, 200, &r);
        web_expect_header(&r, "Content-Type", web_ctype(name));
        web_expect_header(&r, "Cache-Control", "no-cache");
        web_expect_security(&r);
        ck_assert_ptr_null(t_header(&r, "Content-Encoding", etag, sizeof(etag)));
        web_etag(r.body, r.body_len, etag);
        web_expect_header(&r, "ETag", etag);
        if (t_ends_with(name, ".html")) {
            char *plain = web_unhash(r.body);
            ck_assert_msg(strcmp(plain, src) == 0, "%s: served page differs from web/%s", url,
                          name);
            free(plain);
            hashed += web_check_hashed_refs(url, r.body);
        } else {
            ck_assert_msg(r.body_len == len && memcmp(r.body, src, len) == 0,
                          "%s: %zu bytes served, web/%s has %zu", url, r.body_len, name, len);
        }
        if (strncmp(name, "vendor/", 7) == 0) { /* also under /docs/vendor/ */
            struct t_resp d;
            snprintf(url, sizeof(url), "/docs/%s", name);
            web_get("GET", url, NULL, 200, &d);
            ck_assert(d.body_len == len && memcmp(d.body, src, len) == 0);
            t_resp_free(&d);
        }
        t_resp_free(&r);
        free(src);
        free(web_names[i]);
    }
    ck_assert_int_ge(hashed, 4); /* the docs page's css and js, the dashboard's */
}
END_TEST

START_TEST(openapi_json_is_the_document)
{
    struct t_resp r;
    size_t len;
    char *src = web_source("openapi.json", &len);
    json_t *j;

    t_api_need();
    web_get("GET", "/openapi.json", NULL, 200, &r);
    ck_assert(r.body_len == len && memcmp(r.body, src, len) == 0);
    j = t_json(&r);
    ck_assert_msg(strncmp(json_string_value(json_object_get(j, "openapi")), "3.1.", 4) == 0,
                  "not 3.1.x");
    json_decref(j);
    t_resp_free(&r);
    free(src);
}
END_TEST

/* ---- caching ---- */

START_TEST(if_none_match_gives_304)
{
    /* The ETag alone, weak, in a list, and "*". */
    static const char *const before[] = {"", "W/", "\"nope\", ", NULL};
    struct t_resp r;
    char etag[64], hdr[256], v[64];

    t_api_need();
    web_get("GET", "/docs/docs.js", NULL, 200, &r);
    ck_assert_ptr_nonnull(t_header(&r, "ETag", etag, sizeof(etag)));
    t_resp_free(&r);
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
        if (before[i] != NULL)
            snprintf(hdr, sizeof(hdr), "If-None-Match: %s%s\r\n", before[i], etag);
        else
            snprintf(hdr, sizeof(hdr), "If-None-Match: *\r\n");
        web_get("GET", "/docs/docs.js", hdr, 304, &r);
        ck_assert_uint_eq(r.body_len, 0);
        web_expect_header(&r, "ETag", etag);
        web_expect_header(&r, "Cache-Control", "no-cache");
        ck_assert_ptr_null(t_header(&r, "Content-Type", v, sizeof(v)));
        t_resp_free(&r);
    }
    web_get("GET", "/docs/docs.js", "If-None-Match: \"000000000000\"\r\n", 200, &r);
    ck_assert_uint_gt(r.body_len, 0);
    t_resp_free(&r);
    /* The page too (its ETag covers the rewritten form). */
    web_get("GET", "/ui/", NULL, 200, &r);
    ck_assert_ptr_nonnull(t_header(&r, "ETag", etag, sizeof(etag)));
    t_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
    web_get("GET", "/ui/", hdr, 304, &r);
    t_resp_free(&r);
}
END_TEST

START_TEST(wrong_hash_is_not_immutable)
{
    t_api_need();
    web_expect("GET", "/ui/vendor/swagger-ui-dist/swagger-ui.css?v=000000000000", NULL, 200,
               "Cache-Control", "no-cache");
}
END_TEST

/* The gzip copy: inflates to the source; its own ETag; identity when gzip is refused. */
START_TEST(gzip_when_accepted)
{
    const char *name = "vendor/swagger-ui-dist/swagger-ui-bundle.js";
    struct t_resp r;
    size_t len;
    char *src = web_source(name, &len), etag[24], etag_gz[32], v[128];
    unsigned char *out = malloc(len + 1);
    z_stream zs;

    t_api_need();
    web_etag(src, len, etag);
    snprintf(etag_gz, sizeof(etag_gz), "%.13s-gz\"", etag);
    web_get("GET", "/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            "Accept-Encoding: br, gzip;q=0.8\r\n", 200, &r);
    web_expect_header(&r, "Content-Encoding", "gzip");
    web_expect_header(&r, "Vary", "Accept-Encoding");
    web_expect_header(&r, "ETag", etag_gz);
    web_expect_security(&r);
    ck_assert_uint_lt(r.body_len, len / 2); /* 1.8 MB -> about 0.47 MB */
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (unsigned char *)r.body;
    zs.avail_in = (unsigned)r.body_len;
    zs.next_out = out;
    zs.avail_out = (unsigned)len + 1;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, len);
    ck_assert(memcmp(out, src, len) == 0);
    inflateEnd(&zs);
    t_resp_free(&r);
    snprintf(v, sizeof(v), "If-None-Match: %s\r\nAccept-Encoding: gzip\r\n", etag_gz);
    web_get("GET", "/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js", v, 304, &r);
    t_resp_free(&r);
    /* Refused (q=0, also against "*"), or not asked for: identity, still Vary. */
    web_get("GET", "/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            "Accept-Encoding: gzip;q=0, *\r\n", 200, &r);
    ck_assert_ptr_null(t_header(&r, "Content-Encoding", v, sizeof(v)));
    web_expect_header(&r, "Vary", "Accept-Encoding");
    web_expect_header(&r, "ETag", etag);
    ck_assert_uint_eq(r.body_len, len);
    t_resp_free(&r);
    /* A small file is never compressed. */
    web_get("GET", "/docs/docs.css", "Accept-Encoding: gzip\r\n", 200, &r);
    ck_assert_ptr_null(t_header(&r, "Content-Encoding", v, sizeof(v)));
    ck_assert_ptr_null(t_header(&r, "Vary", v, sizeof(v)));
    t_resp_free(&r);
    free(out);
    free(src);
}
END_TEST

/* ---- methods, redirects ---- */

START_TEST(head_has_headers_only)
{
    struct t_resp r;
    size_t len;
    char *src = web_source("vendor/swagger-ui-dist/swagger-ui.css", &len), n[32];

    t_api_need();
    web_get("HEAD", "/docs/vendor/swagger-ui-dist/swagger-ui.css", NULL, 200, &r);
    ck_assert_uint_eq(r.body_len, 0);
    snprintf(n, sizeof(n), "%zu", len);
    web_expect_header(&r, "Content-Length", n);
    web_expect_header(&r, "Content-Type", "text/css; charset=utf-8");
    web_expect_security(&r);
    t_resp_free(&r);
    web_get("HEAD", "/ui/nope.js", NULL, 404, &r); /* an error to HEAD: no body either */
    ck_assert_uint_eq(r.body_len, 0);
    t_resp_free(&r);
    free(src);
}
END_TEST

/* Reads everything until the server closes (or 5 s). Returns owned bytes and their length. */
static char *web_read_all(int fd, size_t *got)
{
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    struct timeval tv = {5, 0};
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    *got = 0;
    while ((n = recv(fd, buf + *got, cap - *got - 1, 0)) > 0) {
        *got += (size_t)n;
        if (cap - *got < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[*got] = '\0';
    return buf;
}

/* On a kept-alive connection a HEAD reply is its head only: the next reply follows at once. */
START_TEST(head_then_get_on_one_connection)
{
    static const char req[] = "HEAD /docs/docs.css HTTP/1.1\r\nHost: t\r\n\r\n"
                              "HEAD /ui/missing.js HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /docs/docs.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int fd;
    size_t got, len;
    char *all, *src = web_source("docs/docs.css", &len), *p;

    t_api_need();
    fd = t_connect(t_api.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    all = web_read_all(fd, &got);
    close(fd);
    ck_assert_msg(strncmp(all, "HTTP/1.1 200", 12) == 0, "%s", all);
    p = strstr(all, "\r\n\r\n") + 4;
    ck_assert_msg(strncmp(p, "HTTP/1.1 404", 12) == 0, "after the HEAD reply: %.40s", p);
    p = strstr(p, "\r\n\r\n") + 4;
    ck_assert_msg(strncmp(p, "HTTP/1.1 200", 12) == 0, "after the second HEAD reply: %.40s", p);
    p = strstr(p, "\r\n\r\n") + 4;
    ck_assert_uint_eq(strlen(p), len);
    ck_assert_str_eq(p, src);
    free(all);
    free(src);
}
END_TEST

START_TEST(redirects_and_methods)
{
    t_api_need();
    web_expect("GET", "/ui", NULL, 301, "Location", "/ui/");
    web_expect("GET", "/ui?tab=keys", NULL, 301, "Location", "/ui/?tab=keys");
    web_expect("HEAD", "/ui", NULL, 301, "Location", "/ui/");
    web_expect("GET", "/docs/", NULL, 301, "Location", "/docs");
    web_expect("POST", "/ui/", NULL, 405, "Allow", "GET, HEAD");
    web_expect("DELETE", "/openapi.json", NULL, 405, "Allow", "GET, HEAD");
    /* Unauthenticated: a wrong key changes nothing. */
    web_expect("GET", "/docs", "Authorization: Bearer nope\r\n", 200, "Content-Type",
               "text/html; charset=utf-8");
}
END_TEST

/* ---- traversal ---- */

START_TEST(traversal_finds_nothing)
{
    static const char *const paths[] = {
        "/ui/../openapi.json",
        "/ui/%2e%2e/openapi.json",
        "/ui/%2E%2E/%2E%2E/etc/passwd",
        "/ui/..%2fopenapi.json",
        "/ui/.%2e/docs/index.html",
        "/ui//index.html",
        "/ui/./index.html",
        "/ui/vendor/../index.html",
        "/ui/vendor/uplot/../../../../etc/passwd",
        "/docs/../openapi.json",
        "/docs/%2e%2e/ui/index.html",
        "/docs//docs.js",
        "/ui/%2fetc%2fpasswd",
        "/ui/..\\openapi.json",
        "/ui/index.html/",
        "/ui/vendor/",
        "/ui/vendor",
        "/ui/docs/index.html",
        "/docs/ui/index.html",
        "/ui/openapi.json",
        "/ui/README.md",
        "/ui/vendor/uplot/VERSION",
        "/ui/vendor/swagger-ui-dist/VERSION",
        "/ui/nope.js",
    };
    struct t_resp r;

    t_api_need();
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        json_t *j;
        web_get("GET", paths[i], NULL, 404, &r);
        j = t_json(&r);
        ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), "Not Found");
        json_decref(j);
        t_resp_free(&r);
    }
    /* A NUL byte is no path at all. */
    web_get("GET", "/ui/index.html%00.js", NULL, 400, &r);
    t_resp_free(&r);
}
END_TEST

/* ---- the root page and the switches ---- */

START_TEST(root_links_the_pages)
{
    struct t_resp r;

    t_api_need();
    web_get("GET", "/", NULL, 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<a href=\"/ui/\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "<a href=\"/docs\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "<a href=\"/openapi.json\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "Gateway Quickstart"));
    t_resp_free(&r);
}
END_TEST

START_TEST(switched_off_is_unknown)
{
    static const char *const paths[] = {
        "/ui",   "/ui/",   "/ui/index.html", "/ui/vendor/swagger-ui-dist/LICENSE",
        "/docs", "/docs/", "/docs/docs.js",  "/openapi.json"};
    struct t_resp r;

    t_api_need();
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        web_expect("GET", paths[i], NULL, 404, NULL, NULL);
        web_expect("POST", paths[i], NULL, 404, NULL, NULL); /* not 405: the path is unknown */
    }
    web_get("GET", "/", NULL, 200, &r);
    ck_assert_ptr_null(strstr(r.body, "/ui/"));
    ck_assert_ptr_null(strstr(r.body, "href=\"/docs\""));
    t_resp_free(&r);
    web_expect("GET", "/health", NULL, 200, NULL, NULL);
}
END_TEST

Suite *e2e_web_suite(void)
{
    Suite *s = suite_create("e2e_web");
    TCase *on = tcase_create("on");
    TCase *off = tcase_create("off");

    tcase_add_unchecked_fixture(on, web_up, t_api_down);
    tcase_set_timeout(on, 60);
    tcase_add_test(on, every_file_is_served_as_its_source);
    tcase_add_test(on, openapi_json_is_the_document);
    tcase_add_test(on, if_none_match_gives_304);
    tcase_add_test(on, wrong_hash_is_not_immutable);
    tcase_add_test(on, gzip_when_accepted);
    tcase_add_test(on, head_has_headers_only);
    tcase_add_test(on, head_then_get_on_one_connection);
    tcase_add_test(on, redirects_and_methods);
    tcase_add_test(on, traversal_finds_nothing);
    tcase_add_test(on, root_links_the_pages);
    t_api_add_shutdown_test(on);
    suite_add_tcase(s, on);

    tcase_add_unchecked_fixture(off, web_up_off, t_api_down);
    tcase_add_test(off, switched_off_is_unknown);
    t_api_add_shutdown_test(off);
    suite_add_tcase(s, off);
    return s;
}
