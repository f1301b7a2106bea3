/*
 * Newline-delimited JSON framing (contract in prov_ndjson.h).
 */
#include "providers/prov_ndjson.h"

#include <stdlib.h>
#include <string.h>

void prov_ndjson_init(struct prov_ndjson *p, size_t max, prov_ndjson_fn *fn, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    p->max = max != 0 ? max : PROV_NDJSON_DEFAULT_MAX;
}

void prov_ndjson_cleanup(struct prov_ndjson *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

/* Appends n bytes to the unfinished line. Returns 0 or -1 (over the limit, out of memory). */
static int ndjson_append(struct prov_ndjson *p, const char *s, size_t n)
{
    if (n > p->max || p->len > p->max - n)
        return -1;
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap != 0 ? p->cap : 256;
        char *b;
        while (cap < p->len + n + 1)
            cap *= 2;
        if ((b = realloc(p->buf, cap)) == NULL)
            return -1;
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
    return 0;
}

/* Dispatches line s (n bytes, NUL at s[n] writable by the caller's buffer). */
static int ndjson_line(struct prov_ndjson *p, char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n == 0)
        return 0;
    s[n] = '\0';
    return p->fn(s, n, p->arg);
}

int prov_ndjson_feed(struct prov_ndjson *p, const void *buf, size_t len)
{
    const char *s = buf, *end = s + len;
    int rc;

    if (p->failed != 0)
        return -1;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
        if (ndjson_append(p, s, n) < 0) {
            p->failed = -1;
            return -1;
        }
        if (nl == NULL)
            break;
        rc = ndjson_line(p, p->buf, p->len);
        p->len = 0;
        if (rc != 0) {
            p->failed = rc;
            return rc;
        }
        s = nl + 1;
    }
    return 0;
}

int prov_ndjson_finish(struct prov_ndjson *p)
{
    int rc = 0;

    if (p->failed == 0 && p->len > 0)
        rc = ndjson_line(p, p->buf, p->len);
    p->len = 0;
    p->failed = 0;
    return rc;
}
