/*
 * Embeddings, with the OpenAI embeddings shapes as the pivot (providers.md §13): the OpenAI-wire
 * request and reply, helpers every dialect uses to read the pivot request and write the pivot
 * reply, and the client shapes that answer in the encoding the client asked for (float arrays,
 * or base64 of little-endian float32, which the official OpenAI SDKs ask for by default).
 */
#ifndef PROV_EMBED_H
#define PROV_EMBED_H

#include <stddef.h>

#include <jansson.h>

#include "providers/prov_dialect.h"
#include "providers/prov_shape.h"

/* The OpenAI-wire embeddings call: {base}/embeddings, the request without "user". */
int prov_openai_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                            struct prov_http *out, char *err, size_t errlen);

/* The body of that call alone into out->body (owned). Returns 0 or -1 (out of memory, in err). */
int prov_openai_embed_body(const struct prov_chat_in *in, struct prov_http *out, char *err,
                           size_t errlen);

/* An OpenAI embeddings reply: usage read (prompt_tokens), *out NULL (relayed). */
int prov_openai_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                            size_t *out_len);

/*
 * The texts of a pivot request's "input" (a string, or an array of strings) as a new array of
 * strings, or NULL with a one-line reason in err (token arrays, other types: a dialect without
 * token input answers 400 with it).
 */
json_t *prov_embed_texts(const json_t *req, char *err, size_t errlen);

/*
 * A pivot reply from vectors (an array with one array of numbers per input, in input order;
 * reference stolen), the model name and the prompt tokens (< 0: not reported, no usage object).
 * When the tokens are reported, *u (may be NULL) gets them as prompt and total, seen. Returns
 * the owned JSON text (length in *len), or NULL when out of memory.
 */
char *prov_embed_reply_new(json_t *vectors, const char *model, long prompt_tokens,
                           struct prov_usage *u, size_t *len);

/* Replies: float vectors as asked (relayed), or converted to base64 when the client asked. */
extern const struct prov_shape_ops prov_shape_embed_float;
extern const struct prov_shape_ops prov_shape_embed_base64;

#endif
