/*
 * Unit tests of the Azure dialects (providers.md §3 azureopenai, §4 azure): the request line for
 * dated and preview/latest API versions, the model escaped as one path segment, the credentials
 * (api-key, an Entra bearer, azure's Bearer + api-key), extra-parameters, the config keys that
 * never become request fields, and the §15 fixtures: the stream whose first chunk is
 * {"choices":[],"prompt_filter_results":[...]} (cut at every byte), content_filter finishes and
 * the content_filter 400 body.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_xlate.h"

static const struct prov_dialect_ops *aoai(void)
{
    return prov_dialect_get(PROV_D_AZURE_OPENAI);
}

static const struct prov_dialect_ops *azi(void)
{
    return prov_dialect_get(PROV_D_AZURE);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define RES "https://res.openai.azure.com"

static void az_env_clear(void)
{
    unsetenv("OPENAI_API_VERSION");
    unsetenv("AZURE_OPENAI_AD_TOKEN");
    unsetenv("AZURE_OPENAI_API_KEY");
    unsetenv("AZURE_OPENAI_ENDPOINT");
    unsetenv("AZURE_API_KEY");
    unsetenv("AZURE_AI_CHAT_ENDPOINT");
}

START_TEST(tables)
{
    ck_assert_ptr_eq(aoai(), &prov_dialect_azureopenai);
    ck_assert_ptr_eq(azi(), &prov_dialect_azure);
    ck_assert_int_eq(aoai()->framing, PROV_FRAME_SSE);
    ck_assert_ptr_nonnull(aoai()->embed_build);
    ck_assert_ptr_nonnull(azi()->embed_build);
    ck_assert_uint_eq(prov_caps(prov_find("azureopenai")),
                      PROV_CAP_CHAT | PROV_CAP_STREAM | PROV_CAP_EMBED);
    ck_assert_uint_eq(prov_caps(prov_find("azure")),
                      PROV_CAP_CHAT | PROV_CAP_STREAM | PROV_CAP_EMBED);
    ck_assert_ptr_null(prov_dialect_native_messages(PROV_D_AZURE_OPENAI));
}
END_TEST

/* A dated version: the deployment path; the model text escaped as one segment; api-key. */
START_TEST(aoai_dated_version)
{
    struct prov_confs *pc;
    const struct prov_conf *c;
    struct tx_built b;
    struct prov_chat_in in = {.model = "my dep/v1?x"};

    az_env_clear();
    pc = tx_confs("{\"azureopenai\":{\"api_key\":\"k1\",\"api_base\":\"" RES "/\","
                  "\"api_version\":\"2024-10-21\",\"temperature\":0.5}}");
    c = tx_conf(pc, "azureopenai");
    ck_assert_ptr_null(c->problem);
    tx_build(&b, aoai(), c, "{" USER_HI "}", false, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, RES "/openai/deployments/m1/chat/completions?api-version=2024-10-21");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "k1");
    ck_assert_ptr_null(tx_header(&b.h, "Authorization"));
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "application/json");
    /* Config fields are request defaults; api_version is not one of them. */
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"temperature\":0.5}");
    tx_built_free(&b);
    tx_build_in(&b, aoai(), c, in, "{" USER_HI "}", false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, RES "/openai/deployments/my%20dep%2Fv1%3Fx/chat/completions"
                                  "?api-version=2024-10-21");
    tx_built_free(&b);
    tx_build(&b, aoai(), c, "{\"model\":\"m1\",\"input\":[\"a\"],\"user\":\"u\"}", false, true);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, RES "/openai/deployments/m1/embeddings?api-version=2024-10-21");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "k1");
    tx_body_is(&b, "{\"model\":\"m1\",\"input\":[\"a\"]}");
    tx_built_free(&b);
    prov_confs_free(pc);

    /* OPENAI_API_VERSION when the config has none; client_args wins over it. */
    setenv("OPENAI_API_VERSION", "2025-01-01-preview", 1);
    pc = tx_confs("{\"azureopenai\":{\"api_key\":\"k1\",\"api_base\":\"" RES "\"}}");
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"), "{" USER_HI "}", false, false);
    ck_assert_str_eq(b.h.url,
                     RES "/openai/deployments/m1/chat/completions?api-version=2025-01-01-preview");
    tx_built_free(&b);
    prov_confs_free(pc);
    pc = tx_confs("{\"azureopenai\":{\"api_key\":\"k1\",\"api_base\":\"" RES "\","
                  "\"client_args\":{\"api_version\":\"2024-06-01\"}}}");
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"), "{" USER_HI "}", false, false);
    ck_assert_str_eq(b.h.url, RES "/openai/deployments/m1/chat/completions?api-version=2024-06-01");
    tx_built_free(&b);
    prov_confs_free(pc);
    az_env_clear();
}
END_TEST

/* preview (the default) and latest: the v1 path, the deployment in the body. */
START_TEST(aoai_v1_path)
{
    struct prov_confs *pc;
    struct tx_built b;

    az_env_clear();
    setenv("AZURE_OPENAI_API_KEY", "env-key", 1);
    setenv("AZURE_OPENAI_ENDPOINT", RES, 1);
    pc = tx_confs(NULL);
    ck_assert(tx_conf(pc, "azureopenai")->usable);
    ck_assert_str_eq(tx_conf(pc, "azureopenai")->api_version, "preview");
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"),
             "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", true,
             false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, RES "/openai/v1/chat/completions?api-version=preview");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "env-key");
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "text/event-stream");
    ck_assert(b.client_usage);
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    tx_built_free(&b);
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"), "{\"input\":\"a\"}", false, true);
    ck_assert_str_eq(b.h.url, RES "/openai/v1/embeddings?api-version=preview");
    tx_built_free(&b);
    prov_confs_free(pc);
    pc = tx_confs("{\"azureopenai\":{\"api_version\":\"latest\"}}");
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"), "{" USER_HI ",\"stream\":true}", true, false);
    ck_assert_str_eq(b.h.url, RES "/openai/v1/chat/completions");
    /* Usage asked for on the client's behalf (not by the client). */
    ck_assert(!b.client_usage);
    ck_assert(
        json_is_true(json_object_get(json_object_get(b.body, "stream_options"), "include_usage")));
    tx_built_free(&b);
    prov_confs_free(pc);
    az_env_clear();
}
END_TEST

/* azure_ad_token (config or AZURE_OPENAI_AD_TOKEN): a bearer instead of the api-key. */
START_TEST(aoai_entra_token)
{
    struct prov_confs *pc;
    const struct prov_conf *c;
    struct tx_built b;

    az_env_clear();
    pc = tx_confs("{\"azureopenai\":{\"api_key\":\"k1\",\"api_base\":\"" RES "\","
                  "\"azure_ad_token\":\"entra-1\",\"api_version\":\"2024-10-21\"}}");
    c = tx_conf(pc, "azureopenai");
    tx_build(&b, aoai(), c, "{" USER_HI "}", false, false);
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer entra-1");
    ck_assert_ptr_null(tx_header(&b.h, "api-key"));
    ck_assert_ptr_null(json_object_get(b.body, "azure_ad_token"));
    ck_assert_ptr_null(json_object_get(b.body, "api_version"));
    tx_built_free(&b);
    tx_build(&b, aoai(), c, "{\"input\":\"a\"}", false, true);
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer entra-1");
    ck_assert_ptr_null(tx_header(&b.h, "api-key"));
    tx_built_free(&b);
    prov_confs_free(pc);
    /* The variable alone makes the provider usable (no key needed). */
    setenv("AZURE_OPENAI_AD_TOKEN", "entra-env", 1);
    setenv("AZURE_OPENAI_ENDPOINT", RES, 1);
    pc = tx_confs(NULL);
    c = tx_conf(pc, "azureopenai");
    ck_assert(c->usable);
    tx_build(&b, aoai(), c, "{" USER_HI "}", false, false);
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer entra-env");
    tx_built_free(&b);
    prov_confs_free(pc);
    az_env_clear();
}
END_TEST

/* No base URL, an api_version that cannot go into a URL: -1 naming the setting. */
START_TEST(settings_refused)
{
    struct prov_confs *pc;
    struct tx_built b;

    az_env_clear();
    pc = tx_confs("{\"azureopenai\":{\"api_key\":\"k\"},\"azure\":{\"api_key\":\"k\","
                  "\"api_base\":\"https://x.services.ai.azure.com/models\","
                  "\"api_version\":\"2024&x=1\"}}");
    tx_build(&b, aoai(), tx_conf(pc, "azureopenai"), "{" USER_HI "}", false, false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "AZURE_OPENAI_ENDPOINT"));
    tx_built_free(&b);
    ck_assert_ptr_nonnull(tx_conf(pc, "azure")->problem);
    ck_assert_ptr_nonnull(strstr(tx_conf(pc, "azure")->problem, "api_version"));
    tx_build(&b, azi(), tx_conf(pc, "azure"), "{" USER_HI "}", false, false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "api_version"));
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

#define AZI "https://x.services.ai.azure.com/models"

/* azure: both credentials, the default version, extra-parameters only for unknown members. */
START_TEST(azure_inference)
{
    struct prov_confs *pc;
    const struct prov_conf *c;
    struct tx_built b;

    az_env_clear();
    pc = tx_confs("{\"azure\":{\"api_key\":\"ak\",\"api_base\":\"" AZI "/\",\"seed\":3}}");
    c = tx_conf(pc, "azure");
    tx_build(&b, azi(), c, "{" USER_HI ",\"temperature\":0.1}", false, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, AZI "/chat/completions?api-version=2024-05-01-preview");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer ak");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "ak");
    ck_assert_ptr_null(tx_header(&b.h, "extra-parameters"));
    tx_body_is(&b, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                   "\"temperature\":0.1,\"seed\":3}");
    tx_built_free(&b);
    /* A member outside §4's list: forwarded, with pass-through. */
    tx_build(&b, azi(), c, "{" USER_HI ",\"max_completion_tokens\":5,\"user\":\"u\"}", false,
             false);
    ck_assert_str_eq(tx_header(&b.h, "extra-parameters"), "pass-through");
    ck_assert_int_eq(json_integer_value(json_object_get(b.body, "max_completion_tokens")), 5);
    tx_built_free(&b);
    /* Streams: stream_options is outside the schema and never sent; the client's wish kept. */
    tx_build(&b, azi(), c,
             "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}", true,
             false);
    ck_assert(b.client_usage);
    ck_assert_ptr_null(json_object_get(b.body, "stream_options"));
    ck_assert_ptr_null(tx_header(&b.h, "extra-parameters"));
    ck_assert_str_eq(tx_header(&b.h, "Accept"), "text/event-stream");
    tx_built_free(&b);
    tx_build(&b, azi(), c, "{" USER_HI ",\"stream\":true}", true, false);
    ck_assert(!b.client_usage);
    ck_assert_ptr_null(json_object_get(b.body, "stream_options"));
    tx_built_free(&b);
    tx_build(&b, azi(), c, "{\"input\":[\"a\",\"b\"],\"encoding_format\":\"float\"}", false, true);
    ck_assert_str_eq(b.h.url, AZI "/embeddings?api-version=2024-05-01-preview");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer ak");
    ck_assert_str_eq(tx_header(&b.h, "api-key"), "ak");
    tx_built_free(&b);
    prov_confs_free(pc);
    /* api_version overrides (client_args too); it is never a request field. */
    pc = tx_confs("{\"azure\":{\"api_key\":\"ak\",\"api_base\":\"" AZI "\","
                  "\"client_args\":{\"api_version\":\"2024-08-01-preview\"}}}");
    tx_build(&b, azi(), tx_conf(pc, "azure"), "{" USER_HI "}", false, false);
    ck_assert_str_eq(b.h.url, AZI "/chat/completions?api-version=2024-08-01-preview");
    ck_assert_ptr_null(json_object_get(b.body, "api_version"));
    ck_assert_ptr_null(tx_header(&b.h, "extra-parameters"));
    tx_built_free(&b);
    prov_confs_free(pc);
    pc = tx_confs("{\"azure\":{\"api_key\":\"ak\",\"api_base\":\"" AZI "\","
                  "\"api_version\":\"2024-08-01-preview\"}}");
    tx_build(&b, azi(), tx_conf(pc, "azure"), "{" USER_HI "}", false, false);
    ck_assert_str_eq(b.h.url, AZI "/chat/completions?api-version=2024-08-01-preview");
    ck_assert_ptr_null(json_object_get(b.body, "api_version"));
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

/* ---- Replies, streams, errors (§15) ---- */

#define D(json) "data: " json "\n\n"
#define FILTER_CHUNK                                                                               \
    "{\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],"                    \
    "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{"        \
    "\"filtered\":false,\"severity\":\"safe\"}}}]}"
#define AZ_CHUNK(delta, finish)                                                                    \
    "{\"id\":\"chatcmpl-az1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"       \
    "\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish           \
    ",\"content_filter_results\":{}}]}"
#define USAGE_CHUNK                                                                                \
    "{\"id\":\"chatcmpl-az1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"       \
    "\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"            \
    "\"total_tokens\":11}}"

static const char az_stream[] =
    D(FILTER_CHUNK) D(AZ_CHUNK("{\"role\":\"assistant\",\"content\":\"Hel\"}", "null"))
        D(AZ_CHUNK("{\"content\":\"lo\"}", "null")) D(AZ_CHUNK("{}", "\"stop\""))
            D(USAGE_CHUNK) "data: [DONE]\n\n";

/* The chunks as tx_emit logs them (created zeroed). */
static char *az_logged(const char *chunk)
{
    static char buf[1024];
    const char *p = strstr(chunk, "\"created\":1");

    snprintf(buf, sizeof(buf), "-|%.*s\"created\":0%s\n", (int)(p - chunk), chunk, p + 11);
    return buf;
}

START_TEST(stream_fixture)
{
    static struct tx_run r;
    char want[4096];

    for (int cu = 0; cu < 2; cu++) {
        tx_run_everywhere(&r, aoai(), az_stream, cu == 1);
        /* The prompt-filter chunk is not relayed; the text chunks are, byte for byte. */
        want[0] = '\0';
        strcat(want, az_logged(AZ_CHUNK("{\"role\":\"assistant\",\"content\":\"Hel\"}", "null")));
        strcat(want, az_logged(AZ_CHUNK("{\"content\":\"lo\"}", "null")));
        strcat(want, az_logged(AZ_CHUNK("{}", "\"stop\"")));
        if (cu == 1)
            strcat(want, az_logged(USAGE_CHUNK));
        ck_assert_str_eq(r.k.log, want);
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 9);
        ck_assert_int_eq(r.s.usage.completion_tokens, 2);
        ck_assert_int_eq(r.s.usage.total_tokens, 11);
        ck_assert_uint_eq(r.s.gen_bytes, 5);
    }
    /* The same for azure; a filter chunk alone bills nothing. */
    tx_run_everywhere(&r, azi(), D(FILTER_CHUNK) "data: [DONE]\n\n", false);
    ck_assert_str_eq(r.k.log, "");
    ck_assert(r.s.done);
    ck_assert(!r.s.usage.seen);
    ck_assert_uint_eq(r.s.gen_bytes, 0);
}
END_TEST

/* content_filter finishes are relayed; a choices:[] chunk with usage still bills. */
START_TEST(stream_content_filter)
{
    static struct tx_run r;
    static const char s[] =
        D(FILTER_CHUNK) D(AZ_CHUNK("{\"role\":\"assistant\",\"content\":\"Hel\"}", "null"))
            D("{\"id\":\"chatcmpl-az1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
              "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
              "\"content_filter\",\"content_filter_results\":{\"violence\":{\"filtered\":true,"
              "\"severity\":\"high\"}}}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,"
              "\"total_tokens\":10}}") "data: [DONE]\n\n";

    tx_run_everywhere(&r, azi(), s, false);
    ck_assert_ptr_nonnull(strstr(r.k.log, "\"finish_reason\":\"content_filter\""));
    ck_assert_ptr_null(strstr(r.k.log, "prompt_filter_results"));
    ck_assert_int_eq(r.k.n, 2);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 9);
    ck_assert_int_eq(r.s.usage.completion_tokens, 1);
    /* A usage chunk that also names prompt_filter_results is a usage chunk. */
    tx_run_everywhere(&r, azi(),
                      D("{\"id\":\"x\",\"choices\":[],\"prompt_filter_results\":[],\"usage\":{"
                        "\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}"),
                      true);
    ck_assert_int_eq(r.k.n, 1);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 4);
}
END_TEST

START_TEST(reply_and_errors)
{
    static const char reply[] =
        "{\"id\":\"chatcmpl-az1\",\"object\":\"chat.completion\",\"created\":1,\"model\":"
        "\"gpt-4o\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}],"
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
        "\"finish_reason\":\"stop\",\"content_filter_results\":{}}],\"usage\":{\"prompt_tokens\":"
        "9,\"completion_tokens\":3,\"total_tokens\":12}}";
    struct prov_usage u;
    size_t gen = 0, out_len = 1;
    char msg[256], code[64], *out = (char *)1;

    /* Relayed as is (out NULL), read for usage and text. */
    ck_assert_int_eq(aoai()->chat_reply(reply, strlen(reply), &u, &gen, &out, &out_len), 0);
    ck_assert_ptr_null(out);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 9);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_uint_eq(gen, 5);
    tx_error(azi(),
             "{\"error\":{\"code\":\"content_filter\",\"message\":\"The response was filtered "
             "due to the prompt triggering Azure OpenAI's content management policy.\","
             "\"param\":\"prompt\",\"status\":400,\"innererror\":{\"code\":"
             "\"ResponsibleAIPolicyViolation\"}}}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(code, "content_filter");
    ck_assert_ptr_nonnull(strstr(msg, "content management policy"));
    tx_error(aoai(),
             "{\"error\":{\"code\":\"DeploymentNotFound\",\"message\":\"The API deployment for "
             "this resource does not exist.\"}}",
             msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(code, "DeploymentNotFound");
    ck_assert_str_eq(msg, "The API deployment for this resource does not exist.");
}
END_TEST

Suite *azure_suite(void)
{
    Suite *s = suite_create("azure");
    TCase *tc = tcase_create("azure");

    tcase_add_test(tc, tables);
    tcase_add_test(tc, aoai_dated_version);
    tcase_add_test(tc, aoai_v1_path);
    tcase_add_test(tc, aoai_entra_token);
    tcase_add_test(tc, settings_refused);
    tcase_add_test(tc, azure_inference);
    tcase_add_test(tc, stream_fixture);
    tcase_add_test(tc, stream_content_filter);
    tcase_add_test(tc, reply_and_errors);
    suite_add_tcase(s, tc);
    return s;
}
