/*
 * The Anthropic Messages API dialects (prov_anthropic.c): prov_dialect_anthropic translates the
 * pivot (OpenAI chat) to the Messages API and its replies and events back;
 * prov_dialect_anthropic_native relays a client's own Messages request and events (for
 * /v1/messages). This header holds the per-stream state both keep inside struct prov_stream.
 */
#ifndef PROV_ANTHROPIC_H
#define PROV_ANTHROPIC_H

#include <stdbool.h>
#include <stdint.h>

#define PROV_ANTH_MAX_BLOCKS 256 /* content blocks of one streamed message that are tracked */

struct prov_anth_stream {
    char id[96];     /* the message id, reused by every chunk */
    char model[160]; /* the model the provider names in message_start */
    int64_t created; /* unix seconds, one value for the whole stream */
    bool started;    /* message_start was seen (the role chunk is out) */
    int ntools;      /* tool_use blocks opened so far: the next OpenAI tool-call index */
    short tool_of_block[PROV_ANTH_MAX_BLOCKS]; /* block index -> tool-call index + 1, 0 = none */
    long input_tokens, output_tokens, cache_read, cache_write; /* as reported so far */
};

#endif
