/*
 * Embeddings through the pivot (contract in prov_embed.h).
 */
#include "providers/prov_embed.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwrite.h"
#include "providers/prov_usage.h"

int prov_openai_embed_body(const struct prov_chat_in *in, struct prov_http *out, char *err,
                           size_t errlen)
{
    json_t *body;

    if ((body = json_deep_copy(in->req)) == NULL)
        goto oom;
    json_object_del(body, "user"); /* spec §1.5: never forwarded */
    if (json_is_null(json_object_get(body, "encoding_format")))
        json_object_del(body, "encoding_format");
    if (json_is_null(json_object_get(body, "dimensions")))
        json_object_del(body, "dimensions");
    if (json_object_set_new(body, "model", json_string(in->model)) < 0) {
        json_decref(body);
        goto oom;
    }
    out->body = jw_dumps(body, NULL);
    json_decref(body);
    if (out->body == NULL)
        goto oom;
    out->body_len = strlen(out->body);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int prov_openai_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                            struct prov_http *out, char *err, size_t errlen)
{
    size_t n;

    if (pc->base_url == NULL) {
        return prov_no_base_url(pc, err, errlen);
    }
    if (prov_openai_embed_body(in, out, err, errlen) < 0)
        return -1;
    n = strlen(pc->base_url) + sizeof("/embeddings");
    if ((out->url = malloc(n)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(out->url, n, "%s/embeddings", pc->base_url);
    return prov_http_std(out, pc, NULL, NULL, err, errlen);
}

int prov_openai_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                            size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    bool ok = json_is_object(j) && json_is_array(json_object_get(j, "data"));

    *out = NULL;
    *out_len = 0;
    if (ok) {
        prov_usage_parse(u, j);
        u->completion_tokens = 0;
        if (u->seen && u->total_tokens == 0)
            u->total_tokens = u->prompt_tokens;
    }
    json_decref(j);
    return ok ? 0 : -1;
}

json_t *prov_embed_texts(const json_t *req, char *err, size_t errlen)
{
    const json_t *in = json_object_get(req, "input"), *v;
    json_t *out;
    size_t i;

    if (json_is_string(in))
        return json_pack("[O]", in);
    if (!json_is_array(in) || json_array_size(in) == 0) {
        snprintf(err, errlen, "'input' must be a string or a non-empty array of strings");
        return NULL;
    }
    json_array_foreach(in, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen,
                     "'input' must be text for this provider: input[%zu] is not a string (token "
                     "arrays are accepted only by OpenAI-compatible providers)",
                     i);
            return NULL;
        }
    }
    if ((out = json_copy((json_t *)in)) == NULL)
        snprintf(err, errlen, "out of memory");
    return out;
}

char *prov_embed_reply_new(json_t *vectors, const char *model, long prompt_tokens,
                           struct prov_usage *u, size_t *len)
{
    json_t *data = json_array(), *doc = NULL, *v;
    char *text = NULL;
    size_t i;

    if (u != NULL && prompt_tokens >= 0) {
        u->prompt_tokens = u->total_tokens = prompt_tokens;
        u->seen = true;
    }

    if (data == NULL || !json_is_array(vectors))
        goto out;
    json_array_foreach(vectors, i, v)
    {
        if (json_array_append_new(data, json_pack("{s:s,s:I,s:O}", "object", "embedding", "index",
                                                  (json_int_t)i, "embedding", v)) < 0)
            goto out;
    }
    doc = json_pack("{s:s,s:O,s:s}", "object", "list", "data", data, "model", model);
    if (doc == NULL)
        goto out;
    if (prompt_tokens >= 0 &&
        json_object_set_new(doc, "usage",
                            json_pack("{s:I,s:I}", "prompt_tokens", (json_int_t)prompt_tokens,
                                      "total_tokens", (json_int_t)prompt_tokens)) < 0)
        goto out;
    text = jw_dumps(doc, len);
out:
    json_decref(doc);
    json_decref(data);
    json_decref(vectors);
    return text;
}

/* One vector (an array of numbers) as base64 of little-endian float32; NULL when malformed. */
static json_t *embed_b64(const json_t *vec)
{
    size_t n = json_array_size(vec), i;
    unsigned char *raw = malloc(n * 4 + 1);
    char *b64 = malloc(4 * ((n * 4 + 2) / 3) + 1);
    const json_t *x;
    json_t *s = NULL;

    if (raw == NULL || b64 == NULL)
        goto out;
    json_array_foreach(vec, i, x)
    {
        float f;
        uint32_t bits;
        if (!json_is_number(x))
            goto out;
        f = (float)json_number_value(x);
        memcpy(&bits, &f, 4);
        raw[4 * i] = (unsigned char)bits;
        raw[4 * i + 1] = (unsigned char)(bits >> 8);
        raw[4 * i + 2] = (unsigned char)(bits >> 16);
        raw[4 * i + 3] = (unsigned char)(bits >> 24);
    }
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)(n * 4));
    s = json_string(b64);
out:
    free(raw);
    free(b64);
    return s;
}

/* Float vectors of an OpenAI embeddings body to base64 (strings left as they are). */
static int shape_embed_b64_reply(const char *body, size_t len, char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *d, *e, *v;
    size_t i;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    if (!json_is_object(j) || !json_is_array(d = json_object_get(j, "data")))
        goto out;
    json_array_foreach(d, i, e)
    {
        v = json_object_get(e, "embedding");
        if (json_is_string(v))
            continue;
        if (!json_is_array(v) || json_object_set_new(e, "embedding", embed_b64(v)) < 0)
            goto out;
    }
    if ((*out = jw_dumps(j, out_len)) == NULL)
        goto out;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static int shape_embed_float_reply(const char *body, size_t len, char **out, size_t *out_len)
{
    (void)body;
    (void)len;
    *out = NULL;
    *out_len = 0;
    return 0;
}

/* Embeddings never stream: the stream operations refuse. */
static int shape_embed_chunk(struct prov_shape_stream *st, const char *event, const char *data,
                             size_t len, prov_write_fn *w, void *arg)
{
    (void)st;
    (void)event;
    (void)data;
    (void)len;
    (void)w;
    (void)arg;
    return -1;
}

static int shape_embed_end(struct prov_shape_stream *st, prov_write_fn *w, void *arg)
{
    (void)st;
    (void)w;
    (void)arg;
    return -1;
}

const struct prov_shape_ops prov_shape_embed_float = {
    .name = "embeddings-float",
    .chunk = shape_embed_chunk,
    .finish = shape_embed_end,
    .fail = shape_embed_end,
    .reply = shape_embed_float_reply,
};

const struct prov_shape_ops prov_shape_embed_base64 = {
    .name = "embeddings-base64",
    .chunk = shape_embed_chunk,
    .finish = shape_embed_end,
    .fail = shape_embed_end,
    .reply = shape_embed_b64_reply,
};
