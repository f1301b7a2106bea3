/*
 * Tests of the fake AWS endpoint (tests/fake_aws.c, fake_aws_reply.c) and its event-stream
 * encoder (tests/t_awsframe.c): the encoder reproduces the verified messages of providers.md §15
 * byte for byte; over HTTP, requests signed with the gateway's signer (prov_sigv4.c, itself
 * checked against §15) pass the fake's own SigV4 check while a wrong secret, an unknown key id,
 * a missing or wrong session token, a stale date and a wrong region fail like AWS (403 with
 * x-amzn-ErrorType); the Bedrock API-key bearer; the ARN model id decoded in /_last; Converse
 * JSON; the streams decoded with the gateway's decoder (prov_awsstream.c): event order, the §15
 * bytes on the wire, the exception message, the bad CRC, SageMaker PayloadParts whose JSON spans
 * parts; HTTP errors; Titan and SageMaker embeddings; a clean exit after each test.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "providers/prov_awsstream.h"
#include "providers/prov_sigv4.h"
#include "t_api.h"
#include "t_awsframe.h"
#include "t_fake.h"
#include "t_gw.h"

#define CONV_BODY "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}"
#define ARN "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.bd-ok"
#define ARN_SEG "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.bd-ok"

static const char fx_delta[] = T_AWS_FX_DELTA_HEX;
static const char fx_throttle[] = T_AWS_FX_THROTTLE_HEX;

static struct t_fake fk;

static void aws_up(void)
{
    ck_assert_msg(t_fake_start(&fk) == 0, "fake-upstream ($GW_FAKE) did not start");
}

static void aws_down(void)
{
    t_fake_stop(&fk);
}

static void aws_stop_clean(void)
{
    ck_assert_int_eq(t_fake_stop_rc(&fk), 0);
}

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

START_TEST(frame_matches_fixtures)
{
    unsigned char want[256], got[256];
    static const char delta[] = "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}";
    static const char thr[] = "{\"message\":\"Too many requests\"}";
    size_t n = unhex(fx_delta, want);

    ck_assert_uint_eq(n, 148);
    ck_assert_uint_eq(t_aws_frame(got, sizeof(got), "event", ":event-type", "contentBlockDelta",
                                  "application/json", delta, strlen(delta)),
                      n);
    ck_assert_mem_eq(got, want, n);
    n = unhex(fx_throttle, want);
    ck_assert_uint_eq(t_aws_frame(got, sizeof(got), "exception", ":exception-type",
                                  "throttlingException", "application/json", thr, strlen(thr)),
                      n);
    ck_assert_mem_eq(got, want, n);
    /* Too small a buffer: nothing. */
    ck_assert_uint_eq(t_aws_frame(got, 100, "event", ":event-type", "contentBlockDelta",
                                  "application/json", delta, strlen(delta)),
                      0);
}
END_TEST

/* How a test signs: key id, secret, token (NULL: none), region, time offset. */
struct aws_cred {
    const char *key_id, *secret, *token, *region;
    long skew;
};

static const struct aws_cred good = {T_FAKE_AWS_KEY_ID, T_FAKE_AWS_SECRET, NULL, T_FAKE_AWS_REGION,
                                     0};

/* POSTs body to path signed with cr for service (cr NULL: bearer, the header given). */
static int aws_post(const char *path, const char *service, const struct aws_cred *cr,
                    const char *bearer, const char *body, struct t_resp *r)
{
    struct httpc_header h[] = {{"Content-Type", "application/json"}};
    struct prov_aws_creds c;
    struct prov_sigv4 s;
    char url[1024], hdr[2048], err[256];

    if (cr == NULL) {
        snprintf(hdr, sizeof(hdr), "Content-Type: application/json\r\n%s%s%s",
                 bearer ? "Authorization: Bearer " : "", bearer ? bearer : "",
                 bearer ? "\r\n" : "");
    } else {
        c = (struct prov_aws_creds){cr->key_id, cr->secret, cr->token, cr->region};
        snprintf(url, sizeof(url), "http://127.0.0.1%s", path);
        ck_assert_msg(prov_sigv4_compute(&c, service, "POST", url, h, 1, body, strlen(body),
                                         time(NULL) + cr->skew, &s, err, sizeof(err)) == 0,
                      "%s", err);
        snprintf(hdr, sizeof(hdr),
                 "Content-Type: application/json\r\nX-Amz-Date: %s\r\n%s%s%sAuthorization: %s\r\n",
                 s.amz_date, cr->token ? "X-Amz-Security-Token: " : "", cr->token ? cr->token : "",
                 cr->token ? "\r\n" : "", s.authorization);
        prov_sigv4_free(&s);
    }
    ck_assert_int_eq(t_http(fk.port, "POST", path, hdr, body, r), 0);
    return r->status;
}

/* The reply is AWS's 403 of this type. */
static void aws_refused(struct t_resp *r, const char *type)
{
    char buf[128];

    ck_assert_int_eq(r->status, 403);
    ck_assert_str_eq(t_header(r, "x-amzn-ErrorType", buf, sizeof(buf)), type);
    ck_assert_ptr_nonnull(strstr(r->body, "\"message\":"));
    t_resp_free(r);
}

START_TEST(sigv4_checked)
{
    const char *p = "/model/bd-ok/converse";
    struct aws_cred c = good;
    struct t_resp r;
    json_t *last;

    ck_assert_int_eq(aws_post(p, "bedrock", &good, NULL, CONV_BODY, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "Hello from bedrock"));
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "aws_auth"), "scheme")), "sigv4");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "aws_auth"), "signed_headers")),
        "content-type;host;x-amz-date");
    json_decref(last);
    c.secret = "wrong/secret+key";
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "InvalidSignatureException");
    c = good;
    c.region = "eu-west-1";
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "InvalidSignatureException");
    c = good;
    c.skew = -900;
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "InvalidSignatureException");
    aws_post(p, "sagemaker", &good, NULL, CONV_BODY, &r); /* wrong service in the scope */
    aws_refused(&r, "InvalidSignatureException");
    c = good;
    c.key_id = "AKIDUNKNOWN";
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "UnrecognizedClientException");
    c = good;
    c.key_id = T_FAKE_AWS_TEMP_KEY_ID; /* temporary credentials without their token */
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "UnrecognizedClientException");
    c.token = "not-the-token";
    aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r);
    aws_refused(&r, "UnrecognizedClientException");
    c.token = T_FAKE_AWS_TOKEN;
    ck_assert_int_eq(aws_post(p, "bedrock", &c, NULL, CONV_BODY, &r), 200);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "aws_auth"), "signed_headers")),
        "content-type;host;x-amz-date;x-amz-security-token");
    json_decref(last);
    /* Bearer: the Bedrock API key only. */
    ck_assert_int_eq(aws_post(p, NULL, NULL, T_FAKE_BEDROCK_API_KEY, CONV_BODY, &r), 200);
    t_resp_free(&r);
    aws_post(p, NULL, NULL, "ABSKwrong", CONV_BODY, &r);
    aws_refused(&r, "UnrecognizedClientException");
    aws_post(p, NULL, NULL, NULL, CONV_BODY, &r);
    aws_refused(&r, "UnrecognizedClientException");
    aws_post("/endpoints/sm-ok/invocations", NULL, NULL, T_FAKE_BEDROCK_API_KEY,
             "{\"messages\":[]}", &r); /* SageMaker has no API keys */
    aws_refused(&r, "UnrecognizedClientException");
}
END_TEST

START_TEST(converse_json_and_errors)
{
    struct t_resp r;
    json_t *last, *j;
    char buf[128];

    ck_assert_int_eq(aws_post("/model/" ARN_SEG "/converse", "bedrock", &good, NULL, CONV_BODY, &r),
                     200);
    j = json_loads(r.body, 0, NULL);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "cacheReadInputTokens")),
        3);
    json_decref(j);
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(json_string_value(json_object_get(last, "model_id")), ARN);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")),
                     "/model/" ARN_SEG "/converse");
    json_decref(last);
    ck_assert_int_eq(aws_post("/model/bd-tools/converse", "bedrock", &good, NULL, CONV_BODY, &r),
                     200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"toolUse\":{\"toolUseId\":\"tooluse_fake1\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"stopReason\":\"tool_use\""));
    t_resp_free(&r);
    ck_assert_int_eq(aws_post("/model/bd-ok/converse", "bedrock", &good, NULL,
                              "{\"model\":\"x\",\"messages\":[{}]}", &r),
                     400);
    ck_assert_ptr_nonnull(strstr(r.body, "extraneous key [model]"));
    t_resp_free(&r);
    ck_assert_int_eq(
        aws_post("/model/bd-status-400/converse-stream", "bedrock", &good, NULL, CONV_BODY, &r),
        400);
    ck_assert_str_eq(t_header(&r, "x-amzn-ErrorType", buf, sizeof(buf)), "ValidationException");
    ck_assert_str_eq(r.body, "{\"message\":\"Malformed input request: fake validation failure\"}");
    t_resp_free(&r);
    ck_assert_int_eq(
        aws_post("/model/bd-status-408/converse", "bedrock", &good, NULL, CONV_BODY, &r), 408);
    ck_assert_str_eq(t_header(&r, "x-amzn-ErrorType", buf, sizeof(buf)), "ModelTimeoutException");
    t_resp_free(&r);
    ck_assert_int_eq(aws_post("/endpoints/sm-status-400/invocations", "sagemaker", &good, NULL,
                              "{\"messages\":[]}", &r),
                     400);
    ck_assert_str_eq(t_header(&r, "x-amzn-ErrorType", buf, sizeof(buf)), "ValidationError");
    ck_assert_str_eq(r.body, "{\"Message\":\"fake sagemaker error 400\"}");
    t_resp_free(&r);
}
END_TEST

/* What the decoder saw of a stream: "type:payload|" per message, and the joined PayloadParts. */
struct seen {
    char log[4096];
    char bytes[4096];
    size_t nbytes;
    bool split_json; /* a PayloadPart ended inside a JSON object */
};

static int seen_msg(const struct prov_aws_message *m, void *arg)
{
    struct seen *s = arg;
    const char *type = m->event_type != NULL ? m->event_type : m->exception_type;
    size_t n = strlen(s->log);

    ck_assert_ptr_nonnull(type);
    ck_assert_ptr_nonnull(m->message_type);
    if (type != NULL && strcmp(type, "PayloadPart") == 0) {
        ck_assert_uint_lt(s->nbytes + m->payload_len, sizeof(s->bytes));
        memcpy(s->bytes + s->nbytes, m->payload, m->payload_len);
        s->nbytes += m->payload_len;
        s->bytes[s->nbytes] = '\0';
        if (m->payload_len > 0 && m->payload[m->payload_len - 1] != '\n')
            s->split_json = true;
        return 0;
    }
    snprintf(s->log + n, sizeof(s->log) - n, "%s:%s:%.*s|", m->message_type, type,
             (int)m->payload_len, m->payload);
    return 0;
}

/* Streams path; returns whether the decoder failed; the raw body stays in r. */
static bool aws_stream(const char *path, const char *service, const char *body, struct seen *s,
                       struct t_resp *r)
{
    struct prov_awsstream d;
    char buf[128];
    bool failed;

    memset(s, 0, sizeof(*s));
    ck_assert_int_eq(aws_post(path, service, &good, NULL, body, r), 200);
    ck_assert_str_eq(t_header(r, "Content-Type", buf, sizeof(buf)),
                     "application/vnd.amazon.eventstream");
    r->body_len = t_dechunk(r->body, r->body_len);
    prov_awsstream_init(&d, seen_msg, s);
    failed = prov_awsstream_feed(&d, r->body, r->body_len) != 0;
    failed = prov_awsstream_finish(&d) || failed;
    prov_awsstream_cleanup(&d);
    return failed;
}

static bool has_bytes(const struct t_resp *r, const char *hex)
{
    unsigned char want[256];
    size_t n = unhex(hex, want);

    for (size_t i = 0; i + n <= r->body_len; i++)
        if (memcmp(r->body + i, want, n) == 0)
            return true;
    return false;
}

START_TEST(bedrock_streams)
{
    struct seen s;
    struct t_resp r;

    ck_assert(!aws_stream("/model/bd-ok/converse-stream", "bedrock", CONV_BODY, &s, &r));
    ck_assert_msg(strstr(s.log,
                         "event:messageStart:{\"role\":\"assistant\"}|event:"
                         "contentBlockDelta:{\"contentBlockIndex\":0,\"delta\":{\"text\":"
                         "\"Hi\"}}|event:contentBlockDelta:{\"contentBlockIndex\":0,"
                         "\"delta\":{\"text\":\" there\"}}|event:contentBlockStop:") == s.log,
                  "%s", s.log);
    ck_assert_ptr_nonnull(strstr(s.log, "|event:messageStop:{\"stopReason\":\"end_turn\"}|event:"
                                        "metadata:{\"usage\":{\"inputTokens\":25"));
    ck_assert(has_bytes(&r, fx_delta));
    t_resp_free(&r);
    ck_assert(!aws_stream("/model/bd-tools/converse-stream", "bedrock", CONV_BODY, &s, &r));
    ck_assert_ptr_nonnull(strstr(s.log, "\"toolUse\":{\"toolUseId\":\"tooluse_fake1\""));
    ck_assert_ptr_nonnull(strstr(s.log, "{\"input\":\"{\\\"city\\\":\"}"));
    ck_assert_ptr_nonnull(strstr(s.log, "{\"stopReason\":\"tool_use\"}"));
    t_resp_free(&r);
    ck_assert(!aws_stream("/model/bd-midthrottle/converse-stream", "bedrock", CONV_BODY, &s, &r));
    ck_assert(has_bytes(&r, fx_throttle));
    ck_assert_msg(t_ends_with(s.log, "|exception:throttlingException:{\"message\":\"Too many "
                                     "requests\"}|"),
                  "%s", s.log);
    t_resp_free(&r);
    ck_assert(!aws_stream("/model/bd-miderror/converse-stream", "bedrock", CONV_BODY, &s, &r));
    ck_assert_ptr_nonnull(strstr(s.log, "exception:modelStreamErrorException:"));
    t_resp_free(&r);
    /* The bad CRC stops the decoder after messageStart and "Hi". */
    ck_assert(aws_stream("/model/bd-badcrc/converse-stream", "bedrock", CONV_BODY, &s, &r));
    ck_assert_msg(strstr(s.log, "\"Hi\"}}|") != NULL && strstr(s.log, "there") == NULL, "%s",
                  s.log);
    t_resp_free(&r);
}
END_TEST

START_TEST(sagemaker_streams)
{
    struct seen s;
    struct t_resp r;
    const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

    ck_assert(
        !aws_stream("/endpoints/sm-ok/invocations-response-stream", "sagemaker", chat, &s, &r));
    ck_assert(s.split_json);
    ck_assert_str_eq(s.log, "");
    ck_assert_ptr_nonnull(strstr(s.bytes, "data: {\"id\":\"chatcmpl-sm\""));
    ck_assert_ptr_nonnull(strstr(s.bytes, "\"delta\":{\"content\":\"lo\"}"));
    ck_assert_ptr_nonnull(strstr(s.bytes, "\"usage\":{\"prompt_tokens\":11"));
    ck_assert(t_ends_with(s.bytes, "\n\ndata: [DONE]\n\n"));
    t_resp_free(&r);
    ck_assert(
        !aws_stream("/endpoints/sm-tgi/invocations-response-stream", "sagemaker", chat, &s, &r));
    ck_assert_ptr_nonnull(strstr(s.bytes, "data:{\"token\":{\"id\":1,\"text\":\"Hel\""));
    ck_assert_ptr_nonnull(strstr(s.bytes, "\"generated_text\":\"Hello\""));
    t_resp_free(&r);
    ck_assert(!aws_stream("/endpoints/sm-miderror/invocations-response-stream", "sagemaker", chat,
                          &s, &r));
    ck_assert_ptr_nonnull(strstr(s.bytes, "\"content\":\"Hel\""));
    ck_assert_ptr_nonnull(strstr(s.log, "exception:ModelStreamError:{\"Message\":"));
    t_resp_free(&r);
    ck_assert_int_eq(aws_post("/endpoints/my-endpoint/invocations", "sagemaker", &good, NULL,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r),
                     200);
    ck_assert_ptr_nonnull(strstr(r.body, "Hello from sagemaker"));
    t_resp_free(&r);
}
END_TEST

START_TEST(embeddings)
{
    struct t_resp r;
    json_t *last;

    ck_assert_int_eq(aws_post("/model/amazon.titan-embed-text-v2%3A0/invoke", "bedrock", &good,
                              NULL, "{\"inputText\":\"hi there\",\"dimensions\":4}", &r),
                     200);
    ck_assert_str_eq(r.body, "{\"embedding\":[8.0,-1.0,0.25,0.0],\"inputTextTokenCount\":2}");
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(json_string_value(json_object_get(last, "model_id")),
                     "amazon.titan-embed-text-v2:0");
    json_decref(last);
    ck_assert_int_eq(aws_post("/model/amazon.titan-embed-text-v2%3A0/invoke", "bedrock", &good,
                              NULL, "{\"inputText\":\"x\",\"model\":\"m\"}", &r),
                     400);
    t_resp_free(&r);
    ck_assert_int_eq(aws_post("/endpoints/emb-1/invocations", "sagemaker", &good, NULL,
                              "{\"inputs\":\"abc\"}", &r),
                     200);
    ck_assert_str_eq(r.body, "{\"embeddings\":[[3.0,-1.0,0.25]]}");
    t_resp_free(&r);
    last = t_fake_get(&fk, "/_last");
    ck_assert_str_eq(json_string_value(json_object_get(last, "endpoint_name")), "emb-1");
    json_decref(last);
}
END_TEST

Suite *fake_aws_suite(void)
{
    Suite *s = suite_create("fake_aws");
    TCase *unit = tcase_create("frame");
    TCase *tc = tcase_create("http");

    tcase_add_test(unit, frame_matches_fixtures);
    suite_add_tcase(s, unit);
    tcase_add_checked_fixture(tc, aws_up, aws_down);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, sigv4_checked);
    tcase_add_test(tc, converse_json_and_errors);
    tcase_add_test(tc, bedrock_streams);
    tcase_add_test(tc, sagemaker_streams);
    tcase_add_test(tc, embeddings);
    tcase_add_checked_fixture(tc, NULL, aws_stop_clean);
    suite_add_tcase(s, tc);
    return s;
}
