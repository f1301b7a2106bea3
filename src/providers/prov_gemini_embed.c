/*
 * Gemini and Vertex AI embeddings (providers.md §5.5, §6.3, §13): the pivot request (OpenAI
 * embeddings) to batchEmbedContents (Gemini), predict (Vertex text-embedding-*,
 * text-multilingual-embedding-*, gemini-embedding-001) or embedContent (other Vertex gemini*
 * models, one input per call), and any of their replies back to the pivot. Floats are always
 * asked for; the gateway encodes base64 when the client wants it.
 */
#include "providers/prov_gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_embed.h"

/* The pivot's texts, dimensions and task type. 0, PROV_E_REQUEST or -1 with err set. */
static int gem_embed_in(const struct prov_conf *pc, const json_t *req, json_t **texts,
                        const json_t **dims, const json_t **task, char *err, size_t errlen)
{
    *dims = json_object_get(req, "dimensions");
    if (json_is_null(*dims) || *dims == NULL)
        *dims = json_object_get(pc->kwargs, "dimensions");
    if (json_is_null(*dims))
        *dims = NULL;
    if (*dims != NULL && (!json_is_integer(*dims) || json_integer_value(*dims) < 1)) {
        snprintf(err, errlen, "dimensions must be a positive integer");
        return PROV_E_REQUEST;
    }
    *task = json_object_get(req, "task_type");
    if (!json_is_string(*task))
        *task = json_object_get(pc->kwargs, "task_type");
    if (!json_is_string(*task))
        *task = NULL;
    if ((*texts = prov_embed_texts(req, err, errlen)) == NULL)
        return strcmp(err, "out of memory") == 0 ? -1 : PROV_E_REQUEST;
    return 0;
}

/* Finishes the call: URL for verb, body (stolen), headers. */
static int gem_embed_finish(const struct prov_conf *pc, bool vertex, const struct prov_chat_in *in,
                            const char *verb, json_t *body, struct prov_http *out, char *err,
                            size_t errlen)
{
    int rc;

    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = prov_pivot_body(out, body, err, errlen);
    json_decref(body);
    if (rc < 0)
        return -1;
    if ((rc = prov_gem_url(pc, vertex, in->model, verb, &out->url, err, errlen)) != 0)
        return rc;
    return prov_gem_headers(pc, vertex, in->bearer, out, err, errlen);
}

int prov_gem_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         struct prov_http *out, char *err, size_t errlen)
{
    const json_t *dims, *task, *t;
    json_t *texts = NULL, *reqs = NULL, *r;
    char *path = NULL;
    size_t i;
    int rc;

    if ((rc = gem_embed_in(pc, in->req, &texts, &dims, &task, err, errlen)) != 0 ||
        (rc = prov_gem_model_path(false, in->model, &path, err, errlen)) != 0)
        goto out;
    rc = -1;
    if ((reqs = json_array()) == NULL)
        goto oom;
    json_array_foreach(texts, i, t)
    {
        r = json_pack("{s:s, s:{s:[{s:O}]}}", "model", path, "content", "parts", "text", t);
        if (r == NULL || json_array_append_new(reqs, r) < 0 ||
            (dims != NULL && json_object_set(r, "outputDimensionality", (json_t *)dims) < 0) ||
            (task != NULL && json_object_set(r, "taskType", (json_t *)task) < 0))
            goto oom;
    }
    rc = gem_embed_finish(pc, false, in, "batchEmbedContents", json_pack("{s:O}", "requests", reqs),
                          out, err, errlen);
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(path);
    json_decref(reqs);
    json_decref(texts);
    return rc;
}

/* Whether a Vertex model takes predict (§6.3) rather than embedContent. */
static bool vertex_uses_predict(const char *model)
{
    const char *m = strrchr(model, '/');

    m = m != NULL ? m + 1 : model;
    return strncmp(m, "gemini", 6) != 0 || strcmp(m, "gemini-embedding-001") == 0;
}

int prov_vertex_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                            struct prov_http *out, char *err, size_t errlen)
{
    const json_t *dims, *task, *t;
    json_t *texts = NULL, *inst = NULL, *body = NULL, *cfg = NULL, *x;
    bool predict = vertex_uses_predict(in->model);
    size_t i;
    int rc;

    if ((rc = gem_embed_in(pc, in->req, &texts, &dims, &task, err, errlen)) != 0)
        return rc;
    rc = -1;
    if (!predict && json_array_size(texts) != 1) {
        snprintf(err, errlen, "model '%.80s' takes one input per call on Vertex AI (embedContent)",
                 in->model);
        rc = PROV_E_REQUEST;
        goto out;
    }
    if ((cfg = json_object()) == NULL ||
        (dims != NULL && json_object_set(cfg, "outputDimensionality", (json_t *)dims) < 0))
        goto oom;
    if (predict) {
        if ((inst = json_array()) == NULL)
            goto oom;
        json_array_foreach(texts, i, t)
        {
            x = json_pack("{s:O}", "content", t);
            if (x == NULL || json_array_append_new(inst, x) < 0 ||
                (task != NULL && json_object_set(x, "task_type", (json_t *)task) < 0))
                goto oom;
        }
        body = json_pack("{s:O}", "instances", inst);
        if (body != NULL && json_object_size(cfg) > 0 &&
            json_object_set(body, "parameters", cfg) < 0)
            goto oom;
    } else {
        if (task != NULL && json_object_set(cfg, "taskType", (json_t *)task) < 0)
            goto oom;
        body = json_pack("{s:{s:[{s:O}]}}", "content", "parts", "text", json_array_get(texts, 0));
        if (body != NULL && json_object_size(cfg) > 0 &&
            json_object_set(body, "embedContentConfig", cfg) < 0)
            goto oom;
    }
    rc = gem_embed_finish(pc, true, in, predict ? "predict" : "embedContent", body, out, err,
                          errlen);
    body = NULL;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    json_decref(body);
    json_decref(cfg);
    json_decref(inst);
    json_decref(texts);
    return rc;
}

/* Appends a copy of values (must be an array of numbers) to vectors. False when malformed. */
static bool gem_vector_add(json_t *vectors, const json_t *values)
{
    const json_t *x;
    size_t i;

    if (!json_is_array(values))
        return false;
    json_array_foreach(values, i, x)
    {
        if (!json_is_number(x))
            return false;
    }
    return json_array_append(vectors, (json_t *)values) == 0;
}

int prov_gem_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                         size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *vectors = json_array();
    const json_t *list, *e, *um;
    long tokens = -1;
    size_t i;
    bool ok = json_is_object(j) && vectors != NULL;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    if (ok && json_is_array(list = json_object_get(j, "embeddings"))) {
        /* batchEmbedContents: no token counts */
        json_array_foreach(list, i, e) ok =
            ok && gem_vector_add(vectors, json_object_get(e, "values"));
    } else if (ok && json_is_array(list = json_object_get(j, "predictions"))) {
        json_array_foreach(list, i, e)
        {
            const json_t *emb = json_object_get(e, "embeddings");
            const json_t *tc = json_object_get(json_object_get(emb, "statistics"), "token_count");
            ok = ok && gem_vector_add(vectors, json_object_get(emb, "values"));
            if (json_is_number(tc) && json_number_value(tc) >= 0)
                tokens = (tokens < 0 ? 0 : tokens) + (long)json_number_value(tc);
        }
    } else if (ok && json_is_object(e = json_object_get(j, "embedding"))) {
        ok = gem_vector_add(vectors, json_object_get(e, "values"));
        um = json_object_get(json_object_get(j, "usageMetadata"), "promptTokenCount");
        if (json_is_integer(um) && json_integer_value(um) >= 0)
            tokens = (long)json_integer_value(um);
    } else {
        ok = false;
    }
    json_decref(j);
    if (!ok) {
        json_decref(vectors);
        return -1;
    }
    /* Google names no model in the reply, and embed_reply is not told it: "model" is "". */
    *out = prov_embed_reply_new(vectors, "", tokens, u, out_len);
    return *out != NULL ? 0 : -1;
}
