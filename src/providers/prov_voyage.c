/*
 * The Voyage AI dialect (providers.md §12): embeddings only, POST {base}/embeddings with float
 * vectors asked for; the reply's usage.total_tokens are the prompt tokens; errors {"detail"}.
 * A chat request is a client error (400) naming the provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_dialect.h"
#include "providers/prov_embed.h"
#include "providers/prov_pivot.h"

static int vo_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    (void)in;
    (void)out;
    *client_usage = false;
    snprintf(err, errlen, "Provider '%s' serves embeddings only: use /v1/embeddings", pc->info->id);
    return PROV_E_REQUEST;
}

/* Never called (chat_build refuses): a reply is not Voyage's to give. */
static int vo_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                         char **out, size_t *out_len)
{
    (void)body;
    (void)len;
    prov_usage_init(u);
    *gen_bytes = 0;
    *out = NULL;
    *out_len = 0;
    return -1;
}

static int vo_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    (void)event;
    (void)data;
    (void)len;
    (void)emit;
    (void)arg;
    prov_pivot_fail(s, NULL, "voyage serves embeddings only");
    return 0;
}

static void vo_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *m = json_object_get(j, "detail");

    if (!json_is_string(m))
        m = json_object_get(json_object_get(j, "error"), "message");
    prov_pivot_error_text(body, len, m, NULL, out, outlen, code, codelen);
    json_decref(j);
}

static int vo_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    const json_t *dim = json_object_get(in->req, "dimensions");
    const json_t *it = json_object_get(in->req, "input_type");
    const json_t *tr = json_object_get(in->req, "truncation");
    const char *type = json_string_value(it);
    json_t *texts, *body;
    bool built;
    int rc;

    if (it != NULL && !json_is_null(it) &&
        (type == NULL || (strcmp(type, "query") != 0 && strcmp(type, "document") != 0))) {
        snprintf(err, errlen, "input_type must be \"query\", \"document\" or null");
        return PROV_E_REQUEST;
    }
    if ((texts = prov_pivot_embed_texts(in->req, &rc, err, errlen)) == NULL)
        return rc;
    body =
        json_pack("{s:o, s:s, s:s}", "input", texts, "model", in->model, "output_dtype", "float");
    built =
        body != NULL &&
        !(json_is_integer(dim) && json_object_set(body, "output_dimension", (json_t *)dim) < 0) &&
        !(type != NULL && json_object_set(body, "input_type", (json_t *)it) < 0) &&
        !(json_is_boolean(tr) && json_object_set(body, "truncation", (json_t *)tr) < 0);
    return prov_pivot_embed_send(pc, "/embeddings", body, built, out, err, errlen);
}

/* data[].embedding in index order; usage.total_tokens -> prompt tokens. */
static int vo_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                          size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *vec = NULL;
    const json_t *data = json_object_get(j, "data"), *d;
    const json_t *n = json_object_get(json_object_get(j, "usage"), "total_tokens");
    const char *model = json_string_value(json_object_get(j, "model"));
    long prompt = -1;
    size_t i, k;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    if (!json_is_array(data) || (vec = json_array()) == NULL)
        goto out;
    for (k = 0; k < json_array_size(data); k++) {
        json_t *e = NULL;
        /* In the order of "index" (Voyage answers in order; a reordered reply is put back). */
        json_array_foreach(data, i, d)
        {
            const json_t *x = json_object_get(d, "index");
            if ((json_is_integer(x) ? (size_t)json_integer_value(x) : i) == k)
                e = json_object_get(d, "embedding");
        }
        if (!json_is_array(e) || json_array_append(vec, e) < 0)
            goto out;
    }
    if (json_is_integer(n))
        prompt = (long)json_integer_value(n);
    *out = prov_embed_reply_new(vec, model != NULL ? model : "", prompt, u, out_len);
    vec = NULL;
    rc = *out != NULL ? 0 : -1;
out:
    json_decref(vec);
    json_decref(j);
    return rc;
}

const struct prov_dialect_ops prov_dialect_voyage = {
    .name = "voyage",
    .framing = PROV_FRAME_SSE,
    .chat_build = vo_chat_build,
    .chat_reply = vo_chat_reply,
    .chat_event = vo_chat_event,
    .error_message = vo_error_message,
    .embed_build = vo_embed_build,
    .embed_reply = vo_embed_reply,
};
