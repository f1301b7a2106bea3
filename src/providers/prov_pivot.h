/*
 * Helpers of the translating dialects that write the pivot (OpenAI chat) shapes themselves
 * (Cohere, Ollama, Voyage): the upstream request line and body, the request fields every
 * provider reads the same way, and the chunks of a translated stream in the order of
 * providers.md §1.3, with one id and one created per stream (struct prov_xlate_stream).
 */
#ifndef PROV_PIVOT_H
#define PROV_PIVOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "providers/prov_dialect.h"

/* Where a request translation puts its one-line reason (the caller's err buffer). */
struct prov_pivot_req {
    char *err;
    size_t errlen;
};

/* Puts the reason into r->err; returns PROV_E_REQUEST (the client's fault, 400). */
__attribute__((format(printf, 2, 3))) int prov_pivot_bad(struct prov_pivot_req *r, const char *fmt,
                                                         ...);

/* Puts "out of memory" into r->err; returns -1. */
int prov_pivot_oom(struct prov_pivot_req *r);

/* Sets key to / appends v (stolen); -1 when v is NULL or out of memory (v is released). */
int prov_pivot_set(json_t *o, const char *key, json_t *v);
int prov_pivot_push(json_t *a, json_t *v);

/*
 * tools[i] (t) as a function tool: its function's name (a string), description and parameters
 * (borrowed, NULL when absent). Returns 0, or PROV_E_REQUEST in r->err when t is not a function
 * tool with a name or its parameters are neither absent, null nor an object.
 */
int prov_pivot_tool(struct prov_pivot_req *r, const json_t *t, size_t i, const json_t **name,
                    const json_t **desc, const json_t **params);

/*
 * A data URI "data:<type>;base64,<data>" at u: its type (*type_len bytes at *type, not
 * NUL-terminated) and payload (*b64). Returns 0; 1 when u is not a data URI; PROV_E_REQUEST with
 * "<where>: a data URI must be ..." in r->err when it is one without a type or base64 payload.
 */
int prov_pivot_data_uri(struct prov_pivot_req *r, const char *u, const char *where,
                        const char **type, size_t *type_len, const char **b64);

/*
 * The request line and headers: url = base + path (base gets "http://" when it has no scheme,
 * as OLLAMA_HOST may say "host:port"), Content-Type and Accept (accept may be NULL), the
 * provider's credential (prov_http_add_auth) and the custom headers. Returns 0, or -1 with the
 * reason in err (no base URL configured, out of memory).
 */
int prov_pivot_http(const struct prov_conf *pc, const char *path, const char *accept,
                    struct prov_http *out, char *err, size_t errlen);

/*
 * An embeddings call: body (stolen; NULL, or built false, means building it ran out of memory)
 * serialised and sent to base + path as JSON (prov_pivot_http). Returns 0 or -1 (reason in err).
 */
int prov_pivot_embed_send(const struct prov_conf *pc, const char *path, json_t *body, bool built,
                          struct prov_http *out, char *err, size_t errlen);

/* Serialises body (borrowed) into out->body. Returns 0 or -1 (out of memory, in err). */
int prov_pivot_body(struct prov_http *out, const json_t *body, char *err, size_t errlen);

/*
 * Adds the config's default request fields (pc->kwargs) the request does not set, except the
 * keys named in skip (NULL-terminated, may be NULL). Returns 0 or -1 (out of memory).
 */
int prov_pivot_kwargs(const struct prov_conf *pc, json_t *req, const char *const *skip);

/* Whether the client asked for the usage chunk (stream_options.include_usage). */
bool prov_pivot_client_usage(const json_t *req);

/*
 * The max tokens of a request: max_completion_tokens, else max_tokens (§1.4), borrowed, or NULL
 * when neither is set; PROV_E_REQUEST in *rc with the reason in err when it is not a positive
 * integer (*rc 0 otherwise).
 */
const json_t *prov_pivot_max_tokens(const json_t *req, int *rc, char *err, size_t errlen);

/*
 * "stop" as a new array of strings (a string becomes a one-item array), NULL in *out when not
 * set. Returns 0, PROV_E_REQUEST (not a string or array of strings) or -1 (out of memory).
 */
int prov_pivot_stop(const json_t *req, json_t **out, char *err, size_t errlen);

/*
 * The text of a content (a string, or parts whose "text" strings are joined with sep; other
 * parts are skipped) as a new string, or NULL when out of memory. NULL or null content gives "".
 */
json_t *prov_pivot_text(const json_t *content, const char *sep);

/*
 * The texts of an embeddings request (prov_embed_texts), new; NULL with *rc PROV_E_REQUEST (not
 * text) or -1 (out of memory) and the reason in err.
 */
json_t *prov_pivot_embed_texts(const json_t *req, int *rc, char *err, size_t errlen);

/*
 * The body {"<field>": text, "dimensions": D?} of a provider that embeds one text per call
 * (Bedrock Titan, SageMaker), new; NULL with *rc PROV_E_REQUEST (several inputs: "<who>
 * embeddings take one input per call", token arrays, dimensions not a positive integer) or -1
 * (out of memory) and the reason in err.
 */
json_t *prov_pivot_embed_one(const json_t *req, const char *field, const char *who, int *rc,
                             char *err, size_t errlen);

/* A random id "<prefix><24 hex digits>" into buf (a counter-based one if randomness fails). */
void prov_pivot_id(char *buf, size_t len, const char *prefix);

/* The OpenAI usage object of u (new), or NULL when out of memory. */
json_t *prov_pivot_usage_json(const struct prov_usage *u);

/* The same with prompt_tokens_details.cached_tokens = cached (new), or NULL (out of memory). */
json_t *prov_pivot_usage_json_cached(const struct prov_usage *u, long cached);

/*
 * A chat.completion text (owned, length in *len) from its parts: id (NULL: generated), model
 * (NULL: ""), created, the message (stolen), the finish reason, the usage (NULL or not seen:
 * none). NULL when out of memory.
 */
char *prov_pivot_reply(const char *id, const char *model, int64_t created, json_t *msg,
                       const char *finish, const struct prov_usage *u, size_t *len);

/*
 * The first chunk of a stream, once (role assistant, content ""): sets s->x.id (id, or a
 * generated one when NULL), s->x.model (NULL: "") and s->x.created (created, or now when 0).
 * Returns 0 or -1 (emit failed or out of memory).
 */
int prov_pivot_begin(struct prov_stream *s, const char *id, const char *model, int64_t created,
                     prov_emit_fn *emit, void *arg);

/*
 * One chat.completion.chunk with this id, created and model: choices [{index 0, delta (stolen),
 * finish_reason (NULL: null)}]; with delta NULL, the usage-only chunk {"choices": [], "usage":
 * usage (stolen; NULL: out of memory)}. Returns 0 or -1 (emit failed or out of memory). For
 * dialects whose stream state is not s->x (Anthropic).
 */
int prov_pivot_chunk_of(const char *id, int64_t created, const char *model, json_t *delta,
                        const char *finish, json_t *usage, prov_emit_fn *emit, void *arg);

/* One chunk with this delta (stolen; NULL: out of memory) and finish reason (NULL: null). */
int prov_pivot_chunk(struct prov_stream *s, json_t *delta, const char *finish, prov_emit_fn *emit,
                     void *arg);

/* A content delta (text of len bytes; nothing when empty), counted in s->gen_bytes. */
int prov_pivot_content(struct prov_stream *s, const char *text, size_t len, bool reasoning,
                       prov_emit_fn *emit, void *arg);

/*
 * A tool call: its first delta (index s->x.ntools, then counted; id NULL: generated) and, when
 * args is not empty, one argument delta. Counted in s->gen_bytes.
 */
int prov_pivot_tool_start(struct prov_stream *s, const char *id, const char *name, const char *args,
                          prov_emit_fn *emit, void *arg);

/* An argument delta for the tool call started last (nothing when none or args empty). */
int prov_pivot_tool_args(struct prov_stream *s, const char *args, size_t len, prov_emit_fn *emit,
                         void *arg);

/* The usage-only chunk with this usage object (stolen; NULL: out of memory). */
int prov_pivot_usage_chunk(struct prov_stream *s, json_t *usage, prov_emit_fn *emit, void *arg);

/*
 * The end of a stream: the finish chunk (once; finish NULL: s->x.finish, else "stop"), then the
 * usage-only chunk when s->client_usage and usage was seen; sets s->done.
 */
int prov_pivot_end(struct prov_stream *s, const char *finish, prov_emit_fn *emit, void *arg);

/* Marks s failed with msg (a JSON string, else fallback) as the error. */
void prov_pivot_fail(struct prov_stream *s, const json_t *msg, const char *fallback);

/*
 * error_message helper: m (a string) into out, else the start of the body; code cleared (no
 * code) unless c is a string.
 */
void prov_pivot_error_text(const char *body, size_t len, const json_t *m, const json_t *c,
                           char *out, size_t outlen, char *code, size_t codelen);

#endif
