/*
 * Pivot-writing helpers of the translating dialects (contract in prov_pivot.h).
 */
#include "providers/prov_pivot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_embed.h"
#include "util.h"

int prov_pivot_bad(struct prov_pivot_req *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return PROV_E_REQUEST;
}

int prov_pivot_oom(struct prov_pivot_req *r)
{
    snprintf(r->err, r->errlen, "out of memory");
    return -1;
}

int prov_pivot_set(json_t *o, const char *key, json_t *v)
{
    return v == NULL || json_object_set_new(o, key, v) < 0 ? -1 : 0;
}

int prov_pivot_push(json_t *a, json_t *v)
{
    return v == NULL || json_array_append_new(a, v) < 0 ? -1 : 0;
}

int prov_pivot_tool(struct prov_pivot_req *r, const json_t *t, size_t i, const json_t **name,
                    const json_t **desc, const json_t **params)
{
    const json_t *fn = json_object_get(t, "function"), *type = json_object_get(t, "type");

    *name = json_object_get(fn, "name");
    *desc = json_object_get(fn, "description");
    *params = json_object_get(fn, "parameters");
    if ((type != NULL &&
         !(json_is_string(type) && strcmp(json_string_value(type), "function") == 0)) ||
        !json_is_string(*name))
        return prov_pivot_bad(r, "tools[%zu]: expected a function tool with a name", i);
    if (*params != NULL && !json_is_null(*params) && !json_is_object(*params))
        return prov_pivot_bad(r, "tools[%zu].function.parameters must be an object", i);
    return 0;
}

int prov_pivot_data_uri(struct prov_pivot_req *r, const char *u, const char *where,
                        const char **type, size_t *type_len, const char **b64)
{
    const char *semi, *p;

    if (strncmp(u, "data:", 5) != 0)
        return 1;
    semi = strchr(u + 5, ';');
    p = strstr(u + 5, ";base64,");
    if (semi == NULL || p == NULL || semi == u + 5)
        return prov_pivot_bad(r, "%s: a data URI must be data:<type>;base64,<data>", where);
    *type = u + 5;
    *type_len = (size_t)(semi - (u + 5));
    *b64 = p + 8;
    return 0;
}

int prov_pivot_http(const struct prov_conf *pc, const char *path, const char *accept,
                    struct prov_http *out, char *err, size_t errlen)
{
    const char *scheme;
    size_t n;

    if (pc->base_url == NULL || pc->base_url[0] == '\0') {
        return prov_no_base_url(pc, err, errlen);
    }
    scheme = strstr(pc->base_url, "://") != NULL ? "" : "http://";
    n = strlen(scheme) + strlen(pc->base_url) + strlen(path) + 1;
    if ((out->url = malloc(n)) == NULL)
        goto oom;
    snprintf(out->url, n, "%s%s%s", scheme, pc->base_url, path);
    return prov_http_std(out, pc, accept, NULL, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int prov_pivot_body(struct prov_http *out, const json_t *body, char *err, size_t errlen)
{
    if ((out->body = jw_dumps(body, NULL)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->body_len = strlen(out->body);
    return 0;
}

int prov_pivot_embed_send(const struct prov_conf *pc, const char *path, json_t *body, bool built,
                          struct prov_http *out, char *err, size_t errlen)
{
    int rc;

    if (body == NULL || !built) {
        json_decref(body);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = prov_pivot_body(out, body, err, errlen);
    json_decref(body);
    return rc < 0 ? -1 : prov_pivot_http(pc, path, "application/json", out, err, errlen);
}

int prov_pivot_kwargs(const struct prov_conf *pc, json_t *req, const char *const *skip)
{
    const char *k;
    json_t *v;

    json_object_foreach(pc->kwargs, k, v)
    {
        bool skipped = false;
        for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
            skipped = skipped || strcmp(skip[i], k) == 0;
        if (!skipped && json_object_get(req, k) == NULL && json_object_set(req, k, v) < 0)
            return -1;
    }
    return 0;
}

bool prov_pivot_client_usage(const json_t *req)
{
    return json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage"));
}

const json_t *prov_pivot_max_tokens(const json_t *req, int *rc, char *err, size_t errlen)
{
    const json_t *v = json_object_get(req, "max_completion_tokens");
    const char *name = "max_completion_tokens";

    *rc = 0;
    if (v == NULL || json_is_null(v)) {
        v = json_object_get(req, "max_tokens");
        name = "max_tokens";
    }
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        snprintf(err, errlen, "%s must be a positive integer", name);
        *rc = PROV_E_REQUEST;
        return NULL;
    }
    return v;
}

int prov_pivot_stop(const json_t *req, json_t **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(req, "stop"), *s;
    size_t i;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return (*out = json_pack("[O]", v)) != NULL ? 0 : -1;
    if (!json_is_array(v)) {
        snprintf(err, errlen, "stop must be a string or an array of strings");
        return PROV_E_REQUEST;
    }
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s)) {
            snprintf(err, errlen, "stop[%zu] must be a string", i);
            return PROV_E_REQUEST;
        }
    }
    return (*out = json_copy((json_t *)v)) != NULL ? 0 : -1;
}

json_t *prov_pivot_text(const json_t *content, const char *sep)
{
    size_t i, n = 0, k = 0, seplen = strlen(sep);
    const json_t *part, *t;
    json_t *s;
    char *p;

    if (json_is_string(content))
        return json_copy((json_t *)content);
    json_array_foreach(content, i, part)
    {
        if (json_is_string(t = json_object_get(part, "text")))
            n += json_string_length(t) + seplen;
    }
    if ((p = malloc(n + 1)) == NULL)
        return NULL;
    json_array_foreach(content, i, part)
    {
        if (!json_is_string(t = json_object_get(part, "text")))
            continue;
        if (k > 0) {
            memcpy(p + k, sep, seplen);
            k += seplen;
        }
        memcpy(p + k, json_string_value(t), json_string_length(t));
        k += json_string_length(t);
    }
    s = json_stringn_nocheck(p, k);
    free(p);
    return s;
}

json_t *prov_pivot_embed_texts(const json_t *req, int *rc, char *err, size_t errlen)
{
    json_t *t;

    err[0] = '\0';
    *rc = 0;
    if ((t = prov_embed_texts(req, err, errlen)) != NULL)
        return t;
    *rc = err[0] == '\0' || strcmp(err, "out of memory") == 0 ? -1 : PROV_E_REQUEST;
    if (err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    return NULL;
}

json_t *prov_pivot_embed_one(const json_t *req, const char *field, const char *who, int *rc,
                             char *err, size_t errlen)
{
    const json_t *dim = json_object_get(req, "dimensions");
    json_t *texts, *b = NULL;

    if ((texts = prov_pivot_embed_texts(req, rc, err, errlen)) == NULL)
        return NULL;
    *rc = PROV_E_REQUEST;
    if (json_array_size(texts) != 1) {
        snprintf(err, errlen, "%s embeddings take one input per call", who);
    } else if (dim != NULL && !json_is_null(dim) &&
               (!json_is_integer(dim) || json_integer_value(dim) < 1)) {
        snprintf(err, errlen, "dimensions must be a positive integer");
    } else {
        *rc = -1;
        b = json_pack("{s:O}", field, json_array_get(texts, 0));
        if (b != NULL && json_is_integer(dim) &&
            json_object_set(b, "dimensions", (json_t *)dim) < 0) {
            json_decref(b);
            b = NULL;
        }
        if (b == NULL)
            snprintf(err, errlen, "out of memory");
    }
    json_decref(texts);
    return b;
}

void prov_pivot_id(char *buf, size_t len, const char *prefix)
{
    static unsigned long counter;
    unsigned char r[12];
    char hex[25];

    if (util_random(r, sizeof(r)) < 0) {
        unsigned long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(hex, sizeof(hex), "%012llx%012lx", (unsigned long long)time(NULL), c);
    } else {
        for (size_t i = 0; i < sizeof(r); i++)
            snprintf(hex + 2 * i, 3, "%02x", r[i]);
    }
    snprintf(buf, len, "%s%s", prefix, hex);
}

json_t *prov_pivot_usage_json(const struct prov_usage *u)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)u->total_tokens);
}

json_t *prov_pivot_usage_json_cached(const struct prov_usage *u, long cached)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)u->total_tokens, "prompt_tokens_details", "cached_tokens",
                     (json_int_t)cached);
}

char *prov_pivot_reply(const char *id, const char *model, int64_t created, json_t *msg,
                       const char *finish, const struct prov_usage *u, size_t *len)
{
    char gen[64];
    json_t *r;
    char *text = NULL;

    if (id == NULL) {
        prov_pivot_id(gen, sizeof(gen), "chatcmpl-");
        id = gen;
    }
    r = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s, s:n}]}", "id", id, "object",
                  "chat.completion", "created", (json_int_t)created, "model",
                  model != NULL ? model : "", "choices", "index", 0, "message", msg,
                  "finish_reason", finish, "logprobs");
    if (r != NULL && u != NULL && u->seen &&
        json_object_set_new(r, "usage", prov_pivot_usage_json(u)) < 0)
        goto out;
    if (r != NULL)
        text = jw_dumps(r, len);
out:
    json_decref(r);
    return text;
}

int prov_pivot_chunk_of(const char *id, int64_t created, const char *model, json_t *delta,
                        const char *finish, json_t *usage, prov_emit_fn *emit, void *arg)
{
    json_t *c;
    char *txt;
    size_t n;
    int rc;

    if (delta != NULL)
        c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}", "id", id, "object",
                      "chat.completion.chunk", "created", (json_int_t)created, "model", model,
                      "choices", "index", 0, "delta", delta, "finish_reason", finish);
    else
        c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", id, "object",
                      "chat.completion.chunk", "created", (json_int_t)created, "model", model,
                      "choices", "usage", usage);
    txt = c != NULL ? jw_dumps(c, &n) : NULL;
    json_decref(c);
    if (txt == NULL)
        return -1;
    rc = emit(NULL, txt, n, arg);
    free(txt);
    return rc;
}

int prov_pivot_chunk(struct prov_stream *s, json_t *delta, const char *finish, prov_emit_fn *emit,
                     void *arg)
{
    if (delta == NULL)
        return -1;
    return prov_pivot_chunk_of(s->x.id, s->x.created, s->x.model, delta, finish, NULL, emit, arg);
}

int prov_pivot_usage_chunk(struct prov_stream *s, json_t *usage, prov_emit_fn *emit, void *arg)
{
    if (usage == NULL)
        return -1;
    return prov_pivot_chunk_of(s->x.id, s->x.created, s->x.model, NULL, NULL, usage, emit, arg);
}

int prov_pivot_begin(struct prov_stream *s, const char *id, const char *model, int64_t created,
                     prov_emit_fn *emit, void *arg)
{
    struct prov_xlate_stream *x = &s->x;

    if (x->started)
        return 0;
    x->started = true;
    x->created = created != 0 ? created : (int64_t)time(NULL);
    if (id != NULL && id[0] != '\0')
        snprintf(x->id, sizeof(x->id), "%s", id);
    else
        prov_pivot_id(x->id, sizeof(x->id), "chatcmpl-");
    if (model != NULL && model[0] != '\0') /* else the request's model, set by the gateway */
        snprintf(x->model, sizeof(x->model), "%s", model);
    return prov_pivot_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL,
                            emit, arg);
}

int prov_pivot_content(struct prov_stream *s, const char *text, size_t len, bool reasoning,
                       prov_emit_fn *emit, void *arg)
{
    json_t *t;

    if (len == 0)
        return 0;
    if ((t = json_stringn(text, len)) == NULL)
        return -1;
    s->gen_bytes += len;
    return prov_pivot_chunk(s,
                            reasoning ? json_pack("{s:{s:o}}", "reasoning", "content", t)
                                      : json_pack("{s:o}", "content", t),
                            NULL, emit, arg);
}

int prov_pivot_tool_start(struct prov_stream *s, const char *id, const char *name, const char *args,
                          prov_emit_fn *emit, void *arg)
{
    char gen[64];
    int i = s->x.ntools++;

    if (id == NULL || id[0] == '\0') {
        prov_pivot_id(gen, sizeof(gen), "call_");
        id = gen;
    }
    s->gen_bytes += strlen(name);
    if (prov_pivot_chunk(s,
                         json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls", "index", i,
                                   "id", id, "type", "function", "function", "name", name,
                                   "arguments", ""),
                         NULL, emit, arg) < 0)
        return -1;
    return args != NULL ? prov_pivot_tool_args(s, args, strlen(args), emit, arg) : 0;
}

int prov_pivot_tool_args(struct prov_stream *s, const char *args, size_t len, prov_emit_fn *emit,
                         void *arg)
{
    json_t *a;

    if (len == 0 || s->x.ntools == 0)
        return 0;
    if ((a = json_stringn(args, len)) == NULL)
        return -1;
    s->gen_bytes += len;
    return prov_pivot_chunk(s,
                            json_pack("{s:[{s:i, s:{s:o}}]}", "tool_calls", "index",
                                      s->x.ntools - 1, "function", "arguments", a),
                            NULL, emit, arg);
}

int prov_pivot_end(struct prov_stream *s, const char *finish, prov_emit_fn *emit, void *arg)
{
    struct prov_xlate_stream *x = &s->x;

    s->done = true;
    if (!x->finished) {
        x->finished = true;
        if (finish == NULL)
            finish = x->finish[0] != '\0' ? x->finish : "stop";
        if (prov_pivot_chunk(s, json_object(), finish, emit, arg) < 0)
            return -1;
    }
    if (!s->client_usage || !s->usage.seen)
        return 0;
    return prov_pivot_usage_chunk(s, prov_pivot_usage_json(&s->usage), emit, arg);
}

void prov_pivot_fail(struct prov_stream *s, const json_t *msg, const char *fallback)
{
    s->failed = true;
    if (json_is_string(msg) && json_string_length(msg) > 0)
        prov_copy_line(s->error, sizeof(s->error), json_string_value(msg), json_string_length(msg));
    else
        snprintf(s->error, sizeof(s->error), "%s", fallback);
}

void prov_pivot_error_text(const char *body, size_t len, const json_t *m, const json_t *c,
                           char *out, size_t outlen, char *code, size_t codelen)
{
    if (code != NULL && codelen > 0) {
        code[0] = '\0';
        if (json_is_string(c))
            prov_copy_line(code, codelen, json_string_value(c), json_string_length(c));
    }
    if (json_is_string(m))
        prov_copy_line(out, outlen, json_string_value(m), json_string_length(m));
    else
        prov_copy_line(out, outlen, body, len < 200 ? len : 200); /* not JSON: the start */
}
