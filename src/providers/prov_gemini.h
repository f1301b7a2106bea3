/*
 * The Gemini generateContent dialects (providers.md §5, §6): prov_dialect_gemini (Gemini API,
 * x-goog-api-key) and prov_dialect_vertex (Gemini on Vertex AI, Google OAuth bearer) share the
 * request translation (prov_gemini_req.c), the reply and stream translation (prov_gemini.c) and
 * the embeddings (prov_gemini_embed.c). This header holds what those files share.
 */
#ifndef PROV_GEMINI_H
#define PROV_GEMINI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "providers/prov_dialect.h"
#include "providers/prov_pivot.h"

#define PROV_GEM_MAX_INLINE (20L * 1024 * 1024) /* inline data, decoded bytes (§5.2) */
#define PROV_GEM_SKIP_SIGNATURE "skip_thought_signature_validator"

/*
 * Copies the fields of kwargs (a provider's default request fields, borrowed) that the request
 * translation reads and req does not set into req (the request wins); other keys (e.g. Vertex's
 * project or credentials) are never sent. Returns 0 or -1 (out of memory).
 */
int prov_gem_merge_kwargs(const json_t *kwargs, json_t *req);

/* Request translation state: where errors go (prov_pivot.h), and tool_call_id -> function name. */
struct prov_gem_req {
    struct prov_pivot_req e;
    json_t *names;
};

/* Whether v is absent or null. */
bool prov_gem_absent(const json_t *v);

/* tools -> tools[0].functionDeclarations and tool_choice -> toolConfig, into g (prov_gemini_gen.c).
   0, PROV_E_REQUEST or -1 with r->e.err set. */
int prov_gem_tools(struct prov_gem_req *r, const json_t *req, json_t *g);

/* The generationConfig fields of req, into gc (prov_gemini_gen.c). Same return values. */
int prov_gem_config(struct prov_gem_req *r, const json_t *req, const char *model, json_t *gc);

/*
 * Translates a pivot request (OpenAI chat, borrowed) into a new generateContent body for model
 * per providers.md §5.2: systemInstruction, contents (roles user/model), tools, toolConfig,
 * generationConfig. Fields Gemini has no use for (user, metadata, stream_options, logit_bias,
 * logprobs, parallel_tool_calls, ...) are left out. Returns 0 with *out owned, PROV_E_REQUEST
 * with a one-line reason in err when the request cannot be expressed, -1 when out of memory.
 */
int prov_gem_request(const json_t *req, const char *model, json_t **out, char *err, size_t errlen);

/*
 * The upstream URL "{base}/v1beta/models/{model}:{verb}" (Gemini) or "{base}/v1/projects/{p}/
 * locations/{l}/publishers/google/models/{model}:{verb}" (Vertex AI) into *url (owned); verb may
 * carry a query ("streamGenerateContent?alt=sse"). Returns 0, -1 with a reason in err (settings
 * missing or unusable), or PROV_E_REQUEST (a model name that cannot be a path segment).
 */
int prov_gem_url(const struct prov_conf *pc, bool vertex, const char *model, const char *verb,
                 char **url, char *err, size_t errlen);

/*
 * The model's resource path, escaped: "models/{m}" or "tunedModels/{m}" (Gemini),
 * "publishers/{a}/models/{m}" (Vertex AI: a = google unless the model is "a/m"), into *path
 * (owned). Returns 0, PROV_E_REQUEST with a reason in err, or -1 (out of memory).
 */
int prov_gem_model_path(bool vertex, const char *model, char **path, char *err, size_t errlen);

/*
 * content-type, the credential (x-goog-api-key from pc, or "Authorization: Bearer <bearer>" for
 * Vertex AI: bearer NULL gives -1) and the custom headers. Returns 0 or -1 with err set.
 */
int prov_gem_headers(const struct prov_conf *pc, bool vertex, const char *bearer,
                     struct prov_http *out, char *err, size_t errlen);

/* Embeddings (prov_gemini_embed.c): batchEmbedContents, Vertex predict / embedContent. */
int prov_gem_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                         struct prov_http *out, char *err, size_t errlen);
int prov_vertex_embed_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                            struct prov_http *out, char *err, size_t errlen);
int prov_gem_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                         size_t *out_len);

#endif
