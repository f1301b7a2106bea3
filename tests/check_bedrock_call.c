/*
 * Unit tests of the Bedrock dialect table as the gateway uses it (prov_bedrock_call.c,
 * prov_aws.c, prov_conf.c's AWS rows): the AWS settings and their sources, the region's endpoint,
 * the request line, a SigV4 Authorization that verifies, the API-key bearer alternative, a call
 * without credentials, and the §15 event-stream fixtures through the gateway's framing
 * (prov_frame.h) cut at every byte.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "providers/prov_sigv4.h"
#include "t_awsframe.h"
#include "t_xlate.h"

#define CLAUDE "us.anthropic.claude-3-5-haiku-20241022-v1:0"
#define USER_HI "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static void clear_aws_env(void)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_BEARER_TOKEN_BEDROCK",
                                       "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                                       "SAGEMAKER_ENDPOINT_URL"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

START_TEST(conf_sources)
{
    struct prov_confs *pc;
    const struct prov_conf *c;

    /* Nothing set: not usable, us-east-1's endpoint. */
    clear_aws_env();
    pc = tx_confs(NULL);
    c = tx_conf(pc, "bedrock");
    ck_assert(!c->usable);
    ck_assert_str_eq(c->region, "us-east-1");
    ck_assert_str_eq(c->base_url, "https://bedrock-runtime.us-east-1.amazonaws.com");
    ck_assert_str_eq(tx_conf(pc, "sagemaker")->base_url,
                     "https://runtime.sagemaker.us-east-1.amazonaws.com");
    prov_confs_free(pc);

    /* The standard variables make both rows usable; AWS_REGION beats AWS_DEFAULT_REGION. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    pc = tx_confs(NULL);
    c = tx_conf(pc, "sagemaker");
    ck_assert(c->usable);
    ck_assert_ptr_null(c->problem);
    ck_assert_str_eq(c->aws_access_key, "AKIDENV");
    ck_assert_str_eq(c->aws_session_token, "env-token");
    ck_assert_str_eq(c->base_url, "https://runtime.sagemaker.eu-west-1.amazonaws.com");
    ck_assert(tx_conf(pc, "bedrock")->usable);
    prov_confs_free(pc);
    setenv("AWS_REGION", "ap-south-1", 1);
    pc = tx_confs(NULL);
    ck_assert_str_eq(tx_conf(pc, "bedrock")->region, "ap-south-1");
    prov_confs_free(pc);

    /* The config's keys win as a set (no session token mixed in from the environment), under
       client_args too; none of them is a request field; api_base replaces the endpoint. */
    pc = tx_confs("{\"bedrock\":{\"client_args\":{\"aws_access_key_id\":\"AKIDCONF\"},"
                  "\"aws_secret_access_key\":\"conf-secret\",\"region_name\":\"us-west-2\","
                  "\"api_base\":\"http://127.0.0.1:9/\",\"top_p\":0.5}}");
    c = tx_conf(pc, "bedrock");
    ck_assert_str_eq(c->aws_access_key, "AKIDCONF");
    ck_assert_str_eq(c->aws_secret_key, "conf-secret");
    ck_assert_ptr_null(c->aws_session_token);
    ck_assert_str_eq(c->region, "us-west-2");
    ck_assert_str_eq(c->base_url, "http://127.0.0.1:9");
    ck_assert_uint_eq(json_object_size(c->kwargs), 1);
    ck_assert_ptr_nonnull(json_object_get(c->kwargs, "top_p"));
    prov_confs_free(pc);
    clear_aws_env();

    /* Configured without credentials: a problem naming the settings; an API key is enough for
       Bedrock, never for SageMaker (it signs every request). */
    pc = tx_confs("{\"bedrock\":{\"region_name\":\"us-east-1\"},"
                  "\"sagemaker\":{\"api_key\":\"k\",\"aws_access_key_id\":\"AKID\"}}");
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "bedrock")->problem, "aws_access_key_id"));
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "bedrock")->problem, "AWS_BEARER_TOKEN_BEDROCK"));
    ck_assert_ptr_null(tx_conf(pc, "sagemaker")->api_key);
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "sagemaker")->problem, "aws_secret_access_key"));
    prov_confs_free(pc);
    setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key", 1);
    pc = tx_confs(NULL);
    ck_assert(tx_conf(pc, "bedrock")->usable);
    ck_assert_ptr_null(tx_conf(pc, "bedrock")->problem);
    ck_assert_str_eq(tx_conf(pc, "bedrock")->api_key, "bedrock-api-key");
    prov_confs_free(pc);
    clear_aws_env();

    /* A region that cannot be a host name label. */
    pc = tx_confs("{\"bedrock\":{\"api_key\":\"k\",\"region_name\":\"us-east-1.evil.com/x\"}}");
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "bedrock")->problem, "is not an AWS region"));
    prov_confs_free(pc);
}
END_TEST

/* Verifies b's Authorization by signing the same request again at its X-Amz-Date. */
static void signature_verifies(const struct tx_built *b, const char *token)
{
    struct prov_aws_creds cr = {"AKIDEXAMPLE", SECRET, token, "us-west-2"};
    struct httpc_header hs[PROV_MAX_HEADERS];
    const char *date = tx_header(&b->h, "X-Amz-Date");
    struct prov_sigv4 sig;
    struct tm tm = {0};
    size_t n = 0;
    char err[128];

    ck_assert_ptr_nonnull(date);
    ck_assert_int_eq(sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    for (size_t i = 0; i < b->h.nheaders; i++)
        if (strcasecmp(b->h.headers[i].name, "X-Amz-Date") != 0 &&
            strcasecmp(b->h.headers[i].name, "Authorization") != 0 &&
            strcasecmp(b->h.headers[i].name, "X-Amz-Security-Token") != 0)
            hs[n++] = b->h.headers[i];
    ck_assert_int_eq(prov_sigv4_compute(&cr, "bedrock", "POST", b->h.url, hs, n, b->h.body,
                                        b->h.body_len, timegm(&tm), &sig, err, sizeof(err)),
                     0);
    ck_assert_str_eq(tx_header(&b->h, "Authorization"), sig.authorization);
    prov_sigv4_free(&sig);
}

START_TEST(build_signed)
{
    struct prov_confs *pc;
    struct tx_built b;
    const char *auth;

    clear_aws_env();
    pc = tx_confs("{\"bedrock\":{\"aws_access_key_id\":\"AKIDEXAMPLE\","
                  "\"aws_secret_access_key\":\"" SECRET "\",\"region_name\":\"us-west-2\","
                  "\"client_args\":{\"custom_headers\":{\"X-Team\":\"a\"}}}}");
    tx_build_in(&b, &prov_dialect_bedrock, tx_conf(pc, "bedrock"),
                (struct prov_chat_in){.model = CLAUDE, .stream = true}, USER_HI, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                              "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/vnd.amazon.eventstream");
    ck_assert_str_eq(tx_header(&b.h, "X-Team"), "a");
    ck_assert_ptr_null(tx_header(&b.h, "X-Amz-Security-Token"));
    auth = tx_header(&b.h, "Authorization");
    ck_assert_ptr_nonnull(strstr(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    ck_assert_ptr_nonnull(strstr(auth, "/us-west-2/bedrock/aws4_request, SignedHeaders=content-"
                                       "type;host;x-amz-date, Signature="));
    ck_assert_ptr_null(strstr(auth, SECRET));
    signature_verifies(&b, NULL);
    tx_built_free(&b);
    prov_confs_free(pc);

    /* Temporary credentials: the session token is sent and signed; JSON calls accept JSON. */
    pc = tx_confs("{\"bedrock\":{\"aws_access_key_id\":\"AKIDEXAMPLE\","
                  "\"aws_secret_access_key\":\"" SECRET "\",\"aws_session_token\":\"tok/en+1\","
                  "\"region_name\":\"us-west-2\"}}");
    tx_build_in(&b, &prov_dialect_bedrock, tx_conf(pc, "bedrock"),
                (struct prov_chat_in){.model = "arn:aws:bedrock:us-west-2:1:inference-profile/x"},
                USER_HI, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url,
                     "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                     "arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fx/converse");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    ck_assert_str_eq(tx_header(&b.h, "X-Amz-Security-Token"), "tok/en+1");
    ck_assert_ptr_nonnull(
        strstr(tx_header(&b.h, "Authorization"),
               "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
    signature_verifies(&b, "tok/en+1");
    tx_built_free(&b);

    /* Titan embeddings are signed the same way, at /invoke. */
    tx_build_in(&b, &prov_dialect_bedrock, tx_conf(pc, "bedrock"),
                (struct prov_chat_in){.model = "amazon.titan-embed-text-v2:0"},
                "{\"input\":\"hello\",\"dimensions\":256}", true);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                              "amazon.titan-embed-text-v2%3A0/invoke");
    tx_body_is(&b, "{\"inputText\":\"hello\",\"dimensions\":256}");
    signature_verifies(&b, "tok/en+1");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_bearer_and_no_credentials)
{
    struct prov_confs *pc;
    struct tx_built b;

    clear_aws_env();
    /* A Bedrock API key: a bearer, nothing signed (even with keys configured beside it). */
    pc = tx_confs("{\"bedrock\":{\"api_key\":\"bedrock-api-key\",\"aws_access_key_id\":\"A\","
                  "\"aws_secret_access_key\":\"S\",\"api_base\":\"http://127.0.0.1:9\"}}");
    tx_build_in(&b, &prov_dialect_bedrock, tx_conf(pc, "bedrock"),
                (struct prov_chat_in){.model = CLAUDE}, USER_HI, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/model/"
                              "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer bedrock-api-key");
    ck_assert_ptr_null(tx_header(&b.h, "X-Amz-Date"));
    tx_built_free(&b);
    prov_confs_free(pc);

    /* No credentials at all: the gateway's fault (-1, a 502), no request. */
    pc = tx_confs("{\"bedrock\":{\"region_name\":\"us-east-1\"}}");
    tx_build_in(&b, &prov_dialect_bedrock, tx_conf(pc, "bedrock"),
                (struct prov_chat_in){.model = CLAUDE}, USER_HI, false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "no AWS credentials"));
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

/* §15: the contentBlockDelta "Hi" message, then a throttlingException message. */
static const char delta_hex[] = T_AWS_FX_DELTA_HEX;
static const char throttle_hex[] = T_AWS_FX_THROTTLE_HEX;

START_TEST(stream_fixtures_framed)
{
    static struct tx_run run;
    unsigned char bytes[512];
    size_t n = tx_unhex(delta_hex, bytes);

    /* "Hi" reaches the client whole at every cut; the exception fails the stream after it. */
    n += tx_unhex(throttle_hex, bytes + n);
    tx_run_everywhere_bytes(&run, &prov_dialect_bedrock, bytes, n, false);
    ck_assert_ptr_nonnull(strstr(run.k.log, "\"content\":\"Hi\""));
    ck_assert(run.s.failed);
    ck_assert_str_eq(run.s.error, "throttlingException: Too many requests");

    /* A flipped payload byte: the message CRC fails the stream, nothing of it is emitted. */
    n = tx_unhex(delta_hex, bytes);
    bytes[n - 10] ^= 1;
    tx_run_everywhere_bytes(&run, &prov_dialect_bedrock, bytes, n, false);
    ck_assert_int_eq(run.k.n, 0);
    ck_assert(run.s.failed);
    ck_assert_ptr_nonnull(strstr(run.s.error, "unreadable event stream from the provider: "));
}
END_TEST

Suite *bedrock_call_suite(void)
{
    Suite *s = suite_create("bedrock_call");
    TCase *tc = tcase_create("call");

    tcase_add_test(tc, conf_sources);
    tcase_add_test(tc, build_signed);
    tcase_add_test(tc, build_bearer_and_no_credentials);
    tcase_add_test(tc, stream_fixtures_framed);
    suite_add_tcase(s, tc);
    return s;
}
