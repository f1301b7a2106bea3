/*
 * Shared set-up of the LLM end-to-end suites: the fake provider (t_fake.h) and a gateway whose
 * "openai" provider points at it, plus keys for test users.
 */
#ifndef T_LLM_H
#define T_LLM_H

#include <stddef.h>

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

/* Fails the test when the fixture could not start the fake or the gateway. */
void t_llm_need(void);

/* Creates a key for user (which must exist); returns the gw- key (owned) and its id in id. */
char *t_llm_key(const char *user, char *id, size_t idlen);

/* Creates user (no budget) and a key for it; returns the gw- key (owned). */
char *t_llm_user_key(const char *user);

#endif
