/*
 * One upstream LLM call made for a client request, from the provider request to billing: sends
 * the dialect's request with the worker's HTTP client, relays the reply (JSON as received, or
 * SSE event by event with backpressure and heartbeats), maps upstream failures to client errors
 * (DESIGN.md §2.3), writes the usage row and settles the budget reservation whatever happens
 * (success, provider error, timeout, client gone).
 */
#ifndef GW_CALL_H
#define GW_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "acct/acct_index.h"
#include "gateway/llm/gw_admit.h"
#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_shape.h"

struct gw_req;

/* Everything a call needs; strings are copied by gw_call_start(). */
struct gw_call_spec {
    const struct prov_conf *conf;
    const struct prov_dialect_ops *dialect;
    const struct prov_shape_ops *shape; /* the client's wire format; NULL: OpenAI chat */
    const char *anthropic_version;      /* client headers a native table forwards (or NULL) */
    const char *anthropic_beta;
    const char *provider; /* provider id */
    const char *model;    /* model name without the provider */
    const char *endpoint; /* route path, for the usage log */
    const char *user_id;  /* billed user */
    const char *key_id;   /* NULL: the master key */
    json_t *body;         /* the client's request (borrowed; the dialect may modify it) */
    const char *raw;      /* its bytes when body is exactly their parse, else NULL (borrowed) */
    size_t raw_len;
    bool stream;
    bool embed;                  /* an embeddings call: the dialect's embed_build / embed_reply */
    size_t prompt_bytes;         /* for an estimate when the provider reports no usage */
    bool priced;                 /* price known: cost = tokens x price */
    struct gw_price price;       /* when priced */
    double reserve;              /* the budget reservation already taken for this request */
    struct gw_rate_hdr rate_hdr; /* X-RateLimit-* headers of a success (limit 0: none) */
    bool key_tpm;                /* the key's tokens are counted (it has a tpm_limit) */
    int64_t key_tokens;          /* tokens reserved on the key's window, settled at the end */
    int64_t key_second;          /* the second they were reserved in */
};

struct gw_admit;

/*
 * Fills the admission's part of spec (provider settings, names, user, key, price, reservation)
 * from an admitted request; the reservation now belongs to the call.
 */
void gw_call_spec_admitted(struct gw_call_spec *spec, struct gw_admit *a, const char *endpoint);

/*
 * Starts the call and takes over r: it is answered and ended exactly once, now (bad provider
 * settings) or later. The reservation is always settled.
 */
void gw_call_start(struct gw_req *r, const struct gw_call_spec *spec);

#endif
