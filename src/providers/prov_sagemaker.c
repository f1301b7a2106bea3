/*
 * The SageMaker dialect (providers.md §8): InvokeEndpoint and InvokeEndpointWithResponseStream
 * for OpenAI-compatible containers (TGI Messages API, vLLM, LMI), signed with SigV4 for service
 * "sagemaker" (prov_aws.h).
 *
 * Request: POST {base}/endpoints/{endpoint, one encoded path segment}/invocations (streaming:
 * /invocations-response-stream with X-Amzn-SageMaker-Accept: application/json). The body is the
 * client's OpenAI chat body, system messages inside "messages", WITHOUT "model": the model text
 * names the endpoint, not the container's served model, and vLLM answers 404 to a model name it
 * does not serve while TGI and LMI ignore the field (the reference sends none either). Streams
 * get "stream":true and stream_options.include_usage:true (so the container's count is billed;
 * the client sees the usage chunk only when it asked for it).
 *
 * Replies: one with "choices" is relayed as OpenAI's; else the text of generated_text (also in a
 * one-item array, as TGI answers), outputs[0] / outputs, content, else the raw body, finish
 * "stop" ("length" when TGI's details say so), usage when the body has an OpenAI one.
 *
 * Streams: each PayloadPart event's bytes are joined (s->x.carry) and split into lines; a line
 * may have a "data:" prefix (SSE containers). Per JSON line: OpenAI chunks, TGI tokens, outputs
 * or generated_text, re-emitted as pivot chunks with one id. A line longer than SM_MAX_LINE fails
 * the stream. A last line without its '\n' is read early when it already parses as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/prov_aws.h"
#include "providers/prov_bedrock.h"
#include "providers/prov_embed.h"
#include "providers/prov_openai.h"
#include "providers/prov_pivot.h"
#include "providers/prov_sigv4.h"

#define SM_MAX_LINE (1024 * 1024) /* the longest stream line carried across PayloadParts */

/* ---- Requests ---- */

/*
 * The request line and headers of an invocation (op "invocations" or
 * "invocations-response-stream") of endpoint model, then the signature. out->body must be set.
 */
static int sm_send(const struct prov_conf *pc, const char *model, bool stream,
                   struct prov_http *out, char *err, size_t errlen)
{
    char *seg, *path;
    size_t n;
    int rc;

    if (model == NULL || model[0] == '\0') {
        snprintf(err, errlen, "a SageMaker endpoint name is required as the model");
        return PROV_E_REQUEST;
    }
    if ((seg = prov_sigv4_encode_segment(model)) == NULL)
        goto oom;
    n = strlen(seg) + sizeof("/endpoints//invocations-response-stream");
    if ((path = malloc(n)) == NULL) {
        free(seg);
        goto oom;
    }
    snprintf(path, n, "/endpoints/%s/%s", seg,
             stream ? "invocations-response-stream" : "invocations");
    free(seg);
    rc = prov_pivot_http(pc, path,
                         stream ? "application/vnd.amazon.eventstream" : "application/json", out,
                         err, errlen);
    free(path);
    if (rc < 0)
        return -1;
    if (stream && prov_http_add(out, "X-Amzn-SageMaker-Accept", "application/json") < 0)
        goto oom;
    return prov_aws_auth(pc, "sagemaker", false, out, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int sm_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    json_t *req = in->req;

    *client_usage = in->stream && prov_pivot_client_usage(req);
    json_object_del(req, "model");
    if (prov_pivot_kwargs(pc, req, NULL) < 0)
        goto oom;
    if (in->stream) {
        if (json_object_set_new(req, "stream", json_true()) < 0)
            goto oom;
        if (prov_usage_inject_stream_options(req, NULL) < 0) {
            snprintf(err, errlen, "stream_options must be an object");
            return PROV_E_REQUEST;
        }
    } else {
        json_object_del(req, "stream");
        json_object_del(req, "stream_options");
    }
    if (prov_pivot_body(out, req, err, errlen) < 0)
        return -1;
    return sm_send(pc, in->model, in->stream, out, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int sm_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                          struct prov_http *out, char *err, size_t errlen)
{
    int rc;
    json_t *b = prov_pivot_embed_one(in->req, "inputs", "SageMaker", &rc, err, errlen);

    if (b == NULL)
        return rc;
    rc = prov_pivot_body(out, b, err, errlen);
    json_decref(b);
    return rc < 0 ? -1 : sm_send(pc, in->model, false, out, err, errlen);
}

/* ---- Replies ---- */

/* The generated text of a container's non-OpenAI answer j (borrowed), or NULL. */
static const json_t *sm_text_of(const json_t *j)
{
    const json_t *v, *o;

    if (json_is_array(j) && json_array_size(j) == 1)
        j = json_array_get(j, 0); /* TGI: [{"generated_text": ...}] */
    if (!json_is_object(j))
        return NULL;
    if (json_is_string(v = json_object_get(j, "generated_text")))
        return v;
    o = json_object_get(j, "outputs");
    v = json_is_array(o) ? json_array_get(o, 0) : o;
    if (json_is_object(v))
        v = json_object_get(v, "text");
    if (json_is_string(v))
        return v;
    if (json_is_string(v = json_object_get(j, "content")))
        return v;
    return NULL;
}

/* TGI's details.finish_reason as an OpenAI one: "length" stays, everything else is "stop". */
static const char *sm_finish_of(const json_t *j)
{
    const char *f;

    if (json_is_array(j))
        j = json_array_get(j, 0);
    f = json_string_value(json_object_get(json_object_get(j, "details"), "finish_reason"));
    return f != NULL && strcmp(f, "length") == 0 ? "length" : "stop";
}

static int sm_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                         char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL), *text, *msg;
    const json_t *t;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (json_is_object(j) && json_object_get(j, "choices") != NULL) {
        json_decref(j);
        return prov_openai_chat_reply(body, len, u, gen_bytes, out, out_len);
    }
    t = json_is_string(j) ? j : sm_text_of(j);
    /* Neither JSON nor a known shape: the body is the text (when it is UTF-8). */
    text = t != NULL ? json_copy((json_t *)t) : json_stringn(body, len);
    if (text == NULL) {
        json_decref(j);
        return -1;
    }
    if (json_is_object(j) && json_is_object(json_object_get(j, "usage")))
        (void)prov_usage_parse(u, j);
    *gen_bytes = json_string_length(text);
    msg = json_pack("{s:s, s:o}", "role", "assistant", "content", text);
    if (msg != NULL)
        *out = prov_pivot_reply(NULL, NULL, (int64_t)time(NULL), msg, sm_finish_of(j), u, out_len);
    json_decref(j);
    return *out != NULL ? 0 : -1;
}

static int sm_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                          size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *v, *x;
    json_t *n = json_object_get(json_object_get(j, "usage"), "prompt_tokens");
    long prompt = -1;
    size_t i;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    v = json_is_object(j) ? json_object_get(j, "embeddings") : j;
    if (json_is_object(j) && v == NULL)
        v = json_object_get(j, "embedding");
    if (json_is_array(v) && json_is_array(json_array_get(v, 0)))
        v = json_array_get(v, 0); /* [[...]]: the one input's vector */
    if (!json_is_array(v) || json_array_size(v) == 0)
        goto bad;
    json_array_foreach(v, i, x)
    {
        if (!json_is_number(x))
            goto bad;
    }
    if (json_is_integer(n) && json_integer_value(n) >= 0)
        prompt = (long)json_integer_value(n);
    *out = prov_embed_reply_new(json_pack("[O]", v), "", prompt, u, out_len);
bad:
    json_decref(j);
    return *out != NULL ? 0 : -1;
}

/* ---- Streams ---- */

/* The finish chunk, once (the usage chunk waits for [DONE] or the stream's end). */
static int sm_finish(struct prov_stream *s, const char *finish, prov_emit_fn *emit, void *arg)
{
    if (s->x.finished)
        return 0;
    s->x.finished = true;
    snprintf(s->x.finish, sizeof(s->x.finish), "%s", finish);
    return prov_pivot_chunk(s, json_object(), finish, emit, arg);
}

/* An OpenAI chunk: content, reasoning, tool calls (relayed as sent), finish, usage. */
static int sm_openai_chunk(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    const json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    const json_t *d = json_object_get(c, "delta"), *v, *tc, *f;
    size_t i;

    (void)prov_usage_merge_chunk(&s->usage, j);
    if (d == NULL)
        d = json_object_get(c, "message"); /* a whole completion sent as one line */
    v = json_object_get(d, "reasoning_content");
    if (!json_is_string(v))
        v = json_object_get(d, "reasoning");
    if (json_is_string(v) &&
        prov_pivot_content(s, json_string_value(v), json_string_length(v), true, emit, arg) < 0)
        return -1;
    v = json_object_get(d, "content");
    if (json_is_string(v) &&
        prov_pivot_content(s, json_string_value(v), json_string_length(v), false, emit, arg) < 0)
        return -1;
    v = json_object_get(d, "tool_calls");
    if (json_is_array(v) && json_array_size(v) > 0) {
        json_array_foreach(v, i, tc)
        {
            f = json_object_get(tc, "function");
            s->gen_bytes += json_string_length(json_object_get(f, "name")) +
                            json_string_length(json_object_get(f, "arguments"));
        }
        if (prov_pivot_chunk(s, json_pack("{s:O}", "tool_calls", v), NULL, emit, arg) < 0)
            return -1;
    }
    v = json_object_get(c, "finish_reason");
    return json_is_string(v) ? sm_finish(s, json_string_value(v), emit, arg) : 0;
}

/* One JSON line (borrowed). */
static int sm_json_line(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    const json_t *e = json_object_get(j, "error"), *tok, *v;

    if (e != NULL && !json_is_null(e)) {
        prov_pivot_fail(s, json_is_string(e) ? e : json_object_get(e, "message"),
                        "error event from the provider");
        return 0;
    }
    if (prov_pivot_begin(s, NULL, NULL, 0, emit, arg) < 0)
        return -1;
    if (json_is_array(json_object_get(j, "choices")))
        return sm_openai_chunk(s, j, emit, arg);
    tok = json_object_get(j, "token");
    if (json_is_object(tok)) { /* TGI: one token per line, generated_text on the last */
        v = json_object_get(tok, "text");
        if (json_is_string(v) && !json_is_true(json_object_get(tok, "special")) &&
            prov_pivot_content(s, json_string_value(v), json_string_length(v), false, emit, arg) <
                0)
            return -1;
        if (json_is_string(json_object_get(j, "generated_text")) ||
            json_is_string(json_object_get(json_object_get(j, "details"), "finish_reason")))
            return prov_pivot_end(s, sm_finish_of(j), emit, arg);
    } else if ((v = sm_text_of(j)) != NULL) {
        if (prov_pivot_content(s, json_string_value(v), json_string_length(v), false, emit, arg) <
            0)
            return -1;
        /* generated_text without tokens: a whole answer in one line. */
        if (json_is_array(j) || json_is_string(json_object_get(j, "generated_text")))
            return prov_pivot_end(s, sm_finish_of(j), emit, arg);
    }
    if (json_is_true(json_object_get(j, "is_finished")))
        return prov_pivot_end(s, "stop", emit, arg);
    return 0;
}

/* Whether line (len bytes) starts with the text p. */
static bool sm_starts(const char *line, size_t len, const char *p)
{
    size_t n = strlen(p);

    return len >= n && memcmp(line, p, n) == 0;
}

/* One complete line of the stream (without its '\n'). */
static int sm_line(struct prov_stream *s, const char *line, size_t len, prov_emit_fn *emit,
                   void *arg)
{
    json_t *j;
    int rc;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    if (sm_starts(line, len, "data:")) {
        line += 5;
        len -= 5;
        while (len > 0 && (*line == ' ' || *line == '\t')) {
            line++;
            len--;
        }
    } else if (len == 0 || line[0] == ':' || sm_starts(line, len, "event:") ||
               sm_starts(line, len, "id:") || sm_starts(line, len, "retry:")) {
        return 0; /* an empty line, an SSE comment or field other than data */
    }
    if (len == 0)
        return 0;
    if (len == 6 && memcmp(line, "[DONE]", 6) == 0) {
        if (!s->x.started && prov_pivot_begin(s, NULL, NULL, 0, emit, arg) < 0)
            return -1;
        return prov_pivot_end(s, NULL, emit, arg);
    }
    j = json_loadb(line, len, 0, NULL);
    if (!json_is_object(j) && !json_is_array(j)) {
        json_decref(j);
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed line in the SageMaker stream");
        return 0;
    }
    rc = sm_json_line(s, j, emit, arg);
    json_decref(j);
    return rc;
}

/* Appends n bytes to the carried partial line. Returns 0, or -1 (s->failed set). */
static int sm_carry(struct prov_stream *s, const char *p, size_t n)
{
    struct prov_xlate_stream *x = &s->x;
    size_t cap;
    char *c;

    if (n > SM_MAX_LINE - x->carry_len) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error),
                 "a line of the SageMaker stream is longer than %d bytes", SM_MAX_LINE);
        return -1;
    }
    if (x->carry_len + n > x->carry_cap) {
        cap = x->carry_cap != 0 ? x->carry_cap : 1024;
        while (cap < x->carry_len + n)
            cap *= 2;
        if ((c = realloc(x->carry, cap)) == NULL) {
            s->failed = true;
            snprintf(s->error, sizeof(s->error), "out of memory");
            return -1;
        }
        x->carry = c;
        x->carry_cap = cap;
    }
    memcpy(x->carry + x->carry_len, p, n);
    x->carry_len += n;
    return 0;
}

/* The end of the stream: a carried last line without its '\n' is a line. */
static int sm_chat_end(struct prov_stream *s, prov_emit_fn *emit, void *arg)
{
    size_t n = s->x.carry_len;

    if (n == 0 || s->done || s->failed)
        return 0;
    s->x.carry_len = 0;
    return sm_line(s, s->x.carry, n, emit, arg);
}

static int sm_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                         prov_emit_fn *emit, void *arg)
{
    const char *p = data, *end = data + len, *nl;

    if (event == NULL || strcmp(event, "PayloadPart") != 0)
        return 0; /* exceptions are failed by the framing (prov_aws_stream_fail()) */
    while (p < end && !s->done && !s->failed) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            (void)sm_carry(s, p, (size_t)(end - p)); /* a failure is in s */
            return 0;
        }
        if (s->x.carry_len == 0) {
            if (sm_line(s, p, (size_t)(nl - p), emit, arg) < 0)
                return -1;
        } else {
            size_t n;

            if (sm_carry(s, p, (size_t)(nl - p)) < 0)
                return 0;
            n = s->x.carry_len;
            s->x.carry_len = 0;
            if (sm_line(s, s->x.carry, n, emit, arg) < 0)
                return -1;
        }
        p = nl + 1;
    }
    return 0;
}

/* ---- Errors ---- */

static void sm_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                             size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *m = json_object_get(j, "message");
    const char *t = json_string_value(json_object_get(j, "__type")), *h;

    if (!json_is_string(m))
        m = json_object_get(j, "Message");
    if (!json_is_string(m))
        m = json_object_get(j, "OriginalMessage");
    prov_pivot_error_text(body, len, m, json_object_get(j, "ErrorCode"), out, outlen, code,
                          codelen);
    if (t != NULL && code != NULL && codelen > 0) {
        /* "com.amazonaws.sagemaker#ValidationError": the class after '#', before any ':'. */
        t = (h = strchr(t, '#')) != NULL ? h + 1 : t;
        h = strchr(t, ':');
        prov_copy_line(code, codelen, t, h != NULL ? (size_t)(h - t) : strlen(t));
    }
    json_decref(j);
}

/*
 * SageMaker's error classes (providers.md §8); the rest, and the HTTP statuses, as Bedrock's
 * (prov_bedrock_status: throttling 429, credentials and 5xx 502).
 */
static int sm_error_status(int http_status, const char *code)
{
    static const struct {
        const char *code;
        int status;
    } codes[] = {
        {"ValidationError", 400},        {"ModelError", 502},
        {"ModelNotReadyException", 429}, {"InternalFailure", 502},
        {"ServiceUnavailable", 502},     {"InternalDependencyException", 502},
        {"ModelStreamError", 502},       {"InternalStreamFailure", 502},
    };

    for (size_t i = 0; code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i].code) == 0)
            return codes[i].status;
    return prov_bedrock_status(http_status, code);
}

const struct prov_dialect_ops prov_dialect_sagemaker = {
    .name = "sagemaker",
    .framing = PROV_FRAME_AWS,
    .chat_build = sm_chat_build,
    .chat_reply = sm_chat_reply,
    .chat_event = sm_chat_event,
    .chat_end = sm_chat_end,
    .error_message = sm_error_message,
    .error_status = sm_error_status,
    .embed_build = sm_embed_build,
    .embed_reply = sm_embed_reply,
};
