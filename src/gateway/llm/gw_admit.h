/*
 * The admission step shared by every LLM endpoint (DESIGN.md §3): the caller (master or virtual
 * key), the billed user, the provider and model, the price, and the budget reservation. The
 * steps return a status and a message instead of replying, so each endpoint answers in its own
 * shape (gw_admit_reply() through gw_reply_error(), which knows the request's error shape).
 */
#ifndef GW_ADMIT_H
#define GW_ADMIT_H

#include <stdbool.h>

#include <jansson.h>

#include "acct/acct_budget.h"
#include "acct/acct_index.h"
#include "gateway/http/gw_auth.h"
#include "providers/prov_conf.h"
#include "providers/prov_registry.h"

struct gw_req;

#define GW_ADMIT_MAX_MODEL 256 /* bytes of "provider:model" */

/* Why a request was not admitted. */
struct gw_fail {
    int status;
    const char *code; /* static string */
    char msg[512];
    int retry_after; /* > 0: answer with Retry-After: this many seconds */
};

/* The X-RateLimit-* headers of a success (spec §8.1: the user's rate_limit_rpm). */
struct gw_rate_hdr {
    int64_t limit; /* 0: rate limiting off, no headers */
    int64_t remaining;
    int64_t reset; /* Unix seconds */
};

/* Adds the X-RateLimit-* headers of h to r's reply (nothing when h->limit is 0). */
void gw_rate_hdr_add(struct gw_req *r, const struct gw_rate_hdr *h);

/* One admitted (or refused) LLM request. Zero it, then gw_admit_caller(). */
struct gw_admit {
    struct gw_caller caller;
    bool have_caller;
    const char *user; /* the billed user (borrowed: the request body or the caller's key) */
    const struct prov_info *info;
    const struct prov_conf *conf;
    const char *model; /* the model name after "provider:" (borrowed from the model string) */
    bool priced;
    struct gw_price price;
    struct acct_budget_est est;
    double reserve; /* reserved on the user's budget; settled by the call or gw_admit_abort() */
    bool reserved;
    struct gw_rate_hdr rate_hdr; /* the user's rate limit, for the success headers */
    bool key_tpm;                /* the key has a tpm_limit: its tokens are counted */
    int64_t key_tokens;          /* tokens reserved on the key's window (settled by the call) */
    int64_t key_second;          /* the second they were reserved in */
};

/*
 * Step 1, before the body is looked at beyond its JSON: the caller. Replies 401 itself (in the
 * request's error shape) and returns false when there is none.
 */
bool gw_admit_caller(struct gw_req *r, struct gw_admit *a);

/*
 * Step 2: the billed user (DESIGN.md §2.10: the master key names it in user_field, a key that
 * belongs to a user always bills that user, a key without one takes user_field), the model
 * (model_str "provider:model"), its price, the budget admission with a reservation estimated
 * from the pivot chat body est_body (NULL: the endpoint filled a->est itself), then whether the
 * provider is usable. The rate limits (the user's rate_limit_rpm, then the key's rpm_limit and
 * tpm_limit) are checked after the user is known and before the budget (spec §8.1): 429 with
 * Retry-After. Budget comes before
 * model errors, as in the reference. user_name is the field's name for the master-key message
 * ("'user' field", "'metadata.user_id'"). Returns true, or false with *f filled and nothing
 * reserved.
 */
bool gw_admit_run(struct gw_req *r, struct gw_admit *a, const char *model_str,
                  const char *user_field, const char *user_name, const json_t *est_body,
                  struct gw_fail *f);

/* Gives the reservation back (the request ends before its call started). */
void gw_admit_abort(struct gw_req *r, struct gw_admit *a);

/* Releases what gw_admit_caller() took. Safe on a zeroed struct. */
void gw_admit_release(struct gw_admit *a);

/* Answers r with f (Retry-After when asked). */
void gw_admit_reply(struct gw_req *r, const struct gw_fail *f);

/* Fills f; returns false (for "return gw_fail_set(...)"). */
bool gw_fail_set(struct gw_fail *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
