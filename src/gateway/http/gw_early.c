/*
 * Early credential check on a complete request head (contract in gw_early.h). The head was
 * validated by the framer (gw_frame.c): a request line, header lines "name:value" without
 * folding or control bytes, lines ending in CRLF or LF. Values are read the way evhttp reads
 * them (leading spaces skipped, trailing whitespace cut, the first of repeated names wins), the
 * path is decoded with evhttp's own functions, so that this check and the handler's agree.
 */
#include "gateway/http/gw_early.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "gateway/gw_app.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_route.h"

/* One line of the head: [p, p + len) without its line end; next is the following line. */
struct early_line {
    const char *p;
    size_t len;
    const char *next;
};

static bool early_line_next(const char **pos, const char *end, struct early_line *l)
{
    const char *nl = *pos < end ? memchr(*pos, '\n', (size_t)(end - *pos)) : NULL;

    if (nl == NULL)
        return false;
    l->p = *pos;
    l->len = (size_t)(nl - *pos);
    if (l->len > 0 && l->p[l->len - 1] == '\r')
        l->len--;
    l->next = nl + 1;
    *pos = nl + 1;
    return true;
}

/* True when the header line l is named name (case-insensitive). */
static bool early_is(const struct early_line *l, const char *name)
{
    size_t n = strlen(name);

    return l->len > n && l->p[n] == ':' && strncasecmp(l->p, name, n) == 0;
}

/* The value of header line l as evhttp stores it (owned, free()), or NULL when out of memory. */
static char *early_value(const struct early_line *l)
{
    const char *v = (const char *)memchr(l->p, ':', l->len) + 1, *e = l->p + l->len;

    while (v < e && *v == ' ')
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return strndup(v, (size_t)(e - v));
}

static int early_method(const char *m, size_t n)
{
    static const struct {
        const char *name;
        int type;
    } methods[] = {
        {"GET", EVHTTP_REQ_GET},       {"POST", EVHTTP_REQ_POST},
        {"HEAD", EVHTTP_REQ_HEAD},     {"PUT", EVHTTP_REQ_PUT},
        {"DELETE", EVHTTP_REQ_DELETE}, {"OPTIONS", EVHTTP_REQ_OPTIONS},
        {"TRACE", EVHTTP_REQ_TRACE},   {"CONNECT", EVHTTP_REQ_CONNECT},
        {"PATCH", EVHTTP_REQ_PATCH},
    };

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, m, n) == 0)
            return methods[i].type;
    return 0;
}

/* What the route of the request line l asks for (GW_AUTH_NONE when unsure). */
static enum gw_auth_need early_need(const struct early_line *l)
{
    const char *sp = memchr(l->p, ' ', l->len), *target, *tend;
    enum gw_auth_need need = GW_AUTH_NONE;
    struct evhttp_uri *uri = NULL;
    char *copy = NULL, *path = NULL;
    const char *raw;
    size_t len = 0;
    int method;

    if (sp == NULL)
        return GW_AUTH_NONE;
    method = early_method(l->p, (size_t)(sp - l->p));
    target = sp + 1;
    tend = memchr(target, ' ', (size_t)(l->p + l->len - target));
    if (method == 0 || method == EVHTTP_REQ_CONNECT || tend == NULL)
        return GW_AUTH_NONE;
    copy = strndup(target, (size_t)(tend - target));
    uri = copy != NULL ? evhttp_uri_parse_with_flags(copy, EVHTTP_URI_NONCONFORMANT) : NULL;
    if (uri == NULL)
        goto out;
    raw = evhttp_uri_get_path(uri);
    if (raw == NULL || *raw == '\0')
        raw = "/";
    path = evhttp_uridecode(raw, 0, &len);
    if (path != NULL && strlen(path) == len)
        need = gw_route_auth_need(method, path);
out:
    free(path);
    if (uri != NULL)
        evhttp_uri_free(uri);
    free(copy);
    return need;
}

int gw_early_check(void *arg, const char *head, size_t len)
{
    struct gw_app *app = arg;
    const char *pos = head, *end = head + len;
    char *vals[GW_AUTH_NHEADERS] = {NULL};
    struct early_line l;
    enum gw_auth_need need;
    int status = 0;

    if (!atomic_load(&app->ready) || !early_line_next(&pos, end, &l))
        return 0; /* starting: the router answers 503 first */
    need = early_need(&l);
    if (need == GW_AUTH_NONE)
        return 0;
    while (early_line_next(&pos, end, &l) && l.len > 0) {
        for (size_t i = 0; i < GW_AUTH_NHEADERS; i++) {
            if (vals[i] != NULL || !early_is(&l, gw_auth_headers[i]))
                continue;
            if ((vals[i] = early_value(&l)) == NULL)
                goto out; /* out of memory: let the handler decide */
        }
    }
    status = gw_auth_early(app, need, (const char *const *)vals);
out:
    for (size_t i = 0; i < GW_AUTH_NHEADERS; i++)
        free(vals[i]);
    return status;
}

int gw_early_head_copy(const char *head, size_t len, const char *marker, const char *value,
                       struct evbuffer *dst)
{
    static const char *const drop[] = {"Content-Length", "Transfer-Encoding", "Expect",
                                       "Connection", "Keep-Alive"};
    const char *pos = head, *end = head + len;
    struct early_line l;
    bool first = true;

    while (early_line_next(&pos, end, &l) && (first || l.len > 0)) {
        bool keep = first || !early_is(&l, marker);
        for (size_t i = 0; keep && !first && i < sizeof(drop) / sizeof(drop[0]); i++)
            keep = !early_is(&l, drop[i]);
        first = false;
        if (keep && evbuffer_add(dst, l.p, (size_t)(l.next - l.p)) < 0)
            return -1;
    }
    return evbuffer_add_printf(dst, "Content-Length: 0\r\nConnection: close\r\n%s: %s\r\n\r\n",
                               marker, value) < 0
               ? -1
               : 0;
}
