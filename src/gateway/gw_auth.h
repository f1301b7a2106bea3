/*
 * Credential extraction and checks (spec §2.1-§2.3, DESIGN.md §2.8): header precedence
 * AnyLLM-Key > X-AnyLLM-Key > Authorization ("Bearer <token>") > x-api-key (raw token), and the
 * constant-time master-key check. Failures are answered here with the reference's messages.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>

struct evkeyvalq;
struct gw_req;

/*
 * Finds the caller's token in the request headers. Returns the token (borrowed from the
 * headers), or NULL with *err set to the reference's 401 message.
 */
const char *gw_auth_token(const struct evkeyvalq *headers, const char **err);

/*
 * For master-key-only endpoints: true when the request carries the configured master key.
 * Otherwise replies (503 when no master key is configured, 401 otherwise), ending r, and
 * returns false.
 */
bool gw_auth_master(struct gw_req *r);

/* True when token equals the configured master key (constant time); false when none is set. */
bool gw_auth_is_master(const struct gw_req *r, const char *token);

#endif
