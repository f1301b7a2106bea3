/*
 * Shared set-up of the LLM end-to-end suites: the fake provider (t_fake.h) and a gateway whose
 * "openai" provider points at it, plus keys for test users.
 */
#ifndef T_LLM_H
#define T_LLM_H

#include <stddef.h>

#include <jansson.h>

#include "t_api.h"
#include "t_fake.h"

/* The provider key the gateway sends to the fake (it must never reach a client or a log). */
#define T_PROVIDER_KEY "sk-fake-provider-key-123"

extern struct t_fake t_llm_fake;

/*
 * Fixture half: starts the fake, then t_api with the master key, no bootstrap key,
 * providers.openai = {api_key: T_PROVIDER_KEY, api_base: the fake}, then providers_extra (more
 * provider sections, indented by two spaces; may be "") and extra (top-level keys; may be "").
 * Either may contain one "%d", replaced by the fake's port.
 */
void t_llm_up(const char *providers_extra, const char *extra);

/* The same with extra command-line arguments for the gateway (NULL-terminated, may be NULL). */
void t_llm_up_args(const char *providers_extra, const char *extra, const char *const *args);

/* Stops the gateway (also one a test already stopped) and the fake. */
void t_llm_down(void);

/* A second replica, B, started by t_llm_up_replica() on t_api's database (PostgreSQL runs). */
extern struct t_gw t_llm_replica;

/*
 * Fixture half for two replicas: t_llm_up("", extra), then replica B (t_llm_replica) on the same
 * database with the same master key and openai section, no bootstrap key, and extra.
 */
void t_llm_up_replica(const char *extra);

/* Stops replica B (when it started) and what t_llm_up() started. */
void t_llm_down_replica(void);

/* Fails the test when replica B did not start. */
void t_llm_need_replica(void);

/* Fails the test when the fixture could not start the fake or the gateway. */
void t_llm_need(void);

/* Creates a key for user (which must exist); returns the gw- key (owned) and its id in id. */
char *t_llm_key(const char *user, char *id, size_t idlen);

/* Creates user (no budget) and a key for it; returns the gw- key (owned). */
char *t_llm_user_key(const char *user);

/* The OpenAI SDK script's case kase (tests/sdk/openai_chat.mjs) with GW_MODEL = model. */
json_t *t_llm_sdk(const char *kase, const char *model, const char *key);

/* The integer member k of o (the test fails when it is not one). */
long t_llm_int(json_t *o, const char *k);

/*
 * Through one provider with the OpenAI SDK, as user (created here): chat with chat_model (NULL:
 * none) must answer hello with usage p/c, stream_usage "Hello" with usage sp/sc; then embeddings
 * of embed_model in base64 and float, whose vectors must be the fakes' [0.5 + i, -1, 0.25] and
 * whose reply names the model; the usage rows are waited for.
 */
void t_llm_sdk_provider(const char *user, const char *chat_model, const char *hello, long p, long c,
                        long sp, long sc, const char *embed_model);

#endif
