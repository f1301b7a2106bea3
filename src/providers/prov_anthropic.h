/*
 * The Anthropic Messages API dialects (prov_anthropic.c): prov_dialect_anthropic translates the
 * pivot (OpenAI chat) to the Messages API and its replies and events back;
 * prov_dialect_anthropic_native relays a client's own Messages request and events (for
 * /v1/messages). This header holds the per-stream state both keep inside struct prov_stream, and
 * the request translation the pivot table uses (prov_anthropic_req.c).
 */
#ifndef PROV_ANTHROPIC_H
#define PROV_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROV_ANTH_MAX_BLOCKS 256 /* content blocks of one streamed message that are tracked */
#define PROV_ANTH_DEFAULT_MAX_TOKENS                                                               \
    8192                               /* max_tokens when neither the request nor config sets it */
#define PROV_ANTH_VERSION "2023-06-01" /* the anthropic-version header sent by default */
#define PROV_ANTH_VERTEX_VERSION "vertex-2023-10-16" /* Vertex AI: the body's anthropic_version */

struct prov_anth_stream {
    char id[96];     /* the message id, reused by every chunk */
    char model[160]; /* the model the provider names in message_start */
    int64_t created; /* unix seconds, one value for the whole stream */
    bool started;    /* message_start was seen (the role chunk is out) */
    bool finished;   /* the finish chunk is out */
    int ntools;      /* tool_use blocks opened so far: the next OpenAI tool-call index */
    short tool_of_block[PROV_ANTH_MAX_BLOCKS]; /* block index -> tool-call index + 1, 0 = none */
    long input_tokens, output_tokens, cache_read, cache_write; /* as reported so far */
};

/*
 * Translates a pivot request (OpenAI chat, borrowed; config fields already merged in) into a new
 * Anthropic Messages request for model per providers.md §2.2. Fields Anthropic has no use for
 * (n, seed, penalties, logprobs, logit_bias, stream_options, OpenAI metadata, ...) are dropped.
 * Returns 0 with *out owned (json_decref), PROV_E_REQUEST (-2) with a one-line reason in err when
 * the request cannot be expressed (unparsable tool arguments, json_object response format, an
 * unknown part type, ...), or -1 when memory ran out.
 */
int prov_anth_request(const json_t *req, const char *model, bool stream, json_t **out, char *err,
                      size_t errlen);

struct prov_conf;
struct prov_http;

/*
 * Vertex AI (vertexaianthropic, prov_anthropic_vertex.c): body drops "model" and gains
 * "anthropic_version" (unless it has one). Returns 0, or -1 with a reason (out of memory).
 */
int prov_anth_vertex_body(json_t *body, char *err, size_t errlen);

/*
 * Vertex AI: sets out->url to {vertex base}/publishers/anthropic/models/{model}:rawPredict
 * (:streamRawPredict when stream), after checking there is an access token (bearer; the caller
 * sends it with prov_http_std()). Returns 0, or -1 with a reason naming the setting (no project,
 * no access token) or out of memory.
 */
int prov_anth_vertex_http(const struct prov_conf *pc, const char *model, bool stream,
                          const char *bearer, struct prov_http *out, char *err, size_t errlen);

#endif
