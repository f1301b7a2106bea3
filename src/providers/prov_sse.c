/*
 * Incremental SSE parser (WHATWG HTML, "Interpreting an event stream"): lines end in LF, CRLF or
 * CR; a blank line dispatches; data lines are joined with '\n'. Complete lines inside a chunk are
 * parsed in place, and only an unfinished tail is copied, so the usual case costs no copy.
 */
#include "providers/prov_sse.h"

#include <stdlib.h>
#include <string.h>

static const char sse_bom[3] = {'\xEF', '\xBB', '\xBF'};

/* Makes room for need bytes plus a NUL. Returns 0 or -1 (out of memory; b unchanged). */
static int sse_buf_reserve(struct prov_sse_buf *b, size_t need)
{
    size_t cap = b->cap < 64 ? 64 : b->cap;
    char *np;

    if (need < b->cap)
        return 0;
    while (cap <= need)
        cap *= 2;
    np = realloc(b->p, cap);
    if (np == NULL)
        return -1;
    b->p = np;
    b->cap = cap;
    return 0;
}

/* Appends n bytes and keeps the buffer NUL-terminated. Returns 0 or -1. */
static int sse_buf_add(struct prov_sse_buf *b, const char *s, size_t n)
{
    if (sse_buf_reserve(b, b->len + n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void sse_buf_free(struct prov_sse_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void prov_sse_init(struct prov_sse *p, size_t max_event, prov_sse_event_fn *on_event, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->arg = arg;
    p->max_event = max_event > 0 ? max_event : PROV_SSE_DEFAULT_MAX;
}

void prov_sse_set_comment_fn(struct prov_sse *p, prov_sse_comment_fn *on_comment)
{
    p->on_comment = on_comment;
}

void prov_sse_cleanup(struct prov_sse *p)
{
    if (p == NULL)
        return;
    sse_buf_free(&p->line);
    sse_buf_free(&p->data);
    sse_buf_free(&p->event);
    sse_buf_free(&p->id);
}

/* A blank line: dispatch the event if it has data, then clear the data and type buffers. */
static int sse_dispatch(struct prov_sse *p)
{
    struct prov_sse_event ev;
    int rc;

    p->in_event = false;
    if (p->data.len == 0) {
        p->event.len = 0;
        return 0;
    }
    /* Every value was stored with a '\n' after it; the last one becomes the terminator. */
    p->data.len--;
    p->data.p[p->data.len] = '\0';
    ev.event = p->event.len > 0 ? p->event.p : "message";
    ev.data = p->data.p;
    ev.data_len = p->data.len;
    ev.id = p->id.len > 0 ? p->id.p : "";
    p->n_events++;
    rc = p->on_event(&ev, p->arg);
    p->data.len = 0;
    p->event.len = 0;
    return rc;
}

static bool sse_field_is(const char *f, size_t flen, const char *name)
{
    return flen == strlen(name) && memcmp(f, name, flen) == 0;
}

/* One complete line without its terminator. Returns 0, -1, or a callback's non-zero value. */
static int sse_line(struct prov_sse *p, const char *line, size_t n)
{
    const char *colon, *v = "";
    size_t flen = n, vlen = 0;

    if (n == 0)
        return sse_dispatch(p);
    if (line[0] == ':') {
        p->n_comments++;
        return p->on_comment != NULL ? p->on_comment(line + 1, n - 1, p->arg) : 0;
    }
    p->in_event = true;
    colon = memchr(line, ':', n);
    if (colon != NULL) {
        flen = (size_t)(colon - line);
        v = colon + 1;
        vlen = n - flen - 1;
        if (vlen > 0 && v[0] == ' ') {
            v++;
            vlen--;
        }
    }
    if (sse_field_is(line, flen, "data")) {
        /* The joined data (separators included) may not pass max_event. */
        if (p->data.len + vlen > p->max_event)
            return -1;
        if (sse_buf_add(&p->data, v, vlen) != 0 || sse_buf_add(&p->data, "\n", 1) != 0)
            return -1;
    } else if (sse_field_is(line, flen, "event")) {
        p->event.len = 0;
        return sse_buf_add(&p->event, v, vlen);
    } else if (sse_field_is(line, flen, "id")) {
        /* An id containing NUL is ignored (spec). */
        if (memchr(v, '\0', vlen) == NULL) {
            p->id.len = 0;
            return sse_buf_add(&p->id, v, vlen);
        }
    }
    /* "retry" and unknown fields are ignored. */
    return 0;
}

/* Carries an unfinished line over to the next chunk, within the line limit. */
static int sse_keep(struct prov_sse *p, const char *s, size_t n)
{
    if (p->line.len + n > p->max_event)
        return -1;
    return sse_buf_add(&p->line, s, n);
}

/* Skips a UTF-8 BOM at the very start of the stream, even when it is split across chunks. */
static int sse_skip_bom(struct prov_sse *p, const char *s, size_t len, size_t *i)
{
    while (p->bom >= 0 && *i < len) {
        if (s[*i] != sse_bom[p->bom]) {
            /* Not a BOM after all: the bytes matched so far start the first line. */
            int matched = p->bom;

            p->bom = -1;
            return matched > 0 ? sse_keep(p, sse_bom, (size_t)matched) : 0;
        }
        (*i)++;
        p->bom++;
        if (p->bom == (int)sizeof(sse_bom))
            p->bom = -1;
    }
    return 0;
}

static int sse_feed(struct prov_sse *p, const char *s, size_t len)
{
    size_t i = 0;
    int rc;

    if (sse_skip_bom(p, s, len, &i) != 0)
        return -1;
    if (p->cr_last && i < len) {
        p->cr_last = false;
        if (s[i] == '\n')
            i++;
    }
    while (i < len) {
        const char *line;
        size_t j = i, n;

        while (j < len && s[j] != '\n' && s[j] != '\r')
            j++;
        if (j == len)
            return sse_keep(p, s + i, len - i);
        if (p->line.len > 0) {
            if (sse_keep(p, s + i, j - i) != 0)
                return -1;
            line = p->line.p;
            n = p->line.len;
        } else {
            /* The same limit as for a carried-over line, so results don't depend on splits. */
            if (j - i > p->max_event)
                return -1;
            line = s + i;
            n = j - i;
        }
        i = j + 1;
        if (s[j] == '\r') {
            if (i == len)
                p->cr_last = true;
            else if (s[i] == '\n')
                i++;
        }
        rc = sse_line(p, line, n);
        p->line.len = 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int prov_sse_feed(struct prov_sse *p, const void *buf, size_t len)
{
    int rc;

    if (p->failed != 0)
        return -1;
    if (len == 0)
        return 0;
    rc = sse_feed(p, buf, len);
    if (rc != 0)
        p->failed = rc;
    return rc;
}

bool prov_sse_finish(struct prov_sse *p)
{
    bool left = p->failed != 0 || p->line.len > 0 || p->in_event || p->bom > 0;

    p->line.len = 0;
    p->data.len = 0;
    p->event.len = 0;
    p->id.len = 0;
    p->failed = 0;
    p->bom = 0;
    p->cr_last = false;
    p->in_event = false;
    return left;
}

unsigned long prov_sse_event_count(const struct prov_sse *p)
{
    return p->n_events;
}

unsigned long prov_sse_comment_count(const struct prov_sse *p)
{
    return p->n_comments;
}
