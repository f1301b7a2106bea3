/*
 * Shared set-up of the LLM end-to-end suites (contract in t_llm.h).
 */
#include "t_llm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "t_sdk.h"

struct t_fake t_llm_fake;
static int t_llm_started;

void t_llm_up(const char *providers_extra, const char *extra)
{
    t_llm_up_args(providers_extra, extra, NULL);
}

void t_llm_up_args(const char *providers_extra, const char *extra, const char *const *args)
{
    char yaml[8192], pe[2048], ex[2048];

    t_llm_started = t_fake_start(&t_llm_fake) == 0;
    if (!t_llm_started) {
        fprintf(stderr, "the fake provider ($GW_FAKE) did not start\n");
        return;
    }
    /* The fragments are formats with at most one %d (the fake's port). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(pe, sizeof(pe), providers_extra, t_llm_fake.port);
    snprintf(ex, sizeof(ex), extra, t_llm_fake.port);
#pragma GCC diagnostic pop
    snprintf(yaml, sizeof(yaml),
             "master_key: " T_MASTER_KEY "\n"
             "bootstrap_api_key: false\n"
             "providers:\n"
             "  openai:\n"
             "    api_key: " T_PROVIDER_KEY "\n"
             "    api_base: http://127.0.0.1:%d/v1\n"
             "%s%s",
             t_llm_fake.port, pe, ex);
    t_api_started = t_gw_start(&t_api, yaml, args, NULL) == 0;
}

void t_llm_down(void)
{
    t_api_down();
    if (t_llm_started)
        t_fake_stop(&t_llm_fake);
    t_llm_started = 0;
}

struct t_gw t_llm_replica;
static int t_llm_replica_started;

void t_llm_up_replica(const char *extra)
{
    char yaml[1024];
    const char *args[] = {"--database-url", NULL, NULL};

    t_llm_replica_started = 0;
    t_llm_up("", extra);
    if (t_api_started != 1)
        return;
    snprintf(yaml, sizeof(yaml),
             "master_key: " T_MASTER_KEY "\nbootstrap_api_key: false\n%sproviders:\n"
             "  openai:\n    api_key: " T_PROVIDER_KEY "\n    api_base: http://127.0.0.1:%d/v1\n",
             extra, t_llm_fake.port);
    args[1] = t_api.db;
    t_llm_replica_started = t_gw_start(&t_llm_replica, yaml, args, NULL) == 0;
}

void t_llm_down_replica(void)
{
    if (t_llm_replica_started)
        t_gw_stop(&t_llm_replica, SIGTERM, 10000);
    t_llm_replica_started = 0;
    t_llm_down();
}

void t_llm_need_replica(void)
{
    t_llm_need();
    ck_assert_msg(t_llm_replica_started, "replica B did not start");
}

void t_llm_need(void)
{
    ck_assert_msg(t_llm_started, "the fake provider ($GW_FAKE) did not start");
    t_api_need();
}

/* {"user_id": user} as JSON text (owned), whatever the length of user. */
static char *t_llm_user_body(const char *user)
{
    json_t *o = json_pack("{s:s}", "user_id", user);
    char *body = json_dumps(o, 0);

    json_decref(o);
    ck_assert_ptr_nonnull(body);
    return body;
}

char *t_llm_key(const char *user, char *id, size_t idlen)
{
    char *body = t_llm_user_body(user);
    const char *key;
    json_t *j;
    char *out;

    j = t_call("POST", "/v1/keys", T_AUTH_JSON, body, 200);
    free(body);
    key = json_string_value(json_object_get(j, "key"));
    ck_assert_msg(key != NULL && strncmp(key, "gw-", 3) == 0, "no gw- key for %s", user);
    out = strdup(key);
    if (id != NULL)
        snprintf(id, idlen, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return out;
}

char *t_llm_user_key(const char *user)
{
    char *body = t_llm_user_body(user);

    json_decref(t_call("POST", "/v1/users", T_AUTH_JSON, body, 200));
    free(body);
    return t_llm_key(user, NULL, 0);
}

/* The OpenAI SDK script's case with GW_MODEL = model. */
json_t *t_llm_sdk(const char *kase, const char *model, const char *key)
{
    const char *env[] = {"GW_MODEL", model, NULL};

    return t_sdk_run("openai_chat.mjs", kase, NULL, "/v1", key, env);
}

long t_llm_int(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", k);
    return (long)json_integer_value(v);
}

/* chat, stream with usage, embeddings base64 and float through one provider. */
void t_llm_sdk_provider(const char *user, const char *chat_model, const char *hello, long p, long c,
                        long sp, long sc, const char *embed_model)
{
    char *key;
    json_t *j, *u;

    t_sdk_need();
    key = t_llm_user_key(user);
    if (chat_model != NULL) {
        j = t_llm_sdk("chat", chat_model, key);
        ck_assert_str_eq(json_string_value(json_object_get(j, "content")), hello);
        u = json_object_get(j, "usage");
        ck_assert_int_eq(t_llm_int(u, "prompt_tokens"), p);
        ck_assert_int_eq(t_llm_int(u, "completion_tokens"), c);
        json_decref(j);
        j = t_llm_sdk("stream_usage", chat_model, key);
        ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "Hello");
        u = json_object_get(j, "usage");
        ck_assert_int_eq(t_llm_int(u, "prompt_tokens"), sp);
        ck_assert_int_eq(t_llm_int(u, "completion_tokens"), sc);
        json_decref(j);
    }
    for (int b64 = 0; b64 < 2; b64++) {
        json_t *v0;
        j = t_llm_sdk(b64 ? "embed_base64" : "embed_float", embed_model, key);
        ck_assert_int_eq(t_llm_int(j, "count"), 2);
        v0 = json_object_get(j, "vector0");
        ck_assert_int_eq(json_array_size(v0), 3);
        /* The fakes' vectors are [0.5 + i, -1, 0.25]: exact in float32, either encoding. */
        ck_assert(json_number_value(json_array_get(v0, 0)) == 0.5);
        ck_assert(json_number_value(json_array_get(v0, 1)) == -1.0);
        ck_assert(json_number_value(json_array_get(json_object_get(j, "first"), 1)) == 1.5);
        /* The reply names the model, the provider's or else the request's. */
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                         strchr(embed_model, ':') + 1);
        json_decref(j);
    }
    t_wait_sql(chat_model != NULL ? "4|2|2" : "2|0|2",
               "SELECT count(*) || '|' || sum(CASE WHEN endpoint = '/v1/chat/completions' THEN 1 "
               "ELSE 0 END) || '|' || sum(CASE WHEN endpoint = '/v1/embeddings' AND "
               "completion_tokens = 0 THEN 1 ELSE 0 END) FROM usage_logs WHERE user_id = '%s'",
               user);
    free(key);
}
