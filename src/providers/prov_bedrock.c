/*
 * Bedrock Converse replies (providers.md §7.3-§7.6): the JSON reply and the decoded
 * converse-stream messages as pivot (OpenAI chat) shapes, error bodies and their gateway status,
 * and the Titan embeddings reply. Contract in prov_bedrock.h; requests in prov_bedrock_req.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwrite.h"
#include "providers/prov_bedrock.h"
#include "providers/prov_embed.h"
#include "providers/prov_pivot.h"

#define BR_STRUCT_TOOL "any_llm_structured_output"

/* ---- Usage and finish reasons ---- */

static long br_count(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (long)json_integer_value(v) : 0;
}

/* usage -> u (§1.6, DESIGN §2.11: prompt counts cache reads and writes). False: no object. */
static bool br_usage(const json_t *usage, struct prov_usage *u, long *cached)
{
    if (!json_is_object(usage))
        return false;
    *cached = br_count(usage, "cacheReadInputTokens");
    u->prompt_tokens =
        br_count(usage, "inputTokens") + *cached + br_count(usage, "cacheWriteInputTokens");
    u->completion_tokens = br_count(usage, "outputTokens");
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->seen = true;
    return true;
}

/* stopReason -> finish_reason (§7.3). */
static const char *br_finish(const char *reason)
{
    static const char *const map[][2] = {{"max_tokens", "length"},
                                         {"model_context_window_exceeded", "length"},
                                         {"tool_use", "tool_calls"},
                                         {"guardrail_intervened", "content_filter"},
                                         {"content_filtered", "content_filter"}};

    for (size_t i = 0; reason != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(reason, map[i][0]) == 0)
            return map[i][1];
    return "stop"; /* end_turn, stop_sequence, malformed_*, unknown */
}

/* ---- Reply (§7.3) ---- */

/* Appends the string v (when a string) to the text being gathered in *acc. */
static int br_append(json_t **acc, const json_t *v)
{
    json_t *parts;

    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    if (*acc == NULL)
        return (*acc = json_copy((json_t *)v)) != NULL ? 0 : -1;
    parts = json_pack("[{s:O}, {s:O}]", "text", *acc, "text", v);
    json_decref(*acc);
    *acc = parts != NULL ? prov_pivot_text(parts, "") : NULL;
    json_decref(parts);
    return *acc != NULL ? 0 : -1;
}

/* A toolUse block: a tool call, or (the structured-output tool) the content text. */
static int br_tool_use(const json_t *tu, json_t *calls, json_t **text, bool *structured)
{
    const json_t *name = json_object_get(tu, "name"), *id = json_object_get(tu, "toolUseId");
    const json_t *input = json_object_get(tu, "input");
    char gen[64], *args = input != NULL ? jw_dumps(input, NULL) : strdup("{}");
    int rc = -1;

    if (args == NULL)
        return -1;
    if (json_is_string(name) && strcmp(json_string_value(name), BR_STRUCT_TOOL) == 0) {
        *structured = true;
        json_decref(*text);
        rc = (*text = json_string(args)) != NULL ? 0 : -1;
        free(args);
        return rc;
    }
    if (!json_is_string(id))
        prov_pivot_id(gen, sizeof(gen), "call_");
    rc = prov_pivot_push(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                          json_is_string(id) ? json_string_value(id) : gen, "type",
                                          "function", "function", "name",
                                          json_is_string(name) ? json_string_value(name) : "",
                                          "arguments", args));
    free(args);
    return rc;
}

/* output.message.content as the pivot message. */
static json_t *br_message(const json_t *content, bool *structured)
{
    json_t *msg = json_pack("{s:s}", "role", "assistant"), *calls = json_array();
    json_t *text = NULL, *reasoning = NULL;
    const json_t *b;
    size_t i;

    *structured = false;
    if (msg == NULL || calls == NULL)
        goto fail;
    json_array_foreach(content, i, b)
    {
        const json_t *rt = json_object_get(json_object_get(b, "reasoningContent"), "reasoningText");
        if (br_append(&text, json_object_get(b, "text")) < 0 ||
            br_append(&reasoning, json_object_get(rt, "text")) < 0 ||
            (json_is_object(json_object_get(b, "toolUse")) &&
             br_tool_use(json_object_get(b, "toolUse"), calls, &text, structured) < 0))
            goto fail;
    }
    if (json_object_set(msg, "content", text != NULL ? text : json_null()) < 0 ||
        (reasoning != NULL &&
         prov_pivot_set(msg, "reasoning", json_pack("{s:O}", "content", reasoning)) < 0) ||
        (json_array_size(calls) > 0 && json_object_set(msg, "tool_calls", calls) < 0))
        goto fail;
    json_decref(text);
    json_decref(reasoning);
    json_decref(calls);
    return msg;
fail:
    json_decref(text);
    json_decref(reasoning);
    json_decref(calls);
    json_decref(msg);
    return NULL;
}

int prov_bedrock_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                       char **out, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL), *msg, *r = NULL;
    const json_t *content =
        json_object_get(json_object_get(json_object_get(j, "output"), "message"), "content");
    const char *finish;
    bool structured;
    long cached = 0;
    char id[64];
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (!json_is_array(content) || (msg = br_message(content, &structured)) == NULL)
        goto out;
    finish = br_finish(json_string_value(json_object_get(j, "stopReason")));
    if (structured && strcmp(finish, "tool_calls") == 0 &&
        json_object_get(msg, "tool_calls") == NULL)
        finish = "stop";
    prov_pivot_id(id, sizeof(id), "chatcmpl-");
    r = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s, s:n}]}", "id", id, "object",
                  "chat.completion", "created", (json_int_t)time(NULL), "model", "", "choices",
                  "index", 0, "message", msg, "finish_reason", finish, "logprobs");
    if (r == NULL)
        goto out;
    if (br_usage(json_object_get(j, "usage"), u, &cached) &&
        prov_pivot_set(r, "usage", prov_pivot_usage_json_cached(u, cached)) < 0)
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

/* ---- Stream messages (§7.4) ---- */

static int br_text(struct prov_stream *s, const json_t *v, bool reasoning, prov_emit_fn *emit,
                   void *arg)
{
    if (!json_is_string(v))
        return 0;
    return prov_pivot_content(s, json_string_value(v), json_string_length(v), reasoning, emit, arg);
}

static int br_delta(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    const json_t *d = json_object_get(j, "delta");
    const json_t *in = json_object_get(json_object_get(d, "toolUse"), "input");
    long block = br_count(j, "contentBlockIndex");

    if (json_is_string(in)) {
        if (s->x.ntools == 0 || block != s->x.tool_block) {
            prov_pivot_fail(s, NULL, "tool input for a content block that started no tool use");
            return 0;
        }
        return prov_pivot_tool_args(s, json_string_value(in), json_string_length(in), emit, arg);
    }
    if (br_text(s, json_object_get(d, "text"), false, emit, arg) < 0)
        return -1;
    /* reasoningContent.signature / redactedContent: nothing to show. */
    return br_text(s, json_object_get(json_object_get(d, "reasoningContent"), "text"), true, emit,
                   arg);
}

/* The finish chunk, once. */
static int br_finish_chunk(struct prov_stream *s, const char *finish, prov_emit_fn *emit, void *arg)
{
    if (s->x.finished)
        return 0;
    s->x.finished = true;
    if (finish != NULL)
        snprintf(s->x.finish, sizeof(s->x.finish), "%s", finish);
    return prov_pivot_chunk(s, json_object(), s->x.finish[0] != '\0' ? s->x.finish : "stop", emit,
                            arg);
}

static int br_metadata(struct prov_stream *s, const json_t *j, prov_emit_fn *emit, void *arg)
{
    (void)br_usage(json_object_get(j, "usage"), &s->usage, &s->x.cached_tokens);
    if (br_finish_chunk(s, NULL, emit, arg) < 0)
        return -1;
    s->done = true;
    if (!s->client_usage || !s->usage.seen)
        return 0;
    return prov_pivot_usage_chunk(s, prov_pivot_usage_json_cached(&s->usage, s->x.cached_tokens),
                                  emit, arg);
}

int prov_bedrock_event(struct prov_stream *s, const char *event_type, const char *payload,
                       size_t len, prov_emit_fn *emit, void *arg)
{
    json_t *j = json_loadb(payload, len, 0, NULL);
    const char *t = event_type != NULL ? event_type : "";
    const json_t *tu;
    int rc;

    if (!json_is_object(j)) {
        prov_pivot_fail(s, NULL, "malformed stream event from the provider");
        json_decref(j);
        return 0;
    }
    /* The role chunk first, whatever comes first. */
    if ((rc = prov_pivot_begin(s, NULL, "", 0, emit, arg)) != 0) {
        /* emit failed */
    } else if (strcmp(t, "contentBlockStart") == 0) {
        tu = json_object_get(json_object_get(j, "start"), "toolUse");
        if (json_is_object(tu)) {
            s->x.tool_block = br_count(j, "contentBlockIndex");
            rc = prov_pivot_tool_start(s, json_string_value(json_object_get(tu, "toolUseId")),
                                       json_is_string(json_object_get(tu, "name"))
                                           ? json_string_value(json_object_get(tu, "name"))
                                           : "",
                                       NULL, emit, arg);
        }
    } else if (strcmp(t, "contentBlockDelta") == 0) {
        rc = br_delta(s, j, emit, arg);
    } else if (strcmp(t, "messageStop") == 0) {
        rc = br_finish_chunk(s, br_finish(json_string_value(json_object_get(j, "stopReason"))),
                             emit, arg);
    } else if (strcmp(t, "metadata") == 0) {
        rc = br_metadata(s, j, emit, arg);
    }
    /* messageStart (the role chunk), contentBlockStop, unknown events: nothing more. */
    json_decref(j);
    return rc;
}

/* "message", else "Message", of a JSON error body (borrowed from j). */
static const json_t *br_msg(const json_t *j)
{
    const json_t *m = json_object_get(j, "message");

    return json_is_string(m) ? m : json_object_get(j, "Message");
}

/* ---- Errors (§7.5) ---- */

void prov_bedrock_error_message(const char *body, size_t len, const char *amzn_error_type,
                                char *out, size_t outlen, char *code, size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "__type")), *end;

    prov_pivot_error_text(body, len, br_msg(j), NULL, out, outlen, code, codelen);
    if (code != NULL && codelen > 0) {
        if (amzn_error_type != NULL && amzn_error_type[0] != '\0') {
            end = strchr(amzn_error_type, ':');
            prov_copy_line(code, codelen, amzn_error_type,
                           end != NULL ? (size_t)(end - amzn_error_type) : strlen(amzn_error_type));
        } else if (t != NULL) {
            t = strchr(t, '#') != NULL ? strchr(t, '#') + 1 : t;
            prov_copy_line(code, codelen, t, strlen(t));
        }
    }
    json_decref(j);
}

int prov_bedrock_status(int http_status, const char *code)
{
    static const struct {
        const char *code;
        int status;
    } codes[] = {
        {"ValidationException", 400},         {"ResourceNotFoundException", 404},
        {"ThrottlingException", 429},         {"ServiceQuotaExceededException", 429},
        {"ModelNotReadyException", 429},      {"TooManyRequestsException", 429},
        {"ModelTimeoutException", 504},       {"AccessDeniedException", 502},
        {"UnrecognizedClientException", 502}, {"InvalidSignatureException", 502},
        {"ExpiredTokenException", 502},       {"IncompleteSignatureException", 502},
        {"ModelErrorException", 502},         {"InternalServerException", 502},
        {"ServiceUnavailableException", 502}, {"MissingAuthenticationTokenException", 502},
    };

    for (size_t i = 0; code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i].code) == 0)
            return codes[i].status;
    if (http_status == 408)
        return 504;
    if (http_status == 429)
        return 429;
    if (http_status == 401 || http_status == 403 || http_status == 424 || http_status >= 500 ||
        http_status < 400)
        return 502;
    return http_status == 404 || http_status == 413 || http_status == 422 ? http_status : 400;
}

/* ---- Titan embeddings (§7.6) ---- */

int prov_bedrock_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                             size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(j, "embedding"), *n = json_object_get(j, "inputTextTokenCount");
    long prompt = -1;

    *out = NULL;
    *out_len = 0;
    prov_usage_init(u);
    if (!json_is_array(e)) {
        json_decref(j);
        return -1;
    }
    if (json_is_integer(n) && json_integer_value(n) >= 0)
        prompt = (long)json_integer_value(n);
    *out = prov_embed_reply_new(json_pack("[O]", e), "", prompt, u, out_len);
    json_decref(j);
    return *out != NULL ? 0 : -1;
}
