/*
 * Test helpers for the translating dialects (contract in t_xlate.h).
 */
#include "t_xlate.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/prov_frame.h"
#include "providers/prov_registry.h"

size_t tx_unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned int v;

        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

json_t *tx_load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    ck_assert_msg(v != NULL, "bad test JSON: %s (%s)", e.text, text);
    return v;
}

struct prov_confs *tx_confs(const char *providers)
{
    json_t *p = providers != NULL ? tx_load(providers) : NULL;
    struct prov_confs *pc = prov_confs_new(p);

    json_decref(p);
    ck_assert_ptr_nonnull(pc);
    return pc;
}

const struct prov_conf *tx_conf(const struct prov_confs *pc, const char *id)
{
    return prov_confs_get(pc, prov_find(id));
}

const char *tx_header(const struct prov_http *h, const char *name)
{
    const char *v = NULL;

    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcasecmp(h->headers[i].name, name) != 0)
            continue;
        ck_assert_msg(v == NULL, "header %s sent twice", name);
        v = h->headers[i].value;
    }
    return v;
}

void tx_build(struct tx_built *b, const struct prov_dialect_ops *d, const struct prov_conf *c,
              const char *req, bool stream, bool embed)
{
    tx_build_in(b, d, c, (struct prov_chat_in){.model = "m1", .stream = stream}, req, embed);
}

void tx_build_in(struct tx_built *b, const struct prov_dialect_ops *d, const struct prov_conf *c,
                 struct prov_chat_in in, const char *req, bool embed)
{
    json_t *r = tx_load(req);

    in.req = r;
    memset(b, 0, sizeof(*b));
    b->client_usage = !in.stream; /* must be overwritten */
    b->rc = embed ? d->embed_build(c, &in, &b->h, b->err, sizeof(b->err))
                  : d->chat_build(c, &in, &b->client_usage, &b->h, b->err, sizeof(b->err));
    if (b->rc == 0) {
        ck_assert_ptr_nonnull(b->h.body);
        ck_assert_uint_eq(b->h.body_len, strlen(b->h.body));
        b->body = tx_load(b->h.body);
    }
    json_decref(r);
}

void tx_built_free(struct tx_built *b)
{
    json_decref(b->body);
    prov_http_cleanup(&b->h);
}

void tx_body_is(const struct tx_built *b, const char *expect)
{
    json_t *e = tx_load(expect);

    ck_assert_msg(b->rc == 0, "build failed (%d): %s", b->rc, b->err);
    ck_assert_msg(json_equal(b->body, e), "body %s\nexpected %s", b->h.body, expect);
    json_decref(e);
}

void tx_rejects(const struct prov_dialect_ops *d, const struct prov_conf *c, const char *req,
                bool embed, const char *needle)
{
    struct tx_built b;

    tx_build(&b, d, c, req, false, embed);
    ck_assert_msg(b.rc == PROV_E_REQUEST, "accepted (%d): %s", b.rc, req);
    ck_assert_msg(strstr(b.err, needle) != NULL, "'%s' lacks '%s'", b.err, needle);
    ck_assert_ptr_null(b.h.body);
    tx_built_free(&b);
}

json_t *tx_reply(const struct prov_dialect_ops *d, const char *body, struct prov_usage *u,
                 size_t *gen)
{
    char *out = NULL;
    size_t out_len = 0;
    json_t *j;

    ck_assert_int_eq(d->chat_reply(body, strlen(body), u, gen, &out, &out_len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(out));
    j = tx_load(out);
    free(out);
    return j;
}

json_t *tx_embed_reply(const struct prov_dialect_ops *d, const char *body, struct prov_usage *u)
{
    char *out = NULL;
    size_t out_len = 0;
    json_t *j;

    ck_assert_int_eq(d->embed_reply(body, strlen(body), u, &out, &out_len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(out));
    j = tx_load(out);
    free(out);
    return j;
}

void tx_error(const struct prov_dialect_ops *d, const char *body, char *msg, size_t msglen,
              char *code, size_t codelen)
{
    d->error_message(body, strlen(body), msg, msglen, code, codelen);
}

/* ---- Streams ---- */

/* Length of a generated id's random part at p (24 hex digits then '"'), else 0. */
static size_t tx_gen_len(const char *p)
{
    size_t i = 0;

    while (i < 24 && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
        i++;
    return i == 24 && p[i] == '"' ? i : 0;
}

/* A pivot chunk's id must be the stream's one id (the first chunk's). */
static void tx_same_id(struct tx_sink *k, const char *data)
{
    const char *q;

    if (strncmp(data, "{\"id\":\"", 7) != 0 || (q = strchr(data + 7, '"')) == NULL)
        return;
    if (k->id[0] == '\0')
        snprintf(k->id, sizeof(k->id), "%.*s", (int)(q - (data + 7)), data + 7);
    ck_assert_msg(strlen(k->id) == (size_t)(q - (data + 7)) &&
                      strncmp(data + 7, k->id, strlen(k->id)) == 0,
                  "chunk id differs from the stream's %s: %s", k->id, data);
}

int tx_emit(const char *event, const char *data, size_t len, void *arg)
{
    struct tx_sink *k = arg;
    const char *ev = event != NULL ? event : "-";
    const char *p;
    size_t need = strlen(ev) + 1 + len + 1, g;

    ck_assert_uint_eq(strlen(data), len); /* NUL-terminated at len */
    if (event == NULL)
        tx_same_id(k, data);
    if (k->len + need >= sizeof(k->log)) {
        k->overflow = true;
        return -1;
    }
    k->len += (size_t)snprintf(k->log + k->len, sizeof(k->log) - k->len, "%s|", ev);
    for (p = data; p < data + len;) {
        if (strncmp(p, "\"created\":", 10) == 0) {
            memcpy(k->log + k->len, "\"created\":0", 11);
            k->len += 11;
            for (p += 10; *p >= '0' && *p <= '9';)
                p++;
            continue;
        }
        if ((strncmp(p, "chatcmpl-", 9) == 0 && (g = tx_gen_len(p + 9)) > 0) ||
            (strncmp(p, "call_", 5) == 0 && (g = tx_gen_len(p + 5)) > 0)) {
            size_t pre = p[0] == 'c' && p[1] == 'h' ? 9 : 5;
            memcpy(k->log + k->len, p, pre);
            memcpy(k->log + k->len + pre, "GEN", 3);
            k->len += pre + 3;
            p += pre + g;
            continue;
        }
        k->log[k->len++] = *p++;
    }
    k->log[k->len++] = '\n';
    k->log[k->len] = '\0';
    k->n++;
    return 0;
}

static int tx_on_event(const char *event, const char *data, size_t len, void *arg)
{
    struct tx_run *r = arg;

    return r->d->chat_event(&r->s, event, data, len, tx_emit, &r->k);
}

/* Runs the n bytes at text through the dialect's framing (as the gateway does, prov_frame.h)
   cut in two at cut. */
static bool tx_run_split(struct tx_run *r, const struct prov_dialect_ops *d, const char *text,
                         size_t n, size_t cut, bool client_usage)
{
    struct prov_frame f;
    bool ok;

    memset(r, 0, sizeof(*r));
    r->d = d;
    r->s.client_usage = client_usage;
    prov_usage_init(&r->s.usage);
    prov_frame_init(&f, d->framing, &r->s, tx_on_event, r);
    ok = prov_frame_feed(&f, text, cut) == 0 && prov_frame_feed(&f, text + cut, n - cut) == 0;
    ok = prov_frame_finish(&f) == 0 && ok;
    prov_frame_cleanup(&f);
    prov_stream_cleanup(&r->s);
    return ok || r->s.failed; /* an unreadable stream fails it, as in the gateway */
}

static bool tx_same(const struct tx_run *a, const struct tx_run *b)
{
    return a->k.len == b->k.len && memcmp(a->k.log, b->k.log, a->k.len) == 0 && a->k.n == b->k.n &&
           memcmp(&a->s.usage, &b->s.usage, sizeof(a->s.usage)) == 0 &&
           a->s.gen_bytes == b->s.gen_bytes && a->s.done == b->s.done &&
           a->s.failed == b->s.failed && strcmp(a->s.error, b->s.error) == 0 && !b->k.overflow;
}

void tx_run_everywhere_bytes(struct tx_run *whole, const struct prov_dialect_ops *d,
                             const void *data, size_t n, bool client_usage)
{
    static struct tx_run part;

    ck_assert(tx_run_split(whole, d, data, n, n, client_usage));
    ck_assert(!whole->k.overflow);
    for (size_t cut = 0; cut <= n; cut++)
        if (!tx_run_split(&part, d, data, n, cut, client_usage) || !tx_same(whole, &part))
            ck_abort_msg("cut at %zu of %zu: different result:\n%s\nvs\n%s", cut, n, whole->k.log,
                         part.k.log);
}

void tx_run_everywhere(struct tx_run *whole, const struct prov_dialect_ops *d, const char *text,
                       bool client_usage)
{
    tx_run_everywhere_bytes(whole, d, text, strlen(text), client_usage);
}
