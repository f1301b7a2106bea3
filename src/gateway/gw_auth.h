/*
 * Credential extraction and checks (spec §2.1-§2.3, DESIGN.md §2.8): header precedence
 * AnyLLM-Key > X-AnyLLM-Key > Authorization ("Bearer <token>") > x-api-key (raw token), and the
 * constant-time master-key check. Failures are answered here with the reference's messages.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>

#include "gateway/gw_index.h"

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

/* Who is calling a key-or-master endpoint. */
struct gw_caller {
    bool master;           /* the master key: no key object */
    struct gw_key_ref key; /* when !master */
};

/*
 * For key-or-master endpoints (spec §2.3): true with *c filled when the request carries the
 * master key or a valid, active, unexpired virtual key (looked up in memory, last use recorded
 * for the batched last_used_at write); release c->key with gw_key_ref_clear(). Otherwise replies
 * 401 with the reference's message (500 when out of memory), ending r, and returns false with
 * nothing to release.
 */
bool gw_auth_caller(struct gw_req *r, struct gw_caller *c);

/* True when token equals the configured master key (constant time); false when none is set. */
bool gw_auth_is_master(const struct gw_req *r, const char *token);

#endif
