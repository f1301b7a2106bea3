/*
 * Credential extraction and checks (spec §2.1-§2.3, DESIGN.md §2.8): header precedence
 * AnyLLM-Key > X-AnyLLM-Key > Authorization ("Bearer <token>") > x-api-key (raw token), and the
 * constant-time master-key check. Failures are answered here with the reference's messages.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>

#include "acct/acct_index.h"

struct evkeyvalq;
struct gw_app;
struct gw_req;

/* The credential headers, in precedence order (DESIGN.md §2.8). */
#define GW_AUTH_NHEADERS 4
extern const char *const gw_auth_headers[GW_AUTH_NHEADERS];

/* What a route asks of its caller. */
enum gw_auth_need {
    GW_AUTH_NONE,   /* public */
    GW_AUTH_MASTER, /* the master key (gw_auth_master) */
    GW_AUTH_KEY,    /* the master key or a virtual key (gw_auth_caller) */
};

/*
 * The caller's token from the values of the gw_auth_headers (vals[i]: the first value of
 * gw_auth_headers[i] as evhttp stores it, or NULL). Returns the token (borrowed from vals), or
 * NULL with *err set to the reference's 401 message.
 */
const char *gw_auth_pick(const char *const vals[GW_AUTH_NHEADERS], const char **err);

/*
 * The early check of DESIGN.md §2.14 on the credential header values (as gw_auth_pick), without
 * recording any use: 0 when the credential may pass need (checked again by the handler), 401
 * when it never can (no or malformed credential, not the master key on a master route, neither
 * the master key nor a known, active, unexpired virtual key on a key route), 503 for a master
 * route when no master key is configured. Never blocks (the key index is in memory).
 */
int gw_auth_early(const struct gw_app *app, enum gw_auth_need need,
                  const char *const vals[GW_AUTH_NHEADERS]);

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
