/*
 * The Bedrock Converse translation (providers.md §7) as pure functions: the pivot (OpenAI chat)
 * request as a Converse body, the model's request path, the Converse reply and the decoded
 * event-stream messages of converse-stream back to pivot shapes, error bodies and their status,
 * and Titan text embeddings. No signing, no event-stream framing, no HTTP: the caller decodes
 * each event-stream message (its :event-type or :exception-type header and JSON payload).
 */
#ifndef PROV_BEDROCK_H
#define PROV_BEDROCK_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/prov_dialect.h"

/*
 * The Converse body (owned text in *body, length in *len) of the pivot request in->req for the
 * model in->model (which decides the Claude-only fields: reasoning_effort, response_format).
 * Config defaults (pc->kwargs) the request does not set are merged into in->req first. Returns
 * 0; PROV_E_REQUEST with the reason in err when the request cannot be expressed (image URLs,
 * unparsable tool arguments, response_format on other models, ...); -1 when out of memory.
 */
int prov_bedrock_build_body(const struct prov_conf *pc, const struct prov_chat_in *in, char **body,
                            size_t *len, char *err, size_t errlen);

/*
 * "/model/<model, percent-encoded as one path segment>/converse" (or "/converse-stream") into
 * out. Returns 0, or -1 when it does not fit in outlen bytes.
 */
int prov_bedrock_path(const char *model, bool stream, char *out, size_t outlen);

/* The same with "/invoke" (InvokeModel: Titan embeddings). */
int prov_bedrock_invoke_path(const char *model, char *out, size_t outlen);

/*
 * chat_reply for a Converse reply: *out gets the owned chat.completion (id synthesised, created
 * now, model "" for the gateway to fill), *u the usage (prompt = input + cache read + cache
 * write tokens), *gen_bytes the generated text. Returns 0, or -1 when body is no Converse reply.
 */
int prov_bedrock_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                       char **out, size_t *out_len);

/*
 * One decoded event-stream message of message type "event": its :event-type and JSON payload.
 * Emits the pivot chunks (providers.md §1.3: role chunk first, one id and created, 0-based tool
 * indexes, the finish chunk at messageStop, the usage-only chunk at metadata when
 * s->client_usage) and sets s->done after metadata; a payload that is no JSON object sets
 * s->failed. Returns 0, or -1 when emit failed or out of memory.
 */
int prov_bedrock_event(struct prov_stream *s, const char *event_type, const char *payload,
                       size_t len, prov_emit_fn *emit, void *arg);

/*
 * An HTTP error reply: the message ("message" or "Message", else the start of the body) into
 * out; the error code into code (may be NULL): the x-amzn-ErrorType header value without any
 * ":..." suffix (amzn_error_type may be NULL), else the text after '#' of the body's "__type".
 */
void prov_bedrock_error_message(const char *body, size_t len, const char *amzn_error_type,
                                char *out, size_t outlen, char *code, size_t codelen);

/*
 * The gateway's status for a Bedrock error (providers.md §1.7, §7.5): 400 validation, 404 not
 * found, 429 throttled, 504 model timeout, 502 for credentials, model errors and 5xx.
 */
int prov_bedrock_status(int http_status, const char *code);

/*
 * Titan text embeddings (InvokeModel): {"inputText": T, "dimensions": D?} for a request with ONE
 * input. Returns 0, PROV_E_REQUEST (several inputs, token arrays, bad dimensions) or -1.
 */
int prov_bedrock_embed_body(const struct prov_chat_in *in, char **body, size_t *len, char *err,
                            size_t errlen);

/* {"embedding": [...], "inputTextTokenCount": N} as a pivot embeddings reply; 0 or -1. */
int prov_bedrock_embed_reply(const char *body, size_t len, struct prov_usage *u, char **out,
                             size_t *out_len);

#endif
