/*
 * fake-upstream, AWS replies (providers.md §7, §8, §15): the Bedrock Converse / ConverseStream /
 * InvokeModel (Titan embeddings) scenarios and the SageMaker InvokeEndpoint /
 * InvokeEndpointWithResponseStream ones, chosen by the model id or endpoint name (bd-*, sm-*;
 * t_fake.h lists them). Streams are AWS event-stream messages (t_awsframe.c) sent in pieces of
 * AWS_PIECE bytes, one piece per write, so the client sees messages split anywhere.
 */
#include "fake_upstream.h"
#include "t_awsframe.h"
#include "t_fake.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define AWS_PIECE 61 /* bytes per write of a stream */
#define SM_PART 13   /* bytes of the SSE text per SageMaker PayloadPart */
#define AWS_FRAME_MAX 4096

enum aws_kind {
    BD_OK,
    BD_TOOLS,
    BD_MIDTHROTTLE,
    BD_MIDERROR,
    BD_BADCRC,
    BD_STATUS,
    SM_OK,
    SM_TGI,
    SM_MIDERROR,
    SM_STATUS,
};

/* ---- event-stream messages ---- */

/* Appends one message; bad_crc flips its message CRC. Returns 0 or -1. */
static int aws_msg(struct evbuffer *b, const char *mtype, const char *tname, const char *tvalue,
                   const char *ctype, const char *payload, size_t len, bool bad_crc)
{
    unsigned char frame[AWS_FRAME_MAX];
    size_t n = t_aws_frame(frame, sizeof(frame), mtype, tname, tvalue, ctype, payload, len);

    if (n == 0)
        return -1;
    if (bad_crc)
        frame[n - 1] ^= 0x5a;
    return evbuffer_add(b, frame, n);
}

/* An "event" message with this JSON payload (taken). */
static int bd_event(struct evbuffer *b, const char *type, json_t *doc, bool bad_crc)
{
    char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = s != NULL ? aws_msg(b, "event", ":event-type", type, "application/json", s, strlen(s),
                                 bad_crc)
                       : -1;

    free(s);
    json_decref(doc);
    return rc;
}

static int bd_text(struct evbuffer *b, int index, const char *text, bool bad_crc)
{
    return bd_event(b, "contentBlockDelta",
                    json_pack("{s:i,s:{s:s}}", "contentBlockIndex", index, "delta", "text", text),
                    bad_crc);
}

/* The Bedrock stream of a scenario (§7.4). */
static int bd_stream_build(int kind, struct evbuffer *b)
{
    int rc = bd_event(b, "messageStart", json_pack("{s:s}", "role", "assistant"), false);

    if (kind == BD_TOOLS) {
        rc |= bd_text(b, 0, "Let me check.", false);
        rc |= bd_event(b, "contentBlockStop", json_pack("{s:i}", "contentBlockIndex", 0), false);
        rc |= bd_event(b, "contentBlockStart",
                       json_pack("{s:i,s:{s:{s:s,s:s}}}", "contentBlockIndex", 1, "start",
                                 "toolUse", "toolUseId", "tooluse_fake1", "name", "get_weather"),
                       false);
        rc |= bd_event(b, "contentBlockDelta",
                       json_pack("{s:i,s:{s:{s:s}}}", "contentBlockIndex", 1, "delta", "toolUse",
                                 "input", "{\"city\":"),
                       false);
        rc |= bd_event(b, "contentBlockDelta",
                       json_pack("{s:i,s:{s:{s:s}}}", "contentBlockIndex", 1, "delta", "toolUse",
                                 "input", "\"Paris\"}"),
                       false);
        rc |= bd_event(b, "contentBlockStop", json_pack("{s:i}", "contentBlockIndex", 1), false);
    } else {
        rc |= bd_text(b, 0, "Hi", false); /* the §15 fixture message, byte for byte */
    }
    if (kind == BD_MIDTHROTTLE) {
        static const char m[] = "{\"message\":\"Too many requests\"}";
        return rc | aws_msg(b, "exception", ":exception-type", "throttlingException",
                            "application/json", m, strlen(m), false);
    }
    if (kind == BD_MIDERROR) {
        static const char m[] = "{\"message\":\"fake model stream error\"}";
        return rc | aws_msg(b, "exception", ":exception-type", "modelStreamErrorException",
                            "application/json", m, strlen(m), false);
    }
    if (kind != BD_TOOLS)
        rc |= bd_text(b, 0, " there", kind == BD_BADCRC);
    if (kind == BD_OK || kind == BD_BADCRC)
        rc |= bd_event(b, "contentBlockStop", json_pack("{s:i}", "contentBlockIndex", 0), false);
    rc |= bd_event(b, "messageStop",
                   json_pack("{s:s}", "stopReason", kind == BD_TOOLS ? "tool_use" : "end_turn"),
                   false);
    rc |= bd_event(b, "metadata",
                   json_pack("{s:{s:i,s:i,s:i,s:i,s:i},s:{s:i}}", "usage", "inputTokens", 25,
                             "outputTokens", 9, "totalTokens", 39, "cacheReadInputTokens", 4,
                             "cacheWriteInputTokens", 1, "metrics", "latencyMs", 400),
                   false);
    return rc;
}

/* One OpenAI stream chunk as SSE text ("data: ...\n\n"). */
static void sm_chunk(struct evbuffer *sse, const char *model, json_t *delta, const char *finish,
                     json_t *usage)
{
    json_t *c =
        json_pack("{s:s,s:s,s:i,s:s,s:o}", "id", "chatcmpl-sm", "object", "chat.completion.chunk",
                  "created", 1767225600, "model", model, "choices", json_array());
    char *s;

    if (c != NULL && delta != NULL)
        json_array_append_new(
            json_object_get(c, "choices"),
            json_pack("{s:i,s:O,s:s?}", "index", 0, "delta", delta, "finish_reason", finish));
    if (c != NULL && usage != NULL)
        json_object_set(c, "usage", usage);
    json_decref(delta);
    json_decref(usage);
    s = c != NULL ? json_dumps(c, JSON_COMPACT) : NULL;
    if (s != NULL)
        evbuffer_add_printf(sse, "data: %s\n\n", s);
    free(s);
    json_decref(c);
}

/* The SSE text a SageMaker container streams (OpenAI chunks, or TGI tokens). */
static void sm_sse(int kind, const char *model, struct evbuffer *sse)
{
    if (kind == SM_TGI) {
        evbuffer_add_printf(sse, "data:{\"token\":{\"id\":1,\"text\":\"Hel\",\"logprob\":-0.1,"
                                 "\"special\":false},\"generated_text\":null,\"details\":null}\n\n"
                                 "data:{\"token\":{\"id\":2,\"text\":\"lo\",\"logprob\":-0.1,"
                                 "\"special\":false},\"generated_text\":null,\"details\":null}\n\n"
                                 "data:{\"token\":{\"id\":3,\"text\":\"\",\"logprob\":0,"
                                 "\"special\":true},\"generated_text\":\"Hello\",\"details\":{"
                                 "\"finish_reason\":\"eos_token\",\"generated_tokens\":2}}\n\n");
        return;
    }
    sm_chunk(sse, model, json_pack("{s:s,s:s}", "role", "assistant", "content", "Hel"), NULL, NULL);
    if (kind == SM_MIDERROR)
        return;
    sm_chunk(sse, model, json_pack("{s:s}", "content", "lo"), NULL, NULL);
    sm_chunk(sse, model, json_object(), "stop", NULL);
    sm_chunk(sse, model, NULL, NULL,
             json_pack("{s:i,s:i,s:i}", "prompt_tokens", 11, "completion_tokens", 2, "total_tokens",
                       13));
    evbuffer_add_printf(sse, "data: [DONE]\n\n");
}

/* The SageMaker stream: the SSE text in PayloadPart events of SM_PART bytes (so each JSON
 * object spans parts), then a ModelStreamError for sm-miderror. */
static int sm_stream_build(int kind, const char *model, struct evbuffer *b)
{
    struct evbuffer *sse = evbuffer_new();
    const char *p;
    size_t len;
    int rc = 0;

    if (sse == NULL)
        return -1;
    sm_sse(kind, model, sse);
    p = (const char *)evbuffer_pullup(sse, -1);
    len = evbuffer_get_length(sse);
    for (size_t at = 0; at < len && rc == 0; at += SM_PART)
        rc = aws_msg(b, "event", ":event-type", "PayloadPart", "application/octet-stream", p + at,
                     len - at < SM_PART ? len - at : SM_PART, false);
    if (kind == SM_MIDERROR) {
        static const char m[] = "{\"Message\":\"fake model stream error\",\"ErrorCode\":"
                                "\"ModelInvocationTimeExceeded\"}";
        rc |= aws_msg(b, "exception", ":exception-type", "ModelStreamError", "application/json", m,
                      strlen(m), false);
    }
    evbuffer_free(sse);
    return rc;
}

/* ---- streams over time ---- */

static void aws_flushed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    fake_call_after(arg, 1); /* a pause, so the pieces reach the client as separate reads */
}

/* Sends the next AWS_PIECE bytes of the call's stream (rebuilt from its scenario each time). */
static void aws_tick(struct fake_call *c)
{
    struct evbuffer *b = evbuffer_new();
    const unsigned char *p;
    size_t len, at, n;
    int rc;

    if (b == NULL) {
        fake_call_abort(c);
        return;
    }
    rc = c->sp.kind >= SM_OK ? sm_stream_build(c->sp.kind, c->model, b)
                             : bd_stream_build(c->sp.kind, b);
    len = evbuffer_get_length(b);
    p = evbuffer_pullup(b, -1);
    at = (size_t)c->sent * AWS_PIECE;
    if (rc != 0 || p == NULL || at >= len) {
        evbuffer_free(b);
        fake_call_abort(c);
        return;
    }
    n = len - at < AWS_PIECE ? len - at : AWS_PIECE;
    c->sent++;
    if (at + n < len) {
        if (fake_send_raw(c->req, (const char *)p + at, n, aws_flushed, c) < 0)
            fake_call_fail(c);
    } else {
        struct evhttp_request *req = fake_call_release(c);
        if (fake_send_raw(req, (const char *)p + at, n, NULL, NULL) < 0)
            fprintf(stderr, "fake-upstream: cannot send the end of an AWS stream\n");
        evhttp_send_reply_end(req);
    }
    evbuffer_free(b);
}

static void aws_stream(struct fake_srv *srv, struct evhttp_request *req, int kind,
                       const char *model)
{
    const struct fake_spec sp = {.kind = kind};
    struct fake_call *c = fake_call_new(srv, req, &sp, model, true, false, aws_tick);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    if (c == NULL) {
        fake_aws_error(req, 500, "InternalServerException", "message", "fake: out of memory");
        return;
    }
    if (evhttp_add_header(h, "Content-Type", "application/vnd.amazon.eventstream") < 0 ||
        evhttp_add_header(h, "x-amzn-RequestId", "fake-aws-request-id") < 0)
        fprintf(stderr, "fake-upstream: cannot add stream headers\n");
    evhttp_send_reply_start(req, 200, "OK");
    fake_call_after(c, 1);
}

/* ---- Bedrock ---- */

/* The kind of a Bedrock model id (or of a SageMaker endpoint name, sm: true); *code for
 * *-status-<code>. */
static int aws_kind(const char *id, bool sm, long *code)
{
    static const struct {
        const char *name;
        int kind;
    } names[] = {{"bd-tools", BD_TOOLS},       {"bd-midthrottle", BD_MIDTHROTTLE},
                 {"bd-miderror", BD_MIDERROR}, {"bd-badcrc", BD_BADCRC},
                 {"sm-tgi", SM_TGI},           {"sm-miderror", SM_MIDERROR}};
    const char *st = strstr(id, sm ? "sm-status-" : "bd-status-"), *end;
    char base[256];

    fake_model_base(id, base, sizeof(base));
    if (st != NULL && fake_parse_num(st + 10, '\0', 200, 599, code, &end))
        return sm ? SM_STATUS : BD_STATUS;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strstr(base, names[i].name) != NULL && (names[i].kind >= SM_OK) == sm)
            return names[i].kind;
    return sm ? SM_OK : BD_OK;
}

static void bd_status(struct evhttp_request *req, long code)
{
    static const struct {
        long code;
        const char *type, *message;
    } t[] = {
        {400, "ValidationException", "Malformed input request: fake validation failure"},
        {403, "AccessDeniedException",
         "You don't have access to the model with the specified model ID."},
        {404, "ResourceNotFoundException", "Could not resolve the foundation model."},
        {408, "ModelTimeoutException", "Model has timed out in processing the request."},
        {424, "ModelErrorException", "The model returned an error: fake model error"},
        {429, "ThrottlingException", "Too many requests, please wait before trying again."},
        {500, "InternalServerException", "fake internal server error"},
        {503, "ServiceUnavailableException", "fake service unavailable"},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].code == code) {
            fake_aws_error(req, (int)code, t[i].type, "message", t[i].message);
            return;
        }
    fake_aws_error(req, (int)code, "FakeException", "message", "fake bedrock error");
}

/* Converse refuses members outside its schema, like the service's validation. */
static bool bd_known(struct evhttp_request *req, json_t *body)
{
    static const char *const known[] = {"messages",
                                        "system",
                                        "inferenceConfig",
                                        "toolConfig",
                                        "guardrailConfig",
                                        "additionalModelRequestFields",
                                        "additionalModelResponseFieldPaths",
                                        "promptVariables",
                                        "requestMetadata",
                                        "performanceConfig",
                                        NULL};
    const char *key = fake_unknown_member(body, known);
    char msg[256];

    if (key != NULL) {
        snprintf(msg, sizeof(msg),
                 "Malformed input request: extraneous key [%.64s] is not permitted", key);
        fake_aws_error(req, 400, "ValidationException", "message", msg);
        return false;
    }
    if (json_array_size(json_object_get(body, "messages")) == 0) {
        fake_aws_error(req, 400, "ValidationException", "message",
                       "Malformed input request: messages must not be empty");
        return false;
    }
    return true;
}

/* Titan text embeddings: [strlen(inputText), -1, 0.25, 0...] of `dimensions` values (3 by
 * default); inputTextTokenCount = the number of space-separated words. */
static void bd_titan(struct evhttp_request *req, json_t *body)
{
    const char *text = json_string_value(json_object_get(body, "inputText")), *key;
    json_t *dim = json_object_get(body, "dimensions"), *v, *vec;
    json_int_t n = dim != NULL ? json_integer_value(dim) : 3, words = 1;

    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "inputText") != 0 && strcmp(key, "dimensions") != 0 &&
            strcmp(key, "normalize") != 0 && strcmp(key, "embeddingTypes") != 0) {
            fake_aws_error(req, 400, "ValidationException", "message",
                           "Malformed input request: extraneous key is not permitted");
            return;
        }
    }
    if (text == NULL || n < 1 || n > 1024) {
        fake_aws_error(req, 400, "ValidationException", "message",
                       "Malformed input request: inputText and dimensions 1..1024 expected");
        return;
    }
    for (const char *p = text; *p != '\0'; p++)
        words += *p == ' ';
    vec = json_array();
    for (json_int_t i = 0; i < n && vec != NULL; i++)
        json_array_append_new(vec, json_real(i == 0   ? (double)strlen(text)
                                             : i == 1 ? -1.0
                                             : i == 2 ? 0.25
                                                      : 0.0));
    fake_reply_json(req, 200,
                    json_pack("{s:o,s:I}", "embedding", vec, "inputTextTokenCount", words));
}

void fake_bedrock(struct fake_srv *srv, struct evhttp_request *req, int op, const char *model,
                  json_t *body)
{
    long code = 0;
    int kind = aws_kind(model, false, &code);
    json_t *content;

    if (kind == BD_STATUS) {
        bd_status(req, code);
        return;
    }
    if (op == FAKE_BD_INVOKE) {
        bd_titan(req, body);
        return;
    }
    if (!bd_known(req, body))
        return;
    if (op == FAKE_BD_CONVERSE_STREAM) {
        aws_stream(srv, req, kind, model);
        return;
    }
    if (kind == BD_TOOLS)
        content = json_pack("[{s:s},{s:{s:s,s:s,s:{s:s}}}]", "text", "Let me check.", "toolUse",
                            "toolUseId", "tooluse_fake1", "name", "get_weather", "input", "city",
                            "Paris");
    else
        content = json_pack("[{s:s}]", "text", "Hello from bedrock");
    fake_reply_json(req, 200,
                    json_pack("{s:{s:{s:s,s:o}},s:s,s:{s:i,s:i,s:i,s:i,s:i},s:{s:i}}", "output",
                              "message", "role", "assistant", "content", content, "stopReason",
                              kind == BD_TOOLS ? "tool_use" : "end_turn", "usage", "inputTokens",
                              20, "outputTokens", 5, "totalTokens", 30, "cacheReadInputTokens", 3,
                              "cacheWriteInputTokens", 2, "metrics", "latencyMs", 412));
}

/* ---- SageMaker ---- */

static void sm_status(struct evhttp_request *req, long code)
{
    const char *type = code == 400   ? "ValidationError"
                       : code == 424 ? "ModelError"
                       : code == 429 ? "ModelNotReadyException"
                       : code == 503 ? "ServiceUnavailable"
                                     : "InternalFailure";
    char msg[64];

    snprintf(msg, sizeof(msg), "fake sagemaker error %ld", code);
    fake_aws_error(req, (int)code, type, "Message", msg);
}

void fake_sagemaker(struct fake_srv *srv, struct evhttp_request *req, bool stream,
                    const char *endpoint, json_t *body)
{
    long code = 0;
    int kind = aws_kind(endpoint, true, &code);
    json_t *in = json_object_get(body, "inputs");

    if (kind == SM_STATUS) {
        sm_status(req, code);
    } else if (json_is_string(in)) {
        const char *t = json_string_value(in);
        fake_reply_json(req, 200,
                        json_pack("{s:[[f,f,f]]}", "embeddings", (double)strlen(t), -1.0, 0.25));
    } else if (!json_is_array(json_object_get(body, "messages"))) {
        sm_status(req, 400);
    } else if (stream) {
        aws_stream(srv, req, kind, endpoint);
    } else if (kind == SM_MIDERROR) {
        fake_aws_error(req, 424, "ModelError", "Message",
                       "Received server error (500) from primary: fake model failure");
    } else if (kind == SM_TGI) {
        fake_reply_json(req, 200, json_pack("{s:s}", "generated_text", "Hello from tgi"));
    } else {
        fake_reply_json(req, 200,
                        json_pack("{s:s,s:s,s:i,s:s,s:[{s:i,s:{s:s,s:s},s:s}],s:{s:i,s:i,s:i}}",
                                  "id", "chatcmpl-sm", "object", "chat.completion", "created",
                                  1767225600, "model", endpoint, "choices", "index", 0, "message",
                                  "role", "assistant", "content", "Hello from sagemaker",
                                  "finish_reason", "stop", "usage", "prompt_tokens", 11,
                                  "completion_tokens", 4, "total_tokens", 15));
    }
}
