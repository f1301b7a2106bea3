/*
 * The Anthropic Messages API dialects (providers.md §2, §14.1). prov_dialect_anthropic speaks the
 * pivot: the request is translated (prov_anthropic_req.c), the reply and each SSE event turned
 * into an OpenAI chat completion or chunks. prov_dialect_anthropic_native relays the client's own
 * Messages request, reply and events, reading usage on the way. Usage follows DESIGN §2.11:
 * prompt tokens include cache reads and writes.
 */
#include "providers/prov_anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"
#include "providers/prov_pivot.h"

/* ---- Shared helpers ---- */

/* Reads the token fields a usage object reports (integers >= 0). False when u is no object. */
static bool anth_usage_read(struct prov_anth_stream *a, const json_t *u)
{
    static const char *const keys[] = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                       "cache_creation_input_tokens"};
    long *dst[] = {&a->input_tokens, &a->output_tokens, &a->cache_read, &a->cache_write};

    if (!json_is_object(u))
        return false;
    for (size_t i = 0; i < 4; i++) {
        const json_t *v = json_object_get(u, keys[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            *dst[i] = (long)json_integer_value(v);
    }
    return true;
}

/* The billed usage (DESIGN §2.11): prompt = input + cache reads + cache writes. */
static void anth_usage_out(const struct prov_anth_stream *a, struct prov_usage *u)
{
    u->prompt_tokens = a->input_tokens + a->cache_read + a->cache_write;
    u->completion_tokens = a->output_tokens;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->seen = true;
}

static const char *anth_finish(const char *stop_reason)
{
    if (stop_reason == NULL)
        return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

/* Whether block b has this "type". */
static bool anth_is(const json_t *b, const char *type)
{
    const char *t = json_string_value(json_object_get(b, "type"));

    return t != NULL && strcmp(t, type) == 0;
}

static size_t anth_strlen(const json_t *v)
{
    return json_is_string(v) ? json_string_length(v) : 0;
}

/* An error event or body: its error.message (or a fallback) into s->error. */
static void anth_stream_fail(struct prov_stream *s, const json_t *j, const char *fallback)
{
    const json_t *m = json_object_get(json_object_get(j, "error"), "message");

    s->failed = true;
    if (json_is_string(m))
        prov_copy_line(s->error, sizeof(s->error), json_string_value(m), json_string_length(m));
    else
        snprintf(s->error, sizeof(s->error), "%s", fallback);
}

/* ---- Request line and headers ---- */

static bool anth_custom_has(const struct prov_conf *pc, const char *name)
{
    for (size_t i = 0; i < pc->nheaders; i++)
        if (strcasecmp(pc->headers[i].name, name) == 0)
            return true;
    return false;
}

static int anth_no_base(const struct prov_conf *pc, char *err, size_t errlen)
{
    if (pc->info->auth == PROV_AUTH_CLOUD) {
        snprintf(err, errlen, "provider '%s' is not supported yet (it needs Google credentials)",
                 pc->info->id);
        return -1;
    }
    return prov_no_base_url(pc, err, errlen);
}

/* No address to call: no base URL (Vertex AI builds its own), or cloud auth not done here. */
static bool anth_no_target(const struct prov_conf *pc)
{
    if (pc->info->dialect == PROV_D_ANTHROPIC_VERTEX)
        return false;
    return pc->base_url == NULL || pc->info->auth == PROV_AUTH_CLOUD;
}

/* Merges config fields the request does not set (spec §7.2: the request wins). */
static int anth_merge_kwargs(const struct prov_conf *pc, json_t *req)
{
    const char *k;
    json_t *v;

    json_object_foreach(pc->kwargs, k, v)
    {
        if (json_object_get(req, k) == NULL && json_object_set(req, k, v) < 0)
            return -1;
    }
    return 0;
}

/*
 * URL and headers (providers.md §2.1): the provider's own credentials (x-api-key, and api-key for
 * Azure; Vertex AI: its URL and the access token, prov_anthropic_vertex.c), anthropic-version
 * (version, unless a custom header replaces the default), the beta list when given, then the custom
 * headers.
 */
static int anth_http(const struct prov_conf *pc, const struct prov_chat_in *in, const char *version,
                     const char *beta, struct prov_http *out, char *err, size_t errlen)
{
    bool vertex = pc->info->dialect == PROV_D_ANTHROPIC_VERTEX;
    size_t n;

    if (vertex) {
        /* Vertex AI: its URL and a Google access token; the version is in the body. */
        if (prov_anth_vertex_http(pc, in->model, in->stream, in->bearer, out, err, errlen) < 0)
            return -1;
    } else {
        n = strlen(pc->base_url) + sizeof("/v1/messages");
        if ((out->url = malloc(n)) == NULL)
            goto oom;
        snprintf(out->url, n, "%s/v1/messages", pc->base_url);
    }
    if (version == NULL && !vertex && !anth_custom_has(pc, "anthropic-version"))
        version = PROV_ANTH_VERSION;
    if ((version != NULL && !vertex && prov_http_add(out, "anthropic-version", version) < 0) ||
        (beta != NULL && prov_http_add(out, "anthropic-beta", beta) < 0))
        goto oom;
    if (pc->api_key != NULL && strcmp(pc->info->id, "azureanthropic") == 0 &&
        prov_http_add(out, "api-key", pc->api_key) < 0)
        goto oom;
    /* Vertex AI: the Google access token instead of the key (checked by prov_anth_vertex_http). */
    return prov_http_std(out, pc, in->stream ? "text/event-stream" : "application/json",
                         vertex ? in->bearer : NULL, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int anth_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                           bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    json_t *body = NULL;
    int rc;

    *client_usage =
        json_is_true(json_object_get(json_object_get(in->req, "stream_options"), "include_usage"));
    if (anth_no_target(pc))
        return anth_no_base(pc, err, errlen);
    if (anth_merge_kwargs(pc, in->req) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((rc = prov_anth_request(in->req, in->model, in->stream, &body, err, errlen)) != 0)
        return rc;
    if (pc->info->dialect == PROV_D_ANTHROPIC_VERTEX)
        rc = prov_anth_vertex_body(body, err, errlen);
    if (rc == 0)
        rc = prov_pivot_body(out, body, err, errlen);
    json_decref(body);
    return rc < 0 ? -1 : anth_http(pc, in, NULL, NULL, out, err, errlen);
}

/* ---- Replies ---- */

/* The concatenated key strings of the blocks of this type; *found whether there was any. */
static json_t *anth_join(const json_t *content, const char *type, const char *key, bool *found)
{
    size_t i, n = 0;
    const json_t *b, *v;
    json_t *s;
    char *p;

    *found = false;
    json_array_foreach(content, i, b)
    {
        v = json_object_get(b, key);
        if (json_is_string(v) && anth_is(b, type)) {
            n += json_string_length(v);
            *found = true;
        }
    }
    if ((p = malloc(n + 1)) == NULL)
        return NULL;
    n = 0;
    json_array_foreach(content, i, b)
    {
        v = json_object_get(b, key);
        if (json_is_string(v) && anth_is(b, type)) {
            memcpy(p + n, json_string_value(v), json_string_length(v));
            n += json_string_length(v);
        }
    }
    s = json_stringn_nocheck(p, n);
    free(p);
    return s;
}

/* The OpenAI message of a reply's content blocks (borrowed); NULL when out of memory. */
static json_t *anth_message(const json_t *content)
{
    json_t *msg, *calls = json_array(), *reasoning;
    const json_t *b, *sig = NULL;
    bool found;
    size_t i;
    char *args;

    msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                    anth_join(content, "text", "text", &found));
    if (msg == NULL || calls == NULL)
        goto fail;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type != NULL && strcmp(type, "thinking") == 0 &&
            json_is_string(json_object_get(b, "signature")))
            sig = json_object_get(b, "signature");
        if (type == NULL || strcmp(type, "tool_use") != 0)
            continue;
        if ((args = jw_dumps(json_object_get(b, "input"), NULL)) == NULL)
            args = strdup("{}");
        if (args == NULL)
            goto fail;
        if (json_array_append_new(calls, json_pack("{s:O?, s:s, s:{s:O?, s:s}}", "id",
                                                   json_object_get(b, "id"), "type", "function",
                                                   "function", "name", json_object_get(b, "name"),
                                                   "arguments", args)) < 0) {
            free(args);
            goto fail;
        }
        free(args);
    }
    if (json_array_size(calls) > 0 && json_object_set(msg, "tool_calls", calls) < 0)
        goto fail;
    reasoning = anth_join(content, "thinking", "thinking", &found);
    if (reasoning == NULL ||
        (found &&
         json_object_set_new(msg, "reasoning", json_pack("{s:O}", "content", reasoning)) < 0)) {
        json_decref(reasoning);
        goto fail;
    }
    json_decref(reasoning);
    if (sig != NULL &&
        json_object_set_new(msg, "extra_content",
                            json_pack("{s:{s:O}}", "anthropic", "signature", sig)) < 0)
        goto fail;
    json_decref(calls);
    return msg;
fail:
    json_decref(calls);
    json_decref(msg);
    return NULL;
}

/* Parses a Messages reply: the object, or NULL when it is not one. */
static json_t *anth_reply_load(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));

    if (!json_is_object(j) || !json_is_array(json_object_get(j, "content")) ||
        (type != NULL && strcmp(type, "message") != 0)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int anth_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                           char **out, size_t *out_len)
{
    struct prov_anth_stream a = {0};
    json_t *j = anth_reply_load(body, len), *msg, *r = NULL;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (j == NULL)
        return -1;
    if ((msg = anth_message(json_object_get(j, "content"))) == NULL)
        goto out;
    r = json_pack("{s:O?, s:s, s:I, s:O?, s:[{s:i, s:o, s:s, s:n}]}", "id",
                  json_object_get(j, "id"), "object", "chat.completion", "created",
                  (json_int_t)time(NULL), "model", json_object_get(j, "model"), "choices", "index",
                  0, "message", msg, "finish_reason",
                  anth_finish(json_string_value(json_object_get(j, "stop_reason"))), "logprobs");
    if (r == NULL)
        goto out;
    if (anth_usage_read(&a, json_object_get(j, "usage"))) {
        anth_usage_out(&a, u);
        if (json_object_set_new(r, "usage", prov_pivot_usage_json_cached(u, a.cache_read)) < 0)
            goto out;
    }
    *gen_bytes = prov_usage_text_bytes(r);
    if ((*out = jw_dumps(r, out_len)) == NULL)
        goto out;
    rc = 0;
out:
    json_decref(r);
    json_decref(j);
    return rc;
}

/* ---- Stream events (pivot) ---- */

/*
 * The stream's Anthropic state, made at its first use (a stream of another dialect carries none),
 * or NULL with the stream failed when out of memory. prov_stream_cleanup() frees it.
 */
static struct prov_anth_stream *anth_state(struct prov_stream *s)
{
    if (s->anth == NULL && (s->anth = calloc(1, sizeof(*s->anth))) == NULL) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "out of memory");
    }
    return s->anth;
}

/* The event types that read or change the stream's state. */
static bool anth_stateful(const char *type)
{
    return strcmp(type, "message_start") == 0 || strcmp(type, "content_block_start") == 0 ||
           strcmp(type, "content_block_delta") == 0 || strcmp(type, "message_delta") == 0 ||
           strcmp(type, "message_stop") == 0;
}

/* Emits one chunk with this delta (stolen) and finish reason (NULL: null). */
static int anth_chunk(struct prov_stream *s, json_t *delta, const char *finish, prov_emit_fn *emit,
                      void *arg)
{
    const struct prov_anth_stream *a = s->anth;

    if (delta == NULL)
        return -1;
    return prov_pivot_chunk_of(a->id, a->created, a->model, delta, finish, NULL, emit, arg);
}

/* The first chunk (role), once: from message_start's message, or made up when it never came. */
static int anth_begin(struct prov_stream *s, const json_t *msg, prov_emit_fn *emit, void *arg)
{
    struct prov_anth_stream *a = s->anth;
    const char *id = json_string_value(json_object_get(msg, "id"));
    const char *model = json_string_value(json_object_get(msg, "model"));

    if (a->started)
        return 0;
    a->started = true;
    a->created = (int64_t)time(NULL);
    if (id != NULL)
        snprintf(a->id, sizeof(a->id), "%s", id);
    else
        snprintf(a->id, sizeof(a->id), "chatcmpl-anthropic-%lld", (long long)a->created);
    snprintf(a->model, sizeof(a->model), "%s", model != NULL ? model : "");
    return anth_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, emit,
                      arg);
}

static int anth_block_start(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    struct prov_anth_stream *a = s->anth;
    const json_t *cb = json_object_get(j, "content_block");
    const char *type = json_string_value(json_object_get(cb, "type"));
    json_int_t idx = json_integer_value(json_object_get(j, "index"));
    const json_t *v;
    int t;

    if (type == NULL)
        return 0;
    if (strcmp(type, "tool_use") == 0) {
        if (idx < 0 || idx >= PROV_ANTH_MAX_BLOCKS || a->ntools >= PROV_ANTH_MAX_BLOCKS) {
            s->failed = true;
            snprintf(s->error, sizeof(s->error), "too many content blocks in the provider's reply");
            return 0;
        }
        t = a->ntools++;
        a->tool_of_block[idx] = (short)(t + 1);
        v = json_object_get(cb, "name");
        s->gen_bytes += anth_strlen(v);
        return anth_chunk(s,
                          json_pack("{s:[{s:i, s:O?, s:s, s:{s:O?, s:s}}]}", "tool_calls", "index",
                                    t, "id", json_object_get(cb, "id"), "type", "function",
                                    "function", "name", v, "arguments", ""),
                          NULL, emit, arg);
    }
    /* Text and thinking blocks open empty; should one carry text, it is not lost. */
    if (strcmp(type, "text") == 0 && anth_strlen(v = json_object_get(cb, "text")) > 0) {
        s->gen_bytes += anth_strlen(v);
        return anth_chunk(s, json_pack("{s:O}", "content", v), NULL, emit, arg);
    }
    if (strcmp(type, "thinking") == 0 && anth_strlen(v = json_object_get(cb, "thinking")) > 0) {
        s->gen_bytes += anth_strlen(v);
        return anth_chunk(s, json_pack("{s:{s:O}}", "reasoning", "content", v), NULL, emit, arg);
    }
    return 0;
}

static int anth_block_delta(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    const struct prov_anth_stream *a = s->anth;
    const json_t *d = json_object_get(j, "delta"), *v;
    const char *type = json_string_value(json_object_get(d, "type"));
    json_int_t idx = json_integer_value(json_object_get(j, "index"));
    json_t *delta;

    if (type == NULL)
        return 0;
    if (strcmp(type, "text_delta") == 0 && anth_strlen(v = json_object_get(d, "text")) > 0)
        delta = json_pack("{s:O}", "content", v);
    else if (strcmp(type, "thinking_delta") == 0 &&
             anth_strlen(v = json_object_get(d, "thinking")) > 0)
        delta = json_pack("{s:{s:O}}", "reasoning", "content", v);
    else if (strcmp(type, "input_json_delta") == 0 &&
             anth_strlen(v = json_object_get(d, "partial_json")) > 0 && idx >= 0 &&
             idx < PROV_ANTH_MAX_BLOCKS && a->tool_of_block[idx] > 0)
        delta = json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", a->tool_of_block[idx] - 1,
                          "function", "arguments", v);
    else if (strcmp(type, "signature_delta") == 0 &&
             json_is_string(v = json_object_get(d, "signature")))
        return anth_chunk(s,
                          json_pack("{s:{s:{s:O}}}", "extra_content", "anthropic", "signature", v),
                          NULL, emit, arg);
    else
        return 0;
    s->gen_bytes += anth_strlen(v);
    return anth_chunk(s, delta, NULL, emit, arg);
}

static int anth_finish_chunk(struct prov_stream *s, const char *stop_reason, prov_emit_fn *emit,
                             void *arg)
{
    if (s->anth->finished)
        return 0;
    s->anth->finished = true;
    return anth_chunk(s, json_object(), anth_finish(stop_reason), emit, arg);
}

/* message_stop: the finish chunk if none came, the usage-only chunk when asked for, the end. */
static int anth_stop(struct prov_stream *s, prov_emit_fn *emit, void *arg)
{
    const struct prov_anth_stream *a = s->anth;
    json_t *usage;

    s->done = true;
    if (anth_finish_chunk(s, NULL, emit, arg) < 0)
        return -1;
    if (!s->client_usage || !s->usage.seen)
        return 0;
    if ((usage = prov_pivot_usage_json_cached(&s->usage, a->cache_read)) == NULL)
        return -1;
    return prov_pivot_chunk_of(a->id, a->created, a->model, NULL, NULL, usage, emit, arg);
}

static int anth_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                           prov_emit_fn *emit, void *arg)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const json_t *msg;
    int rc = 0;

    (void)event; /* the JSON "type" decides (providers.md §1.5) */
    if (!json_is_object(j) || type == NULL) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed stream event from the provider");
    } else if (strcmp(type, "error") == 0) {
        anth_stream_fail(s, j, "error event from the provider");
    } else if (anth_stateful(type) && anth_state(s) == NULL) {
        rc = -1;
    } else if (strcmp(type, "message_start") == 0) {
        msg = json_object_get(j, "message");
        if (anth_usage_read(s->anth, json_object_get(msg, "usage")))
            anth_usage_out(s->anth, &s->usage);
        rc = anth_begin(s, msg, emit, arg);
    } else if (strcmp(type, "content_block_start") == 0) {
        if ((rc = anth_begin(s, NULL, emit, arg)) == 0)
            rc = anth_block_start(s, j, emit, arg);
    } else if (strcmp(type, "content_block_delta") == 0) {
        if ((rc = anth_begin(s, NULL, emit, arg)) == 0)
            rc = anth_block_delta(s, j, emit, arg);
    } else if (strcmp(type, "message_delta") == 0) {
        if (anth_usage_read(s->anth, json_object_get(j, "usage")))
            anth_usage_out(s->anth, &s->usage);
        msg = json_object_get(json_object_get(j, "delta"), "stop_reason");
        if ((rc = anth_begin(s, NULL, emit, arg)) == 0 && json_is_string(msg))
            rc = anth_finish_chunk(s, json_string_value(msg), emit, arg);
    } else if (strcmp(type, "message_stop") == 0) {
        if ((rc = anth_begin(s, NULL, emit, arg)) == 0)
            rc = anth_stop(s, emit, arg);
    }
    /* ping, content_block_stop and event types added later: nothing to say. */
    json_decref(j);
    return rc;
}

/* ---- The native table (/v1/messages relayed) ---- */

static int anth_native_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                             bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    *client_usage = false;
    if (anth_no_target(pc))
        return anth_no_base(pc, err, errlen);
    if (anth_merge_kwargs(pc, in->req) < 0 ||
        json_object_set_new(in->req, "model", json_string(in->model)) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pc->info->dialect == PROV_D_ANTHROPIC_VERTEX &&
        prov_anth_vertex_body(in->req, err, errlen) < 0)
        return -1;
    if (prov_pivot_body(out, in->req, err, errlen) < 0)
        return -1;
    return anth_http(pc, in, in->anthropic_version, in->anthropic_beta, out, err, errlen);
}

/* Generated text of reply content blocks: text, thinking, tool names and inputs. */
static size_t anth_content_bytes(const json_t *content)
{
    size_t i, n = 0;
    const json_t *b;
    char *input;

    json_array_foreach(content, i, b)
    {
        n += anth_strlen(json_object_get(b, "text")) + anth_strlen(json_object_get(b, "thinking"));
        if (json_object_get(b, "input") == NULL)
            continue;
        n += anth_strlen(json_object_get(b, "name"));
        input = jw_dumps(json_object_get(b, "input"), NULL);
        n += input != NULL ? strlen(input) : 0;
        free(input);
    }
    return n;
}

static int anth_native_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                             char **out, size_t *out_len)
{
    struct prov_anth_stream a = {0};
    json_t *j = anth_reply_load(body, len);

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (j == NULL)
        return -1;
    if (anth_usage_read(&a, json_object_get(j, "usage")))
        anth_usage_out(&a, u);
    *gen_bytes = anth_content_bytes(json_object_get(j, "content"));
    json_decref(j);
    return 0;
}

static int anth_native_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                             prov_emit_fn *emit, void *arg)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const json_t *u = NULL, *d;
    int rc;

    (void)event;
    if (!json_is_object(j) || type == NULL) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed stream event from the provider");
        json_decref(j);
        return 0;
    }
    if (strcmp(type, "error") == 0) {
        /* The gateway writes its own error event. */
        anth_stream_fail(s, j, "error event from the provider");
        json_decref(j);
        return 0;
    }
    if (strcmp(type, "message_start") == 0)
        u = json_object_get(json_object_get(j, "message"), "usage");
    else if (strcmp(type, "message_delta") == 0)
        u = json_object_get(j, "usage");
    if (u != NULL && anth_state(s) == NULL) {
        json_decref(j);
        return -1;
    }
    if (u != NULL && anth_usage_read(s->anth, u))
        anth_usage_out(s->anth, &s->usage);
    d = json_object_get(j, strcmp(type, "content_block_start") == 0 ? "content_block" : "delta");
    if (strcmp(type, "content_block_start") == 0 || strcmp(type, "content_block_delta") == 0)
        s->gen_bytes += anth_strlen(json_object_get(d, "text")) +
                        anth_strlen(json_object_get(d, "thinking")) +
                        anth_strlen(json_object_get(d, "partial_json")) +
                        anth_strlen(json_object_get(d, "name"));
    rc = emit(type, data, len, arg);
    if (strcmp(type, "message_stop") == 0)
        s->done = true;
    json_decref(j);
    return rc;
}

/* ---- Errors ---- */

static void anth_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                               size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL), *e = json_object_get(j, "error");
    const json_t *m = json_object_get(e, "message");

    if (json_is_string(e))
        m = e;
    if (!json_is_string(m))
        m = json_object_get(j, "message");
    prov_pivot_error_text(body, len, m, json_object_get(e, "type"), out, outlen, code, codelen);
    json_decref(j);
}

const struct prov_dialect_ops prov_dialect_anthropic = {
    .name = "anthropic",
    .chat_build = anth_chat_build,
    .chat_reply = anth_chat_reply,
    .chat_event = anth_chat_event,
    .error_message = anth_error_message,
};

const struct prov_dialect_ops prov_dialect_anthropic_native = {
    .name = "anthropic-native",
    .chat_build = anth_native_build,
    .chat_reply = anth_native_reply,
    .chat_event = anth_native_event,
    .error_message = anth_error_message,
};
