/*
 * Budget admission (spec §4 with DESIGN.md §2.5): the pure decision over one user's in-memory
 * state. Requests are admitted concurrently; each admitted request holds a reservation (an
 * estimate of its cost) until it is settled to its real cost, and a request is refused when the
 * spend plus the reservations of requests in flight reaches the limit. So N parallel requests
 * against a nearly spent budget overshoot by at most about one request's cost, and serial
 * requests see exactly the reference's rule (spend >= max_budget -> 403).
 */
#ifndef ACCT_BUDGET_H
#define ACCT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "acct/acct_index.h"

/*
 * Longest budget period accepted (100 years of 365.25 days, in seconds). budgets.
 * budget_duration_sec is checked against it (1 .. this, else 422), and every next-reset time is
 * computed with at most this, so a timestamp plus a duration never overflows 64 bits.
 */
#define ACCT_BUDGET_MAX_DURATION_SEC INT64_C(3155760000)

/*
 * The next reset of a period of duration_sec starting at now_us: 0 (none) when duration_sec
 * <= 0, else now_us plus the duration clamped to ACCT_BUDGET_MAX_DURATION_SEC (a longer value can
 * only come from a row written outside the API). Never overflows.
 */
int64_t acct_budget_next_reset_us(int64_t now_us, int64_t duration_sec);

/* Output tokens reserved for a request that sets neither max_tokens nor max_completion_tokens. */
#define ACCT_BUDGET_DEFAULT_OUTPUT_TOKENS 1024

/*
 * Decides on one request of user u (updated in place) under budget b (NULL when the user has no
 * budget or it no longer exists) at wall-clock now_us, in the order of spec §4.2: deleted ->
 * NO_USER; blocked -> BLOCKED; lazy reset when next_reset_us is due (spend 0, period re-anchored
 * at now, at most one reset, described in *reset); then, when b has a max_budget and
 * spend + u->reserved >= max_budget, EXCEEDED unless free_model. On OK, reserve (>= 0) is added
 * to u->reserved. reset may not be NULL; reset->happened is false when none happened.
 */
enum acct_budget_verdict acct_budget_admit(struct gw_user_state *u,
                                           const struct acct_budget_state *b, int64_t now_us,
                                           double reserve, bool free_model,
                                           struct acct_budget_reset *reset);

/*
 * True when admitting a request of u under b is a spending decision that needs the shared
 * spend in the database: an active, unblocked user whose budget has a max_budget, on a model
 * that is not free. While the database is away such requests fail closed (a replica cannot
 * see the others' spend, nor record a reset); deleted or blocked users and unlimited budgets
 * are decided from memory.
 */
bool acct_budget_needs_store(const struct gw_user_state *u, const struct acct_budget_state *b,
                             bool free_model);

/* Ends a request: releases its reservation (never below 0) and adds its cost (>= 0) to spend. */
void acct_budget_settle(struct gw_user_state *u, double reserve, double cost);

/* Prompt tokens counted for each image part of a request (a large image on the main APIs). */
#define ACCT_BUDGET_IMAGE_TOKENS 1600

/* What a chat request may cost, read from its body (acct_budget_estimate()). */
struct acct_budget_est {
    size_t message_bytes; /* text of the messages (prov_usage_prompt_bytes()) */
    size_t prompt_bytes;  /* message_bytes plus the JSON of tools / functions */
    long images;          /* image parts in the messages */
    long max_output;      /* max_completion_tokens, else max_tokens; <= 0: not set */
    long n;               /* choices asked for; <= 0: 1 */
    bool no_output;       /* nothing is generated (embeddings): no output tokens reserved */
};

/*
 * Fills e from a chat request body (borrowed; anything missing or of the wrong type counts as
 * absent): the prompt bytes of "messages" (prov_usage_prompt_bytes()) plus the compact JSON
 * bytes of "tools" and "functions", the image parts ("image_url", "input_image", "image") in
 * the messages' content arrays, max_completion_tokens / max_tokens and n.
 */
void acct_budget_estimate(const json_t *body, struct acct_budget_est *e);

/*
 * The reservation for a request (DESIGN.md §2.5): prompt tokens (prompt_bytes / 4 rounded up,
 * plus ACCT_BUDGET_IMAGE_TOKENS per image) at the input price, plus output tokens at the output
 * price: max_output (ACCT_BUDGET_DEFAULT_OUTPUT_TOKENS when not set) raised to min_output (the
 * budget_min_reservation_tokens floor: a client's small max_tokens is not trusted, a provider
 * may overrun it), times n. 0 when p is NULL (unpriced requests cost nothing).
 */
double acct_budget_reserve(const struct gw_price *p, const struct acct_budget_est *e,
                           long min_output);

#endif
