/*
 * The official SDKs in the end-to-end tests: runs a script of tests/sdk (Node, with the SDKs
 * installed into tests/npm by scripts/sdk-deps.sh) against the gateway of t_api and returns the
 * one JSON object it printed.
 */
#ifndef T_SDK_H
#define T_SDK_H

#include <jansson.h>

/* Fails the test, with the fix, when node or the installed SDKs are missing. */
void t_sdk_need(void);

/*
 * Runs `node tests/sdk/<name> <kase> [arg]` with GW_BASE_URL = the gateway + url_path, GW_KEY =
 * key, and env (NULL, or NAME, value pairs ending with NULL); asserts it exits 0 within 20 s and
 * printed one JSON object, which it returns (owned). stderr is quoted on failure.
 */
json_t *t_sdk_run(const char *name, const char *kase, const char *arg, const char *url_path,
                  const char *key, const char *const *env);

/*
 * The same for any node script, named from the repository root (e.g. "tests/ui/dashboard.mjs"),
 * with a time limit of timeout_s seconds (multiplied by CK_TIMEOUT_MULTIPLIER when set).
 */
json_t *t_node_run(const char *script, const char *kase, const char *arg, const char *url_path,
                   const char *key, const char *const *env, int timeout_s);

#endif
