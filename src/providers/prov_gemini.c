/*
 * The Gemini dialects (providers.md §5, §6.1): the chat calls of the Gemini API and of Vertex AI,
 * the generateContent reply and its `alt=sse` stream turned into the OpenAI shapes
 * (§1.3, one synthesised id and created per reply or stream), usage per §1.6 and Google's error
 * bodies (§1.7). The request line is built by prov_gemini_http.c, the body by prov_gemini_req.c
 * and prov_gemini_gen.c, embeddings by prov_gemini_embed.c.
 */
#include "providers/prov_gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "util.h"

/* ---- Chat calls ---- */

static int gem_build(const struct prov_conf *pc, bool vertex, const struct prov_chat_in *in,
                     bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    json_t *body = NULL;
    int rc;

    *client_usage =
        json_is_true(json_object_get(json_object_get(in->req, "stream_options"), "include_usage"));
    if ((rc = prov_gem_url(pc, vertex, in->model,
                           in->stream ? "streamGenerateContent?alt=sse" : "generateContent",
                           &out->url, err, errlen)) != 0)
        return rc;
    if (prov_gem_merge_kwargs(pc->kwargs, in->req) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((rc = prov_gem_request(in->req, in->model, &body, err, errlen)) != 0)
        return rc;
    rc = prov_pivot_body(out, body, err, errlen);
    json_decref(body);
    if (rc < 0)
        return -1;
    return prov_gem_headers(pc, vertex, in->bearer, out, err, errlen);
}

static int gem_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    return gem_build(pc, false, in, client_usage, out, err, errlen);
}

static int vertex_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                             bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    return gem_build(pc, true, in, client_usage, out, err, errlen);
}

/* ---- Shared reply helpers ---- */

static long gem_count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (long)json_integer_value(v) : 0;
}

/*
 * usageMetadata -> u (§1.6): prompt = promptTokenCount, completion = candidates + thoughts,
 * total = totalTokenCount when given. False when um is no object.
 */
static bool gem_usage_read(const json_t *um, struct prov_usage *u, long *cached, long *reasoning)
{
    if (!json_is_object(um))
        return false;
    u->prompt_tokens = gem_count(um, "promptTokenCount");
    u->completion_tokens =
        gem_count(um, "candidatesTokenCount") + gem_count(um, "thoughtsTokenCount");
    u->total_tokens = gem_count(um, "totalTokenCount");
    if (u->total_tokens == 0)
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->seen = true;
    *cached = gem_count(um, "cachedContentTokenCount");
    *reasoning = gem_count(um, "thoughtsTokenCount");
    return true;
}

static json_t *gem_usage_json(const struct prov_usage *u, long cached, long reasoning)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}, s:{s:I}}", "prompt_tokens",
                     (json_int_t)u->prompt_tokens, "completion_tokens",
                     (json_int_t)u->completion_tokens, "total_tokens", (json_int_t)u->total_tokens,
                     "prompt_tokens_details", "cached_tokens", (json_int_t)cached,
                     "completion_tokens_details", "reasoning_tokens", (json_int_t)reasoning);
}

/* finishReason -> finish_reason (§5.3); calls: the reply has function calls. */
static const char *gem_finish(const char *reason, bool calls)
{
    static const char *const filtered[] = {"SAFETY",
                                           "RECITATION",
                                           "BLOCKLIST",
                                           "PROHIBITED_CONTENT",
                                           "SPII",
                                           "IMAGE_SAFETY",
                                           "IMAGE_PROHIBITED_CONTENT",
                                           "IMAGE_RECITATION"};

    if (reason != NULL && strcmp(reason, "MAX_TOKENS") == 0)
        return "length";
    for (size_t i = 0; reason != NULL && i < sizeof(filtered) / sizeof(filtered[0]); i++)
        if (strcmp(reason, filtered[i]) == 0)
            return "content_filter";
    return calls ? "tool_calls" : "stop";
}

/* The parts of candidates[0]. */
static const json_t *gem_parts(const json_t *j)
{
    return json_object_get(
        json_object_get(json_array_get(json_object_get(j, "candidates"), 0), "content"), "parts");
}

static const char *gem_finish_reason(const json_t *j)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(j, "candidates"), 0), "finishReason"));
}

/* Blocked prompt: no candidates, promptFeedback.blockReason set. */
static bool gem_blocked(const json_t *j)
{
    return json_array_size(json_object_get(j, "candidates")) == 0 &&
           json_is_string(json_object_get(json_object_get(j, "promptFeedback"), "blockReason"));
}

static bool gem_is_thought(const json_t *part)
{
    return json_is_true(json_object_get(part, "thought"));
}

/* functionCall.args as JSON text (owned; "{}" when there are none), NULL when out of memory. */
static char *gem_args_text(const json_t *fc)
{
    const json_t *args = json_object_get(fc, "args");

    return json_is_object(args) ? jw_dumps(args, NULL) : strdup("{}");
}

/* A tool call of a functionCall part: id (functionCall.id or "call_<n>"), name, arguments. */
static json_t *gem_tool_call(const json_t *part, int n, bool stream)
{
    const json_t *fc = json_object_get(part, "functionCall"), *sig, *id;
    json_t *c;
    char *args = NULL, idbuf[32];

    id = json_object_get(fc, "id");
    snprintf(idbuf, sizeof(idbuf), "call_%d", n);
    if (!stream && (args = gem_args_text(fc)) == NULL)
        return NULL;
    c = json_pack("{s:i, s:s, s:s, s:{s:O?, s:s}}", "index", n, "id",
                  json_is_string(id) ? json_string_value(id) : idbuf, "type", "function",
                  "function", "name", json_object_get(fc, "name"), "arguments", stream ? "" : args);
    free(args);
    if (c != NULL && !stream)
        json_object_del(c, "index");
    sig = json_object_get(part, "thoughtSignature");
    if (c != NULL && json_is_string(sig) &&
        json_object_set_new(c, "extra_content",
                            json_pack("{s:{s:O}}", "google", "thought_signature", sig)) < 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* ---- Replies ---- */

/* The text of the parts that are (thought) or are not thoughts, joined; *found if any. */
static json_t *gem_join(const json_t *parts, bool thought, bool *found)
{
    size_t i, n = 0;
    const json_t *p, *t;
    char *buf;
    json_t *s;

    *found = false;
    json_array_foreach(parts, i, p)
    {
        if (json_is_string(t = json_object_get(p, "text")) && gem_is_thought(p) == thought) {
            n += json_string_length(t);
            *found = true;
        }
    }
    if ((buf = malloc(n + 1)) == NULL)
        return NULL;
    n = 0;
    json_array_foreach(parts, i, p)
    {
        if (json_is_string(t = json_object_get(p, "text")) && gem_is_thought(p) == thought) {
            memcpy(buf + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
        }
    }
    s = json_stringn_nocheck(buf, n);
    free(buf);
    return s;
}

/* The OpenAI message of candidates[0]'s parts; *has_calls gets whether it has tool calls. */
static json_t *gem_message(const json_t *parts, bool *has_calls)
{
    json_t *msg = json_pack("{s:s}", "role", "assistant"), *calls = json_array(), *text = NULL,
           *thought = NULL;
    const json_t *p, *sig = NULL;
    bool has_text, has_thought;
    size_t i;

    if (msg == NULL || calls == NULL)
        goto fail;
    json_array_foreach(parts, i, p)
    {
        if (json_is_object(json_object_get(p, "functionCall"))) {
            if (json_array_append_new(calls, gem_tool_call(p, (int)json_array_size(calls), false)) <
                0)
                goto fail;
        } else if (sig == NULL && !gem_is_thought(p) &&
                   json_is_string(json_object_get(p, "thoughtSignature"))) {
            sig = json_object_get(p, "thoughtSignature");
        }
    }
    *has_calls = json_array_size(calls) > 0;
    if ((text = gem_join(parts, false, &has_text)) == NULL ||
        (thought = gem_join(parts, true, &has_thought)) == NULL)
        goto fail;
    if (json_object_set(msg, "content", !has_text && *has_calls ? json_null() : text) < 0 ||
        (*has_calls && json_object_set(msg, "tool_calls", calls) < 0) ||
        (has_thought &&
         json_object_set_new(msg, "reasoning", json_pack("{s:O}", "content", thought)) < 0) ||
        (sig != NULL &&
         json_object_set_new(msg, "extra_content",
                             json_pack("{s:{s:O}}", "google", "thought_signature", sig)) < 0))
        goto fail;
    json_decref(text);
    json_decref(thought);
    json_decref(calls);
    return msg;
fail:
    json_decref(text);
    json_decref(thought);
    json_decref(calls);
    json_decref(msg);
    return NULL;
}

static int gem_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                          char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *msg, *r = NULL;
    long cached = 0, reasoning = 0;
    bool calls = false;
    char id[64];
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (!json_is_object(j) || json_object_get(j, "error") != NULL ||
        (!json_is_array(json_object_get(j, "candidates")) && !gem_blocked(j)))
        goto out;
    if ((msg = gem_message(gem_parts(j), &calls)) == NULL)
        goto out;
    prov_pivot_id(id, sizeof(id), "chatcmpl-");
    r = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s, s:n}]}", "id", id, "object",
                  "chat.completion", "created", (json_int_t)time(NULL), "model",
                  json_is_string(json_object_get(j, "modelVersion"))
                      ? json_string_value(json_object_get(j, "modelVersion"))
                      : "",
                  "choices", "index", 0, "message", msg, "finish_reason",
                  gem_blocked(j) ? "content_filter" : gem_finish(gem_finish_reason(j), calls),
                  "logprobs");
    if (r == NULL)
        goto out;
    if (gem_usage_read(json_object_get(j, "usageMetadata"), u, &cached, &reasoning) &&
        json_object_set_new(r, "usage", gem_usage_json(u, cached, reasoning)) < 0)
        goto out;
    *gen_bytes = prov_usage_text_bytes(r);
    if ((*out = jw_dumps(r, out_len)) == NULL)
        goto out;
    rc = 0;
out:
    json_decref(r);
    json_decref(j);
    return rc;
}

/* ---- Stream events (§5.4) ---- */

/* The role chunk, once, with the stream's id, created and model. */
static int gem_begin(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    struct prov_xlate_stream *x = &s->x;
    const char *model = json_string_value(json_object_get(j, "modelVersion"));

    if (x->started)
        return 0;
    x->started = true;
    x->created = (int64_t)time(NULL);
    prov_pivot_id(x->id, sizeof(x->id), "chatcmpl-");
    if (model != NULL && model[0] != '\0') /* else the request's model, set by the gateway */
        snprintf(x->model, sizeof(x->model), "%s", model);
    return prov_pivot_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL,
                            emit, arg);
}

/* One part of a chunk: text or reasoning delta, a text part's signature, a whole tool call. */
static int gem_part_event(struct prov_stream *s, const json_t *p, prov_emit_fn *emit, void *arg)
{
    const json_t *t = json_object_get(p, "text"), *sig = json_object_get(p, "thoughtSignature");
    const json_t *fc = json_object_get(p, "functionCall");
    json_t *call;
    char *args;
    int rc, n;

    if (json_is_object(fc)) {
        n = s->x.ntools++;
        if ((call = gem_tool_call(p, n, true)) == NULL)
            return -1;
        if ((args = gem_args_text(fc)) == NULL) {
            json_decref(call);
            return -1;
        }
        s->gen_bytes += strlen(args) + (json_is_string(json_object_get(fc, "name"))
                                            ? json_string_length(json_object_get(fc, "name"))
                                            : 0);
        rc = prov_pivot_chunk(s, json_pack("{s:[o]}", "tool_calls", call), NULL, emit, arg);
        if (rc == 0)
            rc = prov_pivot_chunk(s,
                                  json_pack("{s:[{s:i, s:{s:s}}]}", "tool_calls", "index", n,
                                            "function", "arguments", args),
                                  NULL, emit, arg);
        free(args);
        return rc;
    }
    if (json_is_string(t) && json_string_length(t) > 0) {
        s->gen_bytes += json_string_length(t);
        if ((rc = prov_pivot_chunk(s,
                                   gem_is_thought(p)
                                       ? json_pack("{s:{s:O}}", "reasoning", "content", t)
                                       : json_pack("{s:O}", "content", t),
                                   NULL, emit, arg)) != 0)
            return rc;
    }
    if (json_is_string(sig) && !gem_is_thought(p))
        return prov_pivot_chunk(
            s, json_pack("{s:{s:{s:O}}}", "extra_content", "google", "thought_signature", sig),
            NULL, emit, arg);
    return 0;
}

/* The finish chunk, the usage-only chunk when the client asked, and the end of the stream. */
static int gem_end(struct prov_stream *s, const char *finish, prov_emit_fn *emit, void *arg)
{
    s->done = true;
    if (s->x.finished)
        return 0;
    s->x.finished = true;
    snprintf(s->x.finish, sizeof(s->x.finish), "%s", finish);
    if (prov_pivot_chunk(s, json_object(), finish, emit, arg) < 0)
        return -1;
    return s->client_usage && s->usage.seen
               ? prov_pivot_usage_chunk(
                     s, gem_usage_json(&s->usage, s->x.cached_tokens, s->x.reasoning_tokens), emit,
                     arg)
               : 0;
}

static int gem_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                          prov_emit_fn *emit, void *arg)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const json_t *parts, *p, *e, *m;
    const char *reason;
    size_t i;
    int rc = 0;

    (void)event; /* Gemini sends data-only events */
    if (!json_is_object(j)) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed stream event from the provider");
        goto out;
    }
    if ((e = json_object_get(j, "error")) != NULL) {
        s->failed = true;
        m = json_object_get(e, "message");
        if (json_is_string(m))
            prov_copy_line(s->error, sizeof(s->error), json_string_value(m), json_string_length(m));
        else
            snprintf(s->error, sizeof(s->error), "error event from the provider");
        goto out;
    }
    /* usageMetadata may come on any chunk: the last one wins (every count is replaced). */
    (void)gem_usage_read(json_object_get(j, "usageMetadata"), &s->usage, &s->x.cached_tokens,
                         &s->x.reasoning_tokens);
    if ((rc = gem_begin(s, j, emit, arg)) != 0)
        goto out;
    parts = gem_parts(j);
    json_array_foreach(parts, i, p)
    {
        if ((rc = gem_part_event(s, p, emit, arg)) != 0)
            goto out;
    }
    if (gem_blocked(j))
        rc = gem_end(s, "content_filter", emit, arg);
    else if ((reason = gem_finish_reason(j)) != NULL)
        rc = gem_end(s, gem_finish(reason, s->x.ntools > 0), emit, arg);
out:
    json_decref(j);
    return rc;
}

/* ---- Errors (§1.7) ---- */

static void gem_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                              size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *e;

    /* The streaming endpoints without alt=sse answer errors as a one-element array. */
    e = json_object_get(json_is_array(j) ? json_array_get(j, 0) : j, "error");
    prov_pivot_error_text(body, len, json_is_string(e) ? e : json_object_get(e, "message"),
                          json_object_get(e, "status"), out, outlen, code, codelen);
    json_decref(j);
}

const struct prov_dialect_ops prov_dialect_gemini = {
    .name = "gemini",
    .framing = PROV_FRAME_SSE,
    .chat_build = gem_chat_build,
    .chat_reply = gem_chat_reply,
    .chat_event = gem_chat_event,
    .error_message = gem_error_message,
    .embed_build = prov_gem_embed_build,
    .embed_reply = prov_gem_embed_reply,
};

const struct prov_dialect_ops prov_dialect_vertex = {
    .name = "vertexai",
    .framing = PROV_FRAME_SSE,
    .chat_build = vertex_chat_build,
    .chat_reply = gem_chat_reply,
    .chat_event = gem_chat_event,
    .error_message = gem_error_message,
    .embed_build = prov_vertex_embed_build,
    .embed_reply = prov_gem_embed_reply,
};
