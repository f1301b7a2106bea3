/*
 * The OpenAI chat dialect's parts, for the dialects that speak the OpenAI wire at other URLs
 * with other credentials (Azure OpenAI, Azure AI Inference: prov_azure.c). Internal to
 * src/providers.
 */
#ifndef PROV_OPENAI_H
#define PROV_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/prov_dialect.h"

/*
 * The upstream chat body into out->body (owned): the client's request with the bare model name,
 * config fields (pc->kwargs) the request does not set, and on streams stream_options.include_usage
 * (*client_usage: the client asked for it itself). Returns 0, or -1 with the reason in err.
 */
int prov_openai_chat_body(const struct prov_conf *pc, const struct prov_chat_in *in,
                          bool *client_usage, struct prov_http *out, char *err, size_t errlen);

/* The OpenAI dialect's chat_reply, chat_event and error_message (prov_dialect.h). */
int prov_openai_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                           char **out, size_t *out_len);
int prov_openai_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                           prov_emit_fn *emit, void *arg);
void prov_openai_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                               size_t codelen);

#endif
