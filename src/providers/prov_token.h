/*
 * Bearer tokens for providers whose credentials are exchanged for short-lived access tokens
 * (Google service accounts: an RS256-signed JWT exchanged at the key's token_uri; IBM IAM:
 * the watsonx API key exchanged at iam_url, prov_ibm.h). One cache per worker thread, so no
 * lock: a token per credential, fetched through the worker's HTTP client on its own event loop
 * (never blocking), refreshed ahead of expiry, one fetch in flight per credential with the
 * requests that need it queued behind it.
 * Tokens and keys never reach a log line or an error message.
 */
#ifndef PROV_TOKEN_H
#define PROV_TOKEN_H

#include <stdint.h>

#include "httpc.h"
#include "providers/prov_conf.h"

struct prov_tokens;
struct prov_token_wait;

/*
 * The outcome of a token request: token (borrowed for the call) and err NULL, or token NULL and
 * a one-line reason in err (e.g. "the token endpoint answered HTTP 400: invalid_grant"; no
 * secret in it).
 */
typedef void prov_token_fn(const char *token, const char *err, void *arg);

/* A cache using hc (the worker's client, on the worker's loop). NULL when out of memory. */
struct prov_tokens *prov_tokens_new(struct httpc *hc);

/*
 * Frees the cache. Fetches in flight are cancelled; their waiters' callbacks run with an error
 * ("shutting down") before this returns. Must run before hc is freed.
 */
void prov_tokens_free(struct prov_tokens *t);

/*
 * Asks for pc's token (pc->info->auth says which kind). When a token valid for at least
 * another minute is cached, fn runs before this returns, and NULL is returned. Otherwise a
 * fetch starts (or the one in flight is joined) and a wait handle is returned; fn runs later
 * from the event loop, exactly once, unless the wait is cancelled. When the fetch cannot even
 * start (no credentials, out of memory), fn runs with an error before this returns and NULL is
 * returned.
 */
struct prov_token_wait *prov_tokens_get(struct prov_tokens *t, const struct prov_conf *pc,
                                        prov_token_fn *fn, void *arg);

/* Cancels a wait: its callback will not run. The fetch goes on for the others. */
void prov_token_wait_cancel(struct prov_token_wait *w);

#endif
