/*
 * Shared set-up of the LLM end-to-end suites (contract in t_llm.h).
 */
#include "t_llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
