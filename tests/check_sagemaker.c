/*
 * Unit tests of the SageMaker dialect (providers.md §8) through its table: the signed
 * invocation request (encoded endpoint name, SigV4 Authorization), the body (OpenAI's without
 * model, stream flags), replies of each container shape, PayloadPart streams (a JSON line split
 * at every byte, TGI tokens, [DONE], an over-long line), error bodies and their status, and
 * embeddings.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/prov_sigv4.h"
#include "t_xlate.h"

static const struct prov_dialect_ops *const sm = &prov_dialect_sagemaker;
#define CONF_KEYS                                                                                  \
    "\"region_name\":\"eu-west-1\",\"aws_access_key_id\":\"AKIDEXAMPLE\","                         \
    "\"aws_secret_access_key\":\"wJalrXUtnFEMI\""
#define USER_HI                                                                                    \
    "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\","             \
    "\"content\":\"hi\"}]"

static struct prov_confs *confs[2];

/* which 0: the region's base, config default temperature; 1: a session token, api_base. */
static const struct prov_conf *conf(int which)
{
    static const char *const text[2] = {
        "{\"sagemaker\":{" CONF_KEYS ",\"temperature\":0.3}}",
        "{\"sagemaker\":{" CONF_KEYS ",\"aws_session_token\":\"TOKEN\","
        "\"api_base\":\"http://127.0.0.1:9/x\"}}",
    };

    if (confs[which] == NULL)
        confs[which] = tx_confs(text[which]);
    return tx_conf(confs[which], "sagemaker");
}

/* The Authorization header must be the signature of the request as built, at its X-Amz-Date. */
static void signature_valid(const struct prov_http *h, const char *token, const char *signed_hdrs)
{
    struct prov_aws_creds c = {.access_key = "AKIDEXAMPLE",
                               .secret_key = "wJalrXUtnFEMI",
                               .session_token = token,
                               .region = "eu-west-1"};
    struct httpc_header rest[PROV_MAX_HEADERS];
    const char *date = tx_header(h, "X-Amz-Date"), *auth = tx_header(h, "Authorization");
    size_t n = 0;
    struct tm tm = {0};
    struct prov_sigv4 sig;
    char err[128], want[256];

    ck_assert_ptr_nonnull(date);
    ck_assert_ptr_nonnull(auth);
    ck_assert_int_eq(sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, "X-Amz-Date") != 0 &&
            strcasecmp(h->headers[i].name, "Authorization") != 0 &&
            strcasecmp(h->headers[i].name, "X-Amz-Security-Token") != 0)
            rest[n++] = h->headers[i];
    ck_assert_int_eq(prov_sigv4_compute(&c, "sagemaker", "POST", h->url, rest, n, h->body,
                                        h->body_len, timegm(&tm), &sig, err, sizeof(err)),
                     0);
    ck_assert_str_eq(auth, sig.authorization);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%.8s/eu-west-1/sagemaker/"
             "aws4_request, SignedHeaders=%s, Signature=",
             date, signed_hdrs);
    ck_assert_msg(strncmp(auth, want, strlen(want)) == 0, "%s", auth);
    prov_sigv4_free(&sig);
    if (token != NULL)
        ck_assert_str_eq(tx_header(h, "X-Amz-Security-Token"), token);
}

START_TEST(build_chat)
{
    struct tx_built b;

    /* Not streaming: model dropped, system stays in messages, config default merged, stream
       fields removed; the endpoint name is one encoded segment. */
    tx_build_in(&b, sm, conf(0), (struct prov_chat_in){.model = "my-ep:v1/x y", .stream = false},
                "{\"model\":\"sagemaker:my-ep\"," USER_HI ",\"temperature\":0.9,\"stream\":false,"
                "\"stream_options\":{\"include_usage\":true}}",
                false);
    tx_body_is(&b, "{" USER_HI ",\"temperature\":0.9}");
    ck_assert_str_eq(b.h.url, "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/"
                              "my-ep%3Av1%2Fx%20y/invocations");
    ck_assert_str_eq(tx_header(&b.h, "Content-Type"), "application/json");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    ck_assert_ptr_null(tx_header(&b.h, "X-Amzn-SageMaker-Accept"));
    ck_assert(!b.client_usage);
    signature_valid(&b.h, NULL, "content-type;host;x-amz-date");
    tx_built_free(&b);

    /* Streaming: stream true, usage asked for (the client did not: client_usage false). */
    tx_build_in(&b, sm, conf(0), (struct prov_chat_in){.model = "ep", .stream = true},
                "{" USER_HI ",\"stream\":true}", false);
    tx_body_is(&b, "{" USER_HI ",\"temperature\":0.3,\"stream\":true,\"stream_options\":{"
                   "\"include_usage\":true}}");
    ck_assert_str_eq(b.h.url, "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/ep/"
                              "invocations-response-stream");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/vnd.amazon.eventstream");
    ck_assert_str_eq(tx_header(&b.h, "X-Amzn-SageMaker-Accept"), "application/json");
    ck_assert(!b.client_usage);
    signature_valid(&b.h, NULL, "content-type;host;x-amz-date");
    tx_built_free(&b);

    /* The client's own include_usage; a session token is signed; api_base replaces the base. */
    tx_build_in(&b, sm, conf(1), (struct prov_chat_in){.model = "ep", .stream = true},
                "{" USER_HI ",\"stream_options\":{\"include_usage\":true}}", false);
    tx_body_is(&b, "{" USER_HI ",\"stream\":true,\"stream_options\":{"
                   "\"include_usage\":true}}");
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/x/endpoints/ep/invocations-response-stream");
    ck_assert(b.client_usage);
    signature_valid(&b.h, "TOKEN", "content-type;host;x-amz-date;x-amz-security-token");
    tx_built_free(&b);

    /* Refusals: no endpoint name, stream_options not an object. */
    tx_build_in(&b, sm, conf(0), (struct prov_chat_in){.model = "", .stream = false},
                "{" USER_HI "}", false);
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    ck_assert_ptr_nonnull(strstr(b.err, "endpoint name"));
    tx_built_free(&b);
    tx_build_in(&b, sm, conf(0), (struct prov_chat_in){.model = "ep", .stream = true},
                "{" USER_HI ",\"stream_options\":1}", false);
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    ck_assert_str_eq(b.err, "stream_options must be an object");
    tx_built_free(&b);
}
END_TEST

/* chat_reply must translate body into a completion with this content and finish. */
static void reply_is(const char *body, const char *content, const char *finish)
{
    struct prov_usage u;
    size_t gen;
    json_t *r = tx_reply(sm, body, &u, &gen);
    json_t *c = json_array_get(json_object_get(r, "choices"), 0);

    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(json_string_value(json_object_get(r, "object")), "chat.completion");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "message"), "content")),
                     content);
    ck_assert_str_eq(json_string_value(json_object_get(c, "finish_reason")), finish);
    ck_assert_uint_eq(gen, strlen(content));
    ck_assert(!u.seen);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    json_decref(r);
}

START_TEST(replies)
{
    struct prov_usage u;
    size_t gen, n;
    char *out;
    json_t *r;
    static const char oa[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"tgi\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,"
        "\"total_tokens\":9}}";

    /* OpenAI: relayed as is, usage read. */
    ck_assert_int_eq(sm->chat_reply(oa, strlen(oa), &u, &gen, &out, &n), 0);
    ck_assert_ptr_null(out);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 7);
    ck_assert_int_eq(u.completion_tokens, 2);
    ck_assert_uint_eq(gen, 5);
    ck_assert_int_eq(sm->chat_reply("{\"choices\":7}", 13, &u, &gen, &out, &n), -1);

    reply_is("[{\"generated_text\":\"Hi there\"}]", "Hi there", "stop");
    reply_is("{\"generated_text\":\"Hi\",\"details\":{\"finish_reason\":\"length\"}}", "Hi",
             "length");
    reply_is("{\"outputs\":[\"out0\",\"out1\"]}", "out0", "stop");
    reply_is("{\"outputs\":[{\"text\":\"o\"}]}", "o", "stop");
    reply_is("{\"outputs\":\"whole\"}", "whole", "stop");
    reply_is("{\"content\":\"c\"}", "c", "stop");
    reply_is("\"a JSON string\"", "a JSON string", "stop");
    reply_is("plain text answer", "plain text answer", "stop");
    reply_is("{\"unknown\":1}", "{\"unknown\":1}", "stop");

    /* A usage object when present. */
    r = tx_reply(sm,
                 "{\"generated_text\":\"x\",\"usage\":{\"prompt_tokens\":3,"
                 "\"completion_tokens\":1,\"total_tokens\":4}}",
                 &u, &gen);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(r, "usage"), "completion_tokens")), 1);
    json_decref(r);
    /* Not UTF-8: nothing to answer. */
    ck_assert_int_eq(sm->chat_reply("\xff\xfe", 2, &u, &gen, &out, &n), -1);
    ck_assert_ptr_null(out);
}
END_TEST

/* ---- Streams ---- */

/* Feeds each part as a PayloadPart event (NUL-terminated copy), as the gateway would. */
static void sm_feed(struct tx_run *r, const char *event, const char *p, size_t n)
{
    char *copy;

    if (r->s.done || r->s.failed)
        return;
    copy = malloc(n + 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, p, n);
    copy[n] = '\0';
    ck_assert_int_eq(sm->chat_event(&r->s, event, copy, n, tx_emit, &r->k), 0);
    free(copy);
}

static void sm_start(struct tx_run *r, bool client_usage)
{
    prov_stream_cleanup(&r->s);
    memset(r, 0, sizeof(*r));
    r->d = sm;
    r->s.client_usage = client_usage;
    prov_usage_init(&r->s.usage);
}

/* The stream text cut into parts at the offsets cuts (ascending, ncuts of them). */
static void sm_run_cuts(struct tx_run *r, const char *text, const size_t *cuts, size_t ncuts,
                        bool client_usage)
{
    size_t at = 0, n = strlen(text);

    sm_start(r, client_usage);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        sm_feed(r, "PayloadPart", text + at, to - at);
        at = to;
    }
    if (!r->s.done && !r->s.failed) /* the end of the provider's stream */
        ck_assert_int_eq(sm->chat_end(&r->s, tx_emit, &r->k), 0);
}

static void sm_same(const struct tx_run *a, const struct tx_run *b, const char *what)
{
    ck_assert_msg(strcmp(a->k.log, b->k.log) == 0, "%s:\n%s\nvs\n%s", what, a->k.log, b->k.log);
    ck_assert(a->s.done == b->s.done && a->s.failed == b->s.failed);
    ck_assert(a->s.usage.seen == b->s.usage.seen &&
              a->s.usage.prompt_tokens == b->s.usage.prompt_tokens &&
              a->s.usage.completion_tokens == b->s.usage.completion_tokens);
    ck_assert_uint_eq(a->s.gen_bytes, b->s.gen_bytes);
}

/* One part, then two parts cut at every byte, then one byte per part: all the same. */
static void sm_run_everywhere(struct tx_run *whole, const char *text, bool client_usage)
{
    static struct tx_run part;
    size_t n = strlen(text), *every;
    char what[64];

    sm_run_cuts(whole, text, NULL, 0, client_usage);
    for (size_t cut = 0; cut <= n; cut++) {
        sm_run_cuts(&part, text, &cut, 1, client_usage);
        snprintf(what, sizeof(what), "cut at %zu of %zu", cut, n);
        sm_same(whole, &part, what);
    }
    every = malloc(n * sizeof(*every) + 1);
    ck_assert_ptr_nonnull(every);
    for (size_t i = 0; i < n; i++)
        every[i] = i;
    sm_run_cuts(&part, text, every, n, client_usage);
    sm_same(whole, &part, "one byte per part");
    free(every);
    prov_stream_cleanup(&part.s);
}

#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"
#define ROLE "{\"role\":\"assistant\",\"content\":\"\"}"
#define USAGE_CHUNK(p, c, t)                                                                       \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"\",\"choices\":[],\"usage\":{\"prompt_tokens\":" p ",\"completion_tokens\":" c              \
    ",\"total_tokens\":" t "}}\n"

/* vLLM / TGI Messages API over SSE lines: content, a tool call in two deltas, finish, usage. */
static const char openai_stream[] =
    "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
    "data:{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\"},"
    "\"finish_reason\":null}]}\r\n\r\n"
    ": comment\nevent: message\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
    "\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":\"{}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,"
    "\"total_tokens\":9}}\n\n"
    "data: [DONE]\n\n";

#define OA_BODY                                                                                    \
    CHUNK(ROLE, "null")                                                                            \
    CHUNK("{\"content\":\"Hel\"}", "null")                                                         \
    CHUNK("{\"content\":\"lo \xc3\xa9\"}", "null")                                                 \
    CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\","                     \
          "\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]}",                                   \
          "null")                                                                                  \
    CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"                             \
          "\"{}\"}}]}",                                                                            \
          "null")                                                                                  \
    CHUNK("{}", "\"tool_calls\"")

START_TEST(stream_openai_split_everywhere)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        sm_run_everywhere(&r, openai_stream, cu == 1);
        ck_assert_str_eq(r.k.log, cu == 1 ? OA_BODY USAGE_CHUNK("5", "4", "9") : OA_BODY);
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 5);
        ck_assert_int_eq(r.s.usage.completion_tokens, 4);
        ck_assert_uint_eq(r.s.gen_bytes, 3 + 5 + 1 + 2); /* "lo é" is 5 bytes */
        ck_assert_uint_eq(r.s.x.carry_len, 0);
    }
    prov_stream_cleanup(&r.s);
}
END_TEST

/* TGI's native stream: JSON lines of tokens (a special one skipped), generated_text at the end. */
START_TEST(stream_tgi_and_others)
{
    static struct tx_run r;
    static const char tgi[] =
        "data:{\"token\":{\"id\":1,\"text\":\"Hi\",\"special\":false},\"generated_text\":null}\n\n"
        "data:{\"token\":{\"id\":2,\"text\":\" you\",\"special\":false},\"generated_text\":null,"
        "\"details\":null}\n\n"
        "data:{\"token\":{\"id\":3,\"text\":\"</s>\",\"special\":true},\"generated_text\":\"Hi "
        "you\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":3}}\n\n";
    static const char lmi[] =
        "{\"outputs\":[\"a\"]}\n{\"outputs\":[{\"text\":\"b\"}]}\n"
        "{\"outputs\":[\"\"],\"is_finished\":true}\n{\"outputs\":[\"late\"]}\n";

    sm_run_everywhere(&r, tgi, true);
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"Hi\"}", "null") CHUNK(
                                  "{\"content\":\" you\"}", "null") CHUNK("{}", "\"length\""));
    ck_assert(r.s.done);
    ck_assert(!r.s.usage.seen); /* the gateway estimates */
    ck_assert_uint_eq(r.s.gen_bytes, 6);

    /* LMI-style JSON lines; is_finished ends the stream (nothing after it). */
    sm_run_everywhere(&r, lmi, false);
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"a\"}", "null")
                                  CHUNK("{\"content\":\"b\"}", "null") CHUNK("{}", "\"stop\""));
    ck_assert(r.s.done);

    /* A whole answer in one part without its '\n', and a last line with none: read at the end. */
    sm_run_cuts(&r, "[{\"generated_text\":\"all\"}]", NULL, 0, false);
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"all\"}", "null")
                                  CHUNK("{}", "\"stop\""));
    ck_assert(r.s.done);
    sm_run_cuts(&r, "data: {\"choices\":[{\"delta\":{\"content\":\"z\"}}]}\n\ndata: [DONE]", NULL,
                0, false);
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{\"content\":\"z\"}", "null")
                                  CHUNK("{}", "\"stop\""));
    ck_assert(r.s.done);

    /* [DONE] alone: role and finish chunks. Other event types are ignored. */
    sm_start(&r, false);
    sm_feed(&r, "SomethingElse", "{\"x\":1}\n", 8);
    ck_assert_int_eq(r.k.n, 0);
    sm_feed(&r, "PayloadPart", "data: [DONE]\n", 13);
    ck_assert_str_eq(r.k.log, CHUNK(ROLE, "null") CHUNK("{}", "\"stop\""));
    ck_assert(r.s.done);
    prov_stream_cleanup(&r.s);
}
END_TEST

START_TEST(stream_failures)
{
    static struct tx_run r;
    char *big;
    size_t n = 1024 * 1024;

    /* A line that is not JSON. */
    sm_run_cuts(&r, "data: {\"choices\":[]}\nnot json\n", NULL, 0, false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "malformed line in the SageMaker stream");
    /* An error object (TGI). */
    sm_run_cuts(&r, "data:{\"error\":\"Input validation error\",\"error_type\":\"validation\"}\n",
                NULL, 0, false);
    ck_assert(r.s.failed);
    ck_assert_str_eq(r.s.error, "Input validation error");
    sm_run_cuts(&r, "{\"error\":{\"message\":\"boom\"}}\n", NULL, 0, false);
    ck_assert_str_eq(r.s.error, "boom");

    /* A line longer than 1 MiB carried across parts fails; exactly 1 MiB is carried. */
    big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', n);
    big[n] = '\0';
    sm_start(&r, false);
    sm_feed(&r, "PayloadPart", big, n / 2);
    sm_feed(&r, "PayloadPart", big, n - n / 2);
    ck_assert(!r.s.failed);
    ck_assert_uint_eq(r.s.x.carry_len, n);
    sm_feed(&r, "PayloadPart", "b", 1);
    ck_assert(r.s.failed);
    ck_assert_ptr_nonnull(strstr(r.s.error, "longer than 1048576 bytes"));
    ck_assert_int_eq(r.k.n, 0);
    free(big);
    prov_stream_cleanup(&r.s);
    ck_assert_ptr_null(r.s.x.carry);
}
END_TEST

/* ---- Errors ---- */

START_TEST(errors_and_status)
{
    char msg[256], code[64];

    tx_error(sm, "{\"__type\":\"com.amazon.coral.validate#ValidationError\",\"message\":\"bad\"}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "bad");
    ck_assert_str_eq(code, "ValidationError");
    tx_error(sm,
             "{\"ErrorCode\":\"CLIENT_ERROR_FROM_MODEL\",\"OriginalStatusCode\":400,"
             "\"OriginalMessage\":\"orig\",\"Message\":\"Received client error (400)\"}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Received client error (400)");
    ck_assert_str_eq(code, "CLIENT_ERROR_FROM_MODEL");
    tx_error(sm, "{\"OriginalMessage\":\"only orig\"}", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "only orig");
    ck_assert_str_eq(code, "");
    tx_error(sm, "upstream \n down", msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "upstream   down");

    ck_assert_int_eq(sm->error_status(400, "ValidationError"), 400);
    ck_assert_int_eq(sm->error_status(424, "ModelError"), 502);
    ck_assert_int_eq(sm->error_status(424, ""), 502);
    ck_assert_int_eq(sm->error_status(429, "ModelNotReadyException"), 429);
    ck_assert_int_eq(sm->error_status(400, "ThrottlingException"), 429);
    ck_assert_int_eq(sm->error_status(500, "InternalFailure"), 502);
    ck_assert_int_eq(sm->error_status(503, "ServiceUnavailable"), 502);
    ck_assert_int_eq(sm->error_status(403, "InvalidSignatureException"), 502);
    ck_assert_int_eq(sm->error_status(401, ""), 502);
    ck_assert_int_eq(sm->error_status(404, ""), 404);
    ck_assert_int_eq(sm->error_status(413, ""), 413);
}
END_TEST

/* ---- Embeddings ---- */

/* The reply r has one embedding, [a, b]. */
static void emb_is(const json_t *r, double a, double b)
{
    const json_t *d = json_object_get(r, "data");
    const json_t *e = json_object_get(json_array_get(d, 0), "embedding");

    ck_assert_uint_eq(json_array_size(d), 1);
    ck_assert_uint_eq(json_array_size(e), 2);
    ck_assert(json_number_value(json_array_get(e, 0)) == a);
    ck_assert(json_number_value(json_array_get(e, 1)) == b);
}

START_TEST(embeddings)
{
    struct tx_built b;
    struct prov_usage u;
    json_t *r;
    char *out;
    size_t n;

    tx_build_in(&b, sm, conf(0), (struct prov_chat_in){.model = "emb"},
                "{\"model\":\"sagemaker:emb\",\"input\":[\"hello\"],\"dimensions\":8,"
                "\"user\":\"u\",\"encoding_format\":\"float\"}",
                true);
    tx_body_is(&b, "{\"inputs\":\"hello\",\"dimensions\":8}");
    ck_assert_str_eq(b.h.url,
                     "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/emb/invocations");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    signature_valid(&b.h, NULL, "content-type;host;x-amz-date");
    tx_built_free(&b);
    tx_rejects(sm, conf(0), "{\"input\":[\"a\",\"b\"]}", true, "one input per call");
    tx_rejects(sm, conf(0), "{\"input\":[1,2]}", true, "");
    tx_rejects(sm, conf(0), "{\"input\":\"a\",\"dimensions\":0}", true, "dimensions");

    r = tx_embed_reply(sm, "{\"embeddings\":[[0.5,1]],\"usage\":{\"prompt_tokens\":2}}", &u);
    emb_is(r, 0.5, 1.0);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 2);
    json_decref(r);
    for (size_t i = 0; i < 4; i++) {
        static const char *const bodies[] = {
            "{\"embedding\":[0.25,2]}", "{\"embedding\":[[0.25,2]]}", "[0.25,2]", "[[0.25,2]]"};
        r = tx_embed_reply(sm, bodies[i], &u);
        emb_is(r, 0.25, 2.0);
        ck_assert(!u.seen);
        ck_assert_ptr_null(json_object_get(r, "usage"));
        json_decref(r);
    }
    ck_assert_int_eq(sm->embed_reply("{\"embedding\":[\"x\"]}", 17, &u, &out, &n), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(sm->embed_reply("{\"other\":1}", 11, &u, &out, &n), -1);
    ck_assert_int_eq(sm->embed_reply("[]", 2, &u, &out, &n), -1);
    ck_assert_int_eq(sm->embed_reply("nope", 4, &u, &out, &n), -1);
}
END_TEST

static void sm_teardown(void)
{
    for (int i = 0; i < 2; i++) {
        prov_confs_free(confs[i]);
        confs[i] = NULL;
    }
}

Suite *sagemaker_suite(void)
{
    Suite *s = suite_create("sagemaker");
    TCase *tc = tcase_create("sagemaker");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, sm_teardown);
    tcase_add_test(tc, build_chat);
    tcase_add_test(tc, replies);
    tcase_add_test(tc, stream_openai_split_everywhere);
    tcase_add_test(tc, stream_tgi_and_others);
    tcase_add_test(tc, stream_failures);
    tcase_add_test(tc, errors_and_status);
    tcase_add_test(tc, embeddings);
    suite_add_tcase(s, tc);
    return s;
}
