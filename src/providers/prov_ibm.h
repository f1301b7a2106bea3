/*
 * IBM Cloud IAM (providers.md §11): the API-key grant's form body and the token endpoint's reply,
 * for watsonx. Pure functions (no sockets); the asynchronous fetch and the cache are
 * prov_token.c's. No key or token ever reaches an error message.
 */
#ifndef PROV_IBM_H
#define PROV_IBM_H

#include <stddef.h>
#include <stdint.h>

#define PROV_IBM_DEFAULT_TTL 3600L /* seconds, when the reply gives neither expiry */

/*
 * The token request's form body: "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&
 * apikey=<apikey, form-encoded>". Owned; NULL when out of memory.
 */
char *prov_ibm_token_form(const char *apikey);

/*
 * Reads the IAM reply (status, body) at unix time now. Returns 0 with *token (owned) and *ttl
 * (seconds the token may be used from now, > 0): the reply's "expiration" (unix time) minus now
 * when given, else "expires_in", capped by expires_in when both are; or -1 with a one-line reason
 * in err: IBM's {"errorCode","errorMessage"} ("the IAM endpoint answered HTTP 400: BXNIM0415E:
 * Provided API key could not be found."), or a malformed reply.
 */
int prov_ibm_token_reply(int status, const char *body, size_t len, int64_t now, char **token,
                         long *ttl, char *err, size_t errlen);

#endif
